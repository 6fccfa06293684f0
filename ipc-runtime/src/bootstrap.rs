//! Starting a connection: the handshake, the control loop that runs for the
//! connection's life, and the entry points that serve or connect over a
//! stream ([`serve_stream`], [`connect_stream`], [`pair`]) or a dialled
//! transport.

#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::{
    io,
    panic::{self, AssertUnwindSafe},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use crate::{
    Error,
    conn::{self, BOOTSTRAP, Config, Conn},
    contract::{self, PeerContract},
    dialled, engine,
    error::{sanitize, sanitize_to},
    interface::Interface,
    objects::ObjectTarget,
    protocol::{self, Header, Hello, PROTOCOL_VERSION},
    proxy::ProxyCore,
    secret::Secret,
    transport::{
        Stream, Transport,
        dial::{Dial, DialTransport},
    },
};

#[cfg(unix)]
use crate::transport::unix::UnixTransport;

/// Which side of the handshake we are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Asked for the bootstrap interface; closes when its last proxy is dropped.
    Client,
    /// Serves the bootstrap object; lives until the peer goes away.
    Server,
}

/// Exchanges `Hello`s, all within `config.handshake_timeout`. Returns the
/// peer's contract when it differs from ours.
fn handshake<I: ?Sized + Interface>(control: &dyn Stream, config: &Config) -> Result<Option<PeerContract>, Error> {
    let deadline = Instant::now() + config.handshake_timeout;
    let closure = contract::closure(I::contract);
    let fingerprint = contract::fingerprint(&closure);
    let ours = Hello { version: PROTOCOL_VERSION, interface: I::WIRE.to_string(), fingerprint, contract: closure };
    control.set_write_timeout(Some(config.handshake_timeout))?;
    send_raw(control, &Header::Hello(ours.clone()))?;
    // Exactly one frame is read here: what follows it (a first NewThread and
    // the socket that travels with it) belongs to the control loop.
    let body = read_hello_frame(control, deadline, config.handshake_timeout);
    control.set_read_timeout(None)?;
    control.set_write_timeout(None)?;
    let theirs = match protocol::split_frame(&body?)? {
        (Header::Hello(hello), _) => hello,
        (other, _) => return Err(Error::Protocol(format!("expected Hello, got {}", other.kind()))),
    };
    if theirs.version != PROTOCOL_VERSION {
        return Err(Error::ProtocolVersion { local: PROTOCOL_VERSION, remote: theirs.version });
    }
    let theirs = Hello { interface: sanitize(&theirs.interface), ..theirs };
    if theirs.interface != ours.interface {
        return Err(Error::InterfaceMismatch { local: ours.describe(), remote: theirs.describe() });
    }
    if theirs.fingerprint == ours.fingerprint && theirs.contract == ours.contract {
        return Ok(None);
    }
    let differences = sanitize_to(&contract::closure_differences(&ours.contract, &theirs.contract).join("; "), 8192);
    if config.strict_contract {
        return Err(Error::InterfaceMismatch {
            local: ours.describe(),
            remote: format!("{} ({differences})", theirs.describe()),
        });
    }
    tracing::info!(
        target: "ipc",
        interface = %ours.interface,
        "the peer was built with other versions of these interfaces; each call is checked: {differences}"
    );
    Ok(Some(PeerContract::new(theirs.contract)))
}

fn send_raw(stream: &dyn Stream, header: &Header) -> Result<(), Error> {
    let frame = protocol::simple_frame(header, &[], usize::MAX)?;
    io::Write::write_all(&mut &*stream, &frame).map_err(protocol::io_to_error)
}

/// A Hello is small; a peer announcing more is not speaking our protocol.
const MAX_HELLO: usize = 1 << 20;

