//! What only real processes can show: killed children and parents, inherited
//! descriptors, and what spawning does when it cannot.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use common::{BOUND, Lab, LabError, LocalCounter, Mode, child_command, eventually, remote};

child_entry!();

/// Set in the environment of a process that should act as a middle parent.
const MIDDLE: &str = "MULTIPROCESS_TEST_MIDDLE";

/// As a middle parent, spawns a child, prints its pid, and waits to be killed.
/// Run as a test, checks that a missing executable is an error naming it.
#[test]
fn missing_executable_or_middle_parent() {
    if std::env::var_os(MIDDLE).is_some() {
        let spawned = multiprocess::spawn_process::<dyn Lab>(child_command()).expect("spawn the grandchild");
        println!("child {}", spawned.remote().pid());
        thread::sleep(BOUND * 3);
        std::process::exit(1);
    }
    let missing = "/nonexistent/multiprocess-test-binary";
    let error = multiprocess::spawn_process::<dyn Lab>(Command::new(missing)).unwrap_err();
    assert!(matches!(&error, multiprocess::Error::Spawn { path, .. } if path == missing), "{error:?}");
    assert!(error.to_string().contains(missing));
}

#[test]
fn a_child_that_exits_before_the_handshake_reports_its_status() {
    let mut command = if cfg!(windows) { Command::new("cmd") } else { Command::new("sh") };
    command.args(if cfg!(windows) { ["/C", "exit 3"] } else { ["-c", "exit 3"] });
    let error = multiprocess::spawn_process::<dyn Lab>(command).unwrap_err();
    let multiprocess::Error::ChildExited { status } = &error else { panic!("{error:?}") };
    assert!(status.contains('3'), "{status}");
}

#[test]
fn killing_the_child_during_a_call_disconnects_the_caller_and_drops_what_it_held() {
    let spawned = match remote(Mode::Process) {
        common::Remote::Process(spawned) => spawned,
        _ => unreachable!(),
    };
    let drops = Arc::new(Mutex::new(Vec::new()));
    spawned.remote().keep_counter(Box::new(LocalCounter::recording(1, &drops)));
    spawned.remote().keep(Arc::new(|x| x));
    let connection = spawned.connection().clone();
    assert_eq!(connection.stats().exported_objects, 2);
    let outcome = thread::scope(|scope| {
        let call = scope.spawn(|| spawned.remote().block());
        eventually("the call to block in the child", || spawned.remote().waiting() == 1);
        spawned.kill().unwrap();
        call.join().unwrap()
    });
    assert_eq!(outcome, Err(LabError::Disconnected));
    assert!(connection.wait_closed(BOUND).is_some());
    eventually("the parent to drop what the child held", || drops.lock().unwrap().len() == 1);
    assert_eq!(connection.stats().exported_objects, 0);
}

#[cfg(target_os = "linux")]
#[test]
fn a_child_whose_parent_is_killed_exits_by_itself() {
    let mut middle = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "missing_executable_or_middle_parent", "--nocapture", "--test-threads=1", "-q"])
        .env(MIDDLE, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(middle.stdout.take().unwrap()));
    let grandchild: u32 = lines
        .find_map(|line| line.ok()?.strip_prefix("child ")?.parse().ok())
        .expect("the middle parent reports its child");
    middle.kill().unwrap();
    middle.wait().unwrap();
    eventually("the orphaned child to exit", || !alive(grandchild));
}

#[cfg(target_os = "linux")]
/// Whether a process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.rsplit(") ").next().unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}

#[cfg(target_os = "linux")]
#[test]
fn the_child_inherits_only_stdio_and_its_socket() {
    // Descriptors of ours that a careless spawn would leak: opened before the
    // spawn and made inheritable (std opens everything close-on-exec, so only
    // the sealing between fork and exec keeps these from the child).
    let file = std::fs::File::open("/dev/null").unwrap();
    let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    for fd in [std::os::fd::AsFd::as_fd(&file), std::os::fd::AsFd::as_fd(&socket)] {
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).unwrap();
    }
    let spawned = match remote(Mode::Process) {
        common::Remote::Process(spawned) => spawned,
        _ => unreachable!(),
    };
    let inherited = spawned.remote().inherited_fds();
    let numbers: Vec<u32> = inherited.iter().map(|(fd, _)| *fd).collect();
    assert_eq!(&numbers[..3], &[0, 1, 2], "{inherited:?}");
    assert_eq!(numbers.len(), 4, "stdio and one socket: {inherited:?}");
    assert!(inherited[3].1.starts_with("socket:"), "{inherited:?}");
}
