//! `coind`: node and wallets in one process.

fn main() -> std::process::ExitCode {
    coin::daemon::main(coin::daemon::WalletMode::InProcess)
}
