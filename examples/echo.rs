//! Echo through an in-process socketpair: the smallest complete use of the
//! library. `cargo run -p examples --bin echo -- --debug=ipc` shows every call.

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

fn main() -> std::process::ExitCode {
    support::exit(run())
}

fn run() -> Result<(), multiprocess::Error> {
    let args = Args::parse();
    support::init_logging(&args.logging);
    let echo = multiprocess::pair::<dyn Echo>(Box::new(LocalEcho))?;
    println!("{}", echo.echo(args.message));
    Ok(())
}
