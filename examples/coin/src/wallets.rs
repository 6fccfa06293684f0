//! The wallets an RPC server serves: the one place where `coind` and
//! `coin-node` differ, and what an attached `coin-wallet --server` serves. `coind` holds a [`Wallets`] in the process; `coin-node`
//! spawns `coin-wallet`, asks its `Init` for a `WalletLoader` working on the
//! node's `Chain`, and starts a new one, with the same wallets loaded, when
//! it dies. Either way the rest of the node sees one [`WalletLoader`], which
//! also remembers in `DIR/settings.json` the wallets loaded by RPC.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use interfaces::primitives::{Address, Amount, Hash256};
use interfaces::{BalanceChanged, Chain, Handler, Init, Wallet, WalletError, WalletInfo, WalletLoader, WalletTx};

use crate::node::{LocalChain, NodeContext};
use crate::wallet::Wallets;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A [`WalletLoader`] shared by reference count: what
/// [`Node::wallet_loader`](interfaces::Node::wallet_loader) hands out.
pub struct SharedLoader(pub Arc<dyn WalletLoader>);

impl std::fmt::Debug for SharedLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedLoader")
    }
}

impl WalletLoader for SharedLoader {
    fn create_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError> {
        self.0.create_wallet(name)
    }
    fn load_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError> {
        self.0.load_wallet(name)
    }
    fn unload_wallet(&self, name: String) -> Result<(), WalletError> {
        self.0.unload_wallet(name)
    }
    fn list_wallets(&self) -> Result<Vec<String>, WalletError> {
        self.0.list_wallets()
    }
    fn get_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError> {
        self.0.get_wallet(name)
    }
}

/// A [`Wallet`] shared by reference count: one proxy per wallet serves
/// every RPC, instead of one made and released per call.
struct SharedWallet(Arc<dyn Wallet>);

impl Wallet for SharedWallet {
    fn name(&self) -> Result<String, WalletError> {
        self.0.name()
    }
    fn new_address(&self) -> Result<Address, WalletError> {
        self.0.new_address()
    }
    fn balance(&self) -> Result<Amount, WalletError> {
        self.0.balance()
    }
    fn send(&self, address: Address, amount: Amount) -> Result<Hash256, WalletError> {
        self.0.send(address, amount)
    }
    fn transactions(&self, count: usize) -> Result<Vec<WalletTx>, WalletError> {
        self.0.transactions(count)
    }
    fn info(&self) -> Result<WalletInfo, WalletError> {
        self.0.info()
    }
    fn handle_balance_changed(&self, callback: BalanceChanged) -> Box<dyn Handler> {
        self.0.handle_balance_changed(callback)
    }
}

/// Where the wallets are.
enum Source {
    /// In this process (`coind`, and an attached `coin-wallet`).
    Local(Arc<Wallets>),
    /// In a `coin-wallet` child started with these arguments, working on
    /// this node's chain (`coin-node`).
    Process { program: PathBuf, args: Vec<String>, node: Arc<NodeContext>, sandbox: Option<multiprocess::Sandbox> },
}

/// The wallet process of `coin-node`, while it runs.
struct Child {
    loader: Arc<dyn WalletLoader>,
    spawned: multiprocess::Spawned<dyn Init>,
}

#[derive(Default)]
struct Current {
    /// Counts wallet processes, so that a proxy cached for an old one is
    /// never used for a new one.
    generation: u64,
    child: Option<Child>,
    cache: HashMap<String, Arc<dyn Wallet>>,
}

/// The node's wallets: see the module documentation.
pub struct NodeWallets {
    source: Source,
    current: Mutex<Current>,
    /// The wallets that are loaded, to load again in a new wallet process.
    loaded: Mutex<BTreeSet<String>>,
    settings: Settings,
    stopping: AtomicBool,
    me: Weak<NodeWallets>,
}

impl std::fmt::Debug for NodeWallets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeWallets").field("loaded", &*lock(&self.loaded)).finish_non_exhaustive()
    }
}

/// The first wait before a dead wallet process is replaced, and the longest.
const RESTART_DELAY: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(8));

impl NodeWallets {
    /// Wallets in this process, under `DIR/wallets`, following `chain`.
    pub fn local(chain: Arc<dyn Chain>, datadir: &Path) -> Arc<NodeWallets> {
        let wallets = Wallets::new(datadir.join("wallets"), chain, false);
        Self::new(Source::Local(Arc::new(wallets)), datadir)
    }

    /// Wallets in a `coin-wallet` process started with `args`, following
    /// `node`, and confined by `sandbox`.
    pub fn process(
        node: Arc<NodeContext>,
        datadir: &Path,
        args: Vec<String>,
        sandbox: Option<multiprocess::Sandbox>,
    ) -> Arc<NodeWallets> {
        let program = node.sibling("coin-wallet");
        Self::new(Source::Process { program, args, node, sandbox }, datadir)
    }

