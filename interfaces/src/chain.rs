//! `Chain`: what a wallet needs of the node (Bitcoin Core's
//! `interfaces::Chain`), and `ChainNotifications`, what the node tells its
//! subscribers.

use std::fmt;
use std::sync::Arc;

use multiprocess::{Deserialize, Serialize, ipc_interface};

use crate::Handler;
use crate::primitives::{Block, BlockRef, Hash256, OutPoint, Transaction, TxOut};

/// Why a [`Chain`] call failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum ChainError {
    /// The node refused a transaction, and says why.
    Rejected(String),
    /// The node could not be reached (it exited, or the connection broke).
    Unavailable(String),
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainError::Rejected(why) => write!(f, "transaction rejected: {why}"),
            ChainError::Unavailable(why) => write!(f, "node unavailable: {why}"),
        }
    }
}

impl std::error::Error for ChainError {}

impl From<multiprocess::Error> for ChainError {
    fn from(error: multiprocess::Error) -> ChainError {
        ChainError::Unavailable(error.to_string())
    }
}

/// The chain as a wallet sees it. Every method may fail with
/// [`ChainError::Unavailable`] when the node is in another process that has
/// gone.
///
/// ```
/// use std::sync::Arc;
/// use interfaces::{Chain, ChainError, ChainNotifications, Handler};
/// use interfaces::primitives::{Block, BlockRef, OutPoint, Transaction, TxOut, Hash256};
///
/// /// A chain with only the genesis block, which refuses everything.
/// struct Genesis;
/// impl Chain for Genesis {
///     fn tip(&self) -> Result<BlockRef, ChainError> {
///         Ok(BlockRef { height: 0, hash: Block::genesis().hash() })
///     }
///     fn block_at(&self, height: u32) -> Result<Option<Block>, ChainError> {
///         Ok((height == 0).then(Block::genesis))
///     }
///     fn unspent(&self, outpoints: Vec<OutPoint>) -> Result<Vec<Option<TxOut>>, ChainError> {
///         Ok(vec![None; outpoints.len()])
///     }
///     fn mempool(&self) -> Result<Vec<Transaction>, ChainError> {
///         Ok(Vec::new())
///     }
///     fn broadcast(&self, _tx: Transaction) -> Result<Hash256, ChainError> {
///         Err(ChainError::Rejected("no".into()))
///     }
///     fn wait_for_notifications(&self) -> Result<(), ChainError> {
///         Ok(())
///     }
///     fn handle_notifications(&self, _n: Arc<dyn ChainNotifications>) -> Box<dyn Handler> {
///         struct Nothing;
///         impl Handler for Nothing {
///             fn disconnect(&self) {}
///         }
///         Box::new(Nothing) // nothing ever happens on this chain
///     }
/// }
/// let chain = multiprocess::pair::<dyn Chain>(Box::new(Genesis))?;
/// assert_eq!(chain.tip().unwrap().height, 0);
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[ipc_interface(name = "Chain")]
pub trait Chain: Send + Sync {
    /// The best block.
    fn tip(&self) -> Result<BlockRef, ChainError>;
    /// The block at `height` of the best chain, if there is one.
    fn block_at(&self, height: u32) -> Result<Option<Block>, ChainError>;
    /// For each outpoint, the output if it is unspent in the best chain.
    fn unspent(&self, outpoints: Vec<OutPoint>) -> Result<Vec<Option<TxOut>>, ChainError>;
    /// The transactions waiting in the mempool, oldest first.
    fn mempool(&self) -> Result<Vec<Transaction>, ChainError>;
    /// Validates `tx` and adds it to the mempool; its id, or why not.
    /// A transaction already in the mempool is accepted again.
    fn broadcast(&self, tx: Transaction) -> Result<Hash256, ChainError>;
    /// Returns once every notification queued so far has been delivered
    /// (Bitcoin's `SyncWithValidationInterfaceQueue`): a wallet calls it
    /// before it answers, so that what it says includes the latest block.
    /// Never call it from a notification.
    fn wait_for_notifications(&self) -> Result<(), ChainError>;
    /// Subscribes `notifications` until the returned handler is dropped (or
    /// the subscriber's process goes). Notifications come in chain order
    /// from one thread of the node.
    fn handle_notifications(&self, notifications: Arc<dyn ChainNotifications>) -> Box<dyn Handler>;
}

/// What the node tells its subscribers, in order, from one thread. An
/// `Err` (the subscriber's process has gone) unsubscribes it.
///
/// ```
/// use interfaces::ChainNotifications;
/// use interfaces::primitives::{Block, Hash256, Transaction};
///
/// struct Count(std::sync::atomic::AtomicU32);
/// impl ChainNotifications for Count {
///     fn block_connected(&self, _block: &Block) -> Result<(), multiprocess::Error> {
///         self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
///         Ok(())
///     }
///     fn block_disconnected(&self, _block: &Block) -> Result<(), multiprocess::Error> { Ok(()) }
///     fn transaction_added_to_mempool(&self, _tx: &Transaction) -> Result<(), multiprocess::Error> { Ok(()) }
///     fn transaction_removed_from_mempool(&self, _txid: Hash256) -> Result<(), multiprocess::Error> { Ok(()) }
/// }
/// let count = Count(Default::default());
/// count.block_connected(&Block::genesis()).unwrap();
/// assert_eq!(count.0.into_inner(), 1);
/// ```
#[ipc_interface(name = "ChainNotifications")]
pub trait ChainNotifications: Send + Sync {
    /// `block` is the new tip.
    fn block_connected(&self, block: &Block) -> Result<(), multiprocess::Error>;
    /// `block`, the tip, was taken off the chain.
    fn block_disconnected(&self, block: &Block) -> Result<(), multiprocess::Error>;
    /// `tx` entered the mempool.
    fn transaction_added_to_mempool(&self, tx: &Transaction) -> Result<(), multiprocess::Error>;
    /// The transaction `txid` left the mempool (usually: a block confirmed it).
    fn transaction_removed_from_mempool(&self, txid: Hash256) -> Result<(), multiprocess::Error>;
}
