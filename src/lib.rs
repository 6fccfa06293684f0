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
//! | the same as fields of your serde structs and enums, or in maps, in a value taken by value | a handle, the same (see below) |
//! | `Box<dyn Fn(..) -> R + Send + Sync>`, `Arc<dyn Fn..>`, `Box<dyn FnMut.. + Send>`, `Box<dyn FnOnce.. + Send>`, and `Option` of those | a callback, called back across the boundary; `None` crosses as itself; a callback may take and return objects and callbacks |
//! | `Arc<T>`, `Arc<[u8]>`, `Arc<str>` | by value (serde's `rc`, enabled in the re-export) |
//! | `Result<T, E>` return | `Err` crosses as a value; transport failures arrive as `E::from(Error)` |
//! | `Result<T, multiprocess::Error>` | [`Error`] is serializable: `Timeout`, `Disconnected`, `Incompatible` arrive as themselves |
//! | a callback `-> Result<T, E>` | like a method: a transport failure returns `Err(E::from(error))` |
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
//! Objects may be fields of such types: `#[ipc_interface]` implements
//! `Serialize` for `dyn Trait` and `Deserialize` for `Box<dyn Trait>`, which
//! mean something only inside an ipc call. A value holding handles is kept
//! (moved to the heap) until the peer has released every object in it, and
//! our own object coming back arrives as itself. Inside a borrowed argument
//! (`&T`) the objects are lent for the call, as a `&dyn Trait` is; inside an
//! in/out argument's new value or an error a handle is refused (`Error::Encode`).
//!
//! ```
//! use multiprocess::{Deserialize, Serialize, ipc_interface};
//!
//! #[ipc_interface]
//! pub trait Notify: Send + Sync {
//!     fn notify(&self, topic: String);
//! }
//!
//! #[derive(Serialize, Deserialize)]
//! #[serde(crate = "multiprocess::serde")]
//! pub struct Subscription {
//!     pub topic: String,
//!     pub notify: Box<dyn Notify>,
//! }
//!
//! #[ipc_interface]
//! pub trait Hub: Send + Sync {
//!     fn subscribe(&self, subscription: Subscription);
//! }
//!
//! struct LocalHub;
//! impl Hub for LocalHub {
//!     fn subscribe(&self, subscription: Subscription) {
//!         subscription.notify.notify(subscription.topic); // calls back into the subscriber
//!     }
//! }
//! struct Printer;
//! impl Notify for Printer {
//!     fn notify(&self, topic: String) { println!("news on {topic}") }
//! }
//!
//! let hub = multiprocess::pair::<dyn Hub>(Box::new(LocalHub))?;
//! hub.subscribe(Subscription { topic: "blocks".into(), notify: Box::new(Printer) });
//! # Ok::<(), multiprocess::Error>(())
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
//! # Processes: parents, children and listeners
//!
//! [`spawn_process`] starts a child and returns a [`Spawned`] with a proxy
//! for the child's bootstrap object; the child's `main` calls
//! [`serve_process`]. A program that is its own child asks [`is_child`]
//! first, or calls [`serve_if_child`], which serves only in a child:
//!
//! ```no_run
//! # use multiprocess::ipc_interface;
//! # #[ipc_interface]
//! # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
//! # struct LocalEcho;
//! # impl Echo for LocalEcho { fn echo(&self, message: String) -> String { message } }
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     if multiprocess::serve_if_child::<dyn Echo>(|| Box::new(LocalEcho))? {
//!         return Ok(()); // the parent went away
//!     }
//!     let exe = std::env::current_exe()?;
//!     let child = multiprocess::spawn_process::<dyn Echo>(std::process::Command::new(exe))?;
//!     println!("{}", child.remote().echo("hello".into()));
//!     Ok(())
//! }
//! ```
//!
//! **How a child knows it is a child**: `spawn_process` puts the number of
//! the child's socket and the parent's pid in [`FD_VARIABLE`]; `is_child`
//! is true only when that names an open socket whose other end the named
//! parent made, so a grandchild that inherits the variable is not a child.
//! A program that spawns itself without serving is stopped at
//! [`MAX_SPAWN_DEPTH`].
//!
//! Independent processes [`listen`] and [`connect`] on `unix:PATH` or
//! `tcp:HOST:PORT` (see [`Listener`]); [`listen_socket`] serves a socket a
//! service manager passed ([`activated_sockets`]), and [`Listener::wait`]
//! serves until [`Listener::stop`]. [`Connection::on_disconnect`] tells
//! when a peer goes away.
//!
//! # Method identity, and interfaces that evolve
//!
//! A method is named on the wire by its interface's wire name
//! (`#[ipc_interface(name = "app.Store")]`, or the module path and trait
//! name) and its own name, never by its position: reordering methods
//! changes nothing. Every call carries a check of the caller's view of the
//! method's signature (argument and result shapes, down to your serde types'
//! fields and variants, and the interfaces it passes); a callee that sees it
//! otherwise refuses the call with [`Error::Incompatible`], and the other
//! methods keep working. A method the peer does not have is
//! [`Error::UnknownMethod`]. So adding methods is compatible both ways, and
//! changing one breaks that one only. [`Config::strict_contract`] refuses
//! to connect on any difference instead.
//!
//! # Timeouts
//!
//! A call waits for its reply as long as an in-process call would, unless
//! [`Config::call_timeout`] or [`set_call_timeout`] on the proxy gives it a
//! deadline; then it fails with [`Error::Timeout`] (the method may still run
//! on the other side). Whatever the call timeout, a peer cannot stall a frame
//! half-sent for longer than [`Config::frame_timeout`], nor a handshake for
//! longer than [`Config::handshake_timeout`].
//!
//! # With tokio
//!
//! Declare `async fn` in the interface, and put `#[ipc_interface]` on the
//! `impl` block as well: callers `.await` the call without blocking an
//! executor thread, the callee runs it as a task on [`Config::runtime`] (or a
//! runtime the library starts), and dropping the future cancels the call on
//! the callee at its next await.
//!
//! ```
//! use multiprocess::ipc_interface;
//!
//! #[ipc_interface]
//! pub trait Adder: Send + Sync {
//!     async fn add(&self, a: u32, b: u32) -> u32;
//! }
//!
//! struct Local;
//!
//! #[ipc_interface]
//! impl Adder for Local {
//!     async fn add(&self, a: u32, b: u32) -> u32 { a + b }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let adder = multiprocess::pair::<dyn Adder>(Box::new(Local))?;
//! assert_eq!(adder.add(2, 3).await, 5);
//! # Ok::<(), multiprocess::Error>(())
//! # }).unwrap();
//! ```
//!
//! Sync calls block the calling thread, as the method they stand for would.
//! From async code, make them where blocking is allowed:
//!
//! ```ignore
//! let wallet: Arc<dyn Wallet> = /* a proxy */;
//! let balance = tokio::task::spawn_blocking(move || wallet.balance()).await?;
//! ```
//!
//! Each blocking-pool thread gets its own partner thread on the other side,
//! so concurrent calls do not wait for each other. Callbacks run on the
//! calling thread while it waits, never on a runtime worker.
//!
//! # Logging
//!
//! Every call sent, received, returned and answered is a `tracing` event at
//! debug level under target `ipc`, with arguments and results rendered from
//! their serde form and cut at 200 characters; exported objects show their
//! id (`<Echo #3>`, and `<Echo proxy #3>` on the other side) and callbacks
//! the method argument they came from (`Chain.handle_blocks.callback`).
//! Nothing is rendered while the target is off. [`logging::init`] installs a
//! subscriber that honours `RUST_LOG` and `--debug=CATEGORY`, prefixes each
//! line with executable, pid and thread, and hands its categories to
//! children (the `logging` feature, on by default).

pub use ipc_macros::ipc_interface;
pub use ipc_runtime::*;
