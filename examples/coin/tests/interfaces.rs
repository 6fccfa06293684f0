//! coin's interfaces across a boundary without the daemons: a wallet's
//! balance callback and the node's chain notifications, through `pair()`.

#![cfg(target_os = "linux")]

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coin::node::{LocalChain, LocalNode, NodeContext, Shutdown};
use coin::wallet::Wallets;
use common::{SUBSIDY, TempDir};
use interfaces::primitives::{Block, Hash256, Transaction};
use interfaces::{ChainNotifications, Node, WalletError, WalletLoader};

#[derive(Default)]
struct Recorder {
    heights: Mutex<Vec<u32>>,
    mempool: Mutex<Vec<Hash256>>,
}

impl ChainNotifications for Recorder {
    fn block_connected(&self, block: &Block) -> Result<(), multiprocess::Error> {
        self.heights.lock().unwrap().push(block.header.height);
        Ok(())
    }
    fn block_disconnected(&self, _block: &Block) -> Result<(), multiprocess::Error> {
        Ok(())
    }
    fn transaction_added_to_mempool(&self, tx: &Transaction) -> Result<(), multiprocess::Error> {
        self.mempool.lock().unwrap().push(tx.txid());
        Ok(())
    }
    fn transaction_removed_from_mempool(&self, _txid: Hash256) -> Result<(), multiprocess::Error> {
        Ok(())
    }
}

#[test]
fn balance_callbacks_and_chain_notifications_cross_a_boundary_until_their_handler_is_dropped() {
    let dir = TempDir::new("interfaces");
    let node = NodeContext::open(dir.path(), Arc::new(Shutdown::default())).unwrap();
    let chain = Arc::new(LocalChain(node.clone()));
    let wallets = Wallets::new(dir.path().join("wallets"), chain, false);
    let loader = multiprocess::pair::<dyn WalletLoader>(Box::new(wallets)).unwrap();
    let wallet = loader.create_wallet("w".into()).unwrap();
    assert!(matches!(loader.create_wallet("w".into()), Err(WalletError::AlreadyExists(_))));
    assert!(matches!(loader.load_wallet("w".into()), Err(WalletError::AlreadyLoaded(_))));

    let (told, changes) = mpsc::channel();
    let handler = wallet.handle_balance_changed(Box::new(move || {
        let _ = told.send(());
    }));
    let remote_node = multiprocess::pair::<dyn Node>(Box::new(LocalNode(node.clone()))).unwrap();
    let recorder = Arc::new(Recorder::default());
    let subscription = remote_node.handle_notifications(recorder.clone()).unwrap();

    let address = wallet.new_address().unwrap();
    remote_node.generate_to_address(2, address).unwrap();
    changes.recv_timeout(Duration::from_secs(10)).expect("the balance callback ran");
    node.sync_notifications();
    assert_eq!(wallet.balance().unwrap(), 2 * SUBSIDY);
    assert_eq!(*recorder.heights.lock().unwrap(), vec![1, 2]);

    let txid = wallet.send(interfaces::primitives::Address([1; 32]), 10_000).unwrap();
    node.sync_notifications();
    assert_eq!(*recorder.mempool.lock().unwrap(), vec![txid]);

    drop(handler);
    drop(subscription);
    while changes.try_recv().is_ok() {}
    remote_node.generate_to_address(1, address).unwrap();
    node.sync_notifications();
    assert!(changes.try_recv().is_err(), "no callback after the handler was dropped");
    assert_eq!(*recorder.heights.lock().unwrap(), vec![1, 2], "no notification after the subscription was dropped");
    assert_eq!(Arc::strong_count(&recorder), 1, "the node let go of the subscriber");

    loader.unload_wallet("w".into()).unwrap();
    assert!(matches!(wallet.balance(), Err(WalletError::NotFound(_))), "a handle of an unloaded wallet");
    node.stop_notifier();
}
