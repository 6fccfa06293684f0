//! The RPC methods of COIN.md: parameters checked and converted, the call
//! made on [`Node`] or [`Wallet`], the result as JSON, errors with bitcoind's
//! codes.

use std::sync::Arc;

use interfaces::primitives::{Address, Hash256, Transaction};
use interfaces::{Node, NodeError, Wallet, WalletError, WalletLoader};
use serde_json::{Value, json};

use crate::node::Shutdown;

/// bitcoind's error codes.
pub mod code {
    /// Malformed JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a JSON-RPC request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Wrong number or types of parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Something else failed.
    pub const MISC_ERROR: i64 = -1;
    /// The wallet failed, or its process is unavailable.
    pub const WALLET_ERROR: i64 = -4;
    /// Not an address, or no such block.
    pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
    /// Not enough money.
    pub const WALLET_INSUFFICIENT_FUNDS: i64 = -6;
    /// A parameter out of range.
    pub const INVALID_PARAMETER: i64 = -8;
    /// No such wallet loaded.
    pub const WALLET_NOT_FOUND: i64 = -18;
    /// Several wallets loaded and none named.
    pub const WALLET_NOT_SPECIFIED: i64 = -19;
    /// Transaction hex that does not decode.
    pub const DESERIALIZATION_ERROR: i64 = -22;
    /// A transaction that breaks a rule.
    pub const VERIFY_REJECTED: i64 = -26;
    /// A transaction already in a block.
    pub const VERIFY_ALREADY_IN_CHAIN: i64 = -27;
    /// A wallet loaded twice.
    pub const WALLET_ALREADY_LOADED: i64 = -35;
}

/// A JSON-RPC error: a code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// bitcoind's code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
}

impl RpcError {
    /// An error with `code`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError { code, message: message.into() }
    }
}

impl From<WalletError> for RpcError {
    fn from(error: WalletError) -> RpcError {
        let code = match &error {
            WalletError::NotFound(_) => code::WALLET_NOT_FOUND,
            WalletError::AlreadyLoaded(_) => code::WALLET_ALREADY_LOADED,
            WalletError::InvalidParameter(_) => code::INVALID_PARAMETER,
            WalletError::InvalidAddress(_) => code::INVALID_ADDRESS_OR_KEY,
            WalletError::InsufficientFunds => code::WALLET_INSUFFICIENT_FUNDS,
            WalletError::Rejected(_) => code::VERIFY_REJECTED,
            WalletError::AlreadyExists(_) | WalletError::Failed(_) | WalletError::Unavailable(_) => code::WALLET_ERROR,
        };
        RpcError::new(code, error.to_string())
    }
}

impl From<NodeError> for RpcError {
    fn from(error: NodeError) -> RpcError {
        let code = match &error {
            NodeError::Rejected(_) => code::VERIFY_REJECTED,
            NodeError::AlreadyInChain(_) => code::VERIFY_ALREADY_IN_CHAIN,
            NodeError::InvalidParameter(_) => code::INVALID_PARAMETER,
            NodeError::WalletUnavailable(_) => code::WALLET_ERROR,
            NodeError::Failed(_) | NodeError::Unavailable(_) => code::MISC_ERROR,
        };
        RpcError::new(code, error.to_string())
    }
}

/// What the methods work on. A node serves every method; a wallet process
/// serving RPC itself has no `node`.
pub struct Context {
    /// The node, if this process has one.
    pub node: Option<Box<dyn Node>>,
    /// The wallets.
    pub wallets: Arc<dyn WalletLoader>,
    /// Waits until the wallets have seen every block so far (bitcoind's
    /// `BlockUntilSyncedToCurrentChain`), before a wallet method answers.
    pub sync_wallets: Box<dyn Fn() + Send + Sync>,
    /// `stop` asks this.
    pub shutdown: Arc<Shutdown>,
    /// When the server started, for `uptime` without a node.
    pub started: std::time::Instant,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("node", &self.node.is_some()).finish_non_exhaustive()
    }
}

