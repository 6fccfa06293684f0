//! The wallet: keys only it holds, the transactions that touch it, coin
//! selection and signing. It knows the node only as a [`Chain`], so the same
//! code runs inside `coind` and inside `coin-wallet`.

mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ed25519_dalek::{Signer, SigningKey};
use interfaces::primitives::{Address, Amount, Block, BlockRef, FEE, Hash256, OutPoint, Transaction, TxIn, TxOut};
use interfaces::{
    BalanceChanged, Chain, ChainError, ChainNotifications, Handler, TxCategory, Wallet, WalletError, WalletInfo,
    WalletLoader, WalletTx,
};

use store::{Record, Store, address_of};

use crate::subscribers::Subscribers;

/// A balance callback, as a wallet keeps it.
type Callback = Arc<dyn Fn() + Send + Sync>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn chain_failed(error: ChainError) -> WalletError {
    match error {
        ChainError::Rejected(why) => WalletError::Rejected(why),
        ChainError::Unavailable(why) => WalletError::Failed(format!("the node is unavailable: {why}")),
    }
}

/// Whether `name` may name a wallet: 1 to 64 letters, digits, `_`, `-`
/// and `.`, not starting with `.` (it becomes a directory name).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// An output the wallet owns.
#[derive(Debug, Clone, Copy)]
struct Coin {
    output: TxOut,
    confirmed: bool,
    /// Made by one of the wallet's own transactions (change).
    own: bool,
    spent: bool,
}

struct State {
    store: Store,
    keys: HashMap<Address, SigningKey>,
    records: Vec<Record>,
    index: HashMap<Hash256, usize>,
    coins: BTreeMap<OutPoint, Coin>,
    /// Inputs of sends being broadcast, which another send must not pick.
    reserved: HashSet<OutPoint>,
    synced: BlockRef,
}

impl State {
    fn is_mine(&self, tx: &Transaction) -> bool {
        tx.outputs.iter().any(|output| self.keys.contains_key(&output.address))
            || tx.inputs.iter().any(|input| self.coins.contains_key(&input.prevout))
    }

    /// Recomputes the coins from the records, which are in the order seen
    /// (a transaction after the ones it spends).
    fn rebuild_coins(&mut self) {
        let mut coins: BTreeMap<OutPoint, Coin> = BTreeMap::new();
        for record in &self.records {
            let mut own = false;
            for input in &record.tx.inputs {
                if let Some(coin) = coins.get_mut(&input.prevout) {
                    coin.spent = true;
                    own = true;
                }
            }
            for (vout, output) in record.tx.outputs.iter().enumerate() {
                if self.keys.contains_key(&output.address) {
                    let coin = Coin { output: *output, confirmed: record.height.is_some(), own, spent: false };
                    coins.insert(OutPoint { txid: record.txid, vout: vout as u32 }, coin);
                }
            }
        }
        self.coins = coins;
    }

    /// Adds `tx` if it touches the wallet, or moves it to `height`; whether
    /// anything changed. Not stored yet: see [`State::save`].
    fn apply(&mut self, tx: &Transaction, height: Option<u32>, changed: &mut Vec<Hash256>) -> bool {
        let txid = tx.txid();
        if let Some(&at) = self.index.get(&txid) {
            if self.records[at].height != height && height.is_some() {
                self.records[at].height = height;
                changed.push(txid);
                return true;
            }
            return false;
        }
        if !self.is_mine(tx) {
            return false;
        }
        self.index.insert(txid, self.records.len());
        self.records.push(Record { txid, tx: tx.clone(), height });
        // Later transactions of the same block may spend this one's outputs.
        self.rebuild_coins();
        changed.push(txid);
        true
    }

    fn save(&mut self, changed: &[Hash256], synced: Option<BlockRef>) -> Result<(), WalletError> {
        let records: Vec<&Record> =
            changed.iter().filter_map(|txid| self.index.get(txid)).map(|&at| &self.records[at]).collect();
        self.store.save(&records, synced)?;
        if let Some(synced) = synced {
            self.synced = synced;
        }
        self.rebuild_coins();
        Ok(())
    }

