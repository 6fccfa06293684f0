//! Listening on a Unix socket path: the socket file's life (created 0600 from
//! its first moment, stale ones replaced, nothing else touched), who may
//! connect, and the accept loop.

use std::{
    fs::{self, DirBuilder},
    io,
    net::Shutdown,
    os::{
        fd::{AsFd, FromRawFd, OwnedFd},
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

use super::{AllowedUsers, ListenOptions};
use crate::{Error, Interface, bootstrap::serve_made, transport::unix::UnixTransport};

/// The longest path a Unix socket address can hold (`sun_path` less its NUL).
pub(super) const MAX_SOCKET_PATH: usize = 107;

/// A socket file being listened on.
pub(super) struct UnixListening {
    /// The socket file this listener created, and its inode; `None` for a
    /// socket it was handed, whose file (if any) is not ours to remove.
    file: Option<(PathBuf, u64)>,
    socket: Arc<UnixListener>,
    slots: Arc<Slots>,
    acceptor: Option<JoinHandle<()>>,
}

impl UnixListening {
    pub(super) fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(path, _)| path.as_path())
    }

    pub(super) fn connections(&self) -> usize {
        self.slots.active()
    }
}

impl Drop for UnixListening {
    fn drop(&mut self) {
        self.slots.stop();
        // Wakes the acceptor from `accept`.
        let _ = rustix::net::shutdown(self.socket.as_fd(), rustix::net::Shutdown::Both);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // Only our own socket: another listener may have replaced it since.
        if let Some((path, inode)) = &self.file
            && fs::symlink_metadata(path).is_ok_and(|meta| meta.ino() == *inode)
        {
            let _ = fs::remove_file(path);
        }
    }
}

/// The connections being served, at most `limit` at once.
struct Slots {
    limit: usize,
    active: Mutex<usize>,
    freed: Condvar,
    stopping: AtomicBool,
}

/// One connection's place among `max_connections`, given back however its
/// thread ends.
struct Slot(Arc<Slots>);

impl Slots {
    fn new(limit: Option<usize>) -> Slots {
        Slots {
            limit: limit.unwrap_or(usize::MAX).max(1),
            active: Mutex::new(0),
            freed: Condvar::new(),
            stopping: AtomicBool::new(false),
        }
    }

