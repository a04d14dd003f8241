//! The writer thread and its group commit: every write is a job run against the
//! writes of the jobs before it in the same group ([`Txn`]), and each group is
//! committed at once, to the backend or, with a write-ahead log, to the log
//! ([`WalWriter`]).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, RwLock};

use serde::Serialize;

use super::failure::{FailOnPanic, Failure};
use super::keymap::{KeyMap, Slot};
use super::memkey::MemKey;
use super::memtable::Memtable;
use super::records::{decode_u64, encode, Reader};
use super::send_filter::SendFilter;
use super::view::overlay;
use super::wal_writer::WalWriter;
use super::{keys, Entries, KvBackend, KvSnapshot};
use crate::store::StoreError;

/// One key's write in a group commit.
pub(super) struct Write {
    /// The new value, or `None` to delete.
    pub(super) value: Option<Vec<u8>>,
    /// The key holds an id allocated in this group, so the backend cannot hold it.
    pub(super) fresh: bool,
}

/// A group commit's writes.
pub(super) type Group = KeyMap<Write>;

impl Write {
    pub(super) fn borrowed<'a>(
        (key, write): (&'a MemKey, &'a Write),
    ) -> (&'a [u8], Option<&'a [u8]>) {
        (key.as_slice(), write.value.as_deref())
    }
}

/// A write transaction as a job sees it: reads see the committed state overlaid with
/// the writes of earlier jobs of the same group and its own. A job writes straight
/// into the group and notes what each write replaced, to undo it if the job fails.
pub(super) struct Txn<'a> {
    snapshot: &'a dyn KvSnapshot,
    /// Logged changes not yet in the backend (with a write-ahead log).
    memtable: Option<&'a Memtable>,
    group: &'a mut Group,
    /// For each of this job's writes, the key and the group's entry before it.
    undo: &'a mut Vec<(MemKey, Option<Write>)>,
    /// The id counter, kept by the writer and stored once per group.
    next_id: &'a mut u64,
    /// What the backend answered for keys the memtable does not hold (with a
    /// memtable only).
    cache: Option<&'a BackendCache>,
    /// Which idempotency records may exist.
    sends: &'a mut SendFilter,
    /// The committed values of records read again and again.
    hot: &'a HotReads,
}

impl Reader for Txn<'_> {
    fn raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let mem_key = MemKey::new(key);
        if let Some(write) = self.group.get(&mem_key) {
            return Ok(write.value.clone());
        }
        if !HotReads::holds(key) {
            return self.committed(key, mem_key);
        }
        if let Some(value) = self.hot.get(&mem_key) {
            return Ok(value);
        }
        let value = self.committed(key, mem_key.clone())?;
        self.hot.keep(mem_key, value.clone());
        Ok(value)
    }
}

impl Txn<'_> {
    /// What is committed under `key` (the memtable over the backend).
    fn committed(&self, key: &[u8], mem_key: MemKey) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(memtable) = self.memtable else {
            return self.snapshot.get(key);
        };
        if let Some(v) = memtable.get(&mem_key) {
            return Ok(v);
        }
        match self.cache {
            Some(cache) => cache.get_or_read(mem_key, || self.snapshot.get(key)),
            None => self.snapshot.get(key),
        }
    }
}

/// The committed values of the records a relayed message reads: the link
/// between sender and recipient, the recipient's note of unread messages
/// from the sender, the conversation's last seq, both users' stream records,
/// the stream items an ack passes, the device's cursor and the delivered
/// mark. Each is otherwise a walk down the memtable's B-tree (some 100 000
/// keys late in a period) and, when it is not there, the backend's.
///
/// The writer is the only one to change what is committed, always through a
/// group commit: just before one, the group's writes to these keys are put
/// here ([`committing`](Self::committing)), and a commit that fails empties
/// it. Otherwise it takes only what a read found committed (never a group's
/// write, which a failed job may take back). So what it holds is what is
/// committed.
#[derive(Default)]
pub(super) struct HotReads {
    entries: std::cell::RefCell<HashMap<MemKey, Option<Vec<u8>>, foldhash::fast::RandomState>>,
}

impl HotReads {
    /// Most entries: a cache that fills up starts again.
    const CAPACITY: usize = 8192;

