//! Echo through an in-process socketpair: the smallest complete use of the
//! library. `cargo run --example echo -- --debug=ipc` shows every call.

mod support;

use clap::Parser;
use interfaces::{Echo, LocalEcho};

#[derive(Parser)]
#[command(about = "Echo a message through a multiprocess socketpair")]
struct Args {
    /// The message to send.
    #[arg(default_value = "hello")]
    message: String,
    #[command(flatten)]
    logging: support::Logging,
}

fn main() -> Result<(), multiprocess::Error> {
    let args = Args::parse();
    support::init_logging(&args.logging);
    let echo = multiprocess::pair::<dyn Echo>(Box::new(LocalEcho))?;
    println!("{}", echo.echo(args.message));
    Ok(())
}
