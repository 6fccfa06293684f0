//! Bitcoin Core's `Chain::handleNotifications` pattern across a boundary:
//! subscribe an object or a closure, get a handler whose drop unsubscribes.

use std::sync::{Arc, Mutex};

use interfaces::Handler;
use multiprocess::ipc_interface;

/// Receives chain notifications, in the style of Bitcoin Core's
/// `Chain::Notifications`.
#[ipc_interface]
trait Notifications: Send + Sync {
    /// A block was connected at `height`.
    fn block_connected(&self, height: u32, hash: String);
}

/// The node's view of the chain.
#[ipc_interface]
trait Chain: Send + Sync {
    /// The current height.
    fn height(&self) -> u32;
    /// Subscribes `notifications` until the returned handler is dropped.
    fn handle_notifications(&self, notifications: Arc<dyn Notifications>) -> Box<dyn Handler>;
    /// Subscribes a closure until the returned handler is dropped.
    fn handle_blocks(&self, callback: Box<dyn Fn(u32) + Send + Sync>) -> Box<dyn Handler>;
    /// Connects the next block, notifying every subscriber; returns its height.
    fn connect_block(&self) -> u32;
}

type Subscribers = std::sync::Mutex<Vec<(u64, Subscriber)>>;

#[derive(Clone)]
enum Subscriber {
    Object(Arc<dyn Notifications>),
    Closure(Arc<dyn Fn(u32) + Send + Sync>),
}

/// The local [`Chain`]: a height, and subscribers notified of each new block.
#[derive(Default)]
struct LocalChain {
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

#[derive(Default)]
struct Recorder {
    blocks: Mutex<Vec<(u32, String)>>,
}

impl Notifications for Recorder {
    fn block_connected(&self, height: u32, hash: String) {
        self.blocks.lock().unwrap().push((height, hash));
    }
}

fn chain() -> Box<dyn Chain> {
    multiprocess::pair::<dyn Chain>(Box::new(LocalChain::default())).unwrap()
}

#[test]
fn subscribers_are_notified_until_their_handler_is_dropped() {
    let chain = chain();
    let recorder = Arc::new(Recorder::default());
    let handler = chain.handle_notifications(recorder.clone());
    assert_eq!(Arc::strong_count(&recorder), 2, "the node holds the subscriber");
    assert_eq!(chain.connect_block(), 1);
    assert_eq!(chain.connect_block(), 2);
    drop(handler);
    assert_eq!(Arc::strong_count(&recorder), 1, "unsubscribed and released when the handler was dropped");
    assert_eq!(chain.connect_block(), 3);
    let blocks = recorder.blocks.lock().unwrap();
    assert_eq!(blocks.iter().map(|(height, _)| *height).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(blocks[0].1.len(), 64);
}

#[test]
fn a_closure_subscribes_too_and_disconnect_works_before_drop() {
    let chain = chain();
    let heights = Arc::new(Mutex::new(Vec::new()));
    let record = heights.clone();
    let handler = chain.handle_blocks(Box::new(move |height| record.lock().unwrap().push(height)));
    chain.connect_block();
    handler.disconnect();
    chain.connect_block();
    assert_eq!(*heights.lock().unwrap(), vec![1]);
    assert_eq!(Arc::strong_count(&heights), 1, "the closure was dropped on disconnect");
    drop(handler);
}
