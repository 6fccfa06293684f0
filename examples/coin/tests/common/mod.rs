//! What the functional tests share: the daemons under test, a data
//! directory that cleans up after itself, and a daemon process with RPC,
//! `coin-cli`, signals and bounded waits.

#![allow(dead_code, reason = "each test file uses part of this")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// How long a daemon may take to start or stop.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);

/// The daemons a test runs against: `COIN_DAEMON` (`coind` or
/// `coin-node`), or each in turn.
pub fn daemons() -> Vec<&'static str> {
    match std::env::var("COIN_DAEMON").as_deref() {
        Ok("coind") => vec!["coind"],
        Ok("coin-node") => vec!["coin-node"],
        Ok(other) => panic!("COIN_DAEMON must be coind or coin-node, not {other:?}"),
        Err(_) => vec!["coind", "coin-node"],
    }
}

/// A binary of this package.
pub fn binary(name: &str) -> &'static str {
    match name {
        "coind" => env!("CARGO_BIN_EXE_coind"),
        "coin-node" => env!("CARGO_BIN_EXE_coin-node"),
        "coin-cli" => env!("CARGO_BIN_EXE_coin-cli"),
        "coin-wallet" => env!("CARGO_BIN_EXE_coin-wallet"),
        "coin-echo" => env!("CARGO_BIN_EXE_coin-echo"),
        "coin-miner" => env!("CARGO_BIN_EXE_coin-miner"),
        "coin-tui" => env!("CARGO_BIN_EXE_coin-tui"),
        "coin-gui" => env!("CARGO_BIN_EXE_coin-gui"),
        other => panic!("no binary {other}"),
    }
}

/// A directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("coin-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An RPC error: code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

/// A running `coind` or `coin-node`.
pub struct Daemon {
    pub kind: &'static str,
    pub datadir: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    address: String,
    authorization: String,
}

/// Waits for `child` to exit, for at most `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Waits until `pid` has gone, for at most `timeout`.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Sends `signal` to `pid`.
pub fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a pid this test started and a valid signal.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

/// The children of `pid` whose command is `name`.
pub fn children_named(pid: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return found };
    for task in tasks.flatten() {
        let Ok(children) = std::fs::read_to_string(task.path().join("children")) else { continue };
        for child in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
            let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
            if comm.trim() == name && alive(child) && !found.contains(&child) {
                found.push(child);
            }
        }
    }
    found
}

impl Daemon {
    /// Starts `kind` on `datadir` with a free RPC port and `args`, and waits
    /// until it serves RPC.
    pub fn start(kind: &'static str, datadir: &Path, args: &[&str]) -> Daemon {
        std::fs::create_dir_all(datadir).unwrap();
        // A file left by a killed daemon must not be taken for the new one's.
        let _ = std::fs::remove_file(datadir.join("rpc.addr"));
        let log = datadir.with_extension(format!("{kind}.log"));
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let child = Command::new(binary(kind))
            .arg(format!("--datadir={}", datadir.display()))
            .arg("--rpcport=0")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut daemon = Daemon {
            kind,
            datadir: datadir.to_owned(),
            log,
            child: Some(child),
            address: String::new(),
            authorization: String::new(),
        };
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        loop {
            let address = std::fs::read_to_string(datadir.join("rpc.addr")).unwrap_or_default();
            let cookie = std::fs::read_to_string(datadir.join(".cookie")).unwrap_or_default();
            if address.ends_with('\n') && cookie.starts_with("__cookie__:") {
                daemon.address = address.trim().to_owned();
                daemon.authorization =
                    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(cookie.trim()));
                return daemon;
            }
            if let Some(status) = daemon.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{kind} exited at start with {status}: {}", daemon.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "{kind} did not start within {PROCESS_TIMEOUT:?}: {}",
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// `coin-wallet` children of a `coin-node`.
    pub fn wallet_pids(&self) -> Vec<u32> {
        children_named(self.pid(), "coin-wallet")
    }

    /// An HTTP POST with the cookie (or `authorization` instead); the status
    /// and the body.
    pub fn post(&self, path: &str, body: &str, authorization: Option<&str>) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let response = agent
            .post(&format!("http://{}{path}", self.address))
            .header("Authorization", authorization.unwrap_or(&self.authorization))
            .header("Content-Type", "application/json")
            .send(body.to_owned())
            .unwrap();
        let status = response.status().as_u16();
        (status, response.into_body().read_to_string().unwrap())
    }

