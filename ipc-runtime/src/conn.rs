//! A connection's life: its transport, what it exports, the streams of its
//! calling threads, and how it closes.

use std::{
    any::Any,
    cell::{Cell, RefCell},
    collections::VecDeque,
    fmt,
    panic::{self, AssertUnwindSafe},
    sync::{
        Arc, Condvar, Mutex, MutexGuard, Weak,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

use crate::{
    Error,
    contract::PeerContract,
    handles::Handles,
    protocol::{self, Header, Limits, OutFrame},
    transport::{Stream, Transport},
};

/// Settings of a connection, and the limits that protect this side from its peer.
///
/// Every limit has a default that a well-behaved peer never meets; reaching
/// one is refused with a clear error and a `warn` event under target `ipc`.
///
/// ```
/// use std::time::Duration;
///
/// let config = multiprocess::Config {
///     call_timeout: Some(Duration::from_secs(5)),
///     max_partner_threads: 16,
///     ..Default::default()
/// };
/// assert_eq!(config.max_frame_bytes, 256 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Frames announcing more bytes than this are refused before anything is
    /// allocated for them, and the connection is closed.
    pub max_frame_bytes: usize,
    /// The whole handshake (the peer's `Hello`) must arrive within this.
    pub handshake_timeout: Duration,
    /// How long a call waits for its reply before it fails with
    /// [`Error::Timeout`] (`None`, the default: as long as it takes, as an
    /// in-process call would). A proxy can have its own, with
    /// [`set_call_timeout`](crate::set_call_timeout). A method that is
    /// already running on the other side cannot be interrupted: the timeout
    /// only stops waiting for it.
    pub call_timeout: Option<Duration>,
    /// Once its first byte has arrived, a frame must arrive whole within
    /// this, and a write that makes no progress for this long fails: a peer
    /// that stalls mid-frame, or stops reading, cannot hold a thread or a
    /// buffer for ever. The connection closes.
    pub frame_timeout: Duration,
    /// At most this many partner threads run for the peer's calling threads
    /// at once; the next calling thread's first call fails with
    /// [`Error::LimitExceeded`].
    pub max_partner_threads: usize,
    /// At most this many objects and callbacks are exported to the peer at
    /// once; a call that would export more fails with [`Error::LimitExceeded`].
    pub max_exported_objects: usize,
    /// Frames that have begun but not yet arrived hold at most this many
    /// bytes, on all of the connection's streams together.
    pub max_partial_frame_bytes: usize,
    /// Refuse to connect when any interface reachable from the bootstrap
    /// interface differs from the peer's. By default a difference is logged
    /// and each call is checked on its own: methods that still agree work.
    pub strict_contract: bool,
    /// The tokio runtime this side's `async fn` methods run on, as tasks.
    /// `None`, the default: a runtime the library starts on first need (two
    /// worker threads named `ipc-task`). Give your application's runtime
    /// to run them beside its own tasks.
    pub runtime: Option<tokio::runtime::Handle>,
    /// At most this many async calls of the peer run at once on this side;
    /// the next fails with [`Error::LimitExceeded`].
    pub max_async_calls: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_bytes: 256 << 20,
            handshake_timeout: Duration::from_secs(10),
            call_timeout: None,
            frame_timeout: Duration::from_secs(30),
            max_partner_threads: 256,
            max_exported_objects: 1 << 16,
            max_partial_frame_bytes: 256 << 20,
            strict_contract: false,
            runtime: None,
            max_async_calls: 4096,
        }
    }
}

/// Counts of what a connection holds, for tests and operators.
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
/// let stats: multiprocess::ConnectionStats = multiprocess::connection_of(&*ping).unwrap().stats();
/// assert_eq!((stats.proxies, stats.exported_objects), (1, 0));
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionStats {
    /// Objects and callbacks this side exported to the peer and still keeps alive.
    pub exported_objects: usize,
    /// Proxies this side holds for objects the peer owns.
    pub proxies: usize,
    /// Partner threads this side runs for the peer's calling threads.
    pub partner_threads: usize,
}

/// Work to do once a connection has closed.
pub(crate) type Closer = Box<dyn FnOnce() + Send>;

/// The object id the bootstrap object has on every connection.
pub(crate) const BOOTSTRAP: u64 = 0;

