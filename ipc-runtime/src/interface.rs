//! The contract between generated code and the runtime.

use std::{fmt, marker::PhantomData, sync::Arc};

use crate::{
    Error,
    call::{Incoming, OutgoingCall},
    connection::ProxyCore,
};

/// Implemented by `#[ipc_interface]` for `dyn Trait`: everything the runtime
/// needs to export an object of that trait or to make a proxy for one.
///
/// You do not implement this by hand; you name it in generic code:
///
/// ```
/// use multiprocess::{Interface, ipc_interface};
///
/// #[ipc_interface]
/// pub trait Echo: Send + Sync {
///     fn echo(&self, message: String) -> String;
/// }
///
/// fn describe<I: ?Sized + Interface>() -> String {
///     format!("{} {:016x}", I::NAME, I::FINGERPRINT)
/// }
/// assert!(describe::<dyn Echo>().starts_with("Echo "));
/// ```
pub trait Interface: Send + Sync + 'static {
    /// The trait's name, as written.
    const NAME: &'static str;
    /// A hash of the name, used to route calls to supertrait methods.
    const ID: u32;
    /// A hash of the method signatures (and those of the supertraits); both
    /// sides of a connection must agree on it.
    const FINGERPRINT: u64;

    /// Whether a call naming interface `id` is served by this interface or one
    /// of its supertraits.
    #[doc(hidden)]
    fn handles(id: u32) -> bool;
    /// Wraps a remote reference in a proxy that implements the trait.
    #[doc(hidden)]
    fn from_proxy(core: ProxyCore) -> Box<Self>;
    /// The same, shared.
    #[doc(hidden)]
    fn from_proxy_arc(core: ProxyCore) -> Arc<Self>;
    /// The remote reference behind `this`, if `this` is a proxy.
    #[doc(hidden)]
    fn proxy_core(this: &Self) -> Option<&ProxyCore>;
    /// A `Box` that forwards to a shared local object.
    #[doc(hidden)]
    fn from_shared(this: Arc<Self>) -> Box<Self>;
    /// Decodes the arguments of one call, runs it on `this` and encodes the result.
    #[doc(hidden)]
    fn dispatch(this: &Self, call: &mut Incoming<'_>) -> Result<(), Error>;
}

/// Names one method for the wire and for log lines.
#[derive(Debug)]
pub struct MethodInfo {
    pub(crate) interface: &'static str,
    pub(crate) interface_id: u32,
    pub(crate) index: u16,
    pub(crate) name: &'static str,
}

impl MethodInfo {
    /// Describes method number `index` of the interface `interface`.
    pub const fn new(interface: &'static str, interface_id: u32, index: u16, name: &'static str) -> Self {
        MethodInfo { interface, interface_id, index, name }
    }

    /// Describes a callback; `name` says where it was passed, like `Node.subscribe(callback)`.
    pub const fn callback(name: &'static str) -> Self {
        MethodInfo { interface: "callback", interface_id: 0, index: 0, name }
    }
}

impl fmt::Display for MethodInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.interface_id == 0 { f.write_str(self.name) } else { write!(f, "{}.{}", self.interface, self.name) }
    }
}

/// The client side of an interface: `Proxy<dyn Echo>` implements `Echo` by
/// sending each call to the object's owner.
pub struct Proxy<I: ?Sized> {
    core: ProxyCore,
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

    /// Starts a call of `method` on the remote object.
    pub fn call(&self, method: &'static MethodInfo) -> OutgoingCall<'_> {
        OutgoingCall::new(&self.core, method)
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

/// FNV-1a, used by generated code to combine the fingerprints of supertraits.
pub const fn combine_fingerprints(own: u64, supertraits: &[u64]) -> u64 {
    let mut hash = own;
    let mut i = 0;
    while i < supertraits.len() {
        let mut bytes = supertraits[i];
        let mut j = 0;
        while j < 8 {
            hash ^= bytes & 0xff;
            hash = hash.wrapping_mul(0x100000001b3);
            bytes >>= 8;
            j += 1;
        }
        i += 1;
    }
    hash
}
