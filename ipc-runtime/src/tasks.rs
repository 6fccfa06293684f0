//! The task engine: async calls, beside the 1:1 thread engine on the same
//! connection.
//!
//! An async caller has no thread of its own to wait on, so each side opens
//! one *task channel* per connection (announced like a calling thread, under
//! the reserved name [`TASKS_CHANNEL`]) and multiplexes its async calls on it
//! by call id. A reader thread takes the replies off it and wakes the future
//! that waits for each. On the callee, one thread reads the channel in order:
//! it decodes each call's arguments, starts the method's future as a task on
//! a tokio runtime, serves releases, and aborts the task of a call whose
//! caller sent `Cancel`. Replies are written by the tasks themselves.

use std::{
    any::Any,
    collections::HashMap,
    future::Future,
    io::Write,
    panic::{self, AssertUnwindSafe},
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, OnceLock, atomic::AtomicU64, atomic::Ordering},
    task::{Context, Poll},
    thread,
    time::{Duration, Instant},
};

use tokio::{runtime::Handle, sync::oneshot, task::AbortHandle};

use crate::{
    Error,
    conn::{self, CallFrame, Conn, ServingGuard, Target, panic_message},
    protocol::{self, FrameReader, Header, InFrame, OutFrame},
    transport::Stream,
};

/// The name under which a task channel is announced. A thread name never
/// starts with a control character, and a partner thread's name drops them.
pub(crate) const TASKS_CHANNEL: &str = "\u{1}tasks";

/// What an async method's future ends with: the step that encodes its result
/// (and written-back arguments) into the reply frame.
pub(crate) type FrameReply = Box<dyn FnOnce(&Arc<Conn>, &mut CallFrame<'_>) -> Result<(), Error> + Send>;

/// An async method's future, as the runtime keeps it: its borrow of the
/// object is kept valid by the `owner` stored beside it (see [`Started`]).
pub(crate) type MethodFuture = Pin<Box<dyn Future<Output = FrameReply> + Send + 'static>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The runtime async methods run on when the connection names none: started
/// on first need, with two worker threads, for the life of the process.
fn library_runtime() -> Result<Handle, Error> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ipc-task")
            .enable_all()
            .build()
            .map_err(|error| error.to_string())
    });
    match runtime {
        Ok(runtime) => Ok(runtime.handle().clone()),
        Err(error) => Err(Error::Protocol(format!("could not start a runtime for async methods: {error}"))),
    }
}

/// Writes whole frames on a stream shared by several writers.
struct Writer {
    stream: Arc<dyn Stream>,
    lock: Mutex<()>,
}

impl Writer {
    fn write(&self, conn: &Conn, frame: &[u8]) -> Result<(), Error> {
        let _writing = lock(&self.lock);
        (&*self.stream).write_all(frame).map_err(|error| stalled(conn, protocol::io_to_error(error)))
    }

    fn write_frame(&self, conn: &Conn, frame: &OutFrame<'_>) -> Result<(), Error> {
        let _writing = lock(&self.lock);
        frame.write_to(&*self.stream).map_err(|error| stalled(conn, error))
    }
}

/// A write that made no progress for a whole frame timeout: the peer stopped
/// reading, and the connection closes (as on a thread's channel).
fn stalled(conn: &Conn, error: Error) -> Error {
    match error {
        Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            let error = Error::Protocol(format!(
                "the peer stopped reading for {:?} in the middle of a frame",
                conn.config.frame_timeout
            ));
            conn.close(Err(error.clone()));
            error
        }
        _ if conn.is_closed() => Error::Disconnected,
        other => other,
    }
}

// ---------------------------------------------------------------- caller

/// A reply as the reader hands it to the waiting future: the frame and where
/// the result starts in it.
pub(crate) type Arrived = Result<(InFrame, usize), Error>;

/// This side's task channel on one connection: its async calls go out on it,
/// and their replies come back on it.
pub(crate) struct TaskLink {
    writer: Writer,
    pending: Mutex<Pending>,
    next_id: AtomicU64,
}

