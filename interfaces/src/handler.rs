//! `Handler`: what a subscription returns (Bitcoin Core's `interfaces::Handler`).

use multiprocess::ipc_interface;

/// A subscription. Dropping it unsubscribes; [`disconnect`](Handler::disconnect)
/// does so earlier.
///
/// ```
/// use std::sync::Arc;
/// use interfaces::Handler;
///
/// struct Flag(Arc<std::sync::atomic::AtomicBool>);
/// impl Handler for Flag {
///     fn disconnect(&self) {
///         self.0.store(true, std::sync::atomic::Ordering::SeqCst);
///     }
/// }
/// let off = Arc::new(std::sync::atomic::AtomicBool::new(false));
/// let handler = multiprocess::pair::<dyn Handler>(Box::new(Flag(off.clone())))?;
/// handler.disconnect();
/// assert!(off.load(std::sync::atomic::Ordering::SeqCst));
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[ipc_interface(name = "Handler")]
pub trait Handler: Send + Sync {
    /// Unsubscribes now rather than at drop.
    fn disconnect(&self);
}
