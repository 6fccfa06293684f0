//! The lifecycle a libmultiprocess user relies on: disconnect callbacks,
//! sockets handed in (socket activation), "am I a child", the guard against
//! a program that spawns itself for ever, a listener's `wait`, and a
//! `Spawned` whose drop waits no longer than asked.
#![cfg(unix)]

use std::{
    os::unix::{net::UnixListener, process::CommandExt},
    process::{Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use multiprocess::{Error, ipc_interface};

const BOUND: Duration = Duration::from_secs(20);

#[ipc_interface(name = "lifecycle.Probe")]
pub trait Probe: Send + Sync {
    fn pid(&self) -> u32;
    fn is_child(&self) -> bool;
}

struct LocalProbe;

impl Probe for LocalProbe {
    fn pid(&self) -> u32 {
        std::process::id()
    }
    fn is_child(&self) -> bool {
        multiprocess::is_child()
    }
}

/// What this test binary does when it runs as a child.
const ROLE: &str = "LIFECYCLE_TEST_ROLE";

fn child(role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command.args(["--exact", "child_entry", "--nocapture", "--test-threads=1", "-q"]).env(ROLE, role);
    command
}

#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        // Run as a test: this process was not spawned.
        assert!(!multiprocess::is_child());
        assert!(matches!(multiprocess::serve_if_child::<dyn Probe>(|| panic!("not a child")), Ok(false)));
        return;
    };
    match role.as_str() {
        // A child that knows it is one, and serves.
        "serve" => {
            assert!(multiprocess::is_child(), "spawned by spawn_process");
            let served = multiprocess::serve_if_child::<dyn Probe>(|| Box::new(LocalProbe));
            assert!(matches!(served, Ok(true)), "{served:?}");
            assert!(!multiprocess::is_child(), "the connection is taken");
        }
        // Prints whether it thinks it is a child.
        "ask" => println!("is_child={}", multiprocess::is_child()),
        // The bug the guard is for: a program that spawns itself instead of serving.
        "runaway" => {
            let outcome = multiprocess::spawn_process::<dyn Probe>(child("runaway"));
            if let Err(Error::Spawn { message, .. }) = &outcome {
                println!("refused: {message}");
            }
            std::process::exit(3);
        }
        // Serves, then lingers long after its parent has gone.
        "linger" => {
            let _ = multiprocess::serve_process::<dyn Probe>(Box::new(LocalProbe));
            std::thread::sleep(Duration::from_secs(120));
        }
        // Serves a probe on the socket the "service manager" passed.
        "activated" => {
            let mut sockets = multiprocess::activated_sockets().expect("the activated sockets");
            assert_eq!(sockets.len(), 1);
            assert!(multiprocess::activated_sockets().unwrap().is_empty(), "handed out once");
            let listener = multiprocess::listen_socket::<dyn Probe>(sockets.pop().unwrap(), Default::default(), || {
                Box::new(LocalProbe)
            })
            .expect("listen on the activated socket");
            println!("listening {}", listener.address());
            let _ = listener.wait_timeout(BOUND);
        }
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mp-lifecycle-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_spawned_child_knows_it_is_one_and_serves() {
    let spawned = multiprocess::spawn_process::<dyn Probe>(child("serve")).expect("spawn");
    assert_eq!(spawned.remote().pid(), spawned.pid());
    assert!(!spawned.remote().is_child(), "once serving, the connection is taken");
    assert!(spawned.shutdown().expect("the child's status").success());
}

#[test]
fn a_process_given_the_variable_by_hand_is_not_a_child() {
    for value in ["5:1", "3:1", "0:0", "garbage", &format!("4:{}", std::process::id())] {
        let output = child("ask").env(multiprocess::FD_VARIABLE, value).stderr(Stdio::null()).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("is_child=false"), "{value}: {stdout}");
    }
}

#[test]
fn a_program_that_spawns_itself_for_ever_is_stopped_at_the_depth_limit() {
    let started = Instant::now();
    let output = child("runaway").stderr(Stdio::null()).output().expect("run the runaway");
    assert!(started.elapsed() < BOUND * 3, "the chain ends");
    // Each level exits with 3 after its own child exits, the deepest one first.
    assert_eq!(output.status.code(), Some(3));
    let output = child("runaway")
        .env(multiprocess::DEPTH_VARIABLE, multiprocess::MAX_SPAWN_DEPTH.to_string())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("refused: ") && stdout.contains("is_child()"), "{stdout}");
}

