//! Serves `Init` on a socket path until standard input closes (Ctrl-D):
//! `cargo run --example echo_server -- --ipcbind unix:run/echo.sock`.

mod support;

use std::io::Read;

use clap::Parser;
use interfaces::{Init, LocalInit};

#[derive(Parser)]
#[command(about = "Serve Init on a socket path")]
struct Args {
    /// Where to listen, as `unix:PATH` (Bitcoin Core's -ipcbind).
    #[arg(long, value_name = "ADDRESS")]
    ipcbind: String,
    /// Serve at most this many clients at once; the next waits.
    #[arg(long)]
    max_connections: Option<usize>,
    #[command(flatten)]
    logging: support::Logging,
}

fn main() -> Result<(), multiprocess::Error> {
    let args = Args::parse();
    support::init_logging(&args.logging);
    let options = multiprocess::ListenOptions { max_connections: args.max_connections, ..Default::default() };
    let listener = multiprocess::listen_with::<dyn Init>(&args.ipcbind, options, || Box::new(LocalInit::default()))?;
    println!("listening on {}", listener.address());
    // Until stdin closes; dropping the listener removes the socket file.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}