    /// Applies a connected block and stores the outcome; whether it touched
    /// the wallet.
    fn connect(&mut self, block: &Block) -> Result<bool, WalletError> {
        let mut changed = Vec::new();
        let mut touched = false;
        for tx in &block.transactions {
            touched |= self.apply(tx, Some(block.header.height), &mut changed);
        }
        self.save(&changed, Some(BlockRef { height: block.header.height, hash: block.hash() }))?;
        Ok(touched)
    }

    fn balance(&self) -> Amount {
        self.coins
            .values()
            .filter(|coin| !coin.spent && (coin.confirmed || coin.own))
            .map(|coin| coin.output.amount)
            .sum()
    }

    fn entry(&self, record: &Record) -> Option<WalletTx> {
        let confirmations = record.height.map_or(0, |height| self.synced.height.saturating_sub(height) + 1);
        let mine = |output: &TxOut| self.keys.contains_key(&output.address);
        let to_me: Amount = record.tx.outputs.iter().filter(|output| mine(output)).map(|output| output.amount).sum();
        if record.tx.is_coinbase() {
            return Some(WalletTx {
                txid: record.txid,
                category: TxCategory::Generate,
                amount: to_me as i64,
                fee: None,
                confirmations,
            });
        }
        let spent: Amount = record
            .tx
            .inputs
            .iter()
            .filter_map(|input| self.coins.get(&input.prevout))
            .map(|coin| coin.output.amount)
            .sum();
        if spent > 0 {
            let to_others: Amount =
                record.tx.outputs.iter().filter(|output| !mine(output)).map(|output| output.amount).sum();
            let fee = spent.saturating_sub(record.tx.output_total().unwrap_or(0));
            return Some(WalletTx {
                txid: record.txid,
                category: TxCategory::Send,
                amount: -(to_others as i64),
                fee: Some(-(fee as i64)),
                confirmations,
            });
        }
        (to_me > 0).then_some(WalletTx {
            txid: record.txid,
            category: TxCategory::Receive,
            amount: to_me as i64,
            fee: None,
            confirmations,
        })
    }
}

/// One loaded wallet.
pub struct LoadedWallet {
    name: String,
    chain: Arc<dyn Chain>,
    state: Mutex<State>,
    callbacks: Subscribers<Callback>,
    sandboxed: bool,
    /// The chain subscription; dropped when the wallet is unloaded.
    subscription: Mutex<Option<Box<dyn Handler>>>,
}

impl std::fmt::Debug for LoadedWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedWallet").field("name", &self.name).finish_non_exhaustive()
    }
}

impl LoadedWallet {
    /// Opens the wallet in `dir`, catches up with the chain and subscribes
    /// to its notifications.
    fn open(
        name: String,
        dir: PathBuf,
        create: bool,
        chain: Arc<dyn Chain>,
        sandboxed: bool,
    ) -> Result<Arc<LoadedWallet>, WalletError> {
        let store = Store::open(&dir, create)?;
        let contents = store.read()?;
        let genesis = Block::genesis();
        let mut state = State {
            store,
            keys: contents.keys.into_iter().map(|key| (address_of(&key), key)).collect(),
            index: contents.records.iter().enumerate().map(|(at, record)| (record.txid, at)).collect(),
            records: contents.records,
            coins: BTreeMap::new(),
            reserved: HashSet::new(),
            synced: contents.synced.unwrap_or(BlockRef { height: 0, hash: genesis.hash() }),
        };
        state.rebuild_coins();
        let wallet = Arc::new(LoadedWallet {
            name,
            chain,
            state: Mutex::new(state),
            callbacks: Subscribers::default(),
            sandboxed,
            subscription: Mutex::new(None),
        });
        // Subscribe before catching up, so that no block falls between the
        // two; a notification of a block already applied is skipped.
        let listener = Arc::new(Listener(Arc::downgrade(&wallet)));
        let subscription = wallet.chain.handle_notifications(listener);
        *lock(&wallet.subscription) = Some(subscription);
        wallet.catch_up()?;
        wallet.resubmit();
        Ok(wallet)
    }

