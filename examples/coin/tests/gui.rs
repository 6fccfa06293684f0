//! The terminal GUI, driven through tmux (`send-keys`, `capture-pane`) as a
//! person would: `coin-tui` with everything in one process, `coin-gui`
//! spawning `coin-node` (and so `coin-wallet`), and `coin-gui --ipcconnect`
//! attached to a running node. Each shows the height and the balance, mines
//! with `m`, sees blocks mined by `coin-cli`, and quits with `q`.

#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, PROCESS_TIMEOUT, SUBSIDY, TempDir, binary, children_named, eventually, wait_gone};
use serde_json::{Value, json};

/// How long a change may take to show on the screen: COIN.md says within a
/// second; tests on a busy machine allow more.
const SHOWS_WITHIN: Duration = Duration::from_secs(10);

/// A tmux server of this test's own, with one window running the GUI.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, command: &str) -> Tmux {
        let socket = format!("coin-test-{}-{name}", std::process::id());
        let tmux = Tmux { socket };
        let status = tmux
            .command(&["new-session", "-d", "-s", "gui", "-x", "120", "-y", "32", command])
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux is needed for the GUI tests (CI installs it)");
        tmux
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket, "-f", "/dev/null"]).args(args);
        command
    }

    fn screen(&self) -> String {
        let output = self.command(&["capture-pane", "-p", "-t", "gui"]).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        assert!(self.command(&["send-keys", "-t", "gui", keys]).status().unwrap().success());
    }

    /// Waits until the screen shows every one of `texts`.
    fn shows(&self, texts: &[&str]) -> String {
        eventually(SHOWS_WITHIN, || {
            let screen = self.screen();
            texts.iter().all(|text| screen.contains(text)).then_some(screen)
        })
        .unwrap_or_else(|| panic!("the screen never showed {texts:?}:\n{}", self.screen()))
    }

    /// Whether the GUI's window is gone (the program exited).
    fn gone(&self) -> bool {
        !self.command(&["has-session", "-t", "gui"]).stderr(std::process::Stdio::null()).status().unwrap().success()
    }

    /// The pid of the program in the window.
    fn pid(&self) -> u32 {
        let output = self.command(&["display-message", "-p", "-t", "gui", "#{pane_pid}"]).output().unwrap();
        String::from_utf8_lossy(&output.stdout).trim().parse().unwrap()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]).stderr(std::process::Stdio::null()).status();
    }
}

