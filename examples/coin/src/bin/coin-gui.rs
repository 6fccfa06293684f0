//! `coin-gui`: the terminal GUI of `coin-tui` with the node in another
//! process. It spawns `coin-node` (which spawns `coin-wallet`) and stops it
//! on quit, or, with `--ipcconnect`, attaches to a running node and leaves
//! it running.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use clap::Parser;
use interfaces::Init;

#[derive(Parser, Debug)]
#[command(about = "The coin GUI, with the node in another process", version)]
struct Cli {
    #[command(flatten)]
    options: coin::args::Options,
    /// Attach to a running node instead of starting one: `unix`
    /// (`DIR/node.sock` of `--datadir`), `unix:PATH` or `tcp:HOST:PORT`.
    #[arg(long, value_name = "ADDR")]
    ipcconnect: Option<String>,
    /// With a `tcp:` address, the node's IPC secret. Default: `DIR/ipc.cookie`.
    #[arg(long, value_name = "PATH")]
    ipccookie: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    coin::exit(run(&cli))
}

fn run(cli: &Cli) -> Result<(), String> {
    let datadir = coin::gui_datadir(&cli.options)?;
    if let Some(address) = &cli.ipcconnect {
        let init = coin::ipc::connect(address, &datadir, cli.ipccookie.as_deref())?;
        let node = init.make_node().ok_or("the node at that address offers no Node")?;
        // Quitting detaches: the node runs on.
        return coin::gui::run(&*node, None);
    }
    let program = std::env::current_exe()
        .map_err(|error| format!("cannot find this program: {error}"))?
        .with_file_name(format!("coin-node{}", std::env::consts::EXE_SUFFIX));
    let mut command = Command::new(&program);
    command.args(cli.options.to_args()).stdin(Stdio::null()).stdout(Stdio::null());
    let mut spawned = multiprocess::spawn_process::<dyn Init>(command)
        .map_err(|error| format!("cannot start {}: {error}", program.display()))?;
    let node = spawned.remote().make_node().ok_or("coin-node offers no Node")?;
    let outcome = coin::gui::run(&*node, None);
    drop(node);
    // Closing the connection stops the node, which stops its wallet process.
    spawned.set_exit_timeout(Duration::from_secs(30));
    spawned.shutdown().map_err(|error| format!("stopping coin-node: {error}"))?;
    outcome
}