struct Pending {
    waiting: HashMap<u64, oneshot::Sender<Arrived>>,
    /// Why the channel ended, once it has.
    ended: Option<Error>,
}

impl TaskLink {
    /// The connection's task channel, opened on first use (the only time
    /// an async call waits for anything but its reply: the peer's side of a
    /// dialled transport opens the channel).
    pub(crate) fn current(conn: &Arc<Conn>) -> Result<Arc<TaskLink>, Error> {
        if conn.forked() || conn.is_closed() {
            return Err(Error::Disconnected);
        }
        let mut slot = lock(&conn.tasks);
        if let Some(link) = slot.clone().and_then(|link| link.downcast::<TaskLink>().ok())
            && lock(&link.pending).ended.is_none()
        {
            return Ok(link);
        }
        let stream = conn::open_named_channel(conn, TASKS_CHANNEL)?;
        let link = Arc::new(TaskLink {
            writer: Writer { stream: stream.clone(), lock: Mutex::new(()) },
            pending: Mutex::new(Pending { waiting: HashMap::new(), ended: None }),
            next_id: AtomicU64::new(1),
        });
        let (reader_conn, reader_link) = (conn.clone(), link.clone());
        thread::Builder::new()
            .name(format!("ipc-replies-{}", conn.id))
            .spawn(move || read_replies(&reader_conn, &reader_link, &*stream))
            .map_err(|error| Error::Protocol(format!("could not start a thread for async replies: {error}")))?;
        *slot = Some(link.clone());
        Ok(link)
    }

    pub(crate) fn next_call_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends call `id` and returns what its reply will arrive through.
    pub(crate) fn send(&self, conn: &Conn, id: u64, frame: &OutFrame<'_>) -> Result<oneshot::Receiver<Arrived>, Error> {
        let (sender, receiver) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if let Some(error) = &pending.ended {
                return Err(error.clone());
            }
            pending.waiting.insert(id, sender);
        }
        if let Err(error) = self.writer.write_frame(conn, frame) {
            lock(&self.pending).waiting.remove(&id);
            return Err(error);
        }
        Ok(receiver)
    }

    /// The caller stopped waiting for call `id`: tell the callee, unless
    /// the reply is already here.
    pub(crate) fn cancel(&self, conn: &Conn, id: u64) {
        if lock(&self.pending).waiting.remove(&id).is_none() || conn.is_closed() {
            return;
        }
        tracing::debug!(target: "ipc", conn = conn.id, id, "cancelling an async call");
        if let Ok(frame) = protocol::simple_frame(&Header::Cancel { id }, &[], conn.config.max_frame_bytes) {
            let _ = self.writer.write(conn, &frame);
        }
    }

    /// Drops one remote reference without waiting: ordered before this
    /// side's next async call on the connection.
    pub(crate) fn release_later(&self, conn: &Conn, object: u64) -> Result<(), Error> {
        let frame = protocol::simple_frame(&Header::ReleaseLater { object }, &[], conn.config.max_frame_bytes)?;
        self.writer.write(conn, &frame)
    }

    fn end(&self, error: Error) {
        let waiting = {
            let mut pending = lock(&self.pending);
            pending.ended = Some(error.clone());
            std::mem::take(&mut pending.waiting)
        };
        for (_, sender) in waiting {
            let _ = sender.send(Err(error.clone()));
        }
    }
}

