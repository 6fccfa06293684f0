//! TCP as an attacker on the network and a stranger on the host see it. What
//! calls, objects, callbacks, threads and disconnects do over TCP is checked
//! with everything else in `threads_and_objects.rs` (its `Mode::Tcp` and
//! `Mode::TcpProcess`); this file checks what only TCP has: addresses and
//! ports, the secret, the encryption, replays, and the listener's life.

mod common;

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use common::{BOUND, eventually};
use multiprocess::{ConnectOptions, Error, ListenOptions, Listener, Secret, ipc_interface};

#[ipc_interface]
pub trait Vault: Send + Sync {
    fn echo(&self, text: String) -> String;
    fn ask(&self, question: String, answer: Box<dyn Fn(String) -> String + Send + Sync>) -> String;
}

struct LocalVault;

impl Vault for LocalVault {
    fn echo(&self, text: String) -> String {
        text
    }
    fn ask(&self, question: String, answer: Box<dyn Fn(String) -> String + Send + Sync>) -> String {
        answer(question)
    }
}

/// A listener on a loopback port that counts the objects its factory makes.
fn vault_listener(secret: &Secret, handshake_timeout: Duration) -> (Listener, Arc<AtomicUsize>) {
    let made = Arc::new(AtomicUsize::new(0));
    let count = made.clone();
    let config = multiprocess::Config { handshake_timeout, ..Default::default() };
    let options = ListenOptions { secret: Some(secret.clone()), config, ..Default::default() };
    let listener = multiprocess::listen_with::<dyn Vault>("tcp:127.0.0.1:0", options, move || {
        count.fetch_add(1, Ordering::SeqCst);
        Box::new(LocalVault)
    })
    .expect("listen");
    (listener, made)
}

fn with_secret(secret: &Secret) -> ConnectOptions {
    ConnectOptions { secret: Some(secret.clone()), ..Default::default() }
}

fn port(address: &str) -> u16 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

/// Reads until the peer closes, or `BOUND` passes; returns what came and whether it closed.
fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let deadline = Instant::now() + BOUND;
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return (received, true),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return (received, true),
        }
    }
    (received, false)
}

#[test]
fn port_zero_picks_a_port_that_the_listener_reports() {
    let secret = Secret::generate().unwrap();
    let (listener, _) = vault_listener(&secret, BOUND);
    assert!(listener.address().starts_with("tcp:127.0.0.1:"), "{}", listener.address());
    assert_ne!(port(listener.address()), 0);
    assert!(listener.path().is_none());
    let vault = multiprocess::connect_with::<dyn Vault>(listener.address(), with_secret(&secret)).unwrap();
    assert_eq!(vault.echo("over tcp".into()), "over tcp");
    assert_eq!(listener.connections(), 1);
    assert!(format!("{listener:?}").contains("tcp:127.0.0.1:"));
}

#[test]
fn ipv6_addresses_are_written_in_brackets() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this machine; skipped");
        return;
    }
    let secret = Secret::generate().unwrap();
    let options = ListenOptions { secret: Some(secret.clone()), ..Default::default() };
    let listener = multiprocess::listen_with::<dyn Vault>("tcp:[::1]:0", options, || Box::new(LocalVault)).unwrap();
    assert!(listener.address().starts_with("tcp:[::1]:"), "{}", listener.address());
    let vault = multiprocess::connect_with::<dyn Vault>(listener.address(), with_secret(&secret)).unwrap();
    assert_eq!(vault.ask("v6?".into(), Box::new(|q| format!("{q} yes"))), "v6? yes");
}