#[test]
fn dropping_a_spawned_child_waits_no_longer_than_its_exit_timeout() {
    let mut spawned = multiprocess::spawn_process::<dyn Probe>(child("linger")).expect("spawn");
    assert_eq!(spawned.remote().pid(), spawned.pid());
    spawned.set_exit_timeout(Duration::from_millis(100));
    let started = Instant::now();
    let status = spawned.shutdown().expect("a status");
    // The child would have slept two minutes: it was killed, not waited for.
    assert!(!status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(60));

    let mut spawned = multiprocess::spawn_process::<dyn Probe>(child("linger")).expect("spawn");
    let pid = spawned.pid();
    spawned.set_exit_timeout(Duration::ZERO);
    drop(spawned);
    // Reaped: no such process (not even a zombie) any more.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists() || cfg!(not(target_os = "linux")));
}

#[test]
fn on_disconnect_runs_once_and_can_be_removed() {
    let probe = multiprocess::pair::<dyn Probe>(Box::new(LocalProbe)).unwrap();
    let connection = multiprocess::connection_of(&*probe).unwrap();
    let (tell, told) = mpsc::channel();
    let runs = Arc::new(Mutex::new(0));
    let counted = runs.clone();
    let watched = connection.clone();
    connection.on_disconnect(move || {
        *counted.lock().unwrap() += 1;
        tell.send(watched.wait_closed(Duration::ZERO)).unwrap();
    });
    let removed = connection.on_disconnect(|| panic!("removed"));
    assert!(connection.remove_on_disconnect(&removed));
    assert!(!connection.remove_on_disconnect(&removed));
    let also_removed = connection.on_disconnect(|| panic!("removed too"));
    assert!(also_removed.clone().remove());
    assert!(!also_removed.remove());
    drop(probe);
    connection.close();
    let why = told.recv_timeout(BOUND).expect("the callback ran");
    assert!(matches!(why, Some(Ok(()))), "an orderly close, known inside the callback: {why:?}");
    connection.close();
    assert_eq!(*runs.lock().unwrap(), 1);

    // Registered after the close: runs at once, on this thread.
    let here = std::thread::current().id();
    let (tell, told) = mpsc::channel();
    connection.on_disconnect(move || tell.send(std::thread::current().id()).unwrap());
    assert_eq!(told.try_recv(), Ok(here));
}

#[test]
fn on_disconnect_tells_that_a_killed_child_went_away() {
    let spawned = multiprocess::spawn_process::<dyn Probe>(child("serve")).expect("spawn");
    let (tell, told) = mpsc::channel();
    spawned.connection().on_disconnect(move || tell.send(()).unwrap());
    spawned.kill().unwrap();
    told.recv_timeout(BOUND).expect("the callback ran");
    // A vanished peer is an end of stream, as an exit is: `Ok(())`.
    assert!(matches!(spawned.connection().wait_closed(Duration::ZERO), Some(Ok(()))));
}

