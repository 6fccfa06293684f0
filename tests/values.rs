//! Value calls over `pair()`: every value family round-trips, in/out
//! parameters write back, errors and panics arrive as they should, and many
//! threads share one connection.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use interfaces::{CalcError, Calculator, Echo, LocalCalculator, LocalEcho, Point, Shape};
use multiprocess::{Deserialize, Serialize, ipc_interface};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
struct Record {
    name: String,
    tags: Vec<String>,
    score: Option<f64>,
    nested: Option<Box<Record>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
enum Event {
    Started,
    Progress(u8),
    Done { code: i32, message: String },
}

/// Every method returns what it was given.
#[ipc_interface]
trait Mirror: Send + Sync {
    fn unit(&self, value: ());
    fn scalars(
        &self,
        value: (bool, char, i8, u16, i32, u64, i128, f32, f64),
    ) -> (bool, char, i8, u16, i32, u64, i128, f32, f64);
    fn string(&self, value: String) -> String;
    fn vector(&self, value: Vec<i64>) -> Vec<i64>;
    fn bytes(&self, value: Vec<u8>) -> Vec<u8>;
    fn hash_map(&self, value: HashMap<String, Vec<u32>>) -> HashMap<String, Vec<u32>>;
    fn btree_map(&self, value: BTreeMap<i32, Option<String>>) -> BTreeMap<i32, Option<String>>;
    fn nested(&self, value: Option<Option<Vec<Option<String>>>>) -> Option<Option<Vec<Option<String>>>>;
    fn record(&self, value: Record) -> Record;
    fn events(&self, value: Vec<Event>) -> Vec<Event>;
    fn borrowed(&self, text: &str, values: &[String], record: &Record) -> (String, Vec<String>, Record);
    fn borrowed_bytes(&self, bytes: &[u8]) -> Vec<u8>;
    fn in_out(&self, text: &mut String, record: &mut Record, list: &mut Vec<u8>) -> usize;
    fn several(&self, a: Vec<u8>, b: &str, c: &[u8], d: String) -> (usize, usize, usize, usize);
    fn text(&self, value: String) -> String;
}

struct LocalMirror;

impl Mirror for LocalMirror {
    fn several(&self, a: Vec<u8>, b: &str, c: &[u8], d: String) -> (usize, usize, usize, usize) {
        assert!(a.iter().all(|x| *x == 1) && b.chars().all(|x| x == 'b'));
        assert!(c.iter().all(|x| *x == 3) && d.chars().all(|x| x == 'é'));
        (a.len(), b.len(), c.len(), d.len())
    }
    fn text(&self, value: String) -> String {
        value
    }
    fn unit(&self, value: ()) {
        value
    }
    fn scalars(
        &self,
        value: (bool, char, i8, u16, i32, u64, i128, f32, f64),
    ) -> (bool, char, i8, u16, i32, u64, i128, f32, f64) {
        value
    }
    fn string(&self, value: String) -> String {
        value
    }
    fn vector(&self, value: Vec<i64>) -> Vec<i64> {
        value
    }
    fn bytes(&self, value: Vec<u8>) -> Vec<u8> {
        value
    }
    fn hash_map(&self, value: HashMap<String, Vec<u32>>) -> HashMap<String, Vec<u32>> {
        value
    }
    fn btree_map(&self, value: BTreeMap<i32, Option<String>>) -> BTreeMap<i32, Option<String>> {
        value
    }
    fn nested(&self, value: Option<Option<Vec<Option<String>>>>) -> Option<Option<Vec<Option<String>>>> {
        value
    }
    fn record(&self, value: Record) -> Record {
        value
    }
    fn events(&self, value: Vec<Event>) -> Vec<Event> {
        value
    }
    fn borrowed(&self, text: &str, values: &[String], record: &Record) -> (String, Vec<String>, Record) {
        (text.to_owned(), values.to_vec(), record.clone())
    }
    fn borrowed_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        bytes.to_vec()
    }
    fn in_out(&self, text: &mut String, record: &mut Record, list: &mut Vec<u8>) -> usize {
        text.push_str(" world");
        record.tags.push("seen".into());
        record.score = Some(1.5);
        list.retain(|b| b % 2 == 0);
        text.len()
    }
}

fn mirror() -> &'static dyn Mirror {
    static MIRROR: OnceLock<Box<dyn Mirror>> = OnceLock::new();
    &**MIRROR.get_or_init(|| multiprocess::pair::<dyn Mirror>(Box::new(LocalMirror)).expect("pair"))
}

