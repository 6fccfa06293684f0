//! The two ends of a connection over a transport whose channels are dialled
//! (TCP, named pipes). The listening end is a [`Hub`]: it accepts streams,
//! runs each one's handshake on a thread of its own, and tells a new
//! connection from a channel of one it already has. The dialling end opens a
//! connection with [`open_connection`].
//!
//! Every stream starts with the transport's handshake (Noise, when there is a
//! secret) and then one [`Open`] message saying what it is for. A stream that
//! fails either is closed without a word, and costs no bootstrap object.

use std::{
    collections::HashMap,
    sync::{
        Arc, Condvar, Mutex, Weak,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use crate::{
    Error,
    conn::Conn,
    engine,
    secret::Secret,
    transport::{
        Stream,
        dial::{
            Accepted, Acceptor, Dial, Open, Tickets, Token, new_token, read_preamble, secure_initiate, secure_respond,
            send_preamble,
        },
    },
};

/// At most this many streams are in their handshake at once; the next ones
/// wait in the backlog. Each handshake is bounded by the handshake timeout.
const MAX_HANDSHAKES: usize = 64;

/// Channels that arrive before their connection is ready to serve them (the
/// client's first calls may overtake the end of the server's handshake) wait,
/// up to this many.
const MAX_EARLY: usize = 64;

/// What a [`Hub`] does with each new connection: `control` has completed its
/// handshake and been given its token; `entry` must be attached to the
/// connection once it exists, so that its channels reach it.
pub(crate) type Handler = Box<dyn Fn(Box<dyn Stream>, &Arc<Entry>) + Send + Sync>;

/// How a hub accepts.
pub(crate) struct HubOptions {
    /// The address, for messages.
    pub(crate) address: String,
    /// Without one, streams are not encrypted (named pipes only their owner can open).
    pub(crate) secret: Option<Secret>,
    pub(crate) handshake_timeout: Duration,
    /// Connections served at once, at most.
    pub(crate) max_connections: usize,
}

/// A listener of a dialled transport.
pub(crate) struct Hub {
    shared: Arc<Shared>,
}

struct Shared {
    options: HubOptions,
    acceptor: Arc<dyn Acceptor>,
    handler: Handler,
    /// The connections whose channels this hub accepts, by token.
    connections: Mutex<HashMap<Token, Arc<Entry>>>,
    /// Once set, no new connection is accepted; the acceptor ends when the
    /// last connection has.
    stopping: AtomicBool,
    /// Connections being served, for `max_connections`.
    active: Counter,
    /// Streams in their handshake.
    handshaking: Counter,
}

/// A count with a condition to wait on.
#[derive(Default)]
struct Counter {
    count: Mutex<usize>,
    changed: Condvar,
}

impl Counter {
    fn get(&self) -> usize {
        *self.count.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds one once the count is below `limit`, waiting until `deadline`
    /// (if any) and while `go_on` holds.
    fn enter(&self, limit: usize, deadline: Option<Instant>, go_on: impl Fn() -> bool) -> bool {
        let mut count = self.count.lock().unwrap_or_else(|p| p.into_inner());
        while *count >= limit {
            if !go_on() {
                return false;
            }
            count = match deadline {
                None => self.changed.wait(count).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.changed.wait_timeout(count, left).unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
        *count += 1;
        true
    }

    fn leave(&self) {
        *self.count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        self.changed.notify_all();
    }

    fn wake(&self) {
        let _count = self.count.lock().unwrap_or_else(|p| p.into_inner());
        self.changed.notify_all();
    }
}

/// Leaves a [`Counter`] however the holder ends.
struct Entered<'a>(&'a Counter);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// One connection of a hub: where its channels go.
pub(crate) struct Entry {
    token: Token,
    /// The channels the server asked its client to dial.
    pub(crate) tickets: Arc<Tickets>,
    state: Mutex<EntryState>,
    hub: Weak<Shared>,
}

#[derive(Default)]
struct EntryState {
    conn: Option<Weak<Conn>>,
    early: Vec<(String, Arc<dyn Stream>)>,
}

impl Entry {
    /// Channels of this entry now reach `conn`, those that came early first.
    /// The entry goes when the connection closes.
    pub(crate) fn attach(self: &Arc<Self>, conn: &Arc<Conn>) {
        let early = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.conn = Some(Arc::downgrade(conn));
            std::mem::take(&mut state.early)
        };
        for (name, stream) in early {
            engine::start_partner(conn, &name, stream);
        }
        let entry = self.clone();
        conn.on_close(Box::new(move || entry.detach()));
    }

    fn is_attached(&self) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).conn.is_some()
    }

    /// A channel for a calling thread of the client.
    fn partner(&self, name: String, stream: Arc<dyn Stream>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.conn.as_ref().map(Weak::upgrade) {
            Some(Some(conn)) => {
                drop(state);
                engine::start_partner(&conn, &name, stream);
            }
            // The connection is gone; the stream closes.
            Some(None) => {}
            None if state.early.len() < MAX_EARLY => state.early.push((name, stream)),
            None => tracing::warn!(target: "ipc", "closed a channel that came before its connection was ready"),
        }
    }

    fn detach(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).early.clear();
        if let Some(hub) = self.hub.upgrade() {
            hub.remove(&self.token);
        }
    }
}

impl Hub {
    /// Starts accepting from `acceptor`, handing each new connection to `handler`.
    pub(crate) fn start(acceptor: Arc<dyn Acceptor>, options: HubOptions, handler: Handler) -> Result<Hub, Error> {
        let shared = Arc::new(Shared {
            options,
            acceptor,
            handler,
            connections: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            active: Counter::default(),
            handshaking: Counter::default(),
        });
        let accepting = shared.clone();
        thread::Builder::new().name("ipc-listen".into()).spawn(move || accepting.accept_loop())?;
        Ok(Hub { shared })
    }

