//! Compile-fail cases: every misuse of `#[ipc_interface]` is an error on the
//! offending token that says what to write instead. The expected output is in
//! `tests/ui/*.stderr`; after a deliberate change, bless it with
//! `TRYBUILD=overwrite cargo test --test ui` and review the diff.
//!
//! Diagnostics drift between compiler versions, so the cases run only on the
//! toolchain pinned in `rust-toolchain.toml`.

// trybuild runs cargo and rustc on the host: not under Wine.
#![cfg(unix)]

#[test]
fn misuse_is_reported_where_it_happens() {
    let version = std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    let pinned = include_str!("../rust-toolchain.toml")
        .lines()
        .find_map(|line| line.strip_prefix("channel = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("rust-toolchain.toml pins a channel");
    assert!(
        version.starts_with(&format!("rustc {pinned} ")),
        "the UI snapshots are for rustc {pinned}, this is {version}; run with the pinned toolchain"
    );
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
