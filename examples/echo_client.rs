//! Connects to an `echo_server` and prints the echo of a message:
//! `cargo run --example echo_client -- --ipcconnect unix:run/echo.sock hello`.

mod support;

use clap::Parser;
use interfaces::Init;

#[derive(Parser)]
#[command(about = "Echo a message through a listening process")]
struct Args {
    /// Where to connect, as `unix:PATH` (Bitcoin Core's -ipcconnect).
    #[arg(long, value_name = "ADDRESS")]
    ipcconnect: String,
    /// The message to send.
    message: String,
    #[command(flatten)]
    logging: support::Logging,
}

fn main() -> Result<(), multiprocess::Error> {
    let args = Args::parse();
    support::init_logging(&args.logging);
    let init = multiprocess::connect::<dyn Init>(&args.ipcconnect)?;
    println!("{}", init.make_echo().echo(args.message));
    Ok(())
}
