//! What a connection promises when things go wrong: a release that is really
//! synchronous, nothing left behind by a failed call, a close that survives
//! panicking `Drop`s, errors that keep their kind, deadlines that hold, and a
//! listener that serves only its own user.

mod common;

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{BOUND, Counter, Lab, LabError, LocalCounter, Mode, eventually};
use multiprocess::ipc_interface;

child_entry!();

#[test]
fn the_last_proxy_s_drop_returns_after_the_owner_s_drop_even_right_after_another_thread_s_call() {
    for (mode, rounds) in [(Mode::Pair, 2000), (Mode::Process, 300)] {
        let remote = common::remote(mode);
        let lab = remote.lab();
        for id in 0..rounds {
            let counter: Arc<dyn Counter> = Arc::from(lab.make_counter(id));
            let other = counter.clone();
            // Another thread's call returns...
            thread::scope(|scope| {
                scope.spawn(move || assert_eq!(other.add(1), 1));
            });
            // ...and the last proxy goes: the owner's Drop has run when drop returns.
            drop(counter);
            assert!(lab.counters_dropped().contains(&id), "{mode:?}: round {id}: counter still alive after its drop");
        }
    }
}

/// Hands a shared object back while keeping another reference to it.
#[ipc_interface]
pub trait Bouncer: Send + Sync {
    fn bounce(&self, counter: Arc<dyn Counter>) -> Arc<dyn Counter>;
    fn forget(&self);
}

#[derive(Default)]
struct LocalBouncer {
    kept: Mutex<Option<Arc<dyn Counter>>>,
}

impl Bouncer for LocalBouncer {
    fn bounce(&self, counter: Arc<dyn Counter>) -> Arc<dyn Counter> {
        *self.kept.lock().unwrap() = Some(counter.clone());
        counter
    }
    fn forget(&self) {
        drop(self.kept.lock().unwrap().take());
    }
}

#[test]
fn a_shared_object_handed_back_is_released_without_parking_a_thread() {
    let bouncer = multiprocess::pair::<dyn Bouncer>(Box::new(LocalBouncer::default())).unwrap();
    let connection = multiprocess::connection_of(&*bouncer).unwrap();
    let local: Arc<dyn Counter> = Arc::new(LocalCounter::new(7));
    // A thread sends it, gets it back (the same object), and ends.
    thread::scope(|scope| {
        scope.spawn(|| {
            let back = bouncer.bounce(local.clone());
            assert!(Arc::ptr_eq(&back, &local), "it came home as itself");
        });
    });
    assert_eq!(connection.stats().exported_objects, 1, "the peer still holds it");
    // The peer lets go of its last reference: the object comes back to us,
    // although the thread that sent it will never call again.
    bouncer.forget();
    // Released off the reader thread: the table lets go first, the dropper thread then.
    eventually("the export to be released and dropped", || {
        connection.stats().exported_objects == 0 && Arc::strong_count(&local) == 1
    });
}

#[test]
fn a_call_refused_before_or_after_it_left_takes_back_what_it_exported() {
    let config = multiprocess::Config { max_frame_bytes: 4096, ..Default::default() };
    let lab = multiprocess::pair_with::<dyn Lab>(Box::new(common::LocalLab::default()), config).unwrap();
    let connection = multiprocess::connection_of(&*lab).unwrap();
    // Too large to send: a callback and a big vector.
    let big: Vec<Box<dyn Counter>> = (0..2000).map(|id| Box::new(LocalCounter::new(id)) as Box<dyn Counter>).collect();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lab.total(big, None)));
    let message = outcome.unwrap_err().downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("exceeds the maximum"), "{message}");
    assert_eq!(connection.stats().exported_objects, 0, "nothing left behind by a call that never left");
    assert_eq!(lab.pid(), std::process::id(), "the connection goes on");
}

struct Explosive(Arc<AtomicU64>);

impl Counter for Explosive {
    fn id(&self) -> u64 {
        0
    }
    fn add(&self, _: u64) -> u64 {
        0
    }
}

