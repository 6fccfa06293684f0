//! The node's chain: blocks, the UTXO set and the mempool, kept in SQLite
//! (`DIR/chainstate.sqlite`) and mirrored in memory. Every change is one
//! SQLite transaction, so a `kill -9` between two calls loses nothing either
//! of them acknowledged.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use ed25519_dalek::{Signature, VerifyingKey};
use interfaces::NodeError;
use interfaces::primitives::{
    Address, Amount, Block, BlockHeader, BlockRef, FEE, Hash256, OutPoint, SUBSIDY, Transaction, TxOut, meets_target,
    merkle_root,
};
use rusqlite::{Connection, OptionalExtension, params};

/// What changed, for the notifier, in the order it happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// A block became the tip.
    BlockConnected(Block),
    /// A transaction entered the mempool.
    TransactionAdded(Transaction),
    /// A transaction left the mempool.
    TransactionRemoved(Hash256),
}

/// The chain, the UTXO set and the mempool.
pub struct ChainState {
    db: Connection,
    /// Block hashes by height.
    hashes: Vec<Hash256>,
    tip_time: u64,
    utxos: HashMap<OutPoint, TxOut>,
    /// Transaction ids in blocks, to tell a repeated transaction.
    confirmed: HashSet<Hash256>,
    /// The mempool in arrival order: a transaction may spend an earlier one.
    mempool: Vec<(Hash256, Transaction)>,
    /// Outputs the mempool spends, and by which transaction.
    mempool_spends: HashMap<OutPoint, Hash256>,
}

impl std::fmt::Debug for ChainState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainState").field("height", &self.tip().height).field("mempool", &self.mempool.len()).finish()
    }
}

fn storage(error: rusqlite::Error) -> NodeError {
    NodeError::Failed(format!("chainstate storage: {error}"))
}

fn hash_of(bytes: Vec<u8>) -> Result<Hash256, NodeError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| NodeError::Failed("chainstate storage: a bad hash".into()))?;
    Ok(Hash256(array))
}

impl ChainState {
    /// Opens (or creates, with the genesis block) the chainstate in `dir`.
    pub fn open(dir: &Path) -> Result<ChainState, NodeError> {
        let db = Connection::open(dir.join("chainstate.sqlite")).map_err(storage)?;
        // WAL with NORMAL: a commit survives the process being killed (the
        // OS has the pages); only a power cut could lose the last commits.
        db.pragma_update(None, "journal_mode", "WAL").map_err(storage)?;
        db.pragma_update(None, "synchronous", "NORMAL").map_err(storage)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, data BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS utxos (txid BLOB NOT NULL, vout INTEGER NOT NULL, address BLOB NOT NULL,
                                               amount INTEGER NOT NULL, PRIMARY KEY (txid, vout));
             CREATE TABLE IF NOT EXISTS txindex (txid BLOB PRIMARY KEY, height INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS mempool (seq INTEGER PRIMARY KEY AUTOINCREMENT, txid BLOB NOT NULL UNIQUE,
                                                 data BLOB NOT NULL);",
        )
        .map_err(storage)?;
        let mut state = ChainState {
            db,
            hashes: Vec::new(),
            tip_time: 0,
            utxos: HashMap::new(),
            confirmed: HashSet::new(),
            mempool: Vec::new(),
            mempool_spends: HashMap::new(),
        };
        state.load()?;
        if state.hashes.is_empty() {
            state.connect(Block::genesis())?;
        }
        Ok(state)
    }

