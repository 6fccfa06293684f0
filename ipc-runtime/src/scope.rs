//! What the thread is doing with a value right now, for the serde impls of
//! object handles, which serde gives no context of their own (see `embed`).
//! This module knows nothing of connections: the pointers it holds are
//! typed by `embed`, which sets them, so that low modules (`bounds`) can
//! mark a scope without depending on `conn`.

use std::{cell::Cell, ptr::NonNull};

/// The thread's scope. The pointers are to values that the function which
/// set the scope holds exclusively while it lasts.
#[derive(Clone, Copy)]
pub(crate) enum State {
    Idle,
    /// Encoding a value that moves into a call: `embed::Encoding`.
    Encoding(NonNull<()>),
    /// Encoding a borrowed value: `embed::Lending`.
    Lending(NonNull<()>),
    /// Encoding a value whose handles cannot cross (an error value, a write-back).
    Refusing,
    /// Decoding a value: the `Arc<Conn>` it arrived on.
    Decoding(NonNull<()>),
    /// Rendering a value for a log line.
    Rendering,
}

thread_local! {
    static STATE: Cell<State> = const { Cell::new(State::Idle) };
}

/// Restores the previous state however the scope ends.
pub(crate) struct Restore(State);

impl Drop for Restore {
    fn drop(&mut self) {
        STATE.with(|state| state.set(self.0));
    }
}

/// Runs `f` in `state`.
pub(crate) fn scoped<R>(state: State, f: impl FnOnce() -> R) -> R {
    let _restore = Restore(STATE.with(|current| current.replace(state)));
    f()
}

/// The current state, leaving the thread idle until the guard drops.
pub(crate) fn take() -> (State, Restore) {
    let state = STATE.with(|state| state.replace(State::Idle));
    (state, Restore(state))
}

/// Runs `f` (which encodes an error value or a write-back): handles in it are refused.
pub(crate) fn refusing<R>(f: impl FnOnce() -> R) -> R {
    scoped(State::Refusing, f)
}

/// Runs `f` (which renders a value for a log line).
pub(crate) fn rendering<R>(f: impl FnOnce() -> R) -> R {
    scoped(State::Rendering, f)
}
