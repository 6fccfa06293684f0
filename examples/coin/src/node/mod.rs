//! The node: the chain state, the notifier, and the two faces it shows,
//! [`Node`] (for RPC and the GUI) and [`Chain`] (for wallets).

mod chainstate;
mod mining;
mod notifier;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use interfaces::primitives::{Address, Block, BlockRef, Hash256, OutPoint, Transaction, TxOut};
use interfaces::{Chain, ChainError, ChainNotifications, Handler, Init, Node, NodeError, WalletLoader};

pub use chainstate::{ChainState, Event};
pub use mining::LocalMining;
pub use notifier::Notifier;

use crate::wallets::SharedLoader;

/// How long an RPC waits for the notifier to catch up before it answers.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// The most blocks one `generatetoaddress` mines.
pub const MAX_GENERATE: u32 = 10_000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Seconds since the Unix epoch.
fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

/// A request to stop the process, from `stop`, [`Node::shutdown`] or a
/// signal, which the daemon's main thread waits for.
#[derive(Debug, Default)]
pub struct Shutdown {
    requested: Mutex<bool>,
    changed: Condvar,
}

impl Shutdown {
    /// Asks the process to stop.
    pub fn request(&self) {
        *lock(&self.requested) = true;
        self.changed.notify_all();
    }

    /// Whether stopping was asked.
    pub fn is_requested(&self) -> bool {
        *lock(&self.requested)
    }

    /// Waits until stopping is asked.
    pub fn wait(&self) {
        let mut requested = lock(&self.requested);
        while !*requested {
            requested = self.changed.wait(requested).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Everything the node is: shared by its [`Node`] and [`Chain`] objects.
pub struct NodeContext {
    state: Mutex<ChainState>,
    notifier: Notifier,
    started: Instant,
    /// Where `coin-echo` and `coin-wallet` are: beside this executable.
    bin_dir: PathBuf,
    /// Weak: the wallets hold the node (their chain), not the other way.
    wallets: OnceLock<Weak<dyn WalletLoader>>,
    /// Counts changes of the tip or the mempool, for block templates.
    version: Mutex<u64>,
    /// Signalled when `version` moves.
    changed: Condvar,
    /// Stopping the process.
    pub shutdown: Arc<Shutdown>,
}

impl std::fmt::Debug for NodeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeContext").field("state", &*lock(&self.state)).finish_non_exhaustive()
    }
}

impl NodeContext {
    /// Opens the chain in `datadir` and starts the notifier.
    pub fn open(datadir: &Path, shutdown: Arc<Shutdown>) -> Result<Arc<NodeContext>, NodeError> {
        let state = ChainState::open(datadir)?;
        let notifier =
            Notifier::start().map_err(|error| NodeError::Failed(format!("cannot start a thread: {error}")))?;
        let bin_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Arc::new(NodeContext {
            state: Mutex::new(state),
            notifier,
            started: Instant::now(),
            bin_dir,
            wallets: OnceLock::new(),
            version: Mutex::new(0),
            changed: Condvar::new(),
            shutdown,
        }))
    }

    /// Sets where the node's wallets are (once, at startup).
    pub fn set_wallets(&self, wallets: &Arc<dyn WalletLoader>) {
        let _ = self.wallets.set(Arc::downgrade(wallets));
    }

    /// A program beside this executable.
    pub fn sibling(&self, name: &str) -> PathBuf {
        self.bin_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
    }

    /// Runs `change` on the chain state and queues the events it produced
    /// while the lock is still held, so that they are delivered in order.
    fn change<R>(&self, change: impl FnOnce(&mut ChainState, &mut Vec<Event>) -> R) -> R {
        let mut state = lock(&self.state);
        let mut events = Vec::new();
        let result = change(&mut state, &mut events);
        if !events.is_empty() {
            *lock(&self.version) += 1;
            self.changed.notify_all();
        }
        self.notifier.push(events);
        result
    }

    /// A block template paying `address`, and the state version it is of.
    pub fn template(&self, address: Address) -> (Block, u64) {
        let state = lock(&self.state);
        let version = *lock(&self.version);
        (state.template(address, now()), version)
    }

    /// Takes a solved block as the new tip, if it still fits.
    pub fn submit(&self, block: Block) -> Result<bool, NodeError> {
        self.change(|state, events| state.submit(block, events))
    }

    /// Waits until every subscriber has seen what happened so far.
    pub fn sync_notifications(&self) {
        if !self.notifier.wait_delivered(SYNC_TIMEOUT) {
            tracing::warn!(target: "coin", "notifications are still being delivered after {SYNC_TIMEOUT:?}");
        }
    }

    /// The best block.
    pub fn tip(&self) -> BlockRef {
        lock(&self.state).tip()
    }