fn read_replies(conn: &Arc<Conn>, link: &TaskLink, stream: &dyn Stream) {
    let mut reader = FrameReader::new();
    let error = loop {
        let frame = match reader.read(stream, &conn.limits(), None) {
            Ok(Some(frame)) => frame,
            Ok(None) => break Error::Disconnected,
            Err(_) if conn.is_closed() => break Error::Disconnected,
            Err(Error::Disconnected) => break Error::Disconnected,
            Err(error) => {
                conn.close(Err(error.clone()));
                break error;
            }
        };
        match protocol::split_frame(&frame.inline) {
            Ok((Header::Return { id, outcome }, rest)) => {
                let used = frame.inline.len() - rest.len();
                // A call that was cancelled has no one waiting: its reply is dropped.
                let waiting = lock(&link.pending).waiting.remove(&id);
                if let Some(sender) = waiting {
                    let _ = sender.send(outcome.map(|()| (frame, used)).map_err(Error::sanitized));
                }
            }
            Ok((Header::Refused { error }, _)) => break error.sanitized(),
            Ok((other, _)) => {
                let error = Error::Protocol(format!("unexpected frame on a task channel: {}", other.kind()));
                conn.close(Err(error.clone()));
                break error;
            }
            Err(error) => {
                conn.close(Err(error.clone()));
                break error;
            }
        }
    };
    tracing::debug!(target: "ipc", conn = conn.id, %error, "task channel ends");
    stream.shutdown();
    link.end(if conn.is_closed() { Error::Disconnected } else { error });
}

/// Waits for the reply to one async call; dropped before it arrives, it
/// cancels the call.
pub(crate) struct Waiting {
    pub(crate) conn: Arc<Conn>,
    pub(crate) link: Arc<TaskLink>,
    pub(crate) id: u64,
    pub(crate) reply: oneshot::Receiver<Arrived>,
    pub(crate) done: bool,
}

impl Waiting {
    /// The reply, or `Timeout` at `deadline` (which needs a tokio timer: on
    /// another executor the call waits as long as it takes).
    pub(crate) async fn reply(mut self, deadline: Option<Instant>) -> Arrived {
        let arrived = match deadline {
            Some(deadline) if Handle::try_current().is_ok() => {
                match tokio::time::timeout_at(deadline.into(), &mut self.reply).await {
                    Ok(arrived) => arrived,
                    Err(_) => return Err(Error::Timeout),
                }
            }
            _ => (&mut self.reply).await,
        };
        self.done = true;
        arrived.unwrap_or(Err(Error::Disconnected))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.done {
            self.link.cancel(&self.conn, self.id);
        }
    }
}

/// Drops one remote reference from a tokio context without blocking on the
/// peer: `Err` if it has to go another way.
pub(crate) fn release_in_background(conn: &Arc<Conn>, object: u64) -> Result<(), Error> {
    TaskLink::current(conn)?.release_later(conn, object)
}

/// Whether a release on this thread should not wait for the peer.
pub(crate) fn in_async_context() -> bool {
    Handle::try_current().is_ok()
}

// ---------------------------------------------------------------- callee

/// An async method's future started by the dispatcher, with the object it
/// borrows. Fields drop in order: the future before its owner.
pub(crate) struct Started {
    pub(crate) future: MethodFuture,
    pub(crate) _owner: Arc<dyn Target>,
}

/// The callee's side of a peer's task channel.
struct TaskServer {
    conn: Arc<Conn>,
    writer: Writer,
    running: Mutex<HashMap<u64, AbortHandle>>,
    /// Proxies that replies mentioned, held a while so that a release cannot
    /// overtake the reply (see `engine::Link::deferred`); the peer reads a
    /// reply long before this.
    kept: Mutex<Vec<(Instant, Box<dyn Any + Send>)>>,
}

const KEEP_FOR: Duration = Duration::from_secs(5);

impl TaskServer {
    fn send_reply(&self, out: &OutFrame<'_>, keep: Vec<Box<dyn Any + Send>>) -> Result<(), Error> {
        let sent = self.writer.write_frame(&self.conn, out);
        if !keep.is_empty() {
            let now = Instant::now();
            lock(&self.kept).extend(keep.into_iter().map(|kept| (now, kept)));
        }
        sent
    }

    fn send_error(&self, id: u64, error: Error) {
        if let Ok(frame) =
            protocol::simple_frame(&Header::Return { id, outcome: Err(error) }, &[], self.conn.config.max_frame_bytes)
        {
            let _ = self.writer.write(&self.conn, &frame);
        }
    }

    fn drop_old_kept(&self) {
        let mut kept = lock(&self.kept);
        if kept.first().is_some_and(|(at, _)| at.elapsed() >= KEEP_FOR) {
            let old: Vec<_> = kept.extract_if(.., |(at, _)| at.elapsed() >= KEEP_FOR).collect();
            drop(kept);
            drop(old);
        }
    }
}

