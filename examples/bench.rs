//! The cost of a call, against the floor: a raw length-prefixed ping-pong of
//! the same bytes over the same kind of socket between two processes,
//! measured in the same run. Unix socket rows are against a raw socketpair,
//! TCP rows against a raw loopback TCP connection (Nagle off, as ours).
//!
//! ```sh
//! cargo run --release -p examples --bin bench                  # unpinned
//! taskset -c 0 cargo run --release -p examples --bin bench     # every thread on one core
//! cargo run --release -p examples --bin bench -- --json        # one JSON object per line
//! ```
//!
//! Each row gives p50 / p90 / p99 latency in µs and the p50 ratio to the raw
//! round trip with the same payload. Absolute times drift on a shared machine;
//! ratios measured in one run hold.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
#[cfg(unix)]
use std::os::fd::{AsFd, OwnedFd};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use multiprocess::{Spawned, ipc_interface};

#[ipc_interface]
pub trait Bench: Send + Sync {
    fn echo_bytes(&self, data: Vec<u8>) -> Vec<u8>;
    fn echo_string(&self, data: String) -> String;
    /// Calls `callback` `iterations` times and returns each round trip in ns.
    fn time_callbacks(&self, callback: Box<dyn Fn(u32) -> u32 + Send + Sync>, iterations: u32) -> Vec<u64>;
    fn make_token(&self) -> Box<dyn Token>;
    async fn echo_async(&self, data: Vec<u8>) -> Vec<u8>;
    /// Calls `callback` `iterations` times from an async method and returns each round trip in ns.
    async fn time_callbacks_async(&self, callback: Box<dyn Fn(u32) -> u32 + Send + Sync>, iterations: u32) -> Vec<u64>;
    /// Installs a tracing subscriber that keeps `ipc` off.
    fn install_quiet_subscriber(&self);
}

#[ipc_interface]
pub trait Token: Send + Sync {
    fn id(&self) -> u64;
}

struct LocalBench;

static TOKENS: AtomicU64 = AtomicU64::new(0);

struct LocalToken(u64);

impl Token for LocalToken {
    fn id(&self) -> u64 {
        self.0
    }
}

