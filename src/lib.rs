//! Process separation as easy as writing a trait.
//!
//! Put [`#[ipc_interface]`](ipc_interface) on an ordinary trait and you get a
//! client proxy and a server dispatcher for it: the same `Box<dyn Echo>` is a
//! local object or a handle to an object in another process, and the code
//! that calls it cannot tell.
//!
//! ```
//! use multiprocess::ipc_interface;
//!
//! #[ipc_interface]
//! pub trait Echo: Send + Sync {
//!     fn echo(&self, message: String) -> String;
//! }
//!
//! struct LocalEcho;
//!
//! impl Echo for LocalEcho {
//!     fn echo(&self, message: String) -> String {
//!         message
//!     }
//! }
//!
//! // Two ends of a socketpair in one process; `spawn_process`, `listen` and
//! // `connect` put the ends in different processes.
//! let echo: Box<dyn Echo> = multiprocess::pair::<dyn Echo>(Box::new(LocalEcho))?;
//! assert_eq!(echo.echo("hi".into()), "hi");
//! # Ok::<(), multiprocess::Error>(())
//! ```
//!
//! # What crosses the boundary
//!
//! | in a signature | across processes |
//! |---|---|
//! | `T: Serialize + DeserializeOwned` by value | encoded with bincode |
//! | `Vec<u8>`, `&[u8]`, `String`, `&str` | raw bytes, written straight from the caller's buffer (for your own structs' fields: `#[serde(with = "multiprocess::bytes")]`) |
//! | `&T`, `&str`, `&[T]` | the referent is sent; the callee borrows its copy |
//! | `&mut T` | sent, and the callee's changes are written back into the caller's value |
//! | `Box<dyn I>`, `Arc<dyn I>` (`I` an interface), in `Option` or `Vec` | a handle: the owner keeps the object, the other side gets a proxy |
//! | `Box<dyn Fn(..) -> R + Send + Sync>`, `Arc<dyn Fn..>`, `Box<dyn FnMut.. + Send>`, `Box<dyn FnOnce.. + Send>` | a callback, called back across the boundary |
//! | `Result<T, E>` return | `Err` crosses as a value; transport failures arrive as `E::from(Error)` |
//!
//! A method that does not return `Result` panics in the caller when the
//! transport fails, with a message naming the interface, the method and the
//! cause. A panic in the server's implementation is caught there; the caller
//! sees [`Error::RemotePanic`] (or a panic carrying the remote message).
//!
//! User types derive serde through the re-export, so a crate of interfaces
//! needs no serde dependency of its own:
//!
//! ```
//! #[derive(multiprocess::Serialize, multiprocess::Deserialize)]
//! #[serde(crate = "multiprocess::serde")]
//! pub struct Point {
//!     pub x: i64,
//!     pub y: i64,
//! }
//! ```
//!
//! # Threads
//!
//! Every thread that calls into a peer has one partner thread there, named
//! `ipc:<caller's name>`, that runs all of its calls in order; calls from
//! different threads never wait for each other. While a thread waits for a
//! reply it serves the callbacks its partner makes, so a callback invoked
//! during `node.foo(cb)` runs on the thread that called `foo`, nested to any
//! depth.
//!
//! # Logging
//!
//! Every call sent, received, returned and answered is a `tracing` event at
//! debug level under target `ipc`, with arguments and results rendered from
//! their serde form and cut at 200 characters. Nothing is rendered while the
//! target is off.

pub use ipc_macros::ipc_interface;
pub use ipc_runtime::*;
