//! Independent processes: one listens on an address, others connect (Bitcoin
//! Core's `-ipcbind` and `-ipcconnect`).
//!
//! Addresses:
//!
//! - `unix:PATH`: a Unix domain socket at `PATH`. Listening creates missing
//!   parent directories (mode 0700), replaces a stale socket file left by a
//!   dead listener, refuses any other existing file, and makes the socket
//!   readable and writable by its owner only (mode 0600). On Windows,
//!   `unix:NAME` is the named pipe `\\.\pipe\NAME`, which only its owner's
//!   user (and administrators) may open.
//! - `tcp:HOST:PORT`: TCP, `HOST` an IPv4 address, a bracketed IPv6 address
//!   (`tcp:[::1]:8332`) or a name; port 0 picks a free port, which
//!   [`Listener::address`] tells. Always authenticated and encrypted with a
//!   shared [`Secret`].
//! - `unix` alone names an application's default socket; the application
//!   resolves it to `unix:PATH` before it gets here.

use std::{
    fmt,
    net::SocketAddr,
    panic::{self, AssertUnwindSafe},
    path::Path,
    path::PathBuf,
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

use crate::{
    Error, Interface,
    bootstrap::{connect_dialled, serve_made_then},
    conn::Config,
    dialled::{Handler, Hub, HubOptions},
    secret::Secret,
    transport::{
        dial::{Acceptor, DialTransport},
        tcp::{self, TcpAcceptor, TcpDial},
    },
};

#[cfg(unix)]
mod unix;

/// Which users may connect to a Unix socket listener, by the peer
/// credentials the kernel reports for each connection.
///
/// On Windows a named pipe admits its owner's user (and administrators)
/// only, and `SameUser` is the only choice; TCP listeners admit whoever
/// proves knowledge of the [`Secret`], and ignore this.
///
/// ```
/// use multiprocess::AllowedUsers;
///
/// let options = multiprocess::ListenOptions { allowed_users: AllowedUsers::Only(vec![0, 1000]), ..Default::default() };
/// assert!(matches!(options.allowed_users, AllowedUsers::Only(_)));
/// assert!(matches!(AllowedUsers::default(), AllowedUsers::SameUser));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedUsers {
    /// Only processes of the user the listener runs as (the default).
    #[default]
    SameUser,
    /// Any user who can reach the socket file (its mode is 0600 all the same:
    /// widen it yourself, for example by `chmod`, for this to matter).
    Any,
    /// Only these user ids.
    Only(Vec<u32>),
}

/// Options for [`listen_with`].
///
/// ```
/// let options = multiprocess::ListenOptions {
///     max_connections: Some(4),
///     secret: Some(multiprocess::Secret::generate()?),
///     ..Default::default()
/// };
/// assert_eq!(options.max_connections, Some(4));
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ListenOptions {
    /// At most this many connections are served at once; the next client's
    /// handshake waits until one leaves (or its handshake timeout passes).
    pub max_connections: Option<usize>,
    /// Who may connect to a `unix:` listener; by default only the
    /// listener's own user.
    pub allowed_users: AllowedUsers,
    /// The secret clients must prove they know. Required for `tcp:`; on
    /// Windows, a `unix:` (named pipe) listener with a secret is encrypted
    /// and authenticated like TCP; ignored by Unix sockets.
    pub secret: Option<Secret>,
    /// Settings of every accepted connection.
    pub config: Config,
}

/// Options for [`connect_with`]. A [`Config`] converts into one with no
/// secret, so `connect_with(address, config)` works for `unix:` addresses.
///
/// ```
/// let options = multiprocess::ConnectOptions {
///     secret: Some(multiprocess::Secret::generate()?),
///     ..multiprocess::Config::default().into()
/// };
/// assert!(options.secret.is_some());
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Settings of the connection.
    pub config: Config,
    /// The listener's secret. Required for `tcp:`; on Windows, for a named
    /// pipe whose listener has one; ignored by Unix sockets.
    pub secret: Option<Secret>,
}