fn record() -> impl Strategy<Value = Record> {
    let leaf = (".*", prop::collection::vec(".*", 0..4), prop::option::of(-1e9f64..1e9))
        .prop_map(|(name, tags, score)| Record { name, tags, score, nested: None });
    leaf.prop_recursive(3, 8, 1, |inner| {
        (".*", prop::collection::vec(".*", 0..3), prop::option::of(inner)).prop_map(|(name, tags, nested)| Record {
            name,
            tags,
            score: None,
            nested: nested.map(Box::new),
        })
    })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Started),
        any::<u8>().prop_map(Event::Progress),
        (any::<i32>(), ".*").prop_map(|(code, message)| Event::Done { code, message }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn strings_round_trip(value in ".*") {
        prop_assert_eq!(mirror().string(value.clone()), value);
    }

    #[test]
    fn vectors_round_trip(value in prop::collection::vec(any::<i64>(), 0..200)) {
        prop_assert_eq!(mirror().vector(value.clone()), value);
    }

    #[test]
    fn byte_buffers_round_trip(value in prop::collection::vec(any::<u8>(), 0..5000)) {
        prop_assert_eq!(mirror().bytes(value.clone()), value.clone());
        prop_assert_eq!(mirror().borrowed_bytes(&value), value);
    }

    #[test]
    fn maps_round_trip(
        hash in prop::collection::hash_map(".*", prop::collection::vec(any::<u32>(), 0..5), 0..10),
        btree in prop::collection::btree_map(any::<i32>(), prop::option::of(".*"), 0..10),
    ) {
        prop_assert_eq!(mirror().hash_map(hash.clone()), hash);
        prop_assert_eq!(mirror().btree_map(btree.clone()), btree);
    }

    #[test]
    fn nested_options_round_trip(value in prop::option::of(prop::option::of(prop::collection::vec(prop::option::of(".*"), 0..5)))) {
        prop_assert_eq!(mirror().nested(value.clone()), value);
    }

    #[test]
    fn user_types_round_trip(value in record(), events in prop::collection::vec(event(), 0..10)) {
        prop_assert_eq!(mirror().record(value.clone()), value);
        prop_assert_eq!(mirror().events(events.clone()), events);
    }

    #[test]
    fn scalars_round_trip(value in (any::<bool>(), any::<char>(), any::<i8>(), any::<u16>(), any::<i32>(), any::<u64>(), any::<i128>(), -1e6f32..1e6, any::<f64>())) {
        let back = mirror().scalars(value);
        // NaN is not equal to itself; compare bit patterns.
        prop_assert_eq!(back.8.to_bits(), value.8.to_bits());
        prop_assert_eq!((back.0, back.1, back.2, back.3, back.4, back.5, back.6, back.7), (value.0, value.1, value.2, value.3, value.4, value.5, value.6, value.7));
    }

    #[test]
    fn references_round_trip(text in ".*", values in prop::collection::vec(".*", 0..5), record in record()) {
        let (t, v, r) = mirror().borrowed(&text, &values, &record);
        prop_assert_eq!((t, v, r), (text, values, record));
    }
}

#[test]
fn unit_crosses() {
    mirror().unit(());
}

#[test]
fn in_out_parameters_are_written_back() {
    let mut text = String::from("hello");
    let mut record = Record { name: "r".into(), tags: vec![], score: None, nested: None };
    let mut list = vec![1, 2, 3, 4];
    assert_eq!(mirror().in_out(&mut text, &mut record, &mut list), 11);
    assert_eq!(text, "hello world");
    assert_eq!(record.tags, vec!["seen".to_string()]);
    assert_eq!(record.score, Some(1.5));
    assert_eq!(list, vec![2, 4]);

    let calculator = multiprocess::pair::<dyn Calculator>(Box::new(LocalCalculator)).unwrap();
    let mut values = vec![1];
    assert_eq!(calculator.push_twice(&mut values, 9), 3);
    assert_eq!(values, vec![1, 9, 9]);
}