    /// Whether `key` is one it keeps.
    fn holds(key: &[u8]) -> bool {
        matches!(
            key.first(),
            Some(
                &(keys::LINK
                    | keys::UNREAD
                    | keys::LAST_SEQ
                    | keys::STREAM
                    | keys::STREAM_ITEM
                    | keys::CURSOR
                    | keys::DELIVERED_MARK)
            )
        )
    }

    fn get(&self, key: &MemKey) -> Option<Option<Vec<u8>>> {
        self.entries.borrow().get(key).cloned()
    }

    fn keep(&self, key: MemKey, value: Option<Vec<u8>>) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= Self::CAPACITY {
            entries.clear();
        }
        entries.insert(key, value);
    }

    /// `group` is about to be committed: what it writes to the keys kept
    /// here becomes what is committed (a delete is forgotten rather than
    /// kept: stream items are deleted once passed, and never read again).
    fn committing(&self, group: &Group) {
        let mut entries = self.entries.borrow_mut();
        for (key, write) in group.iter() {
            if !Self::holds(key.as_slice()) {
                continue;
            }
            match &write.value {
                Some(value) => {
                    if entries.len() >= Self::CAPACITY {
                        entries.clear();
                    }
                    entries.insert(key.clone(), Some(value.clone()));
                }
                None => {
                    entries.remove(key);
                }
            }
        }
    }

    /// A commit failed: what is committed is no longer known.
    fn clear(&self) {
        self.entries.borrow_mut().clear();
    }
}

/// The writer's cache of backend reads: a send reads records that change
/// seldom (the link between two users, a device) from the backend again and
/// again, each a walk down its B-tree. Only keys the memtable does not hold are
/// asked of the backend, and the backend changes only when a checkpoint
/// writes the memtable into it: so an answer holds until the memtable forgets
/// a checkpoint ([`Memtable::checkpoints`]), when the cache is emptied.
#[derive(Default)]
pub(super) struct BackendCache {
    entries: std::cell::RefCell<HashMap<MemKey, Option<Vec<u8>>, foldhash::fast::RandomState>>,
    checkpoints: std::cell::Cell<u64>,
}

impl BackendCache {
    /// Most entries: a cache that fills up starts again. The records a send
    /// reads again and again are few; a bigger cache only kept what logins
    /// read once (some 150 bytes each, per user).
    const CAPACITY: usize = 4096;

    /// Empties the cache if the backend changed since it was filled.
    fn sync(&self, memtable: &Memtable) {
        if self.checkpoints.get() != memtable.checkpoints() {
            self.checkpoints.set(memtable.checkpoints());
            self.entries.borrow_mut().clear();
        }
    }

    fn get_or_read(
        &self,
        key: MemKey,
        read: impl FnOnce() -> Result<Option<Vec<u8>>, StoreError>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.entries.borrow().get(&key) {
            return Ok(value.clone());
        }
        let value = read()?;
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= Self::CAPACITY {
            entries.clear();
        }
        entries.insert(key, value.clone());
        Ok(value)
    }
}

