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
///
/// ```
/// // Set only in a child that spawn_process started (use is_child to check it).
/// let spawned = std::env::var_os(multiprocess::FD_VARIABLE).is_some();
/// assert_eq!(spawned, multiprocess::is_child());
/// ```
pub const FD_VARIABLE: &str = "MULTIPROCESS_FD";

/// The environment variable that counts how deep in a chain of
/// [`spawn_process`] calls a process is: its parent's count plus one.
///
/// ```
/// let depth: u32 = std::env::var(multiprocess::DEPTH_VARIABLE).ok().and_then(|d| d.parse().ok()).unwrap_or(0);
/// assert!(depth < multiprocess::MAX_SPAWN_DEPTH);
/// ```
pub const DEPTH_VARIABLE: &str = "MULTIPROCESS_SPAWN_DEPTH";

/// [`spawn_process`] refuses to start a child this many levels down: a
/// program that spawns itself instead of serving would otherwise fork until
/// the machine gives out.
///
/// ```
/// assert_eq!(multiprocess::MAX_SPAWN_DEPTH, 16);
/// ```
pub const MAX_SPAWN_DEPTH: u32 = 16;

/// How long dropping a [`Spawned`] waits for the child to exit on its own
/// after the connection closes, before it kills it.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// A child process started by [`spawn_process`], and the connection to it.
///
/// Dropping it closes the connection (proxies from it turn dead), reaps the
/// child, killing it if it does not exit within its
/// [`exit_timeout`](Spawned::set_exit_timeout) (5 seconds unless set), and
/// logs its exit status. The drop never waits longer than that.
///
/// ```no_run
/// use std::{process::Command, time::Duration};
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
///
/// let mut child = multiprocess::spawn_process::<dyn Echo>(Command::new("./echo-child"))?;
/// assert_eq!(child.remote().echo("hi".into()), "hi");
/// child.set_exit_timeout(Duration::from_millis(200));
/// let status = child.shutdown()?; // at most 200 ms, then SIGKILL
/// println!("child exited: {status}");
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub struct Spawned<I: ?Sized + Interface> {
    remote: Option<Box<I>>,
    connection: Connection,
    /// Behind a lock so that another thread can kill the child while a call is in flight.
    child: Mutex<Option<Child>>,
    pid: u32,
    program: String,
    exit_timeout: Duration,
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
    ///
    /// ```no_run
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
    /// let child = multiprocess::spawn_process::<dyn Echo>(std::process::Command::new("./echo-child"))?;
    /// let echo: &dyn Echo = child.remote();
    /// assert_eq!(echo.echo("hi".into()), "hi");
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn remote(&self) -> &I {
        self.remote.as_deref().expect("the remote is present until into_remote or drop")
    }

    /// Keeps only the bootstrap proxy; the child is reaped (and its exit status
    /// logged) when the connection ends, that is when the last proxy from it
    /// is dropped. The reaping waits on a thread of its own, so that drop
    /// does not wait for the child.
    ///
    /// ```no_run
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
    /// let echo: Box<dyn Echo> =
    ///     multiprocess::spawn_process::<dyn Echo>(std::process::Command::new("./echo-child"))?.into_remote();
    /// assert_eq!(echo.echo("hi".into()), "hi");
    /// drop(echo); // the connection closes; the child exits and is reaped
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn into_remote(mut self) -> Box<I> {
        let remote = self.remote.take().expect("the remote is present until into_remote or drop");
        if let Some(child) = self.take_child() {
            let program = std::mem::take(&mut self.program);
            let timeout = self.exit_timeout;
            self.connection.inner.on_close(Box::new(move || {
                let reaper = thread::Builder::new().name("ipc-reap".into());
                if let Err(error) = reaper.spawn(move || reap(child, &program, timeout)) {
                    tracing::warn!(target: "ipc", %error, "could not start a thread to reap a child");
                }
            }));
        }
        remote
    }

    /// How long dropping this (or [`shutdown`](Spawned::shutdown)) waits for
    /// the child to exit once the connection has closed, before killing it.
    /// Zero kills it at once.
    ///
    /// ```no_run
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
    /// let mut child = multiprocess::spawn_process::<dyn Echo>(std::process::Command::new("./echo-child"))?;
    /// child.set_exit_timeout(std::time::Duration::ZERO);
    /// drop(child); // kills the child without waiting for it
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn set_exit_timeout(&mut self, timeout: Duration) {
        self.exit_timeout = timeout;
    }

    /// Closes the connection, waits for the child to exit for at most the
    /// [exit timeout](Spawned::set_exit_timeout), kills it if it has not,
    /// and returns its exit status.
    ///
    /// ```no_run
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
    /// let child = multiprocess::spawn_process::<dyn Echo>(std::process::Command::new("./echo-child"))?;
    /// let status = child.shutdown()?;
    /// assert!(status.success());
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn shutdown(mut self) -> Result<ExitStatus, Error> {
        self.remote = None;
        self.connection.close();
        let child = self.take_child().expect("the child is present until shutdown or drop");
        reap(child, &self.program, self.exit_timeout).map_err(Error::from)
    }

    fn take_child(&mut self) -> Option<Child> {
        self.child.get_mut().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The child's process id.
    ///
    /// ```no_run
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
    /// let child = multiprocess::spawn_process::<dyn Echo>(std::process::Command::new("./echo-child"))?;
    /// println!("started {}", child.pid());
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The connection to the child.
    ///
    /// ```no_run
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
    /// let child = multiprocess::spawn_process::<dyn Echo>(std::process::Command::new("./echo-child"))?;
    /// child.connection().on_disconnect(|| eprintln!("the child went away"));
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Kills the child (SIGKILL). Calls in flight fail with [`Error::Disconnected`].
    ///
    /// ```no_run
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
    /// let child = multiprocess::spawn_process::<dyn Echo>(std::process::Command::new("./echo-child"))?;
    /// child.kill()?;
    /// assert!(!child.wait()?.success());
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn kill(&self) -> Result<(), Error> {
        match &mut *self.child.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(child) => child.kill().map_err(Error::from),
            None => Ok(()),
        }
    }

    /// Closes the connection, which lets a child in [`serve_process`] return,
    /// and waits for the child to exit, however long it takes (see
    /// [`shutdown`](Spawned::shutdown) for a bounded wait).
    ///
    /// ```no_run
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
    /// let child = multiprocess::spawn_process::<dyn Echo>(std::process::Command::new("./echo-child"))?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
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
            let _ = reap(child, &self.program, self.exit_timeout);
        }
    }
}

