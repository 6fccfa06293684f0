//! Listening and connecting on socket paths (`-ipcbind`, `-ipcconnect`); on
//! Windows, `unix:NAME` is a named pipe.

mod common;

#[cfg(unix)]
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

    /// A socket path in the directory; on Windows, a pipe name made from it.
    fn address(&self, file: &str) -> String {
        if cfg!(windows) {
            let name = self.0.file_name().unwrap().to_string_lossy();
            format!("unix:{name}-{}", file.replace('/', "-"))
        } else {
            format!("unix:{}", self.0.join(file).display())
        }
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

#[cfg(unix)]
#[test]
fn the_socket_is_private_and_removed_when_the_listener_is_dropped() {
    let scratch = Scratch::new("private");
    let address = scratch.address("fresh/counter.sock");
    let listener = multiprocess::listen::<dyn Counter>(&address, counters()).unwrap();
    let path = listener.path().expect("a unix: listener has a socket file").to_path_buf();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the socket is not accessible to others: {mode:o}");
    let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o077, 0, "a directory we created is private: {dir_mode:o}");
    drop(listener);
    assert!(!path.exists(), "the socket file is gone");
    let error = multiprocess::connect::<dyn Counter>(&address).unwrap_err();
    assert!(matches!(&error, multiprocess::Error::Connect { address: a, .. } if *a == address), "{error:?}");
}

#[cfg(unix)]
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

#[cfg(unix)]
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
    if cfg!(unix) {
        let long = format!("unix:/tmp/{}", "x".repeat(200));
        let error = multiprocess::listen::<dyn Counter>(&long, counters()).unwrap_err();
        assert!(error.to_string().contains("at most 107"), "{error}");
        let error = multiprocess::connect::<dyn Counter>(&long).unwrap_err();
        assert!(matches!(error, multiprocess::Error::Address { .. }), "{error:?}");
    }
    for address in [
        "tcp:127.0.0.1:8000",
        "no-scheme.sock",
        "unix:",
        "unix",
        "tcp:",
        "tcp:127.0.0.1",
        "tcp:::1:80",
        "udp:1.2.3.4:5",
    ] {
        let error = multiprocess::connect::<dyn Counter>(address).unwrap_err();
        assert!(
            matches!(&error, multiprocess::Error::Address { address: a, .. } if a == address),
            "{address}: {error:?}"
        );
    }
    let error = multiprocess::listen::<dyn Counter>("tcp:127.0.0.1:0", counters()).unwrap_err();
    assert!(error.to_string().contains("needs a secret"), "{error}");
    let error = multiprocess::connect::<dyn Counter>("tcp:127.0.0.1:8000").unwrap_err();
    assert!(error.to_string().contains("secret"), "{error}");
    let error = multiprocess::listen::<dyn Counter>("ftp:x", counters()).unwrap_err();
    assert!(error.to_string().contains("unix:PATH") && error.to_string().contains("tcp:HOST:PORT"), "{error}");
    let error = multiprocess::listen::<dyn Counter>("unix", counters()).unwrap_err();
    assert!(error.to_string().contains("default"), "{error}");
}