impl Txn<'_> {
    fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>, fresh: bool) {
        match self.group.entry(MemKey::from(key)) {
            Slot::Occupied(mut entry) => {
                // A key created earlier in the group stays new whatever follows.
                let fresh = fresh || entry.get().fresh;
                let old = std::mem::replace(entry.get_mut(), Write { value, fresh });
                self.undo.push((entry.key().clone(), Some(old)));
            }
            Slot::Vacant(slot) => {
                self.undo.push((slot.key().clone(), None));
                slot.insert(Write { value, fresh });
            }
        }
    }
    /// Takes back every write of this job.
    pub(super) fn rollback(&mut self) {
        for (key, old) in self.undo.drain(..).rev() {
            match old {
                Some(write) => self.group.insert(key, write),
                None => self.group.remove(&key),
            };
        }
    }
    pub(super) fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.write(key, Some(encode(value)), false);
    }
    pub(super) fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.write(key, Some(value), false);
    }
    /// Like [`put`](Self::put) for a key that holds an id this job allocated, so
    /// nothing can be stored under it yet.
    pub(super) fn put_created<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.write(key, Some(encode(value)), true);
    }
    pub(super) fn put_u64(&mut self, key: Vec<u8>, value: u64) {
        self.write(key, Some(value.to_be_bytes().to_vec()), false);
    }
    pub(super) fn delete(&mut self, key: Vec<u8>) {
        self.write(key, None, false);
    }
    /// Whether an idempotency record may be stored under `key` (`false`:
    /// certainly not, without a read).
    pub(super) fn may_have_sent(&self, key: &[u8]) -> bool {
        self.sends.may_hold(key)
    }

    /// An idempotency record is stored under `key` (with [`put_created`](Self::put_created)).
    pub(super) fn note_sent(&mut self, key: &[u8]) {
        self.sends.note(key);
    }

    pub(super) fn next_id(&mut self) -> Result<u64, StoreError> {
        let id = *self.next_id;
        *self.next_id += 1;
        Ok(id)
    }
    /// Every entry with `start <= key < end`, overlays applied, ascending.
    pub(super) fn scan(&self, start: &[u8], end: &[u8]) -> Result<Entries, StoreError> {
        let committed = self.snapshot.scan(start, end)?;
        let logged = self
            .memtable
            .map(|m| m.range(start, end, false, usize::MAX));
        let grouped: Vec<_> = self.group.range(start, end, false, |writes| {
            writes
                .map(|(k, w)| (k.as_slice().to_vec(), w.value.clone()))
                .collect()
        });
        let changes = logged.into_iter().flatten().chain(grouped);
        Ok(overlay(committed, changes, false, usize::MAX))
    }
}

