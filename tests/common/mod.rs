//! What the cross-process tests share: the `Lab` interface, its local
//! implementation, and a way to get a `Lab` either over `pair()` or in a child
//! process. The child is this very test binary, started again so that it runs
//! only the test made by [`child_entry!`], which serves a `Lab`.

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

use std::cell::Cell;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use multiprocess::{Deserialize, Serialize, ipc_interface};

/// How long any test waits for something that should happen at once.
pub const BOUND: Duration = Duration::from_secs(10);

/// Where a piece of code ran: process and thread.
pub fn here() -> String {
    format!("{}/{:?}/{}", std::process::id(), std::thread::current().id(), std::thread::current().name().unwrap_or(""))
}

/// What a fallible `Lab` method returns; transport failures keep the variant
/// that matters to the tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum LabError {
    Disconnected,
    Other(String),
}

impl From<multiprocess::Error> for LabError {
    fn from(error: multiprocess::Error) -> Self {
        match error {
            multiprocess::Error::Disconnected => LabError::Disconnected,
            other => LabError::Other(other.to_string()),
        }
    }
}

#[ipc_interface]
pub trait Counter: Send + Sync {
    fn id(&self) -> u64;
    fn add(&self, amount: u64) -> u64;
}

/// Where dropped counters are recorded: their id, and where the drop ran.
pub type DropLog = Arc<Mutex<Vec<(u64, String)>>>;

/// A callback the Lab keeps.
pub type Kept = Arc<dyn Fn(u32) -> u32 + Send + Sync>;

/// A counter that records when it is dropped, and where.
pub struct LocalCounter {
    pub id: u64,
    pub total: AtomicU64,
    pub drops: Option<DropLog>,
}

impl LocalCounter {
    pub fn new(id: u64) -> Self {
        LocalCounter { id, total: AtomicU64::new(0), drops: None }
    }

    pub fn recording(id: u64, drops: &DropLog) -> Self {
        LocalCounter { id, total: AtomicU64::new(0), drops: Some(drops.clone()) }
    }
}

impl Counter for LocalCounter {
    fn id(&self) -> u64 {
        self.id
    }
    fn add(&self, amount: u64) -> u64 {
        self.total.fetch_add(amount, Ordering::SeqCst) + amount
    }
}

impl Drop for LocalCounter {
    fn drop(&mut self) {
        if let Some(drops) = &self.drops {
            drops.lock().unwrap().push((self.id, here()));
        }
    }
}

/// Everything the semantic tests ask of the other side.
#[ipc_interface]
pub trait Lab: Send + Sync {
    /// Where the call runs.
    fn here(&self) -> String;
    fn pid(&self) -> u32;
    fn set_local(&self, value: u64);
    fn get_local(&self) -> u64;
    /// Calls `callback` and returns what it returned.
    fn call_back(&self, callback: Box<dyn Fn() -> String + Send + Sync>) -> String;
    /// Records where it runs, then (above depth 0) calls `back`, which does the same on the other side.
    fn nest(&self, depth: u32, back: Arc<dyn Fn(u32) -> Vec<String> + Send + Sync>) -> Vec<String>;
    fn call_mut(&self, times: u32, callback: Box<dyn FnMut(u32) + Send>);
    fn call_once(&self, callback: Box<dyn FnOnce(String) -> String + Send>) -> String;
    /// Blocks until `release` is called (by another thread).
    fn wait_for_release(&self) -> u32;
    fn waiting(&self) -> u32;
    fn release(&self);
    fn make_counter(&self, id: u64) -> Box<dyn Counter>;
    fn counters_dropped(&self) -> Vec<u64>;
    fn keep(&self, callback: Arc<dyn Fn(u32) -> u32 + Send + Sync>);
    fn fire(&self, value: u32) -> Option<u32>;
    fn forget(&self);
    fn keep_counter(&self, counter: Box<dyn Counter>);
    fn give_back(&self, counter: Box<dyn Counter>) -> Box<dyn Counter>;
    fn give_back_shared(&self, counter: Arc<dyn Counter>) -> Arc<dyn Counter>;
    fn total(&self, counters: Vec<Box<dyn Counter>>, extra: Option<Arc<dyn Counter>>) -> u64;
    fn counters(&self, ids: Vec<u64>) -> Vec<Box<dyn Counter>>;
    fn maybe_counter(&self, id: Option<u64>) -> Option<Box<dyn Counter>>;
    /// (exported objects, proxies, partner threads) of the serving side of this connection.
    fn stats(&self) -> (usize, usize, usize);
    /// Closes this connection from the serving side, from another thread; the
    /// close may overtake the reply, hence the `Result`.
    fn hang_up(&self) -> Result<(), LabError>;
    fn panic_now(&self, message: String) -> Result<u32, LabError>;
    /// Like `wait_for_release`, but fallible, to see how a call in flight ends.
    fn block(&self) -> Result<u32, LabError>;
    /// The descriptors this process had open when it started (number -> target).
    fn inherited_fds(&self) -> Vec<(u32, String)>;
    /// Calls a borrowed counter `times` times; returns what it last said and where it ran.
    fn visit(&self, counter: &dyn Counter, times: u32) -> (u64, u64);
    /// The value families of the core, served where this Lab lives.
    fn calculator(&self) -> Box<dyn interfaces::Calculator>;
}

