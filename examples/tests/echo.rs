//! The echo programs, run as users run them: over a socketpair in one
//! process, across a child process, and between a server and a client that
//! meet at a Unix socket path or a TCP port. Every wait is bounded, and every
//! process is killed if it outlives its test.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any program here may take.
const BOUND: Duration = Duration::from_secs(20);

/// A fresh directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mp-examples-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `command` to the end, killing it after [`BOUND`].
fn run(command: &mut Command) -> Output {
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + BOUND;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} did not finish within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// A running `echo_server` and the lines it printed at start.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_echo_server"))
            .args(args)
            // A server started in the background of a script has no terminal;
            // it serves on all the same.
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Server { child, lines }
    }

    /// The next line the server prints, with `prefix` taken off.
    fn line(&self, prefix: &str) -> String {
        let line = self.lines.recv_timeout(BOUND).expect("the server prints a line");
        line.strip_prefix(prefix).unwrap_or_else(|| panic!("expected `{prefix}...`, got {line:?}")).to_owned()
    }

    /// Sends it `signal` (on Windows, where a console signal cannot be aimed
    /// at one child, kills it); returns how it exited and what it logged.
    fn stop_with(mut self, signal: i32) -> (ExitStatus, String) {
        #[cfg(unix)]
        // SAFETY: kill only sends a signal to our own child.
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, signal) }, 0);
        #[cfg(windows)]
        {
            let _ = signal;
            let _ = self.child.kill();
        }
        let deadline = Instant::now() + BOUND;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut log = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut log).unwrap();
        (status, log)
    }
}

impl Server {
    /// Stops it the way a service manager does, with SIGTERM.
    fn stop(self) -> (ExitStatus, String) {
        self.stop_with(SIGTERM)
    }
}

