//! The trait shapes people write: argument names that generated code might
//! use, `#[cfg]` and `#[deprecated]` methods, std supertraits, one-letter
//! trait names, local constructors and provided methods. Warnings are errors
//! here, so generated code that warns fails this file.

#![deny(warnings)]

use std::sync::{Arc, Mutex};

use multiprocess::ipc_interface;

/// Argument names that generated code used to bind for itself.
#[ipc_interface]
pub trait Recorder: Send + Sync {
    fn record(&self, call: u32, reply: String, ret: Vec<u8>, remote: bool) -> String;
    fn with_callback(&self, callback: Box<dyn Fn(u32) -> u32 + Send + Sync>, outcome: u32) -> u32;
    #[allow(non_snake_case)]
    fn upper_case(&self, METHOD: u32, CALLBACK_RESULT: u32) -> u32;
}

struct LocalRecorder;

impl Recorder for LocalRecorder {
    fn record(&self, call: u32, reply: String, ret: Vec<u8>, remote: bool) -> String {
        format!("{call} {reply} {} {remote}", ret.len())
    }
    fn with_callback(&self, callback: Box<dyn Fn(u32) -> u32 + Send + Sync>, outcome: u32) -> u32 {
        callback(outcome)
    }
    #[allow(non_snake_case)]
    fn upper_case(&self, METHOD: u32, CALLBACK_RESULT: u32) -> u32 {
        METHOD + CALLBACK_RESULT
    }
}

#[test]
fn arguments_named_like_generated_locals_compile_and_work() {
    let recorder = multiprocess::pair::<dyn Recorder>(Box::new(LocalRecorder)).unwrap();
    assert_eq!(recorder.record(1, "two".into(), vec![3; 3], true), "1 two 3 true");
    assert_eq!(recorder.with_callback(Box::new(|x| x * 10), 4), 40);
    assert_eq!(recorder.upper_case(2, 3), 5);
}

/// `#[cfg]` on a method removes it everywhere; `#[deprecated]` methods cost
/// no warnings; doc comments and other attributes stay on the trait.
#[ipc_interface]
pub trait Evolving: Send + Sync {
    /// Present in every build.
    #[must_use]
    fn current(&self) -> u32;
    #[cfg(any())]
    fn never_compiled(&self) -> NoSuchType;
    #[cfg(test)]
    fn always_compiled(&self) -> u32;
    #[deprecated(note = "use `current`")]
    fn old(&self) -> u32;
}

struct LocalEvolving;

#[allow(deprecated)]
impl Evolving for LocalEvolving {
    fn current(&self) -> u32 {
        1
    }
    fn always_compiled(&self) -> u32 {
        2
    }
    fn old(&self) -> u32 {
        3
    }
}

#[test]
fn cfg_and_deprecated_methods_are_honoured() {
    let evolving = multiprocess::pair::<dyn Evolving>(Box::new(LocalEvolving)).unwrap();
    assert_eq!(evolving.current(), 1);
    assert_eq!(evolving.always_compiled(), 2);
    #[allow(deprecated)]
    let old = evolving.old();
    assert_eq!(old, 3);
}

/// `Debug` as a supertrait: proxies print as proxies, local objects as themselves.
#[ipc_interface]
pub trait Described: std::fmt::Debug + Send + Sync {
    fn id(&self) -> u32;
}

#[derive(Debug)]
struct LocalDescribed {
    id: u32,
}

impl Described for LocalDescribed {
    fn id(&self) -> u32 {
        self.id
    }
}

/// `Any` is satisfied by every proxy too.
#[ipc_interface]
pub trait Typed: std::any::Any + Send + Sync {
    fn kind(&self) -> String;
}

struct LocalTyped;

impl Typed for LocalTyped {
    fn kind(&self) -> String {
        "typed".into()
    }
}

#[test]
fn std_supertraits_are_satisfied_by_proxies() {
    let described = multiprocess::pair::<dyn Described>(Box::new(LocalDescribed { id: 7 })).unwrap();
    assert_eq!(described.id(), 7);
    assert!(format!("{described:?}").contains("Proxy"), "{described:?}");
    let local: Box<dyn Described> = Box::new(LocalDescribed { id: 1 });
    assert_eq!(format!("{local:?}"), "LocalDescribed { id: 1 }");
    let typed = multiprocess::pair::<dyn Typed>(Box::new(LocalTyped)).unwrap();
    assert_eq!(typed.kind(), "typed");
}

/// One-letter trait names, including the letters generated code once used
/// for its own generic parameters.
#[ipc_interface]
pub trait T: Send + Sync {
    fn t(&self) -> u32;
}

#[ipc_interface]
pub trait I: Send + Sync {
    fn i(&self, other: Box<dyn T>) -> u32;
}

struct LocalT;

impl T for LocalT {
    fn t(&self) -> u32 {
        20
    }
}

impl I for LocalT {
    fn i(&self, other: Box<dyn T>) -> u32 {
        other.t() + 1
    }
}

#[test]
fn single_letter_trait_names_work() {
    let i = multiprocess::pair::<dyn I>(Box::new(LocalT)).unwrap();
    assert_eq!(i.i(Box::new(LocalT)), 21);
}

/// `where Self: Sized` methods stay local: the constructor idiom, and
/// provided helpers that take `self`.
#[ipc_interface]
pub trait Counter: Send + Sync {
    fn new(start: u32) -> Self
    where
        Self: Sized;
    fn into_boxed(self) -> Box<dyn Counter>
    where
        Self: Sized + 'static,
    {
        Box::new(self)
    }
    fn get(&self) -> u32;
}

struct LocalCounter(u32);

impl Counter for LocalCounter {
    fn new(start: u32) -> Self {
        LocalCounter(start)
    }
    fn get(&self) -> u32 {
        self.0
    }
}

#[test]
fn sized_only_methods_stay_local() {
    let counter = multiprocess::pair::<dyn Counter>(LocalCounter::new(5).into_boxed()).unwrap();
    assert_eq!(counter.get(), 5);
}

/// A provided method called on a proxy runs on the object's side, where the
/// object may override it: the call crosses like any other.
#[ipc_interface]
pub trait Greeter: Send + Sync {
    fn name(&self) -> String;
    fn greeting(&self) -> String {
        format!("hello from {}", self.name())
    }
    /// Records the process that ran it.
    fn ran_in(&self) -> u32 {
        std::process::id()
    }
}

struct Plain;

impl Greeter for Plain {
    fn name(&self) -> String {
        "plain".into()
    }
}

struct Overriding(Arc<Mutex<Vec<&'static str>>>);

impl Greeter for Overriding {
    fn name(&self) -> String {
        "overriding".into()
    }
    fn greeting(&self) -> String {
        self.0.lock().unwrap().push("override ran");
        "custom".into()
    }
}

#[test]
fn provided_methods_run_where_the_object_lives() {
    let plain = multiprocess::pair::<dyn Greeter>(Box::new(Plain)).unwrap();
    assert_eq!(plain.greeting(), "hello from plain");
    let log = Arc::new(Mutex::new(Vec::new()));
    let overriding = multiprocess::pair::<dyn Greeter>(Box::new(Overriding(log.clone()))).unwrap();
    assert_eq!(overriding.greeting(), "custom");
    assert_eq!(*log.lock().unwrap(), ["override ran"]);
}
