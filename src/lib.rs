pub use ipc_macros::ipc_interface;
pub use ipc_runtime::*;
