//! `ipc` events: one per call sent, received, returned and answered, rendered
//! readably, cut at 200 characters, and not rendered at all when off.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use multiprocess::{Deserialize, Serialize, ipc_interface};
use tracing_subscriber::{filter::dynamic_filter_fn, fmt::MakeWriter, prelude::*};

/// Counts how often it is serialized, so a test can see rendering happen.
#[derive(Debug, Clone, Deserialize)]
#[serde(crate = "multiprocess::serde")]
struct Counted(u32);

static SERIALIZED: AtomicUsize = AtomicUsize::new(0);

impl Serialize for Counted {
    fn serialize<S: multiprocess::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SERIALIZED.fetch_add(1, Ordering::SeqCst);
        serializer.serialize_newtype_struct("Counted", &self.0)
    }
}

#[ipc_interface]
trait Logged: Send + Sync {
    fn greet(&self, name: String, times: u8) -> String;
    fn count(&self, value: Counted);
    fn watch(&self, callback: Box<dyn Fn(u32) + Send + Sync>);
    fn item(&self) -> Box<dyn Item>;
}

#[ipc_interface]
trait Item: Send + Sync {
    fn get(&self) -> u32;
}

struct LocalItem;

impl Item for LocalItem {
    fn get(&self) -> u32 {
        5
    }
}

struct Local;

impl Logged for Local {
    fn greet(&self, name: String, times: u8) -> String {
        format!("hello {name}").repeat(usize::from(times))
    }
    fn count(&self, _value: Counted) {}
    fn watch(&self, callback: Box<dyn Fn(u32) + Send + Sync>) {
        callback(1);
    }
    fn item(&self) -> Box<dyn Item> {
        Box::new(LocalItem)
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

static ON: AtomicBool = AtomicBool::new(false);

/// One test, because the subscriber is global and the phases must not overlap.
#[test]
fn ipc_events_are_readable_cut_and_free_when_off() {
    let buffer = Buffer::default();
    let filter = dynamic_filter_fn(|metadata, _| ON.load(Ordering::SeqCst) && metadata.target() == "ipc");
    // A global filter, so that `enabled!` itself answers no while off.
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(buffer.clone()).with_ansi(false))
        .init();
    let logged = multiprocess::pair::<dyn Logged>(Box::new(Local)).unwrap();

    // Off: values are encoded once and never rendered.
    SERIALIZED.store(0, Ordering::SeqCst);
    logged.count(Counted(1));
    assert_eq!(SERIALIZED.load(Ordering::SeqCst), 1, "encoded once, not rendered");
    assert!(buffer.0.lock().unwrap().is_empty());

    ON.store(true, Ordering::SeqCst);
    tracing::callsite::rebuild_interest_cache();
    SERIALIZED.store(0, Ordering::SeqCst);
    logged.count(Counted(2));
    assert!(SERIALIZED.load(Ordering::SeqCst) >= 2, "rendered for the log as well");
    assert_eq!(logged.greet("world".into(), 30).len(), 330);
    logged.watch(Box::new(|_| {}));
    assert_eq!(logged.item().get(), 5);
    ON.store(false, Ordering::SeqCst);

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().filter(|line| line.contains("Logged.greet")).collect();
    assert_eq!(lines.len(), 4, "send, recv, return and reply:\n{text}");
    let send = lines.iter().find(|line| line.contains("send Logged.greet")).expect("a send event");
    assert!(send.contains(r#"Logged.greet(name: "world", times: 30)"#), "{send}");
    assert!(send.contains("conn=") && send.contains("thread=ipc_events_are_readable_cut_and_free_when_off"), "{send}");
    let recv = lines.iter().find(|line| line.contains("recv Logged.greet")).expect("a recv event");
    assert!(recv.contains("thread=ipc:ipc_events_are_readable_cut_and_free_when_off"), "runs on the partner: {recv}");
    let reply = lines.iter().find(|line| line.contains("reply Logged.greet")).expect("a reply event");
    let rendered = reply.split("-> ").nth(1).and_then(|rest| rest.split(" conn=").next()).expect("a result");
    assert!(rendered.ends_with('…'), "cut: {rendered}");
    assert_eq!(rendered.chars().count(), 201, "{rendered}");
    assert!(text.contains(r#"Logged.count(value: Counted(2))"#), "{text}");
    // Callbacks are named after the argument they came from, with the id they
    // were exported under; objects show their id on both sides.
    let watch = text.lines().find(|line| line.contains("send Logged.watch")).expect("a send event");
    assert!(watch.contains("Logged.watch(callback: <callback Logged.watch.callback #"), "{watch}");
    let returned = text.lines().find(|line| line.contains("return Logged.item")).expect("a return event");
    let id = returned.split("<Item #").nth(1).and_then(|rest| rest.split('>').next()).expect("an id");
    let reply = text.lines().find(|line| line.contains("reply Logged.item")).expect("a reply event");
    assert!(reply.contains(&format!("<Item proxy #{id}>")), "the same id on both sides: {returned} / {reply}");
}
