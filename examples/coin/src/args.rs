//! The options every coin program takes (COIN.md "Options"), parsed with
//! clap: `--name=value` and `--name value` both work.

use std::path::PathBuf;

/// The options of `coind` and `coin-node` (one set: the split binary is a
/// drop-in replacement) and of `coin-wallet`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Options {
    /// All state lives here; created if missing. Default: `~/.coin`.
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// The RPC listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub rpcbind: String,
    /// The RPC port; 0 picks a free one. The bound `HOST:PORT` is written to
    /// `DIR/rpc.addr`.
    #[arg(long, value_name = "N", default_value_t = 9332)]
    pub rpcport: u16,
    /// Load this wallet at startup, creating it if it does not exist
    /// (repeatable).
    #[arg(long, value_name = "NAME")]
    pub wallet: Vec<String>,
    /// Log categories (repeatable): `ipc` logs every IPC call of every
    /// process involved; `all` logs everything.
    #[arg(long, value_name = "CATEGORY")]
    pub debug: Vec<String>,
    /// Also listen for attaching processes (repeatable): `unix` is
    /// `DIR/node.sock`, or `unix:PATH`, or `tcp:HOST:PORT`, whose secret is
    /// written to `DIR/ipc.cookie`.
    #[arg(long, value_name = "ADDR")]
    pub ipcbind: Vec<String>,
    /// Do not confine the spawned wallet process.
    #[arg(long)]
    pub no_sandbox: bool,
}

impl Options {
    /// The same options as command-line arguments, for a node this process
    /// starts (`coin-gui` starting `coin-node`).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--datadir={}", self.datadir().display()),
            format!("--rpcbind={}", self.rpcbind),
            format!("--rpcport={}", self.rpcport),
        ];
        args.extend(self.wallet.iter().map(|name| format!("--wallet={name}")));
        args.extend(self.debug.iter().map(|category| format!("--debug={category}")));
        args.extend(self.ipcbind.iter().map(|address| format!("--ipcbind={address}")));
        if self.no_sandbox {
            args.push("--no-sandbox".into());
        }
        args
    }

    /// The data directory: `--datadir`, or `~/.coin`.
    pub fn datadir(&self) -> PathBuf {
        match &self.datadir {
            Some(dir) => dir.clone(),
            None => std::env::home_dir().unwrap_or_else(|| PathBuf::from(".")).join(".coin"),
        }
    }
}
