//! The 1:1 thread engine. Every thread that calls into a connection has a
//! channel of its own (a *link*); the peer serves it with one partner thread.
//! A thread waiting for a reply reads its own channel, so a reply wakes
//! exactly the thread that waits for it, and a callback the partner makes
//! meanwhile arrives on the same channel and runs on the waiting thread.

use std::{
    any::Any,
    cell::{Cell, RefCell},
    collections::VecDeque,
    io::Write,
    panic::{self, AssertUnwindSafe},
    rc::Rc,
    sync::{Arc, atomic::Ordering},
    thread,
    time::{Duration, Instant},
};

use crate::{
    Error,
    conn::{self, CallFrame, Conn},
    protocol::{self, FrameReader, Header, InFrame, OutFrame},
    tasks,
    transport::Stream,
};

pub(crate) use crate::conn::{ServingGuard, open_named_channel, panic_message};

/// The dispatcher of a borrowed object, lent for the duration of one call.
pub(crate) type Lent<'a> = dyn Fn(&Arc<Conn>, &mut CallFrame<'_>) -> Result<(), Error> + 'a;

thread_local! {
    /// This thread's channel on each connection it talks to.
    static LINKS: RefCell<Vec<Rc<Link>>> = const { RefCell::new(Vec::new()) };
}

/// One thread's end of a channel.
pub(crate) struct Link {
    pub(crate) conn: Arc<Conn>,
    stream: Arc<dyn Stream>,
    reader: RefCell<FrameReader>,
    next_call: Cell<u64>,
    /// A frame buffer kept between calls; nested calls take a fresh one.
    spare: Cell<Vec<u8>>,
    /// Proxies that the last reply sent from this thread mentioned. They live
    /// until the peer's next frame on this channel, which it sends only after
    /// it has read that reply; releasing them sooner could overtake it.
    deferred: RefCell<Vec<Box<dyn Any + Send>>>,
    has_deferred: Cell<bool>,
    /// Why the channel was given up (a call that timed out): the next call opens another.
    broken: RefCell<Option<Error>>,
    is_broken: Cell<bool>,
    /// The write timeout the stream has now, so that it is set only when it changes.
    write_timeout: Cell<Option<Duration>>,
}

impl Link {
    fn new(conn: Arc<Conn>, stream: Arc<dyn Stream>) -> Rc<Link> {
        let write_timeout = Some(conn.config.frame_timeout);
        Rc::new(Link {
            conn,
            stream,
            reader: RefCell::new(FrameReader::new()),
            next_call: Cell::new(1),
            spare: Cell::new(Vec::new()),
            deferred: RefCell::new(Vec::new()),
            has_deferred: Cell::new(false),
            broken: RefCell::new(None),
            is_broken: Cell::new(false),
            write_timeout: Cell::new(write_timeout),
        })
    }

