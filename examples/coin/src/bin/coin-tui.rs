//! `coin-tui`: the terminal GUI with node and wallets in this process (as
//! `coind`, RPC server included, so `coin-cli` works beside it). Log lines go
//! to `DIR/debug.log`.

use std::process::ExitCode;

use clap::Parser;
use coin::daemon::WalletMode;
use coin::node::LocalNode;

#[derive(Parser, Debug)]
#[command(about = "The coin GUI, with node and wallets in this process", version)]
struct Cli {
    #[command(flatten)]
    options: coin::args::Options,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    coin::exit(run(&cli))
}

fn run(cli: &Cli) -> Result<(), String> {
    coin::gui_datadir(&cli.options)?;
    let running = coin::daemon::start(&cli.options, WalletMode::InProcess)?;
    let outcome = coin::gui::run(&LocalNode(running.node.clone()), Some(running.shutdown.clone()));
    running.stop();
    outcome
}
