//! The runtime of [multiprocess](https://docs.rs/multiprocess): everything that
//! runs when a trait marked `#[ipc_interface]` is called across a process
//! boundary. Use it through the `multiprocess` facade crate, which also
//! re-exports the macro.
//!
//! Modules, from the wire up: `codec` (the only place that names bincode),
//! `protocol` (frames and headers), `connection` (control socket, one channel
//! per calling thread, handle table), `call` (what generated code drives).

pub mod bytes;
mod call;
mod codec;
mod connection;
mod error;
mod interface;
mod listener;
mod process;
mod protocol;
mod render;

pub use connection::{
    Config, Connection, ConnectionStats, ProxyCore, connect_stream, connect_stream_with, connection_of,
    current_connection, pair, pair_with, serve_stream, serve_stream_with,
};
pub use error::Error;
pub use interface::Interface;
pub use listener::{ListenOptions, Listener, connect, connect_with, listen, listen_with};
pub use process::{FD_VARIABLE, Spawned, serve_process, spawn_process, spawn_process_with};

/// Serde, re-exported so that user types can derive `Serialize` and
/// `Deserialize` without a direct dependency: write
/// `#[derive(multiprocess::Serialize, multiprocess::Deserialize)]` and
/// `#[serde(crate = "multiprocess::serde")]`.
pub use serde;
pub use serde::{Deserialize, Serialize};

/// What generated code uses. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::{
        call::{
            Callback, Decoder, Encoder, Export, Import, Incoming, OutgoingCall, RemoteCallback, Reply, expect,
            into_result,
        },
        connection::ProxyCore,
        error::Error,
        interface::{Interface, MethodInfo, Proxy, Shared, combine_fingerprints},
    };
}
