//! coin: a miniature Bitcoin Core built on multiprocess (COIN.md is its
//! outside contract).
//!
//! - [`node`]: the chain in SQLite, validation, mining, notifications; the
//!   [`Node`](interfaces::Node) and [`Chain`](interfaces::Chain) it serves.
//! - [`wallet`]: ed25519 keys and the wallet's transactions in SQLite; it
//!   sees the node only as a `Chain`.
//! - [`wallets`]: the node's side of its wallets, in its process (`coind`)
//!   or in a `coin-wallet` child (`coin-node`).
//! - [`rpc`]: JSON-RPC over HTTP with cookie authentication.
//! - [`attach`]: `coin-wallet --ipcconnect`, a wallet attached to a node.
//! - [`ipc`]: attaching and detaching (`--ipcbind`, `--ipcconnect`).
//! - [`daemon`]: the `main` that `coind` and `coin-node` share.
//! - [`gui`]: the terminal GUI of `coin-tui` and `coin-gui`.
//! - [`subscribers`]: subscriber lists whose handlers unsubscribe on drop.
//!
//! ```no_run
//! // All of `coind`:
//! fn main() -> std::process::ExitCode {
//!     coin::daemon::main(coin::daemon::WalletMode::InProcess)
//! }
//! ```

pub mod args;
pub mod attach;
pub mod daemon;
pub mod gui;
pub mod ipc;
pub mod node;
pub mod rpc;
pub mod subscribers;
pub mod wallet;
pub mod wallets;

/// Sends this process's standard error to `path` (appending), so that log
/// lines do not land on a terminal GUI's screen.
pub fn log_to_file(path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 of two descriptors this process owns; `file` stays
        // open until the call returns, and descriptor 2 then refers to it.
        if unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Ends a program: on an error, prints it as bitcoind does (`Error: ...`)
/// and exits with status 1.
pub fn exit(outcome: Result<(), String>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Prepares a GUI's data directory, with log lines going to `debug.log`
/// there rather than to the screen, and installs the log subscriber.
pub fn gui_datadir(options: &args::Options) -> Result<std::path::PathBuf, String> {
    let datadir = options.datadir();
    std::fs::create_dir_all(&datadir).map_err(|error| format!("cannot create {}: {error}", datadir.display()))?;
    log_to_file(&datadir.join("debug.log")).map_err(|error| format!("cannot open debug.log: {error}"))?;
    multiprocess::logging::init(&options.debug);
    Ok(datadir)
}