#[test]
fn calculator_covers_the_value_families() {
    let calculator = multiprocess::pair::<dyn Calculator>(Box::new(LocalCalculator)).unwrap();
    calculator.nothing();
    assert_eq!(calculator.add(40, 2), 42);
    assert_eq!(calculator.shout("quiet"), "QUIET");
    assert_eq!(calculator.sum(&[1, 2, 3]), 6);
    assert_eq!(calculator.norm(&Point { x: -3, y: 4 }), 7);
    assert_eq!(calculator.swap((1, Some("a".into()))), (Some("a".into()), 1));
    let inverted = calculator.invert(HashMap::from([("one".to_string(), 1)]));
    assert_eq!(inverted, BTreeMap::from([(1, "one".to_string())]));
    let shapes = vec![Shape::Dot(Point { x: 1, y: 5 }), Shape::Dot(Point { x: -2, y: 0 })];
    assert_eq!(calculator.bounds(shapes), Some(Shape::Rect { min: Point { x: -2, y: 0 }, max: Point { x: 1, y: 5 } }));
    assert_eq!(calculator.reverse_bytes(vec![1, 2, 3]), vec![3, 2, 1]);
    assert_eq!(calculator.checksum(b"ab"), 97 * 31 + 98);
}

#[test]
fn err_payloads_cross_as_values() {
    let calculator = multiprocess::pair::<dyn Calculator>(Box::new(LocalCalculator)).unwrap();
    assert_eq!(calculator.divide(7, 2), Ok(3));
    assert_eq!(calculator.divide(7, 0), Err(CalcError::DivideByZero));
}

#[test]
fn a_remote_panic_reaches_the_caller_and_the_server_keeps_serving() {
    let calculator = multiprocess::pair::<dyn Calculator>(Box::new(LocalCalculator)).unwrap();

    let error = calculator.try_fail("boom in a Result method".into()).unwrap_err();
    let CalcError::Ipc(message) = error else { panic!("expected a transport error, got {error:?}") };
    assert!(message.contains("panicked") && message.contains("boom in a Result method"), "{message}");
    assert_eq!(calculator.add(1, 1), 2, "the connection still serves");

    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| calculator.fail("kaboom".into())));
    let payload = caught.expect_err("a non-Result method panics in the caller");
    let message = payload.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("Calculator.fail"), "names interface and method: {message}");
    assert!(message.contains("kaboom"), "carries the remote message: {message}");
    assert_eq!(calculator.add(2, 2), 4, "the connection still serves");
}

#[test]
fn a_transport_failure_panics_naming_the_method_or_becomes_the_error_type() {
    let calculator = multiprocess::pair::<dyn Calculator>(Box::new(LocalCalculator)).unwrap();
    multiprocess::connection_of(&*calculator).unwrap().close();

    assert_eq!(calculator.divide(1, 1), Err(CalcError::Ipc(multiprocess::Error::Disconnected.to_string())));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| calculator.add(1, 2)));
    let message = caught.expect_err("panics").downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("Calculator.add") && message.contains("closed"), "{message}");
}

mod impostor {
    use multiprocess::ipc_interface;

    /// The wire name of `interfaces::Echo`, and another signature.
    #[ipc_interface(name = "Echo")]
    pub trait Echo: Send + Sync {
        fn echo(&self, message: u32) -> u32;
    }
}

/// Serves `Echo` on a loopback port; returns the listener and how to connect.
fn echo_server() -> (multiprocess::Listener, multiprocess::ConnectOptions) {
    let secret = multiprocess::Secret::generate().unwrap();
    let options = multiprocess::ListenOptions { secret: Some(secret.clone()), ..Default::default() };
    let listener = multiprocess::listen_with::<dyn Echo>("tcp:127.0.0.1:0", options, || Box::new(LocalEcho)).unwrap();
    (listener, multiprocess::ConnectOptions { secret: Some(secret), ..Default::default() })
}

#[test]
fn another_bootstrap_interface_is_refused_at_hello_naming_both_sides() {
    let (listener, options) = echo_server();
    let Err(error) = multiprocess::connect_with::<dyn Calculator>(listener.address(), options) else {
        panic!("connected")
    };
    let multiprocess::Error::InterfaceMismatch { local, remote } = &error else { panic!("{error:?}") };
    assert!(local.starts_with("Calculator (fingerprint") && remote.starts_with("Echo (fingerprint"), "{error}");
}