    /// The current thread's link to `conn`, opening a channel on first use.
    pub(crate) fn current(conn: &Arc<Conn>) -> Result<Rc<Link>, Error> {
        if conn.forked() {
            // This process is a fork: the connection's sockets are its parent's.
            return Err(Error::Disconnected);
        }
        let found = LINKS
            .try_with(|links| links.borrow().iter().find(|link| Arc::ptr_eq(&link.conn, conn)).cloned())
            .map_err(|_| Error::Disconnected)?;
        if let Some(link) = found {
            return Ok(link);
        }
        let link = Link::new(conn.clone(), open_channel(conn)?);
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

    /// Sends a finished frame; a write that makes no progress until
    /// `deadline` (or for the frame timeout) fails.
    pub(crate) fn send(&self, frame: &OutFrame<'_>, deadline: Option<Instant>) -> Result<(), Error> {
        self.before_writing(deadline)?;
        frame.write_to(&*self.stream).map_err(|error| self.write_failed(error, deadline))
    }

    fn send_raw(&self, frame: &[u8], deadline: Option<Instant>) -> Result<(), Error> {
        self.before_writing(deadline)?;
        (&*self.stream).write_all(frame).map_err(|error| self.write_failed(protocol::io_to_error(error), deadline))
    }

    fn before_writing(&self, deadline: Option<Instant>) -> Result<(), Error> {
        if self.conn.is_closed() {
            return Err(Error::Disconnected);
        }
        if let Some(error) = self.broken() {
            return Err(error);
        }
        let frame_timeout = self.conn.config.frame_timeout;
        if deadline.is_none() && self.write_timeout.get() == Some(frame_timeout) {
            return Ok(());
        }
        let timeout = match deadline {
            None => frame_timeout,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(self.give_up(Error::Timeout));
                }
                left.min(frame_timeout)
            }
        };
        if self.write_timeout.get() != Some(timeout) {
            self.stream.set_write_timeout(Some(timeout))?;
            self.write_timeout.set(Some(timeout));
        }
        Ok(())
    }

    /// A write that stalled: the call's deadline passed (this channel is
    /// given up), or the peer stopped reading for a whole frame timeout (the
    /// connection closes).
    fn write_failed(&self, error: Error, deadline: Option<Instant>) -> Error {
        match error {
            Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    // Part of a frame may be out: the channel can carry nothing more.
                    return self.give_up(Error::Timeout);
                }
                let error = Error::Protocol(format!(
                    "the peer stopped reading for {:?} in the middle of a frame",
                    self.conn.config.frame_timeout
                ));
                self.conn.close(Err(error.clone()));
                error
            }
            other => other,
        }
    }

    /// Gives up this thread's channel: the peer sees it end, and a reply that
    /// comes late can never be read as another call's. The next call opens a new one.
    fn give_up(&self, error: Error) -> Error {
        tracing::debug!(target: "ipc", conn = self.conn.id, %error, "giving up a channel");
        *self.broken.borrow_mut() = Some(error.clone());
        self.is_broken.set(true);
        self.stream.shutdown();
        let _ = LINKS.try_with(|links| links.borrow_mut().retain(|link| !Arc::ptr_eq(&link.stream, &self.stream)));
        error
    }

    /// Why this channel was given up, if it was.
    fn broken(&self) -> Option<Error> {
        if self.is_broken.get() { self.broken.borrow().clone() } else { None }
    }

    /// Serves frames on this channel until the reply to call `id` arrives, and
    /// returns it with the offset of what follows its header. With `None`,
    /// serves until the channel ends (a partner thread's life). Waiting ends
    /// at `deadline` with [`Error::Timeout`].
    ///
    /// Calls and releases of the `lent` objects are served from that list;
    /// everything else from the connection's table.
    pub(crate) fn wait(
        &self,
        until: Option<u64>,
        lent: &[(u64, &Lent<'_>)],
        deadline: Option<Instant>,
    ) -> Result<Option<(InFrame, usize)>, Error> {
        loop {
            if let Some(error) = self.broken() {
                return Err(error);
            }
            let frame = self.reader.borrow_mut().read(&*self.stream, &self.conn.limits(), deadline);
            let mut frame = match frame {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    self.release_deferred();
                    return if until.is_some() { Err(Error::Disconnected) } else { Ok(None) };
                }
                Err(Error::Timeout) => return Err(self.give_up(Error::Timeout)),
                Err(_) if self.conn.is_closed() => return Err(Error::Disconnected),
                Err(Error::Disconnected) => {
                    self.release_deferred();
                    return Err(self.broken().unwrap_or(Error::Disconnected));
                }
                Err(error) => {
                    // An oversized, stalled or broken frame on any channel ends the connection.
                    self.conn.close(Err(error.clone()));
                    return Err(error);
                }
            };
            // The peer has read our last reply: what it mentioned may go now.
            self.release_deferred();
            let (header, used) = match protocol::split_frame(&frame.inline) {
                Ok((header, rest)) => (header, frame.inline.len() - rest.len()),
                Err(error) => {
                    self.conn.close(Err(error.clone()));
                    return Err(error);
                }
            };
            match header {
                Header::Return { id, outcome } if Some(id) == until => {
                    return match outcome {
                        Ok(()) => Ok(Some((frame, used))),
                        Err(error) => Err(error.sanitized()),
                    };
                }
                Header::Call { id, object, method, check } => {
                    let InFrame { inline, blobs } = &mut frame;
                    self.serve_call(id, object, (method, check), (&inline[used..], blobs), lent)?
                }
                Header::Release { id, object } => self.serve_release(id, object, lent)?,
                Header::Refused { error } => return Err(self.give_up(error.sanitized())),
                other => {
                    let error = Error::Protocol(format!("unexpected frame on a call channel: {}", other.kind()));
                    self.conn.close(Err(error.clone()));
                    return Err(error);
                }
            }
        }
    }

    fn release_deferred(&self) {
        if self.has_deferred.replace(false) {
            let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
            drop(deferred);
        }
    }

    fn serve_call(
        &self,
        id: u64,
        object: u64,
        (method, check): (u64, u64),
        (args, blobs): (&[u8], &mut VecDeque<Vec<u8>>),
        lent: &[(u64, &Lent<'_>)],
    ) -> Result<(), Error> {
        let mut out = OutFrame::start(self.take_buffer(), &Header::Return { id, outcome: Ok(()) })?;
        let mut call = CallFrame::new((object, method, check), args, blobs, &mut out);
        let lent = lent.iter().find(|(lent, _)| *lent == object).map(|(_, dispatch)| *dispatch);
        let result = {
            // The target goes out of scope before the reply is sent: the
            // owner's `Drop` must never wait for this thread to let go of it.
            let exported = if lent.is_none() { self.conn.lookup(object) } else { None };
            let dispatch: Option<&Lent<'_>> = match (&lent, &exported) {
                (Some(lent), _) => Some(*lent),
                (None, Some(target)) => Some(&|conn: &Arc<Conn>, call: &mut CallFrame<'_>| target.dispatch(conn, call)),
                (None, None) => None,
            };
            match dispatch {
                None => Err(Error::UnknownObject(object)),
                Some(dispatch) => {
                    let _serving = ServingGuard::enter(&self.conn);
                    match panic::catch_unwind(AssertUnwindSafe(|| dispatch(&self.conn, &mut call))) {
                        Ok(result) => result,
                        Err(payload) => {
                            let message = panic_message(&*payload);
                            tracing::debug!(target: "ipc", conn = self.conn.id, %message, "method panicked");
                            Err(Error::RemotePanic(message))
                        }
                    }
                }
            }
        };
        let CallFrame { keep, exported, later, .. } = call;
        // An async method is served only on a task channel, where it can run as a task.
        let result = match later.started {
            Some(_) => Err(Error::Protocol("an async method was called on a thread's channel".into())),
            None => result,
        };
        let keep = conn::finish_reply(&self.conn, id, &mut out, result, (keep, exported))?;
        let sent = self.send(&out, None);
        self.give_buffer(out.into_buffer());
        if !keep.is_empty() {
            self.deferred.borrow_mut().extend(keep);
            self.has_deferred.set(true);
        }
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
                dropped.map_err(|payload| Error::RemotePanic(panic_message(&*payload)))
            }
            None => Err(Error::UnknownObject(object)),
        };
        let frame = protocol::simple_frame(&Header::Return { id, outcome }, &[], self.conn.config.max_frame_bytes)?;
        self.send_raw(&frame, None)
    }
}