/// Reads exactly one frame by `deadline`, which must carry no blobs, and
/// returns its inline part. It grows as its bytes arrive: a peer that
/// announces a megabyte and sends nothing holds nothing.
fn read_hello_frame(control: &dyn Stream, deadline: Instant, timeout: Duration) -> Result<Vec<u8>, Error> {
    let read_exact = |buf: &mut Vec<u8>, n: usize| -> Result<(), Error> {
        let mut chunk = [0; 4096];
        while buf.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Protocol(format!("no Hello from the peer within {timeout:?}")));
            }
            control.set_read_timeout(Some(left))?;
            let want = (n - buf.len()).min(chunk.len());
            match control.read(&mut chunk[..want]) {
                Ok(0) => return Err(Error::Disconnected),
                Ok(read) => buf.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(Error::Protocol(format!("no Hello from the peer within {timeout:?}")));
                }
                Err(error) => return Err(protocol::io_to_error(error)),
            }
        }
        Ok(())
    };
    // The total is checked as soon as it is here, without waiting for more.
    let mut prefix = Vec::with_capacity(protocol::PREFIX);
    read_exact(&mut prefix, 4)?;
    let total = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if total > MAX_HELLO {
        return Err(Error::FrameTooLarge { size: total as u64, max: MAX_HELLO as u64 });
    }
    read_exact(&mut prefix, protocol::PREFIX)?;
    let inline = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]) as usize;
    // The rest: the inline part, then a blob count that must be zero.
    if total.checked_sub(4 + 2) != Some(inline) {
        return Err(Error::Protocol("a Hello carries no blobs".into()));
    }
    let mut rest = Vec::new();
    read_exact(&mut rest, inline + 2)?;
    if rest[inline..] != [0, 0] {
        return Err(Error::Protocol("a Hello carries no blobs".into()));
    }
    rest.truncate(inline);
    Ok(rest)
}

/// Reads the control stream until the connection ends, starting a partner
/// thread for every new calling thread of the peer. However it ends (a
/// panic included), the connection closes.
fn control_loop(conn: &Arc<Conn>) -> Result<(), Error> {
    conn::as_control_reader(|| {
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| read_control(conn))) {
            Ok(outcome) => outcome,
            Err(payload) => {
                Err(Error::Protocol(format!("the control thread panicked: {}", engine::panic_message(&*payload))))
            }
        };
        conn.close(outcome.clone());
        outcome
    })
}