/// One call being served, as the engine hands it to a [`Target`]: the
/// arguments as received, and the reply frame the result is encoded into.
pub(crate) struct CallFrame<'a> {
    pub(crate) object: u64,
    /// The method id, and the caller's check of its signature.
    pub(crate) method: u64,
    pub(crate) check: u64,
    pub(crate) args: &'a [u8],
    pub(crate) blobs: &'a mut VecDeque<Vec<u8>>,
    pub(crate) out: &'a mut OutFrame<'static>,
    /// Proxies the reply mentions; they must outlive the reply (see `Encoder`).
    pub(crate) keep: Vec<Box<dyn Any + Send>>,
    /// What the reply exported, to take back if the reply cannot be sent.
    pub(crate) exported: Vec<u64>,
    /// How an async method's future outlives the dispatch (see `tasks`).
    pub(crate) later: Later,
}

impl<'a> CallFrame<'a> {
    pub(crate) fn new(
        (object, method, check): (u64, u64, u64),
        args: &'a [u8],
        blobs: &'a mut VecDeque<Vec<u8>>,
        out: &'a mut OutFrame<'static>,
    ) -> Self {
        CallFrame {
            object,
            method,
            check,
            args,
            blobs,
            out,
            keep: Vec::new(),
            exported: Vec::new(),
            later: Later::default(),
        }
    }
}

/// Finishes the reply to call `id` in `out`. If the call failed, or its reply
/// cannot be sent (too large, say), the reply carries the error instead, and
/// what the call exported is taken back. Returns the proxies the reply
/// mentions, to keep until the peer has read it.
pub(crate) fn finish_reply(
    conn: &Conn,
    id: u64,
    out: &mut OutFrame<'static>,
    result: Result<(), Error>,
    (keep, exported): (Vec<Box<dyn Any + Send>>, Vec<u64>),
) -> Result<Vec<Box<dyn Any + Send>>, Error> {
    match result.and_then(|()| out.finish(conn.config.max_frame_bytes)) {
        Ok(()) => Ok(keep),
        Err(error) => {
            for id in exported {
                drop(conn.unexport(id));
            }
            out.restart(&Header::Return { id, outcome: Err(error) })?;
            out.finish(conn.config.max_frame_bytes)?;
            Ok(Vec::new())
        }
    }
}

/// What the task engine needs to let an async method run after the
/// dispatcher returns: the object, kept alive, and where it is.
#[derive(Default)]
pub(crate) struct Later {
    /// The exported object being called; `None` on a thread's channel,
    /// where async methods are not served.
    pub(crate) owner: Option<Arc<dyn Target>>,
    /// Where the object is, as its `Target` found it.
    pub(crate) object: Option<*const ()>,
    /// The method's future, once the dispatcher started it.
    /// (A `tasks::Started`: this module sits below the task engine.)
    pub(crate) started: Option<Box<dyn Any + Send>>,
}

/// What an exported object or callback is to the runtime.
pub(crate) trait Target: Send + Sync + 'static {
    fn dispatch(&self, conn: &Arc<Conn>, call: &mut CallFrame<'_>) -> Result<(), Error>;
    fn as_any(&self) -> &dyn Any;
}

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Set on the thread that reads a connection's control stream.
    static CONTROL_READER: Cell<bool> = const { Cell::new(false) };
    /// The connections whose calls this thread is serving, innermost last.
    static SERVING: RefCell<Vec<Arc<Conn>>> = const { RefCell::new(Vec::new()) };
}

/// Marks the current thread as a control reader while `body` runs.
pub(crate) fn as_control_reader<T>(body: impl FnOnce() -> T) -> T {
    let _ = CONTROL_READER.try_with(|flag| flag.set(true));
    let result = body();
    let _ = CONTROL_READER.try_with(|flag| flag.set(false));
    result
}

fn is_control_reader() -> bool {
    CONTROL_READER.try_with(Cell::get).unwrap_or(false)
}

/// How many times this process has forked. A connection made before a fork
/// belongs to the parent: the child must not write on its sockets.
static FORKS: AtomicU64 = AtomicU64::new(0);

#[cfg(unix)]
fn watch_forks() {
    extern "C" fn in_child() {
        // Async-signal-safe: one atomic add.
        FORKS.fetch_add(1, Ordering::SeqCst);
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `in_child` only adds to an atomic, which is allowed in a
        // child of a multi-threaded process before it execs.
        let registered = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        if registered != 0 {
            tracing::warn!(target: "ipc", "could not register a fork handler: a forked child could use its parent's connections");
        }
    });
}