#[ipc_interface]
impl Bench for LocalBench {
    fn echo_bytes(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
    fn echo_string(&self, data: String) -> String {
        data
    }
    fn time_callbacks(&self, callback: Box<dyn Fn(u32) -> u32 + Send + Sync>, iterations: u32) -> Vec<u64> {
        (0..iterations)
            .map(|i| {
                let start = Instant::now();
                std::hint::black_box(callback(i));
                start.elapsed().as_nanos() as u64
            })
            .collect()
    }
    async fn echo_async(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }

    async fn time_callbacks_async(&self, callback: Box<dyn Fn(u32) -> u32 + Send + Sync>, iterations: u32) -> Vec<u64> {
        self.time_callbacks(callback, iterations)
    }

    fn make_token(&self) -> Box<dyn Token> {
        Box::new(LocalToken(TOKENS.fetch_add(1, Ordering::Relaxed)))
    }
    fn install_quiet_subscriber(&self) {
        install_quiet_subscriber();
    }
}

fn install_quiet_subscriber() {
    // A subscriber that is installed but passes nothing at debug level: what a
    // production program pays for the `ipc` events it does not show.
    multiprocess::logging::init::<&str>(&[]);
}

#[derive(Parser)]
#[command(about = "Measure the cost of a multiprocess call against a raw socket ping-pong")]
struct Args {
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Scale the number of samples (1.0 is the default run).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
}

/// The environment variable that makes this program a raw echo child: `unix`
/// (its stdin is a socket) or a TCP address to connect to.
const RAW_CHILD: &str = "MULTIPROCESS_BENCH_RAW";

/// The environment variable that makes this program a child that serves a
/// `Bench` on a loopback TCP port, writing its secret to the path it names.
const TCP_CHILD: &str = "MULTIPROCESS_BENCH_TCP_COOKIE";

/// What a row's ratio is measured against.
#[derive(Clone, Copy, PartialEq)]
enum Floor {
    Unix,
    Tcp,
}

fn main() -> Result<(), multiprocess::Error> {
    if std::env::var_os(multiprocess::FD_VARIABLE).is_some() {
        return multiprocess::serve_process::<dyn Bench>(Box::new(LocalBench));
    }
    if let Some(target) = std::env::var_os(RAW_CHILD) {
        raw_echo_child(&target.to_string_lossy());
        return Ok(());
    }
    if let Some(cookie) = std::env::var_os(TCP_CHILD) {
        return serve_over_tcp(std::path::Path::new(&cookie));
    }
    let args = Args::parse();
    let mut report = Report { json: args.json, floors: Vec::new() };
    let samples = |n: usize| ((n as f64 * args.scale) as usize).max(10);
    let sizes = [16usize, 64 << 10, 1 << 20];
    let counts = [samples(20_000), samples(2_000), samples(300)];

    report.header();
    #[cfg(unix)]
    {
        let mut raw = RawPeer::spawn_unix();
        for (&size, &count) in sizes.iter().zip(&counts) {
            let samples = raw.ping_pong(size, count);
            report.floors.push((Floor::Unix, size, percentile(&samples, 50)));
            report.row("raw socketpair ping-pong", Floor::Unix, size, 1, &samples);
        }
    }
    let mut raw = RawPeer::spawn_tcp();
    for (&size, &count) in sizes.iter().zip(&counts) {
        let samples = raw.ping_pong(size, count);
        report.floors.push((Floor::Tcp, size, percentile(&samples, 50)));
        report.row("raw TCP loopback ping-pong", Floor::Tcp, size, 1, &samples);
    }
    drop(raw);

    let local: Box<dyn Bench> = Box::new(LocalBench);
    let payload = vec![7u8; 16];
    let samples = time(counts[0], || drop(local.echo_bytes(payload.clone())));
    report.row("local trait call (no IPC)", Floor::Unix, 16, 1, &samples);

    let paired = multiprocess::pair::<dyn Bench>(Box::new(LocalBench))?;
    let spawned = Arc::new(multiprocess::spawn_process::<dyn Bench>(Command::new(std::env::current_exe()?))?);
    let child = spawned.remote();
    let tcp = TcpChild::spawn()?;
    let tcp_child = &*tcp.bench;
    let modes =
        [("pair()", Floor::Unix, &*paired), ("process", Floor::Unix, child), ("tcp, process", Floor::Tcp, tcp_child)];
    for (mode, floor, bench) in modes {
        for (&size, &count) in sizes.iter().zip(&counts) {
            // Each call sends the buffer the last one returned, as the raw
            // baseline reuses its buffer: no copy is made to feed the benchmark.
            let mut bytes = vec![7u8; size];
            let samples = time(count, || {
                bytes = bench.echo_bytes(std::mem::take(&mut bytes));
                assert_eq!(bytes.len(), size);
            });
            report.row(&format!("echo Vec<u8>, {mode}"), floor, size, 1, &samples);
            let mut text = "x".repeat(size);
            let samples = time(count, || {
                text = bench.echo_string(std::mem::take(&mut text));
                assert_eq!(text.len(), size);
            });
            report.row(&format!("echo String, {mode}"), floor, size, 1, &samples);
        }
    }
    for (mode, floor, bench) in modes {
        let samples = bench.time_callbacks(Box::new(|x| x + 1), counts[0] as u32);
        report.row(&format!("callback round trip, {mode}"), floor, 4, 1, &samples);
    }
    for (mode, floor, bench) in &modes[1..] {
        let samples = time(counts[0] / 2, || drop(bench.make_token()));
        report.row(&format!("object create + release, {mode}"), *floor, 8, 1, &samples);
    }
    for (mode, floor, bench) in &modes[1..] {
        let mut single = 0.0;
        for threads in [1, 2, 4] {
            let (samples, rate) = throughput(*bench, threads, Duration::from_secs_f64(1.5 * args.scale.min(1.0)));
            if threads == 1 {
                single = rate;
            }
            report.throughput(mode, *floor, threads, &samples, rate, rate / single);
        }
    }
    drop(tcp);

    // Async calls from a tokio task: one caller on a current-thread runtime,
    // then many tasks on a multi-thread one.
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let async_modes = [("pair()", &*paired), ("process", child)];
    for (mode, bench) in async_modes {
        let samples = current.block_on(async {
            let mut bytes = vec![7u8; 16];
            let mut samples = Vec::with_capacity(counts[0]);
            for call in 0..counts[0] + counts[0] / 10 {
                let start = Instant::now();
                bytes = bench.echo_async(bytes).await;
                if call >= counts[0] / 10 {
                    samples.push(start.elapsed().as_nanos() as u64);
                }
            }
            samples
        });
        report.row(&format!("async echo Vec<u8>, {mode}"), Floor::Unix, 16, 1, &samples);
    }
    for (mode, bench) in async_modes {
        let samples = current.block_on(bench.time_callbacks_async(Box::new(|x| x + 1), counts[0] as u32));
        report.row(&format!("async callback round trip, {mode}"), Floor::Unix, 4, 1, &samples);
    }
    let workers = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut single = 0.0;
    for tasks in [1, 64] {
        let duration = Duration::from_secs_f64(1.5 * args.scale.min(1.0));
        let (samples, rate) = workers.block_on(async_throughput(spawned.clone(), tasks, duration));
        if tasks == 1 {
            single = rate;
        }
        let name = format!("async throughput, process, {tasks} task{}", if tasks == 1 { "" } else { "s" });
        report.rate_row(&name, Floor::Unix, tasks, &samples, rate, rate / single);
    }

    let before = time(counts[0], || drop(child.echo_bytes(payload.clone())));
    install_quiet_subscriber();
    child.install_quiet_subscriber();
    let after = time(counts[0], || drop(child.echo_bytes(payload.clone())));
    report.row("echo 16 B, process, no subscriber", Floor::Unix, 16, 1, &before);
    report.row("echo 16 B, process, subscriber, ipc off", Floor::Unix, 16, 1, &after);
    report.note(&format!(
        "tracing installed with ipc off: {:.3}x the p50 without a subscriber",
        percentile(&after, 50) as f64 / percentile(&before, 50) as f64
    ));
    Ok(())
}

/// Runs `f` `count` times after a warm-up and returns each duration in ns.
fn time(count: usize, mut f: impl FnMut()) -> Vec<u64> {
    for _ in 0..(count / 10).max(10) {
        f();
    }
    (0..count)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_nanos() as u64
        })
        .collect()
}

