//! A parent spawns a child and talks to it (Bitcoin Core's `bitcoin-node`
//! spawning `bitcoin-wallet`).
//!
//! On Unix the parent makes a socketpair whose ends are both close-on-exec,
//! clears that flag on the child's end only in the child (between `fork` and
//! `exec`), and tells the child the descriptor's number and its own pid in
//! the environment variable [`FD_VARIABLE`] (`5:1234`). Every other
//! descriptor above stderr is made close-on-exec in the child, including ones
//! the parent itself inherited without that flag, so the child starts with
//! stdio and its socket and nothing else. The child adopts the descriptor
//! only if it is a socket whose other end was made by the process the
//! variable names (the kernel's peer credentials say so): a grandchild that
//! inherits the variable, or a process that sets it by hand, is told it was
//! not spawned.
//!
//! On Windows the parent listens on a named pipe with a random name and a new
//! [`Secret`](crate::Secret), and gives the child both (`pipe:NAME:SECRET:PID`).
//! The child connects as a TCP client would, proving it knows the secret, and
//! checks that the pipe's server is the process the variable names. The
//! parent accepts that one connection and no other.

use std::{
    fmt,
    process::{Child, Command, ExitStatus},
    sync::Mutex,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use crate::{
    Error, Interface,
    conn::{Config, Connection},
    interface::connection_of,
};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

/// The environment variable through which a spawned child finds its
/// connection to its parent: on Unix `fd:pid`, the number of its inherited
/// socket and its parent's pid; on Windows `pipe:NAME:SECRET:PID`.
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
pub fn spawn_process_with<I: ?Sized + Interface>(command: Command, config: Config) -> Result<Spawned<I>, Error> {
    let program = command.get_program().to_string_lossy().into_owned();
    let (child, remote) = platform::launch::<I>(command, config, &program)?;
    let connection = connection_of::<I>(&remote).expect("a fresh connection gives a proxy");
    tracing::debug!(target: "ipc", pid = child.id(), program, conn = connection.id(), "spawned");
    let pid = child.id();
    Ok(Spawned { remote: Some(remote), connection, child: Mutex::new(Some(child)), pid, program })
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

/// Whether this process has taken its connection to its parent.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Takes the right to adopt the parent's connection, once; `release` gives
/// it back when adopting failed.
fn take() -> bool {
    !TAKEN.swap(true, Ordering::AcqRel)
}

fn release() {
    TAKEN.store(false, Ordering::Release);
}

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
    platform::serve::<I>(init)
}
