//! `coin-wallet --ipcconnect`: a wallet process attached to a running node.
//! It follows the node's chain through a `Chain` proxy and notifications,
//! keeps its wallets in its own `--datadir`, serves wallet RPC itself with
//! `--server`, and leaves the node running when it exits.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use interfaces::{Chain, WalletLoader};

use crate::daemon::lock_datadir;
use crate::node::Shutdown;
use crate::rpc::{Context, RpcServer};
use crate::wallets::NodeWallets;

/// The options of an attached wallet.
#[derive(clap::Args, Debug, Clone)]
pub struct AttachOptions {
    /// The node to attach to: `unix` (`DIR/node.sock` of `--datadir`),
    /// `unix:PATH` or `tcp:HOST:PORT`.
    #[arg(long, value_name = "ADDR")]
    pub ipcconnect: Option<String>,
    /// With a `tcp:` address, the node's IPC secret. Default:
    /// `DIR/ipc.cookie`.
    #[arg(long, value_name = "PATH")]
    pub ipccookie: Option<PathBuf>,
    /// Serve wallet RPC on `--rpcbind`/`--rpcport`, writing `DIR/rpc.addr`
    /// and `DIR/.cookie`.
    #[arg(long)]
    pub server: bool,
    /// The RPC listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub rpcbind: String,
    /// The RPC port; 0 picks a free one.
    #[arg(long, value_name = "N", default_value_t = 9334)]
    pub rpcport: u16,
    /// Load this wallet at startup, creating it if it does not exist
    /// (repeatable).
    #[arg(long, value_name = "NAME")]
    pub wallet: Vec<String>,
}

/// Attaches to the node at `address` and serves until `stop`, a signal, or
/// the node going away (an error).
pub fn run(datadir: PathBuf, address: &str, options: &AttachOptions) -> Result<(), String> {
    std::fs::create_dir_all(&datadir).map_err(|error| format!("cannot create {}: {error}", datadir.display()))?;
    let _lock = lock_datadir(&datadir)?;
    let shutdown = Arc::new(Shutdown::default());
    let signalled = shutdown.clone();
    ctrlc::set_handler(move || signalled.request()).map_err(|error| format!("cannot handle signals: {error}"))?;

    let init = crate::ipc::connect(address, &datadir, options.ipccookie.as_deref())?;
    let node_gone = Arc::new(AtomicBool::new(false));
    if let Some(connection) = multiprocess::connection_of(&*init) {
        let (gone, stop) = (node_gone.clone(), shutdown.clone());
        let _hook = connection.on_disconnect(move || {
            gone.store(true, Ordering::SeqCst);
            stop.request();
        });
    }
    let chain: Arc<dyn Chain> = Arc::from(init.make_chain().ok_or("the node at that address offers no chain")?);
    tracing::info!(target: "coin", "attached to the node at {address}");
    let wallets = NodeWallets::local(chain.clone(), &datadir);
    wallets.start(&options.wallet).map_err(|error| format!("cannot load the wallets: {error}"))?;

    let mut server = if options.server {
        let loader: Arc<dyn WalletLoader> = wallets.clone();
        let synced = chain.clone();
        let context = Context {
            node: None,
            wallets: loader,
            sync_wallets: Box::new(move || {
                // A node that has gone answers nothing: the wallets say what
                // they have.
                let _ = synced.wait_for_notifications();
            }),
            shutdown: shutdown.clone(),
            started: std::time::Instant::now(),
        };
        let server = RpcServer::start(context, &options.rpcbind, options.rpcport, &datadir)
            .map_err(|error| format!("cannot serve RPC on {}:{}: {error}", options.rpcbind, options.rpcport))?;
        Some(server)
    } else {
        None
    };

    shutdown.wait();
    tracing::info!(target: "coin", "detaching");
    if let Some(server) = &mut server {
        server.stop();
    }
    wallets.stop();
    drop(chain);
    drop(init);
    if node_gone.load(Ordering::SeqCst) {
        return Err("the node went away".into());
    }
    Ok(())
}