    /// Applies the blocks after the last one seen, then the mempool.
    fn catch_up(&self) -> Result<(), WalletError> {
        let mut state = lock(&self.state);
        let tip = self.chain.tip().map_err(chain_failed)?;
        if self.chain.block_at(state.synced.height).map_err(chain_failed)?.map(|block| block.hash())
            != Some(state.synced.hash)
        {
            // The chain this wallet saw is not the node's (another data
            // directory's node): start again from the beginning.
            tracing::warn!(target: "coin", wallet = self.name, "the last block this wallet saw is not in the chain; rescanning");
            state.synced = BlockRef { height: 0, hash: Block::genesis().hash() };
            for record in &mut state.records {
                record.height = None;
            }
        }
        for height in state.synced.height + 1..=tip.height {
            let Some(block) = self.chain.block_at(height).map_err(chain_failed)? else { break };
            state.connect(&block)?;
        }
        let mut changed = Vec::new();
        for tx in self.chain.mempool().map_err(chain_failed)? {
            state.apply(&tx, None, &mut changed);
        }
        state.save(&changed, None)
    }

    /// Offers the node again the wallet's own transactions that no block has
    /// confirmed (bitcoind's `ResubmitWalletTransactions`): a node restarted
    /// from an older state may have lost them.
    fn resubmit(&self) {
        let pending: Vec<Transaction> = {
            let state = lock(&self.state);
            state
                .records
                .iter()
                .filter(|record| {
                    record.height.is_none()
                        && record.tx.inputs.iter().any(|input| state.coins.contains_key(&input.prevout))
                })
                .map(|record| record.tx.clone())
                .collect()
        };
        for tx in pending {
            if let Err(error) = self.chain.broadcast(tx) {
                tracing::info!(target: "coin", wallet = self.name, "resubmitting a transaction: {error}");
            }
        }
    }

    fn balance_changed(&self) {
        for (id, callback) in self.callbacks.snapshot() {
            // A subscriber whose process has just gone (its handler is
            // dropped with its connection, a moment later) makes the call
            // panic: unsubscribe it rather than lose this thread.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback())).is_err() {
                self.callbacks.remove(id);
            }
        }
    }

    fn new_address(&self) -> Result<Address, WalletError> {
        let mut state = lock(&self.state);
        let key = new_key()?;
        state.store.add_key(&key)?;
        let address = address_of(&key);
        state.keys.insert(address, key);
        Ok(address)
    }

    fn send(&self, to: Address, amount: Amount) -> Result<Hash256, WalletError> {
        if amount == 0 {
            return Err(WalletError::InvalidParameter("amount must be positive".into()));
        }
        let needed = amount.checked_add(FEE).ok_or(WalletError::InsufficientFunds)?;
        let tx = {
            let mut state = lock(&self.state);
            let mut candidates: Vec<(OutPoint, Coin)> = state
                .coins
                .iter()
                .filter(|(outpoint, coin)| {
                    !coin.spent && (coin.confirmed || coin.own) && !state.reserved.contains(outpoint)
                })
                .map(|(outpoint, coin)| (*outpoint, *coin))
                .collect();
            // Confirmed coins first, the largest first: few inputs.
            candidates
                .sort_by_key(|(_, coin)| (std::cmp::Reverse(coin.confirmed), std::cmp::Reverse(coin.output.amount)));
            let mut picked = Vec::new();
            let mut total: Amount = 0;
            for (outpoint, coin) in candidates {
                if total >= needed {
                    break;
                }
                total += coin.output.amount;
                picked.push((outpoint, coin));
            }
            if total < needed {
                return Err(WalletError::InsufficientFunds);
            }
            let mut outputs = vec![TxOut { address: to, amount }];
            let change = total - needed;
            if change > 0 {
                let key = new_key()?;
                state.store.add_key(&key)?;
                let address = address_of(&key);
                state.keys.insert(address, key);
                outputs.push(TxOut { address, amount: change });
            }
            let inputs =
                picked.iter().map(|(outpoint, _)| TxIn { prevout: *outpoint, signature: Vec::new() }).collect();
            let mut tx = Transaction { inputs, outputs, lock_height: 0 };
            let sighash = tx.sighash();
            for (input, (_, coin)) in tx.inputs.iter_mut().zip(&picked) {
                let key = &state.keys[&coin.output.address];
                input.signature = key.sign(&sighash.0).to_bytes().to_vec();
            }
            state.reserved.extend(picked.iter().map(|(outpoint, _)| *outpoint));
            tx
        };
        // Not under the lock: the node tells the wallet of the transaction
        // through a notification, which takes it.
        let outcome = self.chain.broadcast(tx.clone());
        let mut state = lock(&self.state);
        for input in &tx.inputs {
            state.reserved.remove(&input.prevout);
        }
        let txid = outcome.map_err(chain_failed)?;
        let mut changed = Vec::new();
        state.apply(&tx, None, &mut changed);
        state.save(&changed, None)?;
        drop(state);
        self.balance_changed();
        Ok(txid)
    }

    fn on_block(&self, block: &Block) -> Result<(), WalletError> {
        let touched = {
            let mut state = lock(&self.state);
            let height = block.header.height;
            if height <= state.synced.height {
                return Ok(());
            }
            // Blocks this wallet has not seen before this one (it was loaded
            // while they were queued).
            for missing in state.synced.height + 1..height {
                let Some(block) = self.chain.block_at(missing).map_err(chain_failed)? else { break };
                state.connect(&block)?;
            }
            state.connect(block)?
        };
        if touched {
            self.balance_changed();
        }
        Ok(())
    }

    fn on_transaction(&self, tx: &Transaction) -> Result<(), WalletError> {
        let touched = {
            let mut state = lock(&self.state);
            let mut changed = Vec::new();
            let touched = state.apply(tx, None, &mut changed);
            state.save(&changed, None)?;
            touched
        };
        if touched {
            self.balance_changed();
        }
        Ok(())
    }

    fn on_disconnected(&self, block: &Block) -> Result<(), WalletError> {
        let mut state = lock(&self.state);
        if state.synced.hash != block.hash() {
            return Ok(());
        }
        let mut changed = Vec::new();
        for record in &mut state.records {
            if record.height == Some(block.header.height) {
                record.height = None;
                changed.push(record.txid);
            }
        }
        let parent = BlockRef { height: block.header.height.saturating_sub(1), hash: block.header.prev };
        // `save` writes heights as they are now: `None` for these.
        state.save(&changed, Some(parent))
    }
}