fn read_control(conn: &Arc<Conn>) -> Result<(), Error> {
    loop {
        let control = match conn.transport.read_control(conn.config.frame_timeout) {
            Ok(Some(control)) => control,
            Ok(None) => break Ok(()),
            Err(_) if conn.is_closed() => break Ok(()),
            Err(Error::Disconnected) => break Ok(()),
            Err(error) => break Err(error),
        };
        let header = match protocol::split_frame(&control.frame.inline) {
            Ok((header, _)) => header,
            Err(error) => break Err(error),
        };
        let mut channels = control.channels.into_iter();
        match header {
            Header::NewThread { name } => match channels.next() {
                Some(stream) => engine::start_partner(conn, &name, stream),
                None => break Err(Error::Protocol("NewThread without a socket".into())),
            },
            Header::ReleaseLater { object } => {
                if let Some(target) = conn.unexport(object) {
                    conn.drop_later(target);
                }
            }
            Header::Goodbye => break Ok(()),
            other => break Err(Error::Protocol(format!("unexpected {} frame on the control stream", other.kind()))),
        }
        // A descriptor that came with a frame that takes none is closed, not kept.
        let extra = channels.len();
        if extra > 0 {
            drop(channels);
            tracing::warn!(target: "ipc", conn = conn.id, extra, "closed descriptors the peer sent with a frame that takes none");
        }
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
#[cfg(unix)]
pub fn serve_stream<I: ?Sized + Interface>(stream: UnixStream, object: Box<I>) -> Result<(), Error> {
    serve_stream_with(stream, object, Config::default())
}

/// [`serve_stream`] with explicit [`Config`].
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let (server, client) = std::os::unix::net::UnixStream::pair().map_err(multiprocess::Error::from)?;
/// let config = multiprocess::Config { max_partner_threads: 4, ..Default::default() };
/// let serving = std::thread::spawn(move || multiprocess::serve_stream_with::<dyn Ping>(server, Box::new(Local), config));
/// let ping = multiprocess::connect_stream::<dyn Ping>(client)?;
/// assert_eq!(ping.ping(), 7);
/// drop(ping);
/// serving.join().unwrap()?;
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[cfg(unix)]
pub fn serve_stream_with<I: ?Sized + Interface>(
    stream: UnixStream,
    object: Box<I>,
    config: Config,
) -> Result<(), Error> {
    serve_made(Box::new(UnixTransport::new(stream)), config, || object)
}

/// Serves a bootstrap object that `make` creates once the handshake has
/// succeeded: a peer that never completes it costs no object. `serving`
/// hears of the connection once it exists.
pub(crate) fn serve_made<I: ?Sized + Interface>(
    transport: Box<dyn Transport>,
    config: Config,
    make: impl FnOnce() -> Box<I>,
) -> Result<(), Error> {
    serve_made_then(transport, config, make, |_| {})
}

/// [`serve_made`], telling `serving` about the connection before it serves.
pub(crate) fn serve_made_then<I: ?Sized + Interface>(
    transport: Box<dyn Transport>,
    config: Config,
    make: impl FnOnce() -> Box<I>,
    serving: impl FnOnce(&Arc<Conn>),
) -> Result<(), Error> {
    let conn = start::<I>(transport, config, Role::Server)?;
    let object = match panic::catch_unwind(AssertUnwindSafe(make)) {
        Ok(object) => object,
        Err(payload) => {
            let error =
                Error::RemotePanic(format!("making the bootstrap object: {}", engine::panic_message(&*payload)));
            conn.close(Err(error.clone()));
            return Err(error);
        }
    };
    conn.table().insert(BOOTSTRAP, Arc::new(ObjectTarget::<I> { object: Arc::from(object) }));
    serving(&conn);
    control_loop(&conn)
}

/// Connects to a peer that serves interface `I` on `stream` and returns a proxy
/// for its bootstrap object. The connection closes when the last proxy from it
/// is dropped.
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let (server, client) = std::os::unix::net::UnixStream::pair().map_err(multiprocess::Error::from)?;
/// std::thread::spawn(move || multiprocess::serve_stream::<dyn Ping>(server, Box::new(Local)));
/// let ping: Box<dyn Ping> = multiprocess::connect_stream::<dyn Ping>(client)?;
/// assert_eq!(ping.ping(), 7);
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[cfg(unix)]
pub fn connect_stream<I: ?Sized + Interface>(stream: UnixStream) -> Result<Box<I>, Error> {
    connect_stream_with(stream, Config::default())
}

/// [`connect_stream`] with explicit [`Config`].
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let (server, client) = std::os::unix::net::UnixStream::pair().map_err(multiprocess::Error::from)?;
/// std::thread::spawn(move || multiprocess::serve_stream::<dyn Ping>(server, Box::new(Local)));
/// let config = multiprocess::Config { call_timeout: Some(std::time::Duration::from_secs(5)), ..Default::default() };
/// let ping = multiprocess::connect_stream_with::<dyn Ping>(client, config)?;
/// assert_eq!(ping.ping(), 7);
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[cfg(unix)]
pub fn connect_stream_with<I: ?Sized + Interface>(stream: UnixStream, config: Config) -> Result<Box<I>, Error> {
    connect_transport(Box::new(UnixTransport::new(stream)), config)
}

/// Says Hello over `transport` and returns a proxy for the peer's bootstrap object.
pub(crate) fn connect_transport<I: ?Sized + Interface>(
    transport: Box<dyn Transport>,
    config: Config,
) -> Result<Box<I>, Error> {
    let conn = start::<I>(transport, config, Role::Client)?;
    let core = ProxyCore::new(conn.clone(), BOOTSTRAP);
    let reader = conn.clone();
    thread::Builder::new().name(format!("ipc-control-{}", conn.id)).spawn(move || control_loop(&reader))?;
    Ok(I::from_proxy(core))
}

fn start<I: ?Sized + Interface>(transport: Box<dyn Transport>, config: Config, role: Role) -> Result<Arc<Conn>, Error> {
    let peer = match handshake::<I>(transport.control(), &config) {
        Ok(peer) => peer,
        Err(error) => {
            let _ = send_raw(transport.control(), &Header::Goodbye);
            transport.shutdown();
            return Err(error);
        }
    };
    let conn = Conn::new(transport, config, role == Role::Client, peer);
    tracing::debug!(target: "ipc", conn = conn.id, interface = I::NAME, "connected");
    Ok(conn)
}

/// Serves `object` on one end of a socketpair, in this process, and returns a
/// proxy for it on the other end: every call crosses a real socket (a named
/// pipe on Windows). For tests and benchmarks.
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
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let config = multiprocess::Config { call_timeout: Some(std::time::Duration::from_secs(5)), ..Default::default() };
/// let ping = multiprocess::pair_with::<dyn Ping>(Box::new(Local), config)?;
/// assert_eq!(ping.ping(), 7);
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[cfg(unix)]
pub fn pair_with<I: ?Sized + Interface>(object: Box<I>, config: Config) -> Result<Box<I>, Error> {
    let (client, server) = UnixStream::pair()?;
    let server_config = config.clone();
    thread::Builder::new()
        .name("ipc-pair-server".into())
        .spawn(move || serve_stream_with::<I>(server, object, server_config))?;
    connect_stream_with::<I>(client, config)
}

/// [`pair`] with explicit [`Config`].
///
/// ```
/// # use multiprocess::ipc_interface;
/// # #[ipc_interface]
/// # pub trait Ping: Send + Sync { fn ping(&self) -> u32; }
/// # struct Local;
/// # impl Ping for Local { fn ping(&self) -> u32 { 7 } }
/// let config = multiprocess::Config { call_timeout: Some(std::time::Duration::from_secs(5)), ..Default::default() };
/// let ping = multiprocess::pair_with::<dyn Ping>(Box::new(Local), config)?;
/// assert_eq!(ping.ping(), 7);
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[cfg(windows)]
pub fn pair_with<I: ?Sized + Interface>(object: Box<I>, config: Config) -> Result<Box<I>, Error> {
    use crate::{
        dialled::{Handler, Hub, HubOptions},
        transport::windows::{PipeAcceptor, PipeDial, pipe_path},
    };

    // A pipe with a random name that serves one connection, authenticated
    // with a new secret: no other process can take the object.
    let secret = crate::secret::Secret::generate()?;
    let name =
        format!("multiprocess-pair-{}-{}", std::process::id(), &crate::secret::Secret::generate()?.to_hex()[..16]);
    let path = pipe_path(&name);
    let acceptor = PipeAcceptor::bind(&path)?;
    let object = std::sync::Mutex::new(Some(object));
    let server_config = config.clone();
    let handler: Handler = Box::new(move |control, entry| {
        let Some(object) = object.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
        let timeout = server_config.handshake_timeout;
        let transport = Box::new(DialTransport::server(control, entry.tickets.clone(), timeout));
        let served = serve_made_then::<I>(transport, server_config.clone(), || object, |conn| entry.attach(conn));
        if let Err(error) = served {
            tracing::debug!(target: "ipc", %error, "pair connection ended");
        }
    });
    let options = HubOptions {
        address: format!("unix:{name}"),
        secret: Some(secret.clone()),
        handshake_timeout: config.handshake_timeout,
        max_connections: 1,
    };
    let hub = Hub::start(Arc::new(acceptor), options, handler)?;
    let dial = PipeDial { path, timeout: config.handshake_timeout, server: Some(std::process::id()) };
    let remote = connect_dialled::<I>(Arc::new(dial), Some(secret), config);
    // No other connection; the channels of this one are still accepted.
    drop(hub);
    remote
}

/// Opens a connection to a [`Hub`] through `dial` and says Hello over it.
pub(crate) fn connect_dialled<I: ?Sized + Interface>(
    dial: Arc<dyn Dial>,
    secret: Option<Secret>,
    config: Config,
) -> Result<Box<I>, Error> {
    let (control, token) = dialled::open_connection(&*dial, secret.as_ref(), config.handshake_timeout)?;
    let transport = DialTransport::client(control, dial, secret, token, config.handshake_timeout);
    connect_transport::<I>(Box::new(transport), config)
}
