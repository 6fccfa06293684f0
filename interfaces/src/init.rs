//! `Init`: the object a process serves first, from which a peer makes the
//! others (Bitcoin Core's `interfaces::Init`). A process offers what it has
//! and answers `None` for the rest.

use multiprocess::ipc_interface;

use crate::{Chain, Echo, LocalEcho, Mining, Node, WalletLoader};

/// The bootstrap interface of every coin process.
///
/// ```
/// use interfaces::{Init, LocalInit};
///
/// let init = multiprocess::pair::<dyn Init>(Box::new(LocalInit))?;
/// assert_eq!(init.make_echo().echo("hi".into()), "hi");
/// assert!(init.make_node().is_none(), "an echo process has no node");
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[ipc_interface(name = "Init")]
pub trait Init: Send + Sync {
    /// A new echo object; every process has one.
    fn make_echo(&self) -> Box<dyn Echo>;
    /// The node, in a node process.
    fn make_node(&self) -> Option<Box<dyn Node>> {
        None
    }
    /// The chain, for a wallet attaching to a node.
    fn make_chain(&self) -> Option<Box<dyn Chain>> {
        None
    }
    /// Block templates, in a node process, for an external miner.
    fn make_mining(&self) -> Option<Box<dyn Mining>> {
        None
    }
    /// A wallet loader working on `chain`, in a wallet process.
    fn make_wallet_loader(&self, chain: Box<dyn Chain>) -> Option<Box<dyn WalletLoader>> {
        drop(chain);
        None
    }
}

/// An [`Init`] that offers only [`Echo`]: what `coin-echo` and the echo
/// examples serve.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalInit;

impl Init for LocalInit {
    fn make_echo(&self) -> Box<dyn Echo> {
        Box::new(LocalEcho)
    }
}
