//! The handle table: the objects and callbacks one side has exported to its
//! peer, by id, in order of creation.

use std::{collections::HashMap, sync::Arc};

/// One exported object.
struct Entry<T: ?Sized> {
    /// Creation order, so that a closing connection drops newest first.
    seq: u64,
    target: Arc<T>,
}

/// Exported objects by id. Ids are never reused on a connection.
pub(crate) struct Handles<T: ?Sized> {
    next_id: u64,
    next_seq: u64,
    entries: HashMap<u64, Entry<T>>,
}

impl<T: ?Sized> Handles<T> {
    /// A table whose first fresh id is `first_id`; ids below it are the caller's to place.
    pub(crate) fn new(first_id: u64) -> Self {
        Handles { next_id: first_id, next_seq: 0, entries: HashMap::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// An id that no export will use.
    pub(crate) fn reserve_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// Adds `target` under a fresh id and returns it.
    pub(crate) fn export(&mut self, target: Arc<T>) -> u64 {
        let id = self.reserve_id();
        self.insert(id, target);
        id
    }

    /// Adds `target` under `id`, a reserved or well-known id.
    pub(crate) fn insert(&mut self, id: u64, target: Arc<T>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(id, Entry { seq, target });
    }

    pub(crate) fn get(&self, id: u64) -> Option<Arc<T>> {
        self.entries.get(&id).map(|entry| entry.target.clone())
    }

    /// Removes an export; the caller drops it outside any lock, because user
    /// `Drop` code may call back into the connection.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Arc<T>> {
        self.entries.remove(&id).map(|entry| entry.target)
    }

    /// Empties the table, newest first, as objects would be dropped in one process.
    pub(crate) fn drain_newest_first(&mut self) -> Vec<Arc<T>> {
        let mut entries: Vec<Entry<T>> = self.entries.drain().map(|(_, entry)| entry).collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.seq));
        entries.into_iter().map(|entry| entry.target).collect()
    }

    #[cfg(test)]
    pub(crate) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_and_drained_newest_first() {
        let mut handles = Handles::<str>::new(1);
        handles.insert(0, Arc::from("bootstrap"));
        let a = handles.export(Arc::from("a"));
        let reserved = handles.reserve_id();
        let b = handles.export(Arc::from("b"));
        assert_eq!((a, reserved, b), (1, 2, 3));
        assert_eq!(handles.get(a).as_deref(), Some("a"));
        assert_eq!(handles.remove(a).as_deref(), Some("a"));
        assert!(handles.get(a).is_none());
        let drained: Vec<String> = handles.drain_newest_first().iter().map(|s| s.to_string()).collect();
        assert_eq!(drained, ["b", "bootstrap"]);
        assert_eq!(handles.len(), 0);
    }
}
