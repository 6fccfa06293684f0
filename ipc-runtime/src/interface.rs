//! The contract between generated code and the runtime.

use std::{sync::Arc, time::Duration};

use crate::{
    Error,
    call::Incoming,
    conn::Connection,
    contract::{self, InterfaceContract, Routing, WireName},
    proxy::{ProxyCore, Shared},
};

/// Implemented by `#[ipc_interface]` for `dyn Trait`: everything the runtime
/// needs to export an object of that trait or to make a proxy for one.
///
/// You do not implement this by hand; you name it in generic code:
///
/// ```
/// use multiprocess::{Interface, ipc_interface};
///
/// #[ipc_interface(name = "app.Echo")]
/// pub trait Echo: Send + Sync {
///     fn echo(&self, message: String) -> String;
/// }
///
/// fn describe<I: ?Sized + Interface>() -> String {
///     format!("{} ({}) {:016x}", I::NAME, I::WIRE, I::fingerprint())
/// }
/// assert!(describe::<dyn Echo>().starts_with("Echo (app.Echo) "));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an ipc interface",
    label = "objects cross as `Box<dyn I>` or `Arc<dyn I>` of a trait `I` marked `#[ipc_interface]`",
    note = "put `#[ipc_interface]` on the trait; the supertraits of an interface are interfaces too, or `Send`, `Sync`, `Debug`, `Any`"
)]
pub trait Interface: Send + Sync + 'static {
    /// The trait's name, as written.
    const NAME: &'static str;
    /// The name that identifies the interface on the wire (see [`WireName`]).
    const WIRE: WireName;
    /// What the compiler checks about supertrait routing.
    #[doc(hidden)]
    const ROUTING: &'static Routing;

    /// The interface's contract: every method's signature, traced on first use.
    #[doc(hidden)]
    fn contract() -> &'static InterfaceContract;
    /// A hash of the signatures of this interface and of every interface
    /// reachable from it. Two builds that agree on it agree on every method.
    fn fingerprint() -> u64 {
        contract::fingerprint(&contract::closure(Self::contract))
    }
    /// Whether a call of method `id` is served by this interface or one of its supertraits.
    #[doc(hidden)]
    fn handles(id: u64) -> bool;
    /// Wraps a remote reference in a proxy that implements the trait.
    #[doc(hidden)]
    fn from_proxy(core: ProxyCore) -> Box<Self>;
    /// The same, shared.
    #[doc(hidden)]
    fn from_proxy_arc(core: ProxyCore) -> Arc<Self>;
    /// The remote reference behind `this`, if `this` is a proxy.
    #[doc(hidden)]
    fn proxy_core(this: &Self) -> Option<&ProxyCore>;
    /// A `Box` that forwards to a local object handed back by the peer.
    #[doc(hidden)]
    fn from_shared(this: Shared<Self>) -> Box<Self>;
    /// Decodes the arguments of one call, runs it on `this` and encodes the result.
    #[doc(hidden)]
    fn dispatch(this: &Self, call: &mut Incoming<'_>) -> Result<(), Error>;
}

/// Serves calls on any `T` that implements the trait of `Self` (a `dyn
/// Trait`): how a trait reaches its supertraits' dispatchers, and how a lent
/// `&dyn Trait` is served. Generated for every interface.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an ipc interface",
    label = "supertraits and lent objects (`&dyn I`) must be traits marked `#[ipc_interface]`",
    note = "put `#[ipc_interface]` on the trait; the supertraits of an interface are interfaces too, or `Send`, `Sync`, `Debug`, `Any`"
)]
pub trait DispatchFor<T: ?Sized> {
    /// Decodes the arguments of one call, runs it on `this` and encodes the result.
    fn dispatch(this: &T, call: &mut Incoming<'_>) -> Result<(), Error>;
}

/// The connection behind a proxy, or `None` for a local object.
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let local: Box<dyn Ping> = Box::new(Local);
/// assert!(multiprocess::connection_of(&*local).is_none());
/// ```
pub fn connection_of<I: ?Sized + Interface>(object: &I) -> Option<Connection> {
    I::proxy_core(object).map(|core| Connection { inner: core.conn.clone() })
}

/// Gives calls through `proxy` a timeout of their own (`None`: none at all),
/// instead of the connection's [`Config::call_timeout`](crate::Config::call_timeout).
/// A call that does not get its reply in time fails with
/// [`Error::Timeout`]; dropping the proxy waits no longer either. Returns
/// `false`, and does nothing, for a local object.
///
/// ```
/// use std::time::Duration;
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
///
/// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
/// assert!(multiprocess::set_call_timeout(&*ping, Some(Duration::from_secs(2))));
/// assert_eq!(multiprocess::call_timeout(&*ping), Some(Duration::from_secs(2)));
/// assert_eq!(ping.ping(), 7);
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub fn set_call_timeout<I: ?Sized + Interface>(proxy: &I, timeout: Option<Duration>) -> bool {
    match I::proxy_core(proxy) {
        Some(core) => {
            core.set_timeout(timeout);
            true
        }
        None => false,
    }
}

/// The timeout of calls through `proxy`: its own, or its connection's; `None`
/// for a local object, and for a proxy whose calls wait as long as it takes.
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
/// assert_eq!(multiprocess::call_timeout(&*ping), None, "by default, as long as it takes");
/// let local: Box<dyn Ping> = Box::new(Local);
/// assert_eq!(multiprocess::call_timeout(&*local), None);
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub fn call_timeout<I: ?Sized + Interface>(proxy: &I) -> Option<Duration> {
    I::proxy_core(proxy).and_then(ProxyCore::timeout)
}
