//! Handles inside values: the context under which an object handle met by
//! serde, inside a struct, an enum or a map, knows how to cross.
//!
//! Generated code implements `Serialize for dyn I` and `Deserialize for
//! Box<dyn I>`. Serde gives those impls no connection, so the runtime sets one
//! on the thread for as long as it encodes or decodes one value:
//!
//! - **encoding** a value that moves into the call (a by-value argument or a
//!   result): a local object is exported, and the value is *kept* (moved to
//!   the heap and held by the exports) until the peer has let go of every
//!   object in it. A value found to hold handles is encoded again from its
//!   kept place, so a value without handles costs nothing extra;
//! - **encoding** a borrowed value (`&T`): its objects are *lent* for the
//!   call, as a `&dyn I` argument is: served while the call waits, unknown
//!   after it;
//! - **encoding** an error value or a write-back: a handle is refused with an
//!   error that says where handles may go;
//! - **decoding**: a reference becomes a proxy, or our own object coming home;
//! - **rendering** for a log line: a handle prints as `<Echo>`.
//!
//! Outside these, a handle refuses to be serialized or deserialized: it
//! means nothing outside a call (and the contract's tracer, meeting that
//! refusal, compares such a type by its Rust name).

use std::{
    any::Any,
    ptr::NonNull,
    sync::{Arc, Mutex},
};

use crate::{
    Error,
    conn::{CallFrame, Conn},
    scope::{self, State},
};

/// A moved value that holds exported objects, kept until the last of them
/// is released. Nothing ever reads it: it is held, then dropped.
pub(crate) struct Keeper {
    _value: Mutex<Box<dyn Any + Send>>,
}

impl Keeper {
    pub(crate) fn new(value: Box<dyn Any + Send>) -> Arc<Keeper> {
        Arc::new(Keeper { _value: Mutex::new(value) })
    }
}

/// What encoding one value that moves into a call learns about the handles in it.
pub(crate) struct Encoding<'a> {
    pub(crate) conn: &'a Arc<Conn>,
    /// Where the moved value is kept; `None` while discovering whether it
    /// holds handles at all.
    pub(crate) keeper: Option<Arc<Keeper>>,
    /// Set when a handle was met while discovering: the value must be kept
    /// and encoded again.
    pub(crate) needs_keeping: bool,
    /// Ids exported for the value's objects.
    pub(crate) exported: Vec<u64>,
    /// What went wrong, as the runtime's own error (serde's carries only text).
    pub(crate) error: Option<Error>,
}

impl<'a> Encoding<'a> {
    pub(crate) fn new(conn: &'a Arc<Conn>, keeper: Option<Arc<Keeper>>) -> Self {
        Encoding { conn, keeper, needs_keeping: false, exported: Vec::new(), error: None }
    }
}

/// What encoding one borrowed value learns: the objects it lends.
pub(crate) struct Lending<'a> {
    pub(crate) conn: &'a Arc<Conn>,
    /// The dispatchers of the lent objects, by the ids the peer knows them by.
    pub(crate) lent: Vec<(u64, LentObject)>,
}

/// Serves calls on one lent object. It points into a borrowed value: the
/// call that lends it holds it, and drops it before the borrow ends.
pub(crate) type LentObject = Box<dyn Fn(&Arc<Conn>, &mut CallFrame<'_>) -> Result<(), Error>>;

/// What the thread is doing with values now.
pub(crate) enum Current<'s> {
    Idle,
    Encoding(&'s mut Encoding<'s>),
    Lending(&'s mut Lending<'s>),
    Refusing,
    Decoding(&'s Arc<Conn>),
    Rendering,
}

/// Runs `f` (which encodes one value) with `encoding` as the thread's context.
pub(crate) fn encoding<R>(encoding: &mut Encoding<'_>, f: impl FnOnce() -> R) -> R {
    scope::scoped(State::Encoding(NonNull::from(encoding).cast()), f)
}

/// Runs `f` (which encodes one borrowed value) with `lending` as the thread's context.
pub(crate) fn lending<R>(lending: &mut Lending<'_>, f: impl FnOnce() -> R) -> R {
    scope::scoped(State::Lending(NonNull::from(lending).cast()), f)
}

/// Runs `f` (which decodes one value) with proxies made on `conn`.
pub(crate) fn decoding<R>(conn: &Arc<Conn>, f: impl FnOnce() -> R) -> R {
    scope::scoped(State::Decoding(NonNull::from(conn).cast()), f)
}

/// Gives `f` the thread's context. While `f` runs the thread is idle, so
/// that nothing `f` calls can reach the same context twice.
pub(crate) fn with_current<R>(f: impl FnOnce(Current<'_>) -> R) -> R {
    let (state, _restore) = scope::take();
    // SAFETY: each pointer was made, by `encoding`, `lending` or `decoding` above, from
    // a reference of the type cast back to here, which the scope that set it
    // still holds exclusively for as long as the state is set; the state is
    // `Idle` while `f` runs, so this is the only use of it.
    let current = unsafe {
        match state {
            State::Idle => Current::Idle,
            State::Encoding(encoding) => Current::Encoding(encoding.cast::<Encoding<'_>>().as_mut()),
            State::Lending(lending) => Current::Lending(lending.cast::<Lending<'_>>().as_mut()),
            State::Refusing => Current::Refusing,
            State::Decoding(conn) => Current::Decoding(conn.cast::<Arc<Conn>>().as_ref()),
            State::Rendering => Current::Rendering,
        }
    };
    f(current)
}

/// How a moved value of type `T` is kept: moved to the heap, with a pointer
/// to it there. `None` for a type that cannot be kept (not `Send + 'static`);
/// such a value cannot hold handles.
pub struct KeepFn<T>(pub(crate) Option<Keep<T>>);

/// Moves a value to the heap: the box to keep, and where the value is in it.
pub(crate) type Keep<T> = fn(T) -> (Box<dyn Any + Send>, *const T);

impl<T> std::fmt::Debug for KeepFn<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "KeepFn(keepable)" } else { "KeepFn(not keepable)" })
    }
}

/// Probes at compile time whether a value type can be kept, without
/// requiring it: generated code calls `(&Probe::<T>::new()).keep()`, which
/// resolves to [`Keepable`] when `T: Send + 'static` and to [`NotKeepable`]
/// otherwise.
pub struct Probe<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Probe<T> {
    #[allow(clippy::new_without_default, reason = "generated code names the type it probes")]
    pub const fn new() -> Self {
        Probe(std::marker::PhantomData)
    }
}

impl<T> std::fmt::Debug for Probe<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Probe")
    }
}

/// See [`Probe`].
pub trait Keepable<T> {
    fn keep(&self) -> KeepFn<T>;
}

impl<T: Send + 'static> Keepable<T> for Probe<T> {
    fn keep(&self) -> KeepFn<T> {
        KeepFn(Some(|value| {
            let kept = Box::new(value);
            let pointer: *const T = &*kept;
            (kept, pointer)
        }))
    }
}

/// See [`Probe`].
pub trait NotKeepable<T> {
    fn keep(&self) -> KeepFn<T>;
}

impl<T> NotKeepable<T> for &Probe<T> {
    fn keep(&self) -> KeepFn<T> {
        KeepFn(None)
    }
}
