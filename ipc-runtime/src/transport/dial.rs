//! Transports that cannot pass a descriptor to the peer (TCP, Windows named
//! pipes): a calling thread's channel is a new connection to the listener's
//! address, secured like the first, that presents the connection's token.
//!
//! Only the client can dial. When the server needs a channel (one of its
//! threads calls a callback of the client's), it sends `DialRequest` with a
//! ticket on the control stream; the client dials, presents token and ticket,
//! and serves the new channel with a partner thread; the listener hands the
//! stream to the server thread that waits for that ticket.

use std::{
    collections::HashMap,
    io,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{ControlFrame, MAX_CONTROL_FRAME, Stream, Transport, noise::NoiseStream};
use crate::{
    Error, codec,
    protocol::{self, FrameReader, Header, InFrame, Limits},
    secret::Secret,
};

/// Opens a raw stream to the listener.
pub(crate) trait Dial: Send + Sync + 'static {
    fn dial(&self) -> io::Result<Box<dyn Stream>>;
    /// The address, for messages.
    fn describe(&self) -> String;
}

/// Accepts raw streams for a listener of a dialled transport.
pub(crate) trait Acceptor: Send + Sync + 'static {
    /// Waits for the next stream.
    fn accept(&self) -> io::Result<Box<dyn Stream>>;
    /// Makes a blocked [`Acceptor::accept`] return, by connecting to itself.
    fn wake(&self);
}

/// Runs the handshake on a stream we dialled: with a secret, Noise; without
/// one (a named pipe only its owner can open), the stream as it is.
pub(crate) fn secure_initiate(
    raw: Box<dyn Stream>,
    secret: Option<&Secret>,
    deadline: Instant,
) -> Result<Box<dyn Stream>, Error> {
    match secret {
        Some(secret) => Ok(Box::new(NoiseStream::initiate(raw, secret, deadline)?)),
        None => Ok(raw),
    }
}

/// Runs the handshake on a stream we accepted; see [`secure_initiate`].
pub(crate) fn secure_respond(
    raw: Box<dyn Stream>,
    secret: Option<&Secret>,
    deadline: Instant,
) -> Result<Box<dyn Stream>, Error> {
    match secret {
        Some(secret) => Ok(Box::new(NoiseStream::respond(raw, secret, deadline)?)),
        None => Ok(raw),
    }
}

/// A connection's token: a channel presents it to say which connection it
/// belongs to. It never leaves the encrypted streams.
pub(crate) type Token = [u8; 16];

/// A new random token.
pub(crate) fn new_token() -> Result<Token, Error> {
    let mut token = [0; 16];
    getrandom::fill(&mut token).map_err(|error| Error::Io(Arc::new(io::Error::other(error.to_string()))))?;
    Ok(token)
}

/// The first encrypted message on a dialled stream: what it is for.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Open {
    /// A new connection; the listener answers with [`Accepted`].
    Connection,
    /// A channel of the connection `token`: for a calling thread of the
    /// client named `name` (`ticket` 0), or the one the server asked for with
    /// `ticket`.
    Channel { token: Token, ticket: u64, name: String },
}

/// The listener's answer to [`Open::Connection`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Accepted {
    pub(crate) token: Token,
}

/// The most a preamble message may take.
const MAX_PREAMBLE: usize = 4096;

/// The longest thread name a channel's preamble carries.
const MAX_NAME: usize = 256;

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Sends a preamble message as one frame.
pub(crate) fn send_preamble<T: Serialize>(stream: &dyn Stream, message: &T) -> Result<(), Error> {
    let mut payload = Vec::new();
    codec::encode_into(&mut payload, message, "preamble")?;
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&payload);
    io::Write::write_all(&mut &*stream, &frame).map_err(protocol::io_to_error)
}

/// Reads a preamble message by `deadline`.
pub(crate) fn read_preamble<T: DeserializeOwned>(stream: &dyn Stream, deadline: Instant) -> Result<T, Error> {
    let mut len = [0; 4];
    read_exact(stream, &mut len, deadline)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_PREAMBLE {
        return Err(Error::FrameTooLarge { size: len as u64, max: MAX_PREAMBLE as u64 });
    }
    let mut payload = vec![0; len];
    read_exact(stream, &mut payload, deadline)?;
    codec::decode_from(&payload, "preamble").map(|(message, _)| message)
}

fn read_exact(stream: &dyn Stream, buf: &mut [u8], deadline: Instant) -> Result<(), Error> {
    let mut filled = 0;
    while filled < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Protocol("the peer did not say what it connects for in time".into()));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(Error::Disconnected),
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(Error::Protocol("the peer did not say what it connects for in time".into()));
            }
            Err(error) => return Err(protocol::io_to_error(error)),
        }
    }
    stream.set_read_timeout(None)?;
    Ok(())
}

/// The channels a server asked its client to dial, by ticket.
#[derive(Debug, Default)]
pub(crate) struct Tickets {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, mpsc::SyncSender<Arc<dyn Stream>>>>,
}

impl Tickets {
    fn take(&self) -> (u64, mpsc::Receiver<Arc<dyn Stream>>) {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (sender, receiver) = mpsc::sync_channel(1);
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).insert(ticket, sender);
        (ticket, receiver)
    }

    fn forget(&self, ticket: u64) {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&ticket);
    }

    /// Hands the channel dialled for `ticket` to the thread waiting for it.
    /// `false` if nobody waits for that ticket (any more).
    pub(crate) fn deliver(&self, ticket: u64, stream: Arc<dyn Stream>) -> bool {
        let waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&ticket);
        waiting.is_some_and(|sender| sender.try_send(stream).is_ok())
    }
}

