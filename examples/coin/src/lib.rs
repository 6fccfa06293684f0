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
pub mod ipc;
pub mod node;
pub mod rpc;
pub mod wallet;
pub mod wallets;
