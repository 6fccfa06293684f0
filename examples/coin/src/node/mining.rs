//! The node's [`Mining`]: block templates for an external miner, which
//! solves a header and submits its nonce, or waits for the next template.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use interfaces::primitives::{Address, Block, BlockHeader};
use interfaces::{BlockTemplate, Mining};

use super::NodeContext;

/// The longest a [`BlockTemplate::wait_next`] waits, whatever it asks.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// How often a waiting template looks whether its miner has gone.
const POLL: Duration = Duration::from_millis(100);

/// The [`Mining`] a node serves.
#[derive(Debug, Clone)]
pub struct LocalMining(pub Arc<NodeContext>);

impl Mining for LocalMining {
    fn create_new_block(&self, address: Address) -> Box<dyn BlockTemplate> {
        Box::new(Template::new(self.0.clone(), address))
    }
}

/// A template: the block, and the state of the node it was made from.
struct Template {
    node: Arc<NodeContext>,
    address: Address,
    block: Block,
    /// [`NodeContext::version`] when it was made.
    version: u64,
    interrupted: AtomicBool,
}

impl Template {
    fn new(node: Arc<NodeContext>, address: Address) -> Template {
        let (block, version) = node.template(address);
        Template { node, address, block, version, interrupted: AtomicBool::new(false) }
    }
}

impl BlockTemplate for Template {
    fn get_header(&self) -> BlockHeader {
        self.block.header
    }

    fn submit_solution(&self, nonce: u64) -> bool {
        let mut block = self.block.clone();
        block.header.nonce = nonce;
        match self.node.submit(block) {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(target: "coin", "a submitted block could not be stored: {error}");
                false
            }
        }
    }

    fn wait_next(&self, timeout: Duration) -> Option<Box<dyn BlockTemplate>> {
        let deadline = Instant::now() + timeout.min(MAX_WAIT);
        // A miner that goes away mid-wait must not leave this thread behind
        // for the rest of its timeout.
        let connection = multiprocess::current_connection();
        let changed = self.node.wait_change(self.version, || {
            self.interrupted.swap(false, Ordering::SeqCst)
                || Instant::now() >= deadline
                || connection.as_ref().is_some_and(multiprocess::Connection::is_closed)
        });
        changed.then(|| Box::new(Template::new(self.node.clone(), self.address)) as Box<dyn BlockTemplate>)
    }

    fn interrupt_wait(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.node.wake_waiters();
    }
}

impl NodeContext {
    /// Waits until the node's state moves past `version` (`true`) or `stop`
    /// says to give up (`false`), checking `stop` at least every 100 ms.
    fn wait_change(&self, version: u64, mut stop: impl FnMut() -> bool) -> bool {
        let mut current = super::lock(&self.version);
        loop {
            if *current != version {
                return true;
            }
            if stop() {
                return false;
            }
            current = self.changed.wait_timeout(current, POLL).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Wakes every [`wait_change`](Self::wait_change) to look again.
    fn wake_waiters(&self) {
        let _version = super::lock(&self.version);
        self.changed.notify_all();
    }
}
