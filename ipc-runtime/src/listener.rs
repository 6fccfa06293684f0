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
    panic::{self, AssertUnwindSafe},
    path::{Path, PathBuf},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
};

use crate::{
    Error, Interface,
    bootstrap::{connect_stream_with, serve_made},
    conn::Config,
};

/// The longest path a Unix socket address can hold (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Which users may connect to a Unix socket listener, by the peer
/// credentials the kernel reports for each connection.
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
/// let options = multiprocess::ListenOptions { max_connections: Some(4), ..Default::default() };
/// assert_eq!(options.max_connections, Some(4));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ListenOptions {
    /// At most this many connections are served at once; the next client's
    /// handshake waits until one leaves (or its handshake timeout passes).
    pub max_connections: Option<usize>,
    /// Who may connect; by default only the listener's own user.
    pub allowed_users: AllowedUsers,
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

/// One connection's place among `max_connections`, given back however its
/// thread ends.
struct Slot(Arc<(Mutex<usize>, Condvar)>);

impl Slot {
    fn take(active: &Arc<(Mutex<usize>, Condvar)>) -> Slot {
        *active.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Slot(active.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (count, freed) = &*self.0;
        *count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        freed.notify_all();
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
    let (socket, inode) = bind_private(&path).map_err(|e| bad(format!("cannot listen: {e}")))?;
    let socket = Arc::new(socket);
    let stopping = Arc::new(AtomicBool::new(false));
    let active = Arc::new((Mutex::new(0usize), Condvar::new()));
    let acceptor = {
        let (socket, stopping, active) = (socket.clone(), stopping.clone(), active.clone());
        let address = address.to_owned();
        thread::Builder::new().name("ipc-listen".into()).spawn(move || {
            let factory: Arc<dyn Fn() -> Box<I> + Send + Sync> = Arc::new(factory);
            accept_loop::<I>(&address, &socket, &stopping, &active, options, &factory)
        })?
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
    factory: &Arc<dyn Fn() -> Box<I> + Send + Sync>,
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
        if let Err(refusal) = check_peer(&stream, &options.allowed_users) {
            tracing::warn!(target: "ipc", address, %refusal, "refused a connection");
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let slot = Slot::take(active);
        let config = options.config.clone();
        let factory = factory.clone();
        let spawned = thread::Builder::new().name("ipc-serve".into()).spawn(move || {
            let _slot = slot;
            // The bootstrap object is made only once the handshake has succeeded.
            let served = panic::catch_unwind(AssertUnwindSafe(|| serve_made::<I>(stream, config, || factory())));
            match served {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::debug!(target: "ipc", %error, "connection ended"),
                Err(_) => tracing::warn!(target: "ipc", "a connection's thread panicked"),
            }
        });
        if let Err(error) = spawned {
            tracing::error!(target: "ipc", address, %error, "could not start a thread for a connection");
        }
    }
}

/// Whether the peer's user may connect.
fn check_peer(stream: &UnixStream, allowed: &AllowedUsers) -> Result<(), String> {
    let wanted = match allowed {
        AllowedUsers::Any => return Ok(()),
        AllowedUsers::SameUser => vec![rustix::process::geteuid().as_raw()],
        AllowedUsers::Only(uids) => uids.clone(),
    };
    let uid = peer_uid(stream).map_err(|error| format!("cannot read the peer's credentials: {error}"))?;
    if wanted.contains(&uid) { Ok(()) } else { Err(format!("user {uid} may not connect")) }
}

/// The user id of the process at the other end of `stream`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    Ok(rustix::net::sockopt::socket_peercred(stream)?.uid.as_raw())
}

/// The user id of the process at the other end of `stream`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd;
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: getpeereid writes two ids for a valid socket descriptor.
    if unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) } == 0 {
        Ok(uid)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Binds a socket at `path` that is never reachable with a wider mode than
/// 0600: it is bound inside a new private directory, given its mode there,
/// and hard-linked into place (which also refuses to replace anything that
/// appeared at `path` meanwhile). Returns the socket and its inode.
fn bind_private(path: &Path) -> std::io::Result<(UnixListener, u64)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let private = parent.join(format!(".mp-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let bound = private.join("s");
    if bound.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the directory's path is too long to bind a socket beside it safely ({} bytes)",
                bound.as_os_str().len()
            ),
        ));
    }
    DirBuilder::new().mode(0o700).create(&private)?;
    let placed = (|| {
        let socket = UnixListener::bind(&bound)?;
        fs::set_permissions(&bound, fs::Permissions::from_mode(0o600))?;
        fs::hard_link(&bound, path)?;
        let inode = fs::symlink_metadata(path)?.ino();
        Ok((socket, inode))
    })();
    let _ = fs::remove_file(&bound);
    let _ = fs::remove_dir(&private);
    placed
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
