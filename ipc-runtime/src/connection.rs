//! A connection between two processes (or two ends of a socketpair).
//!
//! One control socket carries the handshake and the sockets of new calling
//! threads; each calling thread then talks to its partner thread over a
//! socket of its own (a *channel*). A thread waiting for a reply reads its own
//! channel, so a reply wakes exactly the thread that waits for it, and a
//! callback the partner makes meanwhile arrives on the same channel and runs on
//! the waiting thread: the 1:1 thread model with no routing thread in between.

use std::{
    any::Any,
    cell::{Cell, RefCell},
    collections::{HashMap, VecDeque},
    fmt,
    io::{self, IoSlice, IoSliceMut, Read, Write},
    mem::MaybeUninit,
    net::Shutdown,
    os::{
        fd::{AsFd, OwnedFd},
        unix::net::UnixStream,
    },
    panic::{self, AssertUnwindSafe},
    rc::Rc,
    sync::{
        Arc, Condvar, Mutex, MutexGuard, Weak,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    thread,
    time::Duration,
};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};

use crate::{
    Error,
    call::{Incoming, Lent, Reply},
    error::Fault,
    interface::Interface,
    protocol::{self, FrameReader, Header, Hello, MethodId, OutFrame, PROTOCOL_VERSION},
};

/// Settings of a connection.
///
/// ```
/// let config = multiprocess::Config { max_frame_bytes: 1 << 20, ..Default::default() };
/// assert_eq!(config.max_frame_bytes, 1 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Frames announcing more bytes than this are refused before anything is
    /// allocated for them, and the connection is closed.
    pub max_frame_bytes: usize,
    /// How long to wait for the peer's `Hello`.
    pub handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config { max_frame_bytes: 256 << 20, handshake_timeout: Duration::from_secs(10) }
    }
}

/// Counts of what a connection holds, for tests and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionStats {
    /// Objects and callbacks this side exported to the peer and still keeps alive.
    pub exported_objects: usize,
    /// Proxies this side holds for objects the peer owns.
    pub proxies: usize,
    /// Partner threads this side runs for the peer's calling threads.
    pub partner_threads: usize,
}

/// The object id the bootstrap object has on every connection.
pub(crate) const BOOTSTRAP: u64 = 0;

/// What an exported object or callback is to the runtime.
pub(crate) trait Target: Send + Sync + 'static {
    fn dispatch(&self, call: &mut Incoming<'_>) -> Result<(), Error>;
    fn as_any(&self) -> &dyn Any;
}

/// An exported object of interface `I`.
pub(crate) struct ObjectTarget<I: ?Sized + Interface> {
    pub(crate) object: Arc<I>,
}

