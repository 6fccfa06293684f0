//! `coin-wallet`: the wallets of a `coin-node`, in their own process. The
//! node spawns it and asks its `Init` for a `WalletLoader`, handing it the
//! node's `Chain`; the wallets live in `DIR/wallets`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use interfaces::{Chain, Echo, Init, LocalEcho, WalletLoader};

#[derive(Parser, Debug)]
#[command(about = "The wallet process of coin-node", version)]
struct Cli {
    /// The node's data directory; the wallets are in its `wallets` directory.
    #[arg(long, value_name = "DIR")]
    datadir: PathBuf,
    /// Log categories (repeatable); a spawned wallet also inherits its
    /// node's.
    #[arg(long, value_name = "CATEGORY")]
    debug: Vec<String>,
    /// Run without confinement.
    #[arg(long)]
    no_sandbox: bool,
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
        let wallets = coin::wallet::Wallets::new(self.datadir.join("wallets"), Arc::from(chain), false);
        Some(Box::new(wallets))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    multiprocess::logging::init(&cli.debug);
    if !multiprocess::is_child() {
        eprintln!("coin-wallet holds the wallets of a coin-node, which starts it; run coin-node instead");
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
    match multiprocess::serve_process::<dyn Init>(Box::new(WalletInit { datadir: cli.datadir })) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("coin-wallet: {error}");
            ExitCode::FAILURE
        }
    }
}
