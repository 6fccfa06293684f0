//! The functional suite: the same tests against `coind` and `coin-node`
//! (`COIN_DAEMON` picks one; unset, each in turn), through raw HTTP and
//! `coin-cli`, as Bitcoin Core runs its functional tests against `bitcoind`
//! and `bitcoin-node`.

#![cfg(target_os = "linux")]

mod common;

use common::{Daemon, FEE, PROCESS_TIMEOUT, SUBSIDY, TempDir, daemons, wait_gone};
use serde_json::{Value, json};

#[test]
fn mining_pays_the_subsidy_and_the_chain_answers_queries() {
    for kind in daemons() {
        let dir = TempDir::new(&format!("mining-{kind}"));
        let node = Daemon::start(kind, &dir.path().join("data"), &[]);
        assert_eq!(node.height(), 0, "{kind}: a fresh chain has the genesis block only");
        let genesis = node.ok("getblockhash", json!([0]));
        assert_eq!(node.ok("getbestblockhash", json!([])), genesis);

        node.ok("createwallet", json!(["miner"]));
        let address = node.new_address("miner");
        let hashes = node.ok("generatetoaddress", json!([3, address]));
        let hashes = hashes.as_array().unwrap();
        assert_eq!(hashes.len(), 3);
        assert_eq!(node.height(), 3);
        assert_eq!(node.ok("getbestblockhash", json!([])), hashes[2]);
        assert_eq!(node.ok("getblockhash", json!([3])), hashes[2]);

        let block = node.ok("getblock", json!([hashes[2]]));
        assert_eq!(block["hash"], hashes[2]);
        assert_eq!(block["height"], 3);
        assert_eq!(block["previousblockhash"], hashes[1]);
        assert!(block["time"].as_u64().unwrap() > 1_600_000_000);
        assert_eq!(block["tx"].as_array().unwrap().len(), 1, "only the coinbase");
        let genesis_block = node.ok("getblock", json!([genesis]));
        assert_eq!(genesis_block["height"], 0);
        assert!(genesis_block.get("previousblockhash").is_none());

        assert_eq!(node.balance("miner"), 3 * SUBSIDY);
        let info = node.wok("miner", "getwalletinfo", json!([]));
        assert_eq!(info["walletname"], "miner");
        assert_eq!(info["balance"], 3 * SUBSIDY);
        assert_eq!(info["txcount"], 3);
        assert_eq!(node.ok("getmempoolinfo", json!([])), json!({ "size": 0 }));
        assert!(node.ok("uptime", json!([])).as_u64().is_some());
        assert!(node.stop().success());
    }
}

#[test]
fn sending_between_two_wallets_pays_the_fee_and_shows_in_listtransactions() {
    for kind in daemons() {
        let dir = TempDir::new(&format!("send-{kind}"));
        let node = Daemon::start(kind, &dir.path().join("data"), &[]);
        for name in ["alice", "bob", "miner"] {
            assert_eq!(node.ok("createwallet", json!([name])), json!({ "name": name }));
        }
        assert_eq!(node.ok("listwallets", json!([])), json!(["alice", "bob", "miner"]));
        node.ok("generatetoaddress", json!([1, node.new_address("alice")]));
        let bob = node.new_address("bob");
        let txid = node.wok("alice", "sendtoaddress", json!([bob, 1_000_000_000]));
        assert_eq!(txid.as_str().unwrap().len(), 64);
        assert_eq!(node.ok("getmempoolinfo", json!([])), json!({ "size": 1 }));
        assert_eq!(node.balance("alice"), SUBSIDY - 1_000_000_000 - FEE, "{kind}: the change is spendable at once");
        assert_eq!(node.balance("bob"), 0, "an unconfirmed payment from another wallet is not in the balance");

        let miner = node.new_address("miner");
        let mined = node.ok("generatetoaddress", json!([1, miner]));
        let block = node.ok("getblock", json!([mined[0]]));
        assert_eq!(block["tx"][1], txid, "the block includes the mempool");
        assert_eq!(node.ok("getmempoolinfo", json!([])), json!({ "size": 0 }));
        assert_eq!(node.balance("bob"), 1_000_000_000);
        assert_eq!(node.balance("alice"), SUBSIDY - 1_000_000_000 - FEE);
        assert_eq!(node.balance("miner"), SUBSIDY + FEE, "the miner collects the fee");

        let alice = node.wok("alice", "listtransactions", json!([]));
        let alice = alice.as_array().unwrap();
        assert_eq!(alice.len(), 2);
        assert_eq!(alice[0]["category"], "generate");
        assert_eq!(alice[0]["amount"], SUBSIDY);
        assert_eq!(alice[0]["confirmations"], 2);
        assert_eq!(alice[1]["category"], "send", "newest last");
        assert_eq!(alice[1]["txid"], txid);
        assert_eq!(alice[1]["amount"], -1_000_000_000i64);
        assert_eq!(alice[1]["fee"], -(FEE as i64));
        assert_eq!(alice[1]["confirmations"], 1);
        let bob = node.wok("bob", "listtransactions", json!([]));
        assert_eq!(bob, json!([{ "txid": txid, "category": "receive", "amount": 1_000_000_000, "confirmations": 1 }]));
        assert_eq!(node.wok("alice", "listtransactions", json!([1])).as_array().unwrap().len(), 1);

        // Back again, spending the received coin.
        let alice_address = node.new_address("alice");
        node.wok("bob", "sendtoaddress", json!([alice_address, 500_000_000]));
        node.ok("generatetoaddress", json!([1, miner]));
        assert_eq!(node.balance("bob"), 500_000_000 - FEE);
        assert_eq!(node.balance("alice"), SUBSIDY - 500_000_000 - FEE);
        assert!(node.stop().success());
    }
}