/// Waits for a child whose connection has closed, killing it if it lingers.
fn reap(mut child: Child, program: &str, timeout: Duration) -> std::io::Result<ExitStatus> {
    let deadline = Instant::now() + timeout;
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
    match &status {
        Ok(status) => tracing::debug!(target: "ipc", pid = child.id(), program, %status, "child exited"),
        Err(error) => tracing::warn!(target: "ipc", pid = child.id(), program, %error, "could not reap child"),
    }
    status
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
///
/// ```no_run
/// use std::{process::Command, time::Duration};
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
/// let config = multiprocess::Config { call_timeout: Some(Duration::from_secs(30)), ..Default::default() };
/// let child = multiprocess::spawn_process_with::<dyn Echo>(Command::new("./echo-child"), config)?;
/// println!("{}", child.remote().echo("hi".into()));
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub fn spawn_process_with<I: ?Sized + Interface>(mut command: Command, config: Config) -> Result<Spawned<I>, Error> {
    let program = command.get_program().to_string_lossy().into_owned();
    let depth = spawn_depth();
    if depth >= MAX_SPAWN_DEPTH {
        return Err(Error::Spawn {
            path: program,
            message: format!(
                "this process is {depth} spawns deep ({DEPTH_VARIABLE}); a program that spawns itself must serve when \
                 multiprocess::is_child() says it is a child"
            ),
        });
    }
    command.env(DEPTH_VARIABLE, (depth + 1).to_string());
    #[cfg(feature = "logging")]
    if let Some(categories) = crate::logging::for_child()
        && !command.get_envs().any(|(name, _)| name == crate::logging::LOG_VARIABLE)
    {
        command.env(crate::logging::LOG_VARIABLE, categories);
    }
    let (child, remote) = platform::launch::<I>(command, config, &program)?;
    let connection = connection_of::<I>(&remote).expect("a fresh connection gives a proxy");
    tracing::debug!(target: "ipc", pid = child.id(), program, conn = connection.id(), "spawned");
    let pid = child.id();
    Ok(Spawned {
        remote: Some(remote),
        connection,
        child: Mutex::new(Some(child)),
        pid,
        program,
        exit_timeout: EXIT_GRACE,
    })
}

/// The end of a launch: the child and the connection to it, or why there is
/// none. A child that closed its end without a word has exited (or is about
/// to), and its status says why; on any other failure it is killed.
fn finish_launch<I: ?Sized>(mut child: Child, connected: Result<Box<I>, Error>) -> Result<(Child, Box<I>), Error> {
    match connected {
        Ok(remote) => Ok((child, remote)),
        Err(Error::Disconnected) => Err(Error::ChildExited { status: wait_briefly(&mut child) }),
        Err(error) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(error)
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

/// How many [`spawn_process`] calls deep this process is (0 when started otherwise).
fn spawn_depth() -> u32 {
    std::env::var(DEPTH_VARIABLE).ok().and_then(|depth| depth.parse().ok()).unwrap_or(0)
}

/// Whether this process was started by [`spawn_process`] and has not yet
/// served its parent: what a program that is both the parent and the child
/// asks first. It checks what [`serve_process`] checks before adopting the
/// connection (on Unix, that the inherited descriptor is a socket whose other
/// end the named parent made), so a grandchild that inherited the variable,
/// or a process that sets it by hand, is not a child.
///
/// ```no_run
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
/// # struct LocalEcho;
/// # impl Echo for LocalEcho { fn echo(&self, message: String) -> String { message } }
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     if multiprocess::is_child() {
///         return Ok(multiprocess::serve_process::<dyn Echo>(Box::new(LocalEcho))?);
///     }
///     let exe = std::env::current_exe()?;
///     let child = multiprocess::spawn_process::<dyn Echo>(std::process::Command::new(exe))?;
///     println!("{}", child.remote().echo("hello".into()));
///     Ok(())
/// }
/// ```
pub fn is_child() -> bool {
    !TAKEN.load(Ordering::Acquire) && platform::is_child()
}

/// In a child started by [`spawn_process`], serves the object `make` returns
/// until the parent goes away, and returns `Ok(true)`; elsewhere returns
/// `Ok(false)` at once, without calling `make`. One line at the top of a
/// program that spawns itself:
///
/// ```no_run
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Echo: Send + Sync { fn echo(&self, message: String) -> String; }
/// # struct LocalEcho;
/// # impl Echo for LocalEcho { fn echo(&self, message: String) -> String { message } }
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     if multiprocess::serve_if_child::<dyn Echo>(|| Box::new(LocalEcho))? {
///         return Ok(());
///     }
///     let exe = std::env::current_exe()?;
///     let child = multiprocess::spawn_process::<dyn Echo>(std::process::Command::new(exe))?;
///     println!("{}", child.remote().echo("hello".into()));
///     Ok(())
/// }
/// ```
pub fn serve_if_child<I: ?Sized + Interface>(make: impl FnOnce() -> Box<I>) -> Result<bool, Error> {
    if !is_child() {
        return Ok(false);
    }
    serve_process(make()).map(|()| true)
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
    // Confined before anything of the parent's is read: the first call
    // already runs in the sandbox.
    if platform::is_child() {
        crate::sandbox::enter_from_env()?;
    }
    platform::serve::<I>(init)
}
