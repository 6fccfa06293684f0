//! The peer is not trusted. These tests play it with raw bytes, against a
//! real server in another process (this binary, started again as
//! `server_entry`) and as a hostile child of a real parent (`hostile_child`):
//! strings that claim a terabyte, NUL names, deep nesting, thread floods,
//! descriptor hoarding, partial frames, trickled and silent handshakes,
//! silent peers during calls and drops, listener slots, forged and double
//! releases, and a fuzzer over well-formed frames with arbitrary contents.
//!
//! After every attack: the server is alive, a well-behaved client is served,
//! and its threads and descriptors are back where they were. Each attack
//! prints one line of figures (`cargo test --test hostile -- --nocapture`):
//! inputs tried, and the peak threads, descriptors and memory it caused.

// Raw bytes on Unix sockets, and the /proc accounting of Linux.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use multiprocess::{Deserialize, Interface, Serialize, ipc_interface};

/// How long any wait in these tests may take before it is a hang.
const BOUND: Duration = Duration::from_secs(20);

/// The server's limits, small so that attacks reach them quickly.
const MAX_THREADS: usize = 32;
const FRAME_TIMEOUT: Duration = Duration::from_secs(1);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_PARTIAL: usize = 16 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Note {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Tree {
    pub children: Vec<Tree>,
}

/// What a process uses: now, or at most since the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Vitals {
    pub threads: u64,
    pub fds: u64,
    pub rss_kib: u64,
}

#[ipc_interface(name = "hostile.Token")]
pub trait Token: Send + Sync {
    fn id(&self) -> u64;
}

#[ipc_interface(name = "hostile.Victim")]
pub trait Victim: Send + Sync {
    fn echo(&self, message: String) -> String;
    fn take(&self, note: Note) -> u64;
    fn depth(&self, tree: Tree) -> u64;
    fn grow(&self, depth: u64) -> Tree;
    fn make(&self) -> Box<dyn Token>;
    fn call_back(&self, callback: Box<dyn Fn(String) -> String + Send + Sync>) -> String;
    fn vitals(&self) -> Vitals;
    fn peaks(&self) -> Vitals;
    fn reset_peaks(&self);
    fn subscribe(&self, subscription: Subscription) -> u64;
}

/// A user type with a handle in it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Subscription {
    pub topic: String,
    pub token: Box<dyn Token>,
}

/// This process's threads, descriptors and resident memory.
fn vitals() -> Vitals {
    let count = |dir: &str| std::fs::read_dir(dir).map(|entries| entries.count() as u64).unwrap_or(0);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0);
    Vitals { threads: count("/proc/self/task"), fds: count("/proc/self/fd"), rss_kib }
}

/// The highest vitals seen since the last reset, sampled every few milliseconds.
static PEAKS: Mutex<Vitals> = Mutex::new(Vitals { threads: 0, fds: 0, rss_kib: 0 });