#[test]
fn a_listener_serves_a_unix_socket_it_was_handed_and_leaves_its_file() {
    let dir = temp_dir("handed");
    let path = dir.join("probe.sock");
    let socket = UnixListener::bind(&path).unwrap();
    let listener = multiprocess::listen_socket::<dyn Probe>(socket.into(), Default::default(), || Box::new(LocalProbe))
        .expect("listen");
    assert_eq!(listener.address(), format!("unix:{}", path.display()));
    assert_eq!(listener.path(), None, "not ours to remove");
    let probe = multiprocess::connect::<dyn Probe>(listener.address()).unwrap();
    assert_eq!(probe.pid(), std::process::id());
    drop(probe);
    drop(listener);
    assert!(path.exists(), "the file belongs to whoever bound it");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_socket_that_is_not_listening_or_tcp_without_a_secret_is_refused() {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let refused = multiprocess::listen_socket::<dyn Probe>(a.into(), Default::default(), || Box::new(LocalProbe));
    assert!(
        matches!(&refused, Err(Error::Address { message, .. }) if message.contains("not listening")),
        "{refused:?}"
    );
    let file = std::fs::File::open("/dev/null").unwrap();
    let refused = multiprocess::listen_socket::<dyn Probe>(file.into(), Default::default(), || Box::new(LocalProbe));
    assert!(matches!(refused, Err(Error::Address { .. })), "{refused:?}");
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = multiprocess::listen_socket::<dyn Probe>(tcp.into(), Default::default(), || Box::new(LocalProbe));
    assert!(matches!(&refused, Err(Error::Address { message, .. }) if message.contains("secret")), "{refused:?}");

    let secret = multiprocess::Secret::generate().unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let options = multiprocess::ListenOptions { secret: Some(secret.clone()), ..Default::default() };
    let listener = multiprocess::listen_socket::<dyn Probe>(tcp.into(), options, || Box::new(LocalProbe)).unwrap();
    let options = multiprocess::ConnectOptions { secret: Some(secret), ..Default::default() };
    let probe = multiprocess::connect_with::<dyn Probe>(listener.address(), options).unwrap();
    assert_eq!(probe.pid(), std::process::id());
}

#[test]
fn socket_activation_hands_the_listening_socket_to_the_service() {
    assert!(multiprocess::activated_sockets().unwrap().is_empty(), "this test process was not activated");
    let dir = temp_dir("activated");
    let path = dir.join("probe.sock");
    let socket = UnixListener::bind(&path).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    // As systemd does: the socket as descriptor 3, LISTEN_FDS=1 and
    // LISTEN_PID the service's own pid (the shell's, which `exec` keeps).
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\""])
        .arg(exe)
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, "activated")
        .stdout(Stdio::piped());
    // SAFETY: dup2 is async-signal-safe; it runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it by hand then.
            let moved = if fd == 3 { libc::fcntl(3, libc::F_SETFD, 0) } else { libc::dup2(fd, 3) };
            if moved < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut service = command.spawn().expect("start the service");
    drop(socket);
    let stdout = service.stdout.take().unwrap();
    let (tell, told) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let line = std::io::BufReader::new(stdout).lines().map_while(Result::ok).find(|l| l.starts_with("listening "));
        let _ = tell.send(line);
    });
    let line = told.recv_timeout(BOUND).ok().flatten().expect("the service says where it listens");
    assert_eq!(line, format!("listening unix:{}", path.display()));
    let probe = multiprocess::connect::<dyn Probe>(&format!("unix:{}", path.display())).expect("connect");
    let service_pid = probe.pid();
    assert_eq!(service_pid, service.id(), "served by the activated process");
    drop(probe);
    let _ = service.kill();
    let _ = service.wait();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wait_returns_once_another_thread_stops_the_listener() {
    let dir = temp_dir("wait");
    let address = format!("unix:{}", dir.join("probe.sock").display());
    let listener = multiprocess::listen::<dyn Probe>(&address, || Box::new(LocalProbe)).unwrap();
    assert!(!listener.wait_timeout(Duration::from_millis(1)));
    let probe = multiprocess::connect::<dyn Probe>(&address).unwrap();
    let stopper = listener.stopper();
    let stopping = std::thread::spawn(move || stopper.stop());
    listener.wait();
    stopping.join().unwrap();
    assert!(listener.is_stopped());
    assert!(listener.path().is_some_and(|path| !path.exists()), "the socket file is gone");
    assert!(matches!(multiprocess::connect::<dyn Probe>(&address), Err(Error::Connect { .. })));
    assert_eq!(probe.pid(), std::process::id(), "the connection made before carries on");
    drop(probe);
    drop(listener);

    // `run` is `wait` that consumes the listener.
    let listener = multiprocess::listen::<dyn Probe>(&address, || Box::new(LocalProbe)).unwrap();
    let stopper = listener.stopper();
    let stopping = std::thread::spawn(move || stopper.stop());
    listener.run();
    stopping.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
