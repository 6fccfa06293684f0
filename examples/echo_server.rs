//! Serves `Init` on an address until SIGINT, SIGTERM or SIGHUP (Ctrl-C),
//! like `bitcoin-node -ipcbind`:
//!
//! ```sh
//! cargo run -p examples --bin echo_server -- --ipcbind unix:run/echo.sock
//! cargo run -p examples --bin echo_server -- --ipcbind tcp:127.0.0.1:0
//! ```
//!
//! For TCP it writes a new secret to a cookie file (`--cookie`, by default
//! `echo_server.cookie` in the system's temporary directory), as bitcoind
//! writes its RPC cookie, prints where, and removes it on exit.

mod support;

use std::path::PathBuf;

use clap::Parser;
use interfaces::{Init, LocalInit};

#[derive(Parser)]
#[command(about = "Serve Init on an address")]
struct Args {
    /// Where to listen: `unix:PATH` or `tcp:HOST:PORT` (port 0 picks one) (Bitcoin Core's -ipcbind).
    #[arg(long, value_name = "ADDRESS")]
    ipcbind: String,
    /// Where a TCP listener writes its secret (mode 0600).
    #[arg(long, value_name = "PATH")]
    cookie: Option<PathBuf>,
    /// Serve at most this many clients at once; the next waits.
    #[arg(long)]
    max_connections: Option<usize>,
    #[command(flatten)]
    logging: support::Logging,
}

fn main() -> std::process::ExitCode {
    support::exit(run())
}

fn run() -> Result<(), multiprocess::Error> {
    let args = Args::parse();
    support::init_logging(&args.logging);
    let mut options = multiprocess::ListenOptions { max_connections: args.max_connections, ..Default::default() };
    let cookie = if args.ipcbind.starts_with("tcp:") {
        let path = args.cookie.unwrap_or_else(|| std::env::temp_dir().join("echo_server.cookie"));
        let secret = multiprocess::Secret::generate()?;
        secret.write_to(&path)?;
        options.secret = Some(secret);
        Some(path)
    } else {
        None
    };
    let listener = multiprocess::listen_with::<dyn Init>(&args.ipcbind, options, || Box::new(LocalInit))?;
    println!("listening on {}", listener.address());
    if let Some(cookie) = &cookie {
        println!("cookie {}", cookie.display());
    }
    support::stop_on_signal(&listener)?;
    // Until a signal stops it; stopping removes a socket file.
    listener.wait();
    drop(listener);
    if let Some(cookie) = cookie {
        let _ = std::fs::remove_file(cookie);
    }
    Ok(())
}
