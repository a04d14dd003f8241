//! The in-memory store: the full domain logic of [`KvStore`] over a `BTreeMap`.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use super::{Entries, KvBackend, KvStore, StoreError, WriteBatch};

/// A `BTreeMap` behind a lock. "Durable" for the life of the process: clones share
/// the data, so a test can drop a store and open another on the same backend.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    map: Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The in-memory [`Store`](super::Store): for tests, examples and servers that need
/// no persistence. Nothing survives the process.
pub type MemoryStore = KvStore<MemoryBackend>;

impl MemoryStore {
    /// An empty in-memory store.
    pub fn new() -> Self {
        KvStore::open(MemoryBackend::new()).expect("an empty memory backend always opens")
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl KvBackend for MemoryBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .map
            .read()
            .expect("memory store lock")
            .get(key)
            .cloned())
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let map = self.map.read().expect("memory store lock");
        let range = map.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)));
        let pick = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
        Ok(if reverse {
            range.rev().take(limit).map(pick).collect()
        } else {
            range.take(limit).map(pick).collect()
        })
    }

    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut map = self.map.write().expect("memory store lock");
        for (key, value) in batch {
            match value {
                Some(v) => map.insert(key, v),
                None => map.remove(&key),
            };
        }
        Ok(())
    }
}
