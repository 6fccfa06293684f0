//! A parent spawns a child and talks to it over a socketpair (Bitcoin Core's
//! `bitcoin-node` spawning `bitcoin-wallet`).
//!
//! The parent makes a socketpair whose ends are both close-on-exec, clears
//! that flag on the child's end only in the child (between `fork` and `exec`),
//! and tells the child the descriptor's number and its own pid in the
//! environment variable [`FD_VARIABLE`] (`5:1234`). Every other descriptor
//! above stderr is made close-on-exec in the child, including ones the parent
//! itself inherited without that flag, so the child starts with stdio and its
//! socket and nothing else.
//!
//! The child adopts the descriptor only if it is a socket whose other end was
//! made by the process the variable names (the kernel's peer credentials say
//! so): a grandchild that inherits the variable, or a process that sets it by
//! hand, is told it was not spawned.

use std::{
    fmt,
    os::{
        fd::{AsRawFd, BorrowedFd, FromRawFd, RawFd},
        unix::{net::UnixStream, process::CommandExt},
    },
    process::{Child, Command, ExitStatus},
    sync::Mutex,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use crate::{
    Error, Interface,
    bootstrap::{connect_stream_with, serve_stream},
    conn::{Config, Connection},
    interface::connection_of,
};

/// The environment variable through which a spawned child learns the number of
/// its inherited socket, and its parent's pid: `fd:pid`.
pub const FD_VARIABLE: &str = "MULTIPROCESS_FD";

/// How long dropping a [`Spawned`] waits for the child to exit on its own
/// after the connection closes, before it kills it.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// A child process started by [`spawn_process`], and the connection to it.
///
/// Dropping it closes the connection (proxies from it turn dead), reaps the
/// child, killing it if it does not exit within a few seconds, and logs its
/// exit status.
pub struct Spawned<I: ?Sized + Interface> {
    remote: Option<Box<I>>,
    connection: Connection,
    /// Behind a lock so that another thread can kill the child while a call is in flight.
    child: Mutex<Option<Child>>,
    pid: u32,
    program: String,
}

impl<I: ?Sized + Interface> fmt::Debug for Spawned<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawned")
            .field("program", &self.program)
            .field("pid", &self.pid())
            .field("connection", &self.connection)
            .finish()
    }
}

impl<I: ?Sized + Interface> Spawned<I> {
    /// The child's bootstrap object.
    pub fn remote(&self) -> &I {
        self.remote.as_deref().expect("the remote is present until into_remote or drop")
    }

    /// Keeps only the bootstrap proxy; the child is reaped (and its exit status
    /// logged) when the connection ends, that is when the last proxy from it is dropped.
    pub fn into_remote(mut self) -> Box<I> {
        let remote = self.remote.take().expect("the remote is present until into_remote or drop");
        if let Some(child) = self.take_child() {
            let program = std::mem::take(&mut self.program);
            self.connection.inner.on_close(Box::new(move || reap(child, &program)));
        }
        remote
    }

    fn take_child(&mut self) -> Option<Child> {
        self.child.get_mut().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The connection to the child.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Kills the child (SIGKILL). Calls in flight fail with [`Error::Disconnected`].
    pub fn kill(&self) -> Result<(), Error> {
        match &mut *self.child.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(child) => child.kill().map_err(Error::from),
            None => Ok(()),
        }
    }

    /// Closes the connection, which lets a child in [`serve_process`] return,
    /// and waits for the child to exit.
    pub fn wait(mut self) -> Result<ExitStatus, Error> {
        self.remote = None;
        self.connection.close();
        let mut child = self.take_child().expect("the child is present until wait or drop");
        child.wait().map_err(Error::from)
    }
}

impl<I: ?Sized + Interface> Drop for Spawned<I> {
    fn drop(&mut self) {
        self.remote = None;
        if let Some(child) = self.take_child() {
            self.connection.close();
            reap(child, &self.program);
        }
    }
}

