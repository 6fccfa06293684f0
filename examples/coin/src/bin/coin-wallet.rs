//! `coin-wallet`: wallets in their own process. Spawned by `coin-node`, it
//! serves `Init`, whose `WalletLoader` works on the `Chain` the node hands
//! it, with the wallets in the node's `DIR/wallets`. With `--ipcconnect` it
//! attaches to a running node instead, keeps its wallets in its own
//! `--datadir`, and with `--server` serves wallet RPC itself.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use interfaces::{Chain, Echo, Init, LocalEcho, WalletLoader};

#[derive(Parser, Debug)]
#[command(about = "Wallets in their own process: spawned by coin-node, or attached to a node", version)]
struct Cli {
    /// Spawned: the node's data directory. Attached: this wallet process's
    /// own. The wallets are in its `wallets` directory. Default: `~/.coin`.
    #[arg(long, value_name = "DIR")]
    datadir: Option<PathBuf>,
    /// Log categories (repeatable); a spawned wallet also inherits its
    /// node's.
    #[arg(long, value_name = "CATEGORY")]
    debug: Vec<String>,
    /// Accepted for symmetry with coin-node: a spawned wallet is confined by
    /// its node (or not, with the node's `--no-sandbox`).
    #[arg(long)]
    no_sandbox: bool,
    #[command(flatten)]
    attach: coin::attach::AttachOptions,
}

/// What the wallet process serves its node.
struct WalletInit {
    datadir: PathBuf,
}

impl Init for WalletInit {
    fn make_echo(&self) -> Box<dyn Echo> {
        Box::new(LocalEcho)
    }

    fn make_wallet_loader(&self, chain: Box<dyn Chain>) -> Option<Box<dyn WalletLoader>> {
        // serve_process has confined this process, if its node asked.
        let sandboxed = multiprocess::sandbox::is_confined();
        let wallets = coin::wallet::Wallets::new(self.datadir.join("wallets"), Arc::from(chain), sandboxed);
        Some(Box::new(wallets))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    multiprocess::logging::init(&cli.debug);
    let datadir = cli.datadir.clone().unwrap_or_else(|| std::env::home_dir().unwrap_or_default().join(".coin"));
    if let Some(address) = &cli.attach.ipcconnect {
        return coin::exit(coin::attach::run(datadir, address, &cli.attach));
    }
    if !multiprocess::is_child() {
        eprintln!("coin-wallet is started by coin-node, or attaches to a node with --ipcconnect");
        return ExitCode::FAILURE;
    }
    // Ctrl-C in a terminal signals the whole process group: the node stops,
    // and ends this process by closing the connection, after its last call.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to "ignore" runs no code in
    // the handler's context.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    match multiprocess::serve_process::<dyn Init>(Box::new(WalletInit { datadir })) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("coin-wallet: {error}");
            ExitCode::FAILURE
        }
    }
}