/// Opens a channel for the current thread: the peer starts its partner thread.
fn open_channel(conn: &Arc<Conn>) -> Result<Arc<dyn Stream>, Error> {
    open_named_channel(conn, thread::current().name().unwrap_or("unnamed"))
}

/// A peer's thread name as this side's partner thread is named: printable,
/// and short enough for the operating system.
fn partner_name(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
    format!("ipc:{clean}")
}

/// Starts the partner thread of a peer's calling thread `name`, serving
/// `stream`, unless the connection runs as many as it may: then the peer's
/// thread learns why from the first frame on its channel.
pub(crate) fn start_partner(conn: &Arc<Conn>, name: &str, stream: Arc<dyn Stream>) {
    conn.register_channel(&stream);
    if conn.is_closed() {
        return;
    }
    let limit = conn.config.max_partner_threads;
    if conn.partners.fetch_add(1, Ordering::AcqRel) >= limit {
        conn.partners.fetch_sub(1, Ordering::AcqRel);
        let error = Error::LimitExceeded { what: "partner threads".into(), limit: limit as u64 };
        tracing::warn!(target: "ipc", conn = conn.id, %error, "refused a new calling thread of the peer");
        refuse(conn, &*stream, error);
        return;
    }
    let partner_conn = conn.clone();
    let tasks = name == tasks::TASKS_CHANNEL;
    let thread_name = if tasks { format!("ipc-tasks-{}", conn.id) } else { partner_name(name) };
    let spawned = thread::Builder::new().name(thread_name).spawn(move || {
        let conn = partner_conn;
        // Counted back however the thread ends.
        struct Partner(Arc<Conn>);
        impl Drop for Partner {
            fn drop(&mut self) {
                self.0.partners.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _partner = Partner(conn.clone());
        let served = panic::catch_unwind(AssertUnwindSafe(|| {
            if tasks {
                return tasks::serve(&conn, stream);
            }
            let link = Link::new(conn.clone(), stream);
            let _ = LINKS.try_with(|links| links.borrow_mut().push(link.clone()));
            tracing::trace!(target: "ipc", conn = conn.id, "partner thread started");
            if let Err(error) = link.wait(None, &[], None) {
                tracing::debug!(target: "ipc", conn = conn.id, %error, "partner thread ends");
            }
            let _ = LINKS.try_with(|links| links.borrow_mut().retain(|l| !Rc::ptr_eq(l, &link)));
        }));
        if let Err(payload) = served {
            let error = Error::Protocol(format!("a partner thread panicked: {}", panic_message(&*payload)));
            conn.close(Err(error));
        }
    });
    if let Err(error) = spawned {
        // The stream went with the closure that did not run: the peer's thread sees it end.
        conn.partners.fetch_sub(1, Ordering::AcqRel);
        tracing::error!(target: "ipc", conn = conn.id, %error, "could not start a partner thread");
    }
}

/// Tells the peer's thread why its channel will not be served, and closes it.
fn refuse(conn: &Conn, stream: &dyn Stream, error: Error) {
    if let Ok(frame) = protocol::simple_frame(&Header::Refused { error }, &[], conn.config.max_frame_bytes) {
        // A fresh channel's buffer is empty: this small write does not block.
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        let _ = (&*stream).write_all(&frame);
    }
    stream.shutdown();
}

/// Drops one remote reference to the peer's object `object`, and waits
/// (until `deadline`) for the peer to drop the object if that was the last.
pub(crate) fn release(conn: &Arc<Conn>, object: u64, deadline: Option<Instant>) -> Result<(), Error> {
    if conn.forked() {
        return Ok(());
    }
    if tasks::in_async_context() {
        // Never block an executor thread on the peer: the release goes out
        // on the task channel, ahead of this side's next async call.
        return tasks::release_in_background(conn, object)
            .or_else(|_| conn.send_control(&Header::ReleaseLater { object }));
    }
    let link = match Link::current(conn) {
        Ok(link) => link,
        Err(_) if !conn.is_closed() => {
            // This thread is exiting and cannot open a channel: release
            // without waiting, through the control stream.
            return conn.send_control(&Header::ReleaseLater { object });
        }
        Err(error) => return Err(error),
    };
    let id = link.next_call_id();
    let frame = protocol::simple_frame(&Header::Release { id, object }, &[], conn.config.max_frame_bytes)?;
    match link.send_raw(&frame, deadline) {
        Ok(()) => link.wait(Some(id), &[], deadline).map(drop),
        // This thread's channel is gone (its peer thread ended) but the
        // connection lives: the release still has to reach the owner.
        Err(Error::Disconnected) if !conn.is_closed() => conn.send_control(&Header::ReleaseLater { object }),
        Err(error) => Err(error),
    }
}

/// Serves a channel until it ends, as a partner thread would.
#[cfg(test)]
pub(crate) fn serve_channel_for_test(conn: Arc<Conn>, stream: Arc<dyn Stream>) {
    let _ = Link::new(conn, stream).wait(None, &[], None);
}

#[cfg(test)]
mod tests {
    use std::{io::Write, net::Shutdown, net::TcpStream, sync::Arc, thread, time::Duration};

    use super::*;
    use crate::{
        codec,
        conn::{Config, Target},
        transport::tcp::{loopback_pair, test_transport},
    };

    /// A connection and a channel whose peer end the test drives by hand.
    fn link() -> ((Arc<Conn>, Arc<dyn Stream>), TcpStream) {
        let (transport, _peer_control) = test_transport();
        let conn = Conn::new(transport, Config::default(), false, None);
        let (ours, theirs) = loopback_pair();
        theirs.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        ((conn, Arc::new(ours)), theirs)
    }

    /// Serves the channel on a thread of its own, as a partner thread would.
    fn serve(
        (conn, stream): (Arc<Conn>, Arc<dyn Stream>),
        until: Option<u64>,
    ) -> thread::JoinHandle<Result<(), Error>> {
        thread::spawn(move || Link::new(conn, stream).wait(until, &[], None).map(drop))
    }

    fn frame(header: &Header, payload: &[u8]) -> Vec<u8> {
        protocol::simple_frame(header, payload, 1 << 20).unwrap()
    }

    fn reply(reader: &mut FrameReader, peer: &TcpStream) -> Header {
        let frame = reader.read(peer, &protocol::Limits::unbounded(1 << 20), None).unwrap().expect("a reply");
        protocol::split_frame(&frame.inline).unwrap().0
    }

    /// Answers every call with the sum of two u32 arguments.
    struct Adder;

    impl Target for Adder {
        fn dispatch(&self, _conn: &Arc<Conn>, call: &mut CallFrame<'_>) -> Result<(), Error> {
            match call.method {
                7 => {
                    let (a, used): (u32, usize) = codec::decode_from(call.args, "a")?;
                    let (b, _): (u32, usize) = codec::decode_from(&call.args[used..], "b")?;
                    codec::encode_into(&mut call.out.inline, &(a + b), "result")
                }
                _ => Err(Error::UnknownMethod { interface: "Adder".into(), method: "?".into() }),
            }
        }

        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    #[test]
    fn unknown_objects_methods_and_bad_arguments_get_error_replies() {
        let (link, mut peer) = link();
        let id = link.0.export(Arc::new(Adder)).unwrap();
        let mut args = Vec::new();
        codec::encode_into(&mut args, &2u32, "a").unwrap();
        codec::encode_into(&mut args, &3u32, "b").unwrap();
        let add = 7;
        peer.write_all(&frame(&Header::Call { id: 1, object: id, method: add, check: 0 }, &args)).unwrap();
        peer.write_all(&frame(&Header::Call { id: 2, object: 99, method: add, check: 0 }, &args)).unwrap();
        peer.write_all(&frame(&Header::Call { id: 3, object: id, method: 9, check: 0 }, &[])).unwrap();
        peer.write_all(&frame(&Header::Call { id: 4, object: id, method: add, check: 0 }, &[0xff])).unwrap();
        peer.write_all(&frame(&Header::Release { id: 5, object: 1234 }, &[])).unwrap();
        drop(peer.try_clone().unwrap().shutdown(Shutdown::Write));
        let server = serve(link, None);
        let replies = &mut FrameReader::new();
        assert!(matches!(reply(replies, &peer), Header::Return { id: 1, outcome: Ok(()) }));
        assert!(matches!(reply(replies, &peer), Header::Return { id: 2, outcome: Err(Error::UnknownObject(99)) }));
        assert!(matches!(reply(replies, &peer), Header::Return { id: 3, outcome: Err(Error::UnknownMethod { .. }) }));
        assert!(matches!(reply(replies, &peer), Header::Return { id: 4, outcome: Err(Error::Decode { .. }) }));
        assert!(matches!(reply(replies, &peer), Header::Return { id: 5, outcome: Err(Error::UnknownObject(1234)) }));
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
    fn a_return_for_another_call_is_a_protocol_error() {
        let (link, mut peer) = link();
        peer.write_all(&frame(&Header::Return { id: 42, outcome: Ok(()) }, &[])).unwrap();
        let outcome = serve(link, Some(1)).join().expect("no panic");
        assert!(matches!(outcome, Err(Error::Protocol(_))), "{outcome:?}");
    }
}
