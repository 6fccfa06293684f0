//! `coind` and `coin-node`: one program, which differs only in where its
//! wallets are ([`WalletMode`]).

use std::fs::File;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use interfaces::WalletLoader;

use crate::args::Options;
use crate::ipc::{Listeners, NodeInit};
use crate::node::{LocalChain, LocalNode, NodeContext, Shutdown};
use crate::rpc::{Context, RpcServer};
use crate::wallets::NodeWallets;

/// Where a node's wallets live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletMode {
    /// In the node's process (`coind`).
    InProcess,
    /// In a `coin-wallet` process the node spawns (`coin-node`).
    Spawn,
}

#[derive(Parser, Debug)]
#[command(about = "A coin node: chain, mempool, mining, wallets and JSON-RPC", version)]
struct Cli {
    #[command(flatten)]
    options: Options,
}

/// The `main` of `coind` (`InProcess`) and `coin-node` (`Spawn`).
pub fn main(mode: WalletMode) -> ExitCode {
    let cli = Cli::parse();
    multiprocess::logging::init(&cli.options.debug);
    crate::exit(run(&cli.options, mode))
}

/// Takes the data directory's lock, as bitcoind does, so that two nodes
/// never share one.
pub fn lock_datadir(datadir: &Path) -> Result<File, String> {
    let path = datadir.join(".lock");
    let file = File::create(&path).map_err(|error| format!("cannot create {}: {error}", path.display()))?;
    file.try_lock().map_err(|_| {
        format!(
            "Cannot obtain a lock on data directory {}. another coin process is probably using it.",
            datadir.display()
        )
    })?;
    Ok(file)
}

/// A running node: chain, wallets, listeners and RPC server.
pub struct Running {
    /// The node.
    pub node: Arc<NodeContext>,
    /// Stopping it.
    pub shutdown: Arc<Shutdown>,
    wallets: Arc<NodeWallets>,
    listeners: Listeners,
    server: RpcServer,
    _lock: File,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("rpc", &self.server.address).finish_non_exhaustive()
    }
}

impl Running {
    /// Stops everything, in order: no new callers, then the wallets, then
    /// the notifications.
    pub fn stop(mut self) {
        tracing::info!(target: "coin", "shutting down");
        self.listeners.stop();
        self.server.stop();
        self.wallets.stop();
        self.node.stop_notifier();
    }
}

/// Starts a node as `coind` (`InProcess`) or `coin-node` (`Spawn`) does,
/// with SIGINT and SIGTERM asking it to stop.
pub fn start(options: &Options, mode: WalletMode) -> Result<Running, String> {
    let datadir = options.datadir();
    std::fs::create_dir_all(&datadir).map_err(|error| format!("cannot create {}: {error}", datadir.display()))?;
    let lock = lock_datadir(&datadir)?;
    let shutdown = Arc::new(Shutdown::default());
    let signalled = shutdown.clone();
    ctrlc::set_handler(move || signalled.request()).map_err(|error| format!("cannot handle signals: {error}"))?;

    let node = NodeContext::open(&datadir, shutdown.clone()).map_err(|error| error.to_string())?;
    let wallets = match mode {
        WalletMode::InProcess => NodeWallets::local(Arc::new(LocalChain(node.clone())), &datadir),
        WalletMode::Spawn => {
            let args = vec![format!("--datadir={}", datadir.display())];
            // The wallet process may write only its wallets, and neither
            // run programs nor open network sockets.
            let sandbox = if options.no_sandbox {
                None
            } else {
                let wallets = datadir.join("wallets");
                std::fs::create_dir_all(&wallets)
                    .map_err(|error| format!("cannot create {}: {error}", wallets.display()))?;
                multiprocess::Sandbox::supported().map_err(|error| {
                    format!("cannot confine the wallet process ({error}); --no-sandbox runs it unconfined")
                })?;
                Some(multiprocess::Sandbox::new().writable(wallets))
            };
            NodeWallets::process(node.clone(), &datadir, args, sandbox)
        }
    };
    wallets.start(&options.wallet).map_err(|error| format!("cannot load the wallets: {error}"))?;
    let loader: Arc<dyn WalletLoader> = wallets.clone();
    node.set_wallets(&loader);

    let synced = node.clone();
    let context = Context {
        node: Some(Box::new(LocalNode(node.clone()))),
        wallets: loader,
        sync_wallets: Box::new(move || synced.sync_notifications()),
        shutdown: shutdown.clone(),
        started: std::time::Instant::now(),
    };
    // Listening before RPC: once `rpc.addr` exists, everything is ready.
    let listeners = Listeners::bind(&options.ipcbind, &datadir, &node)?;
    let server = RpcServer::start(context, &options.rpcbind, options.rpcport, &datadir)
        .map_err(|error| format!("cannot serve RPC on {}:{}: {error}", options.rpcbind, options.rpcport))?;
    Ok(Running { node, shutdown, wallets, listeners, server, _lock: lock })
}

fn run(options: &Options, mode: WalletMode) -> Result<(), String> {
    let running = start(options, mode)?;
    // Spawned by `coin-gui`: serve it the node until it goes, then stop.
    if multiprocess::is_child() {
        let (node, shutdown) = (running.node.clone(), running.shutdown.clone());
        std::thread::Builder::new()
            .name("coin-gui-link".into())
            .spawn(move || {
                if let Err(error) = multiprocess::serve_process::<dyn interfaces::Init>(Box::new(NodeInit(node))) {
                    tracing::warn!(target: "coin", "serving the GUI that started this node: {error}");
                }
                shutdown.request();
            })
            .map_err(|error| format!("cannot start a thread: {error}"))?;
    }
    running.shutdown.wait();
    running.stop();
    Ok(())
}
