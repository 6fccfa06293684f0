//! Processes that attach to a running node and detach (`--ipcbind`,
//! `--ipcconnect`): a wallet with its own RPC server, miners, and a client
//! that goes away in the middle of a wait. Against each daemon.

#![cfg(target_os = "linux")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Daemon, PROCESS_TIMEOUT, SUBSIDY, TempDir, binary, daemons, eventually};
use interfaces::primitives::Address;
use interfaces::{BlockTemplate, Init};
use serde_json::json;

/// The `tcp:` address a node listens on for attaching processes.
fn tcp_address(node: &Daemon) -> String {
    eventually(PROCESS_TIMEOUT, || {
        let log = node.log_text();
        let at = log.find("attaching processes on tcp:")?;
        let address = log[at + "attaching processes on ".len()..].split_whitespace().next()?;
        Some(address.to_owned())
    })
    .expect("the node logs its tcp address")
}

fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |tasks| tasks.count())
}

#[test]
fn an_attached_wallet_serves_rpc_follows_the_chain_and_leaves_the_node_running() {
    for kind in daemons() {
        let dir = TempDir::new(&format!("attach-{kind}"));
        let node = Daemon::start(kind, &dir.path().join("node"), &["--ipcbind=unix", "--ipcbind=tcp:127.0.0.1:0"]);
        let socket = format!("--ipcconnect=unix:{}", dir.path().join("node/node.sock").display());
        let wallet_dir = dir.path().join("wallet");
        let wallet = Daemon::start("coin-wallet", &wallet_dir, &[&socket, "--server"]);
        assert_eq!(wallet.ok("createwallet", json!(["w"])), json!({ "name": "w" }));
        let address = wallet.new_address("w");
        node.ok("generatetoaddress", json!([2, address]));
        assert_eq!(wallet.balance("w"), 2 * SUBSIDY, "{kind}: the attached wallet saw the blocks");
        assert_eq!(wallet.rpc("getblockcount", json!([])).unwrap_err().code, -32601, "a wallet process has no node");
        assert!(wallet_dir.join("wallets/w/wallet.sqlite").is_file(), "its wallets live in its own datadir");

        // Killed: the node carries on, and a new attach catches up.
        wallet.kill9();
        assert_eq!(node.height(), 2);
        node.ok("generatetoaddress", json!([1, address]));
        let cookie = format!("--ipccookie={}", dir.path().join("node/ipc.cookie").display());
        let tcp = format!("--ipcconnect={}", tcp_address(&node));
        let wallet = Daemon::start("coin-wallet", &wallet_dir, &[&tcp, &cookie, "--server"]);
        assert_eq!(wallet.ok("listwallets", json!([])), json!(["w"]), "wallets loaded by RPC come back");
        assert_eq!(wallet.balance("w"), 3 * SUBSIDY, "{kind}: nothing lost, the missed block caught up");

        // A payment from the attached wallet reaches the node's wallets.
        node.ok("createwallet", json!(["local"]));
        let local = node.new_address("local");
        let txid = wallet.wok("w", "sendtoaddress", json!([local, 1_000_000]));
        assert_eq!(node.ok("getmempoolinfo", json!([])), json!({ "size": 1 }));
        node.ok("generatetoaddress", json!([1, address]));
        assert_eq!(node.balance("local"), 1_000_000);
        assert_eq!(
            wallet.wok("w", "listtransactions", json!([2]))[0]["txid"],
            txid,
            "the send, then the block it mined"
        );

        // A clean exit detaches; the node never restarted.
        let node_pid = node.pid();
        assert!(wallet.stop().success());
        assert_eq!(node.pid(), node_pid);
        assert_eq!(node.height(), 4);

        // A wrong secret is refused.
        let wrong = dir.path().join("wrong.cookie");
        std::fs::write(&wrong, "00".repeat(32)).unwrap();
        let refused = Command::new(binary("coin-wallet"))
            .args([
                tcp.clone(),
                format!("--ipccookie={}", wrong.display()),
                format!("--datadir={}", wallet_dir.display()),
            ])
            .output()
            .unwrap();
        assert!(!refused.status.success(), "{kind}: a wrong secret attaches");
        let missing = Command::new(binary("coin-wallet"))
            .args([tcp, format!("--datadir={}", dir.path().join("elsewhere").display())])
            .output()
            .unwrap();
        assert!(!missing.status.success(), "{kind}: no secret attaches");
        assert!(String::from_utf8_lossy(&missing.stderr).contains("ipc.cookie"));
        assert!(node.stop().success());
        assert!(!dir.path().join("node/node.sock").exists(), "the socket is removed at shutdown");
        assert!(!dir.path().join("node/ipc.cookie").exists(), "and the IPC cookie");
    }
}

