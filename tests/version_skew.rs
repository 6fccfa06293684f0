//! Two builds of one set of interfaces, talking across processes: this test
//! binary holds both versions (`v1`, `v2`, with the same wire names) and runs
//! itself as a child serving one while the parent calls through the other.
//!
//! Version 2 reorders methods, adds one, changes an argument type, a return
//! type, a struct's field order, an enum variant's name, and a nested
//! interface's method. Each change affects its own method only.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use multiprocess::{Error, Spawned};

pub mod v1 {
    use multiprocess::{Deserialize, Error, Serialize, ipc_interface};

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(crate = "multiprocess::serde")]
    pub struct Transfer {
        pub from: String,
        pub to: String,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(crate = "multiprocess::serde")]
    pub enum Shape {
        Circle(u32),
        Square(u32),
    }

    #[ipc_interface(name = "skew.Store")]
    pub trait Store: Send + Sync {
        fn get(&self, key: String) -> Result<String, Error>;
        fn delete(&self, key: String) -> Result<String, Error>;
    }

    #[ipc_interface(name = "skew.Counter")]
    pub trait Counter: Send + Sync {
        fn count(&self) -> Result<u32, Error>;
    }

    #[ipc_interface(name = "skew.Init")]
    pub trait Init: Send + Sync {
        fn plus_one(&self, x: u32) -> Result<u32, Error>;
        fn times_hundred(&self, x: u32) -> Result<u32, Error>;
        fn make_store(&self) -> Result<Box<dyn Store>, Error>;
        fn make_counter(&self) -> Result<Box<dyn Counter>, Error>;
        fn changed_arg(&self, x: u32) -> Result<u32, Error>;
        fn changed_ret(&self, x: u32) -> Result<u32, Error>;
        fn transfer(&self, transfer: Transfer) -> Result<String, Error>;
        fn shape(&self, shape: Shape) -> Result<String, Error>;
    }

    #[derive(Debug)]
    pub struct Local;

    impl Store for Local {
        fn get(&self, key: String) -> Result<String, Error> {
            Ok(format!("got {key}"))
        }
        fn delete(&self, key: String) -> Result<String, Error> {
            Ok(format!("deleted {key}"))
        }
    }

    impl Counter for Local {
        fn count(&self) -> Result<u32, Error> {
            Ok(1)
        }
    }

    impl Init for Local {
        fn plus_one(&self, x: u32) -> Result<u32, Error> {
            Ok(x + 1)
        }
        fn times_hundred(&self, x: u32) -> Result<u32, Error> {
            Ok(x * 100)
        }
        fn make_store(&self) -> Result<Box<dyn Store>, Error> {
            Ok(Box::new(Local))
        }
        fn make_counter(&self) -> Result<Box<dyn Counter>, Error> {
            Ok(Box::new(Local))
        }
        fn changed_arg(&self, x: u32) -> Result<u32, Error> {
            Ok(x)
        }
        fn changed_ret(&self, x: u32) -> Result<u32, Error> {
            Ok(x)
        }
        fn transfer(&self, transfer: Transfer) -> Result<String, Error> {
            Ok(format!("{} -> {}", transfer.from, transfer.to))
        }
        fn shape(&self, shape: Shape) -> Result<String, Error> {
            Ok(format!("{shape:?}"))
        }
    }
}

pub mod v2 {
    use multiprocess::{Deserialize, Error, Serialize, ipc_interface};

    /// The fields of v1 in the other order.
    #[derive(Debug, Serialize, Deserialize)]
    #[serde(crate = "multiprocess::serde")]
    pub struct Transfer {
        pub to: String,
        pub from: String,
    }

    /// `Square` renamed.
    #[derive(Debug, Serialize, Deserialize)]
    #[serde(crate = "multiprocess::serde")]
    pub enum Shape {
        Circle(u32),
        Block(u32),
    }

    /// v1's methods in the other order, and one more.
    #[ipc_interface(name = "skew.Store")]
    pub trait Store: Send + Sync {
        fn delete(&self, key: String) -> Result<String, Error>;
        fn get(&self, key: String) -> Result<String, Error>;
        fn keys(&self) -> Result<Vec<String>, Error>;
    }

    /// `count` returns another type.
    #[ipc_interface(name = "skew.Counter")]
    pub trait Counter: Send + Sync {
        fn count(&self) -> Result<u64, Error>;
    }

    #[ipc_interface(name = "skew.Init")]
    pub trait Init: Send + Sync {
        fn times_hundred(&self, x: u32) -> Result<u32, Error>;
        fn plus_one(&self, x: u32) -> Result<u32, Error>;
        fn added(&self) -> Result<u32, Error>;
        fn make_counter(&self) -> Result<Box<dyn Counter>, Error>;
        fn make_store(&self) -> Result<Box<dyn Store>, Error>;
        fn changed_arg(&self, x: String) -> Result<u32, Error>;
        fn changed_ret(&self, x: u32) -> Result<u64, Error>;
        fn transfer(&self, transfer: Transfer) -> Result<String, Error>;
        fn shape(&self, shape: Shape) -> Result<String, Error>;
    }