/// Waits for a child whose connection has closed, killing it if it lingers.
fn reap(mut child: Child, program: &str) {
    let deadline = Instant::now() + EXIT_GRACE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                tracing::warn!(target: "ipc", pid = child.id(), program, "child did not exit after the connection closed; killing it");
                let _ = child.kill();
                break child.wait();
            }
            Err(error) => break Err(error),
        }
    };
    match status {
        Ok(status) => tracing::debug!(target: "ipc", pid = child.id(), program, %status, "child exited"),
        Err(error) => tracing::warn!(target: "ipc", pid = child.id(), program, %error, "could not reap child"),
    }
}

/// Starts `command` as a child process that serves interface `I` (its `main`
/// calls [`serve_process`]), and connects to it.
///
/// Only the child's end of a socketpair is inherited; its number reaches the
/// child in the environment variable [`FD_VARIABLE`]. A missing executable is
/// [`Error::Spawn`] naming it; a child that exits before the handshake is
/// [`Error::ChildExited`] with its exit status.
///
/// ```no_run
/// use std::process::Command;
/// use multiprocess::ipc_interface;
///
/// #[ipc_interface]
/// pub trait Echo: Send + Sync {
///     fn echo(&self, message: String) -> String;
/// }
///
/// let child = multiprocess::spawn_process::<dyn Echo>(Command::new("./echo-child"))?;
/// println!("child {} says {}", child.pid(), child.remote().echo("hi".into()));
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub fn spawn_process<I: ?Sized + Interface>(command: Command) -> Result<Spawned<I>, Error> {
    spawn_process_with(command, Config::default())
}

/// [`spawn_process`] with explicit [`Config`].
pub fn spawn_process_with<I: ?Sized + Interface>(mut command: Command, config: Config) -> Result<Spawned<I>, Error> {
    let program = command.get_program().to_string_lossy().into_owned();
    let (ours, theirs) = UnixStream::pair()?;
    let fd = theirs.as_raw_fd();
    command.env(FD_VARIABLE, format!("{fd}:{}", std::process::id()));
    // SAFETY: the closure runs in the child between fork and exec and makes
    // only async-signal-safe system calls (close_range, fcntl) without
    // allocating; `theirs` keeps the descriptor open until `spawn` returns.
    unsafe {
        command.pre_exec(move || {
            seal_descriptors_except(fd);
            let fd = BorrowedFd::borrow_raw(fd);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).map_err(std::io::Error::from)
        });
    }
    let spawned = command.spawn();
    drop(theirs);
    let mut child = spawned.map_err(|error| Error::Spawn { path: program.clone(), message: error.to_string() })?;
    match connect_stream_with::<I>(ours, config) {
        Ok(remote) => {
            let connection = connection_of::<I>(&remote).expect("a fresh connection gives a proxy");
            tracing::debug!(target: "ipc", pid = child.id(), program, conn = connection.id(), "spawned");
            let pid = child.id();
            Ok(Spawned { remote: Some(remote), connection, child: Mutex::new(Some(child)), pid, program })
        }
        Err(Error::Disconnected) => {
            // The child closed its end without a word: it has exited, or is about to.
            let status = wait_briefly(&mut child);
            Err(Error::ChildExited { status })
        }
        Err(error) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(error)
        }
    }
}

/// Marks every descriptor above stderr but `keep` close-on-exec. Runs between
/// fork and exec: system calls only, no allocation.
fn seal_descriptors_except(keep: RawFd) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    let seal = |first: libc::c_uint, last: libc::c_uint| {
        if first > last {
            return true;
        }
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on open descriptors.
        unsafe { libc::syscall(libc::SYS_close_range, first, last, CLOSE_RANGE_CLOEXEC) == 0 }
    };
    let keep = keep as libc::c_uint;
    if seal(3, keep.saturating_sub(1)) && seal(keep + 1, libc::c_uint::MAX) {
        return;
    }
    // Kernels before 5.11: one fcntl per possible descriptor, up to the usual limit.
    for fd in 3..65_536 {
        if fd != keep as RawFd {
            // SAFETY: fcntl on a descriptor that may not be open; EBADF is fine.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

fn wait_briefly(child: &mut Child) -> String {
    let deadline = Instant::now() + EXIT_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                return child.wait().map_or_else(
                    |e| e.to_string(),
                    |status| format!("{status} (killed: it closed its socket but did not exit)"),
                );
            }
            Err(error) => return error.to_string(),
        }
    }
}