/// A node with two funded wallets and a payment in the mempool; returns
/// what the test expects to find again.
fn funded(node: &Daemon) -> (Value, Value, u64, u64) {
    node.ok("createwallet", json!(["alice"]));
    node.ok("createwallet", json!(["bob"]));
    node.ok("generatetoaddress", json!([2, node.new_address("alice")]));
    let bob = node.new_address("bob");
    node.wok("alice", "sendtoaddress", json!([bob, 700_000_000]));
    node.ok("generatetoaddress", json!([1, node.new_address("alice")]));
    node.wok("alice", "sendtoaddress", json!([bob, 300_000_000]));
    let height = node.ok("getblockcount", json!([]));
    let tip = node.ok("getbestblockhash", json!([]));
    (height, tip, node.balance("alice"), node.balance("bob"))
}

#[test]
fn a_restart_keeps_the_chain_the_wallets_and_the_balances() {
    for kind in daemons() {
        let dir = TempDir::new(&format!("restart-{kind}"));
        let data = dir.path().join("data");
        let node = Daemon::start(kind, &data, &[]);
        let (height, tip, alice, bob) = funded(&node);
        assert!(node.stop().success());
        assert!(!data.join(".cookie").exists(), "{kind}: the cookie is removed at shutdown");

        let node = Daemon::start(kind, &data, &[]);
        assert_eq!(node.ok("getblockcount", json!([])), height);
        assert_eq!(node.ok("getbestblockhash", json!([])), tip);
        assert_eq!(node.ok("listwallets", json!([])), json!(["alice", "bob"]), "wallets loaded by RPC come back");
        assert_eq!(node.balance("alice"), alice);
        assert_eq!(node.balance("bob"), bob);
        assert_eq!(node.ok("getmempoolinfo", json!([])), json!({ "size": 1 }), "the mempool is kept");
        node.ok("generatetoaddress", json!([1, node.new_address("alice")]));
        assert_eq!(node.balance("bob"), 1_000_000_000);

        // An unloaded wallet stays unloaded; --wallet loads one at startup.
        node.ok("unloadwallet", json!(["bob"]));
        assert!(node.stop().success());
        let node = Daemon::start(kind, &data, &["--wallet=carol"]);
        assert_eq!(node.ok("listwallets", json!([])), json!(["alice", "carol"]));
        assert_eq!(node.balance("carol"), 0);
        assert!(node.stop().success());
    }
}

#[test]
fn kill_minus_9_between_calls_loses_nothing_acknowledged() {
    for kind in daemons() {
        let dir = TempDir::new(&format!("kill-{kind}"));
        let data = dir.path().join("data");
        let node = Daemon::start(kind, &data, &[]);
        let (height, tip, alice, bob) = funded(&node);
        let address = node.new_address("bob");
        node.ok("createwallet", json!(["carol"]));
        node.kill9();

        let node = Daemon::start(kind, &data, &[]);
        assert_eq!(node.ok("getblockcount", json!([])), height, "{kind}");
        assert_eq!(node.ok("getbestblockhash", json!([])), tip);
        assert_eq!(node.ok("listwallets", json!([])), json!(["alice", "bob", "carol"]));
        assert_eq!(node.balance("alice"), alice);
        assert_eq!(node.balance("bob"), bob);
        assert_eq!(node.ok("getmempoolinfo", json!([])), json!({ "size": 1 }), "the acknowledged payment waits");
        // The address handed out before the kill still belongs to bob.
        node.ok("generatetoaddress", json!([1, address]));
        assert_eq!(node.balance("bob"), 1_000_000_000 + SUBSIDY + FEE, "bob mined the payment, and its fee");
        node.kill9();
    }
}

