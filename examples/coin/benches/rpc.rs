//! The cost of the split, measured: RPC latency of `getbalance` (which
//! crosses to the wallet process in `coin-node`) and of `getblockcount`
//! (which does not) on `coind` and `coin-node`, over one kept-alive HTTP
//! connection each, in the same run.
//!
//! `cargo bench -p coin --bench rpc` (add `-- --calls N` for more samples).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

struct Node {
    child: Child,
    dir: PathBuf,
    agent: ureq::Agent,
    url: String,
    authorization: String,
}

impl Node {
    fn start(kind: &str, program: &str) -> Node {
        let dir = std::env::temp_dir().join(format!("coin-bench-{}-{kind}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let child = Command::new(program)
            .arg(format!("--datadir={}", dir.display()))
            .args(["--rpcport=0", "--wallet=bench"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the node");
        let deadline = Instant::now() + Duration::from_secs(30);
        let (address, cookie) = loop {
            let address = std::fs::read_to_string(dir.join("rpc.addr")).unwrap_or_default();
            let cookie = std::fs::read_to_string(dir.join(".cookie")).unwrap_or_default();
            if address.ends_with('\n') && !cookie.is_empty() {
                break (address.trim().to_owned(), cookie);
            }
            assert!(Instant::now() < deadline, "{kind} did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        let agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(60))).build().into();
        let authorization = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(cookie.trim()));
        Node { child, dir, agent, url: format!("http://{address}/"), authorization }
    }

    fn call(&self, method: &str, params: Value) -> Value {
        let request = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
        let response =
            self.agent.post(&self.url).header("Authorization", &self.authorization).send(request).expect("rpc");
        let answer: Value = serde_json::from_str(&response.into_body().read_to_string().expect("body")).expect("json");
        assert!(answer["error"].is_null(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// Microseconds per call, sorted.
    fn time(&self, method: &str, calls: usize) -> Vec<f64> {
        for _ in 0..calls / 10 {
            self.call(method, json!([]));
        }
        let mut samples: Vec<f64> = (0..calls)
            .map(|_| {
                let start = Instant::now();
                self.call(method, json!([]));
                start.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        samples
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.call_stop();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Node {
    fn call_stop(&self) -> Option<()> {
        let request = json!({ "jsonrpc": "2.0", "id": 1, "method": "stop" }).to_string();
        self.agent.post(&self.url).header("Authorization", &self.authorization).send(request).ok().map(drop)
    }
}

fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() - 1) * p / 100]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(5_000);
    let nodes = [("coind", env!("CARGO_BIN_EXE_coind")), ("coin-node", env!("CARGO_BIN_EXE_coin-node"))];
    println!("{:<12} {:<14} {:>10} {:>10}", "daemon", "method", "p50 µs", "p99 µs");
    let mut medians = Vec::new();
    for (kind, program) in nodes {
        let node = Node::start(kind, program);
        let address = node.call("getnewaddress", json!([]));
        node.call("generatetoaddress", json!([1, address]));
        for method in ["getblockcount", "getbalance"] {
            let samples = node.time(method, calls);
            println!("{kind:<12} {method:<14} {:>10.1} {:>10.1}", percentile(&samples, 50), percentile(&samples, 99));
            medians.push((kind, method, percentile(&samples, 50)));
        }
    }
    let p50 = |kind: &str, method: &str| {
        medians.iter().find(|(k, m, _)| *k == kind && *m == method).map_or(f64::NAN, |m| m.2)
    };
    println!(
        "the split: getbalance {:.2}x coind's ({:+.1} µs); getblockcount {:.2}x",
        p50("coin-node", "getbalance") / p50("coind", "getbalance"),
        p50("coin-node", "getbalance") - p50("coind", "getbalance"),
        p50("coin-node", "getblockcount") / p50("coind", "getblockcount"),
    );
}
