//! The chain's data: hashes, addresses, transactions and blocks, what they
//! hash to and how they are written as bytes (Bitcoin's `primitives/`).
//!
//! A transaction spends earlier outputs and creates new ones. Each input
//! names the output it spends, the ed25519 public key that output pays, and
//! a signature over the transaction's [`sighash`](Transaction::sighash). An
//! address is that public key, written `coin1` + hex of the key and a 4-byte
//! checksum.
//!
//! ```
//! use interfaces::primitives::{Address, Block, Transaction};
//!
//! let address = Address([7; 32]);
//! assert_eq!(address.to_string().parse::<Address>(), Ok(address));
//! let coinbase = Transaction::coinbase(1, address, 5_000_000_000);
//! assert!(coinbase.is_coinbase());
//! let hex = coinbase.to_hex();
//! assert_eq!(Transaction::from_hex(&hex).unwrap(), coinbase);
//! assert_eq!(Block::genesis().header.height, 0);
//! ```

use std::fmt;
use std::str::FromStr;

use multiprocess::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An amount of coin, in units.
pub type Amount = u64;

/// What the first transaction of a block pays its miner, before fees.
pub const SUBSIDY: Amount = 5_000_000_000;

/// The fee every transaction a wallet sends pays.
pub const FEE: Amount = 1_000;

/// The largest encoded transaction or block the node decodes from a peer or
/// an RPC client: anything longer is refused before it is allocated.
pub const MAX_ENCODED_SIZE: usize = 4 << 20;

/// A double SHA-256, shown as hex in the byte order it is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Hash256(pub [u8; 32]);

impl Hash256 {
    /// The double SHA-256 of `bytes`.
    ///
    /// ```
    /// # use interfaces::primitives::Hash256;
    /// assert_ne!(Hash256::of(b"a"), Hash256::of(b"b"));
    /// ```
    pub fn of(bytes: &[u8]) -> Hash256 {
        Hash256(Sha256::digest(Sha256::digest(bytes)).into())
    }

    /// 64 lowercase hex digits.
    ///
    /// ```
    /// # use interfaces::primitives::Hash256;
    /// assert_eq!(Hash256([0xab; 32]).to_hex(), "ab".repeat(32));
    /// ```
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash256({})", self.to_hex())
    }
}

/// Why a string is not a [`Hash256`] or an [`Address`], or bytes not a
/// [`Transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

impl FromStr for Hash256 {
    type Err = ParseError;

    /// ```
    /// # use interfaces::primitives::Hash256;
    /// assert!("12".parse::<Hash256>().is_err());
    /// assert_eq!("00".repeat(32).parse::<Hash256>(), Ok(Hash256::default()));
    /// ```
    fn from_str(text: &str) -> Result<Hash256, ParseError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| ParseError(format!("not a hash of 64 hex digits: {text:.80}")))?;
        Ok(Hash256(bytes))
    }
}

/// Where an output pays: the ed25519 public key that must sign to spend it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Address(pub [u8; 32]);

/// What every address starts with.
pub const ADDRESS_PREFIX: &str = "coin1";

impl Address {
    fn checksum(&self) -> [u8; 4] {
        let hash = Hash256::of(&self.0);
        [hash.0[0], hash.0[1], hash.0[2], hash.0[3]]
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ADDRESS_PREFIX}{}{}", hex::encode(self.0), hex::encode(self.checksum()))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = ParseError;

    /// ```
    /// # use interfaces::primitives::Address;
    /// let address = Address([3; 32]);
    /// assert_eq!(address.to_string().parse::<Address>(), Ok(address));
    /// assert!("coin1xyz".parse::<Address>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Address, ParseError> {
        let invalid = || ParseError(format!("invalid address: {text:.100}"));
        let digits = text.strip_prefix(ADDRESS_PREFIX).ok_or_else(invalid)?;
        let mut bytes = [0u8; 36];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| invalid())?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[..32]);
        let address = Address(key);
        if address.checksum() != bytes[32..] {
            return Err(invalid());
        }
        Ok(address)
    }
}

/// An output of an earlier transaction: its id and index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct OutPoint {
    /// The transaction.
    pub txid: Hash256,
    /// Which of its outputs.
    pub vout: u32,
}

/// An input: the output it spends and the proof that its owner spends it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct TxIn {
    /// The output spent.
    pub prevout: OutPoint,
    /// The ed25519 signature (64 bytes) of the transaction's sighash by the
    /// key of the spent output's address.
    pub signature: Vec<u8>,
}

/// An output: an amount paid to an address.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct TxOut {
    /// Who may spend it.
    pub address: Address,
    /// How much.
    pub amount: Amount,
}

/// A transaction. One without inputs is a coinbase, the first of a block;
/// its `lock_height` is the block's height, which keeps its id unique.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Transaction {
    /// The outputs spent.
    pub inputs: Vec<TxIn>,
    /// The outputs created.
    pub outputs: Vec<TxOut>,
    /// For a coinbase, the block's height; otherwise 0.
    pub lock_height: u32,
}

fn encoding() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_ENCODED_SIZE>()
}

impl Transaction {
    /// The coinbase of the block at `height`, paying `amount` to `address`.
    pub fn coinbase(height: u32, address: Address, amount: Amount) -> Transaction {
        Transaction { inputs: Vec::new(), outputs: vec![TxOut { address, amount }], lock_height: height }
    }

    /// Whether this is a block's first transaction, which creates coin.
    pub fn is_coinbase(&self) -> bool {
        self.inputs.is_empty()
    }