fn cli(datadir: &Path, args: &[&str]) -> Value {
    let output =
        Command::new(binary("coin-cli")).arg(format!("--datadir={}", datadir.display())).args(args).output().unwrap();
    assert!(output.status.success(), "coin-cli {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.trim().to_owned()))
}

/// Waits for the GUI's node to serve RPC in `datadir`.
fn rpc_ready(datadir: &Path) {
    let ready = eventually(PROCESS_TIMEOUT, || datadir.join("rpc.addr").exists().then_some(()));
    assert!(ready.is_some(), "the GUI's node never served RPC");
}

/// Mines with `m`, then from `coin-cli` to the GUI's wallet, and sees both.
fn mine_and_watch(tmux: &Tmux, datadir: &Path, wallet: &str) {
    tmux.shows(&["Height: 0", "Balance: 0"]);
    tmux.keys("m");
    tmux.shows(&["Height: 1", &format!("Balance: {SUBSIDY}"), "generate"]);
    let address = cli(datadir, &[&format!("--rpcwallet={wallet}"), "getnewaddress"]);
    cli(datadir, &["generatetoaddress", "1", address.as_str().unwrap()]);
    tmux.shows(&["Height: 2", &format!("Balance: {}", 2 * SUBSIDY)]);
    // A block paying someone else moves the height only.
    cli(datadir, &["generatetoaddress", "1", &interfaces::primitives::Address([5; 32]).to_string()]);
    tmux.shows(&["Height: 3", &format!("Balance: {}", 2 * SUBSIDY)]);
}

#[test]
fn coin_tui_shows_height_and_balance_mines_with_m_follows_coin_cli_and_quits() {
    let dir = TempDir::new("tui");
    let data = dir.path().join("data");
    let tmux = Tmux::start("tui", &format!("{} --datadir={} --rpcport=0", binary("coin-tui"), data.display()));
    rpc_ready(&data);
    mine_and_watch(&tmux, &data, "default");
    tmux.keys("n");
    tmux.shows(&["Address: coin1"]);
    tmux.keys("q");
    assert!(eventually(PROCESS_TIMEOUT, || tmux.gone().then_some(())).is_some(), "coin-tui did not quit");
    assert!(!data.join(".cookie").exists(), "it stopped its node cleanly");
}

#[test]
fn coin_gui_runs_node_and_wallet_in_two_more_processes_and_stops_them_on_quit() {
    let dir = TempDir::new("gui");
    let data = dir.path().join("data");
    let tmux = Tmux::start("gui", &format!("{} --datadir={} --rpcport=0", binary("coin-gui"), data.display()));
    rpc_ready(&data);
    let gui = tmux.pid();
    let node =
        eventually(PROCESS_TIMEOUT, || children_named(gui, "coin-node").first().copied()).expect("coin-node runs");
    let wallet =
        eventually(PROCESS_TIMEOUT, || children_named(node, "coin-wallet").first().copied()).expect("coin-wallet runs");
    mine_and_watch(&tmux, &data, "default");

    // Send to another wallet of the node, typed into the GUI.
    cli(&data, &["createwallet", "other"]);
    let other = cli(&data, &["--rpcwallet=other", "getnewaddress"]);
    tmux.keys("s");
    tmux.shows(&["Send to address:"]);
    tmux.keys(other.as_str().unwrap());
    tmux.keys("Enter");
    tmux.shows(&["Amount in units:"]);
    tmux.keys("1000000");
    tmux.keys("Enter");
    tmux.shows(&["sent 1000000", &format!("Balance: {}", 2 * SUBSIDY - 1_000_000 - 1_000)]);

    tmux.keys("q");
    assert!(eventually(PROCESS_TIMEOUT, || tmux.gone().then_some(())).is_some(), "coin-gui did not quit");
    assert!(wait_gone(node, PROCESS_TIMEOUT), "coin-node outlived its GUI");
    assert!(wait_gone(wallet, PROCESS_TIMEOUT), "coin-wallet outlived its GUI");
}

#[test]
fn coin_gui_attaches_to_a_running_node_sees_its_changes_and_leaves_it_running() {
    for kind in common::daemons() {
        let dir = TempDir::new(&format!("attach-gui-{kind}"));
        let data = dir.path().join("data");
        let node = Daemon::start(kind, &data, &["--ipcbind=unix", "--wallet=default"]);
        let command = format!("{} --ipcconnect=unix --datadir={}", binary("coin-gui"), data.display());
        let tmux = Tmux::start(&format!("attach-{kind}"), &command);
        mine_and_watch(&tmux, &data, "default");
        // A second GUI on the same node sees the same changes.
        let second = Tmux::start(&format!("second-{kind}"), &command);
        second.shows(&["Height: 3", &format!("Balance: {}", 2 * SUBSIDY)]);
        node.ok("generatetoaddress", json!([1, node.new_address("default")]));
        tmux.shows(&["Height: 4", &format!("Balance: {}", 3 * SUBSIDY)]);
        second.shows(&["Height: 4", &format!("Balance: {}", 3 * SUBSIDY)]);

        tmux.keys("q");
        second.keys("q");
        assert!(eventually(PROCESS_TIMEOUT, || (tmux.gone() && second.gone()).then_some(())).is_some());
        assert_eq!(node.height(), 4, "{kind}: the node runs on after its GUIs quit");
        node.ok("generatetoaddress", json!([1, node.new_address("default")]));
        assert!(node.stop().success());
    }
}