impl From<Config> for ConnectOptions {
    fn from(config: Config) -> Self {
        ConnectOptions { config, secret: None }
    }
}

/// An address, parsed.
enum Address {
    /// `unix:PATH`: a socket path on Unix, a pipe name on Windows.
    Local(String),
    Tcp(SocketAddr),
}

fn parse(address: &str) -> Result<Address, Error> {
    let bad = |message: String| Error::Address { address: address.to_owned(), message };
    if address == "unix" {
        return Err(bad(
            "`unix` alone names the application's default socket; give `unix:PATH` (the application resolves the default)"
                .into(),
        ));
    }
    if let Some(path) = address.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(bad("the path is empty".into()));
        }
        #[cfg(unix)]
        unix::check_path(address, path)?;
        return Ok(Address::Local(path.to_owned()));
    }
    if let Some(host_port) = address.strip_prefix("tcp:") {
        return tcp::socket_address(address, host_port).map(Address::Tcp);
    }
    let scheme = address.split_once(':').map_or("none", |(scheme, _)| scheme);
    Err(bad(format!("unsupported scheme `{scheme}`: the forms are `unix:PATH` and `tcp:HOST:PORT`")))
}

/// An address being listened on.
///
/// Dropping a `unix:` listener stops accepting and removes the socket file;
/// connections already accepted carry on. Dropping a `tcp:` (or Windows
/// pipe) listener stops accepting new connections; since the threads of the
/// connections it has open their channels through it, it keeps accepting
/// those until the last connection ends, and only then closes the port.
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let dir = std::env::temp_dir().join(format!("multiprocess-doc-listener-{}", std::process::id()));
/// let listener = multiprocess::listen::<dyn Ping>(&format!("unix:{}/ping.sock", dir.display()), || Box::new(Local))?;
/// let ping = multiprocess::connect::<dyn Ping>(listener.address())?;
/// assert_eq!(ping.ping(), 7);
/// assert_eq!(listener.connections(), 1);
/// # drop(ping);
/// # drop(listener);
/// # std::fs::remove_dir(&dir).ok();
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub struct Listener {
    address: String,
    path: Option<PathBuf>,
    /// `None` once stopped.
    backend: Arc<Mutex<Option<Backend>>>,
    stopped: Arc<Stopped>,
}

/// Whether a listener has stopped, with a condition to wait on.
#[derive(Default)]
struct Stopped {
    flag: Mutex<bool>,
    signal: Condvar,
}

impl Stopped {
    fn set(&self) {
        *self.flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.signal.notify_all();
    }

    fn wait(&self, timeout: Option<Duration>) -> bool {
        let flag = self.flag.lock().unwrap_or_else(|p| p.into_inner());
        match timeout {
            None => *self.signal.wait_while(flag, |stopped| !*stopped).unwrap_or_else(|p| p.into_inner()),
            Some(timeout) => {
                *self.signal.wait_timeout_while(flag, timeout, |stopped| !*stopped).unwrap_or_else(|p| p.into_inner()).0
            }
        }
    }
}

/// Stops a [`Listener`] from another thread (a signal handler's, say).
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let options = multiprocess::ListenOptions { secret: Some(multiprocess::Secret::generate()?), ..Default::default() };
/// let listener = multiprocess::listen_with::<dyn Ping>("tcp:127.0.0.1:0", options, || Box::new(Local))?;
/// let stopper = listener.stopper();
/// std::thread::spawn(move || stopper.stop());
/// listener.wait(); // returns once the other thread has stopped it
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[derive(Clone)]
pub struct Stopper {
    listener: std::sync::Weak<Mutex<Option<Backend>>>,
    stopped: Arc<Stopped>,
}

impl fmt::Debug for Stopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stopper")
            .field("stopped", &*self.stopped.flag.lock().unwrap_or_else(|p| p.into_inner()))
            .finish()
    }
}

