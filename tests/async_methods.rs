//! `async fn` in interfaces: calls that never block an executor thread,
//! callbacks to an async caller, cancellation, deadlines and disconnects,
//! over `pair()` and across a child process (this test binary, started again).

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use multiprocess::{Error, Spawned, ipc_interface};

const BOUND: Duration = Duration::from_secs(10);

#[ipc_interface]
pub trait Service: Send + Sync {
    async fn echo(&self, value: u64) -> u64;
    async fn greet(&self, name: &str, punctuation: &[char]) -> String;
    /// Waits `ms`, then answers `value`.
    async fn later(&self, ms: u64, value: u64) -> Result<u64, Error>;
    /// Never finishes on its own; the drop of its future is counted.
    async fn hang(&self) -> Result<u32, Error>;
    /// How many `hang` futures were dropped unfinished.
    fn cancelled(&self) -> u64;
    /// Calls `callback` `times` times from the async method, and sums what it returned.
    async fn call_back(&self, times: u32, callback: Box<dyn Fn(u32) -> u32 + Send + Sync>) -> u32;
    /// An async method that calls a sync method of another proxy.
    async fn ask(&self, other: Box<dyn Constant>) -> u32;
    /// Returns an object.
    async fn constant(&self, value: u32) -> Box<dyn Constant>;
    /// Pushes onto the caller's vector (written back).
    async fn push(&self, values: &mut Vec<u32>, value: u32) -> usize;
    async fn refuse(&self, reason: String) -> Result<u32, Refused>;
    async fn panics(&self) -> u32;
    fn add(&self, a: u64, b: u64) -> u64;
    /// How many objects made by `constant` were dropped.
    fn dropped(&self) -> u64;
}

#[derive(Debug, PartialEq, multiprocess::Serialize, multiprocess::Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Refused(String);

impl From<Error> for Refused {
    fn from(error: Error) -> Self {
        Refused(error.to_string())
    }
}

#[ipc_interface]
pub trait Constant: Send + Sync {
    fn value(&self) -> u32;
}

struct Fixed(u32, #[allow(dead_code, reason = "held for its Drop")] Option<OnDrop>);

impl Constant for Fixed {
    fn value(&self) -> u32 {
        self.0
    }
}

#[derive(Default)]
struct Local {
    cancelled: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

/// Counts a `hang` future dropped before it finished.
struct OnDrop(Arc<AtomicU64>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[ipc_interface]
impl Service for Local {
    async fn echo(&self, value: u64) -> u64 {
        tokio::task::yield_now().await;
        value
    }

    async fn greet(&self, name: &str, punctuation: &[char]) -> String {
        format!("hello {name}{}", punctuation.iter().collect::<String>())
    }

    async fn later(&self, ms: u64, value: u64) -> Result<u64, Error> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(value)
    }

    async fn hang(&self) -> Result<u32, Error> {
        let _guard = OnDrop(self.cancelled.clone());
        std::future::pending::<()>().await;
        Ok(0)
    }

    fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::SeqCst)
    }

    async fn call_back(&self, times: u32, callback: Box<dyn Fn(u32) -> u32 + Send + Sync>) -> u32 {
        let mut sum = 0;
        for i in 0..times {
            sum += callback(i);
            tokio::task::yield_now().await;
        }
        sum
    }

    async fn ask(&self, other: Box<dyn Constant>) -> u32 {
        tokio::task::yield_now().await;
        other.value() + 1
    }

    async fn constant(&self, value: u32) -> Box<dyn Constant> {
        Box::new(Fixed(value, Some(OnDrop(self.dropped.clone()))))
    }

    async fn push(&self, values: &mut Vec<u32>, value: u32) -> usize {
        values.push(value);
        values.len()
    }

    async fn refuse(&self, reason: String) -> Result<u32, Refused> {
        Err(Refused(reason))
    }

    async fn panics(&self) -> u32 {
        panic!("deliberately")
    }

    fn add(&self, a: u64, b: u64) -> u64 {
        a + b
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }
}

#[test]
fn child_entry() {
    let spawned = std::env::var_os(multiprocess::FD_VARIABLE).is_some();
    match multiprocess::serve_process::<dyn Service>(Box::new(Local::default())) {
        Ok(()) if spawned => std::process::exit(0),
        Err(Error::NotSpawned) if !spawned => {}
        outcome => panic!("serve_process returned {outcome:?}"),
    }
}

