//! `coin-miner`: an external miner. It attaches to a node with
//! `--ipcconnect`, mines `--blocks=N` blocks paying `--address` through the
//! node's `Mining` interface (templates, solutions, waiting for the next
//! template), prints each accepted block's hash, and exits.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use interfaces::primitives::{Address, meets_target};

#[derive(Parser, Debug)]
#[command(about = "Mine blocks for a running coin node through its Mining interface", version)]
struct Cli {
    /// The node: `unix` (`DIR/node.sock` of `--datadir`), `unix:PATH` or
    /// `tcp:HOST:PORT`.
    #[arg(long, value_name = "ADDR")]
    ipcconnect: String,
    /// The node's data directory, for `unix` and the default cookie.
    /// Default: `~/.coin`.
    #[arg(long, value_name = "DIR")]
    datadir: Option<PathBuf>,
    /// With a `tcp:` address, the node's IPC secret. Default: `DIR/ipc.cookie`.
    #[arg(long, value_name = "PATH")]
    ipccookie: Option<PathBuf>,
    /// How many blocks to mine.
    #[arg(long, value_name = "N", default_value_t = 1)]
    blocks: u32,
    /// Who the blocks pay.
    #[arg(long, value_name = "ADDR")]
    address: String,
    /// Log categories (repeatable), as `ipc`.
    #[arg(long, value_name = "CATEGORY")]
    debug: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    multiprocess::logging::init(&cli.debug);
    coin::exit(run(&cli))
}

fn run(cli: &Cli) -> Result<(), String> {
    let address: Address = cli.address.parse().map_err(|error| format!("{error}"))?;
    let datadir = cli.datadir.clone().unwrap_or_else(|| std::env::home_dir().unwrap_or_default().join(".coin"));
    let init = coin::ipc::connect(&cli.ipcconnect, &datadir, cli.ipccookie.as_deref())?;
    let mining = init.make_mining().ok_or("the node at that address offers no Mining")?;
    let mut mined = 0;
    let mut template = mining.create_new_block(address);
    while mined < cli.blocks {
        let mut header = template.get_header();
        while !meets_target(&header.hash()) {
            header.nonce = header.nonce.wrapping_add(1);
        }
        if template.submit_solution(header.nonce) {
            println!("{}", header.hash());
            mined += 1;
        }
        // Accepted or beaten to it: either way the tip has moved, so the
        // next template is ready at once (a fresh one if the wait ends
        // without one).
        template = match template.wait_next(Duration::from_secs(10)) {
            Some(next) => next,
            None => mining.create_new_block(address),
        };
    }
    Ok(())
}