    /// A JSON-RPC call at `path`.
    pub fn call_at(&self, path: &str, method: &str, params: Value) -> Result<Value, RpcError> {
        let request = json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params });
        let (status, body) = self.post(path, &request.to_string(), None);
        assert_eq!(status, 200, "{method}: HTTP {status}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["id"], 7, "{body}");
        match answer.get("error") {
            Some(error) if !error.is_null() => Err(RpcError {
                code: error["code"].as_i64().unwrap(),
                message: error["message"].as_str().unwrap().to_owned(),
            }),
            _ => Ok(answer["result"].clone()),
        }
    }

    /// A node call (or a wallet call when one wallet is loaded).
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.call_at("/", method, params)
    }

    /// A call to `wallet`.
    pub fn wallet(&self, wallet: &str, method: &str, params: Value) -> Result<Value, RpcError> {
        self.call_at(&format!("/wallet/{wallet}"), method, params)
    }

    /// `rpc`, which must succeed.
    pub fn ok(&self, method: &str, params: Value) -> Value {
        self.rpc(method, params).unwrap_or_else(|error| panic!("{method}: {error:?}"))
    }

    /// `wallet`, which must succeed.
    pub fn wok(&self, wallet: &str, method: &str, params: Value) -> Value {
        self.wallet(wallet, method, params).unwrap_or_else(|error| panic!("{wallet} {method}: {error:?}"))
    }

    pub fn balance(&self, wallet: &str) -> u64 {
        self.wok(wallet, "getbalance", json!([])).as_u64().unwrap()
    }

    pub fn height(&self) -> u64 {
        self.ok("getblockcount", json!([])).as_u64().unwrap()
    }

    pub fn new_address(&self, wallet: &str) -> String {
        self.wok(wallet, "getnewaddress", json!([])).as_str().unwrap().to_owned()
    }

    /// Runs `coin-cli --datadir=DIR ARGS`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(binary("coin-cli"))
            .arg(format!("--datadir={}", self.datadir.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Sends `stop` and waits for every process to exit; the node's status.
    pub fn stop(mut self) -> ExitStatus {
        let wallets = self.wallet_pids();
        assert_eq!(self.ok("stop", json!([])), "coin server stopping");
        let status = self.wait_exit();
        for pid in wallets {
            assert!(wait_gone(pid, PROCESS_TIMEOUT), "the wallet process {pid} outlived its node");
        }
        status
    }

    /// Waits for the daemon to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let status = wait_exit(child, PROCESS_TIMEOUT).unwrap_or_else(|| panic!("{} did not exit", self.kind));
        self.child = None;
        status
    }

    /// `kill -9` of the daemon and of its wallet process.
    pub fn kill9(mut self) {
        let wallets = self.wallet_pids();
        self.kill_all(&wallets);
    }

    fn kill_all(&mut self, wallets: &[u32]) {
        for &pid in wallets {
            signal(pid, libc::SIGKILL);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = wait_exit(&mut child, PROCESS_TIMEOUT);
        }
        for &pid in wallets {
            wait_gone(pid, PROCESS_TIMEOUT);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let wallets = self.wallet_pids();
            self.kill_all(&wallets);
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `timeout`.
pub fn eventually<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Subsidy of a block, in units.
pub const SUBSIDY: u64 = 5_000_000_000;
/// The fee of every wallet transaction.
pub const FEE: u64 = 1_000;