/// `tasks` tasks await a 16 B async echo for `duration`; returns their latencies and calls per second.
async fn async_throughput(child: Arc<Spawned<dyn Bench>>, tasks: usize, duration: Duration) -> (Vec<u64>, f64) {
    let start = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let child = child.clone();
            tokio::spawn(async move {
                let bench = child.remote();
                let mut samples = Vec::new();
                let mut bytes = vec![7u8; 16];
                while start.elapsed() < duration {
                    let call = Instant::now();
                    bytes = bench.echo_async(bytes).await;
                    samples.push(call.elapsed().as_nanos() as u64);
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.expect("no task panicked"));
    }
    let rate = samples.len() as f64 / start.elapsed().as_secs_f64();
    (samples, rate)
}

/// `threads` threads call a 16 B echo for `duration`; returns their latencies and calls per second.
fn throughput(bench: &dyn Bench, threads: usize, duration: Duration) -> (Vec<u64>, f64) {
    let payload = vec![7u8; 16];
    let start = Instant::now();
    let samples: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let payload = payload.clone();
                scope.spawn(move || {
                    let mut samples = Vec::new();
                    while start.elapsed() < duration {
                        let call = Instant::now();
                        drop(bench.echo_bytes(payload.clone()));
                        samples.push(call.elapsed().as_nanos() as u64);
                    }
                    samples
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().unwrap()).collect()
    });
    let rate = samples.len() as f64 / start.elapsed().as_secs_f64();
    (samples, rate)
}