#[test]
fn another_version_connects_but_its_changed_method_is_refused_by_name() {
    let (listener, options) = echo_server();
    let impostor = multiprocess::connect_with::<dyn impostor::Echo>(listener.address(), options.clone())
        .expect("a different version connects");
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| impostor.echo(5))).unwrap_err();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("Echo.echo") && message.contains("incompatible"), "{message}");
    assert!(message.contains("argument 1 is u32 here and str on the peer"), "{message}");
    // The connection survives a refused call, and so does the server.
    let connection = multiprocess::connection_of(&*impostor).unwrap();
    assert!(connection.wait_closed(std::time::Duration::from_millis(100)).is_none(), "still open");
    drop(impostor);
    let echo = multiprocess::connect_with::<dyn Echo>(listener.address(), options).unwrap();
    assert_eq!(echo.echo("after".into()), "after");
}

#[test]
fn strict_mode_refuses_another_version_at_connect() {
    let (listener, options) = echo_server();
    let strict = multiprocess::ConnectOptions {
        config: multiprocess::Config { strict_contract: true, ..Default::default() },
        ..options
    };
    let Err(error) = multiprocess::connect_with::<dyn impostor::Echo>(listener.address(), strict) else {
        panic!("connected")
    };
    let multiprocess::Error::InterfaceMismatch { remote, .. } = &error else { panic!("{error:?}") };
    assert!(remote.contains("Echo.echo: argument 1 is u32 here and str on the peer"), "{error}");
}

#[test]
fn eight_threads_share_one_connection_and_every_reply_finds_its_caller() {
    let calculator = multiprocess::pair::<dyn Calculator>(Box::new(LocalCalculator)).unwrap();
    let echo = multiprocess::pair::<dyn Echo>(Box::new(LocalEcho)).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..8i64 {
            let (calculator, echo) = (&calculator, &echo);
            scope.spawn(move || {
                for call in 0..1000i64 {
                    assert_eq!(calculator.add(thread * 1_000_000, call), thread * 1_000_000 + call);
                    if call % 10 == 0 {
                        let message = format!("{thread}/{call}");
                        assert_eq!(echo.echo(message.clone()), message);
                    }
                }
            });
        }
    });
}

#[test]
fn interfaces_print_whether_they_are_local_or_remote() {
    let local: Box<dyn Echo> = Box::new(LocalEcho);
    assert_eq!(format!("{local:?}"), "Echo(local)");
    let remote = multiprocess::pair::<dyn Echo>(Box::new(LocalEcho)).unwrap();
    let printed = format!("{remote:?}");
    assert!(printed.starts_with("Echo(ProxyCore { connection: ") && printed.contains("object: 0"), "{printed}");
    let error = multiprocess::connect::<dyn Echo>("unix:/nonexistent/echo.sock").unwrap_err();
    assert!(matches!(error, multiprocess::Error::Connect { .. }));
}

#[test]
fn large_buffers_travel_out_of_line_in_order() {
    for len in [0, 1, 16 << 10, (16 << 10) + 1, 1 << 20] {
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        assert_eq!(mirror().bytes(bytes.clone()), bytes, "{len} bytes");
        assert_eq!(mirror().borrowed_bytes(&bytes), bytes, "{len} borrowed bytes");
        let text: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        assert_eq!(mirror().text(text.clone()), text, "{len} characters");
    }
    let big = 100_000;
    let mixed = mirror().several(vec![1; big], &"b".repeat(10), &vec![3; big + 1], "é".repeat(big));
    assert_eq!(mixed, (big, 10, big + 1, 2 * big));
    let mut list = vec![2u8; 50_000];
    let mut text = "x".repeat(40_000);
    let mut record = Record { name: "r".repeat(30_000), tags: vec![], score: None, nested: None };
    assert_eq!(mirror().in_out(&mut text, &mut record, &mut list), 40_006);
    assert_eq!((list.len(), record.tags.len()), (50_000, 1));
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
struct Block {
    height: u32,
    #[serde(with = "multiprocess::bytes")]
    data: Vec<u8>,
}

#[ipc_interface]
trait Blocks: Send + Sync {
    fn store(&self, block: Block) -> Block;
}

struct LocalBlocks;

impl Blocks for LocalBlocks {
    fn store(&self, block: Block) -> Block {
        block
    }
}

#[test]
fn byte_fields_of_user_structs_can_travel_as_bytes() {
    let blocks = multiprocess::pair::<dyn Blocks>(Box::new(LocalBlocks)).unwrap();
    let block = Block { height: 7, data: (0..=255).cycle().take(300_000).collect() };
    assert_eq!(blocks.store(block.clone()), block);
}
