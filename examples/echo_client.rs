//! Connects to an `echo_server` and prints the echo of a message, like
//! `bitcoin-wallet -ipcconnect`:
//!
//! ```sh
//! cargo run -p examples --bin echo_client -- --ipcconnect unix:run/echo.sock hello
//! cargo run -p examples --bin echo_client -- --ipcconnect tcp:127.0.0.1:PORT --cookie PATH hello
//! ```

mod support;

use std::path::PathBuf;

use clap::Parser;
use interfaces::Init;

#[derive(Parser)]
#[command(about = "Echo a message through a listening process")]
struct Args {
    /// Where to connect: `unix:PATH` or `tcp:HOST:PORT` (Bitcoin Core's -ipcconnect).
    #[arg(long, value_name = "ADDRESS")]
    ipcconnect: String,
    /// The listener's cookie file, which holds the secret a TCP connection needs.
    #[arg(long, value_name = "PATH")]
    cookie: Option<PathBuf>,
    /// The message to send.
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
    let secret = args.cookie.map(multiprocess::Secret::from_file).transpose()?;
    let options = multiprocess::ConnectOptions { secret, ..Default::default() };
    let init = multiprocess::connect_with::<dyn Init>(&args.ipcconnect, options)?;
    println!("{}", init.make_echo().echo(args.message));
    Ok(())
}
