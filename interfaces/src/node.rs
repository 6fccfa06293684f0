//! `Node`: what the RPC server and the GUI need of a node (Bitcoin Core's
//! `interfaces::Node`).

use std::fmt;
use std::sync::Arc;

use multiprocess::{Deserialize, Serialize, ipc_interface};

use crate::primitives::{Address, Block, BlockRef, Hash256, Transaction};
use crate::{ChainNotifications, Handler, WalletLoader};

/// Why a [`Node`] call failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum NodeError {
    /// A transaction broke a rule (bitcoind's code -26).
    Rejected(String),
    /// A transaction is already in a block (bitcoind's code -27).
    AlreadyInChain(String),
    /// A parameter is out of range.
    InvalidParameter(String),
    /// No wallet process: the node has none, or it is being restarted.
    WalletUnavailable(String),
    /// Something else went wrong in the node (storage, a child process).
    Failed(String),
    /// The node could not be reached.
    Unavailable(String),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Rejected(why) => write!(f, "transaction rejected: {why}"),
            NodeError::AlreadyInChain(why) => write!(f, "transaction already in block chain: {why}"),
            NodeError::InvalidParameter(why) => write!(f, "invalid parameter: {why}"),
            NodeError::WalletUnavailable(why) => write!(f, "wallet unavailable: {why}"),
            NodeError::Failed(why) => f.write_str(why),
            NodeError::Unavailable(why) => write!(f, "node unavailable: {why}"),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<multiprocess::Error> for NodeError {
    fn from(error: multiprocess::Error) -> NodeError {
        NodeError::Unavailable(error.to_string())
    }
}

/// A node: its chain and mempool, mining, the way to its wallets, and
/// shutdown. The same trait whether the node is this process or another.
///
/// ```no_run
/// use interfaces::{Init, Node};
///
/// // A GUI attached to a node that serves `Init` on its socket:
/// let init = multiprocess::connect::<dyn Init>("unix:run/node/node.sock")?;
/// let node: Box<dyn Node> = init.make_node().expect("a node serves Node");
/// println!("height {}", node.tip().unwrap().height);
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[ipc_interface(name = "Node")]
pub trait Node: Send + Sync {
    /// The best block.
    fn tip(&self) -> Result<BlockRef, NodeError>;
    /// The hash of the block at `height` of the best chain.
    fn block_hash(&self, height: u32) -> Result<Option<Hash256>, NodeError>;
    /// The block with this hash, with its height.
    fn block(&self, hash: Hash256) -> Result<Option<Block>, NodeError>;
    /// Mines `blocks` blocks paying `address`, each confirming the whole
    /// mempool; their hashes.
    fn generate_to_address(&self, blocks: u32, address: Address) -> Result<Vec<Hash256>, NodeError>;
    /// How many transactions wait in the mempool.
    fn mempool_size(&self) -> Result<u64, NodeError>;
    /// Validates `tx` and adds it to the mempool.
    fn send_raw_transaction(&self, tx: Transaction) -> Result<Hash256, NodeError>;
    /// Seconds since the node started.
    fn uptime(&self) -> Result<u64, NodeError>;
    /// Sends `message` through a freshly spawned `coin-echo` process and
    /// returns what came back.
    fn echo_ipc(&self, message: String) -> Result<String, NodeError>;
    /// The node's wallets. In a split node they live in the wallet process,
    /// and calls fail with [`WalletError::Unavailable`](crate::WalletError)
    /// while it restarts.
    fn wallet_loader(&self) -> Result<Box<dyn WalletLoader>, NodeError>;
    /// Subscribes `notifications` to the chain until the handler is dropped.
    fn handle_notifications(&self, notifications: Arc<dyn ChainNotifications>) -> Result<Box<dyn Handler>, NodeError>;
    /// Asks the node to stop, as the `stop` RPC does; returns at once.
    fn shutdown(&self) -> Result<(), NodeError>;
}