#[cfg(not(unix))]
fn watch_forks() {}

pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) transport: Box<dyn Transport>,
    table: Mutex<Handles<dyn Target>>,
    channels: Mutex<Vec<Weak<dyn Stream>>>,
    closed: AtomicBool,
    outcome: Mutex<Option<Result<(), Error>>>,
    closed_signal: Condvar,
    /// Proxies and handles that keep a client connection open.
    holds: AtomicUsize,
    close_when_unused: bool,
    pub(crate) proxies: AtomicUsize,
    pub(crate) partners: AtomicUsize,
    /// Bytes held in partial frames, on all streams together.
    pub(crate) held: AtomicUsize,
    /// `FORKS` when the connection was made.
    generation: u64,
    /// Run once the connection has closed, off the reader thread.
    /// Run once the connection has closed, in registration order; ids allow removal.
    closers: Mutex<Vec<(u64, Closer)>>,
    next_closer: AtomicU64,
    /// Objects released without waiting (`ReleaseLater`), dropped in order by one thread.
    dropper: Mutex<Option<mpsc::Sender<Arc<dyn Target>>>>,
    pub(crate) config: Config,
    /// The peer's contract, when it differs from ours.
    pub(crate) peer: Option<PeerContract>,
    /// This side's task channel, once an async call has opened it.
    /// (A `tasks::TaskLink`: this module sits below the task engine.)
    pub(crate) tasks: Mutex<Option<Arc<dyn Any + Send + Sync>>>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("id", &self.id).field("closed", &self.is_closed()).finish()
    }
}

impl Conn {
    pub(crate) fn new(
        transport: Box<dyn Transport>,
        config: Config,
        close_when_unused: bool,
        peer: Option<PeerContract>,
    ) -> Arc<Conn> {
        watch_forks();
        Arc::new(Conn {
            id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
            transport,
            table: Mutex::new(Handles::new(BOOTSTRAP + 1)),
            channels: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            outcome: Mutex::new(None),
            closed_signal: Condvar::new(),
            holds: AtomicUsize::new(0),
            close_when_unused,
            proxies: AtomicUsize::new(0),
            partners: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            generation: FORKS.load(Ordering::SeqCst),
            closers: Mutex::new(Vec::new()),
            next_closer: AtomicU64::new(0),
            dropper: Mutex::new(None),
            config,
            peer,
            tasks: Mutex::new(None),
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether this process is a fork of the one that made the connection.
    pub(crate) fn forked(&self) -> bool {
        FORKS.load(Ordering::Relaxed) != self.generation
    }

    /// What bounds reading this connection's frames.
    pub(crate) fn limits(&self) -> Limits<'_> {
        Limits {
            max_frame: self.config.max_frame_bytes,
            held: &self.held,
            max_held: self.config.max_partial_frame_bytes,
            frame_timeout: Some(self.config.frame_timeout),
        }
    }

    pub(crate) fn table(&self) -> MutexGuard<'_, Handles<dyn Target>> {
        // A panic never happens while the table is locked, but a poisoned lock
        // must not take the connection down with it.
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            exported_objects: self.table().len(),
            proxies: self.proxies.load(Ordering::Acquire),
            partner_threads: self.partners.load(Ordering::Acquire),
        }
    }

    /// Exports `target` with one remote reference and returns its id, unless
    /// the connection already exports as many objects as it may.
    pub(crate) fn export(&self, target: Arc<dyn Target>) -> Result<u64, Error> {
        let mut table = self.table();
        let limit = self.config.max_exported_objects;
        if table.len() >= limit {
            drop(table);
            let error = Error::LimitExceeded { what: "exported objects".into(), limit: limit as u64 };
            tracing::warn!(target: "ipc", conn = self.id, %error, "refused to export an object");
            return Err(error);
        }
        Ok(table.export(target))
    }

    pub(crate) fn lookup(&self, id: u64) -> Option<Arc<dyn Target>> {
        self.table().get(id)
    }

    /// Removes an export; the caller drops it outside the lock.
    pub(crate) fn unexport(&self, id: u64) -> Option<Arc<dyn Target>> {
        self.table().remove(id)
    }

