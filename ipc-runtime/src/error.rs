//! The error type every fallible operation of the library returns.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Everything that can go wrong between two processes.
///
/// Methods declared as returning `Result<T, E>` receive these through
/// `E::from(Error)`; methods that do not return `Result` panic with a message
/// naming the interface, the method and this error.
///
/// ```
/// use multiprocess::Error;
///
/// let error = Error::Disconnected;
/// assert_eq!(error.to_string(), "the connection to the peer is closed");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer went away, or the connection was closed locally. Calls in
    /// flight fail with this as soon as the peer closes.
    #[error("the connection to the peer is closed")]
    Disconnected,
    /// The server's implementation of the method panicked; the server keeps running.
    #[error("the remote method panicked: {0}")]
    RemotePanic(String),
    /// The two sides disagree about the bootstrap interface.
    #[error("interface mismatch: this side expects {local}, the peer serves {remote}")]
    InterfaceMismatch {
        /// The interface this side asked for, with its fingerprint.
        local: String,
        /// The interface the peer offered, with its fingerprint.
        remote: String,
    },
    /// The two sides speak different protocol versions.
    #[error("protocol version mismatch: this side speaks {local}, the peer speaks {remote}")]
    ProtocolVersion {
        /// Our protocol version.
        local: u32,
        /// The peer's protocol version.
        remote: u32,
    },
    /// A frame announced more bytes than the configured maximum; it was refused
    /// before any buffer was allocated.
    #[error("a frame of {size} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// The size the frame header announced.
        size: u64,
        /// The configured maximum.
        max: u64,
    },
    /// A value could not be encoded.
    #[error("could not encode {what}: {message}")]
    Encode {
        /// What was being encoded (an argument name, `result`, a header).
        what: String,
        /// The encoder's message.
        message: String,
    },
    /// Bytes from the peer could not be decoded.
    #[error("could not decode {what}: {message}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// The decoder's message.
        message: String,
    },
    /// The peer broke the protocol (an unexpected frame, a reply to the wrong call).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The peer named an object id that it was never handed on this connection,
    /// or that was already released.
    #[error("unknown object id {0}")]
    UnknownObject(u64),
    /// The peer called a method the object does not have.
    #[error("unknown method {method} of interface {interface}")]
    UnknownMethod {
        /// The interface the object implements.
        interface: String,
        /// The method id the peer sent.
        method: String,
    },
    /// A `Box<dyn FnOnce>` handle was called a second time.
    #[error("a FnOnce callback was called more than once")]
    CallbackConsumed,
    /// An operating-system call failed.
    #[error("i/o error: {0}")]
    Io(#[source] Arc<std::io::Error>),
    /// The child process could not be started.
    #[error("could not spawn {path}: {message}")]
    Spawn {
        /// The executable.
        path: String,
        /// Why it failed.
        message: String,
    },
    /// The child process exited before the connection was established.
    #[error("the child process exited before the handshake: {status}")]
    ChildExited {
        /// The exit status, as the operating system reports it.
        status: String,
    },
    /// `serve_process` was called in a process that `spawn_process` did not start.
    #[error("this process was not started by multiprocess::spawn_process (no inherited socket)")]
    NotSpawned,
    /// A socket address could not be reached.
    #[error("could not connect to {address}: {message}")]
    Connect {
        /// The address, as given.
        address: String,
        /// Why it failed.
        message: String,
    },
    /// A socket address was not understood or cannot be used.
    #[error("bad address {address}: {message}")]
    Address {
        /// The address, as given.
        address: String,
        /// What is wrong with it.
        message: String,
    },
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::Io(Arc::new(error))
    }
}

/// The part of [`Error`] that crosses the wire in a `Return` frame: what went
/// wrong on the serving side, as opposed to the value a method returned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Fault {
    Panic(String),
    UnknownObject(u64),
    UnknownMethod { interface: String, method: String },
    Decode { what: String, message: String },
    Encode { what: String, message: String },
    CallbackConsumed,
    Disconnected,
}

impl From<Fault> for Error {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::Panic(message) => Error::RemotePanic(message),
            Fault::UnknownObject(id) => Error::UnknownObject(id),
            Fault::UnknownMethod { interface, method } => Error::UnknownMethod { interface, method },
            Fault::Decode { what, message } => Error::Decode { what, message },
            Fault::Encode { what, message } => Error::Encode { what, message },
            Fault::CallbackConsumed => Error::CallbackConsumed,
            Fault::Disconnected => Error::Disconnected,
        }
    }
}

impl From<Error> for Fault {
    fn from(error: Error) -> Self {
        match error {
            Error::RemotePanic(message) => Fault::Panic(message),
            Error::UnknownObject(id) => Fault::UnknownObject(id),
            Error::UnknownMethod { interface, method } => Fault::UnknownMethod { interface, method },
            Error::Decode { what, message } => Fault::Decode { what, message },
            Error::Encode { what, message } => Fault::Encode { what, message },
            Error::CallbackConsumed => Fault::CallbackConsumed,
            // A nested call that failed because a connection went away is reported
            // to our caller the same way.
            _ => Fault::Disconnected,
        }
    }
}