thread_local! {
    static LOCAL: Cell<u64> = const { Cell::new(0) };
}

/// The descriptors open in this process, as `(number, target)`, leaving out
/// the one the listing itself uses.
pub fn open_fds() -> Vec<(u32, String)> {
    let mut fds: Vec<(u32, String)> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let fd = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?.to_string_lossy().into_owned();
            Some((fd, target))
        })
        .filter(|(_, target)| !target.starts_with("/proc/"))
        .collect();
    fds.sort();
    fds
}

/// What [`open_fds`] said when the child started, before it served anything.
pub static STARTUP_FDS: std::sync::OnceLock<Vec<(u32, String)>> = std::sync::OnceLock::new();

#[derive(Default)]
pub struct LocalLab {
    gate: Mutex<(u32, bool)>,
    gate_signal: Condvar,
    kept: Mutex<Option<Kept>>,
    kept_counters: Mutex<Vec<Box<dyn Counter>>>,
    dropped: DropLog,
}

impl Lab for LocalLab {
    fn here(&self) -> String {
        here()
    }
    fn pid(&self) -> u32 {
        std::process::id()
    }
    fn set_local(&self, value: u64) {
        LOCAL.with(|local| local.set(value));
    }
    fn get_local(&self) -> u64 {
        LOCAL.with(Cell::get)
    }
    fn call_back(&self, callback: Box<dyn Fn() -> String + Send + Sync>) -> String {
        callback()
    }
    fn nest(&self, depth: u32, back: Arc<dyn Fn(u32) -> Vec<String> + Send + Sync>) -> Vec<String> {
        let mut trace = vec![format!("server {depth} {}", here())];
        if depth > 0 {
            trace.extend(back(depth - 1));
        }
        trace
    }
    fn call_mut(&self, times: u32, mut callback: Box<dyn FnMut(u32) + Send>) {
        for i in 0..times {
            callback(i);
        }
    }
    fn call_once(&self, callback: Box<dyn FnOnce(String) -> String + Send>) -> String {
        callback("once".into())
    }
    fn wait_for_release(&self) -> u32 {
        let mut gate = self.gate.lock().unwrap();
        gate.0 += 1;
        let deadline = Instant::now() + BOUND;
        while !gate.1 && Instant::now() < deadline {
            gate = self.gate_signal.wait_timeout(gate, Duration::from_millis(50)).unwrap().0;
        }
        gate.0 -= 1;
        u32::from(std::mem::take(&mut gate.1))
    }
    fn waiting(&self) -> u32 {
        self.gate.lock().unwrap().0
    }
    fn release(&self) {
        self.gate.lock().unwrap().1 = true;
        self.gate_signal.notify_all();
    }
    fn make_counter(&self, id: u64) -> Box<dyn Counter> {
        Box::new(LocalCounter::recording(id, &self.dropped))
    }
    fn counters_dropped(&self) -> Vec<u64> {
        self.dropped.lock().unwrap().iter().map(|(id, _)| *id).collect()
    }
    fn keep(&self, callback: Arc<dyn Fn(u32) -> u32 + Send + Sync>) {
        *self.kept.lock().unwrap() = Some(callback);
    }
    fn fire(&self, value: u32) -> Option<u32> {
        let kept = self.kept.lock().unwrap().clone();
        kept.map(|callback| callback(value))
    }
    fn forget(&self) {
        let kept = self.kept.lock().unwrap().take();
        drop(kept);
    }
    fn keep_counter(&self, counter: Box<dyn Counter>) {
        self.kept_counters.lock().unwrap().push(counter);
    }
    fn give_back(&self, counter: Box<dyn Counter>) -> Box<dyn Counter> {
        counter
    }
    fn give_back_shared(&self, counter: Arc<dyn Counter>) -> Arc<dyn Counter> {
        counter
    }
    fn total(&self, counters: Vec<Box<dyn Counter>>, extra: Option<Arc<dyn Counter>>) -> u64 {
        counters.iter().map(|c| c.add(0)).sum::<u64>() + extra.map_or(0, |c| c.add(0))
    }
    fn counters(&self, ids: Vec<u64>) -> Vec<Box<dyn Counter>> {
        ids.into_iter().map(|id| Box::new(LocalCounter::recording(id, &self.dropped)) as Box<dyn Counter>).collect()
    }
    fn maybe_counter(&self, id: Option<u64>) -> Option<Box<dyn Counter>> {
        id.map(|id| Box::new(LocalCounter::recording(id, &self.dropped)) as Box<dyn Counter>)
    }
    fn stats(&self) -> (usize, usize, usize) {
        let stats = multiprocess::current_connection().expect("serving a call").stats();
        (stats.exported_objects, stats.proxies, stats.partner_threads)
    }
    fn hang_up(&self) -> Result<(), LabError> {
        let connection = multiprocess::current_connection().expect("serving a call");
        std::thread::spawn(move || connection.close());
        Ok(())
    }
    fn panic_now(&self, message: String) -> Result<u32, LabError> {
        panic!("{message}")
    }
    fn block(&self) -> Result<u32, LabError> {
        Ok(self.wait_for_release())
    }
    fn inherited_fds(&self) -> Vec<(u32, String)> {
        STARTUP_FDS.get().cloned().unwrap_or_default()
    }
    fn visit(&self, counter: &dyn Counter, times: u32) -> (u64, u64) {
        let total = (0..times).map(|_| counter.add(1)).last().unwrap_or(0);
        (counter.id(), total)
    }
    fn calculator(&self) -> Box<dyn interfaces::Calculator> {
        Box::new(interfaces::LocalCalculator)
    }
}