    /// Drops `target` on the connection's dropper thread, in the order released.
    pub(crate) fn drop_later(self: &Arc<Self>, target: Arc<dyn Target>) {
        let mut dropper = self.dropper.lock().unwrap_or_else(|p| p.into_inner());
        if dropper.is_none() && !self.is_closed() {
            let (sender, receiver) = mpsc::channel::<Arc<dyn Target>>();
            let id = self.id;
            let spawned = thread::Builder::new().name(format!("ipc-release-{id}")).spawn(move || {
                for target in receiver {
                    if panic::catch_unwind(AssertUnwindSafe(move || drop(target))).is_err() {
                        tracing::warn!(target: "ipc", conn = id, "an object's Drop panicked");
                    }
                }
            });
            match spawned {
                Ok(_) => *dropper = Some(sender),
                Err(error) => {
                    tracing::error!(target: "ipc", conn = id, %error, "could not start a thread to drop released objects")
                }
            }
        }
        let rejected = match &*dropper {
            Some(sender) => sender.send(target).err().map(|rejected| rejected.0),
            None => Some(target),
        };
        drop(dropper);
        // No thread: drop it here rather than keep it.
        drop(rejected);
    }

    pub(crate) fn hold(&self) {
        self.holds.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn release_hold(&self) {
        if self.holds.fetch_sub(1, Ordering::AcqRel) == 1 && self.close_when_unused {
            self.close(Ok(()));
        }
    }

    /// Remembers a channel's stream, so that closing shuts it down. If the
    /// connection closed meanwhile, shuts it down at once.
    pub(crate) fn register_channel(&self, stream: &Arc<dyn Stream>) {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels.retain(|c| c.strong_count() > 0);
        channels.push(Arc::downgrade(stream));
        drop(channels);
        // A peer that stops reading cannot hold a writer for ever.
        let _ = stream.set_write_timeout(Some(self.config.frame_timeout));
        if self.is_closed() {
            // Closed while we were registering: make sure nobody waits on it.
            stream.shutdown();
        }
    }

    /// Sends a frame that is only a header on the control stream.
    pub(crate) fn send_control(&self, header: &Header) -> Result<(), Error> {
        let frame = protocol::simple_frame(header, &[], self.config.max_frame_bytes)?;
        self.transport.send_control(&frame)
    }

    /// Closes the connection: every channel is shut down, so every call in flight
    /// fails at once, and every exported object is dropped, newest first.
    ///
    /// The outcome is recorded before any user code runs, each object is
    /// dropped on its own (a panicking `Drop` is logged and the rest go on),
    /// and the closers always run.
    pub(crate) fn close(&self, outcome: Result<(), Error>) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        match &outcome {
            Ok(()) => tracing::debug!(target: "ipc", conn = self.id, "connection closed"),
            Err(error) => tracing::warn!(target: "ipc", conn = self.id, %error, "connection closed"),
        }
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        self.closed_signal.notify_all();
        if !self.forked() {
            let _ = self.send_control(&Header::Goodbye);
            self.transport.shutdown();
            for channel in self.channels.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
                if let Some(channel) = channel.upgrade() {
                    channel.shutdown();
                }
            }
        }
        // The dropper thread ends once it has dropped what it was given.
        drop(self.dropper.lock().unwrap_or_else(|p| p.into_inner()).take());
        let orphans = self.table().drain_newest_first();
        let closers = std::mem::take(&mut *self.closers.lock().unwrap_or_else(|p| p.into_inner()));
        let id = self.id;
        let teardown = move || {
            for orphan in orphans {
                if panic::catch_unwind(AssertUnwindSafe(move || drop(orphan))).is_err() {
                    tracing::warn!(target: "ipc", conn = id, "an object's Drop panicked while its connection closed");
                }
            }
            for (_, closer) in closers {
                if panic::catch_unwind(AssertUnwindSafe(closer)).is_err() {
                    tracing::warn!(target: "ipc", conn = id, "a closing action panicked");
                }
            }
        };
        if is_control_reader() {
            // User Drop code never runs on a thread that reads a socket.
            let spawned = thread::Builder::new().name(format!("ipc-close-{id}")).spawn(teardown);
            if let Err(error) = spawned {
                tracing::error!(target: "ipc", conn = id, %error, "could not start a thread to drop orphaned objects");
            }
        } else {
            teardown();
        }
    }

    /// Runs `closer` once the connection has closed (at once, on this
    /// thread, if it has), and returns an id that [`Conn::remove_closer`] takes.
    pub(crate) fn on_close(&self, closer: Closer) -> u64 {
        let id = self.next_closer.fetch_add(1, Ordering::Relaxed);
        let mut closers = self.closers.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_closed() {
            drop(closers);
            closer();
        } else {
            closers.push((id, closer));
        }
        id
    }

    /// Forgets a closer that has not run; `false` if it ran or is running.
    pub(crate) fn remove_closer(&self, id: u64) -> bool {
        let mut closers = self.closers.lock().unwrap_or_else(|p| p.into_inner());
        let before = closers.len();
        closers.retain(|(closer, _)| *closer != id);
        closers.len() != before
    }

    pub(crate) fn wait_closed(&self, timeout: Option<Duration>) -> Option<Result<(), Error>> {
        let outcome = self.outcome.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = match timeout {
            None => self.closed_signal.wait_while(outcome, |o| o.is_none()).unwrap_or_else(|p| p.into_inner()),
            Some(timeout) => {
                self.closed_signal
                    .wait_timeout_while(outcome, timeout, |o| o.is_none())
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
        };
        outcome.clone()
    }
}

