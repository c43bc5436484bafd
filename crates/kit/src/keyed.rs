//! Counting what is open per key — connections per peer address, calls per
//! API key or per unit — under a cap, so no one key can take a whole
//! budget. A slot is given back when it is dropped; keys with nothing open
//! are forgotten, so memory follows what is open, not who ever came.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
};

/// Open slots per key, at most `max` each (0 = no cap).
#[derive(Debug)]
pub struct KeyedCount<K> {
    open: Mutex<HashMap<K, usize>>,
    max: usize,
}

impl<K: Eq + Hash + Clone> KeyedCount<K> {
    /// A count capped at `max` per key (0 = no cap).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(HashMap::new()),
            max,
        })
    }

    /// The cap per key (0 = none).
    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for `key`, or `None` when it has `max` open already.
    pub fn enter(self: &Arc<Self>, key: K) -> Option<KeyedSlot<K>> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key.clone()).or_insert(0);
        if self.max > 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(KeyedSlot {
            count: self.clone(),
            key,
        })
    }

    /// Slots open for `key`.
    pub fn open(&self, key: &K) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(key).copied().unwrap_or(0)
    }
}

/// One open slot; dropping it gives it back.
#[derive(Debug)]
pub struct KeyedSlot<K: Eq + Hash + Clone> {
    count: Arc<KeyedCount<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Drop for KeyedSlot<K> {
    fn drop(&mut self) {
        let mut open = self.count.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_per_key_and_given_back() {
        let count = KeyedCount::new(2);
        let a1 = count.enter("a");
        let a2 = count.enter("a");
        assert!(a1.is_some() && a2.is_some());
        assert!(count.enter("a").is_none());
        assert!(count.enter("b").is_some());
        drop(a1);
        assert_eq!(count.open(&"a"), 1);
        assert!(count.enter("a").is_some());
        drop(a2);
        assert_eq!(count.open(&"b"), 0);
        let unlimited = KeyedCount::new(0);
        let held: Vec<_> = (0..100).filter_map(|_| unlimited.enter(1)).collect();
        assert_eq!(held.len(), 100);
    }
}
