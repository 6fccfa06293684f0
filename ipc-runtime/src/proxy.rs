//! References to objects the peer owns: [`ProxyCore`], and the typed
//! [`Proxy`] that generated code implements each interface for.

use std::{
    fmt,
    marker::PhantomData,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use crate::{conn::Conn, engine};

/// A reference to an object the peer owns; dropping it releases the object.
pub struct ProxyCore {
    pub(crate) conn: Arc<Conn>,
    pub(crate) object: u64,
    /// Set when the reference was handed back to the owner, which then holds it.
    transferred: AtomicBool,
}

impl fmt::Debug for ProxyCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCore").field("connection", &self.conn.id).field("object", &self.object).finish()
    }
}

impl ProxyCore {
    pub(crate) fn new(conn: Arc<Conn>, object: u64) -> ProxyCore {
        conn.hold();
        conn.proxies.fetch_add(1, Ordering::AcqRel);
        ProxyCore { conn, object, transferred: AtomicBool::new(false) }
    }

    pub(crate) fn mark_transferred(&self) {
        self.transferred.store(true, Ordering::Release);
    }
}

impl Drop for ProxyCore {
    fn drop(&mut self) {
        self.conn.proxies.fetch_sub(1, Ordering::AcqRel);
        if !self.transferred.load(Ordering::Acquire) && !self.conn.is_closed() {
            if let Err(error) = engine::release(&self.conn, self.object) {
                tracing::debug!(target: "ipc", conn = self.conn.id, object = self.object, %error, "release failed");
            }
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

/// A shared local object handed back by a peer where a `Box<dyn Trait>` is
/// expected: the generated code implements the trait for it by forwarding.
pub struct Shared<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Shared(..)")
    }
}