    fn new(source: Source, datadir: &Path) -> Arc<NodeWallets> {
        Arc::new_cyclic(|me| NodeWallets {
            source,
            current: Mutex::default(),
            loaded: Mutex::default(),
            settings: Settings { path: datadir.join("settings.json"), writing: Mutex::new(()) },
            stopping: AtomicBool::new(false),
            me: me.clone(),
        })
    }

    /// Starts the wallet process, if any, and loads the wallets of
    /// `settings.json` and `extra` (those of `--wallet`, created if missing).
    pub fn start(&self, extra: &[String]) -> Result<(), WalletError> {
        let remembered = self.settings.read();
        let (loader, child) = self.connect()?;
        for name in &remembered {
            match loader.load_wallet(name.clone()) {
                Ok(_) => {
                    lock(&self.loaded).insert(name.clone());
                }
                Err(error) => {
                    tracing::warn!(target: "coin", "cannot load wallet {name} named in settings.json: {error}")
                }
            }
        }
        for name in extra {
            if lock(&self.loaded).contains(name) {
                continue;
            }
            let outcome = match loader.load_wallet(name.clone()) {
                Err(WalletError::NotFound(_)) => loader.create_wallet(name.clone()),
                other => other,
            };
            outcome?;
            lock(&self.loaded).insert(name.clone());
        }
        self.publish(child);
        Ok(())
    }

    /// The local loader, or a new wallet process and its loader, not yet
    /// in use: see [`publish`](Self::publish).
    fn connect(&self) -> Result<(Arc<dyn WalletLoader>, Option<Child>), WalletError> {
        match &self.source {
            Source::Local(wallets) => Ok((wallets.clone() as Arc<dyn WalletLoader>, None)),
            Source::Process { program, args, node, sandbox } => {
                let mut command = Command::new(program);
                command.args(args);
                if let Some(sandbox) = sandbox {
                    sandbox.apply_to(&mut command).map_err(|error| WalletError::Unavailable(error.to_string()))?;
                }
                let spawned = multiprocess::spawn_process::<dyn Init>(command).map_err(|error| {
                    WalletError::Unavailable(format!("cannot start {}: {error}", program.display()))
                })?;
                let chain = Box::new(LocalChain(node.clone()));
                let Some(loader) = spawned.remote().make_wallet_loader(chain) else {
                    return Err(WalletError::Unavailable(format!("{} made no wallet loader", program.display())));
                };
                let loader: Arc<dyn WalletLoader> = Arc::from(loader);
                tracing::info!(target: "coin", pid = spawned.pid(), "started the wallet process");
                Ok((loader.clone(), Some(Child { loader, spawned })))
            }
        }
    }

    /// Puts a wallet process in use once its wallets are loaded, so that
    /// until then wallet calls fail with `Unavailable` rather than `NotFound`.
    fn publish(&self, child: Option<Child>) {
        let Some(child) = child else { return };
        let connection = child.spawned.connection().clone();
        {
            let mut current = lock(&self.current);
            current.generation += 1;
            current.cache.clear();
            current.child = Some(child);
        }
        // Replace the process if it dies, unless the node is stopping.
        // Registered once the child is in place: a connection that has
        // closed already runs the callback at once.
        let me = self.me.clone();
        let _hook = connection.on_disconnect(move || {
            if let Some(wallets) = me.upgrade() {
                wallets.lost_child();
            }
        });
    }

    /// The wallet process is gone: wallet calls fail with `Unavailable` until
    /// a new one has loaded the same wallets.
    fn lost_child(&self) {
        let old = {
            let mut current = lock(&self.current);
            current.generation += 1;
            current.cache.clear();
            current.child.take()
        };
        drop(old);
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        tracing::warn!(target: "coin", "the wallet process exited; starting a new one");
        let me = self.me.clone();
        let restart = move || {
            let mut delay = RESTART_DELAY.0;
            loop {
                std::thread::sleep(delay);
                let Some(wallets) = me.upgrade() else { return };
                if wallets.stopping.load(Ordering::SeqCst) {
                    return;
                }
                match wallets.restart() {
                    Ok(()) => return,
                    Err(error) => tracing::warn!(target: "coin", "cannot start a new wallet process: {error}"),
                }
                delay = (delay * 2).min(RESTART_DELAY.1);
            }
        };
        if let Err(error) = std::thread::Builder::new().name("coin-wallet-restart".into()).spawn(restart) {
            tracing::error!(target: "coin", "cannot start a thread to restart the wallet process: {error}");
        }
    }