impl<I: ?Sized + Interface> Target for ObjectTarget<I> {
    fn dispatch(&self, call: &mut Incoming<'_>) -> Result<(), Error> {
        I::dispatch(&self.object, call)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct Entry {
    /// Creation order, so that a closing connection drops newest first.
    seq: u64,
    target: Arc<dyn Target>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    next_seq: u64,
    entries: HashMap<u64, Entry>,
}

/// One socket of a calling thread and its partner.
pub(crate) struct Channel {
    stream: UnixStream,
}

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Conn {
    pub(crate) id: u64,
    control: UnixStream,
    control_write: Mutex<()>,
    table: Mutex<Table>,
    channels: Mutex<Vec<Weak<Channel>>>,
    closed: AtomicBool,
    outcome: Mutex<Option<Result<(), Error>>>,
    closed_signal: Condvar,
    /// Proxies and handles that keep a client connection open.
    holds: AtomicUsize,
    close_when_unused: bool,
    proxies: AtomicUsize,
    partners: AtomicUsize,
    /// Run once the connection has closed, off the reader thread.
    closers: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    pub(crate) config: Config,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("id", &self.id).field("closed", &self.is_closed()).finish()
    }
}

impl Conn {
    fn new(control: UnixStream, config: Config, close_when_unused: bool) -> Arc<Conn> {
        Arc::new(Conn {
            id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
            control,
            control_write: Mutex::new(()),
            table: Mutex::new(Table { next_id: BOOTSTRAP + 1, ..Table::default() }),
            channels: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            outcome: Mutex::new(None),
            closed_signal: Condvar::new(),
            holds: AtomicUsize::new(0),
            close_when_unused,
            proxies: AtomicUsize::new(0),
            partners: AtomicUsize::new(0),
            closers: Mutex::new(Vec::new()),
            config,
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // A panic never happens while the table is locked, but a poisoned lock
        // must not take the connection down with it.
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            exported_objects: self.table().entries.len(),
            proxies: self.proxies.load(Ordering::Acquire),
            partner_threads: self.partners.load(Ordering::Acquire),
        }
    }

    /// An id that no export will use, for an object lent for one call.
    pub(crate) fn reserve_id(&self) -> u64 {
        let mut table = self.table();
        table.next_id += 1;
        table.next_id - 1
    }

    /// Exports `target` with one remote reference and returns its id.
    pub(crate) fn export(&self, target: Arc<dyn Target>) -> u64 {
        let mut table = self.table();
        let id = table.next_id;
        table.next_id += 1;
        self.insert(&mut table, id, target);
        id
    }

    fn insert(&self, table: &mut Table, id: u64, target: Arc<dyn Target>) {
        let seq = table.next_seq;
        table.next_seq += 1;
        table.entries.insert(id, Entry { seq, target });
    }

    pub(crate) fn lookup(&self, id: u64) -> Option<Arc<dyn Target>> {
        self.table().entries.get(&id).map(|entry| entry.target.clone())
    }

    /// Removes an export; the caller drops it outside the lock, because user
    /// `Drop` code may call back into this connection.
    pub(crate) fn unexport(&self, id: u64) -> Option<Arc<dyn Target>> {
        self.table().entries.remove(&id).map(|entry| entry.target)
    }

    pub(crate) fn hold(&self) {
        self.holds.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn release_hold(&self) {
        if self.holds.fetch_sub(1, Ordering::AcqRel) == 1 && self.close_when_unused {
            self.close(Ok(()));
        }
    }

    /// Closes the connection: every channel is shut down, so every call in flight
    /// fails at once, and every exported object is dropped, newest first.
    pub(crate) fn close(&self, outcome: Result<(), Error>) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        match &outcome {
            Ok(()) => tracing::debug!(target: "ipc", conn = self.id, "connection closed"),
            Err(error) => tracing::warn!(target: "ipc", conn = self.id, %error, "connection closed"),
        }
        {
            let _write = self.control_write.lock().unwrap_or_else(|p| p.into_inner());
            let _ = send_frame(&self.control, &Header::Goodbye, usize::MAX);
        }
        let _ = self.control.shutdown(Shutdown::Both);
        for channel in self.channels.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            if let Some(channel) = channel.upgrade() {
                let _ = channel.stream.shutdown(Shutdown::Both);
            }
        }
        let mut orphans: Vec<Entry> = self.table().entries.drain().map(|(_, entry)| entry).collect();
        orphans.sort_by_key(|entry| std::cmp::Reverse(entry.seq));
        let closers = std::mem::take(&mut *self.closers.lock().unwrap_or_else(|p| p.into_inner()));
        let teardown = move || {
            // Newest first, as objects would be dropped in one process.
            for orphan in orphans {
                drop(orphan);
            }
            closers.into_iter().for_each(|closer| closer());
        };
        if is_control_reader() {
            // User Drop code never runs on a thread that reads a socket.
            let spawned = thread::Builder::new().name(format!("ipc-close-{}", self.id)).spawn(teardown);
            if let Err(error) = spawned {
                tracing::error!(target: "ipc", conn = self.id, %error, "could not start a thread to drop orphaned objects");
            }
        } else {
            teardown();
        }
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        self.closed_signal.notify_all();
    }

    /// Runs `closer` once the connection has closed (at once if it has).
    pub(crate) fn on_close(&self, closer: Box<dyn FnOnce() + Send>) {
        let mut closers = self.closers.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_closed() {
            drop(closers);
            closer();
        } else {
            closers.push(closer);
        }
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

    fn send_control(&self, header: &Header, fd: Option<&OwnedFd>) -> Result<(), Error> {
        let _write = self.control_write.lock().unwrap_or_else(|p| p.into_inner());
        let frame = protocol::simple_frame(header, &[], self.config.max_frame_bytes)?;
        match fd {
            None => (&self.control).write_all(&frame).map_err(protocol::io_to_error),
            Some(fd) => send_with_fd(&self.control, &frame, fd),
        }
    }

    /// Opens a channel for the current thread: the peer starts its partner thread.
    fn open_channel(self: &Arc<Self>) -> Result<Arc<Channel>, Error> {
        if self.is_closed() {
            return Err(Error::Disconnected);
        }
        let (ours, theirs) = UnixStream::pair()?;
        let name = thread::current().name().unwrap_or("unnamed").to_owned();
        self.send_control(&Header::NewThread { name }, Some(&OwnedFd::from(theirs)))?;
        let channel = Arc::new(Channel { stream: ours });
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels.retain(|c| c.strong_count() > 0);
        channels.push(Arc::downgrade(&channel));
        drop(channels);
        if self.is_closed() {
            // Closed while we were registering: make sure nobody waits on it.
            let _ = channel.stream.shutdown(Shutdown::Both);
        }
        Ok(channel)
    }
}

/// Sends a frame that is only a header, in one `write`.
fn send_frame(stream: &UnixStream, header: &Header, max: usize) -> Result<(), Error> {
    let frame = protocol::simple_frame(header, &[], max)?;
    (&*stream).write_all(&frame).map_err(protocol::io_to_error)
}

fn send_with_fd(stream: &UnixStream, frame: &[u8], fd: &OwnedFd) -> Result<(), Error> {
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    let sent = rustix::net::sendmsg(stream, &[IoSlice::new(frame)], &mut control, SendFlags::NOSIGNAL)
        .map_err(|e| protocol::io_to_error(e.into()))?;
    // The descriptor travels with the first byte; the rest of the frame may follow separately.
    (&*stream).write_all(&frame[sent..]).map_err(protocol::io_to_error)
}

/// Reads the control socket, collecting descriptors that arrive with it.
struct ControlStream<'a> {
    stream: &'a UnixStream,
    fds: &'a mut VecDeque<OwnedFd>,
}

impl Read for ControlStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received =
            rustix::net::recvmsg(self.stream, &mut [IoSliceMut::new(buf)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                self.fds.extend(fds);
            }
        }
        Ok(received.bytes)
    }
}