impl Stopper {
    /// Stops the listener, as [`Listener::stop`] does; nothing if it has
    /// stopped or been dropped.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let options = multiprocess::ListenOptions { secret: Some(multiprocess::Secret::generate()?), ..Default::default() };
    /// let listener = multiprocess::listen_with::<dyn Ping>("tcp:127.0.0.1:0", options, || Box::new(Local))?;
    /// let stopper = listener.stopper();
    /// stopper.stop();
    /// stopper.stop(); // a second time does nothing
    /// assert!(listener.is_stopped());
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn stop(&self) {
        if let Some(backend) = self.listener.upgrade() {
            stop(&backend, &self.stopped);
        }
    }
}

fn stop(backend: &Mutex<Option<Backend>>, stopped: &Stopped) {
    let backend = backend.lock().unwrap_or_else(|p| p.into_inner()).take();
    // Dropping the backend stops accepting (and removes a socket file).
    drop(backend);
    stopped.set();
}

enum Backend {
    #[cfg(unix)]
    Unix(unix::UnixListening),
    Dialled(Hub),
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener").field("address", &self.address).field("connections", &self.connections()).finish()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        stop(&self.backend, &self.stopped);
    }
}

impl Listener {
    fn new(address: String, backend: Backend) -> Listener {
        let path = match &backend {
            #[cfg(unix)]
            Backend::Unix(listening) => listening.path().map(Path::to_path_buf),
            Backend::Dialled(_) => None,
        };
        Listener { address, path, backend: Arc::new(Mutex::new(Some(backend))), stopped: Arc::default() }
    }

    /// Stops listening, as dropping the listener does (see [`Listener`]), and
    /// wakes every thread in [`wait`](Listener::wait). Connections already
    /// made carry on.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let dir = std::env::temp_dir().join(format!("multiprocess-doc-stop-{}", std::process::id()));
    /// let address = format!("unix:{}", dir.join("ping.sock").display());
    /// let listener = multiprocess::listen::<dyn Ping>(&address, || Box::new(Local))?;
    /// listener.stop();
    /// assert!(listener.is_stopped());
    /// assert!(multiprocess::connect::<dyn Ping>(&address).is_err());
    /// # std::fs::remove_dir(&dir).ok();
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn stop(&self) {
        stop(&self.backend, &self.stopped);
    }

    /// Whether the listener has stopped.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let options = multiprocess::ListenOptions { secret: Some(multiprocess::Secret::generate()?), ..Default::default() };
    /// let listener = multiprocess::listen_with::<dyn Ping>("tcp:127.0.0.1:0", options, || Box::new(Local))?;
    /// assert!(!listener.is_stopped());
    /// listener.stop();
    /// assert!(listener.is_stopped());
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn is_stopped(&self) -> bool {
        *self.stopped.flag.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A handle that stops this listener from another thread.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let options = multiprocess::ListenOptions { secret: Some(multiprocess::Secret::generate()?), ..Default::default() };
    /// let listener = multiprocess::listen_with::<dyn Ping>("tcp:127.0.0.1:0", options, || Box::new(Local))?;
    /// listener.stopper().stop();
    /// assert!(listener.is_stopped());
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn stopper(&self) -> Stopper {
        Stopper { listener: Arc::downgrade(&self.backend), stopped: self.stopped.clone() }
    }

    /// Blocks until the listener stops: [`stop`](Listener::stop) on another
    /// thread, or a [`Stopper`]. A server's main thread serves this way:
    ///
    /// ```no_run
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let address = format!("unix:{}", std::env::temp_dir().join("ping").join("ping.sock").display());
    /// let listener = multiprocess::listen::<dyn Ping>(&address, || Box::new(Local))?;
    /// let stopper = listener.stopper();
    /// // For example from a SIGINT/SIGTERM handler (the `ctrlc` crate's, say):
    /// std::thread::spawn(move || stopper.stop());
    /// listener.wait();
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn wait(&self) {
        self.stopped.wait(None);
    }

    /// Serves until the listener stops, then drops it: [`wait`](Listener::wait)
    /// for a listener the caller no longer needs afterwards.
    ///
    /// ```no_run
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let address = format!("unix:{}", std::env::temp_dir().join("ping").join("ping.sock").display());
    /// let listener = multiprocess::listen::<dyn Ping>(&address, || Box::new(Local))?;
    /// let stopper = listener.stopper();
    /// std::thread::spawn(move || {
    ///     // ... on SIGTERM, say:
    ///     stopper.stop();
    /// });
    /// listener.run();
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn run(self) {
        self.wait();
    }

    /// [`wait`](Listener::wait) for at most `timeout`; `true` if the listener has stopped.
    ///
    /// ```
    /// use std::time::Duration;
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let options = multiprocess::ListenOptions { secret: Some(multiprocess::Secret::generate()?), ..Default::default() };
    /// let listener = multiprocess::listen_with::<dyn Ping>("tcp:127.0.0.1:0", options, || Box::new(Local))?;
    /// assert!(!listener.wait_timeout(Duration::from_millis(10)));
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.stopped.wait(Some(timeout))
    }