fn percentile(samples: &[u64], p: usize) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// A child serving a `Bench` on a loopback TCP port, and our connection to it.
struct TcpChild {
    bench: Box<dyn Bench>,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl TcpChild {
    fn spawn() -> Result<TcpChild, multiprocess::Error> {
        let dir = std::env::temp_dir().join(format!("multiprocess-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let cookie = dir.join("ipc.cookie");
        let mut child =
            Command::new(std::env::current_exe()?).env(TCP_CHILD, &cookie).stdout(Stdio::piped()).spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        let address = line.trim().strip_prefix("listening ").expect("the child says where it listens").to_owned();
        let secret = multiprocess::Secret::from_file(&cookie)?;
        let options = multiprocess::ConnectOptions { secret: Some(secret), ..Default::default() };
        let bench = multiprocess::connect_with::<dyn Bench>(&address, options)?;
        Ok(TcpChild { bench, child, dir })
    }
}

impl Drop for TcpChild {
    fn drop(&mut self) {
        // The child exits when its one connection ends.
        self.bench = Box::new(LocalBench);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// In the TCP child: serves one connection, then exits.
fn serve_over_tcp(cookie: &std::path::Path) -> Result<(), multiprocess::Error> {
    let secret = multiprocess::Secret::generate()?;
    secret.write_to(cookie)?;
    let options = multiprocess::ListenOptions { secret: Some(secret), max_connections: Some(1), ..Default::default() };
    let made = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = made.clone();
    let listener = multiprocess::listen_with::<dyn Bench>("tcp:127.0.0.1:0", options, move || {
        flag.store(true, Ordering::SeqCst);
        Box::new(LocalBench)
    })?;
    println!("listening {}", listener.address());
    std::io::stdout().flush()?;
    // The connection is counted before its object is made.
    while !made.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    while listener.connections() > 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// The raw baseline: a child that echoes length-prefixed frames, over one end
/// of a socketpair (its stdin) or a loopback TCP connection.
struct RawPeer {
    reader: BufReader<Box<dyn Read>>,
    writer: BufWriter<Box<dyn Write>>,
    shutdown: Box<dyn Fn()>,
    child: std::process::Child,
}

impl RawPeer {
    #[cfg(unix)]
    fn spawn_unix() -> RawPeer {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let child = Command::new(std::env::current_exe().expect("this program"))
            .env(RAW_CHILD, "unix")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .spawn()
            .expect("the raw echo child");
        let writer = ours.try_clone().expect("clone");
        let closer = ours.try_clone().expect("clone");
        RawPeer {
            reader: BufReader::with_capacity(64 << 10, Box::new(ours)),
            writer: BufWriter::with_capacity(64 << 10, Box::new(writer)),
            shutdown: Box::new(move || drop(closer.shutdown(std::net::Shutdown::Both))),
            child,
        }
    }

    fn spawn_tcp() -> RawPeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let child = Command::new(std::env::current_exe().expect("this program"))
            .env(RAW_CHILD, listener.local_addr().expect("bound").to_string())
            .spawn()
            .expect("the raw echo child");
        let (ours, _) = listener.accept().expect("the raw child connects");
        ours.set_nodelay(true).expect("nodelay");
        let writer = ours.try_clone().expect("clone");
        let closer = ours.try_clone().expect("clone");
        RawPeer {
            reader: BufReader::with_capacity(64 << 10, Box::new(ours)),
            writer: BufWriter::with_capacity(64 << 10, Box::new(writer)),
            shutdown: Box::new(move || drop(closer.shutdown(std::net::Shutdown::Both))),
            child,
        }
    }

    fn ping_pong(&mut self, size: usize, count: usize) -> Vec<u64> {
        let payload = vec![7u8; size];
        let mut back = vec![0u8; size];
        time(count, || {
            self.writer.write_all(&(size as u32).to_le_bytes()).unwrap();
            self.writer.write_all(&payload).unwrap();
            self.writer.flush().unwrap();
            let mut prefix = [0; 4];
            self.reader.read_exact(&mut prefix).unwrap();
            self.reader.read_exact(&mut back).unwrap();
        })
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        (self.shutdown)();
        let _ = self.child.wait();
    }
}

fn raw_echo_child(target: &str) {
    let (reader, writer): (Box<dyn Read>, Box<dyn Write>) = if target == "unix" {
        #[cfg(unix)]
        {
            // Stdin is this child's end of the socketpair.
            let socket =
                std::io::stdin().as_fd().try_clone_to_owned().map(UnixStream::from).expect("stdin is a socket");
            (Box::new(socket.try_clone().expect("clone")), Box::new(socket))
        }
        #[cfg(not(unix))]
        unreachable!("socketpairs are Unix only")
    } else {
        let socket = TcpStream::connect(target).expect("connect to the parent");
        socket.set_nodelay(true).expect("nodelay");
        (Box::new(socket.try_clone().expect("clone")), Box::new(socket))
    };
    let mut reader = BufReader::with_capacity(64 << 10, reader);
    let mut writer = BufWriter::with_capacity(64 << 10, writer);
    let mut body = Vec::new();
    loop {
        let mut prefix = [0; 4];
        if reader.read_exact(&mut prefix).is_err() {
            return;
        }
        body.resize(u32::from_le_bytes(prefix) as usize, 0);
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if writer.write_all(&prefix).and_then(|()| writer.write_all(&body)).and_then(|()| writer.flush()).is_err() {
            return;
        }
    }
}

struct Report {
    json: bool,
    /// (transport, payload, raw p50 in ns)
    floors: Vec<(Floor, usize, u64)>,
}

impl Report {
    fn header(&self) {
        if !self.json {
            println!(
                "{:<44} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}",
                "benchmark", "payload", "threads", "p50 µs", "p90 µs", "p99 µs", "x raw"
            );
        }
    }

    /// The raw p50 over `floor` for the closest payload measured.
    fn raw_for(&self, floor: Floor, payload: usize) -> Option<u64> {
        self.floors
            .iter()
            .filter(|(kind, ..)| *kind == floor)
            .min_by_key(|(_, size, _)| size.abs_diff(payload))
            .map(|(.., p50)| *p50)
    }

    fn row(&mut self, name: &str, floor: Floor, payload: usize, threads: usize, samples: &[u64]) {
        let [p50, p90, p99] = [50, 90, 99].map(|p| percentile(samples, p) as f64 / 1000.0);
        let ratio = self.raw_for(floor, payload).map(|raw| p50 * 1000.0 / raw as f64);
        self.print(name, payload, threads, (p50, p90, p99), ratio, None);
    }

    fn throughput(&mut self, mode: &str, floor: Floor, threads: usize, samples: &[u64], rate: f64, scaling: f64) {
        let name = format!("throughput, {mode}, {threads} thread{}", if threads == 1 { "" } else { "s" });
        self.rate_row(&name, floor, threads, samples, rate, scaling);
    }

    fn rate_row(&mut self, name: &str, floor: Floor, threads: usize, samples: &[u64], rate: f64, scaling: f64) {
        let [p50, p90, p99] = [50, 90, 99].map(|p| percentile(samples, p) as f64 / 1000.0);
        let ratio = self.raw_for(floor, 16).map(|raw| p50 * 1000.0 / raw as f64);
        self.print(name, 16, threads, (p50, p90, p99), ratio, Some((rate, scaling)));
    }

    fn print(
        &mut self,
        name: &str,
        payload: usize,
        threads: usize,
        (p50, p90, p99): (f64, f64, f64),
        ratio: Option<f64>,
        rate: Option<(f64, f64)>,
    ) {
        let line = if self.json {
            let ratio = ratio.map_or("null".to_string(), |r| format!("{r:.3}"));
            let rate = rate.map_or(String::new(), |(rate, scaling)| {
                format!(r#", "calls_per_sec": {rate:.0}, "scaling_vs_1_thread": {scaling:.3}"#)
            });
            format!(
                r#"{{"name": "{name}", "payload": {payload}, "threads": {threads}, "p50_us": {p50:.2}, "p90_us": {p90:.2}, "p99_us": {p99:.2}, "ratio_to_raw": {ratio}{rate}}}"#
            )
        } else {
            let ratio = ratio.map_or("-".to_string(), |r| format!("{r:.2}"));
            let rate =
                rate.map_or(String::new(), |(rate, scaling)| format!("  {rate:.0} calls/s ({scaling:.2}x 1 thread)"));
            format!("{name:<44} {:>9} {threads:>7} {p50:>9.2} {p90:>9.2} {p99:>9.2} {ratio:>9}{rate}", human(payload))
        };
        println!("{line}");
    }

    fn note(&self, text: &str) {
        if self.json {
            println!(r#"{{"note": "{text}"}}"#);
        } else {
            println!("{text}");
        }
    }
}

fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}
