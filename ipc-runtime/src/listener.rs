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
    sync::Arc,
};

#[cfg(unix)]
use std::path::PathBuf;

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
pub struct Listener {
    address: String,
    backend: Backend,
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

impl Listener {
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

    /// The socket file of a `unix:` listener on Unix; `None` otherwise.
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            #[cfg(unix)]
            Backend::Unix(listening) => Some(listening.path()),
            Backend::Dialled(_) => None,
        }
    }

    /// How many connections are being served now.
    pub fn connections(&self) -> usize {
        match &self.backend {
            #[cfg(unix)]
            Backend::Unix(listening) => listening.connections(),
            Backend::Dialled(hub) => hub.connections(),
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
            Listener { address: address.to_owned(), backend: Backend::Unix(listening) }
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
            Listener { address: address.to_owned(), backend: Backend::Dialled(hub) }
        }
        Address::Tcp(socket_address) => {
            if options.secret.is_none() {
                return Err(bad(
                    "a TCP listener needs a secret: set ListenOptions::secret (Secret::generate, Secret::write_to)"
                        .into(),
                ));
            }
            if options.allowed_users != AllowedUsers::SameUser {
                return Err(
                    bad("allowed_users applies to unix: listeners; TCP admits whoever knows the secret".into()),
                );
            }
            let acceptor = TcpAcceptor::bind(socket_address).map_err(|e| bad(format!("cannot listen: {e}")))?;
            let bound = format!("tcp:{}", acceptor.local_addr()?);
            let hub = start_hub::<I>(bound.clone(), Arc::new(acceptor), options, factory)?;
            Listener { address: bound, backend: Backend::Dialled(hub) }
        }
    };
    tracing::debug!(target: "ipc", address = listener.address, "listening");
    Ok(listener)
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