/// Which side of a process boundary the `Lab` lives on, and what carries its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Both ends of a socketpair (a named pipe on Windows) in this process.
    Pair,
    /// A child process.
    Process,
    /// A TCP listener in this process, and a connection to it.
    Tcp,
    /// A child process that listens on TCP, and a connection to it.
    TcpProcess,
}

impl Mode {
    /// Whether the `Lab` runs in another process.
    pub fn in_child(self) -> bool {
        matches!(self, Mode::Process | Mode::TcpProcess)
    }
}

pub enum Remote {
    Pair(Box<dyn Lab>),
    Process(multiprocess::Spawned<dyn Lab>),
    Tcp(Box<dyn Lab>, multiprocess::Listener),
    TcpProcess(TcpChild),
}

/// A child serving a `Lab` on a TCP port, and our connection to it.
pub struct TcpChild {
    lab: Option<Box<dyn Lab>>,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Drop for TcpChild {
    fn drop(&mut self) {
        // The child serves one connection and exits once it ends.
        self.lab = None;
        let deadline = Instant::now() + BOUND;
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Set in the environment of a child that should serve a `Lab` over TCP: the
/// path of the cookie it writes its secret to.
pub const TCP_CHILD: &str = "MULTIPROCESS_TEST_TCP_COOKIE";

/// In a child: listens on a loopback port with a new secret written to
/// `cookie`, prints the address, serves one connection and returns when it ends.
pub fn serve_lab_over_tcp(cookie: &std::path::Path) {
    let secret = multiprocess::Secret::generate().expect("a secret");
    secret.write_to(cookie).expect("write the cookie");
    let options = multiprocess::ListenOptions { secret: Some(secret), max_connections: Some(1), ..Default::default() };
    // Counted once the connection is counted; a connection may come and
    // go between two looks at `connections()`, never between two at this.
    let made = Arc::new(AtomicU64::new(0));
    let count = made.clone();
    let listener = multiprocess::listen_with::<dyn Lab>("tcp:127.0.0.1:0", options, move || {
        count.fetch_add(1, Ordering::SeqCst);
        Box::new(LocalLab::default())
    })
    .expect("listen");
    println!("listening {}", listener.address());
    let deadline = Instant::now() + BOUND * 3;
    while made.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "nobody connected");
        std::thread::sleep(Duration::from_millis(5));
    }
    while listener.connections() > 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn tcp_child() -> TcpChild {
    use std::io::BufRead;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mp-tcp-child-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let cookie = dir.join("ipc.cookie");
    let mut child =
        child_command().env(TCP_CHILD, &cookie).stdout(std::process::Stdio::piped()).spawn().expect("start the child");
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let address = std::io::BufReader::new(stdout)
            .lines()
            .find_map(|line| line.ok()?.strip_prefix("listening ").map(str::to_owned));
        let _ = sender.send(address);
    });
    let address = receiver.recv_timeout(BOUND).ok().flatten().expect("the child says where it listens");
    let secret = multiprocess::Secret::from_file(&cookie).expect("the child's cookie");
    let options = multiprocess::ConnectOptions { secret: Some(secret), ..Default::default() };
    let lab = multiprocess::connect_with::<dyn Lab>(&address, options).expect("connect to the child");
    TcpChild { lab: Some(lab), child, dir }
}

