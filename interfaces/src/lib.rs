//! The demo system's interfaces: what a node, a wallet and a GUI say to each
//! other, written as ordinary traits. `#[ipc_interface]` makes each one
//! callable across processes.
//!
//! ```
//! use interfaces::{Echo, LocalEcho};
//!
//! let echo: Box<dyn Echo> = multiprocess::pair::<dyn Echo>(Box::new(LocalEcho))?;
//! assert_eq!(echo.echo("hello".into()), "hello");
//! # Ok::<(), multiprocess::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use multiprocess::{Deserialize, Serialize, ipc_interface};

/// Says back what it is told.
#[ipc_interface]
pub trait Echo: Send + Sync {
    /// Returns `message` unchanged.
    fn echo(&self, message: String) -> String;
}

/// The local [`Echo`].
#[derive(Debug, Default)]
pub struct LocalEcho;

impl Echo for LocalEcho {
    fn echo(&self, message: String) -> String {
        message
    }
}

/// A point, to show a user struct crossing the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub struct Point {
    /// Horizontal.
    pub x: i64,
    /// Vertical.
    pub y: i64,
}

/// A user enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum Shape {
    /// No area.
    Dot(Point),
    /// Axis-aligned.
    Rect {
        /// One corner.
        min: Point,
        /// The opposite corner.
        max: Point,
    },
}

/// The error a [`Calculator`] returns. Transport failures arrive as
/// `CalcError::Ipc` through `From<multiprocess::Error>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "multiprocess::serde")]
pub enum CalcError {
    /// Division by zero.
    DivideByZero,
    /// The call did not get through.
    Ipc(String),
}

impl From<multiprocess::Error> for CalcError {
    fn from(error: multiprocess::Error) -> Self {
        CalcError::Ipc(error.to_string())
    }
}

/// Exercises every value family that crosses by value, by reference and in/out.
#[ipc_interface]
pub trait Calculator: Send + Sync {
    /// Unit in, unit out.
    fn nothing(&self);
    /// Primitives.
    fn add(&self, a: i64, b: i64) -> i64;
    /// A fallible method: `Err` crosses as a value.
    fn divide(&self, a: i64, b: i64) -> Result<i64, CalcError>;
    /// `&str` in, `String` out.
    fn shout(&self, text: &str) -> String;
    /// `&[T]` in.
    fn sum(&self, values: &[i64]) -> i64;
    /// `&T` in.
    fn norm(&self, point: &Point) -> i64;
    /// `&mut T`: the callee's changes are written back.
    fn push_twice(&self, values: &mut Vec<i64>, value: i64) -> usize;
    /// Tuples and options.
    fn swap(&self, pair: (u8, Option<String>)) -> (Option<String>, u8);
    /// Maps.
    fn invert(&self, map: HashMap<String, u32>) -> BTreeMap<u32, String>;
    /// User structs and enums.
    fn bounds(&self, shapes: Vec<Shape>) -> Option<Shape>;
    /// Byte buffers travel as bytes.
    fn reverse_bytes(&self, bytes: Vec<u8>) -> Vec<u8>;
    /// A borrowed byte slice.
    fn checksum(&self, bytes: &[u8]) -> u32;
    /// Panics, to show what the caller sees.
    fn fail(&self, message: String) -> u32;
    /// Panics in a fallible method.
    fn try_fail(&self, message: String) -> Result<u32, CalcError>;
}

/// The local [`Calculator`].
#[derive(Debug, Default)]
pub struct LocalCalculator;

impl Calculator for LocalCalculator {
    fn nothing(&self) {}

    fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    fn divide(&self, a: i64, b: i64) -> Result<i64, CalcError> {
        a.checked_div(b).ok_or(CalcError::DivideByZero)
    }

    fn shout(&self, text: &str) -> String {
        text.to_uppercase()
    }

    fn sum(&self, values: &[i64]) -> i64 {
        values.iter().fold(0, |sum, v| sum.wrapping_add(*v))
    }

    fn norm(&self, point: &Point) -> i64 {
        point.x.wrapping_abs().wrapping_add(point.y.wrapping_abs())
    }

    fn push_twice(&self, values: &mut Vec<i64>, value: i64) -> usize {
        values.push(value);
        values.push(value);
        values.len()
    }

    fn swap(&self, (number, text): (u8, Option<String>)) -> (Option<String>, u8) {
        (text, number)
    }

    fn invert(&self, map: HashMap<String, u32>) -> BTreeMap<u32, String> {
        map.into_iter().map(|(k, v)| (v, k)).collect()
    }

    fn bounds(&self, shapes: Vec<Shape>) -> Option<Shape> {
        let points: Vec<Point> = shapes
            .iter()
            .flat_map(|shape| match shape {
                Shape::Dot(p) => vec![*p],
                Shape::Rect { min, max } => vec![*min, *max],
            })
            .collect();
        let first = points.first()?;
        let (mut min, mut max) = (*first, *first);
        for p in &points {
            min = Point { x: min.x.min(p.x), y: min.y.min(p.y) };
            max = Point { x: max.x.max(p.x), y: max.y.max(p.y) };
        }
        Some(Shape::Rect { min, max })
    }

    fn reverse_bytes(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        bytes.reverse();
        bytes
    }

    fn checksum(&self, bytes: &[u8]) -> u32 {
        bytes.iter().fold(0u32, |sum, b| sum.wrapping_mul(31).wrapping_add(u32::from(*b)))
    }

