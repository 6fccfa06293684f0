//! `coin-node`: the same node as `coind`, with its wallets in a `coin-wallet`
//! process that it spawns and talks to only through the interfaces.

fn main() -> std::process::ExitCode {
    coin::daemon::main(coin::daemon::WalletMode::Spawn)
}