/// A handle on a connection: statistics, and a way to close it.
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
/// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
/// assert_eq!(ping.ping(), 7);
/// let connection = multiprocess::connection_of(&*ping).expect("a proxy");
/// assert_eq!(connection.stats().proxies, 1);
/// connection.close();
/// assert!(connection.is_closed());
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[derive(Clone)]
pub struct Connection {
    pub(crate) inner: Arc<Conn>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Connection {
    /// A process-unique number, as shown in `ipc` log events (`conn=2`).
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
    /// let connection = multiprocess::connection_of(&*ping).expect("a proxy");
    /// assert!(connection.id() > 0);
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// What the connection holds right now.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
    /// let connection = multiprocess::connection_of(&*ping).expect("a proxy");
    /// assert_eq!(connection.stats().proxies, 1, "the proxy `ping`");
    /// assert_eq!(connection.stats().exported_objects, 0);
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn stats(&self) -> ConnectionStats {
        self.inner.stats()
    }

    /// Whether the connection has closed.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
    /// let connection = multiprocess::connection_of(&*ping).expect("a proxy");
    /// assert!(!connection.is_closed());
    /// connection.close();
    /// assert!(connection.is_closed());
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Closes the connection: calls in flight fail with [`Error::Disconnected`],
    /// every proxy from the peer turns dead, and every object exported to the
    /// peer is dropped, newest first.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
    /// let connection = multiprocess::connection_of(&*ping).expect("a proxy");
    /// connection.close();
    /// assert_eq!(connection.stats().exported_objects, 0);
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn close(&self) {
        self.inner.close(Ok(()));
    }

    /// Waits up to `timeout` for the connection to close, and returns why it
    /// closed: `Ok(())` for an orderly close, or the error that ended it;
    /// `None` if it is still open after `timeout`.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
    /// let connection = multiprocess::connection_of(&*ping).expect("a proxy");
    /// assert!(connection.wait_closed(std::time::Duration::from_millis(1)).is_none());
    /// connection.close();
    /// assert!(matches!(connection.wait_closed(std::time::Duration::from_secs(1)), Some(Ok(()))));
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn wait_closed(&self, timeout: Duration) -> Option<Result<(), Error>> {
        self.inner.wait_closed(Some(timeout))
    }

    /// Runs `callback` once the connection closes, for whatever reason: either
    /// side closed it, the peer went away (exited, or was killed), or a fault
    /// ended it. [`wait_closed`](Connection::wait_closed) tells which, at once,
    /// from inside the callback. It runs after every object exported to the
    /// peer has been dropped, on the thread that closed the connection (never
    /// one that reads a socket); if the connection has already closed, it runs
    /// at once, on this thread. A panic in it is caught and logged.
    ///
    /// Keep the returned [`DisconnectHook`] to take the callback back
    /// ([`DisconnectHook::remove`], or
    /// [`remove_on_disconnect`](Connection::remove_on_disconnect)); dropping
    /// it leaves the callback in place.
    ///
    /// ```
    /// use std::{sync::mpsc, time::Duration};
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    ///
    /// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
    /// let connection = multiprocess::connection_of(&*ping).expect("a proxy");
    /// let (tell, told) = mpsc::channel();
    /// let watched = connection.clone();
    /// connection.on_disconnect(move || {
    ///     // Why it closed: Ok(()) for a close or the peer's exit, else the fault.
    ///     let why = watched.wait_closed(Duration::ZERO);
    ///     tell.send(why).unwrap();
    /// });
    /// let unwanted = connection.on_disconnect(|| panic!("removed before the close"));
    /// assert!(unwanted.remove());
    /// connection.close();
    /// assert!(matches!(told.recv(), Ok(Some(Ok(())))));
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn on_disconnect(&self, callback: impl FnOnce() + Send + 'static) -> DisconnectHook {
        let id = self.inner.on_close(Box::new(callback));
        DisconnectHook { conn: Arc::downgrade(&self.inner), id }
    }

    /// Takes back a callback given to [`on_disconnect`](Connection::on_disconnect).
    /// Returns `true` if it was removed before it ran; `false` if it has run
    /// (or is running), or belongs to another connection.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
    /// let connection = multiprocess::connection_of(&*ping).expect("a proxy");
    /// let hook = connection.on_disconnect(|| {});
    /// assert!(connection.remove_on_disconnect(&hook));
    /// assert!(!connection.remove_on_disconnect(&hook), "only once");
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn remove_on_disconnect(&self, hook: &DisconnectHook) -> bool {
        std::ptr::eq(hook.conn.as_ptr(), Arc::as_ptr(&self.inner)) && self.inner.remove_closer(hook.id)
    }
}

/// Names a callback registered with [`Connection::on_disconnect`], so that it
/// can be removed. Dropping it leaves the callback in place.
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
/// let connection = multiprocess::connection_of(&*ping).expect("a proxy");
/// let hook: multiprocess::DisconnectHook = connection.on_disconnect(|| println!("closed"));
/// assert!(hook.remove());
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DisconnectHook {
    conn: Weak<Conn>,
    id: u64,
}

impl DisconnectHook {
    /// Takes the callback back: `true` if it was removed before it ran.
    ///
    /// ```
    /// # use multiprocess::ipc_interface;
    /// # #[ipc_interface]
    /// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
    /// # struct Local;
    /// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
    /// let ping = multiprocess::pair::<dyn Ping>(Box::new(Local))?;
    /// let hook = multiprocess::connection_of(&*ping).unwrap().on_disconnect(|| {});
    /// assert!(hook.clone().remove());
    /// assert!(!hook.remove(), "already removed");
    /// # Ok::<(), multiprocess::Error>(())
    /// ```
    pub fn remove(self) -> bool {
        self.conn.upgrade().is_some_and(|conn| conn.remove_closer(self.id))
    }
}

/// Opens a channel announced as `name` (a thread's name, or the task channel's).
pub(crate) fn open_named_channel(conn: &Arc<Conn>, name: &str) -> Result<Arc<dyn Stream>, Error> {
    if conn.is_closed() {
        return Err(Error::Disconnected);
    }
    let name = name.to_owned();
    let announce = protocol::simple_frame(&Header::NewThread { name: name.clone() }, &[], conn.config.max_frame_bytes)?;
    let stream = conn.transport.open_channel(&name, &announce)?;
    conn.register_channel(&stream);
    Ok(stream)
}

pub(crate) struct ServingGuard;

impl ServingGuard {
    pub(crate) fn enter(conn: &Arc<Conn>) -> ServingGuard {
        let _ = SERVING.try_with(|serving| serving.borrow_mut().push(conn.clone()));
        ServingGuard
    }
}

impl Drop for ServingGuard {
    fn drop(&mut self) {
        let _ = SERVING.try_with(|serving| serving.borrow_mut().pop());
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// The connection whose call the current thread is serving (innermost, when
/// calls nest), or `None` outside a remote call.
///
/// ```
/// assert!(multiprocess::current_connection().is_none());
/// ```
pub fn current_connection() -> Option<Connection> {
    let inner = SERVING.try_with(|serving| serving.borrow().last().cloned()).ok().flatten();
    inner.map(|inner| Connection { inner })
}