/// Answers a job's caller once its group is committed (or failed). Must not
/// panic: it runs on the writer thread.
pub(super) type Completion = Box<dyn FnOnce(Option<&StoreError>) + Send>;
/// A write: runs in the group, returns how to answer its caller.
pub(super) type Job = Box<dyn FnOnce(&mut Txn<'_>) -> Completion + Send>;

/// Most jobs folded into one commit; bounds the latency one commit adds.
const MAX_GROUP: usize = 4096;

/// Some engines panic on a damaged page: that fails the commit, not the thread
/// (and every later caller).
pub(super) fn commit_caught(
    commit: impl FnOnce() -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    std::panic::catch_unwind(AssertUnwindSafe(commit)).unwrap_or_else(|_| {
        Err(StoreError::backend(std::io::Error::other(
            "commit panicked",
        )))
    })
}

/// The writer thread: takes the jobs queued while it was committing as one group,
/// commits the group (to the log if there is one), then answers each job.
///
/// A commit that fails fails the store (`failure`): after a failed `fsync` what
/// is on disk is unknown, so every later write is refused until a reopen. So
/// does a panic on this thread: the store then says so rather than leave its
/// callers hanging.
pub(super) fn write_loop<B: KvBackend>(
    backend: &B,
    memtable: Option<&RwLock<Memtable>>,
    mut log: Option<WalWriter>,
    jobs: mpsc::Receiver<Job>,
    failure: &Failure,
) {
    let _unwinding = FailOnPanic(failure);
    let mut next_id = match backend.get(keys::NEXT_ID).and_then(|v| match v {
        Some(raw) => decode_u64(keys::NEXT_ID, &raw),
        None => Ok(1),
    }) {
        Ok(id) => id.max(1),
        Err(e) => {
            failure.fail(e);
            return;
        }
    };
    // Kept across groups: growing fresh ones every group faults in fresh pages.
    let (mut completions, mut undo) = (Vec::new(), Vec::new());
    let cache = BackendCache::default();
    let hot = HotReads::default();
    let load_sends = |memtable: Option<&Memtable>| SendFilter::load(backend, memtable);
    let mut sends = match load_sends(None) {
        Ok(sends) => sends,
        Err(e) => {
            failure.fail(e);
            return;
        }
    };
    // How many keys the last group wrote.
    let mut last_keys = 0;
    while let Ok(first) = jobs.recv() {
        // A fresh map each group: one kept at the size of the largest group
        // costs every later (mostly small) group a walk over all its slots.
        // Sized as the last one was: under load the next is much the same,
        // and growing it step by step rehashed every key several times.
        let mut group = Group::with_capacity(last_keys);
        // The memtable is read before the snapshot is taken: a checkpoint that
        // finishes in between is then in the snapshot.
        let unchecked = memtable.map(|m| m.read().expect("memtable lock"));
        if let Some(memtable) = &unchecked {
            cache.sync(memtable);
        }
        if sends.is_full() {
            match load_sends(unchecked.as_deref()) {
                Ok(loaded) => sends = loaded,
                Err(e) => {
                    failure.fail(e);
                    return;
                }
            }
        }
        let snapshot = match backend.snapshot() {
            Ok(snapshot) => snapshot,
            Err(e) => {
                // Fail this group's callers; try afresh with the next.
                drop(first);
                tracing::error!(error = %e, "store snapshot failed");
                continue;
            }
        };
        let first_id = next_id;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let mut txn = Txn {
                snapshot: &*snapshot,
                memtable: unchecked.as_deref(),
                group: &mut group,
                undo: &mut undo,
                next_id: &mut next_id,
                cache: unchecked.is_some().then_some(&cache),
                sends: &mut sends,
                hot: &hot,
            };
            // A panicking job must not take the writer (and every later caller) down.
            match std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut txn))) {
                Ok(completion) => completions.push(completion),
                Err(_) => {
                    txn.rollback();
                    tracing::error!("store job panicked; its writes were dropped");
                }
            }
            undo.clear();
            if completions.len() < MAX_GROUP {
                next = jobs.try_recv().ok();
            }
        }
        // The read view must not outlive the group (it may pin old pages).
        drop(snapshot);
        drop(unchecked);
        if next_id != first_id {
            let value = Some(next_id.to_be_bytes().to_vec());
            group.insert(
                MemKey::new(keys::NEXT_ID),
                Write {
                    value,
                    fresh: false,
                },
            );
        }
        last_keys = group.len();
        let outcome = if group.is_empty() {
            Ok(())
        } else if let Some(failed) = failure.get() {
            Err(failed)
        } else {
            hot.committing(&group);
            match &mut log {
                None => commit_caught(|| {
                    // In key order: the batch is an ordered map, built at
                    // once from sorted input.
                    let batch = group.into_sorted().into_iter();
                    let batch = batch.map(|(k, w)| (k.into_vec(), w.value));
                    backend.commit(batch.collect())
                }),
                Some(log) => log.commit(&mut group),
            }
            .map_err(|e| {
                hot.clear();
                failure.fail(e)
            })
        };
        for completion in completions.drain(..) {
            completion(outcome.as_ref().err());
        }
        if let Some(log) = &mut log {
            log.maintain();
        }
    }
    if let Some(log) = log {
        log.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KvStore, MemoryBackend, Store};

    /// A job that fails after it has written leaves nothing behind, and the jobs
    /// grouped with it still commit.
    #[tokio::test]
    async fn a_failed_job_leaves_no_writes() {
        let backend = MemoryBackend::new();
        let store = KvStore::open(backend.clone()).unwrap();
        let failing = store.write(|txn| {
            txn.put_u64(b"zfailed".to_vec(), 1);
            Err::<(), _>(StoreError::Closed)
        });
        let fine = store.write(|txn| {
            txn.put_u64(b"zfine".to_vec(), 2);
            Ok(())
        });
        let (failing, fine) = tokio::join!(failing, fine);
        assert!(matches!(failing, Err(StoreError::Closed)));
        fine.unwrap();
        assert_eq!(backend.get(b"zfailed").unwrap(), None);
        assert_eq!(
            backend.get(b"zfine").unwrap(),
            Some(2u64.to_be_bytes().to_vec())
        );
        // The store goes on working.
        assert!(store.create_user("ann", "h").await.unwrap().is_some());
    }

    /// A rollback restores the group as the earlier jobs left it: their values,
    /// their new keys' freshness, and no trace of the keys the failed job added.
    #[test]
    fn a_rollback_restores_what_earlier_jobs_wrote() {
        let backend = MemoryBackend::new();
        let snapshot = backend.snapshot().unwrap();
        let (mut group, mut undo, mut next_id) = (Group::default(), Vec::new(), 1);
        let mut txn = Txn {
            snapshot: &*snapshot,
            memtable: None,
            group: &mut group,
            undo: &mut undo,
            next_id: &mut next_id,
            cache: None,
            sends: &mut SendFilter::empty(),
            hot: &HotReads::default(),
        };
        txn.put_created(b"inbox".to_vec(), &1u8);
        txn.put_u64(b"count".to_vec(), 1);
        txn.undo.clear(); // the first job succeeded
        let before: Vec<_> = txn
            .group
            .sorted()
            .into_iter()
            .map(|(k, w)| (k.clone(), w.value.clone(), w.fresh))
            .collect();

        txn.delete(b"inbox".to_vec());
        txn.put_u64(b"count".to_vec(), 2);
        txn.put_u64(b"count".to_vec(), 3);
        txn.put_u64(b"other".to_vec(), 9);
        assert_eq!(
            txn.counter(b"count").unwrap(),
            3,
            "a job sees its own writes"
        );
        assert!(
            txn.group.get(&MemKey::new(b"inbox")).unwrap().fresh,
            "deleting a new key keeps it new"
        );
        txn.rollback();
        let after: Vec<_> = txn
            .group
            .sorted()
            .into_iter()
            .map(|(k, w)| (k.clone(), w.value.clone(), w.fresh))
            .collect();
        assert_eq!(after, before);
        assert!(txn.undo.is_empty());
    }

    /// A hot record read once is answered from memory after, until a write
    /// changes it: a job's write (even one taken back) makes the next read
    /// find what is committed, and a committed change is read as changed.
    #[test]
    fn hot_reads_follow_writes_and_rollbacks() {
        use crate::store::UserId;
        let backend = MemoryBackend::new();
        let key = keys::link(UserId(1), UserId(2));
        let value = |v: &[u8]| Some(v.to_vec());
        backend
            .commit(super::super::WriteBatch::from([(
                key.clone(),
                value(b"one"),
            )]))
            .unwrap();
        let hot = HotReads::default();
        let mut group = Group::default();
        {
            let snapshot = backend.snapshot().unwrap();
            let (mut undo, mut next_id) = (Vec::new(), 1);
            let mut txn = Txn {
                snapshot: &*snapshot,
                memtable: None,
                group: &mut group,
                undo: &mut undo,
                next_id: &mut next_id,
                cache: None,
                sends: &mut SendFilter::empty(),
                hot: &hot,
            };
            assert_eq!(txn.raw(&key).unwrap(), value(b"one"));
            assert_eq!(hot.get(&MemKey::new(&key)), Some(value(b"one")));
            txn.put_raw(key.clone(), b"two".to_vec());
            assert_eq!(txn.raw(&key).unwrap(), value(b"two"));
            txn.rollback();
            assert_eq!(txn.raw(&key).unwrap(), value(b"one"));
            txn.undo.clear();
            txn.put_raw(key.clone(), b"three".to_vec());
            assert_eq!(txn.raw(&key).unwrap(), value(b"three"));
            assert_eq!(
                hot.get(&MemKey::new(&key)),
                Some(value(b"one")),
                "what is committed, until the commit"
            );
        }
        hot.committing(&group);
        assert_eq!(hot.get(&MemKey::new(&key)), Some(value(b"three")));
        let batch = group.into_sorted().into_iter();
        backend
            .commit(batch.map(|(k, w)| (k.into_vec(), w.value)).collect())
            .unwrap();
        let snapshot = backend.snapshot().unwrap();
        let (mut group, mut undo, mut next_id) = (Group::default(), Vec::new(), 1);
        let txn = Txn {
            snapshot: &*snapshot,
            memtable: None,
            group: &mut group,
            undo: &mut undo,
            next_id: &mut next_id,
            cache: None,
            sends: &mut SendFilter::empty(),
            hot: &hot,
        };
        assert_eq!(txn.raw(&key).unwrap(), value(b"three"));
    }

    /// Ids survive a reopen even though the writer keeps the counter in memory.
    #[tokio::test]
    async fn ids_continue_after_reopen() {
        let backend = MemoryBackend::new();
        let first = KvStore::open(backend.clone()).unwrap();
        let ann = first.create_user("ann", "h").await.unwrap().unwrap();
        drop(first);
        let second = KvStore::open(backend).unwrap();
        let bob = second.create_user("bob", "h").await.unwrap().unwrap();
        assert!(bob.id > ann.id);
    }
}