#[test]
fn echo_returns_its_params_and_echoipc_goes_through_a_child() {
    for kind in daemons() {
        let dir = TempDir::new(&format!("echo-{kind}"));
        let node = Daemon::start(kind, &dir.path().join("data"), &[]);
        assert_eq!(node.ok("echo", json!(["a", 1, { "b": [true] }])), json!(["a", 1, { "b": [true] }]));
        assert_eq!(node.ok("echo", json!([])), json!([]));
        assert_eq!(node.ok("echoipc", json!(["hello through a child"])), "hello through a child");
        let output = node.cli(&["echoipc", "from the cli"]);
        assert!(output.status.success());
        assert_eq!(String::from_utf8_lossy(&output.stdout), "from the cli\n");
        assert!(node.stop().success());
    }
}

#[test]
fn bad_input_gets_bitcoinds_codes_and_changes_nothing() {
    for kind in daemons() {
        let dir = TempDir::new(&format!("bad-{kind}"));
        let node = Daemon::start(kind, &dir.path().join("data"), &[]);
        node.ok("createwallet", json!(["alice"]));
        node.ok("generatetoaddress", json!([1, node.new_address("alice")]));
        let before = (node.height(), node.balance("alice"));
        let bob = node.new_address("alice");

        let code = |body: &str, path: &str| -> i64 {
            let (status, answer) = node.post(path, body, None);
            assert_eq!(status, 200, "{body}: {answer}");
            let answer: Value = serde_json::from_str(&answer).unwrap();
            answer["error"]["code"].as_i64().unwrap_or_else(|| panic!("{body} did not fail: {answer}"))
        };
        assert_eq!(code("{not json", "/"), -32700);
        assert_eq!(code("", "/"), -32700);
        assert_eq!(code("[]", "/"), -32600);
        assert_eq!(code("\"getblockcount\"", "/"), -32600);
        assert_eq!(code(r#"{"id":1,"method":5}"#, "/"), -32600);
        assert_eq!(code(r#"{"id":1,"method":"getblockcount","params":"x"}"#, "/"), -32600);

        let error = |result: Result<Value, common::RpcError>| result.expect_err("must fail").code;
        assert_eq!(error(node.rpc("nosuchmethod", json!([]))), -32601);
        assert_eq!(error(node.rpc("getblockhash", json!(["one"]))), -32602);
        assert_eq!(error(node.rpc("getblockhash", json!([]))), -32602);
        assert_eq!(error(node.rpc("getblockcount", json!([1]))), -32602);
        assert_eq!(error(node.rpc("generatetoaddress", json!(["1", bob]))), -32602);
        assert_eq!(error(node.wallet("alice", "sendtoaddress", json!([bob, "a lot"]))), -32602);
        assert_eq!(error(node.wallet("alice", "sendtoaddress", json!([bob, 1.5]))), -32602);
        assert_eq!(error(node.rpc("getblockhash", json!([99]))), -8);
        assert_eq!(error(node.rpc("getblockhash", json!([-1]))), -8);
        assert_eq!(error(node.rpc("getblock", json!(["00"]))), -8);
        assert_eq!(error(node.rpc("getblock", json!(["11".repeat(32)]))), -5);
        assert_eq!(error(node.wallet("alice", "sendtoaddress", json!([bob, 0]))), -8);
        assert_eq!(error(node.wallet("alice", "sendtoaddress", json!([bob, -5]))), -8);
        assert_eq!(error(node.wallet("alice", "sendtoaddress", json!(["coin1nothex", 1]))), -5);
        assert_eq!(error(node.rpc("generatetoaddress", json!([1, "bc1qnotours"]))), -5);
        assert_eq!(error(node.wallet("alice", "sendtoaddress", json!([bob, SUBSIDY]))), -6, "the fee does not fit");
        assert_eq!(error(node.wallet("alice", "sendtoaddress", json!([bob, u64::MAX / 2]))), -6);
        assert_eq!(error(node.wallet("nosuch", "getbalance", json!([]))), -18);
        assert_eq!(error(node.rpc("loadwallet", json!(["nosuch"]))), -18);
        assert_eq!(error(node.rpc("unloadwallet", json!(["nosuch"]))), -18);
        assert_eq!(error(node.rpc("createwallet", json!(["alice"]))), -4);
        assert_eq!(error(node.rpc("createwallet", json!(["../escape"]))), -8);
        assert_eq!(error(node.rpc("loadwallet", json!(["alice"]))), -35);
        assert_eq!(error(node.rpc("sendrawtransaction", json!(["zz"]))), -22);
        assert_eq!(error(node.rpc("sendrawtransaction", json!(["00"]))), -22);

        node.ok("createwallet", json!(["second"]));
        assert_eq!(error(node.rpc("getbalance", json!([]))), -19, "two wallets, none named");
        node.ok("unloadwallet", json!(["second"]));
        assert_eq!(node.ok("getbalance", json!([])), before.1, "one wallet: / reaches it");

        let (status, _) =
            node.post("/", r#"{"id":1,"method":"getblockcount"}"#, Some("Basic X19jb29raWVfXzp3cm9uZw=="));
        assert_eq!(status, 401, "a wrong cookie is refused");
        let (status, _) = node.post("/", r#"{"id":1,"method":"stop"}"#, Some(""));
        assert_eq!(status, 401);

        assert_eq!((node.height(), node.balance("alice")), before, "{kind}: nothing changed");
        assert_eq!(node.ok("getmempoolinfo", json!([])), json!({ "size": 0 }));
        assert!(node.stop().success(), "the server survived it all");
    }
}

#[test]
fn coin_cli_prints_results_plainly_and_fails_with_the_message() {
    for kind in daemons() {
        let dir = TempDir::new(&format!("cli-{kind}"));
        let node = Daemon::start(kind, &dir.path().join("data"), &[]);
        let run = |args: &[&str]| {
            let output = node.cli(args);
            (
                output.status,
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        };
        let (status, out, _) = run(&["getblockcount"]);
        assert!(status.success());
        assert_eq!(out, "0\n");
        let (_, out, _) = run(&["getbestblockhash"]);
        assert_eq!(out.trim().len(), 64, "a string is printed without quotes: {out}");
        let (status, out, _) = run(&["createwallet", "1234"]);
        assert!(status.success(), "a wallet name that looks like a number is a string");
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!({ "name": "1234" }));
        let (_, address, _) = run(&["--rpcwallet=1234", "getnewaddress"]);
        let (status, _, _) = run(&["generatetoaddress", "2", address.trim()]);
        assert!(status.success());
        let (_, out, _) = run(&["--rpcwallet=1234", "getbalance"]);
        assert_eq!(out.trim(), (2 * SUBSIDY).to_string());

        let (status, out, err) = run(&["nosuchmethod"]);
        assert!(!status.success());
        assert!(out.is_empty());
        assert!(err.contains("Method not found"), "{err}");
        let (status, _, err) = run(&["--rpcwallet=nosuch", "getbalance"]);
        assert!(!status.success());
        assert!(err.contains("-18"), "{err}");
        assert!(node.stop().success());
    }
}

#[test]
fn stop_and_sigterm_end_every_process() {
    for kind in daemons() {
        let dir = TempDir::new(&format!("stop-{kind}"));
        let data = dir.path().join("data");
        let node = Daemon::start(kind, &data, &["--wallet=w"]);
        let wallets = node.wallet_pids();
        assert_eq!(wallets.len(), usize::from(kind == "coin-node"), "{kind}: wallet processes {wallets:?}");
        let output = node.cli(&["stop"]);
        assert_eq!(String::from_utf8_lossy(&output.stdout), "coin server stopping\n");
        let mut node = node;
        assert!(node.wait_exit().success());
        for pid in wallets {
            assert!(wait_gone(pid, PROCESS_TIMEOUT), "{kind}: the wallet process outlived stop");
        }
        assert!(!data.join(".cookie").exists());

        for signal in [libc::SIGTERM, libc::SIGINT] {
            // --wallet is not remembered in settings.json (as bitcoind's -wallet).
            let mut node = Daemon::start(kind, &data, &["--wallet=w"]);
            let wallets = node.wallet_pids();
            assert_eq!(node.balance("w"), 0);
            common::signal(node.pid(), signal);
            assert!(node.wait_exit().success(), "{kind} exits cleanly on signal {signal}");
            for pid in wallets {
                assert!(wait_gone(pid, PROCESS_TIMEOUT), "{kind}: the wallet process outlived signal {signal}");
            }
        }
    }
}

#[test]
fn a_second_daemon_on_the_same_data_directory_is_refused() {
    for kind in daemons() {
        let dir = TempDir::new(&format!("lock-{kind}"));
        let data = dir.path().join("data");
        let node = Daemon::start(kind, &data, &[]);
        let second = std::process::Command::new(common::binary(kind))
            .arg(format!("--datadir={}", data.display()))
            .arg("--rpcport=0")
            .output()
            .unwrap();
        assert!(!second.status.success());
        assert!(
            String::from_utf8_lossy(&second.stderr).contains("lock"),
            "{}",
            String::from_utf8_lossy(&second.stderr)
        );
        assert_eq!(node.height(), 0);
        assert!(node.stop().success());
    }
}
