//! Listening and connecting on socket paths (`-ipcbind`, `-ipcconnect`).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use common::{Counter, LocalCounter, eventually};

/// A fresh directory for one test's sockets, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mp-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }

    fn address(&self, file: &str) -> String {
        format!("unix:{}", self.0.join(file).display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn counters() -> impl Fn() -> Box<dyn Counter> + Send + Sync + 'static {
    let next = AtomicU64::new(1);
    move || Box::new(LocalCounter::new(next.fetch_add(1, Ordering::SeqCst)))
}

#[test]
fn eight_clients_at_once_each_get_their_own_bootstrap_object() {
    let scratch = Scratch::new("eight");
    let address = scratch.address("nested/dirs/counter.sock");
    let listener = multiprocess::listen::<dyn Counter>(&address, counters()).unwrap();
    let ids = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let counter = multiprocess::connect::<dyn Counter>(&address).unwrap();
                for _ in 0..10 {
                    counter.add(1);
                }
                assert_eq!(counter.add(0), 10, "nobody else adds to my object");
                ids.lock().unwrap().push(counter.id());
            });
        }
    });
    let mut ids = ids.into_inner().unwrap();
    ids.sort();
    assert_eq!(ids, (1..=8).collect::<Vec<_>>());
    eventually("the connections to end", || listener.connections() == 0);
}

#[test]
fn max_connections_holds_the_next_client_until_one_leaves() {
    let scratch = Scratch::new("max");
    let address = scratch.address("counter.sock");
    let options = multiprocess::ListenOptions { max_connections: Some(1), ..Default::default() };
    let listener = multiprocess::listen_with::<dyn Counter>(&address, options, counters()).unwrap();
    let first = multiprocess::connect::<dyn Counter>(&address).unwrap();
    assert_eq!(first.id(), 1);
    let events = Mutex::new(Vec::new());
    thread::scope(|scope| {
        let second = scope.spawn(|| {
            let second = multiprocess::connect::<dyn Counter>(&address).unwrap();
            events.lock().unwrap().push("second connected");
            second.id()
        });
        // Give a listener without a limit every chance to let the second in.
        thread::sleep(Duration::from_millis(300));
        assert!(events.lock().unwrap().is_empty(), "the second client got in while the first was connected");
        assert_eq!(listener.connections(), 1);
        events.lock().unwrap().push("first leaving");
        drop(first);
        assert_eq!(second.join().unwrap(), 2);
    });
    assert_eq!(*events.lock().unwrap(), ["first leaving", "second connected"]);
}

#[test]
fn the_socket_is_private_and_removed_when_the_listener_is_dropped() {
    let scratch = Scratch::new("private");
    let address = scratch.address("fresh/counter.sock");
    let listener = multiprocess::listen::<dyn Counter>(&address, counters()).unwrap();
    let path = listener.path().to_path_buf();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the socket is not accessible to others: {mode:o}");
    let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o077, 0, "a directory we created is private: {dir_mode:o}");
    drop(listener);
    assert!(!path.exists(), "the socket file is gone");
    let error = multiprocess::connect::<dyn Counter>(&address).unwrap_err();
    assert!(matches!(&error, multiprocess::Error::Connect { address: a, .. } if *a == address), "{error:?}");
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
    let scratch = Scratch::new("stale");
    let address = scratch.address("counter.sock");
    std::fs::create_dir_all(&scratch.0).unwrap();
    let path = scratch.0.join("counter.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "a socket file without a listener");
    let listener = multiprocess::listen::<dyn Counter>(&address, counters()).unwrap();
    assert_eq!(multiprocess::connect::<dyn Counter>(&address).unwrap().id(), 1);
    let error = multiprocess::listen::<dyn Counter>(&address, counters()).unwrap_err();
    assert!(error.to_string().contains("another process is listening"), "{error}");
    drop(listener);
}

#[test]
fn another_kind_of_file_is_refused_and_left_alone() {
    let scratch = Scratch::new("file");
    std::fs::create_dir_all(&scratch.0).unwrap();
    let path = scratch.0.join("important.txt");
    std::fs::write(&path, "keep me").unwrap();
    let error = multiprocess::listen::<dyn Counter>(&scratch.address("important.txt"), counters()).unwrap_err();
    assert!(matches!(error, multiprocess::Error::Address { .. }), "{error:?}");
    assert!(error.to_string().contains("not a socket"), "{error}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}

#[test]
fn bad_addresses_are_clear_errors() {
    let long = format!("unix:/tmp/{}", "x".repeat(200));
    let error = multiprocess::listen::<dyn Counter>(&long, counters()).unwrap_err();
    assert!(error.to_string().contains("at most 107"), "{error}");
    let error = multiprocess::connect::<dyn Counter>(&long).unwrap_err();
    assert!(matches!(error, multiprocess::Error::Address { .. }), "{error:?}");
    for address in ["tcp:127.0.0.1:8000", "no-scheme.sock", "unix:"] {
        let error = multiprocess::connect::<dyn Counter>(address).unwrap_err();
        assert!(matches!(&error, multiprocess::Error::Address { address: a, .. } if a == address), "{error:?}");
    }
    let error = multiprocess::listen::<dyn Counter>("tcp:127.0.0.1:8000", counters()).unwrap_err();
    assert!(error.to_string().contains("unix:PATH"), "{error}");
}

/// An example binary, built by `cargo test` (or `cargo build --examples`).
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let path = deps.parent().unwrap().join("examples").join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --examples` first", path.display());
    path
}

#[test]
fn the_echo_examples_talk_over_a_socket_path() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let scratch = Scratch::new("examples");
    let address = scratch.address("echo.sock");
    let mut server = Command::new(example("echo_server"))
        .args(["--ipcbind", &address, "--debug=ipc"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert!(ready.starts_with("listening on"), "{ready}");
    let client = Command::new(example("echo_client")).args(["--ipcconnect", &address, "hello there"]).output().unwrap();
    assert!(client.status.success(), "{}", String::from_utf8_lossy(&client.stderr));
    assert_eq!(String::from_utf8_lossy(&client.stdout).trim(), "hello there");
    drop(server.stdin.take());
    let finished = server.wait_with_output().unwrap();
    assert!(finished.status.success());
    let log = String::from_utf8_lossy(&finished.stderr);
    assert!(log.contains("recv Echo.echo(message: \"hello there\")"), "{log}");
    assert!(log.lines().all(|line| line.starts_with("echo_server[")), "every line says which process: {log}");
    assert!(!scratch.0.join("echo.sock").exists(), "the server removed its socket");
}

#[test]
fn the_echo_ipc_example_logs_both_processes() {
    let output = std::process::Command::new(example("echo_ipc")).args(["--debug=ipc", "hi there"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "hi there");
    let log = String::from_utf8_lossy(&output.stderr);
    let pids: std::collections::BTreeSet<&str> =
        log.lines().filter_map(|line| line.strip_prefix("echo_ipc[")?.split(']').next()).collect();
    assert_eq!(pids.len(), 2, "lines from parent and child: {log}");
    assert!(log.contains("main: DEBUG send Echo.echo(message: \"hi there\")"), "{log}");
    assert!(log.contains("ipc:main: DEBUG recv Echo.echo(message: \"hi there\")"), "{log}");
    assert!(log.contains("child exited"), "the parent reaped the child and logged it: {log}");
}