    /// The address clients connect to: as given to [`listen`], except that
    /// for `tcp:` it is the bound address, with the port the system picked
    /// for port 0 (`tcp:127.0.0.1:40213`).
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let options = multiprocess::ListenOptions { secret: Some(multiprocess::Secret::generate()?), ..Default::default() };
    /// let listener = multiprocess::listen_with::<dyn Ping>("tcp:127.0.0.1:0", options, || Box::new(Local))?;
    /// assert!(listener.address().starts_with("tcp:127.0.0.1:"));
    /// assert!(!listener.address().ends_with(":0"));
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The socket file of a `unix:` listener on Unix; `None` otherwise, and
    /// for a socket handed to `listen_socket`.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let options = multiprocess::ListenOptions { secret: Some(multiprocess::Secret::generate()?), ..Default::default() };
    /// let listener = multiprocess::listen_with::<dyn Ping>("tcp:127.0.0.1:0", options, || Box::new(Local))?;
    /// assert_eq!(listener.path(), None, "a TCP listener has no file");
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// How many connections are being served now; none once the listener
    /// has stopped.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let options = multiprocess::ListenOptions { secret: Some(multiprocess::Secret::generate()?), ..Default::default() };
    /// let listener = multiprocess::listen_with::<dyn Ping>("tcp:127.0.0.1:0", options, || Box::new(Local))?;
    /// assert_eq!(listener.connections(), 0);
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn connections(&self) -> usize {
        match &*self.backend.lock().unwrap_or_else(|p| p.into_inner()) {
            #[cfg(unix)]
            Some(Backend::Unix(listening)) => listening.connections(),
            Some(Backend::Dialled(hub)) => hub.connections(),
            None => 0,
        }
    }
}

/// Listens on `address` and serves each connection with a new bootstrap
/// object from `factory`, on a thread of its own. See the module
/// documentation for the address forms; `tcp:` needs a secret, so use
/// [`listen_with`] for it.
///
/// ```
/// use multiprocess::ipc_interface;
///
/// #[ipc_interface]
/// pub trait Ping: Send + Sync {
///     fn ping(&self) -> u32;
/// }
/// struct Local;
/// impl Ping for Local {
///     fn ping(&self) -> u32 { 7 }
/// }
///
/// let dir = std::env::temp_dir().join(format!("multiprocess-doc-{}", std::process::id()));
/// let address = format!("unix:{}", dir.join("ping.sock").display());
/// let listener = multiprocess::listen::<dyn Ping>(&address, || Box::new(Local))?;
/// let ping = multiprocess::connect::<dyn Ping>(&address)?;
/// assert_eq!(ping.ping(), 7);
/// drop(ping);
/// drop(listener); // removes the socket file
/// # std::fs::remove_dir(&dir).ok();
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub fn listen<I: ?Sized + Interface>(
    address: &str,
    factory: impl Fn() -> Box<I> + Send + Sync + 'static,
) -> Result<Listener, Error> {
    listen_with(address, ListenOptions::default(), factory)
}