#[test]
fn a_client_with_another_secret_or_none_reaches_no_object() {
    let secret = Secret::generate().unwrap();
    let (listener, made) = vault_listener(&secret, BOUND);
    let error = multiprocess::connect_with::<dyn Vault>(listener.address(), with_secret(&Secret::generate().unwrap()))
        .expect_err("refused");
    assert!(matches!(&error, Error::Connect { address, .. } if address == listener.address()), "{error:?}");
    let error = multiprocess::connect::<dyn Vault>(listener.address()).expect_err("refused");
    assert!(matches!(&error, Error::Address { message, .. } if message.contains("secret")), "{error:?}");
    assert_eq!(made.load(Ordering::SeqCst), 0, "the factory was never called");
    // The listener serves the right secret all the same.
    let vault = multiprocess::connect_with::<dyn Vault>(listener.address(), with_secret(&secret)).unwrap();
    assert_eq!(vault.echo("still here".into()), "still here");
    assert_eq!(made.load(Ordering::SeqCst), 1);
}

#[test]
fn garbage_and_silence_are_closed_without_making_an_object() {
    let secret = Secret::generate().unwrap();
    let (listener, made) = vault_listener(&secret, Duration::from_millis(500));
    let address = listener.address().strip_prefix("tcp:").unwrap().to_owned();
    let garbage: [&[u8]; 4] =
        [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &[0xff; 4096], &[0x00, 0x30, 1, 2, 3], &[0x00, 0x00]];
    for bytes in garbage {
        let mut stream = TcpStream::connect(&address).unwrap();
        stream.write_all(bytes).unwrap();
        let (_, closed) = read_until_closed(&mut stream);
        assert!(closed, "the listener closed a stream that sent {:?}", &bytes[..bytes.len().min(8)]);
    }
    // More silent clients than the listener runs handshakes at once: each
    // is dropped when its handshake time is up, and then a real client is served.
    let silent: Vec<TcpStream> = (0..80).map(|_| TcpStream::connect(&address).unwrap()).collect();
    let started = Instant::now();
    let vault = multiprocess::connect_with::<dyn Vault>(listener.address(), with_secret(&secret)).unwrap();
    assert_eq!(vault.echo("past the crowd".into()), "past the crowd");
    assert!(started.elapsed() < BOUND, "served after {:?}", started.elapsed());
    for mut stream in silent {
        let (_, closed) = read_until_closed(&mut stream);
        assert!(closed, "a silent client was dropped");
    }
    assert_eq!(made.load(Ordering::SeqCst), 1, "only the real client got an object");
}

/// The bytes that crossed one way.
type Recording = Arc<Mutex<Vec<u8>>>;

/// A TCP relay between a client and `target` that records every byte of
/// every stream, each direction apart.
struct Relay {
    address: String,
    /// Per accepted stream: client to server, server to client.
    streams: Arc<Mutex<Vec<(Recording, Recording)>>>,
}

