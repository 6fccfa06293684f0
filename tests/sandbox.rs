//! A child confined by the `Sandbox` its parent gives it: it cannot write
//! outside its allowance, execute a program or open a TCP socket, and it
//! still serves calls, callbacks and new calling threads. Linux (landlock and
//! seccomp).

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;

use multiprocess::{Error, Sandbox, Spawned, ipc_interface};

/// An I/O error's text, or why the call failed.
#[derive(Debug, Clone, multiprocess::Serialize, multiprocess::Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Failure(pub String);

impl From<multiprocess::Error> for Failure {
    fn from(error: multiprocess::Error) -> Failure {
        Failure(error.to_string())
    }
}

#[ipc_interface]
pub trait Probe: Send + Sync {
    /// Whether the child says it is confined.
    fn confined(&self) -> bool;
    /// Creates `path` and writes to it.
    fn write(&self, path: String) -> Result<(), Failure>;
    /// Reads `path`; its length.
    fn read(&self, path: String) -> Result<usize, Failure>;
    /// Runs `program`.
    fn exec(&self, program: String) -> Result<(), Failure>;
    /// Connects to `address` over TCP.
    fn connect_tcp(&self, address: String) -> Result<(), Failure>;
    /// Listens on a loopback TCP port.
    fn listen_tcp(&self) -> Result<(), Failure>;
    /// Calls `callback` with `value`.
    fn call_back(&self, value: u32, callback: Box<dyn Fn(u32) -> u32 + Send + Sync>) -> u32;
}

struct Local;

fn text(error: std::io::Error) -> Failure {
    Failure(error.to_string())
}

impl Probe for Local {
    fn confined(&self) -> bool {
        multiprocess::sandbox::is_confined()
    }
    fn write(&self, path: String) -> Result<(), Failure> {
        std::fs::write(path, b"written").map_err(text)
    }
    fn read(&self, path: String) -> Result<usize, Failure> {
        std::fs::read(path).map(|bytes| bytes.len()).map_err(text)
    }
    fn exec(&self, program: String) -> Result<(), Failure> {
        Command::new(program).status().map(drop).map_err(text)
    }
    fn connect_tcp(&self, address: String) -> Result<(), Failure> {
        std::net::TcpStream::connect(address).map(drop).map_err(text)
    }
    fn listen_tcp(&self) -> Result<(), Failure> {
        std::net::TcpListener::bind("127.0.0.1:0").map(drop).map_err(text)
    }
    fn call_back(&self, value: u32, callback: Box<dyn Fn(u32) -> u32 + Send + Sync>) -> u32 {
        callback(value)
    }
}

#[test]
fn child_entry() {
    let spawned = std::env::var_os(multiprocess::FD_VARIABLE).is_some();
    match multiprocess::serve_process::<dyn Probe>(Box::new(Local)) {
        Ok(()) if spawned => std::process::exit(0),
        Err(Error::NotSpawned) if !spawned => {}
        outcome => panic!("serve_process returned {outcome:?}"),
    }
}

/// A directory for one test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("multiprocess-sandbox-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("allowed")).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn child(sandbox: &Sandbox) -> Spawned<dyn Probe> {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command.args(["--exact", "child_entry", "--nocapture", "--test-threads=1", "-q"]);
    command.stdout(std::process::Stdio::null());
    sandbox.apply_to(&mut command).expect("this kernel confines");
    multiprocess::spawn_process::<dyn Probe>(command).expect("spawn the child")
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

fn status_line(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find(|line| line.starts_with(field)).unwrap_or_default().to_owned()
}

#[test]
fn this_system_can_confine_a_child() {
    Sandbox::supported().expect("landlock and seccomp are available here");
}

#[test]
fn a_confined_child_writes_only_where_allowed_execs_nothing_opens_no_tcp_socket_and_still_serves() {
    let dir = TempDir::new("limits");
    let allowed = dir.0.join("allowed");
    let spawned = child(&Sandbox::new().writable(&allowed));
    let probe = spawned.remote();
    assert!(probe.confined());

    probe.write(path(&allowed, "inside")).expect("writing inside the allowance works");
    assert_eq!(std::fs::read(allowed.join("inside")).unwrap(), b"written");
    let Failure(outside) = probe.write(path(&dir.0, "outside")).expect_err("writing outside fails");
    assert!(outside.contains("ermission denied"), "{outside}");
    assert!(!dir.0.join("outside").exists());
    assert!(probe.write(path(&std::env::temp_dir(), "multiprocess-sandbox-escape")).is_err());
    assert!(probe.read(std::env::current_exe().unwrap().to_str().unwrap().to_owned()).unwrap() > 0, "reads anywhere");

    let Failure(exec) = probe.exec("/bin/true".into()).expect_err("exec fails");
    assert!(exec.contains("ermission denied") || exec.contains("not permitted"), "{exec}");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let Failure(connect) =
        probe.connect_tcp(listener.local_addr().unwrap().to_string()).expect_err("a TCP connection fails");
    assert!(connect.contains("not permitted"), "{connect}");
    assert!(probe.listen_tcp().is_err(), "listening on TCP fails");

    // Still serving: callbacks, and new calling threads with new partner
    // threads in the child.
    assert_eq!(probe.call_back(41, Box::new(|x| x + 1)), 42);
    let dir = &dir;
    std::thread::scope(|scope| {
        for n in 0..8u32 {
            scope.spawn(move || {
                assert!(probe.confined());
                assert_eq!(probe.call_back(n, Box::new(|x| x * 2)), 2 * n);
                assert!(probe.write(path(&dir.0, &format!("thread-{n}"))).is_err());
            });
        }
    });

    // Seen from outside.
    let pid = spawned.pid();
    assert_eq!(status_line(pid, "Seccomp:"), "Seccomp:\t2", "a seccomp filter is on");
    assert_eq!(status_line(pid, "NoNewPrivs:"), "NoNewPrivs:\t1");
    spawned.shutdown().expect("the child exits cleanly");
}

#[test]
fn readable_directories_restrict_reads_and_allowances_open_what_they_name() {
    let dir = TempDir::new("reads");
    let allowed = dir.0.join("allowed");
    std::fs::write(dir.0.join("secret"), b"not for the child").unwrap();
    let spawned = child(&Sandbox::new().writable(&allowed).readable("/proc/self"));
    let probe = spawned.remote();
    probe.write(path(&allowed, "mine")).unwrap();
    assert_eq!(probe.read(path(&allowed, "mine")).unwrap(), 7, "the writable directory is readable");
    assert!(probe.read(path(&dir.0, "secret")).is_err(), "reading elsewhere fails");
    spawned.shutdown().unwrap();

    let open = child(&Sandbox::new().writable(&allowed).allow_exec().allow_network());
    let probe = open.remote();
    probe.exec("/bin/true".into()).expect("exec is allowed");
    probe.listen_tcp().expect("TCP is allowed");
    assert!(probe.write(path(&dir.0, "outside")).is_err(), "writes are still confined");
    open.shutdown().unwrap();
}

#[test]
fn a_sandbox_naming_a_missing_directory_is_refused_before_the_child_starts() {
    let mut command = Command::new("true");
    let error = Sandbox::new().writable("/no/such/directory/here").apply_to(&mut command).unwrap_err();
    assert!(matches!(&error, Error::Sandbox(message) if message.contains("/no/such/directory/here")), "{error}");
}