/// Serves a peer's task channel until it ends: the life of its thread.
pub(crate) fn serve(conn: &Arc<Conn>, stream: Arc<dyn Stream>) {
    let server = Arc::new(TaskServer {
        conn: conn.clone(),
        writer: Writer { stream: stream.clone(), lock: Mutex::new(()) },
        running: Mutex::new(HashMap::new()),
        kept: Mutex::new(Vec::new()),
    });
    let mut reader = FrameReader::new();
    let outcome = loop {
        let mut frame = match reader.read(&*stream, &conn.limits(), None) {
            Ok(Some(frame)) => frame,
            Ok(None) => break Ok(()),
            Err(_) if conn.is_closed() => break Ok(()),
            Err(Error::Disconnected) => break Ok(()),
            Err(error) => break Err(error),
        };
        server.drop_old_kept();
        let (header, used) = match protocol::split_frame(&frame.inline) {
            Ok((header, rest)) => (header, frame.inline.len() - rest.len()),
            Err(error) => break Err(error),
        };
        let served = match header {
            Header::Call { id, object, method, check } => {
                let InFrame { inline, blobs } = &mut frame;
                serve_call(&server, id, object, (method, check), (&inline[used..], blobs))
            }
            Header::Release { id, object } => {
                let outcome = match conn.unexport(object) {
                    Some(target) => panic::catch_unwind(AssertUnwindSafe(move || drop(target)))
                        .map_err(|payload| Error::RemotePanic(panic_message(&*payload))),
                    None => Err(Error::UnknownObject(object)),
                };
                protocol::simple_frame(&Header::Return { id, outcome }, &[], conn.config.max_frame_bytes)
                    .and_then(|frame| server.writer.write(conn, &frame))
            }
            Header::ReleaseLater { object } => {
                if let Some(target) = conn.unexport(object)
                    && panic::catch_unwind(AssertUnwindSafe(move || drop(target))).is_err()
                {
                    tracing::warn!(target: "ipc", conn = conn.id, "an object's Drop panicked");
                }
                Ok(())
            }
            Header::Cancel { id } => {
                if let Some(task) = lock(&server.running).remove(&id) {
                    tracing::debug!(target: "ipc", conn = conn.id, id, "async call cancelled by its caller");
                    task.abort();
                }
                Ok(())
            }
            other => Err(Error::Protocol(format!("unexpected frame on a task channel: {}", other.kind()))),
        };
        if let Err(error) = served {
            break Err(error);
        }
    };
    match outcome {
        Err(error) if !conn.is_closed() => {
            tracing::debug!(target: "ipc", conn = conn.id, %error, "task channel ends");
            conn.close(Err(error));
        }
        _ => {}
    }
    stream.shutdown();
    // The peer is gone: its calls' futures are dropped where they wait.
    for (_, task) in lock(&server.running).drain() {
        task.abort();
    }
}

fn serve_call(
    server: &Arc<TaskServer>,
    id: u64,
    object: u64,
    (method, check): (u64, u64),
    (args, blobs): (&[u8], &mut std::collections::VecDeque<Vec<u8>>),
) -> Result<(), Error> {
    let conn = &server.conn;
    let mut out = OutFrame::start(Vec::new(), &Header::Return { id, outcome: Ok(()) })?;
    let target = conn.lookup(object);
    let mut call = CallFrame::new((object, method, check), args, blobs, &mut out);
    call.later.owner = target.clone();
    let result = match &target {
        None => Err(Error::UnknownObject(object)),
        Some(target) => {
            let _serving = ServingGuard::enter(conn);
            match panic::catch_unwind(AssertUnwindSafe(|| target.dispatch(conn, &mut call))) {
                Ok(result) => result,
                Err(payload) => Err(Error::RemotePanic(panic_message(&*payload))),
            }
        }
    };
    drop(target);
    let CallFrame { keep, exported, later, .. } = call;
    match (result, later.started.and_then(|started| started.downcast::<Started>().ok())) {
        (Ok(()), Some(started)) => spawn(server, id, *started),
        (result, _) => {
            // A method that is not async, or a call refused before it began, is answered here.
            let keep = conn::finish_reply(conn, id, &mut out, result, (keep, exported))?;
            server.send_reply(&out, keep)
        }
    }
}