fn sample_peaks() {
    std::thread::spawn(|| {
        loop {
            let now = vitals();
            let mut peaks = PEAKS.lock().unwrap();
            peaks.threads = peaks.threads.max(now.threads);
            peaks.fds = peaks.fds.max(now.fds);
            peaks.rss_kib = peaks.rss_kib.max(now.rss_kib);
            drop(peaks);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
}

struct LocalToken(u64);

impl Token for LocalToken {
    fn id(&self) -> u64 {
        self.0
    }
}

struct Server;

impl Victim for Server {
    fn echo(&self, message: String) -> String {
        message
    }
    fn subscribe(&self, subscription: Subscription) -> u64 {
        subscription.topic.len() as u64
    }
    fn take(&self, note: Note) -> u64 {
        (note.title.len() + note.body.len()) as u64
    }
    fn depth(&self, tree: Tree) -> u64 {
        fn depth(tree: &Tree) -> u64 {
            1 + tree.children.iter().map(depth).max().unwrap_or(0)
        }
        depth(&tree)
    }
    fn grow(&self, depth: u64) -> Tree {
        (0..depth).fold(Tree { children: Vec::new() }, |tree, _| Tree { children: vec![tree] })
    }
    fn make(&self) -> Box<dyn Token> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Box::new(LocalToken(NEXT.fetch_add(1, Ordering::Relaxed)))
    }
    fn call_back(&self, callback: Box<dyn Fn(String) -> String + Send + Sync>) -> String {
        callback("from the server".into())
    }
    fn vitals(&self) -> Vitals {
        vitals()
    }
    fn peaks(&self) -> Vitals {
        *PEAKS.lock().unwrap()
    }
    fn reset_peaks(&self) {
        *PEAKS.lock().unwrap() = vitals();
    }
}

fn server_config() -> multiprocess::Config {
    multiprocess::Config {
        max_partner_threads: MAX_THREADS,
        frame_timeout: FRAME_TIMEOUT,
        handshake_timeout: HANDSHAKE_TIMEOUT,
        max_partial_frame_bytes: MAX_PARTIAL,
        max_exported_objects: 1000,
        ..Default::default()
    }
}

const ROLE: &str = "MULTIPROCESS_TEST_HOSTILE_ROLE";
const ADDRESS: &str = "MULTIPROCESS_TEST_HOSTILE_ADDRESS";
const ATTACK: &str = "MULTIPROCESS_TEST_HOSTILE_ATTACK";

/// Started by [`Target::start`], listens and serves until its standard input
/// closes; run as a test, does nothing.
#[test]
fn server_entry() {
    match std::env::var(ROLE).as_deref() {
        Ok("server") => {}
        Ok("child") => hostile_child(),
        Ok("fork") => forked_use_of_a_connection(),
        _ => return,
    }
    // Under 2 GiB of address space, a buffer reserved from what a frame
    // announces (six times 256 MiB, say) aborts the process.
    let limit = rustix::process::Rlimit { current: Some(2 << 30), maximum: Some(2 << 30) };
    rustix::process::setrlimit(rustix::process::Resource::As, limit).expect("limit the address space");
    sample_peaks();
    let address = std::env::var(ADDRESS).expect("an address");
    let options =
        multiprocess::ListenOptions { max_connections: Some(4), config: server_config(), ..Default::default() };
    let listener = multiprocess::listen_with::<dyn Victim>(&address, options, || Box::new(Server)).expect("listen");
    println!("ready");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(listener);
    std::process::exit(0);
}

/// A server in another process, and the socket it listens on.
struct Target {
    child: Child,
    dir: PathBuf,
    address: String,
}

impl Target {
    fn start() -> Target {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mp-hostile-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let address = format!("unix:{}", dir.join("v.sock").display());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "server_entry", "--nocapture", "--test-threads=1", "-q"])
            .env(ROLE, "server")
            .env(ADDRESS, &address)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server");
        // The test harness in the child may print before the server does.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(lines.any(|line| line.is_ok_and(|line| line.trim() == "ready")), "the server started");
        Target { child, dir, address }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("v.sock")
    }

    /// A well-behaved client.
    fn client(&self) -> Box<dyn Victim> {
        let config = multiprocess::Config { call_timeout: Some(BOUND), ..Default::default() };
        multiprocess::connect_with::<dyn Victim>(&self.address, config).expect("a well-behaved client connects")
    }

    /// A raw connection that has said Hello and read the server's.
    fn raw(&self) -> UnixStream {
        let mut stream = UnixStream::connect(self.path()).expect("connect");
        stream.set_read_timeout(Some(BOUND)).unwrap();
        stream.write_all(&wire::hello()).unwrap();
        wire::read_frame(&mut stream).expect("the server's Hello");
        stream
    }

    /// Whether the server runs: it is neither gone nor a zombie.
    fn alive(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The state follows the command name, which is in parentheses.
        stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
    }

    /// Runs `attack` and checks what the issue asks after every one: the
    /// server lives, serves a new client, and is back to its baseline.
    /// `inputs` says how many hostile inputs the attack sends.
    fn survives(&self, name: &str, inputs: usize, attack: impl FnOnce(&Target)) {
        self.survives_counted(name, || inputs, attack)
    }

    fn survives_counted(&self, name: &str, inputs: impl FnOnce() -> usize, attack: impl FnOnce(&Target)) {
        let monitor = self.client();
        assert_eq!(monitor.echo("before".into()), "before");
        let baseline = monitor.vitals();
        monitor.reset_peaks();
        let started = Instant::now();
        attack(self);
        let took = started.elapsed();
        assert!(self.alive(), "{name}: the server died");
        let fresh = self.client();
        assert_eq!(fresh.echo("after".into()), "after", "{name}: a new client is served");
        assert_eq!(fresh.take(Note { title: "t".into(), body: "b".into() }), 2);
        drop(fresh);
        let peaks = monitor.peaks();
        // Back to baseline: the attack's threads and descriptors are gone.
        let deadline = Instant::now() + BOUND;
        let now = loop {
            let now = monitor.vitals();
            if (now.threads <= baseline.threads && now.fds <= baseline.fds) || Instant::now() > deadline {
                break now;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(now.threads <= baseline.threads, "{name}: threads {} after, {} before", now.threads, baseline.threads);
        assert!(now.fds <= baseline.fds, "{name}: descriptors {} after, {} before", now.fds, baseline.fds);
        let inputs = inputs();
        eprintln!(
            "attack {name:<34} inputs {inputs:>5}  peak threads {:>4} (base {:>3})  peak fds {:>4} (base {:>3})  peak rss {:>7} KiB (base {:>7})  {took:.2?}",
            peaks.threads, baseline.threads, peaks.fds, baseline.fds, peaks.rss_kib, baseline.rss_kib
        );
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The wire format, written here by hand from its description (not with
/// the library's own encoder), so that the tests can say anything a peer
/// could send.
mod wire {
    use std::io::{self, Read};

    /// Header variants, in the order the protocol declares them.
    pub const HELLO: u64 = 0;
    pub const CALL: u64 = 1;
    pub const RELEASE: u64 = 2;
    pub const RETURN: u64 = 3;
    pub const NEW_THREAD: u64 = 4;
    pub const RELEASE_LATER: u64 = 5;
    pub const GOODBYE: u64 = 7;
    pub const CANCEL: u64 = 9;

    pub fn varint(out: &mut Vec<u8>, value: u64) {
        match value {
            0..=250 => out.push(value as u8),
            251..=0xffff => {
                out.push(251);
                out.extend_from_slice(&(value as u16).to_le_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(252);
                out.extend_from_slice(&(value as u32).to_le_bytes());
            }
            _ => {
                out.push(253);
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
    }

    /// A string whose length says `claimed`, followed by `bytes`.
    pub fn string(out: &mut Vec<u8>, claimed: u64, bytes: &[u8]) {
        varint(out, claimed);
        out.extend_from_slice(bytes);
    }

    /// A frame with no blobs around `inline`.
    pub fn frame(inline: &[u8]) -> Vec<u8> {
        let total = (4 + inline.len() + 2) as u32;
        let mut out = total.to_le_bytes().to_vec();
        out.extend_from_slice(&(inline.len() as u32).to_le_bytes());
        out.extend_from_slice(inline);
        out.extend_from_slice(&[0, 0]);
        out
    }

    pub fn header(variant: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(&mut out, variant);
        out
    }

    /// A Hello for the victim's interface, claiming `name_len` bytes of name.
    pub fn hello_claiming(name_len: u64, name: &[u8]) -> Vec<u8> {
        let mut inline = header(HELLO);
        varint(&mut inline, u64::from(multiprocess::PROTOCOL_VERSION));
        string(&mut inline, name_len, name);
        varint(&mut inline, 0); // fingerprint
        varint(&mut inline, 0); // no interfaces described
        frame(&inline)
    }

    pub fn hello() -> Vec<u8> {
        let name = b"hostile.Victim";
        hello_claiming(name.len() as u64, name)
    }

    pub fn new_thread(name_len: u64, name: &[u8]) -> Vec<u8> {
        let mut inline = header(NEW_THREAD);
        string(&mut inline, name_len, name);
        frame(&inline)
    }

    pub fn call(id: u64, object: u64, method: u64, check: u64, args: &[u8]) -> Vec<u8> {
        let mut inline = header(CALL);
        for value in [id, object, method, check] {
            varint(&mut inline, value);
        }
        inline.extend_from_slice(args);
        frame(&inline)
    }

    pub fn release(id: u64, object: u64) -> Vec<u8> {
        let mut inline = header(RELEASE);
        varint(&mut inline, id);
        varint(&mut inline, object);
        frame(&inline)
    }

    pub fn release_later(object: u64) -> Vec<u8> {
        let mut inline = header(RELEASE_LATER);
        varint(&mut inline, object);
        frame(&inline)
    }

    pub fn cancel(id: u64) -> Vec<u8> {
        let mut inline = header(CANCEL);
        varint(&mut inline, id);
        frame(&inline)
    }

    pub fn goodbye() -> Vec<u8> {
        frame(&header(GOODBYE))
    }

    /// A Return carrying a remote panic whose message claims `claimed` bytes.
    pub fn return_panic(id: u64, claimed: u64, message: &[u8]) -> Vec<u8> {
        let mut inline = header(RETURN);
        varint(&mut inline, id);
        varint(&mut inline, 1); // Err
        varint(&mut inline, 3); // Error::RemotePanic
        string(&mut inline, claimed, message);
        frame(&inline)
    }

    pub fn return_ok(id: u64, payload: &[u8]) -> Vec<u8> {
        let mut inline = header(RETURN);
        varint(&mut inline, id);
        varint(&mut inline, 0); // Ok
        inline.extend_from_slice(payload);
        frame(&inline)
    }

    /// Raw text as a method's `String` argument travels: inline, 8-byte length.
    pub fn text(out: &mut Vec<u8>, claimed: u64, bytes: &[u8]) {
        out.push(0);
        out.extend_from_slice(&claimed.to_le_bytes());
        out.extend_from_slice(bytes);
    }

    /// Reads one frame's inline part (no blobs expected).
    pub fn read_frame(stream: &mut impl Read) -> io::Result<Vec<u8>> {
        let mut prefix = [0; 8];
        stream.read_exact(&mut prefix)?;
        let total = u32::from_le_bytes(prefix[..4].try_into().unwrap()) as usize;
        let mut rest = vec![0; total - 4];
        stream.read_exact(&mut rest)?;
        let inline = u32::from_le_bytes(prefix[4..].try_into().unwrap()) as usize;
        rest.truncate(inline);
        Ok(rest)
    }

    /// The variant of a frame's header, and the varints that follow it.
    pub fn fields(inline: &[u8], count: usize) -> (u64, Vec<u64>, &[u8]) {
        let mut rest = inline;
        let mut next = || {
            let (value, used) = match rest[0] {
                byte @ 0..=250 => (u64::from(byte), 1),
                251 => (u64::from(u16::from_le_bytes(rest[1..3].try_into().unwrap())), 3),
                252 => (u64::from(u32::from_le_bytes(rest[1..5].try_into().unwrap())), 5),
                _ => (u64::from_le_bytes(rest[1..9].try_into().unwrap()), 9),
            };
            rest = &rest[used..];
            value
        };
        let variant = next();
        let values = (0..count).map(|_| next()).collect();
        (variant, values, rest)
    }
}

/// Sends `frame` with `fd` attached to its first byte.
fn send_with_fd(stream: &UnixStream, frame: &[u8], fd: &OwnedFd) {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    let sent = rustix::net::sendmsg(stream, &[IoSlice::new(frame)], &mut control, SendFlags::NOSIGNAL).unwrap();
    (&*stream).write_all(&frame[sent..]).unwrap();
}

/// Opens a channel on a raw connection: returns our end of it.
fn raw_channel(control: &UnixStream, name: &[u8]) -> UnixStream {
    let (ours, theirs) = UnixStream::pair().unwrap();
    send_with_fd(control, &wire::new_thread(name.len() as u64, name), &OwnedFd::from(theirs));
    ours.set_read_timeout(Some(BOUND)).unwrap();
    ours
}

fn method(name: &str) -> u64 {
    <dyn Victim as Interface>::WIRE.method_id(name)
}

fn check(name: &str) -> u64 {
    multiprocess::__private::method_check(<dyn Victim as Interface>::contract, name).expect("a method of Victim")
}

/// Sends a call of `name` on `channel` and returns the reply's outcome
/// variant (0: Ok, 1: Err), or `None` if the channel closed.
fn raw_call(channel: &mut UnixStream, id: u64, name: &str, args: &[u8]) -> Option<u64> {
    channel.write_all(&wire::call(id, 0, method(name), check(name), args)).ok()?;
    let reply = wire::read_frame(channel).ok()?;
    let (variant, values, _) = wire::fields(&reply, 2);
    assert_eq!(variant, wire::RETURN, "a Return");
    assert_eq!(values[0], id);
    Some(values[1])
}

const HUGE: [u64; 4] = [1 << 40, u64::MAX, u64::MAX - 1, 1 << 62];

#[test]
fn every_string_position_claiming_a_terabyte_is_refused_without_allocating() {
    let target = Target::start();
    let mut inputs = 0;
    target.survives("huge Hello name", HUGE.len(), |target| {
        for claim in HUGE {
            let mut stream = UnixStream::connect(target.path()).unwrap();
            stream.set_read_timeout(Some(BOUND)).unwrap();
            let _ = stream.write_all(&wire::hello_claiming(claim, b"abc"));
            // The server says Hello, then hangs up on us.
            let _ = wire::read_frame(&mut stream);
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        }
    });
    target.survives("huge NewThread name", HUGE.len(), |target| {
        for claim in HUGE {
            let control = target.raw();
            let (ours, theirs) = UnixStream::pair().unwrap();
            send_with_fd(&control, &wire::new_thread(claim, b"abc"), &OwnedFd::from(theirs));
            drop(ours);
            let mut control = control;
            let _ = control.read_to_end(&mut Vec::new());
        }
    });
    target.survives("huge call header on a channel", 2 * HUGE.len(), |target| {
        for claim in HUGE {
            let control = target.raw();
            let mut channel = raw_channel(&control, b"attacker");
            // A header whose call id is cut short, and one followed by a
            // string claim where the header should end.
            let mut inline = wire::header(wire::CALL);
            wire::varint(&mut inline, claim);
            let _ = channel.write_all(&wire::frame(&inline));
            let _ = channel.read_to_end(&mut Vec::new());
            inputs += 1;
            let control = target.raw();
            let mut channel = raw_channel(&control, b"attacker");
            let mut inline = wire::header(wire::NEW_THREAD);
            wire::string(&mut inline, claim, b"x");
            let _ = channel.write_all(&wire::frame(&inline));
            let _ = channel.read_to_end(&mut Vec::new());
            inputs += 1;
        }
    });
    target.survives("huge String argument", HUGE.len(), |target| {
        let control = target.raw();
        let mut channel = raw_channel(&control, b"attacker");
        for (id, claim) in HUGE.into_iter().enumerate() {
            let mut args = Vec::new();
            wire::text(&mut args, claim, b"short");
            // The call fails, with an error reply; the channel stays usable.
            assert_eq!(raw_call(&mut channel, id as u64 + 1, "echo", &args), Some(1));
        }
    });
    target.survives("huge String inside a user type", 2 * HUGE.len(), |target| {
        let control = target.raw();
        let mut channel = raw_channel(&control, b"attacker");
        let mut id = 0;
        for claim in HUGE {
            for field in 0..2 {
                let mut args = Vec::new();
                if field == 1 {
                    wire::string(&mut args, 1, b"t");
                }
                wire::string(&mut args, claim, b"short");
                id += 1;
                assert_eq!(raw_call(&mut channel, id, "take", &args), Some(1), "claim {claim} in field {field}");
            }
        }
    });
    assert!(inputs > 0);
}

/// The name a task channel is announced under (`tasks::TASKS_CHANNEL`).
const TASK_CHANNEL: &[u8] = b"\x01tasks";

#[test]
fn a_task_channel_takes_forged_cancels_releases_and_returns_without_harm() {
    let target = Target::start();
    target.survives("1,000 cancels of calls that never were, on a task channel", 1001, |target| {
        let control = target.raw();
        let mut channel = raw_channel(&control, TASK_CHANNEL);
        for id in 0..1000 {
            channel.write_all(&wire::cancel(id)).unwrap();
        }
        let mut args = Vec::new();
        wire::text(&mut args, 2, b"hi");
        assert_eq!(raw_call(&mut channel, 1, "echo", &args), Some(0), "a sync method on a task channel is answered");
    });
    target.survives("releases of objects that do not exist, on a task channel", 2, |target| {
        let control = target.raw();
        let mut channel = raw_channel(&control, TASK_CHANNEL);
        channel.write_all(&wire::release_later(424_242)).unwrap();
        channel.write_all(&wire::release(5, 424_243)).unwrap();
        let reply = wire::read_frame(&mut channel).expect("an answer");
        let (variant, values, _) = wire::fields(&reply, 2);
        assert_eq!((variant, values[0], values[1]), (wire::RETURN, 5, 1), "an error Return");
    });
    target.survives("a Return sent to the callee's side of a task channel", 1, |target| {
        let control = target.raw();
        let mut channel = raw_channel(&control, TASK_CHANNEL);
        channel.write_all(&wire::return_ok(7, &[])).unwrap();
        // A protocol error: the connection ends, and so does the channel.
        let mut rest = Vec::new();
        let ended = channel.read_to_end(&mut rest);
        assert!(ended.is_ok(), "the channel ended rather than timing out: {ended:?}");
        assert!(rest.is_empty(), "nothing was answered: {rest:?}");
    });
}

#[test]
fn nul_names_and_deep_nesting_are_errors_not_panics() {
    let target = Target::start();
    target.survives("NUL and control characters in a thread name", 3, |target| {
        for name in [&b"a\0b"[..], b"\0", b"\x1b[31mred\x1b[0m\n\r"] {
            let control = target.raw();
            let mut channel = raw_channel(&control, name);
            let mut args = Vec::new();
            wire::text(&mut args, 2, b"hi");
            assert_eq!(raw_call(&mut channel, 1, "echo", &args), Some(0), "served despite its name");
        }
    });
    target.survives("a tree nested 100,000 deep", 2, |target| {
        let control = target.raw();
        let mut channel = raw_channel(&control, b"attacker");
        // `Tree { children: [Tree { children: [...] }] }`: one length byte a level.
        let args = vec![1u8; 100_000];
        assert_eq!(raw_call(&mut channel, 1, "depth", &args), Some(1));
        let mut shallow = vec![1u8; 50];
        shallow.push(0);
        assert_eq!(raw_call(&mut channel, 2, "depth", &shallow), Some(0), "within the limit it is served");
    });
}

#[test]
fn forged_handles_inside_a_user_type_are_errors_and_take_nothing() {
    let target = Target::start();
    target.survives("forged handles inside a struct field", 6, |target| {
        let control = target.raw();
        let mut channel = raw_channel(&control, b"attacker");
        // `Subscription { topic: "t", token: ObjectRef }`, the reference forged.
        let subscription = |reference: &[u8]| {
            let mut args = Vec::new();
            wire::string(&mut args, 1, b"t");
            args.extend_from_slice(reference);
            args
        };
        let returned = |id: u64, transfer: u8| {
            let mut reference = Vec::new();
            wire::varint(&mut reference, 1); // Returned
            wire::varint(&mut reference, id);
            reference.push(transfer);
            reference
        };
        // An object that was never exported; the bootstrap object, which is
        // no Token, "handed back"; a bad bool; a variant that does not exist.
        let forged = [returned(999_999, 1), returned(0, 1), returned(0, 0), returned(0, 7), vec![9, 0]];
        for (id, reference) in forged.iter().enumerate() {
            assert_eq!(raw_call(&mut channel, id as u64 + 1, "subscribe", &subscription(reference)), Some(1));
        }
        // The bootstrap object is still there: a wrong-typed reference took nothing.
        let mut args = Vec::new();
        wire::text(&mut args, 2, b"ok");
        assert_eq!(raw_call(&mut channel, 99, "echo", &args), Some(0));
    });
}

#[test]
fn a_thread_flood_is_capped_and_each_refused_thread_is_told_why() {
    let target = Target::start();
    const FLOOD: usize = 3000;
    target.survives("3,000 NewThread frames", FLOOD, |target| {
        let control = target.raw();
        let mut channels = Vec::new();
        for _ in 0..FLOOD {
            channels.push(raw_channel(&control, b"flood"));
        }
        let mut refused = 0;
        let mut served = 0;
        for (id, channel) in channels.iter_mut().enumerate() {
            let mut args = Vec::new();
            wire::text(&mut args, 1, b"x");
            let _ = channel.write_all(&wire::call(id as u64 + 1, 0, method("echo"), check("echo"), &args));
            match wire::read_frame(channel) {
                Ok(reply) if wire::fields(&reply, 0).0 == wire::RETURN => served += 1,
                Ok(reply) => {
                    assert_eq!(wire::fields(&reply, 0).0, 6, "a Refused frame");
                    refused += 1;
                }
                Err(_) => refused += 1,
            }
        }
        assert!(served <= MAX_THREADS, "at most {MAX_THREADS} partner threads served: {served}");
        assert!(refused >= FLOOD - MAX_THREADS, "the rest were refused: {refused}");
        drop(channels);
        drop(control);
    });
}

#[test]
fn descriptors_sent_with_frames_that_take_none_are_closed() {
    let target = Target::start();
    target.survives("150 descriptors hoarded", 150, |target| {
        let control = target.raw();
        for object in 0..150 {
            let (ours, theirs) = UnixStream::pair().unwrap();
            send_with_fd(&control, &wire::release_later(1_000_000 + object), &OwnedFd::from(theirs));
            drop(ours);
        }
        // A NewThread with two descriptors: one is a channel, the other is closed.
        let (a, b) = UnixStream::pair().unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        {
            use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
            let b = OwnedFd::from(b);
            let file = OwnedFd::from(file);
            let fds = [b.as_fd(), file.as_fd()];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
            let mut ancillary = SendAncillaryBuffer::new(&mut space);
            ancillary.push(SendAncillaryMessage::ScmRights(&fds));
            let frame = wire::new_thread(2, b"hi");
            let sent =
                rustix::net::sendmsg(&control, &[IoSlice::new(&frame)], &mut ancillary, SendFlags::NOSIGNAL).unwrap();
            (&control).write_all(&frame[sent..]).unwrap();
        }
        let mut channel = a;
        channel.set_read_timeout(Some(BOUND)).unwrap();
        let mut args = Vec::new();
        wire::text(&mut args, 2, b"ok");
        assert_eq!(raw_call(&mut channel, 1, "echo", &args), Some(0));
        // A descriptor that is not a socket is not a channel.
        let (c, _) = UnixStream::pair().unwrap();
        drop(c);
        let file = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        send_with_fd(&control, &wire::new_thread(2, b"no"), &file);
    });
}

#[test]
fn partial_frames_are_bounded_in_bytes_and_in_time() {
    let target = Target::start();
    target.survives("4 channels x 100 MiB announced, 8 MiB sent, stalled", 4, |target| {
        let control = target.raw();
        let mut channels: Vec<UnixStream> = (0..4).map(|_| raw_channel(&control, b"stall")).collect();
        let chunk = vec![0u8; 1 << 20];
        for channel in &mut channels {
            let mut start = ((100u32 << 20) + 10).to_le_bytes().to_vec();
            start.extend_from_slice(&(100u32 << 20).to_le_bytes());
            let _ = channel.write_all(&start);
            for _ in 0..8 {
                if channel.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
        // The server gives up on the frames (too many bytes held, or too
        // slow) and closes the connection.
        let mut control = control;
        let started = Instant::now();
        let _ = control.read_to_end(&mut Vec::new());
        assert!(started.elapsed() < BOUND, "closed within the frame timeout");
    });
    target.survives("six 8-byte announcements of 256 MiB", 6, |target| {
        let control = target.raw();
        let channels: Vec<UnixStream> = (0..6)
            .map(|_| {
                let mut channel = raw_channel(&control, b"announce");
                let mut start = (255u32 << 20).to_le_bytes().to_vec();
                start.extend_from_slice(&(1u32 << 20).to_le_bytes());
                let _ = channel.write_all(&start);
                channel
            })
            .collect();
        let mut control = control;
        let _ = control.read_to_end(&mut Vec::new());
        drop(channels);
    });
}

#[test]
fn a_client_that_stops_reading_cannot_hold_a_partner_thread() {
    let target = Target::start();
    target.survives("a 12 MiB reply nobody reads", 1, |target| {
        let control = target.raw();
        let mut channel = raw_channel(&control, b"deaf");
        let text = vec![b'x'; 12 << 20];
        // Large strings travel as blobs; build that frame by hand.
        let mut inline = wire::header(wire::CALL);
        for value in [1, 0, method("echo"), check("echo")] {
            wire::varint(&mut inline, value);
        }
        inline.push(1); // the string is the next blob
        let total = (4 + inline.len() + 2 + 8 + text.len()) as u32;
        let mut frame = total.to_le_bytes().to_vec();
        frame.extend_from_slice(&(inline.len() as u32).to_le_bytes());
        frame.extend_from_slice(&inline);
        frame.extend_from_slice(&1u16.to_le_bytes());
        frame.extend_from_slice(&(text.len() as u64).to_le_bytes());
        channel.write_all(&frame).unwrap();
        channel.write_all(&text).unwrap();
        // Never read the reply: the partner's write stalls, and after the
        // frame timeout the server gives up on the connection.
        let started = Instant::now();
        let mut control = control;
        let _ = control.read_to_end(&mut Vec::new());
        assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
        drop(channel);
    });
}

/// In a forked child: the parent's connection is not the child's to use.
fn forked_use_of_a_connection() -> ! {
    let echo = multiprocess::pair::<dyn Victim>(Box::new(Server)).expect("pair");
    assert_eq!(echo.echo("before".into()), "before");
    // SAFETY: the child only calls into the library (whose fork handler has
    // run) and exits; glibc's allocator is usable after fork.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| echo.echo("child".into())));
        let disconnected = outcome.is_err_and(|panic| {
            panic.downcast_ref::<String>().is_some_and(|message| message.contains("connection to the peer is closed"))
        });
        // Dropping it too must leave the parent's sockets alone.
        drop(echo);
        std::process::exit(if disconnected { 0 } else { 1 });
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let child_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let parent_ok = echo.echo("after".into()) == "after";
    println!("fork: child {child_ok} parent {parent_ok}");
    std::process::exit(0);
}

#[test]
fn a_forked_child_cannot_use_its_parents_connections() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "server_entry", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, "fork")
        .output()
        .expect("run the forking helper");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("fork: child true parent true"), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn trickled_and_silent_handshakes_end_within_the_handshake_timeout() {
    let target = Target::start();
    target.survives("a Hello trickled a byte every 300 ms", 1, |target| {
        let mut stream = UnixStream::connect(target.path()).unwrap();
        stream.set_read_timeout(Some(BOUND)).unwrap();
        let started = Instant::now();
        for byte in wire::hello() {
            if stream.write_all(&[byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
            if started.elapsed() > HANDSHAKE_TIMEOUT * 4 {
                break;
            }
        }
        let _ = stream.read_to_end(&mut Vec::new());
        assert!(started.elapsed() < HANDSHAKE_TIMEOUT * 5, "given up after {:?}", started.elapsed());
    });
    target.survives("silent clients holding every listener slot", 6, |target| {
        // Six silent clients against four slots: the slots come back.
        let silent: Vec<UnixStream> = (0..6).map(|_| UnixStream::connect(target.path()).unwrap()).collect();
        let started = Instant::now();
        let good = target.client();
        assert_eq!(good.echo("served".into()), "served");
        assert!(started.elapsed() < HANDSHAKE_TIMEOUT * 6, "waited {:?}", started.elapsed());
        drop(silent);
    });
}

#[test]
fn forged_and_double_releases_are_refused() {
    let target = Target::start();
    target.survives("forged and double releases", 5, |target| {
        let control = target.raw();
        let mut channel = raw_channel(&control, b"releaser");
        // Make a token, as a client would; its id is in the reply.
        channel.write_all(&wire::call(1, 0, method("make"), check("make"), &[])).unwrap();
        let reply = wire::read_frame(&mut channel).unwrap();
        let (_, values, rest) = wire::fields(&reply, 2);
        assert_eq!(values[1], 0, "made");
        let (exported, token, _) = wire::fields(rest, 1);
        assert_eq!(exported, 0, "ObjectRef::Exported");
        let token = token[0];
        for (id, object) in [(2, token), (3, token), (4, 999_999), (5, 0)] {
            channel.write_all(&wire::release(id, object)).unwrap();
            let reply = wire::read_frame(&mut channel).unwrap();
            let (_, values, _) = wire::fields(&reply, 2);
            // The first release of the token, and of the bootstrap object, are
            // real; a second one, or one of an id never handed out, is refused.
            let expected = if id == 2 || id == 5 { 0 } else { 1 };
            assert_eq!(values, [id, expected], "release {id} of {object}");
        }
        // Releasing the bootstrap object (id 0) dropped it: calls on it fail.
        let mut args = Vec::new();
        wire::text(&mut args, 1, b"x");
        assert_eq!(raw_call(&mut channel, 6, "echo", &args), Some(1));
        control.shutdown(std::net::Shutdown::Both).unwrap();
    });
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// Well-formed frames with arbitrary contents: random bytes almost never
    /// get past the length check, so they would test nothing.
    fn frame() -> impl Strategy<Value = Vec<u8>> {
        let bytes = prop::collection::vec(any::<u8>(), 0..64);
        let id = prop_oneof![Just(0u64), Just(1), any::<u64>()];
        let method = prop_oneof![
            Just(super::method("echo")),
            Just(super::method("take")),
            Just(super::method("make")),
            Just(super::method("call_back")),
            any::<u64>()
        ];
        prop_oneof![
            (id.clone(), id.clone(), method, any::<bool>(), bytes.clone()).prop_map(
                |(id, object, method, good, args)| {
                    let check = if good { super::check("echo") } else { 7 };
                    wire::call(id, object % 4, method, check, &args)
                }
            ),
            (id.clone(), id.clone()).prop_map(|(id, object)| wire::release(id, object % 4)),
            id.clone().prop_map(wire::release_later),
            (any::<u64>(), bytes.clone()).prop_map(|(claim, name)| wire::new_thread(claim % 128, &name)),
            (id.clone(), bytes.clone()).prop_map(|(id, payload)| wire::return_ok(id, &payload)),
            (id, any::<u64>(), bytes.clone()).prop_map(|(id, claim, message)| wire::return_panic(id, claim, &message)),
            bytes.clone().prop_map(|inline| wire::frame(&inline)),
            (0u64..10, bytes).prop_map(|(variant, rest)| {
                let mut inline = wire::header(variant);
                inline.extend_from_slice(&rest);
                wire::frame(&inline)
            }),
            Just(wire::goodbye()),
        ]
    }

    fn cases() -> u32 {
        std::env::var("MULTIPROCESS_FUZZ_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(64)
    }

    #[test]
    fn well_formed_frames_with_arbitrary_contents_on_the_control_stream_and_a_channel() {
        let target = Target::start();
        let cases = cases();
        let tried = std::cell::Cell::new(0);
        let frames_sent = std::cell::Cell::new(0);
        target.survives_counted(
            "fuzzed frames",
            || frames_sent.get(),
            |target| {
                let mut runner =
                    proptest::test_runner::TestRunner::new(ProptestConfig { cases, ..ProptestConfig::default() });
                runner
                    .run(&(prop::collection::vec(frame(), 1..6), any::<bool>()), |(frames, on_channel)| {
                        tried.set(tried.get() + 1);
                        let control = target.raw();
                        let mut stream =
                            if on_channel { raw_channel(&control, b"fuzz") } else { control.try_clone().unwrap() };
                        for frame in &frames {
                            if stream.write_all(frame).is_err() {
                                break;
                            }
                            frames_sent.set(frames_sent.get() + 1);
                        }
                        // Whatever the server answered, it did not die, and a
                        // well-behaved call still goes through on a new connection.
                        stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                        let _ = stream.read_to_end(&mut Vec::new());
                        drop(stream);
                        drop(control);
                        prop_assert!(target.alive());
                        Ok(())
                    })
                    .unwrap();
            },
        );
        assert_eq!(tried.get(), cases as usize);
    }
}

/// As a spawned child: says Hello to the parent, then does what the attack
/// in the environment says with the parent's calls.
fn hostile_child() {
    let attack = std::env::var(ATTACK).unwrap_or_default();
    let value = std::env::var(multiprocess::FD_VARIABLE).expect("spawned");
    let fd: i32 = value.split(':').next().unwrap().parse().unwrap();
    // SAFETY: the parent gave this process this socket, and nothing else owns it.
    let mut control = unsafe { <UnixStream as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    if attack == "no-hello" {
        std::thread::sleep(BOUND);
        std::process::exit(0);
    }
    control.write_all(&wire::hello()).unwrap();
    let _ = wire::read_frame(&mut control);
    // The parent's first call opens a channel: take its socket.
    let mut buf = [0u8; 8];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = rustix::net::RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        &control,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut ancillary,
        rustix::net::RecvFlags::empty(),
    )
    .unwrap();
    let mut channel = None;
    for message in ancillary.drain() {
        if let rustix::net::RecvAncillaryMessage::ScmRights(fds) = message {
            channel = fds.into_iter().next().map(UnixStream::from);
        }
    }
    let total = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
    let mut rest = vec![0; total + 4 - received.bytes];
    control.read_exact(&mut rest).unwrap();
    let mut channel = channel.expect("a channel with the NewThread frame");
    let call = wire::read_frame(&mut channel).unwrap();
    let (_, values, _) = wire::fields(&call, 1);
    let id = values[0];
    match attack.as_str() {
        "huge-fault" => {
            let _ = channel.write_all(&wire::return_panic(id, 1 << 40, b"boom"));
        }
        "max-fault" => {
            let _ = channel.write_all(&wire::return_panic(id, u64::MAX, b"boom"));
        }
        "deep-result" => {
            let _ = channel.write_all(&wire::return_ok(id, &vec![1u8; 100_000]));
        }
        "escape-fault" => {
            let message = b"\x1b[2J\x1b[Hforged log line\n";
            let _ = channel.write_all(&wire::return_panic(id, message.len() as u64, message));
        }
        "flood" => {
            for _ in 0..3000 {
                let (ours, theirs) = UnixStream::pair().unwrap();
                send_with_fd(&control, &wire::new_thread(1, b"f"), &OwnedFd::from(theirs));
                drop(ours);
            }
        }
        // "silent": never answer.
        _ => {}
    }
    // Stay until the parent is done with us.
    let _ = control.read_to_end(&mut Vec::new());
    std::process::exit(0);
}

fn spawn_hostile(
    attack: &str,
    config: multiprocess::Config,
) -> Result<multiprocess::Spawned<dyn Victim>, multiprocess::Error> {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", "server_entry", "--nocapture", "--test-threads=1", "-q"]);
    command.env(ROLE, "child").env(ATTACK, attack).stdout(Stdio::null());
    multiprocess::spawn_process_with::<dyn Victim>(command, config)
}

/// What a parent must survive from its child: each attack answers the
/// parent's first call.
#[test]
fn a_hostile_child_cannot_kill_hang_or_flood_its_parent() {
    let before = vitals();
    let config = multiprocess::Config {
        call_timeout: Some(Duration::from_secs(2)),
        handshake_timeout: HANDSHAKE_TIMEOUT,
        max_partner_threads: MAX_THREADS,
        ..Default::default()
    };
    // Dropping the last proxy of a silent child's object waits no longer than the call timeout.
    let silent = spawn_hostile("silent", config.clone()).expect("spawned").into_remote();
    let started = Instant::now();
    drop(silent);
    assert!(started.elapsed() < Duration::from_secs(2) + BOUND / 4, "the drop took {:?}", started.elapsed());
    for attack in ["huge-fault", "max-fault", "deep-result", "escape-fault", "silent"] {
        let started = Instant::now();
        let child = spawn_hostile(attack, config.clone()).expect("spawned");
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if attack == "deep-result" { drop(child.remote().grow(3)) } else { drop(child.remote().echo("hi".into())) }
        }));
        let message = answer.expect_err("the call fails").downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.starts_with("ipc call Victim."), "{attack}: {message}");
        assert!(!message.contains('\x1b'), "{attack}: control characters reach the message: {message:?}");
        if attack == "silent" {
            assert!(message.contains("did not answer in time"), "{message}");
        }
        let drop_started = Instant::now();
        drop(child);
        assert!(drop_started.elapsed() < BOUND, "{attack}: dropping the child took {:?}", drop_started.elapsed());
        eprintln!("child attack {attack:<14} parent saw: {message:.90} ({:.2?})", started.elapsed());
    }
    // A child that never says Hello: the handshake times out.
    let started = Instant::now();
    let error = spawn_hostile("no-hello", config.clone()).unwrap_err();
    assert!(error.to_string().contains("no Hello"), "{error}");
    assert!(started.elapsed() < HANDSHAKE_TIMEOUT * 8, "{:?}", started.elapsed());
    // A child that floods the parent with threads.
    let child = spawn_hostile("flood", config).expect("spawned");
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child.remote().echo("hi".into())));
    let peak = vitals();
    drop(child);
    assert!(
        peak.threads < before.threads + MAX_THREADS as u64 + 16,
        "threads {} from {}",
        peak.threads,
        before.threads
    );
    let deadline = Instant::now() + BOUND;
    while vitals().fds > before.fds + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = vitals();
    assert!(after.fds <= before.fds + 2, "descriptors {} from {}", after.fds, before.fds);
    eprintln!("child attack flood          parent peak threads {} (base {})", peak.threads, before.threads);
}