#[cfg(unix)]
const SIGTERM: i32 = libc::SIGTERM;
#[cfg(windows)]
const SIGTERM: i32 = 15;

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn echo_over_a_socketpair_logs_every_call() {
    let output = run(Command::new(env!("CARGO_BIN_EXE_echo")).args(["--debug=ipc", "round trip"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "round trip");
    assert!(String::from_utf8_lossy(&output.stderr).contains("recv Echo.echo(message: \"round trip\")"));
}

#[test]
fn echo_ipc_logs_both_processes() {
    let output = run(Command::new(env!("CARGO_BIN_EXE_echo_ipc")).args(["--debug=ipc", "hi there"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "hi there");
    let log = String::from_utf8_lossy(&output.stderr);
    // The executable without its extension, on Windows too.
    let prefix = "echo_ipc[";
    let pids: std::collections::BTreeSet<&str> =
        log.lines().filter_map(|line| line.strip_prefix(prefix)?.split(']').next()).collect();
    assert_eq!(pids.len(), 2, "lines from parent and child: {log}");
    assert!(log.contains("main: DEBUG send Echo.echo(message: \"hi there\")"), "{log}");
    assert!(log.contains("ipc:main: DEBUG recv Echo.echo(message: \"hi there\")"), "{log}");
    assert!(log.contains("child exited"), "the parent reaped the child and logged it: {log}");
}

/// `unix:PATH`, or on Windows a pipe name made from it.
fn local_address(scratch: &Scratch, file: &str) -> String {
    if cfg!(windows) {
        format!("unix:{}-{file}", scratch.0.file_name().unwrap().to_string_lossy())
    } else {
        format!("unix:{}", scratch.0.join(file).display())
    }
}

#[test]
fn server_and_client_meet_at_a_socket_path() {
    let scratch = Scratch::new("unix");
    let address = local_address(&scratch, "echo.sock");
    let server = Server::start(&["--ipcbind", &address, "--debug=ipc"]);
    assert_eq!(server.line("listening on "), address);
    let client = run(Command::new(env!("CARGO_BIN_EXE_echo_client")).args(["--ipcconnect", &address, "hello there"]));
    assert!(client.status.success(), "{}", String::from_utf8_lossy(&client.stderr));
    assert_eq!(String::from_utf8_lossy(&client.stdout).trim(), "hello there");
    // Still serving after standard input closed; stops on SIGTERM, cleanly.
    let (status, log) = server.stop();
    assert!(log.contains("recv Echo.echo(message: \"hello there\")"), "{log}");
    if cfg!(unix) {
        assert!(status.success(), "{status}: {log}");
        assert!(log.lines().all(|line| line.starts_with("echo_server")), "every line says which process: {log}");
        assert!(!scratch.0.join("echo.sock").exists(), "the server removed its socket");
    }
}

#[cfg(unix)]
#[test]
fn a_server_in_the_background_serves_until_sigint() {
    let scratch = Scratch::new("sigint");
    let address = local_address(&scratch, "echo.sock");
    let server = Server::start(&["--ipcbind", &address]);
    assert_eq!(server.line("listening on "), address);
    for message in ["one", "two"] {
        let client = run(Command::new(env!("CARGO_BIN_EXE_echo_client")).args(["--ipcconnect", &address, message]));
        assert_eq!(String::from_utf8_lossy(&client.stdout).trim(), message);
    }
    let (status, log) = server.stop_with(libc::SIGINT);
    assert!(status.success(), "{status}: {log}");
    assert!(!scratch.0.join("echo.sock").exists(), "the server removed its socket");
}

#[test]
fn rust_log_decides_when_set() {
    let echo = |rust_log: Option<&str>, args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_echo"));
        command.args(args).env_remove("RUST_LOG");
        if let Some(rust_log) = rust_log {
            command.env("RUST_LOG", rust_log);
        }
        let output = run(&mut command);
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert_eq!(echo(Some("off"), &["--debug=ipc", "quiet"]), "", "RUST_LOG=off silences --debug too");
    assert!(echo(Some("ipc=debug"), &["loud"]).contains("send Echo.echo(message: \"loud\")"));
    assert!(echo(None, &["--debug=ipc", "loud"]).contains("send Echo.echo(message: \"loud\")"));
    assert_eq!(echo(None, &["plain"]), "", "nothing at debug level without a category");
}

#[test]
fn server_and_client_meet_at_a_tcp_port_with_a_cookie() {
    let scratch = Scratch::new("tcp");
    let cookie = scratch.0.join("ipc.cookie");
    let cookie_arg = cookie.display().to_string();
    let server = Server::start(&["--ipcbind", "tcp:127.0.0.1:0", "--cookie", &cookie_arg]);
    let address = server.line("listening on ");
    assert!(address.starts_with("tcp:127.0.0.1:") && !address.ends_with(":0"), "{address}");
    assert_eq!(Path::new(&server.line("cookie ")), cookie);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cookie).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only the server's user may read the cookie");
    }
    let client = |args: &[&str]| run(Command::new(env!("CARGO_BIN_EXE_echo_client")).args(args));
    let echoed = client(&["--ipcconnect", &address, "--cookie", &cookie_arg, "over tcp"]);
    assert!(echoed.status.success(), "{}", String::from_utf8_lossy(&echoed.stderr));
    assert_eq!(String::from_utf8_lossy(&echoed.stdout).trim(), "over tcp");

    // Without the cookie, or with another, the client gets nothing.
    let refused = client(&["--ipcconnect", &address, "never"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("secret"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let forged = scratch.0.join("forged.cookie");
    std::fs::File::create(&forged).unwrap().write_all(&[b'a'; 64]).unwrap();
    let refused = client(&["--ipcconnect", &address, "--cookie", &forged.display().to_string(), "never"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("could not connect"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!String::from_utf8_lossy(&refused.stdout).contains("never"));

    let (status, log) = server.stop();
    if cfg!(unix) {
        assert!(status.success(), "{status}: {log}");
        assert!(!cookie.exists(), "the server removed its cookie");
    }
}
