//! A wallet's file, `DIR/wallets/NAME/wallet.sqlite`: its keys, the
//! transactions that touch it, and the block it has seen last. Each change
//! is one SQLite transaction.

use std::path::Path;

use ed25519_dalek::SigningKey;
use interfaces::WalletError;
use interfaces::primitives::{Address, BlockRef, Hash256, Transaction};
use rusqlite::{Connection, OptionalExtension, params};

/// A transaction that touches the wallet, and where it is.
#[derive(Debug, Clone)]
pub struct Record {
    /// Its id.
    pub txid: Hash256,
    /// The transaction.
    pub tx: Transaction,
    /// The height of the block that confirmed it; `None` in the mempool.
    pub height: Option<u32>,
}

fn failed(error: rusqlite::Error) -> WalletError {
    WalletError::Failed(format!("wallet storage: {error}"))
}

fn array<const N: usize>(bytes: Vec<u8>) -> Result<[u8; N], WalletError> {
    bytes.try_into().map_err(|_| WalletError::Failed("wallet storage: a field has the wrong length".into()))
}

/// The open file.
#[derive(Debug)]
pub struct Store {
    db: Connection,
}

/// What a wallet file holds.
pub struct Contents {
    /// Every key, oldest first.
    pub keys: Vec<SigningKey>,
    /// Every transaction, in the order the wallet saw them.
    pub records: Vec<Record>,
    /// The last block the wallet has applied.
    pub synced: Option<BlockRef>,
}

impl Store {
    /// Whether a wallet file exists in `dir`.
    pub fn exists(dir: &Path) -> bool {
        dir.join("wallet.sqlite").is_file()
    }

    /// Opens the file in `dir`, creating it if `create`.
    pub fn open(dir: &Path, create: bool) -> Result<Store, WalletError> {
        if create {
            std::fs::create_dir_all(dir)
                .map_err(|error| WalletError::Failed(format!("cannot create {}: {error}", dir.display())))?;
        }
        let db = Connection::open(dir.join("wallet.sqlite")).map_err(failed)?;
        db.pragma_update(None, "journal_mode", "WAL").map_err(failed)?;
        db.pragma_update(None, "synchronous", "NORMAL").map_err(failed)?;
        // Temporary tables in memory: a confined wallet may write only in
        // its own directory, not in /tmp.
        db.pragma_update(None, "temp_store", "MEMORY").map_err(failed)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS keys (seq INTEGER PRIMARY KEY AUTOINCREMENT, secret BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS txs (seq INTEGER PRIMARY KEY AUTOINCREMENT, txid BLOB NOT NULL UNIQUE,
                                             data BLOB NOT NULL, height INTEGER);
             CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);",
        )
        .map_err(failed)?;
        Ok(Store { db })
    }

    /// Reads everything.
    pub fn read(&self) -> Result<Contents, WalletError> {
        let mut keys = Vec::new();
        let mut statement = self.db.prepare("SELECT secret FROM keys ORDER BY seq").map_err(failed)?;
        for secret in statement.query_map([], |row| row.get::<_, Vec<u8>>(0)).map_err(failed)? {
            keys.push(SigningKey::from_bytes(&array::<32>(secret.map_err(failed)?)?));
        }
        let mut records = Vec::new();
        let mut statement = self.db.prepare("SELECT txid, data, height FROM txs ORDER BY seq").map_err(failed)?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?, row.get::<_, Option<u32>>(2)?))
            })
            .map_err(failed)?;
        for row in rows {
            let (txid, data, height) = row.map_err(failed)?;
            let tx =
                Transaction::decode(&data).map_err(|error| WalletError::Failed(format!("wallet storage: {error}")))?;
            records.push(Record { txid: Hash256(array(txid)?), tx, height });
        }
        let synced: Option<Vec<u8>> = self
            .db
            .query_row("SELECT value FROM meta WHERE name = 'synced'", [], |row| row.get(0))
            .optional()
            .map_err(failed)?;
        let synced = match synced {
            Some(bytes) => {
                let bytes: [u8; 36] = array(bytes)?;
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&bytes[4..]);
                Some(BlockRef {
                    height: u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
                    hash: Hash256(hash),
                })
            }
            None => None,
        };
        Ok(Contents { keys, records, synced })
    }

    /// Stores a new key before its address is handed out.
    pub fn add_key(&self, key: &SigningKey) -> Result<(), WalletError> {
        self.db.execute("INSERT INTO keys (secret) VALUES (?1)", params![&key.to_bytes()[..]]).map_err(failed)?;
        Ok(())
    }

    /// Stores new and changed records and, if given, the last block seen,
    /// all or nothing.
    pub fn save(&mut self, records: &[&Record], synced: Option<BlockRef>) -> Result<(), WalletError> {
        let tx = self.db.transaction().map_err(failed)?;
        for record in records {
            tx.execute(
                "INSERT INTO txs (txid, data, height) VALUES (?1, ?2, ?3)
                 ON CONFLICT (txid) DO UPDATE SET height = excluded.height",
                params![&record.txid.0[..], record.tx.encode(), record.height],
            )
            .map_err(failed)?;
        }
        if let Some(synced) = synced {
            let mut value = synced.height.to_le_bytes().to_vec();
            value.extend_from_slice(&synced.hash.0);
            tx.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('synced', ?1)", params![value])
                .map_err(failed)?;
        }
        tx.commit().map_err(failed)
    }
}

/// The address a key receives at.
pub fn address_of(key: &SigningKey) -> Address {
    Address(key.verifying_key().to_bytes())
}
