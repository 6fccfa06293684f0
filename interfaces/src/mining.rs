//! `Mining` and `BlockTemplate`: what an external miner needs of a node,
//! modelled on Bitcoin Core's IPC mining interface (v30), which Stratum v2
//! template providers use.

use std::time::Duration;

use multiprocess::ipc_interface;

use crate::primitives::{Address, BlockHeader};

/// Makes block templates.
///
/// ```no_run
/// use interfaces::{Init, Mining};
/// use interfaces::primitives::{Address, meets_target};
///
/// let init = multiprocess::connect::<dyn Init>("unix:run/node/node.sock")?;
/// let mining = init.make_mining().expect("a node mines");
/// let template = mining.create_new_block(Address([7; 32]));
/// let mut header = template.get_header();
/// while !meets_target(&header.hash()) {
///     header.nonce += 1;
/// }
/// assert!(template.submit_solution(header.nonce), "accepted unless the tip moved");
/// # Ok::<(), multiprocess::Error>(())
/// ```
#[ipc_interface(name = "Mining")]
pub trait Mining: Send + Sync {
    /// A template for the next block on the tip, paying the subsidy and the
    /// fees to `address`, with the whole mempool.
    fn create_new_block(&self, address: Address) -> Box<dyn BlockTemplate>;
}

/// One candidate block.
#[ipc_interface(name = "BlockTemplate")]
pub trait BlockTemplate: Send + Sync {
    /// The header to solve: vary its `nonce` until its hash
    /// [meets the target](crate::primitives::meets_target).
    fn get_header(&self) -> BlockHeader;
    /// Submits the block with this `nonce`; whether the node took it as its
    /// new tip (not if the hash misses the target or the tip has moved).
    fn submit_solution(&self, nonce: u64) -> bool;
    /// Waits, for at most `timeout`, until the tip or the mempool changes,
    /// and returns a template for the new state; `None` on timeout or
    /// [`interrupt_wait`](BlockTemplate::interrupt_wait).
    fn wait_next(&self, timeout: Duration) -> Option<Box<dyn BlockTemplate>>;
    /// Ends a [`wait_next`](BlockTemplate::wait_next) under way on another
    /// thread.
    fn interrupt_wait(&self);
}
