//! Attaching and detaching (`--ipcbind`, `--ipcconnect`): the addresses of
//! COIN.md, the `Init` a node serves to processes that attach, and the
//! node's IPC cookie for `tcp:` addresses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use interfaces::{Chain, Echo, Init, LocalEcho, Mining, Node};

use crate::node::{LocalChain, LocalMining, LocalNode, NodeContext};

/// The name of the node's IPC secret in its data directory.
pub const IPC_COOKIE: &str = "ipc.cookie";

/// The socket `unix` means: `DIR/node.sock`.
pub const NODE_SOCKET: &str = "node.sock";

/// Turns an address of COIN.md into one of the library: `unix` is
/// `unix:DIR/node.sock`; `unix:PATH` and `tcp:HOST:PORT` are themselves.
///
/// ```
/// use std::path::Path;
/// assert_eq!(coin::ipc::resolve("unix", Path::new("/d")), "unix:/d/node.sock");
/// assert_eq!(coin::ipc::resolve("tcp:127.0.0.1:0", Path::new("/d")), "tcp:127.0.0.1:0");
/// ```
pub fn resolve(address: &str, datadir: &Path) -> String {
    if address == "unix" { format!("unix:{}", datadir.join(NODE_SOCKET).display()) } else { address.to_owned() }
}

/// What a node serves to a process that attaches: its node, its chain,
/// block templates and an echo.
#[derive(Debug, Clone)]
pub struct NodeInit(pub Arc<NodeContext>);

impl Init for NodeInit {
    fn make_echo(&self) -> Box<dyn Echo> {
        Box::new(LocalEcho)
    }

    fn make_node(&self) -> Option<Box<dyn Node>> {
        Some(Box::new(LocalNode(self.0.clone())))
    }

    fn make_chain(&self) -> Option<Box<dyn Chain>> {
        Some(Box::new(LocalChain(self.0.clone())))
    }

    fn make_mining(&self) -> Option<Box<dyn Mining>> {
        Some(Box::new(LocalMining(self.0.clone())))
    }
}

/// The node's listeners, and the cookie it wrote for them.
#[derive(Debug)]
pub struct Listeners {
    listeners: Vec<multiprocess::Listener>,
    cookie: Option<PathBuf>,
}

impl Listeners {
    /// Listens on every address of `--ipcbind`. A `tcp:` address gets a new
    /// secret, written to `DIR/ipc.cookie` (mode 0600).
    pub fn bind(addresses: &[String], datadir: &Path, node: &Arc<NodeContext>) -> Result<Listeners, String> {
        let mut bound = Listeners { listeners: Vec::new(), cookie: None };
        let mut secret = None;
        if addresses.iter().any(|address| address.starts_with("tcp:")) {
            let fresh = multiprocess::Secret::generate().map_err(|error| error.to_string())?;
            let path = datadir.join(IPC_COOKIE);
            fresh.write_to(&path).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            bound.cookie = Some(path);
            secret = Some(fresh);
        }
        for address in addresses {
            let resolved = resolve(address, datadir);
            let options = multiprocess::ListenOptions {
                secret: if resolved.starts_with("tcp:") { secret.clone() } else { None },
                ..Default::default()
            };
            let node = node.clone();
            let listener =
                multiprocess::listen_with::<dyn Init>(&resolved, options, move || Box::new(NodeInit(node.clone())))
                    .map_err(|error| format!("cannot listen on {resolved}: {error}"))?;
            tracing::info!(target: "coin", "listening for attaching processes on {}", listener.address());
            bound.listeners.push(listener);
        }
        Ok(bound)
    }

    /// The addresses bound (a `tcp:` port 0 resolved).
    pub fn addresses(&self) -> Vec<String> {
        self.listeners.iter().map(|listener| listener.address().to_owned()).collect()
    }

    /// Stops listening and removes the socket files and the cookie.
    /// Processes attached already stay attached until the node exits.
    pub fn stop(&mut self) {
        for listener in self.listeners.drain(..) {
            listener.stop();
        }
        if let Some(cookie) = self.cookie.take() {
            let _ = std::fs::remove_file(cookie);
        }
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Attaches to the node at `address` (`unix` meaning `DIR/node.sock` of
/// `datadir`); a `tcp:` address authenticates with the secret in `cookie`,
/// by default `DIR/ipc.cookie`.
pub fn connect(address: &str, datadir: &Path, cookie: Option<&Path>) -> Result<Box<dyn Init>, String> {
    let resolved = resolve(address, datadir);
    let mut options = multiprocess::ConnectOptions::default();
    if resolved.starts_with("tcp:") {
        let path = cookie.map_or_else(|| datadir.join(IPC_COOKIE), Path::to_path_buf);
        let secret = multiprocess::Secret::from_file(&path)
            .map_err(|error| format!("cannot read the node's IPC secret {}: {error}", path.display()))?;
        options.secret = Some(secret);
    }
    multiprocess::connect_with::<dyn Init>(&resolved, options)
        .map_err(|error| format!("cannot attach to {resolved}: {error}"))
}
