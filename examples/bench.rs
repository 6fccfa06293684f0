//! The cost of a call, against the floor: a raw length-prefixed ping-pong of
//! the same bytes over the same kind of socket between two processes,
//! measured in the same run.
//!
//! ```sh
//! cargo run --release --example bench            # unpinned
//! taskset -c 0 cargo run --release --example bench   # every thread on one core
//! cargo run --release --example bench -- --json  # one JSON object per line
//! ```
//!
//! Each row gives p50 / p90 / p99 latency in µs and the p50 ratio to the raw
//! round trip with the same payload. Absolute times drift on a shared machine;
//! ratios measured in one run hold.

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use multiprocess::ipc_interface;

#[ipc_interface]
pub trait Bench: Send + Sync {
    fn echo_bytes(&self, data: Vec<u8>) -> Vec<u8>;
    fn echo_string(&self, data: String) -> String;
    /// Calls `callback` `iterations` times and returns each round trip in ns.
    fn time_callbacks(&self, callback: Box<dyn Fn(u32) -> u32 + Send + Sync>, iterations: u32) -> Vec<u64>;
    fn make_token(&self) -> Box<dyn Token>;
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
    fn make_token(&self) -> Box<dyn Token> {
        Box::new(LocalToken(TOKENS.fetch_add(1, Ordering::Relaxed)))
    }
    fn install_quiet_subscriber(&self) {
        install_quiet_subscriber();
    }
}

fn install_quiet_subscriber() {
    let _ = tracing_subscriber::fmt().with_env_filter("info").with_writer(std::io::stderr).try_init();
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

/// The environment variable that makes this program the raw echo child.
const RAW_CHILD: &str = "MULTIPROCESS_BENCH_RAW";

fn main() -> Result<(), multiprocess::Error> {
    if std::env::var_os(multiprocess::FD_VARIABLE).is_some() {
        return multiprocess::serve_process::<dyn Bench>(Box::new(LocalBench));
    }
    if std::env::var_os(RAW_CHILD).is_some() {
        raw_echo_child();
        return Ok(());
    }
    let args = Args::parse();
    let mut report = Report { json: args.json, raw: Vec::new() };
    let samples = |n: usize| ((n as f64 * args.scale) as usize).max(10);
    let sizes = [16usize, 64 << 10, 1 << 20];
    let counts = [samples(20_000), samples(2_000), samples(300)];

    report.header();
    let mut raw = RawPeer::spawn();
    for (&size, &count) in sizes.iter().zip(&counts) {
        let samples = raw.ping_pong(size, count);
        report.raw.push((size, percentile(&samples, 50)));
        report.row("raw socketpair ping-pong", size, 1, &samples);
    }
    drop(raw);

    let local: Box<dyn Bench> = Box::new(LocalBench);
    let payload = vec![7u8; 16];
    report.row("local trait call (no IPC)", 16, 1, &time(counts[0], || drop(local.echo_bytes(payload.clone()))));

    let paired = multiprocess::pair::<dyn Bench>(Box::new(LocalBench))?;
    let spawned = multiprocess::spawn_process::<dyn Bench>(Command::new(std::env::current_exe()?))?;
    let child = spawned.remote();
    for (mode, bench) in [("pair()", &*paired), ("process", child)] {
        for (&size, &count) in sizes.iter().zip(&counts) {
            // Each call sends the buffer the last one returned, as the raw
            // baseline reuses its buffer: no copy is made to feed the benchmark.
            let mut bytes = vec![7u8; size];
            let samples = time(count, || {
                bytes = bench.echo_bytes(std::mem::take(&mut bytes));
                assert_eq!(bytes.len(), size);
            });
            report.row(&format!("echo Vec<u8>, {mode}"), size, 1, &samples);
            let mut text = "x".repeat(size);
            let samples = time(count, || {
                text = bench.echo_string(std::mem::take(&mut text));
                assert_eq!(text.len(), size);
            });
            report.row(&format!("echo String, {mode}"), size, 1, &samples);
        }
    }
    for (mode, bench) in [("pair()", &*paired), ("process", child)] {
        let samples = bench.time_callbacks(Box::new(|x| x + 1), counts[0] as u32);
        report.row(&format!("callback round trip, {mode}"), 4, 1, &samples);
    }
    let samples = time(counts[0] / 2, || drop(child.make_token()));
    report.row("object create + release, process", 8, 1, &samples);

    let mut single = 0.0;
    for threads in [1, 2, 4] {
        let (samples, rate) = throughput(child, threads, Duration::from_secs_f64(1.5 * args.scale.min(1.0)));
        if threads == 1 {
            single = rate;
        }
        report.throughput(threads, &samples, rate, rate / single);
    }

    let before = time(counts[0], || drop(child.echo_bytes(payload.clone())));
    install_quiet_subscriber();
    child.install_quiet_subscriber();
    let after = time(counts[0], || drop(child.echo_bytes(payload.clone())));
    report.row("echo 16 B, process, no subscriber", 16, 1, &before);
    report.row("echo 16 B, process, subscriber, ipc off", 16, 1, &after);
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

/// The raw baseline: a child that echoes length-prefixed frames on its stdin,
/// which is one end of a socketpair.
struct RawPeer {
    reader: BufReader<UnixStream>,
    writer: BufWriter<UnixStream>,
    child: std::process::Child,
}

impl RawPeer {
    fn spawn() -> RawPeer {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let child = Command::new(std::env::current_exe().expect("this program"))
            .env(RAW_CHILD, "1")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .spawn()
            .expect("the raw echo child");
        let writer = BufWriter::with_capacity(64 << 10, ours.try_clone().expect("clone"));
        RawPeer { reader: BufReader::with_capacity(64 << 10, ours), writer, child }
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
        let _ = self.writer.get_ref().shutdown(std::net::Shutdown::Both);
        let _ = self.child.wait();
    }
}

fn raw_echo_child() {
    // Stdin is this child's end of the socketpair.
    let socket = std::io::stdin().as_fd().try_clone_to_owned().map(UnixStream::from).expect("stdin is a socket");
    let mut reader = BufReader::with_capacity(64 << 10, socket.try_clone().expect("clone"));
    let mut writer = BufWriter::with_capacity(64 << 10, socket);
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
    /// (payload, raw p50 in ns)
    raw: Vec<(usize, u64)>,
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

    /// The raw p50 for the closest payload measured.
    fn raw_for(&self, payload: usize) -> Option<u64> {
        self.raw.iter().min_by_key(|(size, _)| size.abs_diff(payload)).map(|(_, p50)| *p50)
    }

    fn row(&mut self, name: &str, payload: usize, threads: usize, samples: &[u64]) {
        let [p50, p90, p99] = [50, 90, 99].map(|p| percentile(samples, p) as f64 / 1000.0);
        let ratio = self.raw_for(payload).map(|raw| p50 * 1000.0 / raw as f64);
        self.print(name, payload, threads, (p50, p90, p99), ratio, None);
    }

    fn throughput(&mut self, threads: usize, samples: &[u64], rate: f64, scaling: f64) {
        let [p50, p90, p99] = [50, 90, 99].map(|p| percentile(samples, p) as f64 / 1000.0);
        let ratio = self.raw_for(16).map(|raw| p50 * 1000.0 / raw as f64);
        let name = format!("throughput, process, {threads} thread{}", if threads == 1 { "" } else { "s" });
        self.print(&name, 16, threads, (p50, p90, p99), ratio, Some((rate, scaling)));
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
