//! Delivers chain events to subscribers from one thread, in order (Bitcoin's
//! validation interface queue): the node never calls a wallet while it holds
//! a lock, and a wallet may call the node back from a notification.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use interfaces::{ChainNotifications, Handler};

use super::chainstate::Event;
use crate::subscribers::Subscribers;

#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    queued: u64,
    delivered: u64,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when events are queued or the notifier stops.
    queued: Condvar,
    /// Signalled when an event has been delivered to every subscriber.
    delivered: Condvar,
    subscribers: Subscribers<Arc<dyn ChainNotifications>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The queue and its delivery thread.
pub struct Notifier {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("subscribers", &self.shared.subscribers.len()).finish()
    }
}

impl Notifier {
    /// Starts the delivery thread.
    pub fn start() -> std::io::Result<Notifier> {
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        let thread = std::thread::Builder::new().name("coin-notify".into()).spawn(move || deliver(&worker))?;
        Ok(Notifier { shared, thread: Mutex::new(Some(thread)) })
    }

    /// Queues `events`, to be delivered after everything queued before.
    pub fn push(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let mut queue = lock(&self.shared.queue);
        queue.queued += events.len() as u64;
        queue.events.extend(events);
        self.shared.queued.notify_one();
    }

    /// Waits until everything queued so far has been delivered, for at most
    /// `timeout` (a subscriber that hangs must not hang RPC forever);
    /// whether it was.
    pub fn wait_delivered(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut queue = lock(&self.shared.queue);
        let target = queue.queued;
        while queue.delivered < target && !queue.stopping {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            queue = self.shared.delivered.wait_timeout(queue, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        true
    }

    /// Subscribes `subscriber` until the handler is dropped.
    pub fn subscribe(&self, subscriber: Arc<dyn ChainNotifications>) -> Box<dyn Handler> {
        self.shared.subscribers.add(subscriber)
    }

    /// Delivers what is queued, then stops the thread and drops every
    /// subscriber.
    pub fn stop(&self) {
        lock(&self.shared.queue).stopping = true;
        self.shared.queued.notify_all();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
        self.shared.subscribers.clear();
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop();
    }
}

fn deliver(shared: &Shared) {
    loop {
        let event = {
            let mut queue = lock(&shared.queue);
            loop {
                if let Some(event) = queue.events.pop_front() {
                    break event;
                }
                if queue.stopping {
                    return;
                }
                queue = shared.queued.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
        };
        for (id, subscriber) in shared.subscribers.snapshot() {
            let outcome = match &event {
                Event::BlockConnected(block) => subscriber.block_connected(block),
                Event::TransactionAdded(tx) => subscriber.transaction_added_to_mempool(tx),
                Event::TransactionRemoved(txid) => subscriber.transaction_removed_from_mempool(*txid),
            };
            if let Err(error) = outcome {
                // Its process has gone: forget it.
                tracing::info!(target: "coin", "a subscriber went away ({error}); unsubscribing it");
                shared.subscribers.remove(id);
            }
        }
        lock(&shared.queue).delivered += 1;
        shared.delivered.notify_all();
    }
}
