//! Independent processes: one listens on a socket path, others connect
//! (Bitcoin Core's `-ipcbind` and `-ipcconnect`).
//!
//! Addresses are `unix:PATH`. Listening creates missing parent directories
//! (mode 0700), replaces a stale socket file left by a dead listener, refuses
//! any other existing file, and makes the socket readable and writable by its
//! owner only (mode 0600).

use std::{
    fmt,
    fs::{self, DirBuilder},
    io,
    net::Shutdown,
    os::{
        fd::AsFd,
        unix::{
            fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt},
            net::{UnixListener, UnixStream},
        },
    },
    path::{Path, PathBuf},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
};

use crate::{
    Error, Interface,
    bootstrap::{connect_stream_with, serve_stream_with},
    conn::Config,
};

/// The longest path a Unix socket address can hold (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Options for [`listen_with`].
///
/// ```
/// let options = multiprocess::ListenOptions { max_connections: Some(4), ..Default::default() };
/// assert_eq!(options.max_connections, Some(4));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ListenOptions {
    /// At most this many connections are served at once; the next client's
    /// handshake waits until one leaves (or its handshake timeout passes).
    pub max_connections: Option<usize>,
    /// Settings of every accepted connection.
    pub config: Config,
}

/// A socket path being listened on. Dropping it stops accepting and removes
/// the socket file; connections already accepted carry on.
pub struct Listener {
    address: String,
    path: PathBuf,
    inode: u64,
    stopping: Arc<AtomicBool>,
    socket: Arc<UnixListener>,
    active: Arc<(Mutex<usize>, Condvar)>,
    acceptor: Option<JoinHandle<()>>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener").field("address", &self.address).field("connections", &self.connections()).finish()
    }
}

impl Listener {
    /// The address as given to [`listen`].
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The socket file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many connections are being served now.
    pub fn connections(&self) -> usize {
        *self.active.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        // Wakes the acceptor from `accept`, and from waiting for a free slot.
        let _ = rustix::net::shutdown(self.socket.as_fd(), rustix::net::Shutdown::Both);
        self.active.1.notify_all();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // Only our own socket: another listener may have replaced it since.
        if fs::symlink_metadata(&self.path).is_ok_and(|meta| meta.ino() == self.inode) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Parses `unix:PATH`.
fn socket_path(address: &str) -> Result<PathBuf, Error> {
    let bad = |message: String| Error::Address { address: address.to_owned(), message };
    let Some(path) = address.strip_prefix("unix:") else {
        let scheme = address.split_once(':').map_or("none", |(scheme, _)| scheme);
        return Err(bad(format!("unsupported scheme `{scheme}`: the supported form is `unix:PATH`")));
    };
    if path.is_empty() {
        return Err(bad("the path is empty".into()));
    }
    if path.len() > MAX_SOCKET_PATH {
        return Err(bad(format!(
            "the path is {} bytes long; a Unix socket path holds at most {MAX_SOCKET_PATH}",
            path.len()
        )));
    }
    Ok(PathBuf::from(path))
}

/// Listens on `address` (`unix:PATH`) and serves each connection with a new
/// bootstrap object from `factory`, on a thread of its own.
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

/// [`listen`] with [`ListenOptions`].
pub fn listen_with<I: ?Sized + Interface>(
    address: &str,
    options: ListenOptions,
    factory: impl Fn() -> Box<I> + Send + Sync + 'static,
) -> Result<Listener, Error> {
    let path = socket_path(address)?;
    let bad = |message: String| Error::Address { address: address.to_owned(), message };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| bad(format!("cannot create {}: {e}", parent.display())))?;
    }
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(&path).is_ok() {
                return Err(bad("another process is listening there".into()));
            }
            // Nobody answers: a socket file left behind by a listener that died.
            fs::remove_file(&path).map_err(|e| bad(format!("cannot replace the stale socket: {e}")))?;
        }
        Ok(_) => return Err(bad("the path exists and is not a socket; refusing to replace it".into())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(bad(e.to_string())),
    }
    let socket = UnixListener::bind(&path).map_err(|e| bad(format!("cannot listen: {e}")))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(|e| bad(e.to_string()))?;
    let inode = fs::symlink_metadata(&path).map_err(|e| bad(e.to_string()))?.ino();
    let socket = Arc::new(socket);
    let stopping = Arc::new(AtomicBool::new(false));
    let active = Arc::new((Mutex::new(0usize), Condvar::new()));
    let acceptor = {
        let (socket, stopping, active) = (socket.clone(), stopping.clone(), active.clone());
        let address = address.to_owned();
        thread::Builder::new()
            .name("ipc-listen".into())
            .spawn(move || accept_loop::<I>(&address, &socket, &stopping, &active, options, &factory))?
    };
    tracing::debug!(target: "ipc", address, "listening");
    Ok(Listener { address: address.to_owned(), path, inode, stopping, socket, active, acceptor: Some(acceptor) })
}

fn accept_loop<I: ?Sized + Interface>(
    address: &str,
    socket: &UnixListener,
    stopping: &AtomicBool,
    active: &Arc<(Mutex<usize>, Condvar)>,
    options: ListenOptions,
    factory: &(dyn Fn() -> Box<I> + Send + Sync),
) {
    let limit = options.max_connections.unwrap_or(usize::MAX).max(1);
    loop {
        {
            // A client beyond the limit waits in the backlog, its handshake unanswered.
            let (count, freed) = &**active;
            let mut count = count.lock().unwrap_or_else(|p| p.into_inner());
            while *count >= limit && !stopping.load(Ordering::Acquire) {
                count = freed.wait(count).unwrap_or_else(|p| p.into_inner());
            }
        }
        if stopping.load(Ordering::Acquire) {
            return;
        }
        let stream = match socket.accept() {
            Ok((stream, _)) => stream,
            Err(_) if stopping.load(Ordering::Acquire) => return,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                tracing::warn!(target: "ipc", address, %error, "accept failed");
                // Out of descriptors, say: do not spin.
                thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
        };
        if stopping.load(Ordering::Acquire) {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        *active.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let object = factory();
        let (active, config) = (active.clone(), options.config.clone());
        let spawned = thread::Builder::new().name("ipc-serve".into()).spawn(move || {
            if let Err(error) = serve_stream_with::<I>(stream, object, config) {
                tracing::debug!(target: "ipc", %error, "connection ended");
            }
            *active.0.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
            active.1.notify_all();
        });
        if let Err(error) = spawned {
            tracing::error!(target: "ipc", address, %error, "could not start a thread for a connection");
        }
    }
}

/// Connects to a process listening on `address` (`unix:PATH`) and returns a
/// proxy for its bootstrap object. A missing or refusing socket is
/// [`Error::Connect`] naming the address.
pub fn connect<I: ?Sized + Interface>(address: &str) -> Result<Box<I>, Error> {
    connect_with(address, Config::default())
}

/// [`connect`] with explicit [`Config`].
pub fn connect_with<I: ?Sized + Interface>(address: &str, config: Config) -> Result<Box<I>, Error> {
    let path = socket_path(address)?;
    let stream = UnixStream::connect(&path)
        .map_err(|error| Error::Connect { address: address.to_owned(), message: error.to_string() })?;
    connect_stream_with::<I>(stream, config)
}