/// The parameter names of each method, for calls with named parameters;
/// `None` for an unknown method.
fn parameter_names(method: &str) -> Option<&'static [&'static str]> {
    Some(match method {
        "getblockcount" | "getbestblockhash" | "getmempoolinfo" | "uptime" | "stop" | "listwallets"
        | "getnewaddress" | "getbalance" | "getwalletinfo" => &[],
        "getblockhash" => &["height"],
        "getblock" => &["blockhash"],
        "generatetoaddress" => &["nblocks", "address"],
        "sendrawtransaction" => &["hexstring"],
        "echo" => &["arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "arg6", "arg7", "arg8", "arg9"],
        "echoipc" => &["arg"],
        "createwallet" | "unloadwallet" => &["wallet_name"],
        "loadwallet" => &["filename"],
        "sendtoaddress" => &["address", "amount"],
        "listtransactions" => &["count"],
        _ => return None,
    })
}

/// Whether `method` needs a wallet.
fn is_wallet_method(method: &str) -> bool {
    matches!(method, "getnewaddress" | "getbalance" | "sendtoaddress" | "listtransactions" | "getwalletinfo")
}

/// The parameters of one call, by position.
struct Params<'a> {
    method: &'a str,
    values: Vec<Value>,
}

fn invalid(message: impl Into<String>) -> RpcError {
    RpcError::new(code::INVALID_PARAMS, message)
}

impl Params<'_> {
    fn count(&self, required: usize, most: usize) -> Result<(), RpcError> {
        let given = self.values.len();
        if given < required || given > most {
            let wanted = if required == most { format!("{required}") } else { format!("{required} to {most}") };
            return Err(invalid(format!("{} takes {wanted} parameters, {given} given", self.method)));
        }
        Ok(())
    }

    fn get(&self, at: usize) -> Option<&Value> {
        self.values.get(at).filter(|value| !value.is_null())
    }

    fn string(&self, at: usize, name: &str) -> Result<&str, RpcError> {
        match self.get(at) {
            Some(Value::String(text)) => Ok(text),
            Some(other) => Err(invalid(format!("{name}: expected a string, got {}", kind(other)))),
            None => Err(invalid(format!("{name} is required"))),
        }
    }

    fn integer(&self, at: usize, name: &str) -> Result<i64, RpcError> {
        match self.get(at) {
            Some(Value::Number(number)) => {
                number.as_i64().ok_or_else(|| invalid(format!("{name}: expected an integer, got {number}")))
            }
            Some(other) => Err(invalid(format!("{name}: expected an integer, got {}", kind(other)))),
            None => Err(invalid(format!("{name} is required"))),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn address(text: &str) -> Result<Address, RpcError> {
    text.parse().map_err(|_| RpcError::new(code::INVALID_ADDRESS_OR_KEY, format!("Invalid address: {text:.100}")))
}

fn hash(text: &str, name: &str) -> Result<Hash256, RpcError> {
    if text.len() != 64 {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            format!("{name} must be of length 64 (not {})", text.len()),
        ));
    }
    text.parse().map_err(|_| RpcError::new(code::INVALID_PARAMETER, format!("{name} must be hexadecimal string")))
}

impl Context {
    fn node(&self) -> Result<&dyn Node, RpcError> {
        self.node
            .as_deref()
            .ok_or_else(|| RpcError::new(code::METHOD_NOT_FOUND, "Method not found (this process has no node)"))
    }

    /// The wallet a wallet method works on: the one the URL names, or the
    /// only one loaded.
    fn wallet(&self, endpoint: Option<&str>) -> Result<Box<dyn Wallet>, RpcError> {
        (self.sync_wallets)();
        if let Some(name) = endpoint {
            return Ok(self.wallets.get_wallet(name.to_owned())?);
        }
        let loaded = self.wallets.list_wallets()?;
        match loaded.as_slice() {
            [] => Err(RpcError::new(
                code::WALLET_NOT_FOUND,
                "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet.",
            )),
            [only] => Ok(self.wallets.get_wallet(only.clone())?),
            _ => Err(RpcError::new(
                code::WALLET_NOT_SPECIFIED,
                "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).",
            )),
        }
    }