impl Relay {
    fn start(target: &str) -> Relay {
        let target = target.strip_prefix("tcp:").unwrap().to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("tcp:{}", listener.local_addr().unwrap());
        let streams = Arc::new(Mutex::new(Vec::new()));
        let recorded = streams.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&target) else { return };
                let up = Arc::new(Mutex::new(Vec::new()));
                let down = Arc::new(Mutex::new(Vec::new()));
                recorded.lock().unwrap().push((up.clone(), down.clone()));
                pump(client.try_clone().unwrap(), server.try_clone().unwrap(), up);
                pump(server, client, down);
            }
        });
        Relay { address, streams }
    }

    /// Everything that crossed, both ways, all streams.
    fn everything(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for (up, down) in self.streams.lock().unwrap().iter() {
            all.extend_from_slice(&up.lock().unwrap());
            all.extend_from_slice(&down.lock().unwrap());
        }
        all
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, record: Recording) {
    thread::spawn(move || {
        let mut buf = [0; 16384];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[test]
fn no_byte_crosses_in_clear() {
    let secret = Secret::generate().unwrap();
    let (listener, _) = vault_listener(&secret, BOUND);
    let relay = Relay::start(listener.address());
    let canary = "attack at dawn: the canary 4f1c7e";
    let vault = multiprocess::connect_with::<dyn Vault>(&relay.address, with_secret(&secret)).unwrap();
    assert_eq!(vault.echo(canary.into()), canary);
    // A callback: the server asks the client to dial a channel for it.
    let answer = vault.ask(canary.into(), Box::new(|question| format!("{question} (answered)")));
    assert_eq!(answer, format!("{canary} (answered)"));
    // More threads, each a stream of its own through the relay.
    thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| assert_eq!(vault.echo(canary.repeat(100)), canary.repeat(100)));
        }
    });
    drop(vault);
    let wire = relay.everything();
    assert!(relay.streams.lock().unwrap().len() >= 6, "control, channels and a dialled-back channel went through");
    assert!(wire.len() > 4 * canary.len() * 100, "the calls went through the relay: {} bytes", wire.len());
    // The secret, as its cookie file holds it and as bytes.
    let dir = std::env::temp_dir().join(format!("mp-tcp-clear-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    secret.write_to(dir.join("cookie")).unwrap();
    let hex = std::fs::read_to_string(dir.join("cookie")).unwrap().trim().to_owned();
    std::fs::remove_dir_all(&dir).unwrap();
    let raw: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    for clear in [canary.as_bytes(), b"Vault", b"echo", b"ask", hex.as_bytes(), &raw[..8], &raw[24..]] {
        assert!(!contains(&wire, clear), "{:?} crossed in clear", String::from_utf8_lossy(clear));
    }
    assert_eq!(format!("{secret:?}"), "Secret(..)", "nor does it reach a log");
}

#[test]
fn a_replayed_handshake_learns_nothing_and_reaches_no_object() {
    let secret = Secret::generate().unwrap();
    let (listener, made) = vault_listener(&secret, Duration::from_secs(2));
    let relay = Relay::start(listener.address());
    let canary = "replay me if you can 91ab";
    let vault = multiprocess::connect_with::<dyn Vault>(&relay.address, with_secret(&secret)).unwrap();
    assert_eq!(vault.echo(canary.into()), canary);
    drop(vault);
    assert_eq!(made.load(Ordering::SeqCst), 1);
    let recorded: Vec<Vec<u8>> =
        relay.streams.lock().unwrap().iter().map(|(up, _)| up.lock().unwrap().clone()).collect();
    assert!(recorded.len() >= 2, "a control stream and a channel were recorded");
    // Every recorded client stream, sent again byte for byte.
    for (i, bytes) in recorded.iter().enumerate() {
        let mut stream = TcpStream::connect(listener.address().strip_prefix("tcp:").unwrap()).unwrap();
        let _ = stream.write_all(bytes);
        let (answer, closed) = read_until_closed(&mut stream);
        assert!(closed, "stream {i}: the listener closed the replay");
        assert!(!contains(&answer, canary.as_bytes()), "stream {i}: the replay learned the canary");
    }
    assert_eq!(made.load(Ordering::SeqCst), 1, "no replay reached the factory");
    // And the listener still serves.
    let vault = multiprocess::connect_with::<dyn Vault>(listener.address(), with_secret(&secret)).unwrap();
    assert_eq!(vault.echo("after the replays".into()), "after the replays");
}

#[test]
fn a_dropped_listener_takes_no_new_connection_but_serves_the_ones_it_has() {
    let secret = Secret::generate().unwrap();
    let (listener, _) = vault_listener(&secret, Duration::from_secs(2));
    let address = listener.address().to_owned();
    let vault = multiprocess::connect_with::<dyn Vault>(&address, with_secret(&secret)).unwrap();
    drop(listener);
    let error = multiprocess::connect_with::<dyn Vault>(&address, with_secret(&secret)).expect_err("no new connection");
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    // The connection it has still opens channels both ways.
    thread::scope(|scope| {
        for i in 0..3 {
            let vault = &vault;
            scope.spawn(move || {
                let answer = vault.ask(format!("thread {i}"), Box::new(|q| q.to_uppercase()));
                assert_eq!(answer, format!("THREAD {i}"));
            });
        }
    });
    drop(vault);
    // Once its last connection has ended, the port closes.
    let socket = address.strip_prefix("tcp:").unwrap().to_owned();
    eventually("the port to close", || TcpStream::connect(&socket).is_err());
}

#[test]
fn max_connections_holds_over_tcp() {
    let secret = Secret::generate().unwrap();
    let config = multiprocess::Config { handshake_timeout: Duration::from_millis(500), ..Default::default() };
    let options = ListenOptions {
        secret: Some(secret.clone()),
        max_connections: Some(1),
        config: config.clone(),
        ..Default::default()
    };
    let listener = multiprocess::listen_with::<dyn Vault>("tcp:127.0.0.1:0", options, || Box::new(LocalVault)).unwrap();
    let first = multiprocess::connect_with::<dyn Vault>(listener.address(), with_secret(&secret)).unwrap();
    let options = ConnectOptions { secret: Some(secret.clone()), config };
    let error = multiprocess::connect_with::<dyn Vault>(listener.address(), options.clone()).expect_err("full");
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    // A new thread of the connection it has is a channel, not a connection: it gets through.
    thread::scope(|scope| {
        scope.spawn(|| assert_eq!(first.echo("a second thread".into()), "a second thread"));
    });
    drop(first);
    eventually("the slot to free", || listener.connections() == 0);
    let second = multiprocess::connect_with::<dyn Vault>(listener.address(), options).unwrap();
    assert_eq!(second.echo("next".into()), "next");
}

#[test]
fn a_refused_port_is_a_connect_error_naming_the_address() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let address = format!("tcp:{free}");
    let secret = Secret::generate().unwrap();
    let error = multiprocess::connect_with::<dyn Vault>(&address, with_secret(&secret)).expect_err("nobody listens");
    assert!(matches!(&error, Error::Connect { address: a, .. } if *a == address), "{error:?}");
}

