//! Bad input from a peer: an error or a closed connection, never a panic and
//! never an allocation the peer asked for.

// Raw frames written into a Unix socket by hand; tcp.rs plays a raw peer over TCP.
#![cfg(unix)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use interfaces::{Echo, LocalEcho};
use proptest::prelude::*;

/// Records the largest single allocation the process makes.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

const BOUND: Duration = Duration::from_secs(10);

/// Serves an Echo on a socket; the outcome arrives on the channel.
fn serve() -> (UnixStream, mpsc::Receiver<Result<(), multiprocess::Error>>) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let (done, outcome) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(multiprocess::serve_stream::<dyn Echo>(theirs, Box::new(LocalEcho)));
    });
    ours.set_read_timeout(Some(BOUND)).unwrap();
    (ours, outcome)
}

/// The bytes a real client sends to say Hello, captured from one.
fn client_hello() -> Vec<u8> {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let client = thread::spawn(move || multiprocess::connect_stream::<dyn Echo>(theirs).map(drop));
    let mut ours = ours;
    ours.set_read_timeout(Some(BOUND)).unwrap();
    let mut prefix = [0; 4];
    ours.read_exact(&mut prefix).unwrap();
    let mut body = vec![0; u32::from_le_bytes(prefix) as usize];
    ours.read_exact(&mut body).unwrap();
    drop(ours);
    assert!(client.join().unwrap().is_err(), "the client saw no server");
    [&prefix[..], &body].concat()
}

/// Reads and discards the server's Hello.
fn skip_hello(stream: &mut UnixStream) {
    let mut prefix = [0; 4];
    stream.read_exact(&mut prefix).unwrap();
    let mut body = vec![0; u32::from_le_bytes(prefix) as usize];
    stream.read_exact(&mut body).unwrap();
}

#[test]
fn a_frame_announcing_four_gib_is_refused_without_allocating() {
    let hello = client_hello();
    let before = LARGEST.load(Ordering::Relaxed);

    // Before the handshake.
    let (mut stream, outcome) = serve();
    stream.write_all(&u32::MAX.to_le_bytes()).unwrap();
    let error = outcome.recv_timeout(BOUND).expect("the server gave up").unwrap_err();
    assert!(matches!(error, multiprocess::Error::FrameTooLarge { size: 4294967295, .. }), "{error:?}");

    // After a valid handshake, on the control socket.
    let (mut stream, outcome) = serve();
    stream.write_all(&hello).unwrap();
    skip_hello(&mut stream);
    stream.write_all(&u32::MAX.to_le_bytes()).unwrap();
    let error = outcome.recv_timeout(BOUND).expect("the server gave up").unwrap_err();
    assert!(matches!(error, multiprocess::Error::FrameTooLarge { size: 4294967295, .. }), "{error:?}");

    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < 1 << 30, "an allocation of {largest} bytes (before: {before})");
}

#[test]
fn a_configured_maximum_applies_to_calls() {
    let config = multiprocess::Config { max_frame_bytes: 1024, ..Default::default() };
    let echo = multiprocess::pair_with::<dyn Echo>(Box::new(LocalEcho), config).unwrap();
    assert_eq!(echo.echo("small".into()), "small");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| echo.echo("x".repeat(4096))));
    let message = caught.expect_err("refused").downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("exceeds the maximum"), "{message}");
    assert_eq!(echo.echo("still fine".into()), "still fine", "refusing to send does not break the connection");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn garbage_before_the_handshake_is_an_error(garbage in prop::collection::vec(any::<u8>(), 0..512)) {
        let (mut stream, outcome) = serve();
        let _ = stream.write_all(&garbage);
        drop(stream);
        let outcome = outcome.recv_timeout(BOUND).expect("the server returned");
        prop_assert!(outcome.is_err());
    }

    #[test]
    fn garbage_after_the_handshake_closes_the_connection(garbage in prop::collection::vec(any::<u8>(), 1..512)) {
        let hello = client_hello();
        let (mut stream, outcome) = serve();
        stream.write_all(&hello).unwrap();
        skip_hello(&mut stream);
        let _ = stream.write_all(&garbage);
        drop(stream);
        // An error, or an orderly end if the garbage happened to say Goodbye;
        // either way the server returned and did not panic.
        let _ = outcome.recv_timeout(BOUND).expect("the server returned");
    }
}
