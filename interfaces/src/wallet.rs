//! `WalletLoader` and `Wallet` (Bitcoin Core's `interfaces::WalletLoader`
//! and `interfaces::Wallet`): what the RPC server and the GUI need of wallets.

use std::fmt;

use multiprocess::{Deserialize, Serialize, ipc_interface};

use crate::Handler;
use crate::primitives::{Address, Amount, Hash256};

/// Why a wallet call failed. Each maps to one bitcoind RPC error code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum WalletError {
    /// No wallet of this name is loaded, or none exists to load (-18).
    NotFound(String),
    /// A wallet of this name exists already (-4).
    AlreadyExists(String),
    /// The wallet is loaded already (-35).
    AlreadyLoaded(String),
    /// A parameter is out of range: a bad wallet name, an amount of zero (-8).
    InvalidParameter(String),
    /// Not an address (-5).
    InvalidAddress(String),
    /// The wallet cannot pay the amount and the fee (-6).
    InsufficientFunds,
    /// The node refused the transaction (-26).
    Rejected(String),
    /// The wallet failed: storage, the node (-4).
    Failed(String),
    /// The wallet process could not be reached (-4).
    Unavailable(String),
}

impl fmt::Display for WalletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalletError::NotFound(name) => write!(f, "Requested wallet does not exist or is not loaded: {name}"),
            WalletError::AlreadyExists(name) => write!(f, "Wallet {name} already exists."),
            WalletError::AlreadyLoaded(name) => write!(f, "Wallet \"{name}\" is already loaded."),
            WalletError::InvalidParameter(why) => write!(f, "Invalid parameter: {why}"),
            WalletError::InvalidAddress(text) => write!(f, "Invalid address: {text}"),
            WalletError::InsufficientFunds => f.write_str("Insufficient funds"),
            WalletError::Rejected(why) => write!(f, "Transaction rejected: {why}"),
            WalletError::Failed(why) => f.write_str(why),
            WalletError::Unavailable(why) => write!(f, "Wallet process unavailable: {why}"),
        }
    }
}

impl std::error::Error for WalletError {}

impl From<multiprocess::Error> for WalletError {
    fn from(error: multiprocess::Error) -> WalletError {
        WalletError::Unavailable(error.to_string())
    }
}

/// How a transaction touches a wallet, as `listtransactions` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum TxCategory {
    /// The wallet paid someone else.
    Send,
    /// Someone paid the wallet.
    Receive,
    /// A coinbase paid the wallet.
    Generate,
}

impl TxCategory {
    /// `send`, `receive` or `generate`.
    pub fn as_str(self) -> &'static str {
        match self {
            TxCategory::Send => "send",
            TxCategory::Receive => "receive",
            TxCategory::Generate => "generate",
        }
    }
}

/// One entry of a wallet's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct WalletTx {
    /// The transaction.
    pub txid: Hash256,
    /// How it touches the wallet.
    pub category: TxCategory,
    /// Units in (positive) or out (negative, without the fee).
    pub amount: i64,
    /// For a send, the fee paid (negative, as bitcoind shows it).
    pub fee: Option<i64>,
    /// Blocks on top of and including the one that confirmed it; 0 while it
    /// waits in the mempool.
    pub confirmations: u32,
}

/// What `getwalletinfo` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct WalletInfo {
    /// The wallet's name.
    pub name: String,
    /// Its balance, as [`Wallet::balance`].
    pub balance: Amount,
    /// How many transactions touch it.
    pub tx_count: u64,
    /// Whether the process holding it runs confined.
    pub sandboxed: bool,
}

/// A callback a wallet calls when its balance may have changed.
pub type BalanceChanged = Box<dyn Fn() + Send + Sync>;

/// One loaded wallet.
///
/// ```no_run
/// use interfaces::{Init, WalletError};
///
/// # fn wallet_of(init: &dyn Init) -> Result<(), WalletError> {
/// let loader = init.make_node().expect("a node").wallet_loader().map_err(|e| WalletError::Failed(e.to_string()))?;
/// let wallet = loader.load_wallet("alice".into())?;
/// let address = wallet.new_address()?;
/// println!("{address}: {} units", wallet.balance()?);
/// # Ok(()) }
/// ```
#[ipc_interface(name = "Wallet")]
pub trait Wallet: Send + Sync {
    /// The wallet's name.
    fn name(&self) -> Result<String, WalletError>;
    /// A new receiving address, stored before it is returned.
    fn new_address(&self) -> Result<Address, WalletError>;
    /// The spendable balance: confirmed outputs, plus the change of the
    /// wallet's own unconfirmed sends (bitcoind's trusted balance).
    fn balance(&self) -> Result<Amount, WalletError>;
    /// Pays `amount` to `address` with a fee of [`FEE`](crate::primitives::FEE);
    /// returns the transaction's id once the node has accepted it.
    fn send(&self, address: Address, amount: Amount) -> Result<Hash256, WalletError>;
    /// The newest `count` entries of the history, newest last.
    fn transactions(&self, count: usize) -> Result<Vec<WalletTx>, WalletError>;
    /// What `getwalletinfo` shows.
    fn info(&self) -> Result<WalletInfo, WalletError>;
    /// Calls `callback` after every change that may move the balance, until
    /// the handler is dropped (or the subscriber's process goes). It is
    /// called from the thread that delivers the node's notifications: a
    /// callback that calls the wallet back should hand the work to another
    /// thread, as a GUI does.
    fn handle_balance_changed(&self, callback: Box<dyn Fn() + Send + Sync>) -> Box<dyn Handler>;
}

/// Creates, loads and unloads the wallets of one data directory.
///
/// ```no_run
/// use interfaces::{WalletError, WalletLoader};
///
/// fn names(loader: &dyn WalletLoader) -> Result<Vec<String>, WalletError> {
///     loader.create_wallet("bob".into())?;
///     loader.list_wallets()
/// }
/// ```
#[ipc_interface(name = "WalletLoader")]
pub trait WalletLoader: Send + Sync {
    /// Creates the wallet `name`, loads it and returns it.
    fn create_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError>;
    /// Loads the existing wallet `name` and returns it.
    fn load_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError>;
    /// Unloads `name`; its handles then fail with `NotFound`.
    fn unload_wallet(&self, name: String) -> Result<(), WalletError>;
    /// The loaded wallets, sorted by name.
    fn list_wallets(&self) -> Result<Vec<String>, WalletError>;
    /// The loaded wallet `name`.
    fn get_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError>;
}