    fn restart(&self) -> Result<(), WalletError> {
        let names: Vec<String> = lock(&self.loaded).iter().cloned().collect();
        // On an error the new process is dropped, and so ended: half a set
        // of wallets would answer -18 for the others.
        let (loader, child) = self.connect()?;
        for name in names {
            match loader.load_wallet(name.clone()) {
                Ok(_) | Err(WalletError::AlreadyLoaded(_)) => {}
                Err(error) => return Err(error),
            }
        }
        self.publish(child);
        Ok(())
    }

    fn loader(&self) -> Result<Arc<dyn WalletLoader>, WalletError> {
        match &self.source {
            Source::Local(wallets) => Ok(wallets.clone() as Arc<dyn WalletLoader>),
            Source::Process { .. } => match &lock(&self.current).child {
                Some(child) => Ok(child.loader.clone()),
                None => Err(WalletError::Unavailable("the wallet process is restarting".into())),
            },
        }
    }

    /// The wallet process's id, for `coin-node`.
    pub fn child_pid(&self) -> Option<u32> {
        lock(&self.current).child.as_ref().map(|child| child.spawned.pid())
    }

    /// Unloads everything and ends the wallet process (at shutdown).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let child = {
            let mut current = lock(&self.current);
            current.cache.clear();
            current.child.take()
        };
        match &self.source {
            Source::Local(wallets) => wallets.unload_all(),
            Source::Process { .. } => {
                if let Some(Child { loader, mut spawned }) = child {
                    drop(loader);
                    spawned.set_exit_timeout(Duration::from_secs(5));
                    if let Err(error) = spawned.shutdown() {
                        tracing::warn!(target: "coin", "stopping the wallet process: {error}");
                    }
                }
            }
        }
    }

    fn wallet(
        &self,
        name: &str,
        make: impl FnOnce(&dyn WalletLoader) -> Result<Box<dyn Wallet>, WalletError>,
    ) -> Result<Box<dyn Wallet>, WalletError> {
        let generation = lock(&self.current).generation;
        let wallet: Arc<dyn Wallet> = Arc::from(make(&*self.loader()?)?);
        let mut current = lock(&self.current);
        if current.generation == generation {
            current.cache.insert(name.to_owned(), wallet.clone());
        }
        Ok(Box::new(SharedWallet(wallet)))
    }
}

impl WalletLoader for NodeWallets {
    fn create_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError> {
        let wallet = self.wallet(&name, |loader| loader.create_wallet(name.clone()))?;
        lock(&self.loaded).insert(name.clone());
        self.settings.update(|names| {
            names.insert(name);
        });
        Ok(wallet)
    }

    fn load_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError> {
        let wallet = self.wallet(&name, |loader| loader.load_wallet(name.clone()))?;
        lock(&self.loaded).insert(name.clone());
        self.settings.update(|names| {
            names.insert(name);
        });
        Ok(wallet)
    }

    fn unload_wallet(&self, name: String) -> Result<(), WalletError> {
        self.loader()?.unload_wallet(name.clone())?;
        lock(&self.current).cache.remove(&name);
        lock(&self.loaded).remove(&name);
        self.settings.update(|names| {
            names.remove(&name);
        });
        Ok(())
    }

    fn list_wallets(&self) -> Result<Vec<String>, WalletError> {
        self.loader()?.list_wallets()
    }

    fn get_wallet(&self, name: String) -> Result<Box<dyn Wallet>, WalletError> {
        if let Some(wallet) = lock(&self.current).cache.get(&name) {
            return Ok(Box::new(SharedWallet(wallet.clone())));
        }
        self.wallet(&name, |loader| loader.get_wallet(name.clone()))
    }
}

/// `DIR/settings.json`: `{"wallet": [names]}`, the wallets loaded by RPC,
/// as bitcoind keeps them.
struct Settings {
    path: PathBuf,
    /// One change at a time: each reads, changes and writes the file.
    writing: Mutex<()>,
}

impl Settings {
    fn read(&self) -> BTreeSet<String> {
        let Ok(text) = std::fs::read_to_string(&self.path) else { return BTreeSet::new() };
        let value: serde_json::Value = match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(target: "coin", "ignoring {}: {error}", self.path.display());
                return BTreeSet::new();
            }
        };
        value["wallet"].as_array().into_iter().flatten().filter_map(|name| name.as_str().map(str::to_owned)).collect()
    }

    /// Changes the list and writes it: to a new file, renamed into place, so
    /// that a kill leaves the old list or the new one.
    fn update(&self, change: impl FnOnce(&mut BTreeSet<String>)) {
        let _writing = lock(&self.writing);
        let mut names = self.read();
        change(&mut names);
        let text = serde_json::json!({ "wallet": names }).to_string();
        let temporary = self.path.with_extension("json.new");
        let written = std::fs::write(&temporary, text + "\n").and_then(|()| std::fs::rename(&temporary, &self.path));
        if let Err(error) = written {
            tracing::warn!(target: "coin", "cannot write {}: {error}", self.path.display());
        }
    }
}