impl Drop for Explosive {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("a Drop that panics");
    }
}

#[test]
fn a_panicking_drop_does_not_stop_a_close() {
    let lab = multiprocess::pair::<dyn Lab>(Box::new(common::LocalLab::default())).unwrap();
    let connection = multiprocess::connection_of(&*lab).unwrap();
    let drops = Arc::new(AtomicU64::new(0));
    let recorded = Arc::new(Mutex::new(Vec::new()));
    lab.keep_counter(Box::new(LocalCounter::recording(1, &recorded)));
    lab.keep_counter(Box::new(Explosive(drops.clone())));
    lab.keep_counter(Box::new(LocalCounter::recording(3, &recorded)));
    assert_eq!(connection.stats().exported_objects, 3);
    connection.close();
    assert!(matches!(connection.wait_closed(BOUND), Some(Ok(()))), "the outcome is recorded");
    eventually("every orphan to be dropped", || recorded.lock().unwrap().len() == 2);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(connection.stats().exported_objects, 0);
}

#[test]
fn a_reply_too_large_is_frame_too_large_and_the_next_call_works() {
    let config = multiprocess::Config { max_frame_bytes: 1 << 20, ..Default::default() };
    let lab = multiprocess::pair_with::<dyn Lab>(Box::new(common::LocalLab::default()), config).unwrap();
    let calculator = lab.calculator();
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| calculator.swap((1, Some("x".repeat(2 << 20))))));
    let message = outcome.unwrap_err().downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("exceeds the maximum"), "the error keeps its kind: {message}");
    assert_eq!(calculator.add(2, 3), 5, "and the connection is fine");
}

/// Keeps an `FnMut` callback and calls it when asked.
#[ipc_interface]
pub trait Keeper: Send + Sync {
    fn keep(&self, callback: Box<dyn FnMut(u32) + Send>);
    /// Whether the call got through (a panic of the callback is caught here).
    fn run(&self, value: u32) -> bool;
}

type Kept = Box<dyn FnMut(u32) + Send>;

#[derive(Default)]
struct LocalKeeper(Mutex<Option<Kept>>);

impl Keeper for LocalKeeper {
    fn keep(&self, callback: Box<dyn FnMut(u32) + Send>) {
        *self.0.lock().unwrap() = Some(callback);
    }
    fn run(&self, value: u32) -> bool {
        let mut kept = self.0.lock().unwrap();
        let callback = kept.as_mut().expect("kept");
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(value))).is_ok()
    }
}

#[test]
fn an_fn_mut_callback_that_panicked_runs_again() {
    let keeper = multiprocess::pair::<dyn Keeper>(Box::new(LocalKeeper::default())).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    keeper.keep(Box::new(move |value| {
        if value == 1 {
            panic!("the first call panics");
        }
        record.lock().unwrap().push(value);
    }));
    assert!(!keeper.run(1), "the panic reached the caller");
    assert!(keeper.run(2), "and the callback runs again, not 'already running'");
    assert!(keeper.run(3));
    assert_eq!(*seen.lock().unwrap(), [2, 3]);
}

#[test]
fn a_call_past_its_deadline_fails_and_its_late_reply_is_never_taken_for_another() {
    common::every_mode(|mode, remote| {
        let lab = remote.lab();
        assert!(multiprocess::set_call_timeout(lab, Some(Duration::from_millis(300))));
        let started = Instant::now();
        let outcome = lab.block();
        assert!(started.elapsed() < BOUND / 2, "{mode:?}: waited {:?}", started.elapsed());
        assert!(
            matches!(&outcome, Err(LabError::Other(message)) if message.contains("did not answer in time")),
            "{mode:?}: {outcome:?}"
        );
        // A method without `Result` panics, naming itself and the cause.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lab.wait_for_release()));
        let message = caught.unwrap_err().downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("Lab.wait_for_release") && message.contains("did not answer in time"), "{message}");
        // Let both blocked calls finish late; their replies go nowhere.
        assert!(multiprocess::set_call_timeout(lab, None));
        eventually("both calls to be blocked", || lab.waiting() == 2);
        // The gate lets one waiter through at a time.
        eventually("the calls to finish", || {
            lab.release();
            lab.waiting() == 0
        });
        // The next call on this thread gets its own reply.
        assert_eq!(lab.pid(), lab.pid());
        assert_eq!(lab.get_local(), 0, "{mode:?}: a new channel, so a new partner thread");
    });
}

