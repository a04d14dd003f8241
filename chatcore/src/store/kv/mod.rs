//! [`KvStore`]: the domain logic of [`Store`] over any ordered key-value
//! [`KvBackend`], with group commit on a dedicated writer thread.
//!
//! # Group commit
//!
//! Every mutating call becomes a job for the one writer thread. The thread takes all
//! jobs that queued while it was committing, runs each against an overlay of the
//! writes before it (so later jobs see earlier ones), commits the union as one
//! atomic, durable batch, and only then answers each caller. One fsync covers every
//! write that arrived during the previous one. A job that fails leaves no writes.
//!
//! # Key layout
//!
//! All integers are big-endian so that ranges scan in numeric order.
//!
//! | key | value |
//! |---|---|
//! | `m` `version` | format version (u32 BE) |
//! | `m` `next_id` | next user/item id |
//! | `u` user | [`UserRecord`] |
//! | `n` lowercase name | user id |
//! | `l` owner other | [`Link`] |
//! | `p` owner | open outgoing request count |
//! | `h` `d` low high seq | [`Message`] of a 1:1 conversation |
//! | `s` `d` low high | last seq of that conversation |
//! | `i` user item | [`InboxRecord`] |
//! | `k` sender client_msg_id | [`SendReceipt`] (idempotency) |

use std::collections::BTreeMap;
use std::ops::Bound;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{StoreError, UserId};
use crate::protocol::Event;

/// The format version of the key layout, stored in every database.
pub const FORMAT_VERSION: u32 = 1;

/// Key-value pairs as a scan returns them.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Writes to apply atomically: key -> new value, or `None` to delete.
pub type WriteBatch = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// An ordered byte-key store that can commit a batch atomically and durably.
///
/// This is all a backend implements to get the whole [`Store`] (via [`KvStore`]).
/// Methods are synchronous: [`KvStore`] calls them off the async workers.
pub trait KvBackend: Send + Sync + 'static {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` entries with `start <= key < end`, ascending (or descending if
    /// `reverse`).
    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StoreError>;

    /// Applies every write atomically. Must not return `Ok` before the batch is
    /// durable.
    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError>;

    /// A consistent view of the committed state for the many point reads of one
    /// group commit (so a backend can open one read transaction per group rather
    /// than one per read). The default reads the backend directly.
    fn snapshot(&self) -> Result<Box<dyn KvSnapshot + '_>, StoreError> {
        Ok(Box::new(Live(self)))
    }
}

/// Reads of a [`KvBackend::snapshot`].
pub trait KvSnapshot {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every entry with `start <= key < end`, ascending.
    fn scan(&self, start: &[u8], end: &[u8]) -> Result<Entries, StoreError>;
}

/// The default snapshot: reads go straight to the backend.
struct Live<'a, B: ?Sized>(&'a B);

impl<B: KvBackend + ?Sized> KvSnapshot for Live<'_, B> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn scan(&self, start: &[u8], end: &[u8]) -> Result<Entries, StoreError> {
        self.0.scan(start, end, false, usize::MAX)
    }
}

/// Stored form of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Name as registered.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// Stored form of an inbox item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxRecord {
    /// For messages: the sender, who gets a `Delivered` receipt on ack.
    pub sender: Option<UserId>,
    /// The event as delivered.
    pub event: Event,
}

mod domain;
mod keys;

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("records always serialize")
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("{key:?}"),
        reason: e.to_string(),
    })
}

fn decode_u64(key: &[u8], bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        key: format!("{key:?}"),
        reason: "expected 8 bytes".into(),
    })?;
    Ok(u64::from_be_bytes(arr))
}

/// A write transaction as a job sees it: reads see the committed state overlaid with
/// the writes of earlier jobs of the same group and its own.
struct Txn<'a> {
    snapshot: &'a dyn KvSnapshot,
    group: &'a WriteBatch,
    own: WriteBatch,
    /// The id counter, kept by the writer and stored once per group.
    next_id: &'a mut u64,
}

impl Txn<'_> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.own.get(key).or_else(|| self.group.get(key)) {
            return Ok(v.clone());
        }
        self.snapshot.get(key)
    }
    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.get_raw(key)?.map(|v| decode(key, &v)).transpose()
    }
    fn get_u64(&self, key: &[u8]) -> Result<u64, StoreError> {
        Ok(match self.get_raw(key)? {
            Some(v) => decode_u64(key, &v)?,
            None => 0,
        })
    }
    fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.own.insert(key, Some(encode(value)));
    }
    fn put_u64(&mut self, key: Vec<u8>, value: u64) {
        self.own.insert(key, Some(value.to_be_bytes().to_vec()));
    }
    fn delete(&mut self, key: Vec<u8>) {
        self.own.insert(key, None);
    }
    fn next_id(&mut self) -> Result<u64, StoreError> {
        let id = *self.next_id;
        *self.next_id += 1;
        Ok(id)
    }
    /// Every entry with `start <= key < end`, overlays applied, ascending.
    fn scan(&self, start: &[u8], end: &[u8]) -> Result<Entries, StoreError> {
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .snapshot
            .scan(start, end)?
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        for overlay in [self.group, &self.own] {
            let range = overlay.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)));
            merged.extend(range.map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }
}

