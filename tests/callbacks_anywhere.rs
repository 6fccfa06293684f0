//! Callbacks where a value can be: optional (`None` crosses as itself, as an
//! empty `std::function` does in libmultiprocess), taking and returning
//! objects and other callbacks.
#![allow(clippy::type_complexity, reason = "the signatures spell their callbacks out")]

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU32, Ordering},
};

use multiprocess::ipc_interface;

#[ipc_interface(name = "callbacks.Counter")]
pub trait Counter: Send + Sync {
    fn add(&self, n: u32) -> u32;
}

/// The macro sees types as written: a callback behind a type alias would be
/// taken for a value, so the trait spells them out.
type Reply = Box<dyn Fn(u32) -> u32 + Send + Sync>;

#[ipc_interface(name = "callbacks.Node")]
pub trait Node: Send + Sync {
    /// Calls `progress` if given; says whether it was.
    fn sync(&self, progress: Option<Box<dyn Fn(u32) + Send + Sync>>) -> bool;
    /// Keeps an optional handler for `fire`.
    fn set_handler(&self, handler: Option<Box<dyn Fn(u32) -> u32 + Send + Sync>>);
    fn fire(&self, n: u32) -> Option<u32>;
    /// Returns a callback, or none.
    fn maybe_doubler(&self, give: bool) -> Option<Box<dyn Fn(u32) -> u32 + Send + Sync>>;
    /// Calls `visit` with a counter of the server's; the callback returns what it read.
    fn with_counter(&self, visit: Box<dyn Fn(Box<dyn Counter>) -> u32 + Send + Sync>) -> u32;
    /// Calls `ask` with a callback of the server's, which the client calls back.
    fn nested(&self, ask: Box<dyn Fn(Box<dyn Fn(u32) -> u32 + Send + Sync>) -> u32 + Send + Sync>) -> u32;
    /// Calls `make`, which returns a callback, and calls that.
    fn factory(&self, make: Box<dyn Fn(u32) -> Box<dyn Fn(u32) -> u32 + Send + Sync> + Send + Sync>) -> u32;
}

struct LocalCounter(AtomicU32);

impl Counter for LocalCounter {
    fn add(&self, n: u32) -> u32 {
        self.0.fetch_add(n, Ordering::SeqCst) + n
    }
}

#[derive(Default)]
struct LocalNode {
    handler: Mutex<Option<Box<dyn Fn(u32) -> u32 + Send + Sync>>>,
}

impl Node for LocalNode {
    fn sync(&self, progress: Option<Box<dyn Fn(u32) + Send + Sync>>) -> bool {
        match progress {
            Some(progress) => {
                (1..=3).for_each(progress);
                true
            }
            None => false,
        }
    }
    fn set_handler(&self, handler: Option<Box<dyn Fn(u32) -> u32 + Send + Sync>>) {
        *self.handler.lock().unwrap() = handler;
    }
    fn fire(&self, n: u32) -> Option<u32> {
        self.handler.lock().unwrap().as_ref().map(|handler| handler(n))
    }
    fn maybe_doubler(&self, give: bool) -> Option<Box<dyn Fn(u32) -> u32 + Send + Sync>> {
        give.then(|| Box::new(|n: u32| n * 2) as Box<dyn Fn(u32) -> u32 + Send + Sync>)
    }
    fn with_counter(&self, visit: Box<dyn Fn(Box<dyn Counter>) -> u32 + Send + Sync>) -> u32 {
        visit(Box::new(LocalCounter(AtomicU32::new(40))))
    }
    fn nested(&self, ask: Box<dyn Fn(Reply) -> u32 + Send + Sync>) -> u32 {
        ask(Box::new(|n| n + 100))
    }
    fn factory(&self, make: Box<dyn Fn(u32) -> Reply + Send + Sync>) -> u32 {
        let made = make(7);
        made(5)
    }
}

fn node() -> Box<dyn Node> {
    multiprocess::pair::<dyn Node>(Box::new(LocalNode::default())).expect("pair")
}

#[test]
fn an_optional_callback_crosses_as_none_or_as_a_callback() {
    let node = node();
    assert!(!node.sync(None), "None arrives as None");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    assert!(node.sync(Some(Box::new(move |step| record.lock().unwrap().push(step)))));
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);

    assert_eq!(node.fire(1), None);
    node.set_handler(Some(Box::new(|n| n + 1)));
    assert_eq!(node.fire(1), Some(2));
    let connection = multiprocess::connection_of(&*node).unwrap();
    assert_eq!(connection.stats().exported_objects, 1, "the kept handler");
    node.set_handler(None);
    assert_eq!(node.fire(1), None);
    assert_eq!(connection.stats().exported_objects, 0, "released when the server dropped it");

    assert!(node.maybe_doubler(false).is_none());
    let doubler = node.maybe_doubler(true).expect("Some");
    assert_eq!(doubler(21), 42);
}

#[test]
fn a_callback_takes_an_object() {
    let node = node();
    let read = node.with_counter(Box::new(|counter| counter.add(2)));
    assert_eq!(read, 42, "the callback called the server's object it was given");
}

#[test]
fn a_callback_takes_a_callback_and_one_returns_a_callback() {
    let node = node();
    assert_eq!(node.nested(Box::new(|reply| reply(1) + reply(2))), 203);
    let made = Arc::new(AtomicU32::new(0));
    let count = made.clone();
    let result = node.factory(Box::new(move |base| {
        count.fetch_add(1, Ordering::SeqCst);
        Box::new(move |n| base * n)
    }));
    assert_eq!(result, 35);
    assert_eq!(made.load(Ordering::SeqCst), 1);
}
