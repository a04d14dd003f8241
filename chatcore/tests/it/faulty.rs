//! A memory backend that fails on demand, for the tests of what the engine
//! does when its store fails: point reads or range scans fail while told to
//! (a passing fault), commits fail like a full disk while `full` is set (which
//! fails the store for good), and its free space is `free`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use chatcore::store::{Entries, KvBackend, MemoryBackend, StoreError, WriteBatch};

#[derive(Debug, Clone)]
pub struct Faulty {
    inner: MemoryBackend,
    pub fail_gets: Arc<AtomicBool>,
    pub fail_scans: Arc<AtomicBool>,
    pub full: Arc<AtomicBool>,
    pub free: Arc<AtomicU64>,
}

impl Default for Faulty {
    fn default() -> Self {
        Faulty {
            inner: MemoryBackend::new(),
            fail_gets: Arc::default(),
            fail_scans: Arc::default(),
            full: Arc::default(),
            free: Arc::new(AtomicU64::new(u64::MAX)),
        }
    }
}

fn failure() -> StoreError {
    StoreError::backend(std::io::Error::other("injected failure"))
}

impl KvBackend for Faulty {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if self.fail_gets.load(Ordering::SeqCst) {
            return Err(failure());
        }
        self.inner.get(key)
    }
    fn scan(&self, s: &[u8], e: &[u8], rev: bool, n: usize) -> Result<Entries, StoreError> {
        if self.fail_scans.load(Ordering::SeqCst) {
            return Err(failure());
        }
        self.inner.scan(s, e, rev, n)
    }
    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if self.full.load(Ordering::SeqCst) {
            let enospc = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left");
            return Err(StoreError::backend(enospc));
        }
        self.inner.commit(batch)
    }
    fn free_space(&self) -> Option<u64> {
        Some(self.free.load(Ordering::SeqCst))
    }
}