    fn fail(&self, message: String) -> u32 {
        panic!("{message}")
    }

    fn try_fail(&self, message: String) -> Result<u32, CalcError> {
        panic!("{message}")
    }
}

/// Receives chain notifications, in the style of Bitcoin Core's
/// `Chain::Notifications`.
#[ipc_interface]
pub trait Notifications: Send + Sync {
    /// A block was connected at `height`.
    fn block_connected(&self, height: u32, hash: String);
}

/// Dropping a handler unsubscribes (Bitcoin Core's `interfaces::Handler`).
#[ipc_interface]
pub trait Handler: Send + Sync {
    /// Unsubscribes now rather than at drop.
    fn disconnect(&self);
}

/// The node's view of the chain.
#[ipc_interface]
pub trait Chain: Send + Sync {
    /// The current height.
    fn height(&self) -> u32;
    /// Subscribes `notifications` until the returned handler is dropped.
    fn handle_notifications(&self, notifications: Arc<dyn Notifications>) -> Box<dyn Handler>;
    /// Subscribes a closure until the returned handler is dropped.
    fn handle_blocks(&self, callback: Box<dyn Fn(u32) + Send + Sync>) -> Box<dyn Handler>;
    /// Connects the next block, notifying every subscriber; returns its height.
    fn connect_block(&self) -> u32;
}

/// The bootstrap interface of the demo processes.
#[ipc_interface]
pub trait Init: Send + Sync {
    /// A new echo object.
    fn make_echo(&self) -> Box<dyn Echo>;
    /// A calculator.
    fn make_calculator(&self) -> Box<dyn Calculator>;
    /// The chain.
    fn make_chain(&self) -> Box<dyn Chain>;
}

type Subscribers = std::sync::Mutex<Vec<(u64, Subscriber)>>;

#[derive(Clone)]
enum Subscriber {
    Object(Arc<dyn Notifications>),
    Closure(Arc<dyn Fn(u32) + Send + Sync>),
}

/// The local [`Chain`]: a height, and subscribers notified of each new block.
#[derive(Default)]
pub struct LocalChain {
    height: std::sync::atomic::AtomicU32,
    next: std::sync::atomic::AtomicU64,
    subscribers: Arc<Subscribers>,
}

impl std::fmt::Debug for LocalChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalChain").field("height", &self.height()).finish_non_exhaustive()
    }
}

impl LocalChain {
    fn subscribe(&self, subscriber: Subscriber) -> Box<dyn Handler> {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).push((id, subscriber));
        Box::new(Subscription { id, subscribers: Arc::downgrade(&self.subscribers) })
    }
}

impl Chain for LocalChain {
    fn height(&self) -> u32 {
        self.height.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn handle_notifications(&self, notifications: Arc<dyn Notifications>) -> Box<dyn Handler> {
        self.subscribe(Subscriber::Object(notifications))
    }

    fn handle_blocks(&self, callback: Box<dyn Fn(u32) + Send + Sync>) -> Box<dyn Handler> {
        self.subscribe(Subscriber::Closure(Arc::from(callback)))
    }

    fn connect_block(&self) -> u32 {
        let height = self.height.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        // Notify outside the lock: a subscriber may subscribe or unsubscribe.
        let subscribers: Vec<Subscriber> =
            self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(_, s)| s.clone()).collect();
        for subscriber in subscribers {
            match subscriber {
                Subscriber::Object(object) => object.block_connected(height, format!("{height:064x}")),
                Subscriber::Closure(closure) => closure(height),
            }
        }
        height
    }
}

/// Unsubscribes when dropped.
struct Subscription {
    id: u64,
    subscribers: std::sync::Weak<Subscribers>,
}

impl Handler for Subscription {
    fn disconnect(&self) {
        if let Some(subscribers) = self.subscribers.upgrade() {
            let removed: Vec<(u64, Subscriber)> = {
                let mut subscribers = subscribers.lock().unwrap_or_else(|p| p.into_inner());
                let (removed, kept) = std::mem::take(&mut *subscribers).into_iter().partition(|(id, _)| *id == self.id);
                *subscribers = kept;
                removed
            };
            // Dropping a remote subscriber releases it across the boundary: not under the lock.
            drop(removed);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.disconnect();
    }
}

/// The local [`Init`].
#[derive(Debug, Default)]
pub struct LocalInit {
    chain: Arc<LocalChain>,
}

impl Init for LocalInit {
    fn make_echo(&self) -> Box<dyn Echo> {
        Box::new(LocalEcho)
    }

    fn make_calculator(&self) -> Box<dyn Calculator> {
        Box::new(LocalCalculator)
    }

    fn make_chain(&self) -> Box<dyn Chain> {
        Box::new(SharedChain(self.chain.clone()))
    }
}

/// Every `make_chain` shows the same chain.
struct SharedChain(Arc<LocalChain>);

impl Chain for SharedChain {
    fn height(&self) -> u32 {
        self.0.height()
    }
    fn handle_notifications(&self, notifications: Arc<dyn Notifications>) -> Box<dyn Handler> {
        self.0.handle_notifications(notifications)
    }
    fn handle_blocks(&self, callback: Box<dyn Fn(u32) + Send + Sync>) -> Box<dyn Handler> {
        self.0.handle_blocks(callback)
    }
    fn connect_block(&self) -> u32 {
        self.0.connect_block()
    }
}