/// A peer that knows the secret and speaks Noise by hand: authenticated,
/// and hostile all the same.
mod authenticated_but_hostile {
    use super::*;

    /// The wire contract: handshake pattern and prologue.
    const PARAMS: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";
    const PROLOGUE: &[u8] = b"multiprocess 2";

    struct RawPeer {
        stream: TcpStream,
        keys: snow::TransportState,
    }

    fn secret_bytes(secret: &Secret) -> [u8; 32] {
        let dir = std::env::temp_dir().join(format!("mp-tcp-raw-{}-{:?}", std::process::id(), thread::current().id()));
        std::fs::create_dir_all(&dir).unwrap();
        secret.write_to(dir.join("cookie")).unwrap();
        let hex = std::fs::read_to_string(dir.join("cookie")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let mut bytes = [0; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex.trim()[2 * i..2 * i + 2], 16).unwrap();
        }
        bytes
    }

    impl RawPeer {
        fn connect(listener: &Listener, secret: &Secret) -> RawPeer {
            let mut stream = TcpStream::connect(listener.address().strip_prefix("tcp:").unwrap()).unwrap();
            stream.set_read_timeout(Some(BOUND)).unwrap();
            let psk = secret_bytes(secret);
            let mut handshake = snow::Builder::new(PARAMS.parse().unwrap())
                .prologue(PROLOGUE)
                .unwrap()
                .psk(0, &psk)
                .unwrap()
                .build_initiator()
                .unwrap();
            let mut message = vec![0; 65535];
            let len = handshake.write_message(&[], &mut message).unwrap();
            stream.write_all(&(len as u16).to_be_bytes()).unwrap();
            stream.write_all(&message[..len]).unwrap();
            let mut len = [0; 2];
            stream.read_exact(&mut len).unwrap();
            let mut reply = vec![0; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut reply).unwrap();
            handshake.read_message(&reply, &mut message).expect("the listener knows the same secret");
            RawPeer { stream, keys: handshake.into_transport_mode().unwrap() }
        }

        /// Sends `plain` as one encrypted record.
        fn send(&mut self, plain: &[u8]) {
            let mut record = vec![0; plain.len() + 16];
            let len = self.keys.write_message(plain, &mut record).unwrap();
            let _ = self.stream.write_all(&(len as u16).to_be_bytes());
            let _ = self.stream.write_all(&record[..len]);
        }

        /// Sends `bytes` as they are.
        fn send_raw(&mut self, bytes: &[u8]) {
            let _ = self.stream.write_all(bytes);
        }