enum Remote {
    Pair(Box<dyn Service>),
    Process(Spawned<dyn Service>),
}

impl Remote {
    fn service(&self) -> &(dyn Service + 'static) {
        match self {
            Remote::Pair(service) => &**service,
            Remote::Process(spawned) => spawned.remote(),
        }
    }
}

fn child() -> Spawned<dyn Service> {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command.args(["--exact", "child_entry", "--nocapture", "--test-threads=1", "-q"]);
    command.stdout(std::process::Stdio::null());
    multiprocess::spawn_process::<dyn Service>(command).expect("spawn the child")
}

fn remotes() -> Vec<(&'static str, Remote)> {
    vec![
        ("pair", Remote::Pair(multiprocess::pair::<dyn Service>(Box::new(Local::default())).expect("pair"))),
        ("process", Remote::Process(child())),
    ]
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_references_objects_write_backs_and_errors_cross() {
    for (mode, remote) in remotes() {
        let service = remote.service();
        assert_eq!(service.echo(42).await, 42, "{mode}");
        assert_eq!(service.greet("world", &['!', '?']).await, "hello world!?", "{mode}");
        assert_eq!(service.later(1, 9).await.expect("in time"), 9, "{mode}");
        let constant = service.constant(11).await;
        assert_eq!(constant.value(), 11, "{mode}");
        assert_eq!(service.ask(Box::new(Fixed(4, None))).await, 5, "{mode}: an async method calls a sync proxy");
        let mut values = vec![1, 2];
        assert_eq!(service.push(&mut values, 3).await, 3, "{mode}");
        assert_eq!(values, [1, 2, 3], "{mode}: written back");
        assert_eq!(service.refuse("no".into()).await, Err(Refused("no".to_owned())), "{mode}");
        assert_eq!(service.add(2, 3), 5, "{mode}: a sync method on the same proxy");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_async_method_is_a_remote_panic_and_the_connection_goes_on() {
    for (mode, remote) in remotes() {
        let service = Arc::new(remote);
        let task = tokio::spawn({
            let service = service.clone();
            async move { service.service().panics().await }
        });
        let panic = task.await.expect_err("the caller panics as for a sync method");
        let message = panic.into_panic();
        let message = message.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("deliberately"), "{mode}: {message}");
        assert_eq!(service.service().echo(1).await, 1, "{mode}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_from_64_tasks_on_one_proxy_each_get_their_own_reply() {
    for (mode, remote) in remotes() {
        let service: Arc<Remote> = Arc::new(remote);
        let tasks: Vec<_> = (0..64u64)
            .map(|task| {
                let service = service.clone();
                tokio::spawn(async move {
                    let mut answered = 0;
                    for call in 0..16u64 {
                        let value = task * 1000 + call;
                        if call % 3 == 0 {
                            assert_eq!(service.service().later(1, value).await.expect("answered"), value);
                        } else {
                            assert_eq!(service.service().echo(value).await, value);
                        }
                        answered += 1;
                    }
                    answered
                })
            })
            .collect();
        let mut answered = 0;
        for task in tasks {
            answered += task.await.expect("no task panicked");
        }
        assert_eq!(answered, 1024, "{mode}");
        let stats = multiprocess::connection_of(service.service()).unwrap().stats();
        assert!(stats.partner_threads <= 4, "{mode}: async calls hold no thread each: {stats:?}");
    }
}

#[test]
fn a_current_thread_runtime_serves_callbacks_while_it_waits() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for (mode, remote) in remotes() {
            let caller = std::thread::current().id();
            let sum = remote.service().call_back(5, Box::new(move |i| i * 10)).await;
            assert_eq!(sum, 100, "{mode}");
            assert_eq!(std::thread::current().id(), caller);
        }
    });
    // The callee's tasks on the caller's own single thread as well.
    runtime.block_on(async {
        let config = multiprocess::Config { runtime: Some(tokio::runtime::Handle::current()), ..Default::default() };
        let service = multiprocess::pair_with::<dyn Service>(Box::new(Local::default()), config).unwrap();
        let calls = Arc::new(AtomicU64::new(0));
        let counted = calls.clone();
        let sum = service
            .call_back(
                3,
                Box::new(move |i| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    i
                }),
            )
            .await;
        assert_eq!((sum, calls.load(Ordering::SeqCst)), (3, 3));
        assert_eq!(service.later(5, 1).await.expect("answered"), 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_future_cancels_the_call_and_the_callee_drops_its_future() {
    for (mode, remote) in remotes() {
        let service = remote.service();
        let before = service.cancelled();
        let outcome = tokio::time::timeout(Duration::from_millis(50), service.hang()).await;
        assert!(outcome.is_err(), "{mode}: the timeout fired");
        eventually("the callee to drop the cancelled future", || service.cancelled() == before + 1).await;
        // A timeout around a call that finishes in time changes nothing.
        let outcome = tokio::time::timeout(BOUND, service.later(1, 3)).await;
        assert_eq!(outcome.expect("in time").expect("answered"), 3, "{mode}");
        // A call abandoned before it was polled never reaches the callee.
        drop(service.hang());
        assert_eq!(service.echo(8).await, 8, "{mode}");
        assert_eq!(service.cancelled(), before + 1, "{mode}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_call_timeout_applies_to_async_calls() {
    for (mode, remote) in remotes() {
        let service = remote.service();
        let before = service.cancelled();
        multiprocess::set_call_timeout(service, Some(Duration::from_millis(50)));
        let started = Instant::now();
        let outcome = service.hang().await;
        assert!(matches!(outcome, Err(Error::Timeout)), "{mode}: {outcome:?}");
        assert!(started.elapsed() < BOUND);
        eventually("the callee to drop the timed-out future", || service.cancelled() == before + 1).await;
        multiprocess::set_call_timeout(service, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_peer_mid_call_wakes_every_pending_call_with_disconnected() {
    let spawned = Arc::new(child());
    let pending: Vec<_> = (0..8)
        .map(|_| {
            let spawned = spawned.clone();
            tokio::spawn(async move { spawned.remote().hang().await })
        })
        .collect();
    // Every call is in the child before it dies.
    tokio::time::sleep(Duration::from_millis(100)).await;
    spawned.kill().expect("kill the child");
    for call in pending {
        let outcome = tokio::time::timeout(BOUND, call).await.expect("woken").expect("no panic");
        assert!(matches!(outcome, Err(Error::Disconnected)), "{outcome:?}");
    }
    let after = spawned.remote().later(0, 1).await;
    assert!(matches!(after, Err(Error::Disconnected)), "calls after the end fail at once: {after:?}");
}

#[test]
fn sync_and_async_calls_mix_from_one_task_and_from_plain_threads_at_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for (mode, remote) in remotes() {
        let remote = Arc::new(remote);
        std::thread::scope(|scope| {
            for thread in 0..4u64 {
                let remote = remote.clone();
                scope.spawn(move || {
                    for i in 0..50 {
                        assert_eq!(remote.service().add(thread, i), thread + i);
                    }
                });
            }
            runtime.block_on(async {
                let tasks: Vec<_> = (0..8u64)
                    .map(|task| {
                        let remote = remote.clone();
                        tokio::spawn(async move {
                            for i in 0..50 {
                                assert_eq!(remote.service().add(task, i), task + i);
                                assert_eq!(remote.service().echo(task * 100 + i).await, task * 100 + i);
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("no task panicked");
                }
            });
        });
        assert_eq!(runtime.block_on(remote.service().echo(5)), 5, "{mode}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_dropped_on_an_executor_thread_is_released_before_the_next_async_call() {
    for (mode, remote) in remotes() {
        let service = remote.service();
        let connection = multiprocess::connection_of(service).unwrap();
        let before = (connection.stats().proxies, service.dropped());
        let constant = service.constant(3).await;
        assert_eq!(connection.stats().proxies, before.0 + 1);
        let started = Instant::now();
        drop(constant);
        assert!(started.elapsed() < Duration::from_secs(1), "{mode}: the drop did not wait for the peer");
        assert_eq!(connection.stats().proxies, before.0, "{mode}");
        assert_eq!(service.echo(1).await, 1, "{mode}");
        assert_eq!(service.dropped(), before.1 + 1, "{mode}: released before the next async call");
        assert_eq!(service.echo(1).await, 1, "{mode}");
    }
}
