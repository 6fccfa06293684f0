//! JSON-RPC 2.0 over HTTP, as bitcoind serves it: `POST /` and
//! `POST /wallet/NAME`, HTTP Basic authentication with the cookie in
//! `DIR/.cookie`, the bound address in `DIR/rpc.addr`. axum serves HTTP;
//! each call runs on tokio's blocking pool, since a wallet call may cross to
//! another process.

pub mod methods;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

pub use methods::{Context, RpcError, code};

/// The largest request body: a transaction's hex fits many times over.
const MAX_BODY: usize = 16 << 20;

/// The name of the cookie's user, as bitcoind's.
const COOKIE_USER: &str = "__cookie__";

/// A running RPC server. [`stop`](RpcServer::stop) ends it and removes
/// its files.
pub struct RpcServer {
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
    files: Vec<PathBuf>,
    /// The address bound.
    pub address: SocketAddr,
}

impl std::fmt::Debug for RpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcServer").field("address", &self.address).finish()
    }
}

struct Server {
    context: Context,
    /// The whole `Authorization` header a client must send.
    authorization: String,
}

/// Writes a file only the owner can read.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, contents.as_bytes())
}

impl RpcServer {
    /// Binds `bind:port` (port 0 picks one), writes `datadir/.cookie` and
    /// `datadir/rpc.addr`, and serves `context` until stopped.
    pub fn start(context: Context, bind: &str, port: u16, datadir: &Path) -> std::io::Result<RpcServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("coin-rpc")
            .enable_io()
            .enable_time()
            .build()?;
        let host = if bind.contains(':') && !bind.starts_with('[') { format!("[{bind}]") } else { bind.to_owned() };
        let listener = runtime.block_on(tokio::net::TcpListener::bind(format!("{host}:{port}")))?;
        let address = listener.local_addr()?;

        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|error| std::io::Error::other(format!("no randomness for the cookie: {error}")))?;
        let cookie = format!("{COOKIE_USER}:{}", hex::encode(secret));
        let cookie_path = datadir.join(".cookie");
        write_private(&cookie_path, &cookie)?;
        let address_path = datadir.join("rpc.addr");
        std::fs::write(&address_path, format!("{address}\n"))?;

        let authorization = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&cookie));
        let server = Arc::new(Server { context, authorization });
        let router = Router::new()
            .route("/", post(root))
            .route("/wallet/{name}", post(wallet))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(server);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = runtime.spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            // Answers are small: sent at once, not held back for more (Nagle).
            let listener = axum::serve::ListenerExt::tap_io(listener, |stream: &mut tokio::net::TcpStream| {
                let _ = stream.set_nodelay(true);
            });
            if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
                tracing::error!(target: "coin", "the RPC server failed: {error}");
            }
        });
        tracing::info!(target: "coin", "RPC server listening on {address}");
        Ok(RpcServer {
            runtime: Some(runtime),
            stop: Some(stop),
            served: Some(served),
            files: vec![cookie_path, address_path],
            address,
        })
    }

    /// Stops accepting, lets the calls under way answer (for at most 5 s),
    /// and removes `.cookie` and `rpc.addr`.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let (Some(runtime), Some(served)) = (self.runtime.as_ref(), self.served.take()) {
            let _ = runtime.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(5), served).await });
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        }
        for file in self.files.drain(..) {
            let _ = std::fs::remove_file(file);
        }
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn root(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(server, None, headers, body).await
}

async fn wallet(
    State(server): State<Arc<Server>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(server, Some(name), headers, body).await
}

/// Compares in time that does not depend on where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |differ, (x, y)| differ | (x ^ y)) == 0
}

async fn handle(server: Arc<Server>, endpoint: Option<String>, headers: HeaderMap, body: Bytes) -> Response {
    let authorized =
        headers.get(header::AUTHORIZATION).is_some_and(|value| same(value.as_bytes(), server.authorization.as_bytes()));
    if !authorized {
        let mut response = (StatusCode::UNAUTHORIZED, "").into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"jsonrpc\""));
        return response;
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return reply(Some(failure(
                Value::Null,
                RpcError::new(code::PARSE_ERROR, format!("Parse error: {error}")),
            )));
        }
    };
    // Calls may block on another process: not on the runtime's workers.
    let answer = tokio::task::spawn_blocking(move || match request {
        Value::Array(batch) if batch.is_empty() => {
            Some(failure(Value::Null, RpcError::new(code::INVALID_REQUEST, "Invalid Request: an empty batch")))
        }
        Value::Array(batch) => {
            let answers: Vec<Value> =
                batch.into_iter().filter_map(|one| execute(&server.context, one, endpoint.as_deref())).collect();
            Some(Value::Array(answers))
        }
        one => execute(&server.context, one, endpoint.as_deref()),
    })
    .await;
    match answer {
        Ok(answer) => reply(answer),
        Err(_) => {
            reply(Some(failure(Value::Null, RpcError::new(code::MISC_ERROR, "internal error: the call panicked"))))
        }
    }
}

fn reply(answer: Option<Value>) -> Response {
    match answer {
        Some(answer) => {
            let mut response = (StatusCode::OK, answer.to_string()).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        // Only notifications: nothing to say (JSON-RPC 2.0, as bitcoind).
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

fn failure(id: Value, error: RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "error": { "code": error.code, "message": error.message }, "id": id })
}

/// Runs one request object; `None` for a JSON-RPC 2.0 notification.
fn execute(context: &Context, request: Value, endpoint: Option<&str>) -> Option<Value> {
    let Value::Object(mut request) = request else {
        return Some(failure(Value::Null, RpcError::new(code::INVALID_REQUEST, "Invalid Request object")));
    };
    let notification = !request.contains_key("id") && request.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let id = request.remove("id").unwrap_or(Value::Null);
    let Some(Value::String(method)) = request.remove("method") else {
        return Some(failure(id, RpcError::new(code::INVALID_REQUEST, "Invalid Request: method must be a string")));
    };
    let started = std::time::Instant::now();
    let outcome = context.call(&method, request.remove("params"), endpoint);
    tracing::debug!(target: "rpc", method, wallet = endpoint, elapsed_us = started.elapsed().as_micros() as u64, ok = outcome.is_ok(), "rpc");
    if notification {
        return None;
    }
    Some(match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "result": result, "id": id }),
        Err(error) => failure(id, error),
    })
}