    /// Mines `blocks` blocks to `address`.
    pub fn generate(&self, blocks: u32, address: Address) -> Result<Vec<Hash256>, NodeError> {
        if blocks > MAX_GENERATE {
            return Err(NodeError::InvalidParameter(format!("at most {MAX_GENERATE} blocks at once")));
        }
        let mut hashes = Vec::with_capacity(blocks as usize);
        for _ in 0..blocks {
            hashes.push(self.change(|state, events| state.mine(address, now(), events))?);
        }
        Ok(hashes)
    }

    /// Validates `tx` and adds it to the mempool.
    pub fn accept(&self, tx: Transaction) -> Result<Hash256, NodeError> {
        self.change(|state, events| state.accept(tx, events))
    }

    /// Stops delivering notifications (at shutdown, after the wallets went).
    pub fn stop_notifier(&self) {
        self.notifier.stop();
    }
}

/// The [`Node`] of this process.
#[derive(Debug, Clone)]
pub struct LocalNode(pub Arc<NodeContext>);

impl Node for LocalNode {
    fn tip(&self) -> Result<BlockRef, NodeError> {
        Ok(self.0.tip())
    }

    fn block_hash(&self, height: u32) -> Result<Option<Hash256>, NodeError> {
        Ok(lock(&self.0.state).hash_at(height))
    }

    fn block(&self, hash: Hash256) -> Result<Option<Block>, NodeError> {
        lock(&self.0.state).block(&hash)
    }

    fn generate_to_address(&self, blocks: u32, address: Address) -> Result<Vec<Hash256>, NodeError> {
        self.0.generate(blocks, address)
    }

    fn mempool_size(&self) -> Result<u64, NodeError> {
        Ok(lock(&self.0.state).mempool_size() as u64)
    }

    fn send_raw_transaction(&self, tx: Transaction) -> Result<Hash256, NodeError> {
        self.0.accept(tx)
    }

    fn uptime(&self) -> Result<u64, NodeError> {
        Ok(self.0.started.elapsed().as_secs())
    }

    fn echo_ipc(&self, message: String) -> Result<String, NodeError> {
        let program = self.0.sibling("coin-echo");
        let failed =
            |error: multiprocess::Error| NodeError::Failed(format!("echoipc through {}: {error}", program.display()));
        let mut child = multiprocess::spawn_process::<dyn Init>(Command::new(&program)).map_err(failed)?;
        let echoed = child.remote().make_echo().echo(message);
        child.set_exit_timeout(Duration::from_secs(2));
        child.shutdown().map_err(failed)?;
        Ok(echoed)
    }

    fn wallet_loader(&self) -> Result<Box<dyn WalletLoader>, NodeError> {
        match self.0.wallets.get().and_then(Weak::upgrade) {
            Some(wallets) => Ok(Box::new(SharedLoader(wallets))),
            None => Err(NodeError::WalletUnavailable("this node has no wallets".into())),
        }
    }

    fn handle_notifications(&self, notifications: Arc<dyn ChainNotifications>) -> Result<Box<dyn Handler>, NodeError> {
        Ok(self.0.notifier.subscribe(notifications))
    }

    fn shutdown(&self) -> Result<(), NodeError> {
        self.0.shutdown.request();
        Ok(())
    }
}

/// The [`Chain`] the node gives its wallets.
#[derive(Debug, Clone)]
pub struct LocalChain(pub Arc<NodeContext>);

fn unavailable(error: NodeError) -> ChainError {
    ChainError::Unavailable(error.to_string())
}

impl Chain for LocalChain {
    fn tip(&self) -> Result<BlockRef, ChainError> {
        Ok(self.0.tip())
    }

    fn block_at(&self, height: u32) -> Result<Option<Block>, ChainError> {
        lock(&self.0.state).block_at(height).map_err(unavailable)
    }

    fn unspent(&self, outpoints: Vec<OutPoint>) -> Result<Vec<Option<TxOut>>, ChainError> {
        Ok(lock(&self.0.state).unspent(&outpoints))
    }

    fn mempool(&self) -> Result<Vec<Transaction>, ChainError> {
        Ok(lock(&self.0.state).mempool())
    }

    fn broadcast(&self, tx: Transaction) -> Result<Hash256, ChainError> {
        self.0.accept(tx).map_err(|error| match error {
            NodeError::Rejected(why) => ChainError::Rejected(why),
            NodeError::AlreadyInChain(txid) => ChainError::Rejected(format!("already in the chain: {txid}")),
            other => ChainError::Unavailable(other.to_string()),
        })
    }

    fn wait_for_notifications(&self) -> Result<(), ChainError> {
        self.0.sync_notifications();
        Ok(())
    }

    fn handle_notifications(&self, notifications: Arc<dyn ChainNotifications>) -> Box<dyn Handler> {
        self.0.notifier.subscribe(notifications)
    }
}