static TAKEN: AtomicBool = AtomicBool::new(false);

/// In a child started by [`spawn_process`]: serves `init` as the bootstrap
/// object over the inherited socket until the parent goes away (or is
/// killed), then returns `Ok(())`.
///
/// Returns [`Error::NotSpawned`] in a process that `spawn_process` did not
/// start, and on a second call.
///
/// ```no_run
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
/// # struct LocalEcho;
/// # impl Echo for LocalEcho { fn echo(&self, message: String) -> String { message } }
/// fn main() -> Result<(), multiprocess::Error> {
///     multiprocess::serve_process::<dyn Echo>(Box::new(LocalEcho))
/// }
/// ```
pub fn serve_process<I: ?Sized + Interface>(init: Box<I>) -> Result<(), Error> {
    let stream = inherited_socket()?;
    serve_stream(stream, init)
}

/// `fd:pid` from [`FD_VARIABLE`].
fn parse_variable(value: &str) -> Option<(RawFd, u32)> {
    let (fd, pid) = value.split_once(':')?;
    Some((fd.parse().ok().filter(|fd: &RawFd| *fd > 2)?, pid.parse().ok()?))
}

fn inherited_socket() -> Result<UnixStream, Error> {
    let value = std::env::var(FD_VARIABLE).map_err(|_| Error::NotSpawned)?;
    let Some((fd, parent)) = parse_variable(&value) else {
        tracing::warn!(target: "ipc", value = %crate::error::sanitize(&value), "{FD_VARIABLE} is not `fd:pid`");
        return Err(Error::NotSpawned);
    };
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Err(Error::NotSpawned);
    }
    // SAFETY: the descriptor is only inspected here; it is owned below only
    // once it has shown to be an open socket whose peer is our parent.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let is_socket = rustix::fs::fstat(borrowed)
        .map(|stat| rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Socket)
        .unwrap_or(false);
    if !is_socket {
        TAKEN.store(false, Ordering::Release);
        return Err(Error::NotSpawned);
    }
    if !made_by(borrowed, parent) {
        tracing::warn!(target: "ipc", fd, parent, "the inherited socket was not made by the process {FD_VARIABLE} names");
        TAKEN.store(false, Ordering::Release);
        return Err(Error::NotSpawned);
    }
    // Our own children must not inherit it.
    rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC).map_err(std::io::Error::from)?;
    // SAFETY: the parent handed this descriptor to us alone, it is an open
    // socket, and TAKEN makes sure it is owned once.
    Ok(unsafe { UnixStream::from_raw_fd(fd) })
}

/// Whether the other end of socket `fd` was made by process `pid`: for a
/// socketpair, the kernel records the process that made it.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn made_by(fd: BorrowedFd<'_>, pid: u32) -> bool {
    rustix::net::sockopt::socket_peercred(fd)
        .is_ok_and(|credentials| credentials.pid.as_raw_nonzero().get() as u32 == pid)
}

/// Whether the other end of socket `fd` was made by process `pid`. Without
/// peer process ids, the best sign is that `pid` is our parent.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn made_by(_fd: BorrowedFd<'_>, pid: u32) -> bool {
    rustix::process::getppid().is_some_and(|parent| parent.as_raw_nonzero().get() as u32 == pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_names_a_descriptor_and_a_parent() {
        assert_eq!(parse_variable("5:1234"), Some((5, 1234)));
        for bad in ["5", "x:1", "5:", ":5", "2:1", "-1:4", "5:1:2", "5:-1"] {
            assert_eq!(parse_variable(bad), None, "{bad}");
        }
    }
}