    /// Runs `method` with `params` (an array, an object of named
    /// parameters, or absent); `endpoint` is the wallet of a `/wallet/NAME`
    /// URL.
    pub fn call(&self, method: &str, params: Option<Value>, endpoint: Option<&str>) -> Result<Value, RpcError> {
        let Some(names) = parameter_names(method) else {
            return Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found"));
        };
        let values = match params {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(values)) => values,
            Some(Value::Object(mut named)) => {
                let mut values = vec![Value::Null; names.len()];
                for (at, name) in names.iter().enumerate() {
                    if let Some(value) = named.remove(*name) {
                        values[at] = value;
                    }
                }
                if let Some(unknown) = named.keys().next() {
                    return Err(RpcError::new(
                        code::INVALID_PARAMETER,
                        format!("Unknown named parameter {unknown:.100}"),
                    ));
                }
                while values.last().is_some_and(Value::is_null) {
                    values.pop();
                }
                values
            }
            Some(other) => {
                return Err(RpcError::new(
                    code::INVALID_REQUEST,
                    format!("params must be an array or an object, not {}", kind(&other)),
                ));
            }
        };
        let params = Params { method, values };
        if is_wallet_method(method) {
            return self.wallet_method(&params, endpoint);
        }
        match method {
            "getblockcount" => {
                params.count(0, 0)?;
                Ok(json!(self.node()?.tip()?.height))
            }
            "getbestblockhash" => {
                params.count(0, 0)?;
                Ok(json!(self.node()?.tip()?.hash.to_hex()))
            }
            "getblockhash" => {
                params.count(1, 1)?;
                let height = params.integer(0, "height")?;
                let node = self.node()?;
                let out_of_range = || RpcError::new(code::INVALID_PARAMETER, "Block height out of range");
                let height = u32::try_from(height).map_err(|_| out_of_range())?;
                let hash = node.block_hash(height)?.ok_or_else(out_of_range)?;
                Ok(json!(hash.to_hex()))
            }
            "getblock" => {
                params.count(1, 1)?;
                let hash = hash(params.string(0, "blockhash")?, "blockhash")?;
                let node = self.node()?;
                let block =
                    node.block(hash)?.ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found"))?;
                let tip = node.tip()?;
                let mut result = json!({
                    "hash": hash.to_hex(),
                    "height": block.header.height,
                    "confirmations": tip.height.saturating_sub(block.header.height) + 1,
                    "time": block.header.time,
                    "nonce": block.header.nonce,
                    "merkleroot": block.header.merkle_root.to_hex(),
                    "tx": block.transactions.iter().map(|tx| tx.txid().to_hex()).collect::<Vec<_>>(),
                });
                if block.header.height > 0 {
                    result["previousblockhash"] = json!(block.header.prev.to_hex());
                }
                Ok(result)
            }
            "generatetoaddress" => {
                params.count(2, 2)?;
                let blocks = params.integer(0, "nblocks")?;
                let to = address(params.string(1, "address")?)?;
                let blocks = u32::try_from(blocks)
                    .map_err(|_| RpcError::new(code::INVALID_PARAMETER, "nblocks must be between 0 and 10000"))?;
                let hashes = self.node()?.generate_to_address(blocks, to)?;
                Ok(json!(hashes.iter().map(Hash256::to_hex).collect::<Vec<_>>()))
            }
            "getmempoolinfo" => {
                params.count(0, 0)?;
                Ok(json!({ "size": self.node()?.mempool_size()? }))
            }
            "sendrawtransaction" => {
                params.count(1, 1)?;
                let hex = params.string(0, "hexstring")?;
                let tx = Transaction::from_hex(hex).map_err(|error| {
                    RpcError::new(code::DESERIALIZATION_ERROR, format!("TX decode failed: {error}"))
                })?;
                Ok(json!(self.node()?.send_raw_transaction(tx)?.to_hex()))
            }
            "echo" => Ok(Value::Array(params.values)),
            "echoipc" => {
                params.count(1, 1)?;
                let message = params.string(0, "arg")?.to_owned();
                Ok(json!(self.node()?.echo_ipc(message)?))
            }
            "uptime" => {
                params.count(0, 0)?;
                match &self.node {
                    Some(node) => Ok(json!(node.uptime()?)),
                    None => Ok(json!(self.started.elapsed().as_secs())),
                }
            }
            "stop" => {
                params.count(0, 0)?;
                self.shutdown.request();
                Ok(json!("coin server stopping"))
            }
            "createwallet" => {
                params.count(1, 1)?;
                let name = params.string(0, "wallet_name")?.to_owned();
                self.wallets.create_wallet(name.clone())?;
                Ok(json!({ "name": name }))
            }
            "loadwallet" => {
                params.count(1, 1)?;
                let name = params.string(0, "filename")?.to_owned();
                self.wallets.load_wallet(name.clone())?;
                Ok(json!({ "name": name }))
            }
            "unloadwallet" => {
                params.count(0, 1)?;
                let name = match (params.get(0), endpoint) {
                    (Some(_), Some(_)) => {
                        return Err(RpcError::new(
                            code::INVALID_PARAMETER,
                            "Both the RPC endpoint wallet and wallet_name parameter were provided (only one allowed)",
                        ));
                    }
                    (Some(_), None) => params.string(0, "wallet_name")?.to_owned(),
                    (None, Some(endpoint)) => endpoint.to_owned(),
                    (None, None) => {
                        return Err(RpcError::new(
                            code::INVALID_PARAMETER,
                            "Either the RPC endpoint wallet or the wallet name parameter must be provided",
                        ));
                    }
                };
                self.wallets.unload_wallet(name.clone())?;
                Ok(json!({ "name": name }))
            }
            "listwallets" => {
                params.count(0, 0)?;
                Ok(json!(self.wallets.list_wallets()?))
            }
            _ => Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found")),
        }
    }

    /// A wallet method: its parameters are checked before the wallet is
    /// looked up, as bitcoind does.
    fn wallet_method(&self, params: &Params<'_>, endpoint: Option<&str>) -> Result<Value, RpcError> {
        let wallet = || self.wallet(endpoint);
        match params.method {
            "getnewaddress" => {
                params.count(0, 0)?;
                Ok(json!(wallet()?.new_address()?.to_string()))
            }
            "getbalance" => {
                params.count(0, 0)?;
                Ok(json!(wallet()?.balance()?))
            }
            "sendtoaddress" => {
                params.count(2, 2)?;
                let to = address(params.string(0, "address")?)?;
                let amount = params.integer(1, "amount")?;
                let amount = u64::try_from(amount)
                    .ok()
                    .filter(|amount| *amount > 0)
                    .ok_or_else(|| RpcError::new(code::INVALID_PARAMETER, "Invalid amount for send"))?;
                Ok(json!(wallet()?.send(to, amount)?.to_hex()))
            }
            "listtransactions" => {
                params.count(0, 1)?;
                let count = match params.get(0) {
                    Some(_) => params.integer(0, "count")?,
                    None => 10,
                };
                let count =
                    usize::try_from(count).map_err(|_| RpcError::new(code::INVALID_PARAMETER, "Negative count"))?;
                let entries = wallet()?.transactions(count)?;
                Ok(Value::Array(
                    entries
                        .iter()
                        .map(|entry| {
                            let mut item = json!({
                                "txid": entry.txid.to_hex(),
                                "category": entry.category.as_str(),
                                "amount": entry.amount,
                                "confirmations": entry.confirmations,
                            });
                            if let Some(fee) = entry.fee {
                                item["fee"] = json!(fee);
                            }
                            item
                        })
                        .collect(),
                ))
            }
            "getwalletinfo" => {
                params.count(0, 0)?;
                let info = wallet()?.info()?;
                Ok(json!({
                    "walletname": info.name,
                    "balance": info.balance,
                    "txcount": info.tx_count,
                    "sandboxed": info.sandboxed,
                }))
            }
            _ => Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found")),
        }
    }
}
