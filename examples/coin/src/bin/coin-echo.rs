//! `coin-echo`: serves `Init` (and so `Echo`) to the process that spawned it;
//! the `echoipc` RPC sends its message through it.

use interfaces::{Init, LocalInit};

fn main() -> std::process::ExitCode {
    multiprocess::logging::init::<&str>(&[]);
    if !multiprocess::is_child() {
        eprintln!("coin-echo serves the process that spawns it (the echoipc RPC); it is not run by hand");
        return std::process::ExitCode::FAILURE;
    }
    match multiprocess::serve_process::<dyn Init>(Box::new(LocalInit)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("coin-echo: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