    fn load(&mut self) -> Result<(), NodeError> {
        let mut hashes = Vec::new();
        {
            let mut blocks = self.db.prepare("SELECT height, hash FROM blocks ORDER BY height").map_err(storage)?;
            let rows =
                blocks.query_map([], |row| Ok((row.get::<_, u32>(0)?, row.get::<_, Vec<u8>>(1)?))).map_err(storage)?;
            for row in rows {
                let (height, hash) = row.map_err(storage)?;
                if height as usize != hashes.len() {
                    return Err(NodeError::Failed(format!("chainstate storage: block {height} out of order")));
                }
                hashes.push(hash_of(hash)?);
            }
        }
        self.hashes = hashes;
        if let Some(tip) = self.hashes.len().checked_sub(1) {
            self.tip_time = self.block_at(tip as u32)?.map_or(0, |block| block.header.time);
        }
        let mut utxos = HashMap::new();
        {
            let mut rows = self.db.prepare("SELECT txid, vout, address, amount FROM utxos").map_err(storage)?;
            let rows = rows
                .query_map([], |row| {
                    Ok((
                        row.get::<_, Vec<u8>>(0)?,
                        row.get::<_, u32>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })
                .map_err(storage)?;
            for row in rows {
                let (txid, vout, address, amount) = row.map_err(storage)?;
                let address = Address(hash_of(address)?.0);
                utxos.insert(OutPoint { txid: hash_of(txid)?, vout }, TxOut { address, amount: amount as Amount });
            }
        }
        self.utxos = utxos;
        let mut confirmed = HashSet::new();
        {
            let mut rows = self.db.prepare("SELECT txid FROM txindex").map_err(storage)?;
            for row in rows.query_map([], |row| row.get::<_, Vec<u8>>(0)).map_err(storage)? {
                confirmed.insert(hash_of(row.map_err(storage)?)?);
            }
        }
        self.confirmed = confirmed;
        let mut pending = Vec::new();
        {
            let mut rows = self.db.prepare("SELECT data FROM mempool ORDER BY seq").map_err(storage)?;
            for row in rows.query_map([], |row| row.get::<_, Vec<u8>>(0)).map_err(storage)? {
                let tx = Transaction::decode(&row.map_err(storage)?)
                    .map_err(|error| NodeError::Failed(format!("chainstate storage: {error}")))?;
                pending.push(tx);
            }
        }
        for tx in pending {
            let txid = tx.txid();
            for input in &tx.inputs {
                self.mempool_spends.insert(input.prevout, txid);
            }
            self.mempool.push((txid, tx));
        }
        Ok(())
    }

    /// The best block.
    pub fn tip(&self) -> BlockRef {
        let height = self.hashes.len().saturating_sub(1);
        BlockRef { height: height as u32, hash: self.hashes.get(height).copied().unwrap_or_default() }
    }

    /// The hash at `height`.
    pub fn hash_at(&self, height: u32) -> Option<Hash256> {
        self.hashes.get(height as usize).copied()
    }

    /// The block at `height`, read from storage.
    pub fn block_at(&self, height: u32) -> Result<Option<Block>, NodeError> {
        let data: Option<Vec<u8>> = self
            .db
            .query_row("SELECT data FROM blocks WHERE height = ?1", params![height], |row| row.get(0))
            .optional()
            .map_err(storage)?;
        data.map(|bytes| {
            Block::decode(&bytes).map_err(|error| NodeError::Failed(format!("chainstate storage: {error}")))
        })
        .transpose()
    }

    /// The block with `hash`.
    pub fn block(&self, hash: &Hash256) -> Result<Option<Block>, NodeError> {
        let height: Option<u32> = self
            .db
            .query_row("SELECT height FROM blocks WHERE hash = ?1", params![&hash.0[..]], |row| row.get(0))
            .optional()
            .map_err(storage)?;
        match height {
            Some(height) => self.block_at(height),
            None => Ok(None),
        }
    }

    /// Each outpoint's output, if unspent in the chain.
    pub fn unspent(&self, outpoints: &[OutPoint]) -> Vec<Option<TxOut>> {
        outpoints.iter().map(|outpoint| self.utxos.get(outpoint).copied()).collect()
    }

    /// The mempool, oldest first.
    pub fn mempool(&self) -> Vec<Transaction> {
        self.mempool.iter().map(|(_, tx)| tx.clone()).collect()
    }

    /// How many transactions wait.
    pub fn mempool_size(&self) -> usize {
        self.mempool.len()
    }

    /// The output `outpoint` names, as the next block would see it: in the
    /// chain or created by the mempool, and not spent by the mempool.
    fn spendable(&self, outpoint: &OutPoint) -> Option<TxOut> {
        if let Some(output) = self.utxos.get(outpoint) {
            return Some(*output);
        }
        let (_, parent) = self.mempool.iter().find(|(txid, _)| *txid == outpoint.txid)?;
        parent.outputs.get(outpoint.vout as usize).copied()
    }

    /// Validates `tx` against the chain and the mempool and adds it; its id.
    /// A transaction already in the mempool is accepted again, unchanged.
    pub fn accept(&mut self, tx: Transaction, events: &mut Vec<Event>) -> Result<Hash256, NodeError> {
        let txid = tx.txid();
        if self.mempool.iter().any(|(id, _)| *id == txid) {
            return Ok(txid);
        }
        if self.confirmed.contains(&txid) {
            return Err(NodeError::AlreadyInChain(txid.to_hex()));
        }
        let fee = self.check(&tx)?;
        if fee < FEE {
            return Err(NodeError::Rejected(format!("min relay fee not met, {fee} < {FEE}")));
        }
        let data = tx.encode();
        self.db
            .execute("INSERT INTO mempool (txid, data) VALUES (?1, ?2)", params![&txid.0[..], data])
            .map_err(storage)?;
        for input in &tx.inputs {
            self.mempool_spends.insert(input.prevout, txid);
        }
        self.mempool.push((txid, tx.clone()));
        events.push(Event::TransactionAdded(tx));
        Ok(txid)
    }

    /// The fee of a valid spending transaction, or why it is invalid.
    fn check(&self, tx: &Transaction) -> Result<Amount, NodeError> {
        let reject = |why: &str| Err(NodeError::Rejected(why.to_owned()));
        if tx.is_coinbase() {
            return reject("coinbase");
        }
        if tx.outputs.is_empty() {
            return reject("bad-txns-vout-empty");
        }
        if tx.lock_height != 0 {
            return reject("bad-txns-lock-height");
        }
        if tx.outputs.iter().any(|output| output.amount == 0) {
            return reject("bad-txns-vout-zero");
        }
        let Some(out) = tx.output_total() else { return reject("bad-txns-txouttotal-toolarge") };
        let sighash = tx.sighash();
        let mut seen = HashSet::new();
        let mut total_in: Amount = 0;
        for input in &tx.inputs {
            if !seen.insert(input.prevout) {
                return reject("bad-txns-inputs-duplicate");
            }
            if self.mempool_spends.contains_key(&input.prevout) {
                return reject("txn-mempool-conflict");
            }
            let Some(spent) = self.spendable(&input.prevout) else {
                return reject("bad-txns-inputs-missingorspent");
            };
            let Ok(key) = VerifyingKey::from_bytes(&spent.address.0) else { return reject("bad-txns-bad-key") };
            let Ok(signature) = Signature::from_slice(&input.signature) else {
                return reject("bad-txns-signature-size");
            };
            if key.verify_strict(&sighash.0, &signature).is_err() {
                return reject("bad-txns-signature");
            }
            let Some(sum) = total_in.checked_add(spent.amount) else {
                return reject("bad-txns-inputvalues-outofrange");
            };
            total_in = sum;
        }
        match total_in.checked_sub(out) {
            Some(fee) => Ok(fee),
            None => reject("bad-txns-in-belowout"),
        }
    }

    /// A block on the tip paying `address` the subsidy and the fees, with
    /// the whole mempool, and nonce 0: what a miner solves.
    pub fn template(&self, address: Address, now: u64) -> Block {
        let tip = self.tip();
        let mut fees: Amount = 0;
        for (_, tx) in &self.mempool {
            let inputs: Amount = tx.inputs.iter().filter_map(|input| self.spendable_in_block(&input.prevout)).sum();
            fees += inputs.saturating_sub(tx.output_total().unwrap_or(0));
        }
        let height = tip.height + 1;
        let mut transactions = vec![Transaction::coinbase(height, address, SUBSIDY + fees)];
        transactions.extend(self.mempool.iter().map(|(_, tx)| tx.clone()));
        let header = BlockHeader {
            height,
            prev: tip.hash,
            time: now.max(self.tip_time),
            merkle_root: merkle_root(&transactions),
            nonce: 0,
        };
        Block { header, transactions }
    }

    /// Takes a solved block made from a [`template`](Self::template) as the
    /// new tip; `false` if its hash misses the target or the tip has moved
    /// since (its transactions were checked when they entered the mempool,
    /// which only a new tip empties).
    pub fn submit(&mut self, block: Block, events: &mut Vec<Event>) -> Result<bool, NodeError> {
        let tip = self.tip();
        let hash = block.hash();
        if block.header.prev != tip.hash || block.header.height != tip.height + 1 || !meets_target(&hash) {
            return Ok(false);
        }
        if block.header.merkle_root != merkle_root(&block.transactions) {
            return Ok(false);
        }
        let ids: HashSet<Hash256> = block.transactions.iter().map(Transaction::txid).collect();
        for (txid, _) in &self.mempool {
            if ids.contains(txid) {
                events.push(Event::TransactionRemoved(*txid));
            }
        }
        self.connect(block.clone())?;
        events.push(Event::BlockConnected(block));
        Ok(true)
    }

    /// Mines one block on the tip paying `address`, with the whole mempool.
    pub fn mine(&mut self, address: Address, now: u64, events: &mut Vec<Event>) -> Result<Hash256, NodeError> {
        let mut block = self.template(address, now);
        while !meets_target(&block.header.hash()) {
            block.header.nonce += 1;
        }
        let hash = block.hash();
        self.submit(block, events)?;
        Ok(hash)
    }

    /// An output's amount as a block sees it: in the chain or made earlier
    /// in the mempool (which the block includes in order).
    fn spendable_in_block(&self, outpoint: &OutPoint) -> Option<Amount> {
        if let Some(output) = self.utxos.get(outpoint) {
            return Some(output.amount);
        }
        let (_, parent) = self.mempool.iter().find(|(txid, _)| *txid == outpoint.txid)?;
        parent.outputs.get(outpoint.vout as usize).map(|output| output.amount)
    }

    /// Stores `block` as the new tip and applies it to the UTXO set and the
    /// mempool, in one SQLite transaction. Its transactions were validated
    /// when they entered the mempool.
    fn connect(&mut self, block: Block) -> Result<(), NodeError> {
        let hash = block.hash();
        let height = block.header.height;
        let included: HashSet<Hash256> = block.transactions.iter().map(Transaction::txid).collect();
        let tx = self.db.transaction().map_err(storage)?;
        tx.execute(
            "INSERT INTO blocks (height, hash, data) VALUES (?1, ?2, ?3)",
            params![height, &hash.0[..], block.encode()],
        )
        .map_err(storage)?;
        let mut spent = Vec::new();
        let mut created = Vec::new();
        for transaction in &block.transactions {
            let txid = transaction.txid();
            for input in &transaction.inputs {
                tx.execute(
                    "DELETE FROM utxos WHERE txid = ?1 AND vout = ?2",
                    params![&input.prevout.txid.0[..], input.prevout.vout],
                )
                .map_err(storage)?;
                spent.push(input.prevout);
            }
            for (vout, output) in transaction.outputs.iter().enumerate() {
                tx.execute(
                    "INSERT OR REPLACE INTO utxos (txid, vout, address, amount) VALUES (?1, ?2, ?3, ?4)",
                    params![&txid.0[..], vout as u32, &output.address.0[..], output.amount as i64],
                )
                .map_err(storage)?;
                created.push((OutPoint { txid, vout: vout as u32 }, *output));
            }
            tx.execute("INSERT OR REPLACE INTO txindex (txid, height) VALUES (?1, ?2)", params![&txid.0[..], height])
                .map_err(storage)?;
            tx.execute("DELETE FROM mempool WHERE txid = ?1", params![&txid.0[..]]).map_err(storage)?;
        }
        tx.commit().map_err(storage)?;
        // Memory follows storage only once storage has the block.
        for (outpoint, output) in created {
            self.utxos.insert(outpoint, output);
        }
        for outpoint in spent {
            self.utxos.remove(&outpoint);
            self.mempool_spends.remove(&outpoint);
        }
        self.confirmed.extend(included.iter().copied());
        self.mempool.retain(|(txid, _)| !included.contains(txid));
        self.hashes.push(hash);
        self.tip_time = block.header.time;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use interfaces::primitives::TxIn;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("coin-chainstate-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn spend(key: &SigningKey, from: OutPoint, to: Address, amount: Amount) -> Transaction {
        let mut tx = Transaction {
            inputs: vec![TxIn { prevout: from, signature: Vec::new() }],
            outputs: vec![TxOut { address: to, amount }],
            lock_height: 0,
        };
        let signature = key.sign(&tx.sighash().0).to_bytes().to_vec();
        tx.inputs[0].signature = signature;
        tx
    }

    #[test]
    fn the_node_refuses_bad_signatures_double_spends_and_overspending_and_persists_the_rest() {
        let dir = temp_dir("rules");
        let key = SigningKey::from_bytes(&[5; 32]);
        let mine = Address(key.verifying_key().to_bytes());
        let other = Address([9; 32]);
        let mut events = Vec::new();
        let mut state = ChainState::open(&dir).unwrap();
        state.mine(mine, 1, &mut events).unwrap();
        let coinbase = state.block_at(1).unwrap().unwrap().transactions[0].txid();
        let coin = OutPoint { txid: coinbase, vout: 0 };

        let too_much = spend(&key, coin, other, SUBSIDY);
        assert!(matches!(state.accept(too_much, &mut events), Err(NodeError::Rejected(why)) if why.contains("fee")));
        let mut forged = spend(&key, coin, other, 1_000);
        forged.outputs[0].amount = 2_000;
        assert!(
            matches!(state.accept(forged, &mut events), Err(NodeError::Rejected(why)) if why == "bad-txns-signature")
        );
        let thief = SigningKey::from_bytes(&[6; 32]);
        assert!(matches!(state.accept(spend(&thief, coin, other, 1), &mut events), Err(NodeError::Rejected(_))));

        let pay = spend(&key, coin, other, SUBSIDY - FEE);
        let txid = state.accept(pay.clone(), &mut events).unwrap();
        assert_eq!(state.accept(pay.clone(), &mut events).unwrap(), txid, "accepting twice is harmless");
        let conflict = spend(&key, coin, mine, SUBSIDY - 2 * FEE);
        assert!(
            matches!(state.accept(conflict, &mut events), Err(NodeError::Rejected(why)) if why == "txn-mempool-conflict")
        );
        drop(state);

        let mut state = ChainState::open(&dir).unwrap();
        assert_eq!(state.mempool_size(), 1, "the mempool survives a restart");
        state.mine(mine, 2, &mut events).unwrap();
        assert_eq!(state.tip().height, 2);
        assert!(matches!(state.accept(pay, &mut events), Err(NodeError::AlreadyInChain(_))));
        let block = state.block_at(2).unwrap().unwrap();
        assert_eq!(block.transactions[0].outputs[0].amount, SUBSIDY + FEE, "the miner collects the fee");
        assert_eq!(state.unspent(&[coin]), vec![None]);
        drop(state);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
