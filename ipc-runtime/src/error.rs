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
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
#[serde(crate = "serde")]
#[non_exhaustive]
pub enum Error {
    /// The peer went away, or the connection was closed locally. Calls in
    /// flight fail with this as soon as the peer closes.
    #[error("the connection to the peer is closed")]
    Disconnected,
    /// The peer did not answer within the call's deadline
    /// ([`Config::call_timeout`](crate::Config::call_timeout), or the proxy's own).
    /// The call may still run on the other side; this thread's channel to the
    /// peer is discarded, so a late reply can never be taken for another call's.
    #[error("the peer did not answer in time")]
    Timeout,
    /// A limit that protects one side from its peer was reached: too many
    /// partner threads, exported objects, or bytes held in partial frames.
    #[error("the limit of {limit} {what} is reached")]
    LimitExceeded {
        /// What is limited.
        what: String,
        /// The limit, as configured.
        limit: u64,
    },
    /// The server's implementation of the method panicked; the server keeps running.
    #[error("the remote method panicked: {0}")]
    RemotePanic(String),
    /// The two sides disagree about the bootstrap interface: a different
    /// interface, or (in strict mode) a different version of it.
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
    /// The peer's object does not have the method: the peer was built from
    /// an older version of the interface, or a different one.
    #[error("the peer has no method {interface}.{method}")]
    UnknownMethod {
        /// The interface, as the caller names it.
        interface: String,
        /// The method, as the caller names it.
        method: String,
    },
    /// The two sides were built with different signatures of this method (or
    /// of an interface it passes or returns); the call was refused before it
    /// ran. Other methods keep working.
    #[error("{interface}.{method} is incompatible with the peer's: {difference}")]
    Incompatible {
        /// The interface.
        interface: String,
        /// The method.
        method: String,
        /// What differs, as far as this side can tell.
        difference: String,
    },
    /// A `Box<dyn FnOnce>` handle was called a second time.
    #[error("a FnOnce callback was called more than once")]
    CallbackConsumed,
    /// An operating-system call failed.
    #[error("i/o error: {0}")]
    Io(
        #[source]
        #[serde(with = "io_error")]
        Arc<std::io::Error>,
    ),
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
    /// A child could not be confined as its [`Sandbox`](crate::Sandbox)
    /// says (or this system cannot confine one).
    #[error("sandbox: {0}")]
    Sandbox(String),
}

/// The most characters of one string a peer's error keeps.
const MAX_PEER_TEXT: usize = 1024;

/// Makes a peer's text safe to print: control characters (escape sequences
/// that could rewrite a terminal or forge log lines) become `\u{..}`, and
/// the text is cut.
pub(crate) fn sanitize(text: &str) -> String {
    sanitize_to(text, MAX_PEER_TEXT)
}

/// [`sanitize`], keeping up to `max` characters.
pub(crate) fn sanitize_to(text: &str, max: usize) -> String {
    let mut clean = String::with_capacity(text.len().min(max));
    for (i, c) in text.chars().enumerate() {
        if i == max {
            clean.push('…');
            break;
        }
        if c.is_control() {
            clean.extend(c.escape_unicode());
        } else {
            clean.push(c);
        }
    }
    clean
}

impl Error {
    /// The same error, with every string made safe to print: for errors that
    /// arrive from the peer.
    pub(crate) fn sanitized(self) -> Error {
        let s = |text: String| sanitize(&text);
        match self {
            Error::RemotePanic(message) => Error::RemotePanic(s(message)),
            Error::InterfaceMismatch { local, remote } => {
                Error::InterfaceMismatch { local: s(local), remote: s(remote) }
            }
            Error::LimitExceeded { what, limit } => Error::LimitExceeded { what: s(what), limit },
            Error::Encode { what, message } => Error::Encode { what: s(what), message: s(message) },
            Error::Decode { what, message } => Error::Decode { what: s(what), message: s(message) },
            Error::Protocol(message) => Error::Protocol(s(message)),
            Error::UnknownMethod { interface, method } => {
                Error::UnknownMethod { interface: s(interface), method: s(method) }
            }
            Error::Incompatible { interface, method, difference } => {
                Error::Incompatible { interface: s(interface), method: s(method), difference: s(difference) }
            }
            Error::Io(error) => Error::Io(Arc::new(std::io::Error::new(error.kind(), s(error.to_string())))),
            Error::Spawn { path, message } => Error::Spawn { path: s(path), message: s(message) },
            Error::ChildExited { status } => Error::ChildExited { status: s(status) },
            Error::Connect { address, message } => Error::Connect { address: s(address), message: s(message) },
            Error::Address { address, message } => Error::Address { address: s(address), message: s(message) },
            Error::Sandbox(message) => Error::Sandbox(s(message)),
            other @ (Error::Disconnected
            | Error::ProtocolVersion { .. }
            | Error::FrameTooLarge { .. }
            | Error::Timeout
            | Error::UnknownObject(_)
            | Error::CallbackConsumed
            | Error::NotSpawned) => other,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::Io(Arc::new(error))
    }
}

/// An `io::Error` crosses as its kind and message.
mod io_error {
    use std::{io, sync::Arc};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(crate = "serde")]
    struct Wire {
        kind: String,
        message: String,
    }

    pub(super) fn serialize<S: Serializer>(error: &Arc<io::Error>, serializer: S) -> Result<S::Ok, S::Error> {
        Wire { kind: format!("{:?}", error.kind()), message: error.to_string() }.serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<io::Error>, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        let kind = KINDS.iter().find(|kind| format!("{kind:?}") == wire.kind).copied().unwrap_or(io::ErrorKind::Other);
        Ok(Arc::new(io::Error::new(kind, wire.message)))
    }

    /// The kinds a peer's error keeps; any other arrives as `Other`.
    const KINDS: &[io::ErrorKind] = &[
        io::ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied,
        io::ErrorKind::ConnectionRefused,
        io::ErrorKind::ConnectionReset,
        io::ErrorKind::ConnectionAborted,
        io::ErrorKind::NotConnected,
        io::ErrorKind::AddrInUse,
        io::ErrorKind::AddrNotAvailable,
        io::ErrorKind::BrokenPipe,
        io::ErrorKind::AlreadyExists,
        io::ErrorKind::WouldBlock,
        io::ErrorKind::InvalidInput,
        io::ErrorKind::InvalidData,
        io::ErrorKind::TimedOut,
        io::ErrorKind::WriteZero,
        io::ErrorKind::Interrupted,
        io::ErrorKind::Unsupported,
        io::ErrorKind::UnexpectedEof,
        io::ErrorKind::OutOfMemory,
    ];
}