    fn active(&self) -> usize {
        *self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a connection may be accepted; `false` once stopping.
    fn wait_free(&self) -> bool {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        while *active >= self.limit && !self.stopping() {
            active = self.freed.wait(active).unwrap_or_else(|p| p.into_inner());
        }
        !self.stopping()
    }

    fn take(self: &Arc<Self>) -> Slot {
        *self.active.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Slot(self.clone())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let _active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        self.freed.notify_all();
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.active.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        self.0.freed.notify_all();
    }
}

/// Checks a `unix:` path's length.
pub(super) fn check_path(address: &str, path: &str) -> Result<(), Error> {
    if path.len() > MAX_SOCKET_PATH {
        return Err(Error::Address {
            address: address.to_owned(),
            message: format!(
                "the path is {} bytes long; a Unix socket path holds at most {MAX_SOCKET_PATH}",
                path.len()
            ),
        });
    }
    Ok(())
}

/// Listens on `path`, serving each connection with an object from `factory`.
pub(super) fn listen<I: ?Sized + Interface>(
    address: &str,
    path: PathBuf,
    options: ListenOptions,
    factory: Arc<dyn Fn() -> Box<I> + Send + Sync>,
) -> Result<UnixListening, Error> {
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
    start(address, socket, Some((path, inode)), options, factory)
}

/// Serves connections accepted on `socket`, a listening Unix socket.
pub(super) fn start<I: ?Sized + Interface>(
    address: &str,
    socket: UnixListener,
    file: Option<(PathBuf, u64)>,
    options: ListenOptions,
    factory: Arc<dyn Fn() -> Box<I> + Send + Sync>,
) -> Result<UnixListening, Error> {
    let socket = Arc::new(socket);
    let slots = Arc::new(Slots::new(options.max_connections));
    let acceptor = {
        let (socket, slots) = (socket.clone(), slots.clone());
        let address = address.to_owned();
        thread::Builder::new()
            .name("ipc-listen".into())
            .spawn(move || accept_loop::<I>(&address, &socket, &slots, options, &factory))?
    };
    Ok(UnixListening { file, socket, slots, acceptor: Some(acceptor) })
}

fn accept_loop<I: ?Sized + Interface>(
    address: &str,
    socket: &UnixListener,
    slots: &Arc<Slots>,
    options: ListenOptions,
    factory: &Arc<dyn Fn() -> Box<I> + Send + Sync>,
) {
    loop {
        // A client beyond the limit waits in the backlog, its handshake unanswered.
        if !slots.wait_free() {
            return;
        }
        let stream = match socket.accept() {
            Ok((stream, _)) => stream,
            Err(_) if slots.stopping() => return,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                tracing::warn!(target: "ipc", address, %error, "accept failed");
                // Out of descriptors, say: do not spin.
                thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
        };
        if slots.stopping() {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        if let Err(refusal) = check_peer(&stream, &options.allowed_users) {
            tracing::warn!(target: "ipc", address, %refusal, "refused a connection");
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let slot = slots.take();
        let config = options.config.clone();
        let factory = factory.clone();
        let spawned = thread::Builder::new().name("ipc-serve".into()).spawn(move || {
            let _slot = slot;
            let transport = Box::new(UnixTransport::new(stream));
            // The bootstrap object is made only once the handshake has succeeded.
            let served = panic::catch_unwind(AssertUnwindSafe(|| serve_made::<I>(transport, config, || factory())));
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
fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    Ok(rustix::net::sockopt::socket_peercred(stream)?.uid.as_raw())
}

/// The user id of the process at the other end of `stream`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    use std::os::fd::AsRawFd;
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: getpeereid writes two ids for a valid socket descriptor.
    if unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) } == 0 {
        Ok(uid)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Binds a socket at `path` that is never reachable with a wider mode than
/// 0600: it is bound inside a new private directory, given its mode there,
/// and hard-linked into place (which also refuses to replace anything that
/// appeared at `path` meanwhile). Returns the socket and its inode.
fn bind_private(path: &Path) -> io::Result<(UnixListener, u64)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let private = parent.join(format!(".mp-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let bound = private.join("s");
    if bound.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
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

/// Connects to the socket at `path`.
pub(super) fn connect(address: &str, path: &Path) -> Result<UnixTransport, Error> {
    let stream = UnixStream::connect(path)
        .map_err(|error| Error::Connect { address: address.to_owned(), message: error.to_string() })?;
    Ok(UnixTransport::new(stream))
}

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const FIRST_ACTIVATED: i32 = 3;

/// Takes the sockets of systemd's socket activation, once per process.
pub(super) fn activated_sockets() -> Result<Vec<OwnedFd>, Error> {
    static TAKEN: Mutex<bool> = Mutex::new(false);
    let mut taken = TAKEN.lock().unwrap_or_else(|p| p.into_inner());
    if *taken {
        return Ok(Vec::new());
    }
    let for_us = std::env::var("LISTEN_PID").ok().and_then(|pid| pid.parse::<u32>().ok()) == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS").ok().and_then(|count| count.parse::<i32>().ok());
    if !for_us || count.is_none() {
        return Ok(Vec::new());
    }
    *taken = true;
    // The variables stay: editing the environment of a threaded process is
    // unsound, and children ignore them, since LISTEN_PID is not theirs.
    let count = count.unwrap_or(0);
    if !(0..=1024).contains(&count) {
        return Err(Error::Address {
            address: format!("LISTEN_FDS={count}"),
            message: "not a descriptor count".into(),
        });
    }
    let mut sockets = Vec::new();
    for fd in FIRST_ACTIVATED..FIRST_ACTIVATED + count {
        // SAFETY: a process started with LISTEN_PID naming it owns descriptors
        // 3..3+LISTEN_FDS by the protocol, and TAKEN hands them out only once.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        if rustix::io::fcntl_getfd(borrowed).is_err() {
            return Err(Error::Address {
                address: format!("fd:{fd}"),
                message: "LISTEN_FDS names a closed descriptor".into(),
            });
        }
        // SAFETY: as above; the descriptor is open and now has one owner.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        // Not inherited by our own children.
        rustix::io::fcntl_setfd(&socket, rustix::io::FdFlags::CLOEXEC).map_err(io::Error::from)?;
        sockets.push(socket);
    }
    Ok(sockets)
}