fn new_key() -> Result<SigningKey, WalletError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|error| WalletError::Failed(format!("no randomness for a key: {error}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The wallet's subscription to the chain: a weak reference, so that the
/// node's hold on it does not keep an unloaded wallet alive.
struct Listener(Weak<LoadedWallet>);

fn notified(outcome: Result<(), WalletError>) -> Result<(), multiprocess::Error> {
    if let Err(error) = outcome {
        tracing::warn!(target: "coin", "a chain notification failed: {error}");
    }
    Ok(())
}

impl ChainNotifications for Listener {
    fn block_connected(&self, block: &Block) -> Result<(), multiprocess::Error> {
        self.0.upgrade().map_or(Ok(()), |wallet| notified(wallet.on_block(block)))
    }

    fn block_disconnected(&self, block: &Block) -> Result<(), multiprocess::Error> {
        self.0.upgrade().map_or(Ok(()), |wallet| notified(wallet.on_disconnected(block)))
    }

    fn transaction_added_to_mempool(&self, tx: &Transaction) -> Result<(), multiprocess::Error> {
        self.0.upgrade().map_or(Ok(()), |wallet| notified(wallet.on_transaction(tx)))
    }

    fn transaction_removed_from_mempool(&self, _txid: Hash256) -> Result<(), multiprocess::Error> {
        // A confirmed transaction gets its height from `block_connected`.
        Ok(())
    }
}

/// A handle to a loaded wallet, as [`WalletLoader`] hands them out: it fails
/// with `NotFound` once the wallet is unloaded.
#[derive(Debug, Clone)]
pub struct WalletHandle {
    name: String,
    wallet: Weak<LoadedWallet>,
}

impl WalletHandle {
    fn get(&self) -> Result<Arc<LoadedWallet>, WalletError> {
        self.wallet.upgrade().ok_or_else(|| WalletError::NotFound(self.name.clone()))
    }
}

impl Wallet for WalletHandle {
    fn name(&self) -> Result<String, WalletError> {
        Ok(self.get()?.name.clone())
    }

    fn new_address(&self) -> Result<Address, WalletError> {
        self.get()?.new_address()
    }

    fn balance(&self) -> Result<Amount, WalletError> {
        Ok(lock(&self.get()?.state).balance())
    }

    fn send(&self, address: Address, amount: Amount) -> Result<Hash256, WalletError> {
        self.get()?.send(address, amount)
    }

    fn transactions(&self, count: usize) -> Result<Vec<WalletTx>, WalletError> {
        let wallet = self.get()?;
        let state = lock(&wallet.state);
        let entries: Vec<WalletTx> = state.records.iter().filter_map(|record| state.entry(record)).collect();
        Ok(entries[entries.len().saturating_sub(count)..].to_vec())
    }

    fn info(&self) -> Result<WalletInfo, WalletError> {
        let wallet = self.get()?;
        let state = lock(&wallet.state);
        Ok(WalletInfo {
            name: wallet.name.clone(),
            balance: state.balance(),
            tx_count: state.records.len() as u64,
            sandboxed: wallet.sandboxed,
        })
    }

    fn handle_balance_changed(&self, callback: BalanceChanged) -> Box<dyn Handler> {
        // An unloaded wallet never calls: the handler has nothing to remove.
        let Ok(wallet) = self.get() else { return Subscribers::<Callback>::none() };
        wallet.callbacks.add(Arc::from(callback))
    }
}

/// The wallets of one directory (`DIR/wallets`), on one chain.
pub struct Wallets {
    dir: PathBuf,
    chain: Arc<dyn Chain>,
    loaded: Mutex<BTreeMap<String, Arc<LoadedWallet>>>,
    sandboxed: bool,
}

impl std::fmt::Debug for Wallets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallets").field("dir", &self.dir).field("loaded", &lock(&self.loaded).keys()).finish()
    }
}