/// Which end of the connection this is: the one that dials, or the one that
/// accepts. (Either may serve the bootstrap object.)
enum Side {
    Client { dial: Arc<dyn Dial>, secret: Option<Secret>, token: Token },
    Server { tickets: Arc<Tickets> },
}

/// A connection whose channels are dialled.
pub(crate) struct DialTransport {
    control: Box<dyn Stream>,
    write: Mutex<()>,
    read: Mutex<FrameReader>,
    /// Bytes held in a partial control frame.
    held: AtomicUsize,
    side: Side,
    /// How long dialling a channel (and waiting for one) may take.
    timeout: Duration,
}

impl DialTransport {
    /// The client's end: it dials `dial` for each channel.
    pub(crate) fn client(
        control: Box<dyn Stream>,
        dial: Arc<dyn Dial>,
        secret: Option<Secret>,
        token: Token,
        timeout: Duration,
    ) -> Self {
        DialTransport::new(control, Side::Client { dial, secret, token }, timeout)
    }

    /// The server's end: channels arrive through the listener.
    pub(crate) fn server(control: Box<dyn Stream>, tickets: Arc<Tickets>, timeout: Duration) -> Self {
        DialTransport::new(control, Side::Server { tickets }, timeout)
    }

    fn new(control: Box<dyn Stream>, side: Side, timeout: Duration) -> Self {
        DialTransport {
            control,
            write: Mutex::new(()),
            read: Mutex::new(FrameReader::new()),
            held: AtomicUsize::new(0),
            side,
            timeout,
        }
    }
}

/// Dials a channel of connection `token`, by `timeout`.
fn dial_channel(
    dial: &dyn Dial,
    secret: Option<&Secret>,
    open: &Open,
    timeout: Duration,
) -> Result<Arc<dyn Stream>, Error> {
    let deadline = Instant::now() + timeout;
    let raw = dial.dial().map_err(|error| Error::Connect { address: dial.describe(), message: error.to_string() })?;
    let stream = secure_initiate(raw, secret, deadline)?;
    send_preamble(&*stream, open)?;
    Ok(Arc::from(stream))
}

impl Transport for DialTransport {
    fn control(&self) -> &dyn Stream {
        &*self.control
    }

    fn send_control(&self, frame: &[u8]) -> Result<(), Error> {
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        io::Write::write_all(&mut &*self.control, frame).map_err(protocol::io_to_error)
    }

    fn open_channel(&self, name: &str, _announce: &[u8]) -> Result<Arc<dyn Stream>, Error> {
        // A thread's name only labels its partner; a long one is cut to fit a preamble.
        let name = truncate(name, MAX_NAME);
        match &self.side {
            Side::Client { dial, secret, token } => {
                let open = Open::Channel { token: *token, ticket: 0, name: name.to_owned() };
                dial_channel(&**dial, secret.as_ref(), &open, self.timeout)
            }
            Side::Server { tickets } => {
                let (ticket, arrived) = tickets.take();
                let request = Header::DialRequest { ticket, name: name.to_owned() };
                let sent = protocol::simple_frame(&request, &[], MAX_CONTROL_FRAME).and_then(|f| self.send_control(&f));
                let outcome = sent.and_then(|()| {
                    arrived.recv_timeout(self.timeout).map_err(|_| {
                        Error::Protocol(format!(
                            "the peer did not open a channel for this thread within {:?}",
                            self.timeout
                        ))
                    })
                });
                tickets.forget(ticket);
                outcome
            }
        }
    }

    fn read_control(&self, frame_timeout: Duration) -> Result<Option<ControlFrame>, Error> {
        let mut reader = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let limits = Limits {
            max_frame: MAX_CONTROL_FRAME,
            held: &self.held,
            max_held: MAX_CONTROL_FRAME,
            frame_timeout: Some(frame_timeout),
        };
        loop {
            let Some(frame) = reader.read(&*self.control, &limits, None)? else { return Ok(None) };
            let Side::Client { dial, secret, token } = &self.side else {
                return Ok(Some(ControlFrame { frame, channels: Vec::new() }));
            };
            // The server asks for a channel: dial it, and let the control
            // loop start the partner thread that serves it.
            let Ok((Header::DialRequest { ticket, name }, _)) = protocol::split_frame(&frame.inline) else {
                return Ok(Some(ControlFrame { frame, channels: Vec::new() }));
            };
            let open = Open::Channel { token: *token, ticket, name: truncate(&name, MAX_NAME).to_owned() };
            match dial_channel(&**dial, secret.as_ref(), &open, self.timeout) {
                Ok(stream) => {
                    let inline = protocol::simple_frame(&Header::NewThread { name }, &[], MAX_CONTROL_FRAME)?;
                    // What `split_frame` expects: the inline part alone.
                    let inline = inline[protocol::PREFIX..inline.len() - 2].to_vec();
                    return Ok(Some(ControlFrame {
                        frame: InFrame { inline, blobs: Default::default() },
                        channels: vec![stream],
                    }));
                }
                Err(error) => {
                    // The server's thread gives up waiting; the connection goes on.
                    tracing::warn!(target: "ipc", %error, "could not open the channel the peer asked for");
                }
            }
        }
    }

    fn shutdown(&self) {
        self.control.shutdown();
    }
}