/// [`listen`] with [`ListenOptions`]: a TCP listener needs
/// [`ListenOptions::secret`].
///
/// ```
/// use multiprocess::{ipc_interface, ListenOptions, Secret};
///
/// #[ipc_interface]
/// pub trait Ping: Send + Sync {
///     fn ping(&self) -> u32;
/// }
/// struct Local;
/// impl Ping for Local {
///     fn ping(&self) -> u32 { 7 }
/// }
///
/// let secret = Secret::generate()?;
/// let options = ListenOptions { secret: Some(secret.clone()), ..Default::default() };
/// let listener = multiprocess::listen_with::<dyn Ping>("tcp:127.0.0.1:0", options, || Box::new(Local))?;
/// let ping = multiprocess::connect_with::<dyn Ping>(
///     listener.address(),
///     multiprocess::ConnectOptions { secret: Some(secret), ..Default::default() },
/// )?;
/// assert_eq!(ping.ping(), 7);
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub fn listen_with<I: ?Sized + Interface>(
    address: &str,
    options: ListenOptions,
    factory: impl Fn() -> Box<I> + Send + Sync + 'static,
) -> Result<Listener, Error> {
    let bad = |message: String| Error::Address { address: address.to_owned(), message };
    let factory: Arc<dyn Fn() -> Box<I> + Send + Sync> = Arc::new(factory);
    let listener = match parse(address)? {
        #[cfg(unix)]
        Address::Local(path) => {
            let listening = unix::listen::<I>(address, PathBuf::from(path), options, factory)?;
            Listener::new(address.to_owned(), Backend::Unix(listening))
        }
        #[cfg(windows)]
        Address::Local(name) => {
            if options.allowed_users != AllowedUsers::SameUser {
                return Err(bad("a named pipe admits its owner's user only: allowed_users must be SameUser".into()));
            }
            let path = crate::transport::windows::pipe_path(&name);
            let acceptor = crate::transport::windows::PipeAcceptor::bind(&path)
                .map_err(|e| bad(format!("cannot listen: {e} (does another process listen there?)")))?;
            let hub = start_hub::<I>(address.to_owned(), Arc::new(acceptor), options, factory)?;
            Listener::new(address.to_owned(), Backend::Dialled(hub))
        }
        Address::Tcp(socket_address) => {
            check_tcp_options(&options).map_err(bad)?;
            let acceptor = TcpAcceptor::bind(socket_address).map_err(|e| bad(format!("cannot listen: {e}")))?;
            serve_tcp(acceptor, options, factory)?
        }
    };
    tracing::debug!(target: "ipc", address = listener.address, "listening");
    Ok(listener)
}

