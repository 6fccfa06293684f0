//! Echo across processes, like Bitcoin Core's `echoipc`: this program spawns
//! itself as a child that serves `Init`, asks it for an `Echo`, and prints the
//! answer. `cargo run -p examples --bin echo_ipc -- --debug=ipc` shows both processes'
//! calls, each line prefixed with executable, pid and thread; the child
//! inherits the categories from the parent.

mod support;

use std::process::Command;

use clap::Parser;
use interfaces::{Init, LocalInit};

#[derive(Parser)]
#[command(about = "Echo a message through a child process")]
struct Args {
    /// The message to send.
    #[arg(default_value = "hello")]
    message: String,
    #[command(flatten)]
    logging: support::Logging,
}

fn main() -> std::process::ExitCode {
    support::exit(run())
}

fn run() -> Result<(), multiprocess::Error> {
    let args = Args::parse();
    support::init_logging(&args.logging);
    // The child: serve until the parent goes away.
    if multiprocess::serve_if_child::<dyn Init>(|| Box::new(LocalInit))? {
        return Ok(());
    }
    // The child inherits `--debug` through the environment.
    let child = Command::new(std::env::current_exe()?);
    let spawned = multiprocess::spawn_process::<dyn Init>(child)?;
    let echo = spawned.remote().make_echo();
    println!("{}", echo.echo(args.message));
    Ok(())
}