/// Runs a started method as a task; its reply is sent when it finishes.
fn spawn(server: &Arc<TaskServer>, id: u64, started: Started) -> Result<(), Error> {
    let conn = &server.conn;
    let handle = match conn.config.runtime.clone().map_or_else(library_runtime, Ok) {
        Ok(handle) => handle,
        Err(error) => {
            server.send_error(id, error);
            return Ok(());
        }
    };
    let mut task = Task { server: server.clone(), id, started: Some(started), answered: false };
    // The first poll runs here, on the reader thread: a method that finishes
    // without waiting (most do) is answered without handing it to a worker.
    // Its waker does nothing: a task that is still pending is polled again at
    // once by the runtime, which then gives its own.
    let polled = {
        let _runtime = handle.enter();
        Pin::new(&mut task).poll(&mut Context::from_waker(std::task::Waker::noop()))
    };
    if polled.is_ready() {
        return Ok(());
    }
    let mut running = lock(&server.running);
    let limit = conn.config.max_async_calls;
    if running.len() >= limit {
        drop(running);
        let error = Error::LimitExceeded { what: "async calls".into(), limit: limit as u64 };
        tracing::warn!(target: "ipc", conn = conn.id, %error, "refused an async call");
        task.answered = true;
        drop(task);
        server.send_error(id, error);
        return Ok(());
    }
    running.insert(id, handle.spawn(task).abort_handle());
    Ok(())
}

/// One async call being served. If it is dropped unfinished (cancelled, or
/// its runtime shut down), no reply is owed to a caller that cancelled, and a
/// caller that still waits learns that the call ended.
struct Task {
    server: Arc<TaskServer>,
    id: u64,
    started: Option<Started>,
    answered: bool,
}

impl Future for Task {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let Some(started) = &mut this.started else { return Poll::Ready(()) };
        let conn = this.server.conn.clone();
        let polled = {
            let _serving = ServingGuard::enter(&conn);
            panic::catch_unwind(AssertUnwindSafe(|| started.future.as_mut().poll(cx)))
        };
        let reply = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(reply)) => Ok(reply),
            Err(payload) => Err(Error::RemotePanic(panic_message(&*payload))),
        };
        // The method is done with the object before the reply goes out.
        this.started = None;
        this.answered = true;
        lock(&this.server.running).remove(&this.id);
        this.reply(reply);
        Poll::Ready(())
    }
}

impl Task {
    fn reply(&self, reply: Result<FrameReply, Error>) {
        let conn = &self.server.conn;
        let id = self.id;
        let mut out = match OutFrame::start(Vec::new(), &Header::Return { id, outcome: Ok(()) }) {
            Ok(out) => out,
            Err(error) => return self.server.send_error(id, error),
        };
        let mut blobs = std::collections::VecDeque::new();
        let mut call = CallFrame::new((0, 0, 0), &[], &mut blobs, &mut out);
        let encoded = reply.and_then(|reply| {
            panic::catch_unwind(AssertUnwindSafe(|| reply(conn, &mut call)))
                .unwrap_or_else(|payload| Err(Error::RemotePanic(panic_message(&*payload))))
        });
        let CallFrame { keep, exported, .. } = call;
        match conn::finish_reply(conn, id, &mut out, encoded, (keep, exported)) {
            Ok(keep) => {
                let _ = self.server.send_reply(&out, keep);
            }
            Err(error) => self.server.send_error(id, error),
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if !self.answered {
            let cancelled = lock(&self.server.running).remove(&self.id).is_none();
            // The future goes first: its `Drop`s run before anything else.
            drop(self.started.take());
            if !cancelled {
                self.server.send_error(self.id, Error::Disconnected);
            }
        }
    }
}