    #[derive(Debug)]
    pub struct Local;

    impl Store for Local {
        fn delete(&self, key: String) -> Result<String, Error> {
            Ok(format!("deleted {key}"))
        }
        fn get(&self, key: String) -> Result<String, Error> {
            Ok(format!("got {key}"))
        }
        fn keys(&self) -> Result<Vec<String>, Error> {
            Ok(vec!["k".into()])
        }
    }

    impl Counter for Local {
        fn count(&self) -> Result<u64, Error> {
            Ok(2)
        }
    }

    impl Init for Local {
        fn times_hundred(&self, x: u32) -> Result<u32, Error> {
            Ok(x * 100)
        }
        fn plus_one(&self, x: u32) -> Result<u32, Error> {
            Ok(x + 1)
        }
        fn added(&self) -> Result<u32, Error> {
            Ok(42)
        }
        fn make_counter(&self) -> Result<Box<dyn Counter>, Error> {
            Ok(Box::new(Local))
        }
        fn make_store(&self) -> Result<Box<dyn Store>, Error> {
            Ok(Box::new(Local))
        }
        fn changed_arg(&self, x: String) -> Result<u32, Error> {
            Ok(x.len() as u32)
        }
        fn changed_ret(&self, x: u32) -> Result<u64, Error> {
            Ok(u64::from(x))
        }
        fn transfer(&self, transfer: Transfer) -> Result<String, Error> {
            Ok(format!("{} -> {}", transfer.from, transfer.to))
        }
        fn shape(&self, shape: Shape) -> Result<String, Error> {
            Ok(format!("{shape:?}"))
        }
    }
}

/// The variant the child serves, and the file its log goes to.
const VARIANT: &str = "MULTIPROCESS_TEST_SKEW_VARIANT";
const LOG: &str = "MULTIPROCESS_TEST_SKEW_LOG";

/// Started by `spawn_process`, serves the variant named in the environment;
/// run as a test, there is nothing to serve.
#[test]
fn child_entry() {
    let Ok(variant) = std::env::var(VARIANT) else { return };
    if let Ok(path) = std::env::var(LOG) {
        let file = std::fs::File::create(path).expect("the log file");
        tracing_subscriber::fmt().with_writer(Mutex::new(file)).with_env_filter("ipc=warn").with_ansi(false).init();
    }
    let served = match variant.as_str() {
        "v1" => multiprocess::serve_process::<dyn v1::Init>(Box::new(v1::Local)),
        _ => multiprocess::serve_process::<dyn v2::Init>(Box::new(v2::Local)),
    };
    served.expect("served until the parent left");
    std::process::exit(0);
}

/// A child serving `variant`, whose `ipc` warnings go to a log file.
struct Child {
    log: std::path::PathBuf,
}

impl Child {
    fn command(variant: &str) -> (Command, Child) {
        let log =
            std::env::temp_dir().join(format!("multiprocess-skew-{}-{variant}-{}.log", std::process::id(), unique()));
        let mut command = Command::new(std::env::current_exe().expect("the test binary"));
        command.args(["--exact", "child_entry", "--nocapture", "--test-threads=1", "-q"]);
        command.env(VARIANT, variant).env(LOG, &log).stdout(std::process::Stdio::null());
        (command, Child { log })
    }

    /// What the child logged, once it has exited.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn spawn<I: ?Sized + multiprocess::Interface>(variant: &str) -> (Spawned<I>, Child) {
    let (command, child) = Child::command(variant);
    (multiprocess::spawn_process::<I>(command).expect("spawn the child"), child)
}

/// Runs `body` with the `ipc` warnings of this thread captured, and returns them.
fn capture_warnings(body: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_env_filter("ipc=warn")
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, body);
    let captured = buffer.0.lock().unwrap().clone();
    String::from_utf8(captured).unwrap()
}

fn incompatible(outcome: Result<impl std::fmt::Debug, Error>, method: &str) -> String {
    match outcome {
        Err(Error::Incompatible { interface, method: named, difference }) => {
            assert_eq!(named, method);
            format!("{interface}.{named}: {difference}")
        }
        other => panic!("{method}: expected Incompatible, got {other:?}"),
    }
}

#[test]
fn reordered_methods_reach_the_right_code_in_both_directions() {
    let (new_parent, _child) = spawn::<dyn v2::Init>("v1");
    assert_eq!(new_parent.remote().plus_one(5).unwrap(), 6);
    assert_eq!(new_parent.remote().times_hundred(5).unwrap(), 500);
    let store = new_parent.remote().make_store().unwrap();
    assert_eq!(store.get("k".into()).unwrap(), "got k");
    assert_eq!(store.delete("k".into()).unwrap(), "deleted k");

    let (old_parent, _child) = spawn::<dyn v1::Init>("v2");
    assert_eq!(old_parent.remote().plus_one(5).unwrap(), 6);
    assert_eq!(old_parent.remote().times_hundred(5).unwrap(), 500);
    let store = old_parent.remote().make_store().unwrap();
    assert_eq!(store.get("k".into()).unwrap(), "got k");
    assert_eq!(store.delete("k".into()).unwrap(), "deleted k");
}