thread_local! {
    /// This thread's channel on each connection it talks to.
    static LINKS: RefCell<Vec<Rc<Link>>> = const { RefCell::new(Vec::new()) };
    /// The connections whose calls this thread is serving, innermost last.
    static SERVING: RefCell<Vec<Arc<Conn>>> = const { RefCell::new(Vec::new()) };
    static CONTROL_READER: Cell<bool> = const { Cell::new(false) };
}

fn is_control_reader() -> bool {
    CONTROL_READER.try_with(Cell::get).unwrap_or(false)
}

/// One thread's end of a channel.
pub(crate) struct Link {
    pub(crate) conn: Arc<Conn>,
    channel: Arc<Channel>,
    reader: RefCell<FrameReader>,
    next_call: Cell<u64>,
    /// A frame buffer kept between calls; nested calls take a fresh one.
    spare: Cell<Vec<u8>>,
}

impl Link {
    fn new(conn: Arc<Conn>, channel: Arc<Channel>) -> Rc<Link> {
        let max = conn.config.max_frame_bytes;
        Rc::new(Link {
            conn,
            channel,
            reader: RefCell::new(FrameReader::new(max)),
            next_call: Cell::new(1),
            spare: Cell::new(Vec::new()),
        })
    }

    /// The current thread's link to `conn`, opening a channel on first use.
    pub(crate) fn current(conn: &Arc<Conn>) -> Result<Rc<Link>, Error> {
        let found = LINKS
            .try_with(|links| links.borrow().iter().find(|link| Arc::ptr_eq(&link.conn, conn)).cloned())
            .map_err(|_| Error::Disconnected)?;
        if let Some(link) = found {
            return Ok(link);
        }
        let link = Link::new(conn.clone(), conn.open_channel()?);
        LINKS
            .try_with(|links| {
                let mut links = links.borrow_mut();
                links.retain(|link| !link.conn.is_closed());
                links.push(link.clone());
            })
            .map_err(|_| Error::Disconnected)?;
        Ok(link)
    }

    pub(crate) fn next_call_id(&self) -> u64 {
        let id = self.next_call.get();
        self.next_call.set(id + 1);
        id
    }

    pub(crate) fn take_buffer(&self) -> Vec<u8> {
        self.spare.take()
    }

    pub(crate) fn give_buffer(&self, mut buf: Vec<u8>) {
        // Keep a modest buffer around; a huge one would pin memory per thread.
        if buf.capacity() <= 1 << 20 {
            buf.clear();
            self.spare.set(buf);
        }
    }

    /// Sends a finished frame.
    pub(crate) fn send(&self, frame: &OutFrame<'_>) -> Result<(), Error> {
        if self.conn.is_closed() {
            return Err(Error::Disconnected);
        }
        frame.write_to(&self.channel.stream)
    }