type Completion = Box<dyn FnOnce(Option<&StoreError>) + Send>;
type Job = Box<dyn FnOnce(&mut Txn<'_>) -> Completion + Send>;

/// Most jobs folded into one commit; bounds the latency one commit adds.
const MAX_GROUP: usize = 4096;

/// The domain-level [`Store`] over a [`KvBackend`], with group commit.
///
/// Reads run on tokio's blocking pool; writes on one dedicated writer thread.
pub struct KvStore<B: KvBackend> {
    backend: Arc<B>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl<B: KvBackend> std::fmt::Debug for KvStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvStore").finish_non_exhaustive()
    }
}

impl<B: KvBackend> KvStore<B> {
    /// Wraps `backend`: checks (or, for an empty database, writes) the format
    /// version and starts the writer thread.
    pub fn open(backend: B) -> Result<Self, StoreError> {
        match backend.get(keys::VERSION)? {
            Some(v) => {
                let found = match <[u8; 4]>::try_from(v.as_slice()) {
                    Ok(b) => u32::from_be_bytes(b),
                    Err(_) => return Err(StoreError::NotADatabase("bad version record".into())),
                };
                if found != FORMAT_VERSION {
                    return Err(StoreError::VersionMismatch {
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
            }
            None => {
                if !backend.scan(&[], &[0xff], false, 1)?.is_empty() {
                    return Err(StoreError::NotADatabase(
                        "data without a version record".into(),
                    ));
                }
                let mut batch = WriteBatch::new();
                batch.insert(
                    keys::VERSION.to_vec(),
                    Some(FORMAT_VERSION.to_be_bytes().to_vec()),
                );
                backend.commit(batch)?;
            }
        }
        let backend = Arc::new(backend);
        let (tx, rx) = mpsc::channel::<Job>();
        let writer_backend = Arc::clone(&backend);
        let writer = std::thread::Builder::new()
            .name("chatcore-store-writer".into())
            .spawn(move || write_loop(&*writer_backend, rx))
            .map_err(StoreError::backend)?;
        Ok(KvStore {
            backend,
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// The backend (for backend-specific inspection).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Runs `f` as one job of the next group commit; resolves after the commit.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write_then(f, |_| {}).await
    }

    /// Like [`write`](Self::write), and calls `committed` with the result once it
    /// is durable, on the writer thread: in commit order across all callers.
    async fn write_then<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, StoreError> + Send + 'static,
        committed: impl FnOnce(&T) + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |txn| {
            let result = f(txn);
            if result.is_err() {
                // A job that fails part-way leaves no writes.
                txn.own.clear();
            }
            Box::new(move |commit_error: Option<&StoreError>| {
                let result = match (commit_error, result) {
                    (Some(e), _) => Err(e.clone()),
                    (None, Ok(value)) => {
                        committed(&value);
                        Ok(value)
                    }
                    (None, Err(e)) => Err(e),
                };
                let _ = tx.send(result);
            })
        });
        {
            let jobs = self.jobs.lock().expect("jobs lock");
            let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
            sender.send(job).map_err(|_| StoreError::Closed)?;
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a read on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&B) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || f(&backend))
            .await
            .map_err(|e| StoreError::backend(std::io::Error::other(e.to_string())))?
    }

    /// Stops the writer after the jobs already queued; later writes fail with
    /// [`StoreError::Closed`]. Dropping the store does the same.
    pub fn close(&self) {
        self.jobs.lock().expect("jobs lock").take();
        if let Some(handle) = self.writer.lock().expect("writer lock").take() {
            let _ = handle.join();
        }
    }
}

impl<B: KvBackend> Drop for KvStore<B> {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_loop<B: KvBackend>(backend: &B, jobs: mpsc::Receiver<Job>) {
    let mut next_id = match backend.get(keys::NEXT_ID).and_then(|v| match v {
        Some(raw) => decode_u64(keys::NEXT_ID, &raw),
        None => Ok(1),
    }) {
        Ok(id) => id.max(1),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the id counter; the store refuses writes");
            return;
        }
    };
    while let Ok(first) = jobs.recv() {
        let mut group = WriteBatch::new();
        let mut completions = Vec::new();
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
                group: &group,
                own: WriteBatch::new(),
                next_id: &mut next_id,
            };
            // A panicking job must not take the writer (and every later caller) down.
            match std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut txn))) {
                Ok(completion) => {
                    let own = txn.own;
                    group.extend(own);
                    completions.push(completion);
                }
                Err(_) => tracing::error!("store job panicked; its writes were dropped"),
            }
            if completions.len() < MAX_GROUP {
                next = jobs.try_recv().ok();
            }
        }
        // The read view must not outlive the group (it may pin old pages).
        drop(snapshot);
        if next_id != first_id {
            group.insert(keys::NEXT_ID.to_vec(), Some(next_id.to_be_bytes().to_vec()));
        }
        let outcome = if group.is_empty() {
            Ok(())
        } else {
            // Some engines panic on a damaged page; fail this group, keep the writer.
            std::panic::catch_unwind(AssertUnwindSafe(|| backend.commit(group))).unwrap_or_else(
                |_| {
                    Err(StoreError::backend(std::io::Error::other(
                        "commit panicked",
                    )))
                },
            )
        };
        for completion in completions {
            completion(outcome.as_ref().err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryBackend, Store};

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