impl Remote {
    pub fn lab(&self) -> &(dyn Lab + 'static) {
        match self {
            Remote::Pair(lab) | Remote::Tcp(lab, _) => &**lab,
            Remote::Process(spawned) => spawned.remote(),
            Remote::TcpProcess(child) => child.lab.as_deref().expect("present until drop"),
        }
    }

    pub fn connection(&self) -> multiprocess::Connection {
        multiprocess::connection_of(self.lab()).expect("a proxy")
    }

    /// The `Lab` alone. A TCP listener in this process stops taking new
    /// connections but serves this one on; a TCP child is left to exit when
    /// the connection ends.
    pub fn into_lab(self) -> Box<dyn Lab> {
        match self {
            Remote::Pair(lab) | Remote::Tcp(lab, _) => lab,
            Remote::Process(spawned) => spawned.into_remote(),
            Remote::TcpProcess(mut child) => {
                let lab = child.lab.take().expect("present until drop");
                let connection = multiprocess::connection_of(&*lab).expect("a proxy");
                // Reaped once the connection ends (or the test has long finished).
                std::thread::spawn(move || {
                    connection.wait_closed(BOUND * 6);
                    drop(child);
                });
                lab
            }
        }
    }
}

/// The name of the test that serves a `Lab` when this binary runs as a child.
pub const CHILD_ENTRY: &str = "child_entry";

pub fn child_command() -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command.args(["--exact", CHILD_ENTRY, "--nocapture", "--test-threads=1", "-q"]);
    // The harness's own report would mix with the parent's; panics still reach stderr.
    command.stdout(std::process::Stdio::null());
    command
}

pub fn remote(mode: Mode) -> Remote {
    match mode {
        Mode::Pair => Remote::Pair(multiprocess::pair::<dyn Lab>(Box::new(LocalLab::default())).expect("pair")),
        Mode::Process => {
            Remote::Process(multiprocess::spawn_process::<dyn Lab>(child_command()).expect("spawn the child"))
        }
        Mode::Tcp => {
            let secret = multiprocess::Secret::generate().expect("a secret");
            let options = multiprocess::ListenOptions { secret: Some(secret.clone()), ..Default::default() };
            let listener =
                multiprocess::listen_with::<dyn Lab>("tcp:127.0.0.1:0", options, || Box::new(LocalLab::default()))
                    .expect("listen");
            let options = multiprocess::ConnectOptions { secret: Some(secret), ..Default::default() };
            let lab = multiprocess::connect_with::<dyn Lab>(listener.address(), options).expect("connect");
            Remote::Tcp(lab, listener)
        }
        Mode::TcpProcess => Remote::TcpProcess(tcp_child()),
    }
}

/// Every way a `Lab` can be reached.
pub const MODES: [Mode; 4] = [Mode::Pair, Mode::Process, Mode::Tcp, Mode::TcpProcess];

/// Runs `test` over `pair()`, across a child process, over TCP in this
/// process and over TCP to a child.
pub fn every_mode(test: impl Fn(Mode, Remote)) {
    for mode in MODES {
        test(mode, remote(mode));
    }
}

/// Polls `condition` until it holds or [`BOUND`] passes.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every test binary that runs a child declares this test: started by
/// `spawn_process`, it serves a `Lab` until the parent goes away; run as a test,
/// it checks that `serve_process` refuses to run without a parent.
#[macro_export]
macro_rules! child_entry {
    () => {
        #[test]
        fn child_entry() {
            if let Some(cookie) = std::env::var_os(common::TCP_CHILD) {
                common::serve_lab_over_tcp(std::path::Path::new(&cookie));
                std::process::exit(0);
            }
            let spawned = std::env::var_os(multiprocess::FD_VARIABLE).is_some();
            common::STARTUP_FDS.get_or_init(common::open_fds);
            match multiprocess::serve_process::<dyn common::Lab>(Box::new(common::LocalLab::default())) {
                Ok(()) if spawned => std::process::exit(0),
                Err(multiprocess::Error::NotSpawned) if !spawned => {}
                outcome => panic!("serve_process returned {outcome:?} (spawned: {spawned})"),
            }
        }
    };
}
