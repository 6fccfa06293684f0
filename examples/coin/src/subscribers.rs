//! A list of subscribers, each one removed when the [`Handler`] it was given
//! is disconnected or dropped: the node's chain subscribers and a wallet's
//! balance callbacks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use interfaces::Handler;

struct Inner<T> {
    list: Mutex<Vec<(u64, T)>>,
    next_id: AtomicU64,
}

impl<T> Inner<T> {
    fn list(&self) -> MutexGuard<'_, Vec<(u64, T)>> {
        self.list.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Removes subscriber `id`. It is dropped after the lock is released:
    /// dropping a proxy talks to its peer, which may be calling in.
    fn remove(&self, id: u64) {
        let removed: Vec<_> = {
            let mut list = self.list();
            let (removed, kept) = std::mem::take(&mut *list).into_iter().partition(|(other, _)| *other == id);
            *list = kept;
            removed
        };
        drop(removed);
    }
}

/// Subscribers of type `T`, called in the order they subscribed.
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
/// use coin::subscribers::Subscribers;
///
/// let calls = Arc::new(AtomicUsize::new(0));
/// let subscribers: Subscribers<Arc<AtomicUsize>> = Subscribers::default();
/// let handler = subscribers.add(calls.clone());
/// for (_, counter) in subscribers.snapshot() {
///     counter.fetch_add(1, Ordering::SeqCst);
/// }
/// drop(handler);
/// assert!(subscribers.is_empty());
/// assert_eq!(calls.load(Ordering::SeqCst), 1);
/// ```
pub struct Subscribers<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Default for Subscribers<T> {
    fn default() -> Self {
        Subscribers { inner: Arc::new(Inner { list: Mutex::new(Vec::new()), next_id: AtomicU64::new(0) }) }
    }
}

impl<T> std::fmt::Debug for Subscribers<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscribers").field("len", &self.len()).finish()
    }
}

impl<T: Clone + Send + 'static> Subscribers<T> {
    /// Adds `subscriber` until the returned handler is disconnected or
    /// dropped.
    pub fn add(&self, subscriber: T) -> Box<dyn Handler> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner.list().push((id, subscriber));
        Box::new(Subscription { id, list: Arc::downgrade(&self.inner) })
    }

    /// A handler for a subscription that was never made: it removes nothing.
    pub fn none() -> Box<dyn Handler> {
        Box::new(Subscription::<T> { id: 0, list: Weak::new() })
    }

    /// The subscribers and their ids, to call outside the lock (a call may
    /// subscribe or unsubscribe).
    pub fn snapshot(&self) -> Vec<(u64, T)> {
        self.inner.list().clone()
    }

    /// Removes subscriber `id`, as its handler would (one that has gone).
    pub fn remove(&self, id: u64) {
        self.inner.remove(id);
    }

    /// Removes every subscriber, dropping them after the lock is released.
    pub fn clear(&self) {
        let all = std::mem::take(&mut *self.inner.list());
        drop(all);
    }
}

impl<T> Subscribers<T> {
    /// How many subscribers there are.
    pub fn len(&self) -> usize {
        self.inner.list().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Subscription<T> {
    id: u64,
    list: Weak<Inner<T>>,
}

impl<T: Send> Handler for Subscription<T> {
    fn disconnect(&self) {
        if let Some(inner) = self.list.upgrade() {
            inner.remove(self.id);
        }
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.list.upgrade() {
            inner.remove(self.id);
        }
    }
}
