//! The runtime of [multiprocess](https://docs.rs/multiprocess): everything that
//! runs when a trait marked `#[ipc_interface]` is called across a process
//! boundary. Use it through the `multiprocess` facade crate, which also
//! re-exports the macro.
//!
//! Modules, from the wire up (each uses only those above it in this list):
//! `error`, `codec` (the only place that names bincode), `render`, `scope`
//! (what the thread is doing with a value, for handles inside values),
//! `protocol` (frames and headers), `contract` (method identity and
//! fingerprints), `transport` (streams, and how a channel
//! is opened for a calling thread), `handles` (the handle table), `conn` (a
//! connection's life), `embed` (handles inside the user's own values, and
//! the values kept for them), `tasks` (the task engine: async calls on a
//! connection's task channel), `engine` (the 1:1 thread engine), `proxy` (remote
//! references), `call` (what generated code drives), `interface` (what
//! generated code implements), `objects` (how objects and callbacks cross),
//! `dialled` (accepting and opening connections whose channels are dialled),
//! `bootstrap` (handshake and entry points), `listener` and `process`.

mod bootstrap;
mod bounds;
pub mod bytes;
mod call;
mod codec;
mod conn;
mod contract;
mod dialled;
mod embed;
mod engine;
mod error;
mod handles;
mod interface;
mod listener;
#[cfg(feature = "logging")]
pub mod logging;
mod objects;
mod process;
mod protocol;
mod proxy;
mod render;
pub mod sandbox;
mod scope;
mod secret;
mod shape;
mod tasks;
mod transport;

#[cfg(unix)]
pub use bootstrap::{connect_stream, connect_stream_with, serve_stream, serve_stream_with};
pub use bootstrap::{pair, pair_with};
pub use bounds::{ErrorValue, Value};
pub use conn::current_connection;
pub use conn::{Config, Connection, ConnectionStats, DisconnectHook};
pub use contract::WireName;
pub use error::Error;
pub use interface::{Interface, call_timeout, connection_of, set_call_timeout};
pub use listener::{
    AllowedUsers, ConnectOptions, ListenOptions, Listener, Stopper, connect, connect_with, listen, listen_with,
};
#[cfg(unix)]
pub use listener::{activated_sockets, listen_socket};
pub use process::{
    DEPTH_VARIABLE, FD_VARIABLE, MAX_SPAWN_DEPTH, Spawned, is_child, serve_if_child, serve_process, spawn_process,
    spawn_process_with,
};
pub use protocol::PROTOCOL_VERSION;

/// The version of this library, as published (`major.minor.patch`). Two
/// processes need not run the same one: what they must share is
/// [`PROTOCOL_VERSION`] and the contracts of the interfaces they use.
///
/// ```
/// let (major, _) = multiprocess::VERSION.split_once('.').expect("semver");
/// assert!(major.parse::<u32>().is_ok());
/// ```
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub use proxy::ProxyCore;
pub use sandbox::Sandbox;
pub use secret::Secret;

/// Serde, re-exported so that user types can derive `Serialize` and
/// `Deserialize` without a direct dependency: write
/// `#[derive(multiprocess::Serialize, multiprocess::Deserialize)]` and
/// `#[serde(crate = "multiprocess::serde")]`.
pub use serde;
pub use serde::{Deserialize, Serialize};

/// What generated code uses. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use serde;

    pub use crate::{
        bounds::{Codec, ErrorCodec, codec, error_codec},
        call::{
            BoxedMethod, Callback, Decoder, Encoder, Export, HandleCodec, Import, Incoming, OutgoingCall,
            RemoteCallback, Reply, ReplyFn, expect, handle, into_result,
        },
        contract::{InterfaceContract, MethodInfo, Routing, Signature, WireName, check_routing, method_check},
        embed::{KeepFn, Keepable, NotKeepable, Probe},
        error::Error,
        interface::{DispatchFor, Interface},
        objects::{deserialize_object, serialize_object},
        proxy::{Proxy, ProxyCore, Shared},
    };
}
