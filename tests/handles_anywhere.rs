//! Object handles wherever a value can be: as fields of the user's own serde
//! structs and enums, inside maps, in an `Arc`, in a returned struct, and
//! coming home; with the same semantics as a `Box<dyn I>` argument.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
};

use multiprocess::{Deserialize, Error, Serialize, ipc_interface};

#[ipc_interface(name = "anywhere.Notify")]
pub trait Notify: Send + Sync {
    fn notify(&self, topic: String) -> u32;
    fn id(&self) -> u64;
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Subscription {
    pub topic: String,
    pub notify: Box<dyn Notify>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum Slot {
    Empty,
    One(Box<dyn Notify>),
    Shared(Arc<dyn Notify>),
    Named { name: String, notify: Option<Box<dyn Notify>> },
}

#[ipc_interface(name = "anywhere.Hub")]
pub trait Hub: Send + Sync {
    fn subscribe(&self, subscription: Subscription) -> usize;
    fn publish(&self, topic: String) -> u32;
    fn unsubscribe_all(&self);
    fn slots(&self, slots: Vec<Slot>) -> Vec<u32>;
    fn map(&self, map: BTreeMap<String, Box<dyn Notify>>) -> Vec<(String, u64)>;
    fn give(&self, topic: String) -> Subscription;
    fn give_result(&self, ok: bool) -> Result<Subscription, Error>;
    fn echo(&self, subscription: Subscription) -> Subscription;
    fn borrowed(&self, subscription: &Subscription) -> Result<u64, Error>;
    fn bytes(&self, data: Arc<[u8]>, text: Arc<str>) -> (usize, usize);
    /// Fails with an error that holds the subscription's handle, hidden in a
    /// type the macro cannot see into.
    fn fail_with(&self, subscription: Subscription) -> Result<(), HubError>;
}

/// An error type that (wrongly) carries a handle.
#[derive(Debug, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum HubError {
    Rejected(Subscription),
    Ipc(String),
}

impl From<Error> for HubError {
    fn from(error: Error) -> Self {
        HubError::Ipc(error.to_string())
    }
}

/// A `Notify` that counts its calls and records its drop.
struct Counter {
    id: u64,
    calls: Arc<AtomicU32>,
    dropped: Arc<AtomicU32>,
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Notify for Counter {
    fn notify(&self, topic: String) -> u32 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        topic.len() as u32
    }
    fn id(&self) -> u64 {
        self.id
    }
}

#[derive(Default, Clone)]
struct Probe {
    calls: Arc<AtomicU32>,
    dropped: Arc<AtomicU32>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Probe {
    fn counter(&self) -> Box<dyn Notify> {
        Box::new(Counter {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            calls: self.calls.clone(),
            dropped: self.dropped.clone(),
        })
    }
    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
    fn dropped(&self) -> u32 {
        self.dropped.load(Ordering::SeqCst)
    }
}

#[derive(Default)]
struct LocalHub {
    subscriptions: Mutex<Vec<Subscription>>,
    /// The server's own objects.
    probe: Probe,
}

impl Hub for LocalHub {
    fn subscribe(&self, subscription: Subscription) -> usize {
        let mut subscriptions = self.subscriptions.lock().unwrap();
        subscriptions.push(subscription);
        subscriptions.len()
    }
    fn publish(&self, topic: String) -> u32 {
        let subscriptions = self.subscriptions.lock().unwrap();
        subscriptions.iter().filter(|s| s.topic == topic).map(|s| s.notify.notify(topic.clone())).sum()
    }
    fn unsubscribe_all(&self) {
        self.subscriptions.lock().unwrap().clear();
    }
    fn slots(&self, slots: Vec<Slot>) -> Vec<u32> {
        slots
            .iter()
            .map(|slot| match slot {
                Slot::Empty => 0,
                Slot::One(notify) => notify.notify("one".into()),
                Slot::Shared(notify) => notify.notify("shared".into()),
                Slot::Named { name, notify } => notify.as_ref().map_or(100, |n| n.notify(name.clone())),
            })
            .collect()
    }
    fn map(&self, map: BTreeMap<String, Box<dyn Notify>>) -> Vec<(String, u64)> {
        map.into_iter().map(|(name, notify)| (name, notify.id())).collect()
    }
    fn give(&self, topic: String) -> Subscription {
        Subscription { topic, notify: self.probe.counter() }
    }
    fn give_result(&self, ok: bool) -> Result<Subscription, Error> {
        if ok { Ok(self.give("result".into())) } else { Err(Error::Timeout) }
    }
    fn echo(&self, subscription: Subscription) -> Subscription {
        subscription
    }
    fn borrowed(&self, subscription: &Subscription) -> Result<u64, Error> {
        Ok(subscription.notify.id())
    }
    fn bytes(&self, data: Arc<[u8]>, text: Arc<str>) -> (usize, usize) {
        (data.len(), text.len())
    }
    fn fail_with(&self, subscription: Subscription) -> Result<(), HubError> {
        Err(HubError::Rejected(subscription))
    }
}

fn hub() -> Box<dyn Hub> {
    multiprocess::pair::<dyn Hub>(Box::new(LocalHub::default())).expect("pair")
}

#[test]
fn a_struct_field_crosses_as_a_handle_and_is_released_when_the_server_drops_it() {
    let hub = hub();
    let probe = Probe::default();
    assert_eq!(hub.subscribe(Subscription { topic: "blocks".into(), notify: probe.counter() }), 1);
    assert_eq!(hub.subscribe(Subscription { topic: "txs".into(), notify: probe.counter() }), 2);
    assert_eq!(hub.publish("blocks".into()), 6, "the server called our object back");
    assert_eq!(probe.calls(), 1);
    let stats = multiprocess::connection_of(&*hub).unwrap().stats();
    assert_eq!(stats.exported_objects, 2, "each field's object is exported: {stats:?}");
    assert_eq!(probe.dropped(), 0, "kept alive while the server holds it");
    hub.unsubscribe_all();
    assert_eq!(probe.dropped(), 2, "dropped by the time the server's drop returned");
    assert_eq!(multiprocess::connection_of(&*hub).unwrap().stats().exported_objects, 0);
}

#[test]
fn enum_variants_options_arcs_and_maps_hold_handles_too() {
    let hub = hub();
    let probe = Probe::default();
    let shared: Arc<dyn Notify> = Arc::from(probe.counter());
    let slots = vec![
        Slot::Empty,
        Slot::One(probe.counter()),
        Slot::Shared(shared.clone()),
        Slot::Named { name: "named".into(), notify: Some(probe.counter()) },
        Slot::Named { name: "none".into(), notify: None },
    ];
    assert_eq!(hub.slots(slots), [0, 3, 6, 5, 100]);
    assert_eq!(probe.calls(), 3);
    // The server dropped its proxies when the call returned: ours are gone too,
    // except the shared one, which this test still holds.
    assert_eq!(probe.dropped(), 2);
    drop(shared);
    assert_eq!(probe.dropped(), 3);

    let (a, b) = (probe.counter(), probe.counter());
    let (a_id, b_id) = (a.id(), b.id());
    let map = BTreeMap::from([("a".to_string(), a), ("b".to_string(), b)]);
    assert_eq!(hub.map(map), [("a".to_string(), a_id), ("b".to_string(), b_id)]);
}

#[test]
fn a_returned_struct_brings_a_proxy_for_the_server_object() {
    let hub = hub();
    let given = hub.give("mine".into());
    assert_eq!(given.topic, "mine");
    assert!(multiprocess::connection_of(&*given.notify).is_some(), "a proxy");
    assert_eq!(given.notify.notify("abc".into()), 3);
    let connection = multiprocess::connection_of(&*hub).unwrap();
    assert_eq!(connection.stats().proxies, 2, "the hub and the given object");
    drop(given);
    assert_eq!(connection.stats().proxies, 1);

    let given = hub.give_result(true).expect("Ok");
    assert_eq!(given.notify.notify("abcd".into()), 4);
    assert!(matches!(hub.give_result(false), Err(Error::Timeout)));
}

#[test]
fn our_object_comes_home_as_itself() {
    let hub = hub();
    let probe = Probe::default();
    let notify = probe.counter();
    let id = notify.id();
    let back = hub.echo(Subscription { topic: "home".into(), notify });
    assert_eq!(back.topic, "home");
    assert!(multiprocess::connection_of(&*back.notify).is_none(), "our own object, not a proxy of a proxy");
    assert_eq!(back.notify.id(), id);
    assert_eq!(back.notify.notify("xy".into()), 2);
    assert_eq!(probe.calls(), 1, "called locally");
    assert_eq!(probe.dropped(), 0);
    drop(back);
    // The peer's reference (its proxy, inside the value it sent back) lasts
    // until the peer knows we have read its reply, which our next call on
    // that thread tells it: the object goes with the last of the two.
    assert_eq!(probe.dropped(), 0);
    assert_eq!(hub.publish("nothing".into()), 0);
    assert_eq!(probe.dropped(), 1);
    assert_eq!(multiprocess::connection_of(&*hub).unwrap().stats().exported_objects, 0);
}

#[test]
fn a_handle_inside_a_borrowed_argument_is_lent_for_the_call() {
    let hub = hub();
    let probe = Probe::default();
    let subscription = Subscription { topic: "lent".into(), notify: probe.counter() };
    let id = subscription.notify.id();
    // The callee reads the lent object's id through its proxy while we wait.
    assert_eq!(hub.borrowed(&subscription).unwrap(), id);
    // Nothing stays exported, nothing was dropped: the object is still ours.
    assert_eq!(multiprocess::connection_of(&*hub).unwrap().stats().exported_objects, 0);
    assert_eq!(probe.dropped(), 0);
    assert_eq!(hub.subscribe(subscription), 1);
    assert_eq!(hub.publish("lent".into()), 4);
}

#[test]
fn a_handle_in_an_error_value_is_refused_with_a_clear_error() {
    let hub = hub();
    let probe = Probe::default();
    match hub.fail_with(Subscription { topic: "err".into(), notify: probe.counter() }) {
        Err(HubError::Ipc(message)) => assert!(message.contains("error value"), "{message}"),
        other => panic!("expected the encode error, got {other:?}"),
    }
    assert!(!multiprocess::connection_of(&*hub).unwrap().is_closed(), "the connection works on");
    assert_eq!(hub.publish("nothing".into()), 0);
}

#[test]
fn arc_values_cross_through_the_reexported_serde() {
    let hub = hub();
    let data: Arc<[u8]> = Arc::from(vec![1u8, 2, 3].into_boxed_slice());
    let text: Arc<str> = Arc::from("four");
    assert_eq!(hub.bytes(data, text), (3, 4));
}

#[test]
fn a_server_object_sent_inside_a_struct_goes_home_too() {
    let hub = hub();
    let given = hub.give("round".into());
    let connection = multiprocess::connection_of(&*hub).unwrap();
    let back = hub.echo(given);
    assert!(multiprocess::connection_of(&*back.notify).is_some(), "still the server's object, through a proxy");
    assert_eq!(back.notify.notify("abcde".into()), 5);
    drop(back);
    assert_eq!(connection.stats().proxies, 1, "only the hub's proxy is left");
}

/// Started by `spawn_process`, serves a `LocalHub`; run as a test, checks
/// that it is not a child.
#[test]
fn child_entry() {
    match multiprocess::serve_if_child::<dyn Hub>(|| Box::new(LocalHub::default())) {
        Ok(true) => std::process::exit(0),
        Ok(false) => {}
        Err(error) => panic!("serving: {error}"),
    }
}

#[test]
fn handles_in_structs_cross_between_processes() {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", "child_entry", "--nocapture", "--test-threads=1", "-q"]);
    command.stdout(std::process::Stdio::null());
    let child = multiprocess::spawn_process::<dyn Hub>(command).expect("spawn");
    let hub = child.remote();
    let probe = Probe::default();
    assert_eq!(hub.subscribe(Subscription { topic: "blocks".into(), notify: probe.counter() }), 1);
    assert_eq!(hub.publish("blocks".into()), 6, "the child called our object back");
    assert_eq!(probe.calls(), 1);
    hub.unsubscribe_all();
    assert_eq!(probe.dropped(), 1, "dropped once the child dropped its subscription");

    let given = hub.give("theirs".into());
    assert!(multiprocess::connection_of(&*given.notify).is_some());
    assert_eq!(given.notify.notify("four".into()), 4);

    let notify = probe.counter();
    let id = notify.id();
    let back = hub.echo(Subscription { topic: "home".into(), notify });
    assert!(multiprocess::connection_of(&*back.notify).is_none(), "ours again");
    assert_eq!(back.notify.id(), id);
    drop((given, back));
    assert!(child.shutdown().expect("a status").success());
}
