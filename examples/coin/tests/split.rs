//! What only the split binaries do (COIN.md "Behaviour of the split
//! binaries"): the wallet in its own process, IPC logs from both, and a
//! wallet process killed and replaced. Skipped when `COIN_DAEMON=coind`.

#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Daemon, PROCESS_TIMEOUT, SUBSIDY, TempDir, alive, daemons, eventually, wait_gone};
use serde_json::json;

fn split() -> bool {
    daemons().contains(&"coin-node")
}

#[test]
fn the_wallets_live_in_exactly_one_other_process() {
    if !split() {
        return;
    }
    let dir = TempDir::new("split-pid");
    let node = Daemon::start("coin-node", &dir.path().join("data"), &["--wallet=a", "--wallet=b"]);
    let wallets = node.wallet_pids();
    assert_eq!(wallets.len(), 1, "one wallet process for every wallet: {wallets:?}");
    assert_ne!(wallets[0], node.pid());
    let exe = std::fs::read_link(format!("/proc/{}/exe", wallets[0])).unwrap();
    assert_eq!(exe.file_name().unwrap(), "coin-wallet");
    // The wallets' files are written by that process.
    assert!(dir.path().join("data/wallets/a/wallet.sqlite").is_file());
    assert!(node.stop().success());
}

#[test]
fn debug_ipc_shows_the_calls_in_both_processes() {
    if !split() {
        return;
    }
    let dir = TempDir::new("split-log");
    let node = Daemon::start("coin-node", &dir.path().join("data"), &["--debug=ipc", "--wallet=w"]);
    let wallet = node.wallet_pids()[0];
    assert_eq!(node.balance("w"), 0);
    let log = eventually(Duration::from_secs(10), || {
        let log = node.log_text();
        let node_line = format!("coin-node[{}]", node.pid());
        let wallet_line = format!("coin-wallet[{wallet}]");
        let both = log.lines().any(|line| line.starts_with(&node_line) && line.contains("send Wallet.balance()"))
            && log.lines().any(|line| line.starts_with(&wallet_line) && line.contains("recv Wallet.balance()"))
            && log
                .lines()
                .any(|line| line.starts_with(&wallet_line) && line.contains("return Wallet.balance -> Ok(0)"))
            && log.lines().any(|line| line.starts_with(&node_line) && line.contains("reply Wallet.balance -> 0"));
        both.then_some(log)
    });
    assert!(log.is_some(), "no ipc lines of Wallet.balance from both processes:\n{}", node.log_text());
    assert!(node.stop().success());
}

#[test]
fn a_killed_wallet_process_is_replaced_with_its_wallets_and_balances() {
    if !split() {
        return;
    }
    let dir = TempDir::new("split-kill");
    let node = Daemon::start("coin-node", &dir.path().join("data"), &[]);
    node.ok("createwallet", json!(["alice"]));
    node.ok("createwallet", json!(["bob"]));
    node.ok("generatetoaddress", json!([2, node.new_address("alice")]));
    node.wok("alice", "sendtoaddress", json!([node.new_address("bob"), 123_000]));
    let (alice, bob) = (node.balance("alice"), node.balance("bob"));
    let old = node.wallet_pids();
    assert_eq!(old.len(), 1);

    common::signal(old[0], libc::SIGKILL);
    assert!(wait_gone(old[0], PROCESS_TIMEOUT));
    // The node goes on; wallet calls fail with -4 while there is no wallet
    // process.
    assert_eq!(node.height(), 2);
    let error = node.wallet("alice", "getbalance", json!([])).expect_err("no wallet process");
    assert_eq!(error.code, -4, "{error:?}");
    assert_eq!(node.rpc("listwallets", json!([])).expect_err("no wallet process").code, -4);
    node.ok("generatetoaddress", json!([1, nobody()]));

    let back = eventually(Duration::from_secs(15), || node.wallet("alice", "getbalance", json!([])).ok());
    assert_eq!(back, Some(json!(alice)), "wallet RPCs work again, balances intact");
    assert_eq!(node.balance("bob"), bob + 123_000, "the block mined while the wallet was down reached it");
    assert_eq!(node.ok("listwallets", json!([])), json!(["alice", "bob"]));
    let new = node.wallet_pids();
    assert_eq!(new.len(), 1);
    assert_ne!(new, old);
    assert!(alive(new[0]));
    node.wok("alice", "sendtoaddress", json!([node.new_address("bob"), 1_000]));
    assert!(node.balance("alice") < SUBSIDY * 2);
    assert!(node.stop().success());
}

/// An address no wallet of the test owns, for mining while the wallet
/// process is down.
fn nobody() -> String {
    interfaces::primitives::Address([42; 32]).to_string()
}

fn seccomp(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find(|line| line.starts_with("Seccomp:")).unwrap_or_default().to_owned()
}

#[test]
fn the_spawned_wallet_writes_only_its_wallets_unless_no_sandbox() {
    if !split() {
        return;
    }
    let dir = TempDir::new("split-sandbox");
    let data = dir.path().join("data");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(data.join("wallets")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    // A wallet directory that leads out of DIR/wallets.
    std::os::unix::fs::symlink(&outside, data.join("wallets/escape")).unwrap();

    let node = Daemon::start("coin-node", &data, &["--wallet=w"]);
    assert_eq!(node.wok("w", "getwalletinfo", json!([]))["sandboxed"], true);
    let wallet = node.wallet_pids()[0];
    assert_eq!(seccomp(wallet), "Seccomp:\t2", "the wallet process runs under a seccomp filter");
    assert_eq!(seccomp(node.pid()), "Seccomp:\t0", "the node does not");
    let error = node.rpc("createwallet", json!(["escape"])).expect_err("a write outside DIR/wallets");
    assert_eq!(error.code, -4, "{error:?}");
    assert!(!outside.join("wallet.sqlite").exists(), "nothing was written outside");
    assert_eq!(node.balance("w"), 0, "the wallet process serves on");
    assert!(node.stop().success());

    let node = Daemon::start("coin-node", &data, &["--wallet=w", "--no-sandbox"]);
    assert_eq!(node.wok("w", "getwalletinfo", json!([]))["sandboxed"], false);
    assert_eq!(seccomp(node.wallet_pids()[0]), "Seccomp:\t0");
    node.ok("createwallet", json!(["escape"]));
    assert!(outside.join("wallet.sqlite").exists(), "unconfined, the symlink is followed");
    assert!(node.stop().success());
}