#[test]
fn a_connection_s_call_timeout_applies_to_every_proxy_unless_one_says_otherwise() {
    let config = multiprocess::Config { call_timeout: Some(Duration::from_millis(200)), ..Default::default() };
    let lab = multiprocess::pair_with::<dyn Lab>(Box::new(common::LocalLab::default()), config).unwrap();
    assert_eq!(multiprocess::call_timeout(&*lab), Some(Duration::from_millis(200)));
    let counter = lab.make_counter(1);
    assert_eq!(
        multiprocess::call_timeout(&*counter),
        Some(Duration::from_millis(200)),
        "inherited from the connection"
    );
    assert!(matches!(lab.block(), Err(LabError::Other(message)) if message.contains("did not answer in time")));
    lab.release();
    let local: Box<dyn Counter> = Box::new(LocalCounter::new(1));
    assert!(!multiprocess::set_call_timeout(&*local, None), "a local object has no calls to time out");
}

#[cfg(unix)]
#[test]
fn a_listener_serves_only_its_own_user_by_default_from_a_socket_no_one_else_could_reach() {
    let dir = std::env::temp_dir().join(format!("mp-robust-{}", std::process::id()));
    let path = dir.join("own.sock");
    let address = format!("unix:{}", path.display());
    let uid = rustix::process::geteuid().as_raw();
    let listener = multiprocess::listen::<dyn Lab>(&address, || Box::new(common::LocalLab::default())).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert_eq!(entries, ["own.sock"], "no private binding directory left behind");
    let lab = multiprocess::connect::<dyn Lab>(&address).expect("our own user is served");
    assert_eq!(lab.pid(), std::process::id());
    drop(lab);
    drop(listener);

    let options = multiprocess::ListenOptions {
        allowed_users: multiprocess::AllowedUsers::Only(vec![uid.wrapping_add(1)]),
        ..Default::default()
    };
    let listener =
        multiprocess::listen_with::<dyn Lab>(&address, options, || Box::new(common::LocalLab::default())).unwrap();
    let refused = multiprocess::connect::<dyn Lab>(&address);
    assert!(refused.is_err(), "another user's listener refuses us");
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_socket_not_made_by_the_parent_the_variable_names_is_not_adopted() {
    // A socket this test made, handed to a child that is told another process made it.
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    rustix::io::fcntl_setfd(&theirs, rustix::io::FdFlags::empty()).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&theirs);
    let mut ours = Some(ours);
    for (claimed_parent, adopted) in [(1, false), (std::process::id(), true)] {
        if adopted {
            // Our end closed, the child's handshake ends at once once it adopts.
            drop(ours.take());
        }
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "adoption_entry", "--nocapture", "--test-threads=1", "-q"])
            .env(multiprocess::FD_VARIABLE, format!("{fd}:{claimed_parent}"))
            .env("MULTIPROCESS_TEST_ADOPTION", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let expected = if adopted { "adopted" } else { "not spawned" };
        assert!(stdout.contains(expected), "claimed parent {claimed_parent}: {stdout}");
    }
    drop(theirs);
}

#[cfg(unix)]
/// Reports whether `serve_process` adopts the inherited socket; the test above
/// closes its end, so adopting returns at once.
#[test]
fn adoption_entry() {
    if std::env::var_os("MULTIPROCESS_TEST_ADOPTION").is_none() {
        return;
    }
    let outcome = multiprocess::serve_process::<dyn Lab>(Box::new(common::LocalLab::default()));
    match outcome {
        Err(multiprocess::Error::NotSpawned) => println!("not spawned"),
        _ => println!("adopted"),
    }
    std::process::exit(0);
}
