//! References to objects the peer owns: [`ProxyCore`], and the typed
//! [`Proxy`] that generated code implements each interface for.

use std::{
    fmt,
    marker::PhantomData,
    ptr::NonNull,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::{conn::Conn, embed::Keeper, engine};

/// A reference to an object the peer owns; dropping it releases the object.
/// Generated proxies hold one; [`connection_of`](crate::connection_of),
/// [`set_call_timeout`](crate::set_call_timeout) and the `Debug` of a proxy
/// show what it knows.
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
/// let described = format!("{ping:?}"); // Ping(ProxyCore { connection: 2, object: 0 })
/// assert!(described.starts_with("Ping(ProxyCore { connection: "), "{described}");
/// assert!(described.ends_with("object: 0 })"), "the bootstrap object is 0: {described}");
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub struct ProxyCore {
    pub(crate) conn: Arc<Conn>,
    pub(crate) object: u64,
    /// Set when the reference was handed back to the owner, which then holds it.
    transferred: AtomicBool,
    /// This proxy's call timeout: [`TIMEOUT_OF_CONNECTION`], [`NO_TIMEOUT`] or nanoseconds.
    timeout: AtomicU64,
}

const TIMEOUT_OF_CONNECTION: u64 = 0;
const NO_TIMEOUT: u64 = u64::MAX;

impl fmt::Debug for ProxyCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCore").field("connection", &self.conn.id).field("object", &self.object).finish()
    }
}

impl ProxyCore {
    pub(crate) fn new(conn: Arc<Conn>, object: u64) -> ProxyCore {
        conn.hold();
        conn.proxies.fetch_add(1, Ordering::AcqRel);
        ProxyCore { conn, object, transferred: AtomicBool::new(false), timeout: AtomicU64::new(TIMEOUT_OF_CONNECTION) }
    }

    /// Gives calls through this proxy their own timeout (`None`: none at all).
    pub(crate) fn set_timeout(&self, timeout: Option<Duration>) {
        let nanos = match timeout {
            None => NO_TIMEOUT,
            Some(timeout) => u64::try_from(timeout.as_nanos()).unwrap_or(NO_TIMEOUT - 1).clamp(1, NO_TIMEOUT - 1),
        };
        self.timeout.store(nanos, Ordering::Relaxed);
    }

    /// The timeout of calls through this proxy.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        match self.timeout.load(Ordering::Relaxed) {
            TIMEOUT_OF_CONNECTION => self.conn.config.call_timeout,
            NO_TIMEOUT => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// When a call through this proxy that starts now must have its reply.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timeout().and_then(|timeout| Instant::now().checked_add(timeout))
    }

    pub(crate) fn mark_transferred(&self) {
        self.transferred.store(true, Ordering::Release);
    }
}

impl Drop for ProxyCore {
    fn drop(&mut self) {
        self.conn.proxies.fetch_sub(1, Ordering::AcqRel);
        if !self.transferred.load(Ordering::Acquire)
            && !self.conn.is_closed()
            && let Err(error) = engine::release(&self.conn, self.object, self.deadline())
        {
            tracing::debug!(target: "ipc", conn = self.conn.id, object = self.object, %error, "release failed");
        }
        self.conn.release_hold();
    }
}

/// The client side of an interface: `Proxy<dyn Echo>` implements `Echo` by
/// sending each call to the object's owner.
pub struct Proxy<I: ?Sized> {
    pub(crate) core: ProxyCore,
    // `fn() -> Box<I>` keeps the proxy Send + Sync whatever `I` is.
    _interface: PhantomData<fn() -> Box<I>>,
}

impl<I: ?Sized> Proxy<I> {
    /// Wraps a remote reference.
    pub fn new(core: ProxyCore) -> Self {
        Proxy { core, _interface: PhantomData }
    }

    /// The remote reference.
    pub fn core(&self) -> &ProxyCore {
        &self.core
    }
}

impl<I: ?Sized> fmt::Debug for Proxy<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Proxy").field(&self.core).finish()
    }
}

/// A local object handed back by a peer where a `Box<dyn Trait>` is
/// expected: shared (it was exported from an `Arc`), or kept inside a value
/// that was sent (a field of a struct). The generated code implements the
/// trait for it by forwarding through `Deref`.
pub struct Shared<T: ?Sized>(Home<T>);

enum Home<T: ?Sized> {
    Arc(Arc<T>),
    /// An object inside a kept value: the keeper holds the value, and with
    /// it the object, for as long as this lives.
    Kept {
        object: NonNull<T>,
        _keeper: Arc<Keeper>,
    },
}

// SAFETY: a `Kept` object is only ever reached as `&T` (the keeper never
// hands out the value), so sending or sharing the handle is sending or
// sharing `&T`, which `T: Sync` allows; the keeper itself is Send + Sync.
unsafe impl<T: ?Sized + Send + Sync> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for Shared<T> {}

impl<T: ?Sized> Shared<T> {
    /// A shared object.
    pub fn new(object: Arc<T>) -> Self {
        Shared(Home::Arc(object))
    }

    /// An object inside a value that `keeper` holds.
    ///
    /// # Safety
    ///
    /// `object` points into the value `keeper` holds, which is never moved,
    /// mutated or dropped while the keeper lives.
    pub(crate) unsafe fn kept(object: NonNull<T>, keeper: Arc<Keeper>) -> Self {
        Shared(Home::Kept { object, _keeper: keeper })
    }
}

impl<T: ?Sized> std::ops::Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.0 {
            Home::Arc(object) => object,
            // SAFETY: see `Shared::kept`: the keeper we hold keeps the object in place.
            Home::Kept { object, .. } => unsafe { object.as_ref() },
        }
    }
}

impl<T: ?Sized> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Shared(..)")
    }
}