#[test]
fn two_miners_over_unix_and_tcp_each_get_their_blocks_accepted() {
    for kind in daemons() {
        let dir = TempDir::new(&format!("miners-{kind}"));
        let data = dir.path().join("node");
        let node = Daemon::start(kind, &data, &["--ipcbind=unix", "--ipcbind=tcp:127.0.0.1:0", "--wallet=m"]);
        let address = node.new_address("m");
        let miner = |connect: &str| {
            Command::new(binary("coin-miner"))
                .args([format!("--ipcconnect={connect}"), format!("--datadir={}", data.display())])
                .args(["--blocks=3", &format!("--address={address}")])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let first = miner("unix");
        let second = miner(&tcp_address(&node));
        for child in [first, second] {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{kind}: a miner failed");
            let hashes = String::from_utf8(output.stdout).unwrap();
            assert_eq!(hashes.lines().count(), 3, "{kind}: {hashes}");
            for hash in hashes.lines() {
                assert!(node.ok("getblock", json!([hash]))["height"].as_u64().unwrap() >= 1, "{hash} is in the chain");
            }
        }
        assert_eq!(node.height(), 6);
        assert_eq!(node.balance("m"), 6 * SUBSIDY);
        assert!(node.stop().success());
    }
}

#[test]
fn wait_next_follows_the_tip_stops_on_interrupt_and_on_a_miner_that_went_away() {
    let kind = daemons()[0];
    let dir = TempDir::new(&format!("wait-{kind}"));
    let data = dir.path().join("node");
    let node = Daemon::start(kind, &data, &["--ipcbind=unix"]);
    let socket = format!("unix:{}", data.join("node.sock").display());
    let init = multiprocess::connect::<dyn Init>(&socket).unwrap();
    let mining = init.make_mining().expect("a node mines");
    let template: std::sync::Arc<dyn BlockTemplate> = mining.create_new_block(Address([3; 32])).into();
    assert_eq!(template.get_header().height, 1);

    // The tip moves: the wait ends with a template on the new tip.
    let waiting = template.clone();
    let waiter = std::thread::spawn(move || waiting.wait_next(Duration::from_secs(60)).map(|next| next.get_header()));
    std::thread::sleep(Duration::from_millis(200));
    node.ok("generatetoaddress", json!([1, Address([4; 32]).to_string()]));
    let next = waiter.join().unwrap().expect("a new template");
    assert_eq!(next.height, 2);
    assert!(!template.submit_solution(0), "a template of an old tip is refused");

    // A timeout, then an interrupt from another thread.
    let fresh: std::sync::Arc<dyn BlockTemplate> = mining.create_new_block(Address([3; 32])).into();
    assert!(fresh.wait_next(Duration::from_millis(100)).is_none());
    let waiting = fresh.clone();
    let started = Instant::now();
    let waiter = std::thread::spawn(move || waiting.wait_next(Duration::from_secs(60)).is_none());
    std::thread::sleep(Duration::from_millis(200));
    fresh.interrupt_wait();
    assert!(waiter.join().unwrap(), "an interrupted wait returns None");
    assert!(started.elapsed() < Duration::from_secs(30));

    // The miner goes away mid-wait: the node's thread does not stay behind.
    let baseline = threads_of(node.pid());
    let waiting = fresh.clone();
    let waiter = std::thread::spawn(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waiting.wait_next(Duration::from_secs(600)))).is_err()
    });
    std::thread::sleep(Duration::from_millis(300));
    multiprocess::connection_of(&*init).unwrap().close();
    assert!(waiter.join().unwrap(), "the call ends with the connection");
    drop((template, fresh, mining, init));
    let settled = eventually(Duration::from_secs(10), || (threads_of(node.pid()) <= baseline).then_some(()));
    assert!(
        settled.is_some(),
        "{kind}: the node kept threads of a miner that left ({} > {baseline})",
        threads_of(node.pid())
    );
    node.ok("generatetoaddress", json!([1, Address([4; 32]).to_string()]));
    assert_eq!(node.height(), 2);
    assert!(node.stop().success());
}