impl Wallets {
    /// The wallets under `dir`, following `chain`; `sandboxed` says whether
    /// this process runs confined.
    pub fn new(dir: PathBuf, chain: Arc<dyn Chain>, sandboxed: bool) -> Wallets {
        Wallets { dir, chain, loaded: Mutex::new(BTreeMap::new()), sandboxed }
    }

    fn open(&self, name: String, create: bool) -> Result<Box<dyn Wallet>, WalletError> {
        if !valid_name(&name) {
            return Err(WalletError::InvalidParameter(format!("invalid wallet name: {name:.80}")));
        }
        let mut loaded = lock(&self.loaded);
        let dir = self.dir.join(&name);
        if create && Store::exists(&dir) {
            return Err(WalletError::AlreadyExists(name));
        }
        if loaded.contains_key(&name) {
            return Err(WalletError::AlreadyLoaded(name));
        }
        if !create && !Store::exists(&dir) {
            return Err(WalletError::NotFound(name));
        }
        let wallet = LoadedWallet::open(name.clone(), dir, create, self.chain.clone(), self.sandboxed)?;
        let handle = WalletHandle { name: name.clone(), wallet: Arc::downgrade(&wallet) };
        loaded.insert(name, wallet);
        Ok(Box::new(handle))
    }

    /// Unloads every wallet (at shutdown).
    pub fn unload_all(&self) {
        let all = std::mem::take(&mut *lock(&self.loaded));
        for wallet in all.values() {
            lock(&wallet.subscription).take();
        }
    }
}

impl WalletLoader for Wallets {
    fn create_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError> {
        self.open(name, true)
    }

    fn load_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError> {
        self.open(name, false)
    }

    fn unload_wallet(&self, name: String) -> Result<(), WalletError> {
        let wallet = lock(&self.loaded).remove(&name).ok_or(WalletError::NotFound(name))?;
        // Unsubscribe now: the node may hold the listener a while longer.
        lock(&wallet.subscription).take();
        Ok(())
    }

    fn list_wallets(&self) -> Result<Vec<String>, WalletError> {
        Ok(lock(&self.loaded).keys().cloned().collect())
    }

    fn get_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError> {
        let loaded = lock(&self.loaded);
        let wallet = loaded.get(&name).ok_or_else(|| WalletError::NotFound(name.clone()))?;
        Ok(Box::new(WalletHandle { name, wallet: Arc::downgrade(wallet) }))
    }
}