        /// The next record's plaintext, or `None` once the listener closed.
        fn receive(&mut self) -> Option<Vec<u8>> {
            let mut len = [0; 2];
            self.stream.read_exact(&mut len).ok()?;
            let mut record = vec![0; usize::from(u16::from_be_bytes(len))];
            self.stream.read_exact(&mut record).ok()?;
            let mut plain = vec![0; record.len()];
            let n = self.keys.read_message(&record, &mut plain).ok()?;
            plain.truncate(n);
            Some(plain)
        }

        fn closed_by_listener(mut self) -> bool {
            read_until_closed(&mut self.stream).1
        }
    }

    /// `Open::Connection`: a 4-byte length, then variant 0.
    const OPEN_CONNECTION: [u8; 5] = [1, 0, 0, 0, 0];

    /// `Open::Channel { token, ticket, name }`.
    fn open_channel(token: [u8; 16], ticket: u8, name: &str) -> Vec<u8> {
        let mut message = vec![1];
        message.extend_from_slice(&token);
        message.push(ticket);
        message.push(name.len() as u8);
        message.extend_from_slice(name.as_bytes());
        let mut framed = (message.len() as u32).to_le_bytes().to_vec();
        framed.extend_from_slice(&message);
        framed
    }

    #[test]
    fn a_huge_or_malformed_preamble_is_closed() {
        let secret = Secret::generate().unwrap();
        let (listener, made) = vault_listener(&secret, Duration::from_secs(2));
        let preambles: [&[u8]; 4] = [&u32::MAX.to_le_bytes(), &[1, 0, 0, 0, 7], &[0, 0, 0, 0], &[4, 0, 0, 0, 1, 2]];
        for preamble in preambles {
            let mut peer = RawPeer::connect(&listener, &secret);
            peer.send(preamble);
            assert!(peer.closed_by_listener(), "closed after {preamble:?}");
        }
        assert_eq!(made.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_channel_for_a_connection_that_does_not_exist_is_closed() {
        let secret = Secret::generate().unwrap();
        let (listener, made) = vault_listener(&secret, Duration::from_secs(2));
        // A real connection exists; its token is not ours to know.
        let vault = multiprocess::connect_with::<dyn Vault>(listener.address(), with_secret(&secret)).unwrap();
        for ticket in [0, 1, 200] {
            let mut peer = RawPeer::connect(&listener, &secret);
            peer.send(&open_channel([7; 16], ticket, "intruder"));
            assert!(peer.closed_by_listener(), "ticket {ticket}");
        }
        assert_eq!(vault.echo("unharmed".into()), "unharmed");
        assert_eq!(made.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_connection_that_sends_garbage_instead_of_hello_costs_no_object() {
        let secret = Secret::generate().unwrap();
        let (listener, made) = vault_listener(&secret, Duration::from_secs(2));
        // A frame announcing 4 GiB, a forged record, and silence.
        for attack in 0..3 {
            let mut peer = RawPeer::connect(&listener, &secret);
            peer.send(&OPEN_CONNECTION);
            let accepted = peer.receive().expect("the listener accepts the connection");
            assert_eq!(accepted.len(), 4 + 16, "a length and a token");
            match attack {
                0 => peer.send(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
                1 => peer.send_raw(&[
                    0, 40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
                    26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
                ]),
                _ => {}
            }
            assert!(peer.closed_by_listener(), "attack {attack}");
        }
        assert_eq!(made.load(Ordering::SeqCst), 0, "the factory runs only after Hello");
    }
}

#[test]
fn a_thread_with_a_very_long_name_still_gets_its_channels() {
    let secret = Secret::generate().unwrap();
    let (listener, _) = vault_listener(&secret, BOUND);
    let vault = multiprocess::connect_with::<dyn Vault>(listener.address(), with_secret(&secret)).unwrap();
    let name = "é".repeat(5000);
    thread::scope(|scope| {
        thread::Builder::new()
            .name(name)
            .spawn_scoped(scope, || {
                assert_eq!(vault.ask("long".into(), Box::new(|q| format!("{q} name"))), "long name");
            })
            .unwrap();
    });
}
