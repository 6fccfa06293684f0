//! `coin-cli`: a JSON-RPC client for `coind` and `coin-node`, as bitcoin-cli
//! is for bitcoind. `coin-cli [--datadir=DIR] [--rpcport=N] [--rpcwallet=NAME]
//! METHOD [ARG...]` prints the result (strings unquoted) and exits non-zero
//! with the error message on an RPC error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine;
use clap::Parser;
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(about = "Send a JSON-RPC call to a coin node", version)]
struct Cli {
    /// The node's data directory: its `.cookie`, and `rpc.addr` when no
    /// port is given. Default: `~/.coin`.
    #[arg(long, value_name = "DIR")]
    datadir: Option<PathBuf>,
    /// The host to connect to, with `--rpcport`.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    rpcconnect: String,
    /// The RPC port; without it, the address in `DIR/rpc.addr`.
    #[arg(long, value_name = "N")]
    rpcport: Option<u16>,
    /// The wallet to address (`/wallet/NAME`).
    #[arg(long, value_name = "NAME")]
    rpcwallet: Option<String>,
    /// Seconds to wait for an answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    rpcclienttimeout: u64,
    /// The method.
    method: String,
    /// Its parameters: JSON values, or strings for anything that is not JSON
    /// (and always strings where the method takes a string).
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    args: Vec<String>,
}

/// Which parameters of a method are strings even when they look like JSON
/// (a wallet named `123`, say), as bitcoin-cli's conversion table says.
fn is_string_param(method: &str, at: usize) -> bool {
    matches!(
        (method, at),
        ("getblock" | "sendrawtransaction" | "echoipc" | "createwallet" | "loadwallet" | "unloadwallet", 0)
            | ("generatetoaddress", 1)
            | ("sendtoaddress", 0)
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, String> {
    let datadir = cli.datadir.clone().unwrap_or_else(|| std::env::home_dir().unwrap_or_default().join(".coin"));
    let address = match cli.rpcport {
        Some(port) => format!("{}:{port}", cli.rpcconnect),
        None => std::fs::read_to_string(datadir.join("rpc.addr")).map(|text| text.trim().to_owned()).map_err(|_| {
            format!("Could not connect to the server: no {}; is the node running?", datadir.join("rpc.addr").display())
        })?,
    };
    let cookie_path = datadir.join(".cookie");
    let cookie = std::fs::read_to_string(&cookie_path).map_err(|error| {
        format!("Could not read the cookie {}: {error}; is the node running?", cookie_path.display())
    })?;
    let params: Vec<Value> = cli
        .args
        .iter()
        .enumerate()
        .map(|(at, arg)| {
            if is_string_param(&cli.method, at) {
                Value::String(arg.clone())
            } else {
                serde_json::from_str(arg).unwrap_or_else(|_| Value::String(arg.clone()))
            }
        })
        .collect();
    let request = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": cli.method, "params": params });
    let path = match &cli.rpcwallet {
        Some(wallet) => format!("/wallet/{}", percent_encode(wallet)),
        None => "/".to_owned(),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(cli.rpcclienttimeout)))
        .build()
        .into();
    let authorization = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(cookie.trim()));
    let response = agent
        .post(&format!("http://{address}{path}"))
        .header("Authorization", &authorization)
        .header("Content-Type", "application/json")
        .send(request.to_string())
        .map_err(|error| format!("Could not connect to the server {address}: {error}"))?;
    let status = response.status();
    if status == 401 {
        return Err("Authorization failed: incorrect cookie".into());
    }
    let body = response.into_body().read_to_string().map_err(|error| format!("reading the answer: {error}"))?;
    let answer: Value =
        serde_json::from_str(&body).map_err(|_| format!("the server answered HTTP {status}: {body:.200}"))?;
    if let Some(error) = answer.get("error").filter(|error| !error.is_null()) {
        let code = error["code"].as_i64().unwrap_or(-1);
        let message = error["message"].as_str().unwrap_or("(no message)");
        eprintln!("error code: {code}\nerror message:\n{message}");
        // bitcoin-cli exits with the code's absolute value.
        let status = (code.unsigned_abs() % 256) as u8;
        return Ok(ExitCode::from(if status == 0 { 1 } else { status }));
    }
    match &answer["result"] {
        Value::Null => {}
        Value::String(text) => println!("{text}"),
        other => println!("{}", serde_json::to_string_pretty(other).unwrap_or_default()),
    }
    Ok(ExitCode::SUCCESS)
}

/// Escapes a wallet name for the URL path.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