/// Serves connections accepted on `socket`, a socket that is already bound
/// and listening: one inherited from a service manager (see
/// [`activated_sockets`]) or made by the program itself. A Unix socket is
/// served as a `unix:` listener (its file, if any, is left in place when the
/// listener is dropped: it is not ours); a TCP socket as a `tcp:` one, which
/// needs [`ListenOptions::secret`]. Anything else, or a socket that is not
/// listening, is [`Error::Address`].
///
/// ```
/// use std::os::unix::net::UnixListener;
/// use multiprocess::ipc_interface;
///
/// #[ipc_interface]
/// pub trait Ping: Send + Sync {
///     fn ping(&self) -> u32;
/// }
/// struct Local;
/// impl Ping for Local {
///     fn ping(&self) -> u32 { 7 }
/// }
///
/// let dir = std::env::temp_dir().join(format!("multiprocess-doc-socket-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("ping.sock");
/// let socket = UnixListener::bind(&path)?;
/// let listener = multiprocess::listen_socket::<dyn Ping>(socket.into(), Default::default(), || Box::new(Local))?;
/// assert_eq!(listener.address(), format!("unix:{}", path.display()));
/// let ping = multiprocess::connect::<dyn Ping>(listener.address())?;
/// assert_eq!(ping.ping(), 7);
/// # drop(ping);
/// # drop(listener);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(unix)]
pub fn listen_socket<I: ?Sized + Interface>(
    socket: std::os::fd::OwnedFd,
    options: ListenOptions,
    factory: impl Fn() -> Box<I> + Send + Sync + 'static,
) -> Result<Listener, Error> {
    use std::os::fd::AsRawFd;
    let described = format!("fd:{}", socket.as_raw_fd());
    let bad = |message: String| Error::Address { address: described.clone(), message };
    if !is_listening(&socket).map_err(|e| bad(format!("not a socket: {e}")))? {
        return Err(bad("the socket is not listening: bind it and call listen first".into()));
    }
    let factory: Arc<dyn Fn() -> Box<I> + Send + Sync> = Arc::new(factory);
    let local = rustix::net::getsockname(&socket).map_err(|e| bad(e.to_string()))?;
    let listener = match local.address_family() {
        rustix::net::AddressFamily::UNIX => {
            let socket = std::os::unix::net::UnixListener::from(socket);
            socket.set_nonblocking(false)?;
            let address = match socket.local_addr().ok().as_ref().and_then(|a| a.as_pathname()) {
                Some(path) => format!("unix:{}", path.display()),
                None => described.clone(),
            };
            let listening = unix::start::<I>(&address, socket, None, options, factory)?;
            Listener::new(address, Backend::Unix(listening))
        }
        rustix::net::AddressFamily::INET | rustix::net::AddressFamily::INET6 => {
            check_tcp_options(&options).map_err(bad)?;
            serve_tcp(TcpAcceptor::new(std::net::TcpListener::from(socket))?, options, factory)?
        }
        family => return Err(bad(format!("unsupported socket family {family:?}"))),
    };
    tracing::debug!(target: "ipc", address = listener.address, "listening on a given socket");
    Ok(listener)
}

/// Whether `socket` is a listening socket.
#[cfg(all(unix, not(target_vendor = "apple")))]
fn is_listening(socket: &std::os::fd::OwnedFd) -> std::io::Result<bool> {
    Ok(rustix::net::sockopt::socket_acceptconn(socket)?)
}

/// Whether `socket` is a listening socket. Apple's kernels do not answer
/// `SO_ACCEPTCONN`; `listen` on a listening socket only sets its backlog
/// again, and fails on a connected one.
#[cfg(target_vendor = "apple")]
fn is_listening(socket: &std::os::fd::OwnedFd) -> std::io::Result<bool> {
    rustix::net::sockopt::socket_type(socket)?;
    Ok(rustix::net::listen(socket, 128).is_ok())
}

/// The listening sockets a service manager passed this process (systemd's
/// socket activation: `LISTEN_FDS` descriptors from 3 up, meant for this
/// process when `LISTEN_PID` is its pid), ready for [`listen_socket`].
///
/// The sockets are handed out once: later calls return none. Without
/// activation, the list is empty. The `LISTEN_*` variables stay in the
/// environment; children ignore them, as `LISTEN_PID` does not name them.
///
/// ```no_run
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let mut sockets = multiprocess::activated_sockets()?;
/// let listener = match sockets.pop() {
///     Some(socket) => multiprocess::listen_socket::<dyn Ping>(socket, Default::default(), || Box::new(Local))?,
///     None => multiprocess::listen::<dyn Ping>("unix:/run/ping/ping.sock", || Box::new(Local))?,
/// };
/// listener.wait();
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[cfg(unix)]
pub fn activated_sockets() -> Result<Vec<std::os::fd::OwnedFd>, Error> {
    unix::activated_sockets()
}

/// What a TCP listener needs of its options, in words for an address error.
fn check_tcp_options(options: &ListenOptions) -> Result<(), String> {
    if options.secret.is_none() {
        return Err(
            "a TCP listener needs a secret: set ListenOptions::secret (Secret::generate, Secret::write_to)".into()
        );
    }
    if options.allowed_users != AllowedUsers::SameUser {
        return Err("allowed_users applies to unix: listeners; TCP admits whoever knows the secret".into());
    }
    Ok(())
}

