//! The interfaces of coin, the demo system: what a node, a wallet, a GUI and
//! a miner say to each other, written as ordinary traits (Bitcoin Core's
//! `src/interfaces/`). `#[ipc_interface]` makes each one callable across
//! processes, so `coind` calls its wallets directly and `coin-node` calls the
//! same traits on proxies into `coin-wallet`.
//!
//! - [`Init`]: what a process serves first; it makes the rest.
//! - [`Node`]: chain, mempool, mining and shutdown, for RPC and the GUI.
//! - [`Chain`] and [`ChainNotifications`]: what a wallet needs of the node,
//!   and what the node tells it.
//! - [`WalletLoader`] and [`Wallet`]: wallets, for RPC and the GUI.
//! - [`Mining`] and [`BlockTemplate`]: block templates for an external miner.
//! - [`Handler`]: a subscription; dropping it unsubscribes.
//! - [`Echo`], and [`Calculator`], which exercises every value family (the
//!   library's own tests use it).
//!
//! The data they carry is in [`primitives`]. Each trait names itself on the
//! wire (`#[ipc_interface(name = "Wallet")]`), so moving it to another module
//! changes nothing a peer sees.
//!
//! ```
//! use interfaces::{Echo, LocalEcho};
//!
//! let echo: Box<dyn Echo> = multiprocess::pair::<dyn Echo>(Box::new(LocalEcho))?;
//! assert_eq!(echo.echo("hello".into()), "hello");
//! # Ok::<(), multiprocess::Error>(())
//! ```

mod calculator;
mod chain;
mod echo;
mod handler;
mod init;
mod mining;
mod node;
pub mod primitives;
mod wallet;

pub use calculator::{CalcError, Calculator, LocalCalculator, Point, Shape};
pub use chain::{Chain, ChainError, ChainNotifications};
pub use echo::{Echo, LocalEcho};
pub use handler::Handler;
pub use init::{Init, LocalInit};
pub use mining::{BlockTemplate, Mining};
pub use node::{Node, NodeError};
pub use wallet::{BalanceChanged, TxCategory, Wallet, WalletError, WalletInfo, WalletLoader, WalletTx};