#[test]
fn an_added_method_is_unknown_to_an_old_peer_and_everything_else_works() {
    let (new_parent, _child) = spawn::<dyn v2::Init>("v1");
    let added = new_parent.remote().added();
    assert!(
        matches!(&added, Err(Error::UnknownMethod { interface, method }) if interface == "Init" && method == "added"),
        "{added:?}"
    );
    assert_eq!(new_parent.remote().plus_one(1).unwrap(), 2, "the connection goes on");
    // The same for a method added to an interface that another method returns:
    // `make_store` still agrees, and only the new method is missing.
    let store = new_parent.remote().make_store().expect("make_store is compatible");
    assert!(matches!(store.keys(), Err(Error::UnknownMethod { .. })));
    assert_eq!(store.get("k".into()).unwrap(), "got k");

    // An old parent never calls what it does not know; the new child serves the rest.
    let (old_parent, _child) = spawn::<dyn v1::Init>("v2");
    assert_eq!(old_parent.remote().plus_one(1).unwrap(), 2);
    assert_eq!(old_parent.remote().make_store().unwrap().get("a".into()).unwrap(), "got a");
    assert_eq!(old_parent.remote().make_store().unwrap().delete("a".into()).unwrap(), "deleted a");
}

#[test]
fn changed_signatures_are_refused_on_their_own_method_and_both_sides_log_it() {
    let (parent, child) = spawn::<dyn v2::Init>("v1");
    let init = parent.remote();
    let mut refusals = Vec::new();
    let warnings = capture_warnings(|| {
        refusals.push(incompatible(init.changed_arg("x".into()), "changed_arg"));
        refusals.push(incompatible(init.changed_ret(1), "changed_ret"));
        refusals.push(incompatible(init.transfer(v2::Transfer { to: "b".into(), from: "a".into() }), "transfer"));
        refusals.push(incompatible(init.shape(v2::Shape::Block(1)), "shape"));
        refusals.push(incompatible(init.make_counter().map(|_| ()), "make_counter"));
    });
    let [arg, ret, transfer, shape, counter] = &refusals[..] else { unreachable!() };
    assert!(arg.contains("argument 1 is str here and u32 on the peer"), "{arg}");
    assert!(ret.contains("the result is result<u64, ") && ret.contains("result<u32, "), "{ret}");
    assert!(
        transfer.contains("struct{to: str, from: str}") && transfer.contains("struct{from: str, to: str}"),
        "{transfer}"
    );
    assert!(shape.contains("1 Block") && shape.contains("1 Square"), "{shape}");
    assert!(counter.contains("skew.Counter.count"), "a nested interface's change is named: {counter}");
    for method in ["changed_arg", "changed_ret", "transfer", "shape", "make_counter"] {
        assert!(warnings.contains(&format!("Init.{method} is incompatible")), "the caller logs {method}: {warnings}");
    }

    // Only those: everything that agrees keeps working, on the same connection.
    assert_eq!(init.plus_one(2).unwrap(), 3);
    assert_eq!(init.make_store().unwrap().get("k".into()).unwrap(), "got k");

    let connection = parent.connection().clone();
    drop(parent);
    assert!(connection.wait_closed(Duration::from_secs(10)).is_some());
    let log = child.log();
    for method in ["changed_arg", "changed_ret", "transfer", "shape", "make_counter"] {
        assert!(
            log.contains(&format!("Init.{method} is incompatible")) && log.contains("refused a call"),
            "the callee logs {method}: {log}"
        );
    }
}

#[test]
fn strict_mode_refuses_a_child_of_another_version_at_connect() {
    let (mut command, _child) = Child::command("v1");
    command.env("RUST_BACKTRACE", "0");
    let strict = multiprocess::Config { strict_contract: true, ..Default::default() };
    let error = multiprocess::spawn_process_with::<dyn v2::Init>(command, strict.clone()).unwrap_err();
    let Error::InterfaceMismatch { remote, .. } = &error else { panic!("{error:?}") };
    for difference in ["skew.Init.added only here", "skew.Init.changed_arg", "skew.Counter.count"] {
        assert!(remote.contains(difference), "{difference} in {remote}");
    }
    // The same build in strict mode connects.
    let (command, _child) = Child::command("v2");
    let same = multiprocess::spawn_process_with::<dyn v2::Init>(command, strict).expect("the same version connects");
    assert_eq!(same.remote().plus_one(1).unwrap(), 2);
}