    /// Serves frames on this channel until the reply to call `id` arrives.
    /// With `None`, serves until the channel ends (a partner thread's life).
    ///
    /// Calls and releases of the `lent` objects are served from that list;
    /// everything else from the connection's table.
    pub(crate) fn wait(&self, until: Option<u64>, lent: &[(u64, &Lent<'_>)]) -> Result<Option<Reply>, Error> {
        loop {
            let frame = self.reader.borrow_mut().read(&self.channel.stream);
            let mut frame = match frame {
                Ok(Some(frame)) => frame,
                Ok(None) => return if until.is_some() { Err(Error::Disconnected) } else { Ok(None) },
                Err(error) => {
                    if self.conn.is_closed() {
                        return Err(Error::Disconnected);
                    }
                    // An oversized or broken frame on any channel ends the connection.
                    if !matches!(error, Error::Disconnected) {
                        self.conn.close(Err(error.clone()));
                    }
                    return Err(error);
                }
            };
            let (header, used) = match protocol::split_frame(&frame.inline) {
                Ok((header, rest)) => {
                    let used = frame.inline.len() - rest.len();
                    (header, used)
                }
                Err(error) => {
                    self.conn.close(Err(error.clone()));
                    return Err(error);
                }
            };
            match header {
                Header::Return { id, outcome } if Some(id) == until => {
                    return match outcome {
                        Ok(()) => Ok(Some(Reply::new(self.conn.clone(), frame, used))),
                        Err(fault) => Err(Error::from(fault)),
                    };
                }
                Header::Call { id, object, method } => {
                    let args = (&frame.inline[used..], &mut frame.blobs);
                    self.serve_call(id, object, method, args, lent)?
                }
                Header::Release { id, object } => self.serve_release(id, object, lent)?,
                other => {
                    let error = Error::Protocol(format!("unexpected frame on a call channel: {other:?}"));
                    self.conn.close(Err(error.clone()));
                    return Err(error);
                }
            }
        }
    }

    fn serve_call(
        &self,
        id: u64,
        object: u64,
        method: MethodId,
        args: (&[u8], &mut VecDeque<Vec<u8>>),
        lent: &[(u64, &Lent<'_>)],
    ) -> Result<(), Error> {
        let mut out = OutFrame::start(self.take_buffer(), &Header::Return { id, outcome: Ok(()) })?;
        let mut keep = Vec::new();
        let lent = lent.iter().find(|(lent, _)| *lent == object).map(|(_, dispatch)| *dispatch);
        let exported = if lent.is_none() { self.conn.lookup(object) } else { None };
        let dispatch: Option<&Lent<'_>> = match (&lent, &exported) {
            (Some(lent), _) => Some(*lent),
            (None, Some(target)) => Some(&|call: &mut Incoming<'_>| target.dispatch(call)),
            (None, None) => None,
        };
        let result = match dispatch {
            None => Err(Error::UnknownObject(object)),
            Some(dispatch) => {
                let _serving = ServingGuard::enter(&self.conn);
                let mut call = Incoming::new(self, object, method, args, &mut out);
                let result = match panic::catch_unwind(AssertUnwindSafe(|| dispatch(&mut call))) {
                    Ok(result) => result,
                    Err(payload) => {
                        let message = panic_message(&*payload);
                        tracing::debug!(target: "ipc", conn = self.conn.id, %message, "method panicked");
                        Err(Error::RemotePanic(message))
                    }
                };
                keep = std::mem::take(&mut call.keep);
                result
            }
        };
        let finished = result.and_then(|()| out.finish(self.conn.config.max_frame_bytes));
        if let Err(error) = finished {
            out.restart(&Header::Return { id, outcome: Err(Fault::from(error)) })?;
            out.finish(self.conn.config.max_frame_bytes)?;
        }
        let sent = self.send(&out);
        self.give_buffer(out.into_buffer());
        // Releases of proxies the reply mentioned go after it, never before.
        drop(keep);
        sent
    }

    fn serve_release(&self, id: u64, object: u64, lent: &[(u64, &Lent<'_>)]) -> Result<(), Error> {
        // A lent object is the caller's to keep: its proxy going away is all there is.
        let lent = lent.iter().any(|(lent, _)| *lent == object);
        let outcome = match if lent { None } else { self.conn.unexport(object) } {
            None if lent => Ok(()),
            Some(target) => {
                // The owner's Drop runs here, on a thread that runs user code,
                // before the releasing side's drop returns.
                let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(target)));
                dropped.map_err(|payload| Fault::Panic(panic_message(&*payload)))
            }
            None => Err(Fault::UnknownObject(object)),
        };
        send_frame(&self.channel.stream, &Header::Return { id, outcome }, self.conn.config.max_frame_bytes)
    }
}

struct ServingGuard;

impl ServingGuard {
    fn enter(conn: &Arc<Conn>) -> ServingGuard {
        let _ = SERVING.try_with(|serving| serving.borrow_mut().push(conn.clone()));
        ServingGuard
    }
}

impl Drop for ServingGuard {
    fn drop(&mut self) {
        let _ = SERVING.try_with(|serving| serving.borrow_mut().pop());
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// A reference to an object the peer owns; dropping it releases the object.
pub struct ProxyCore {
    pub(crate) conn: Arc<Conn>,
    pub(crate) object: u64,
    /// Set when the reference was handed back to the owner, which then holds it.
    transferred: AtomicBool,
}

impl fmt::Debug for ProxyCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCore").field("connection", &self.conn.id).field("object", &self.object).finish()
    }
}

impl ProxyCore {
    pub(crate) fn new(conn: Arc<Conn>, object: u64) -> ProxyCore {
        conn.hold();
        conn.proxies.fetch_add(1, Ordering::AcqRel);
        ProxyCore { conn, object, transferred: AtomicBool::new(false) }
    }

    pub(crate) fn mark_transferred(&self) {
        self.transferred.store(true, Ordering::Release);
    }

    fn release(&self) -> Result<(), Error> {
        let link = match Link::current(&self.conn) {
            Ok(link) => link,
            Err(_) if !self.conn.is_closed() => {
                // This thread is exiting and cannot open a channel: release
                // without waiting, through the control socket.
                return self.conn.send_control(&Header::ReleaseLater { object: self.object }, None);
            }
            Err(error) => return Err(error),
        };
        let id = link.next_call_id();
        send_frame(
            &link.channel.stream,
            &Header::Release { id, object: self.object },
            self.conn.config.max_frame_bytes,
        )?;
        link.wait(Some(id), &[]).map(drop)
    }
}

impl Drop for ProxyCore {
    fn drop(&mut self) {
        self.conn.proxies.fetch_sub(1, Ordering::AcqRel);
        if !self.transferred.load(Ordering::Acquire) && !self.conn.is_closed() {
            if let Err(error) = self.release() {
                tracing::debug!(target: "ipc", conn = self.conn.id, object = self.object, %error, "release failed");
            }
        }
        self.conn.release_hold();
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
    /// A process-unique number, as shown in `ipc` log events.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// What the connection holds right now.
    pub fn stats(&self) -> ConnectionStats {
        self.inner.stats()
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Closes the connection: calls in flight fail with [`Error::Disconnected`],
    /// every proxy from the peer turns dead, and every object exported to the
    /// peer is dropped, newest first.
    pub fn close(&self) {
        self.inner.close(Ok(()));
    }

    /// Waits up to `timeout` for the connection to close, and returns why it
    /// closed: `Ok(())` for an orderly close, or the error that ended it.
    pub fn wait_closed(&self, timeout: Duration) -> Option<Result<(), Error>> {
        self.inner.wait_closed(Some(timeout))
    }
}

/// The connection behind a proxy, or `None` for a local object.
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let local: Box<dyn Ping> = Box::new(Local);
/// assert!(multiprocess::connection_of(&*local).is_none());
/// ```
pub fn connection_of<I: ?Sized + Interface>(object: &I) -> Option<Connection> {
    I::proxy_core(object).map(|core| Connection { inner: core.conn.clone() })
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

/// Which side of the handshake we are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Asked for the bootstrap interface; closes when its last proxy is dropped.
    Client,
    /// Serves the bootstrap object; lives until the peer goes away.
    Server,
}

fn handshake<I: ?Sized + Interface>(control: &UnixStream, config: &Config) -> Result<(), Error> {
    let ours = Hello { version: PROTOCOL_VERSION, interface: I::NAME.to_owned(), fingerprint: I::FINGERPRINT };
    send_frame(control, &Header::Hello(ours.clone()), config.max_frame_bytes)?;
    control.set_read_timeout(Some(config.handshake_timeout))?;
    // Exactly one frame is read here: what follows it (a first NewThread and
    // the socket that travels with it) belongs to the control loop.
    let body = match read_hello_frame(control) {
        Ok(body) => body,
        Err(Error::Io(error)) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
            return Err(Error::Protocol(format!("no Hello from the peer within {:?}", config.handshake_timeout)));
        }
        Err(error) => return Err(error),
    };
    control.set_read_timeout(None)?;
    let theirs = match protocol::split_frame(&body)? {
        (Header::Hello(hello), _) => hello,
        (other, _) => return Err(Error::Protocol(format!("expected Hello, got {other:?}"))),
    };
    if theirs.version != PROTOCOL_VERSION {
        return Err(Error::ProtocolVersion { local: PROTOCOL_VERSION, remote: theirs.version });
    }
    if theirs != ours {
        return Err(Error::InterfaceMismatch { local: ours.describe(), remote: theirs.describe() });
    }
    Ok(())
}

/// A Hello is small; a peer announcing more is not speaking our protocol.
const MAX_HELLO: usize = 64 << 10;

/// Reads exactly one frame, which must carry no blobs, and returns its inline part.
fn read_hello_frame(mut control: &UnixStream) -> Result<Vec<u8>, Error> {
    let mut word = [0; 4];
    control.read_exact(&mut word).map_err(protocol::io_to_error)?;
    let total = u32::from_le_bytes(word) as usize;
    if total > MAX_HELLO {
        return Err(Error::FrameTooLarge { size: total as u64, max: MAX_HELLO as u64 });
    }
    control.read_exact(&mut word).map_err(protocol::io_to_error)?;
    let inline = u32::from_le_bytes(word) as usize;
    // The rest: the inline part, then a blob count that must be zero.
    if total != 4 + inline + 2 {
        return Err(Error::Protocol("a Hello carries no blobs".into()));
    }
    let mut rest = vec![0; inline + 2];
    control.read_exact(&mut rest).map_err(protocol::io_to_error)?;
    if rest[inline..] != [0, 0] {
        return Err(Error::Protocol("a Hello carries no blobs".into()));
    }
    rest.truncate(inline);
    Ok(rest)
}

/// Reads the control socket until the connection ends, starting a partner
/// thread for every new calling thread of the peer.
fn control_loop(conn: &Arc<Conn>) -> Result<(), Error> {
    let _ = CONTROL_READER.try_with(|flag| flag.set(true));
    let mut fds = VecDeque::new();
    let mut reader = FrameReader::new(conn.config.max_frame_bytes.min(1 << 20));
    let outcome = loop {
        let frame = match reader.read(ControlStream { stream: &conn.control, fds: &mut fds }) {
            Ok(Some(frame)) => frame,
            Ok(None) => break Ok(()),
            Err(_) if conn.is_closed() => break Ok(()),
            Err(Error::Disconnected) => break Ok(()),
            Err(error) => break Err(error),
        };
        let header = match protocol::split_frame(&frame.inline) {
            Ok((header, _)) => header,
            Err(error) => break Err(error),
        };
        match header {
            Header::NewThread { name } => match fds.pop_front() {
                Some(fd) => start_partner(conn, name, UnixStream::from(fd)),
                None => break Err(Error::Protocol("NewThread without a socket".into())),
            },
            Header::ReleaseLater { object } => {
                if let Some(target) = conn.unexport(object) {
                    let _ = thread::Builder::new().name(format!("ipc-release-{}", conn.id)).spawn(move || drop(target));
                }
            }
            Header::Goodbye => break Ok(()),
            other => break Err(Error::Protocol(format!("unexpected frame on the control socket: {other:?}"))),
        }
    };
    conn.close(outcome.clone());
    let _ = CONTROL_READER.try_with(|flag| flag.set(false));
    outcome
}

fn start_partner(conn: &Arc<Conn>, name: String, stream: UnixStream) {
    let channel = Arc::new(Channel { stream });
    {
        let mut channels = conn.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels.retain(|c| c.strong_count() > 0);
        channels.push(Arc::downgrade(&channel));
    }
    if conn.is_closed() {
        return;
    }
    conn.partners.fetch_add(1, Ordering::AcqRel);
    let partner_conn = conn.clone();
    let spawned = thread::Builder::new().name(format!("ipc:{name}")).spawn(move || {
        let conn = partner_conn;
        let link = Link::new(conn.clone(), channel);
        let _ = LINKS.try_with(|links| links.borrow_mut().push(link.clone()));
        tracing::trace!(target: "ipc", conn = conn.id, "partner thread started");
        if let Err(error) = link.wait(None, &[]) {
            tracing::debug!(target: "ipc", conn = conn.id, %error, "partner thread ends");
        }
        let _ = LINKS.try_with(|links| links.borrow_mut().retain(|l| !Rc::ptr_eq(l, &link)));
        conn.partners.fetch_sub(1, Ordering::AcqRel);
    });
    if let Err(error) = spawned {
        conn.partners.fetch_sub(1, Ordering::AcqRel);
        tracing::error!(target: "ipc", conn = conn.id, %error, "could not start a partner thread");
    }
}

/// Serves `object` as the bootstrap object of a connection over `stream`, on
/// the calling thread, until the peer goes away. Returns `Ok(())` when the
/// peer closes in order, or the error that ended the connection.
///
/// This is what `pair`, `serve_process` and `listen` run for each connection;
/// call it directly to serve over a socket you made yourself.
///
/// ```
/// use std::os::unix::net::UnixStream;
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
/// let (a, b) = UnixStream::pair()?;
/// let server = std::thread::spawn(move || multiprocess::serve_stream::<dyn Ping>(b, Box::new(Local)));
/// let ping = multiprocess::connect_stream::<dyn Ping>(a)?;
/// assert_eq!(ping.ping(), 7);
/// drop(ping);
/// server.join().unwrap()?;
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub fn serve_stream<I: ?Sized + Interface>(stream: UnixStream, object: Box<I>) -> Result<(), Error> {
    serve_stream_with(stream, object, Config::default())
}

/// [`serve_stream`] with explicit [`Config`].
pub fn serve_stream_with<I: ?Sized + Interface>(
    stream: UnixStream,
    object: Box<I>,
    config: Config,
) -> Result<(), Error> {
    let conn = start::<I>(stream, config, Role::Server)?;
    let target: Arc<dyn Target> = Arc::new(ObjectTarget::<I> { object: Arc::from(object) });
    {
        let mut table = conn.table();
        conn.insert(&mut table, BOOTSTRAP, target);
    }
    control_loop(&conn)
}

/// Connects to a peer that serves interface `I` on `stream` and returns a proxy
/// for its bootstrap object. The connection closes when the last proxy from it
/// is dropped.
pub fn connect_stream<I: ?Sized + Interface>(stream: UnixStream) -> Result<Box<I>, Error> {
    connect_stream_with(stream, Config::default())
}

/// [`connect_stream`] with explicit [`Config`].
pub fn connect_stream_with<I: ?Sized + Interface>(stream: UnixStream, config: Config) -> Result<Box<I>, Error> {
    let conn = start::<I>(stream, config, Role::Client)?;
    let core = ProxyCore::new(conn.clone(), BOOTSTRAP);
    let reader = conn.clone();
    thread::Builder::new().name(format!("ipc-control-{}", conn.id)).spawn(move || control_loop(&reader))?;
    Ok(I::from_proxy(core))
}

fn start<I: ?Sized + Interface>(stream: UnixStream, config: Config, role: Role) -> Result<Arc<Conn>, Error> {
    if let Err(error) = handshake::<I>(&stream, &config) {
        let _ = send_frame(&stream, &Header::Goodbye, usize::MAX);
        let _ = stream.shutdown(Shutdown::Both);
        return Err(error);
    }
    let conn = Conn::new(stream, config, role == Role::Client);
    tracing::debug!(target: "ipc", conn = conn.id, interface = I::NAME, "connected");
    Ok(conn)
}

/// Serves `object` on one end of a socketpair, in this process, and returns a
/// proxy for it on the other end: every call crosses a real socket. For tests
/// and benchmarks.
///
/// ```
/// use multiprocess::ipc_interface;
///
/// #[ipc_interface]
/// pub trait Echo: Send + Sync {
///     fn echo(&self, message: String) -> String;
/// }
/// struct Local;
/// impl Echo for Local {
///     fn echo(&self, message: String) -> String { message }
/// }
///
/// let echo = multiprocess::pair::<dyn Echo>(Box::new(Local))?;
/// assert_eq!(echo.echo("hi".into()), "hi");
/// # Ok::<(), multiprocess::Error>(())
/// ```
pub fn pair<I: ?Sized + Interface>(object: Box<I>) -> Result<Box<I>, Error> {
    pair_with(object, Config::default())
}

/// [`pair`] with explicit [`Config`].
pub fn pair_with<I: ?Sized + Interface>(object: Box<I>, config: Config) -> Result<Box<I>, Error> {
    let (client, server) = UnixStream::pair()?;
    let server_config = config.clone();
    thread::Builder::new()
        .name("ipc-pair-server".into())
        .spawn(move || serve_stream_with::<I>(server, object, server_config))?;
    connect_stream_with::<I>(client, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    /// A connection and a channel whose peer end the test drives by hand.
    fn link() -> ((Arc<Conn>, Arc<Channel>), UnixStream) {
        let (control, _peer_control) = UnixStream::pair().unwrap();
        let conn = Conn::new(control, Config::default(), false);
        let (ours, theirs) = UnixStream::pair().unwrap();
        theirs.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        ((conn, Arc::new(Channel { stream: ours })), theirs)
    }

    /// Serves the channel on a thread of its own, as a partner thread would.
    fn serve((conn, channel): (Arc<Conn>, Arc<Channel>), until: Option<u64>) -> thread::JoinHandle<Result<(), Error>> {
        thread::spawn(move || Link::new(conn, channel).wait(until, &[]).map(drop))
    }

    fn frame(header: &Header, payload: &[u8]) -> Vec<u8> {
        protocol::simple_frame(header, payload, 1 << 20).unwrap()
    }

    fn reply(reader: &mut FrameReader, peer: &UnixStream) -> Header {
        let frame = reader.read(peer).unwrap().expect("a reply");
        protocol::split_frame(&frame.inline).unwrap().0
    }

    /// Answers every call with the sum of two u32 arguments.
    struct Adder;

    impl Target for Adder {
        fn dispatch(&self, call: &mut Incoming<'_>) -> Result<(), Error> {
            match call.method_of(7) {
                Some(0) => {
                    let a: u32 = call.value("a")?;
                    let b: u32 = call.value("b")?;
                    call.ret(&(a + b))
                }
                _ => Err(call.unknown_method("Adder")),
            }
        }

        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    #[test]
    fn unknown_objects_methods_and_bad_arguments_get_error_replies() {
        let (link, mut peer) = link();
        let id = link.0.export(Arc::new(Adder));
        let mut args = Vec::new();
        codec::encode_into(&mut args, &2u32, "a").unwrap();
        codec::encode_into(&mut args, &3u32, "b").unwrap();
        let add = MethodId { interface: 7, index: 0 };
        peer.write_all(&frame(&Header::Call { id: 1, object: id, method: add }, &args)).unwrap();
        peer.write_all(&frame(&Header::Call { id: 2, object: 99, method: add }, &args)).unwrap();
        peer.write_all(&frame(&Header::Call { id: 3, object: id, method: MethodId { interface: 7, index: 9 } }, &[]))
            .unwrap();
        peer.write_all(&frame(&Header::Call { id: 4, object: id, method: add }, &[0xff])).unwrap();
        peer.write_all(&frame(&Header::Release { id: 5, object: 1234 }, &[])).unwrap();
        drop(peer.try_clone().unwrap().shutdown(Shutdown::Write));
        let server = serve(link, None);
        let replies = &mut FrameReader::new(1 << 20);
        assert!(matches!(reply(replies, &peer), Header::Return { id: 1, outcome: Ok(()) }));
        assert!(matches!(reply(replies, &peer), Header::Return { id: 2, outcome: Err(Fault::UnknownObject(99)) }));
        assert!(matches!(reply(replies, &peer), Header::Return { id: 3, outcome: Err(Fault::UnknownMethod { .. }) }));
        assert!(matches!(reply(replies, &peer), Header::Return { id: 4, outcome: Err(Fault::Decode { .. }) }));
        assert!(matches!(reply(replies, &peer), Header::Return { id: 5, outcome: Err(Fault::UnknownObject(1234)) }));
        let _ = server.join().expect("the serving thread did not panic");
    }

    #[test]
    fn garbage_on_a_channel_closes_the_connection_without_panicking() {
        for garbage in [&[0xff, 0xff, 0xff, 0xff][..], &[3, 0, 0, 0, 0xde, 0xad, 0xbe], &[2, 0, 0, 0, 9, 9]] {
            let (link, mut peer) = link();
            peer.write_all(garbage).unwrap();
            drop(peer.try_clone().unwrap().shutdown(Shutdown::Write));
            let conn = link.0.clone();
            let outcome = serve(link, None).join().expect("no panic");
            assert!(outcome.is_err(), "{garbage:?} was accepted");
            assert!(conn.is_closed());
        }
    }

    #[test]
    fn a_fn_once_callback_called_twice_is_an_error_not_a_crash() {
        let (link, mut peer) = link();
        let once = crate::call::Callback::new_fn_once("test(once)", |call| call.ret(&7u32));
        let mut ref_bytes = Vec::new();
        let (conn, _) = &link;
        crate::call::Export::export(once, &mut crate::call::Encoder::for_test(conn, &mut ref_bytes)).unwrap();
        let id = conn.table().entries.keys().copied().max().unwrap();
        let callback = MethodId { interface: 0, index: 0 };
        peer.write_all(&frame(&Header::Call { id: 1, object: id, method: callback }, &[])).unwrap();
        peer.write_all(&frame(&Header::Call { id: 2, object: id, method: callback }, &[])).unwrap();
        drop(peer.try_clone().unwrap().shutdown(Shutdown::Write));
        let server = serve(link, None);
        let replies = &mut FrameReader::new(1 << 20);
        assert!(matches!(reply(replies, &peer), Header::Return { id: 1, outcome: Ok(()) }));
        assert!(matches!(reply(replies, &peer), Header::Return { id: 2, outcome: Err(Fault::CallbackConsumed) }));
        let _ = server.join().expect("no panic");
    }

    #[test]
    fn a_return_for_another_call_is_a_protocol_error() {
        let (link, mut peer) = link();
        peer.write_all(&frame(&Header::Return { id: 42, outcome: Ok(()) }, &[])).unwrap();
        let outcome = serve(link, Some(1)).join().expect("no panic");
        assert!(matches!(outcome, Err(Error::Protocol(_))), "{outcome:?}");
    }
}