    /// The canonical bytes: what is hashed, stored and sent as hex.
    pub fn encode(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, encoding()).expect("a transaction always encodes")
    }

    /// Decodes [`encode`](Self::encode)'s bytes; anything else, trailing
    /// bytes included, is an error.
    pub fn decode(bytes: &[u8]) -> Result<Transaction, ParseError> {
        decode_exact(bytes, "transaction")
    }

    /// The encoding as lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.encode())
    }

    /// Decodes [`to_hex`](Self::to_hex)'s text.
    pub fn from_hex(text: &str) -> Result<Transaction, ParseError> {
        if text.len() > 2 * MAX_ENCODED_SIZE {
            return Err(ParseError("transaction too large".into()));
        }
        let bytes = hex::decode(text).map_err(|_| ParseError("transaction hex is not hex".into()))?;
        Transaction::decode(&bytes)
    }

    /// The transaction's id: the hash of its encoding, signatures included.
    pub fn txid(&self) -> Hash256 {
        Hash256::of(&self.encode())
    }

    /// What each input signs: the hash of the transaction with every
    /// signature empty.
    pub fn sighash(&self) -> Hash256 {
        let mut unsigned = self.clone();
        for input in &mut unsigned.inputs {
            input.signature.clear();
        }
        Hash256::of(&unsigned.encode())
    }

    /// The sum of the outputs, or `None` if it overflows.
    pub fn output_total(&self) -> Option<Amount> {
        self.outputs.iter().try_fold(0u64, |sum, output| sum.checked_add(output.amount))
    }
}

fn decode_exact<T: multiprocess::serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ParseError> {
    if bytes.len() > MAX_ENCODED_SIZE {
        return Err(ParseError(format!("{what} too large")));
    }
    match bincode::serde::decode_from_slice::<T, _>(bytes, encoding()) {
        Ok((value, read)) if read == bytes.len() => Ok(value),
        Ok(_) => Err(ParseError(format!("{what} has trailing bytes"))),
        Err(error) => Err(ParseError(format!("{what} decode failed: {error}"))),
    }
}

/// What a block's hash commits to.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct BlockHeader {
    /// 0 for the genesis block.
    pub height: u32,
    /// The parent's hash (zeros for the genesis block).
    pub prev: Hash256,
    /// Seconds since the Unix epoch; never earlier than the parent's.
    pub time: u64,
    /// The hash of the transactions' ids.
    pub merkle_root: Hash256,
    /// What a miner varies until the hash [meets the target](meets_target).
    pub nonce: u64,
}

impl BlockHeader {
    /// The block's hash.
    pub fn hash(&self) -> Hash256 {
        Hash256::of(&bincode::serde::encode_to_vec(self, encoding()).expect("a header always encodes"))
    }
}

/// Whether a block hash is good enough: its first byte is zero, which takes
/// a miner 256 tries on average (a toy chain, so mining is instant).
pub fn meets_target(hash: &Hash256) -> bool {
    hash.0[0] == 0
}

/// A header and its transactions, the first being the coinbase.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Block {
    /// What the hash commits to.
    pub header: BlockHeader,
    /// The coinbase, then the transactions it confirms.
    pub transactions: Vec<Transaction>,
}

impl Block {
    /// The fixed first block, height 0, with no transactions.
    pub fn genesis() -> Block {
        let header = BlockHeader {
            height: 0,
            prev: Hash256::default(),
            time: 1_231_006_505,
            merkle_root: merkle_root(&[]),
            nonce: 0,
        };
        Block { header, transactions: Vec::new() }
    }

    /// The block's hash.
    pub fn hash(&self) -> Hash256 {
        self.header.hash()
    }

    /// The encoding stored on disk.
    pub fn encode(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, encoding()).expect("a block always encodes")
    }

    /// Decodes [`encode`](Self::encode)'s bytes.
    pub fn decode(bytes: &[u8]) -> Result<Block, ParseError> {
        decode_exact(bytes, "block")
    }
}

/// The hash that commits a header to its transactions.
pub fn merkle_root(transactions: &[Transaction]) -> Hash256 {
    let mut ids = Vec::with_capacity(32 * transactions.len());
    for transaction in transactions {
        ids.extend_from_slice(&transaction.txid().0);
    }
    Hash256::of(&ids)
}

/// A block's place: its height and hash.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct BlockRef {
    /// The height.
    pub height: u32,
    /// The hash.
    pub hash: Hash256,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_round_trips_and_refuses_trailing_bytes() {
        let tx = Transaction::coinbase(3, Address([1; 32]), SUBSIDY);
        assert_eq!(Transaction::decode(&tx.encode()), Ok(tx.clone()));
        let mut longer = tx.encode();
        longer.push(0);
        assert!(Transaction::decode(&longer).is_err());
        assert!(Transaction::from_hex("zz").is_err());
        assert!(Transaction::decode(&[0xff; 16]).is_err(), "a huge length prefix is refused, not allocated");
    }

    #[test]
    fn an_address_with_a_wrong_checksum_is_refused() {
        let text = Address([9; 32]).to_string();
        let mut broken = text.clone().into_bytes();
        let last = broken.len() - 1;
        broken[last] = if broken[last] == b'0' { b'1' } else { b'0' };
        assert!(String::from_utf8(broken).unwrap().parse::<Address>().is_err());
        assert!(text.parse::<Address>().is_ok());
    }
}