/// Serves connections accepted on a TCP socket, each with an object from `factory`.
fn serve_tcp<I: ?Sized + Interface>(
    acceptor: TcpAcceptor,
    options: ListenOptions,
    factory: Arc<dyn Fn() -> Box<I> + Send + Sync>,
) -> Result<Listener, Error> {
    let bound = format!("tcp:{}", acceptor.local_addr()?);
    let hub = start_hub::<I>(bound.clone(), Arc::new(acceptor), options, factory)?;
    Ok(Listener::new(bound, Backend::Dialled(hub)))
}

/// A hub that serves each connection with an object from `factory`.
fn start_hub<I: ?Sized + Interface>(
    address: String,
    acceptor: Arc<dyn Acceptor>,
    options: ListenOptions,
    factory: Arc<dyn Fn() -> Box<I> + Send + Sync>,
) -> Result<Hub, Error> {
    let config = options.config;
    let hub_options = HubOptions {
        address,
        secret: options.secret,
        handshake_timeout: config.handshake_timeout,
        max_connections: options.max_connections.unwrap_or(usize::MAX).max(1),
    };
    let handler: Handler = Box::new(move |control, entry| {
        let transport = Box::new(DialTransport::server(control, entry.tickets.clone(), config.handshake_timeout));
        // The bootstrap object is made only once the handshake has succeeded.
        let served = panic::catch_unwind(AssertUnwindSafe(|| {
            serve_made_then::<I>(transport, config.clone(), || factory(), |conn| entry.attach(conn))
        }));
        match served {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(target: "ipc", %error, "connection ended"),
            Err(_) => tracing::warn!(target: "ipc", "a connection's thread panicked"),
        }
    });
    Hub::start(acceptor, hub_options, handler)
}

/// Connects to a process listening on `address` and returns a proxy for its
/// bootstrap object. A missing or refusing listener is [`Error::Connect`]
/// naming the address. `tcp:` needs a secret: use [`connect_with`].
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// let refused = multiprocess::connect::<dyn Ping>("unix:/nonexistent/ping.sock");
/// assert!(matches!(refused, Err(multiprocess::Error::Connect { .. })));
/// ```
pub fn connect<I: ?Sized + Interface>(address: &str) -> Result<Box<I>, Error> {
    connect_with(address, ConnectOptions::default())
}

/// [`connect`] with [`ConnectOptions`] (or just a [`Config`]). A listener
/// that does not know the same secret closes the connection during the
/// handshake, and this returns [`Error::Connect`].
///
/// ```no_run
/// use multiprocess::{ipc_interface, ConnectOptions, Secret};
///
/// #[ipc_interface]
/// pub trait Ping: Send + Sync {
///     fn ping(&self) -> u32;
/// }
///
/// let secret = Secret::from_file("/var/lib/node/ipc.cookie")?;
/// let options = ConnectOptions { secret: Some(secret), ..Default::default() };
/// let ping = multiprocess::connect_with::<dyn Ping>("tcp:127.0.0.1:8340", options)?;
/// println!("{}", ping.ping());
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub fn connect_with<I: ?Sized + Interface>(address: &str, options: impl Into<ConnectOptions>) -> Result<Box<I>, Error> {
    let ConnectOptions { config, secret } = options.into();
    match parse(address)? {
        #[cfg(unix)]
        Address::Local(path) => {
            crate::bootstrap::connect_transport::<I>(Box::new(unix::connect(address, Path::new(&path))?), config)
        }
        #[cfg(windows)]
        Address::Local(name) => {
            let path = crate::transport::windows::pipe_path(&name);
            let dial = crate::transport::windows::PipeDial { path, timeout: config.handshake_timeout, server: None };
            connect_dialled::<I>(Arc::new(dial), secret, config)
        }
        Address::Tcp(socket_address) => {
            let Some(secret) = secret else {
                return Err(Error::Address {
                    address: address.to_owned(),
                    message: "a TCP connection needs the listener's secret: set ConnectOptions::secret".into(),
                });
            };
            let dial = TcpDial { address: socket_address, timeout: config.handshake_timeout };
            connect_dialled::<I>(Arc::new(dial), Some(secret), config)
        }
    }
}
