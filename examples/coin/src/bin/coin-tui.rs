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
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let datadir = cli.options.datadir();
    std::fs::create_dir_all(&datadir).map_err(|error| format!("cannot create {}: {error}", datadir.display()))?;
    coin::log_to_file(&datadir.join("debug.log")).map_err(|error| format!("cannot open debug.log: {error}"))?;
    multiprocess::logging::init(&cli.options.debug);
    let running = coin::daemon::start(&cli.options, WalletMode::InProcess)?;
    let outcome = coin::gui::run(&LocalNode(running.node.clone()), Some(running.shutdown.clone()));
    running.stop();
    outcome
}
