//! `multiprocess::Error` crosses as a value, and a callback declared
//! `-> Result<T, E>` reports a transport failure as `Err`, like a method.

use std::sync::{Arc, Mutex};

use multiprocess::{Error, ipc_interface};

#[ipc_interface(name = "errors.Oracle")]
pub trait Oracle: Send + Sync {
    /// Fails with whatever error the caller names.
    fn fail(&self, which: u32) -> Result<u32, Error>;
    /// Keeps `callback` for the test to call later.
    fn keep(&self, callback: Box<dyn Fn(u32) -> Result<u32, Error> + Send + Sync>);
    /// Calls `callback` now.
    fn call_now(&self, callback: Box<dyn Fn(u32) -> Result<u32, Error> + Send + Sync>, x: u32) -> Result<u32, Error>;
}

type Kept = Arc<Mutex<Option<Box<dyn Fn(u32) -> Result<u32, Error> + Send + Sync>>>>;

struct Local {
    kept: Kept,
}

fn error(which: u32) -> Error {
    match which {
        0 => Error::Disconnected,
        1 => Error::Timeout,
        2 => Error::Incompatible {
            interface: "Wallet".into(),
            method: "balance".into(),
            difference: "u32 vs u64".into(),
        },
        3 => Error::Io(Arc::new(std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no entry"))),
        _ => Error::RemotePanic("boom".into()),
    }
}

impl Oracle for Local {
    fn fail(&self, which: u32) -> Result<u32, Error> {
        Err(error(which))
    }
    fn keep(&self, callback: Box<dyn Fn(u32) -> Result<u32, Error> + Send + Sync>) {
        *self.kept.lock().unwrap() = Some(callback);
    }
    fn call_now(&self, callback: Box<dyn Fn(u32) -> Result<u32, Error> + Send + Sync>, x: u32) -> Result<u32, Error> {
        callback(x)
    }
}

fn oracle() -> (Box<dyn Oracle>, Kept) {
    let kept = Kept::default();
    (multiprocess::pair::<dyn Oracle>(Box::new(Local { kept: kept.clone() })).expect("pair"), kept)
}

#[test]
fn an_error_returned_by_the_server_arrives_as_itself() {
    let (oracle, _) = oracle();
    assert!(matches!(oracle.fail(0), Err(Error::Disconnected)));
    assert!(matches!(oracle.fail(1), Err(Error::Timeout)));
    match oracle.fail(2) {
        Err(Error::Incompatible { interface, method, difference }) => {
            assert_eq!((interface.as_str(), method.as_str(), difference.as_str()), ("Wallet", "balance", "u32 vs u64"));
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
    match oracle.fail(3) {
        Err(Error::Io(io)) => {
            assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
            assert!(io.to_string().contains("no entry"), "{io}");
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(matches!(oracle.fail(4), Err(Error::RemotePanic(message)) if message == "boom"));
    // The connection is fine after every one of them.
    assert!(!multiprocess::connection_of(&*oracle).unwrap().is_closed());
}

#[test]
fn a_callback_returning_result_gets_its_errors_and_its_values() {
    let (oracle, _) = oracle();
    let callback = Box::new(|x: u32| if x == 0 { Err(Error::Timeout) } else { Ok(x * 2) });
    assert_eq!(oracle.call_now(callback, 21).unwrap(), 42);
    let callback = Box::new(|x: u32| if x == 0 { Err(Error::Timeout) } else { Ok(x * 2) });
    assert!(matches!(oracle.call_now(callback, 0), Err(Error::Timeout)));
}

#[test]
fn a_callback_returning_result_reports_a_closed_connection_as_err_instead_of_panicking() {
    let (oracle, kept) = oracle();
    oracle.keep(Box::new(|x: u32| Ok(x + 1)));
    let callback = kept.lock().unwrap().take().expect("the server kept the callback");
    assert_eq!(callback(1).unwrap(), 2, "it works while the caller is there");
    let connection = multiprocess::connection_of(&*oracle).unwrap();
    drop(oracle);
    connection.close();
    assert!(matches!(callback(1), Err(Error::Disconnected)), "a transport failure is an Err");
}