    /// Connections being served now.
    pub(crate) fn connections(&self) -> usize {
        self.shared.active.get()
    }

    /// Accepts no new connection from now on. Channels of the connections it
    /// has are still accepted until the last of them ends.
    pub(crate) fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.active.wake();
        if self.shared.finished() {
            self.shared.acceptor.wake();
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    /// Whether the acceptor may end: stopped, and no connection left.
    fn finished(&self) -> bool {
        self.stopping.load(Ordering::Acquire) && self.connections.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    fn remove(&self, token: &Token) {
        let empty = {
            let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
            connections.remove(token);
            connections.is_empty()
        };
        if empty && self.stopping.load(Ordering::Acquire) {
            self.acceptor.wake();
        }
    }

    fn accept_loop(self: Arc<Self>) {
        let address = &self.options.address;
        loop {
            self.handshaking.enter(MAX_HANDSHAKES, None, || true);
            let entered = Entered(&self.handshaking);
            if self.finished() {
                return;
            }
            let raw = match self.acceptor.accept() {
                Ok(raw) => raw,
                Err(_) if self.finished() => return,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::warn!(target: "ipc", address, %error, "accept failed");
                    // Out of descriptors, say: do not spin.
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if self.finished() {
                return;
            }
            std::mem::forget(entered);
            let shared = self.clone();
            let spawned = thread::Builder::new().name("ipc-accept".into()).spawn(move || shared.handshake(raw));
            if let Err(error) = spawned {
                self.handshaking.leave();
                tracing::error!(target: "ipc", address, %error, "could not start a thread for a new stream");
            }
        }
    }

    /// Runs on a thread of its own, which serves the connection if the
    /// stream opens one.
    fn handshake(self: Arc<Self>, raw: Box<dyn Stream>) {
        let handshaking = Entered(&self.handshaking);
        let address = &self.options.address;
        let deadline = Instant::now() + self.options.handshake_timeout;
        let opened = secure_respond(raw, self.options.secret.as_ref(), deadline)
            .and_then(|stream| Ok((read_preamble::<Open>(&*stream, deadline)?, stream)));
        let (open, stream) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                tracing::info!(target: "ipc", address, %error, "refused a stream");
                return;
            }
        };
        match open {
            Open::Connection => {
                let go_on = || !self.stopping.load(Ordering::Acquire);
                if !self.active.enter(self.options.max_connections, Some(deadline), go_on) {
                    tracing::info!(target: "ipc", address, "closed a new connection: the listener is full or stopping");
                    return;
                }
                let _active = Entered(&self.active);
                let Some(entry) = self.register() else { return };
                if let Err(error) = send_preamble(&*stream, &Accepted { token: entry.token }) {
                    tracing::info!(target: "ipc", address, %error, "a new connection went away");
                    self.remove(&entry.token);
                    return;
                }
                drop(handshaking);
                (self.handler)(stream, &entry);
                if !entry.is_attached() {
                    self.remove(&entry.token);
                }
            }
            Open::Channel { token, ticket, name } => {
                let entry = self.connections.lock().unwrap_or_else(|p| p.into_inner()).get(&token).cloned();
                let Some(entry) = entry else {
                    tracing::info!(target: "ipc", address, "closed a channel for no connection of this listener");
                    return;
                };
                let stream: Arc<dyn Stream> = Arc::from(stream);
                if ticket == 0 {
                    entry.partner(name, stream);
                } else if !entry.tickets.deliver(ticket, stream) {
                    tracing::info!(target: "ipc", address, ticket, "closed a channel nobody waits for");
                }
            }
        }
    }

    /// A new connection with a new token, unless the hub is stopping.
    fn register(self: &Arc<Self>) -> Option<Arc<Entry>> {
        let token = match new_token() {
            Ok(token) => token,
            Err(error) => {
                tracing::error!(target: "ipc", %error, "no random token for a new connection");
                return None;
            }
        };
        let entry =
            Arc::new(Entry { token, tickets: Arc::default(), state: Mutex::default(), hub: Arc::downgrade(self) });
        let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if self.stopping.load(Ordering::Acquire) {
            return None;
        }
        connections.insert(token, entry.clone());
        Some(entry)
    }
}

/// Opens a connection to a hub through `dial`, by `timeout`: the transport's
/// handshake, then `Open::Connection`, then the token the hub gives it.
/// Whatever fails is [`Error::Connect`] naming the address.
pub(crate) fn open_connection(
    dial: &dyn Dial,
    secret: Option<&Secret>,
    timeout: Duration,
) -> Result<(Box<dyn Stream>, Token), Error> {
    let address = dial.describe();
    let failed = |message: String| Error::Connect { address: address.clone(), message };
    let deadline = Instant::now() + timeout;
    let raw = dial.dial().map_err(|error| failed(error.to_string()))?;
    let control = secure_initiate(raw, secret, deadline).map_err(|error| match error {
        Error::Protocol(message) => failed(message),
        Error::Disconnected => failed("the listener closed the connection during the handshake".into()),
        other => failed(other.to_string()),
    })?;
    send_preamble(&*control, &Open::Connection).map_err(|error| failed(error.to_string()))?;
    let accepted: Accepted = read_preamble(&*control, deadline).map_err(|error| match error {
        Error::Disconnected => failed("the listener closed the connection (full, stopping, or another secret)".into()),
        other => failed(other.to_string()),
    })?;
    Ok((control, accepted.token))
}
