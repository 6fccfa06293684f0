//! `Echo`: the smallest interface, which `echoipc` sends through a child.

use multiprocess::ipc_interface;

/// Says back what it is told.
#[ipc_interface(name = "Echo")]
pub trait Echo: Send + Sync {
    /// Returns `message` unchanged.
    fn echo(&self, message: String) -> String;
}

/// The local [`Echo`].
#[derive(Debug, Default)]
pub struct LocalEcho;

impl Echo for LocalEcho {
    fn echo(&self, message: String) -> String {
        message
    }
}
