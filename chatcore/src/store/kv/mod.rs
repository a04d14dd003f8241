//! [`KvStore`]: the domain logic of [`Store`] over any ordered key-value
//! [`KvBackend`], with group commit on a dedicated writer thread, and optionally a
//! write-ahead log in front of the backend.
//!
//! # Group commit
//!
//! Every mutating call becomes a job for the one writer thread. The thread takes all
//! jobs that queued while it was committing, runs each against an overlay of the
//! writes before it (so later jobs see earlier ones), commits the union as one
//! atomic, durable batch, and only then answers each caller. One fsync covers every
//! write that arrived during the previous one. A job that fails leaves no writes.
//!
//! # Write-ahead log ([`KvStore::open_with_wal`])
//!
//! Without a log, a group's commit is one [`KvBackend::commit`]. With one, it is one
//! checksummed record appended to a segment file and `fdatasync`ed (module `wal`),
//! after which the group joins the memtable (module `memtable`): the changes not
//! yet in the backend, which every read overlays on the backend. When a segment
//! reaches [`WalConfig::checkpoint_bytes`], the writer starts the next one and a
//! checkpoint thread commits the memtable's frozen changes into the backend in one
//! batch, with the segment's number under `m` `wal_checkpointed`, then deletes the
//! segment. An entry created and deleted within one period (an inbox entry acked
//! soon after it was written, a delivery receipt) never reaches the backend. Opening
//! replays every segment newer than the recorded number; a torn last record (the
//! one a crash interrupted, never acknowledged) is dropped.
//!
//! # Key layout
//!
//! All integers are big-endian so that ranges scan in numeric order.
//!
//! | key | value |
//! |---|---|
//! | `m` `version` | format version (u32 BE) |
//! | `m` `next_id` | next user/item id |
//! | `m` `wal_checkpointed` | the last write-ahead log segment in the backend |
//! | `u` user | [`UserRecord`] |
//! | `n` lowercase name | user id |
//! | `l` owner other | [`Link`] |
//! | `p` owner | open outgoing request count |
//! | `h` `d` low high seq | [`Message`] of a 1:1 conversation |
//! | `s` `d` low high | last seq of that conversation |
//! | `i` user item | [`InboxRecord`] |
//! | `k` sender client_msg_id | [`SendReceipt`] (idempotency) |

use std::collections::{btree_map, BTreeMap};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{StoreError, UserId};
use crate::protocol::Event;

/// The format version of the key layout, stored in every database. Opening a
/// database of an older format upgrades it in place (so older versions of this
/// crate then refuse it). Format 2: an inbox item of a 1:1 message points into
/// the conversation's history instead of holding a copy; format-1 records are
/// read as they are.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest format this version reads.
const OLDEST_FORMAT: u32 = 1;

/// Key-value pairs as a scan returns them.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Writes to apply atomically: key -> new value, or `None` to delete.
pub type WriteBatch = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes to apply atomically, borrowed: key and new value, or `None` to delete.
pub type BorrowedWrites<'a> = dyn Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a;

/// An ordered byte-key store that can commit a batch atomically and durably.
///
/// This is all a backend implements to get the whole [`Store`](super::Store) (via [`KvStore`]).
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

    /// Like [`commit`](Self::commit), for writes the caller goes on holding (a
    /// checkpoint's changes, which reads use until the commit returns), each key
    /// once. The default copies them into a [`WriteBatch`]; a backend that can
    /// write from borrowed bytes saves that copy.
    fn commit_borrowed(&self, writes: &mut BorrowedWrites<'_>) -> Result<(), StoreError> {
        self.commit(
            writes
                .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                .collect(),
        )
    }

    /// A consistent view of the committed state for the many point reads of one
    /// group commit (so a backend can open one read transaction per group rather
    /// than one per read). The default reads the backend directly.
    fn snapshot(&self) -> Result<Box<dyn KvSnapshot + '_>, StoreError> {
        Ok(Box::new(Live(self)))
    }
    /// Whether to pace the writes of the commits that follow, sparing the disk
    /// for a write-ahead log's own syncs: told `true` when a log opens in front
    /// of the backend (its commits are then checkpoints, which nothing waits
    /// for), `false` while a checkpoint runs slower than the log grows (writers
    /// would soon wait for it), and `true` again once that one is done. Never
    /// told without a log, where every commit is a writer's own. The default
    /// ignores it.
    fn pace_checkpoints(&self, _pace: bool) {}
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
///
/// Format 1 stored the struct `{ sender: Option<UserId>, event: Event }`. postcard
/// writes an `Option` as variant 0 or 1 of an enum, so [`Event`](Self::Event) and
/// [`FromUser`](Self::FromUser) are encoded exactly as that struct was: records of
/// format 1 read as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboxRecord {
    /// An event stored whole, from no one in particular (friend notices, receipts,
    /// shared files).
    Event(Event),
    /// An event stored whole that a user sent; format 1 stored messages so.
    FromUser(UserId, Event),
    /// A 1:1 message from `sender` to the inbox's owner, stored once: in their
    /// conversation's history, at `seq`. The sender gets a `Delivered` receipt on
    /// ack.
    Message {
        /// Who sent it.
        sender: UserId,
        /// Where it is in the conversation.
        seq: u64,
    },
}

impl InboxRecord {
    /// Whom an ack of this item sends a `Delivered` receipt.
    fn receipt_to(&self) -> Option<UserId> {
        match self {
            InboxRecord::Message { sender, .. } => Some(*sender),
            InboxRecord::FromUser(sender, Event::Message(_)) => Some(*sender),
            _ => None,
        }
    }
}

mod domain;
pub(super) mod keys;
mod memkey;
mod memtable;
mod os;
mod wal;

use memkey::MemKey;
use memtable::Memtable;

/// A record's stored bytes, in an allocation of exactly their size.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    thread_local! {
        // Serializing straight into a new vector regrows it several times a record.
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        let filled = postcard::to_extend(value, std::mem::take(scratch));
        *scratch = filled.expect("records always serialize");
        let bytes = scratch.to_vec();
        if scratch.capacity() > 64 << 10 {
            *scratch = Vec::new(); // a rare big record (a file chunk's metadata)
        }
        bytes
    })
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

/// One key's write in a group commit.
struct Write {
    /// The new value, or `None` to delete.
    value: Option<Vec<u8>>,
    /// The key holds an id allocated in this group, so the backend cannot hold it.
    fresh: bool,
}

/// A group commit's writes.
type Group = BTreeMap<MemKey, Write>;

impl Write {
    fn borrowed<'a>((key, write): (&'a MemKey, &'a Write)) -> (&'a [u8], Option<&'a [u8]>) {
        (key.as_slice(), write.value.as_deref())
    }
}

/// A write transaction as a job sees it: reads see the committed state overlaid with
/// the writes of earlier jobs of the same group and its own. A job writes straight
/// into the group and notes what each write replaced, to undo it if the job fails.
struct Txn<'a> {
    snapshot: &'a dyn KvSnapshot,
    /// Logged changes not yet in the backend (with a write-ahead log).
    memtable: Option<&'a Memtable>,
    group: &'a mut Group,
    /// For each of this job's writes, the key and the group's entry before it.
    undo: &'a mut Vec<(MemKey, Option<Write>)>,
    /// The id counter, kept by the writer and stored once per group.
    next_id: &'a mut u64,
}

impl Txn<'_> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let mem_key = MemKey::new(key);
        if let Some(write) = self.group.get(&mem_key) {
            return Ok(write.value.clone());
        }
        if let Some(v) = self.memtable.and_then(|m| m.get(&mem_key)) {
            return Ok(v);
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
    fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>, fresh: bool) {
        match self.group.entry(MemKey::from(key)) {
            btree_map::Entry::Occupied(mut entry) => {
                // A key created earlier in the group stays new whatever follows.
                let fresh = fresh || entry.get().fresh;
                let old = std::mem::replace(entry.get_mut(), Write { value, fresh });
                self.undo.push((entry.key().clone(), Some(old)));
            }
            btree_map::Entry::Vacant(entry) => {
                self.undo.push((entry.key().clone(), None));
                entry.insert(Write { value, fresh });
            }
        }
    }
    /// Takes back every write of this job.
    fn rollback(&mut self) {
        for (key, old) in self.undo.drain(..).rev() {
            match old {
                Some(write) => self.group.insert(key, write),
                None => self.group.remove(&key),
            };
        }
    }
    fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.write(key, Some(encode(value)), false);
    }
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.write(key, Some(value), false);
    }
    /// Like [`put`](Self::put) for a key that holds an id this job allocated, so
    /// nothing can be stored under it yet.
    fn put_created<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.write(key, Some(encode(value)), true);
    }
    fn put_u64(&mut self, key: Vec<u8>, value: u64) {
        self.write(key, Some(value.to_be_bytes().to_vec()), false);
    }
    fn delete(&mut self, key: Vec<u8>) {
        self.write(key, None, false);
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
        if let Some(memtable) = self.memtable {
            merged.extend(memtable.range(start, end, false, usize::MAX));
        }
        let range = self.group.range(MemKey::range(start, end));
        merged.extend(range.map(|(k, w)| (k.as_slice().to_vec(), w.value.clone())));
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

/// Where and when a [`KvStore`] keeps a write-ahead log; see
/// [`KvStore::open_with_wal`].
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// The directory of the log's segment files (`chat-wal-N.log`).
    pub dir: PathBuf,
    /// A checkpoint starts once the current segment holds this many bytes. Larger
    /// means fewer, bigger backend commits and more memory (the changes since the
    /// last checkpoint are also held in memory) and a longer replay after a crash.
    pub checkpoint_bytes: u64,
}

impl WalConfig {
    /// The default checkpoint size.
    pub const DEFAULT_CHECKPOINT_BYTES: u64 = 16 << 20;

    /// A log in `dir` with the default checkpoint size.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalConfig {
            dir: dir.into(),
            checkpoint_bytes: Self::DEFAULT_CHECKPOINT_BYTES,
        }
    }
}

/// The domain-level [`Store`](super::Store) over a [`KvBackend`], with group commit.
///
/// Reads run on tokio's blocking pool; writes on one dedicated writer thread.
pub struct KvStore<B: KvBackend> {
    backend: Arc<B>,
    /// With a write-ahead log: the changes not yet checkpointed into the backend.
    memtable: Option<Arc<RwLock<Memtable>>>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl<B: KvBackend> std::fmt::Debug for KvStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvStore").finish_non_exhaustive()
    }
}

/// Checks the format version: writes it into an empty database, and upgrades an
/// older one in place (every format reads the records of the older ones).
fn check_version<B: KvBackend>(backend: &B) -> Result<(), StoreError> {
    match backend.get(keys::VERSION)? {
        Some(v) => {
            let found = match <[u8; 4]>::try_from(v.as_slice()) {
                Ok(b) => u32::from_be_bytes(b),
                Err(_) => return Err(StoreError::NotADatabase("bad version record".into())),
            };
            if !(OLDEST_FORMAT..=FORMAT_VERSION).contains(&found) {
                return Err(StoreError::VersionMismatch {
                    found,
                    expected: FORMAT_VERSION,
                });
            }
            if found == FORMAT_VERSION {
                return Ok(());
            }
        }
        None => {
            if !backend.scan(&[], &[0xff], false, 1)?.is_empty() {
                return Err(StoreError::NotADatabase(
                    "data without a version record".into(),
                ));
            }
        }
    }
    let mut batch = WriteBatch::new();
    batch.insert(
        keys::VERSION.to_vec(),
        Some(FORMAT_VERSION.to_be_bytes().to_vec()),
    );
    backend.commit(batch)
}

impl<B: KvBackend> KvStore<B> {
    /// Wraps `backend`: checks (or, for an empty database, writes) the format
    /// version and starts the writer thread. Each group commit is one
    /// [`KvBackend::commit`].
    pub fn open(backend: B) -> Result<Self, StoreError> {
        check_version(&backend)?;
        Self::start(backend, None)
    }

    /// Like [`open`](Self::open), with a write-ahead log in `config.dir`: a group
    /// commit is one checksummed append and one `fdatasync` of the log, and the
    /// backend receives the changes later, many groups at once, in a checkpoint on
    /// a thread of its own. Changes that cancel out before a checkpoint (an inbox
    /// entry acknowledged soon after it was written) never reach the backend.
    ///
    /// Opening first replays into the backend whatever the log holds that the last
    /// checkpoint did not, so the backend alone is complete after
    /// [`close`](Self::close) and after this call; the log directory must be the
    /// same on every open.
    pub fn open_with_wal(backend: B, config: WalConfig) -> Result<Self, StoreError> {
        check_version(&backend)?;
        let checkpointed = backend
            .get(wal::CHECKPOINTED)?
            .map(|v| decode_u64(wal::CHECKPOINTED, &v))
            .transpose()?;
        let recovered = wal::recover(&config.dir, checkpointed)?;
        if !recovered.batch.is_empty() {
            let mut batch = recovered.batch;
            let last = recovered.next_segment - 1;
            batch.insert(
                wal::CHECKPOINTED.to_vec(),
                Some(last.to_be_bytes().to_vec()),
            );
            backend.commit(batch)?;
        }
        wal::remove(&config.dir, &recovered.files)?;
        let allocated = config.checkpoint_bytes.min(wal::MAX_ALLOCATED);
        let log = wal::Wal::create(&config.dir, recovered.next_segment, allocated)?;
        Self::start(backend, Some((log, config)))
    }

    fn start(backend: B, log: Option<(wal::Wal, WalConfig)>) -> Result<Self, StoreError> {
        let backend = Arc::new(backend);
        let memtable = log
            .as_ref()
            .map(|_| Arc::new(RwLock::new(Memtable::default())));
        let logged = match (log, &memtable) {
            (Some((log, config)), Some(memtable)) => {
                Some(Logged::new(log, config, Arc::clone(memtable), &backend)?)
            }
            _ => None,
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let writer_backend = Arc::clone(&backend);
        let writer_memtable = memtable.clone();
        let writer = std::thread::Builder::new()
            .name("chatcore-writer".into())
            .spawn(move || write_loop(&*writer_backend, writer_memtable.as_deref(), logged, rx))
            .map_err(StoreError::backend)?;
        Ok(KvStore {
            backend,
            memtable,
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// The backend (for backend-specific inspection). With a write-ahead log it
    /// lacks the changes since the last checkpoint.
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
                txn.rollback();
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
        f: impl FnOnce(&View<'_, B>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let backend = Arc::clone(&self.backend);
        let memtable = self.memtable.clone();
        tokio::task::spawn_blocking(move || {
            f(&View {
                backend: &backend,
                memtable: memtable.as_deref(),
            })
        })
        .await
        .map_err(|e| StoreError::backend(std::io::Error::other(e.to_string())))?
    }

    /// Stops the writer after the jobs already queued (and, with a write-ahead
    /// log, after a final checkpoint); later writes fail with
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

/// The committed state as a read sees it: the backend overlaid with the logged
/// changes not yet checkpointed.
struct View<'a, B> {
    backend: &'a B,
    memtable: Option<&'a RwLock<Memtable>>,
}

impl<B: KvBackend> View<'_, B> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        // A key the memtable does not hold is as new in the backend as it was when
        // the memtable was read: a checkpoint only drops changes it has written.
        if let Some(memtable) = self.memtable {
            let key = MemKey::new(key);
            if let Some(value) = memtable.read().expect("memtable lock").get(&key) {
                return Ok(value);
            }
        }
        self.backend.get(key)
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        let Some(memtable) = self.memtable else {
            return self.backend.scan(start, end, reverse, limit);
        };
        let changes = memtable
            .read()
            .expect("memtable lock")
            .range(start, end, reverse, limit);
        // Each change can hide or replace at most one backend entry.
        let fetch = limit.saturating_add(changes.len());
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .backend
            .scan(start, end, reverse, fetch)?
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        merged.extend(changes);
        let present = |(k, v): (Vec<u8>, Option<Vec<u8>>)| v.map(|v| (k, v));
        Ok(if reverse {
            merged
                .into_iter()
                .rev()
                .filter_map(present)
                .take(limit)
                .collect()
        } else {
            merged.into_iter().filter_map(present).take(limit).collect()
        })
    }
}

/// The write-ahead log side of the writer: where group commits go when there is
/// a log (else each is one backend commit).
struct Logged {
    log: wal::Wal,
    config: WalConfig,
    memtable: Arc<RwLock<Memtable>>,
    checkpoints: mpsc::Sender<Checkpoint>,
    /// A finished checkpoint's outcome, and its changes for the writer to free.
    done: mpsc::Receiver<(Result<(), StoreError>, memtable::Frozen)>,
    checkpointer: Option<JoinHandle<()>>,
    running: bool,
    /// Set while a checkpoint runs slower than the log grows: it then stops
    /// sparing the disk (here, deleting its segments at once; in the backend,
    /// through [`KvBackend::pace_checkpoints`]).
    hurry: Arc<AtomicBool>,
    /// The backend, told when its checkpoint commits may spare the disk.
    backend: Arc<dyn KvBackend>,
    /// After a failed append or checkpoint every later write fails: what is on
    /// disk is then unknown, and a restart replays the log.
    failed: Option<StoreError>,
}

/// A checkpoint's work: the frozen changes, and the segments they came from.
struct Checkpoint {
    changes: memtable::Frozen,
    last_segment: u64,
    files: Vec<PathBuf>,
}

impl Logged {
    fn new<B: KvBackend>(
        log: wal::Wal,
        config: WalConfig,
        memtable: Arc<RwLock<Memtable>>,
        backend: &Arc<B>,
    ) -> Result<Self, StoreError> {
        let (checkpoints, jobs) = mpsc::channel::<Checkpoint>();
        let (done_tx, done) = mpsc::channel();
        let hurry = Arc::new(AtomicBool::new(false));
        backend.pace_checkpoints(true);
        let paced: Arc<dyn KvBackend> = backend.clone();
        let (backend, table, dir, hurrying) = (
            Arc::clone(backend),
            Arc::clone(&memtable),
            config.dir.clone(),
            Arc::clone(&hurry),
        );
        let checkpointer = std::thread::Builder::new()
            .name("chatcore-ckpt".into())
            .spawn(move || {
                // A checkpoint is a few hundred milliseconds of CPU that nothing
                // waits for; at normal priority it would delay commits and
                // deliveries on a busy machine (window-1 p99 about a quarter higher).
                os::lower_priority();
                for job in jobs {
                    let changes = job.changes.clone();
                    let result = checkpoint(&*backend, &table, &dir, &hurrying, job);
                    // Freed by the thread that allocated them: the allocator then
                    // reuses that memory for the next period instead of faulting in
                    // fresh pages.
                    if done_tx.send((result, changes)).is_err() {
                        break;
                    }
                }
            })
            .map_err(StoreError::backend)?;
        Ok(Logged {
            log,
            config,
            memtable,
            checkpoints,
            done,
            checkpointer: Some(checkpointer),
            running: false,
            hurry,
            backend: paced,
            failed: None,
        })
    }

    /// Makes `group` durable in the log, then visible to reads.
    fn commit(&mut self, group: Group) -> Result<(), StoreError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Err(e) = self.log.append(group.iter().map(Write::borrowed)) {
            tracing::error!(error = %e, "write-ahead log append failed; the store refuses writes");
            self.failed = Some(e.clone());
            return Err(e);
        }
        self.memtable.write().expect("memtable lock").apply(group);
        Ok(())
    }

    /// Starts a checkpoint when the segment is full, and holds the writer back
    /// while one runs and the log has grown far past the size.
    fn maintain(&mut self) {
        self.collect(false);
        if self.running && self.log.bytes() >= 4 * self.config.checkpoint_bytes {
            self.collect(true);
        }
        if !self.running
            && self.failed.is_none()
            && self.log.bytes() >= self.config.checkpoint_bytes
        {
            let (last_segment, file) = (self.log.number(), self.log.path());
            if let Err(e) = self.log.rotate() {
                tracing::error!(error = %e, "cannot start a write-ahead log segment");
                self.failed = Some(e);
                return;
            }
            self.start_checkpoint(last_segment, vec![file]);
        }
        // The next segment filled before the running checkpoint finished: the
        // checkpoint is slower than the log, and paced it would fall behind
        // until writers wait for it.
        let hurry = self.running && self.log.bytes() >= self.config.checkpoint_bytes;
        if hurry != self.hurry.load(Ordering::Relaxed) {
            self.hurry.store(hurry, Ordering::Relaxed);
            self.backend.pace_checkpoints(!hurry);
        }
    }

    fn start_checkpoint(&mut self, last_segment: u64, files: Vec<PathBuf>) {
        let changes = self.memtable.write().expect("memtable lock").freeze();
        let job = Checkpoint {
            changes,
            last_segment,
            files,
        };
        self.running = self.checkpoints.send(job).is_ok();
    }

    /// Takes the result of a finished checkpoint (waiting for it if `wait`).
    fn collect(&mut self, wait: bool) {
        if !self.running {
            return;
        }
        let result = if wait {
            self.done.recv().ok()
        } else {
            self.done.try_recv().ok()
        };
        if let Some((result, changes)) = result {
            drop(changes);
            self.running = false;
            if let Err(e) = result {
                tracing::error!(error = %e, "checkpoint failed; the store refuses writes");
                self.failed = Some(e);
            }
        }
    }

    /// At close: checkpoints everything, so the backend alone is complete.
    fn finish(mut self) {
        self.collect(true);
        let empty = self.memtable.read().expect("memtable lock").is_empty();
        if self.failed.is_none() && !empty {
            self.start_checkpoint(self.log.number(), vec![self.log.path()]);
            self.collect(true);
        }
        drop(self.checkpoints);
        if let Some(handle) = self.checkpointer.take() {
            let _ = handle.join();
        }
    }
}

/// Writes frozen changes into the backend, durably and with the number of the last
/// segment they cover, then forgets them and deletes those segments.
fn checkpoint<B: KvBackend>(
    backend: &B,
    memtable: &RwLock<Memtable>,
    dir: &std::path::Path,
    hurry: &AtomicBool,
    job: Checkpoint,
) -> Result<(), StoreError> {
    let marker = job.last_segment.to_be_bytes();
    let mut writes = job
        .changes
        .writes()
        .chain(std::iter::once((wal::CHECKPOINTED, Some(&marker[..]))));
    commit_caught(|| backend.commit_borrowed(&mut writes))?;
    // Dropped outside the lock; the writer holds the last reference.
    let forgotten = memtable.write().expect("memtable lock").checkpointed();
    drop(forgotten);
    // The backend now records the checkpoint: a segment that outlives a failed
    // delete is skipped at the next open.
    if let Err(e) = wal::remove_gradually(dir, &job.files, hurry) {
        tracing::warn!(error = %e, "cannot delete a checkpointed write-ahead log segment");
    }
    Ok(())
}

/// Some engines panic on a damaged page: that fails the commit, not the thread
/// (and every later caller).
fn commit_caught(commit: impl FnOnce() -> Result<(), StoreError>) -> Result<(), StoreError> {
    std::panic::catch_unwind(AssertUnwindSafe(commit)).unwrap_or_else(|_| {
        Err(StoreError::backend(std::io::Error::other(
            "commit panicked",
        )))
    })
}

fn write_loop<B: KvBackend>(
    backend: &B,
    memtable: Option<&RwLock<Memtable>>,
    mut log: Option<Logged>,
    jobs: mpsc::Receiver<Job>,
) {
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
    // Kept across groups: growing fresh ones every group faults in fresh pages.
    let (mut completions, mut undo) = (Vec::new(), Vec::new());
    while let Ok(first) = jobs.recv() {
        let mut group = Group::new();
        // The memtable is read before the snapshot is taken: a checkpoint that
        // finishes in between is then in the snapshot.
        let unchecked = memtable.map(|m| m.read().expect("memtable lock"));
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
        let outcome = if group.is_empty() {
            Ok(())
        } else {
            match &mut log {
                None => commit_caught(|| {
                    let batch = group.into_iter().map(|(k, w)| (k.into_vec(), w.value));
                    backend.commit(batch.collect())
                }),
                Some(log) => log.commit(group),
            }
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

    /// A rollback restores the group as the earlier jobs left it: their values,
    /// their new keys' freshness, and no trace of the keys the failed job added.
    #[test]
    fn a_rollback_restores_what_earlier_jobs_wrote() {
        let backend = MemoryBackend::new();
        let snapshot = backend.snapshot().unwrap();
        let (mut group, mut undo, mut next_id) = (Group::new(), Vec::new(), 1);
        let mut txn = Txn {
            snapshot: &*snapshot,
            memtable: None,
            group: &mut group,
            undo: &mut undo,
            next_id: &mut next_id,
        };
        txn.put_created(b"inbox".to_vec(), &1u8);
        txn.put_u64(b"count".to_vec(), 1);
        txn.undo.clear(); // the first job succeeded
        let before: Vec<_> = txn
            .group
            .iter()
            .map(|(k, w)| (k.clone(), w.value.clone(), w.fresh))
            .collect();

        txn.delete(b"inbox".to_vec());
        txn.put_u64(b"count".to_vec(), 2);
        txn.put_u64(b"count".to_vec(), 3);
        txn.put_u64(b"other".to_vec(), 9);
        assert_eq!(
            txn.get_u64(b"count").unwrap(),
            3,
            "a job sees its own writes"
        );
        assert!(
            txn.group[&MemKey::new(b"inbox")].fresh,
            "deleting a new key keeps it new"
        );
        txn.rollback();
        let after: Vec<_> = txn
            .group
            .iter()
            .map(|(k, w)| (k.clone(), w.value.clone(), w.fresh))
            .collect();
        assert_eq!(after, before);
        assert!(txn.undo.is_empty());
    }

    /// A database of format 1 opens and is upgraded: its inbox items, stored
    /// whole as format 1 stored them, read as they were, and an ack of its message
    /// still sends the sender a receipt.
    #[tokio::test]
    async fn a_format_1_database_is_upgraded_and_reads_as_before() {
        use crate::protocol::{Body, Message, Peer};
        use crate::store::Notice;

        #[derive(Serialize)]
        struct InboxRecordV1 {
            sender: Option<UserId>,
            event: Event,
        }
        let backend = MemoryBackend::new();
        let store = KvStore::open(backend.clone()).unwrap();
        let ann = store.create_user("ann", "h").await.unwrap().unwrap();
        let bob = store.create_user("bob", "h").await.unwrap().unwrap();
        drop(store);
        let message = Event::Message(Message {
            id: 900,
            seq: 1,
            from: "ann".into(),
            to: Peer::User("bob".into()),
            body: Body::Text("from format 1 😀".into()),
            ts: 5,
        });
        let notice = Event::FriendAdded {
            id: 901,
            user: "ann".into(),
        };
        let v1 = |sender, event: &Event| {
            let record = InboxRecordV1 {
                sender,
                event: event.clone(),
            };
            Some(postcard::to_allocvec(&record).unwrap())
        };
        let mut batch = WriteBatch::new();
        batch.insert(keys::VERSION.to_vec(), Some(1u32.to_be_bytes().to_vec()));
        batch.insert(keys::inbox(bob.id, 900), v1(Some(ann.id), &message));
        batch.insert(keys::inbox(bob.id, 901), v1(None, &notice));
        backend.commit(batch).unwrap();

        let store = KvStore::open(backend.clone()).unwrap();
        assert_eq!(
            backend.get(keys::VERSION).unwrap(),
            Some(FORMAT_VERSION.to_be_bytes().to_vec())
        );
        assert_eq!(
            store.inbox(bob.id, None, 10).await.unwrap(),
            [message, notice]
        );
        let receipts = store.ack(bob.id, &[900, 901]).await.unwrap();
        assert!(matches!(
            &receipts[..],
            [Notice { recipient, event: Event::Delivered { ids, .. } }]
                if *recipient == ann.id && ids[..] == [900]
        ));
        assert!(store.inbox(bob.id, None, 10).await.unwrap().is_empty());
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
    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }

    /// What the log holds when a process dies (copied while the store still runs,
    /// before any checkpoint) is enough to rebuild every acknowledged change.
    #[tokio::test]
    async fn the_log_alone_recovers_every_acknowledged_change() {
        use crate::protocol::{Body, Event};
        use crate::store::{Appended, NewMessage};

        let (live, crashed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store =
            KvStore::open_with_wal(MemoryBackend::new(), WalConfig::new(live.path())).unwrap();
        let ann = store.create_user("ann", "h").await.unwrap().unwrap();
        let bob = store.create_user("bob", "h").await.unwrap().unwrap();
        let mut ids = Vec::new();
        for n in 0..10 {
            let msg = NewMessage {
                from: ann.clone(),
                to: bob.clone(),
                client_msg_id: n,
                body: Body::Text(format!("hi {n}")),
                ts: 1,
            };
            let Appended::New(m) = store.append_direct(msg).await.unwrap() else {
                panic!("a new message")
            };
            ids.push(m.id);
        }
        store.ack(bob.id, &ids[..4]).await.unwrap();
        copy_dir(live.path(), crashed.path());

        let backend = MemoryBackend::new();
        let reopened =
            KvStore::open_with_wal(backend.clone(), WalConfig::new(crashed.path())).unwrap();
        let inbox = reopened.inbox(bob.id, None, 100).await.unwrap();
        let left: Vec<_> = inbox
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.id),
                _ => None,
            })
            .collect();
        assert_eq!(left, ids[4..]);
        let receipts = reopened.inbox(ann.id, None, 100).await.unwrap();
        assert!(matches!(&receipts[..], [Event::Delivered { ids: d, .. }] if d[..] == ids[..4]));
        assert_eq!(
            reopened
                .direct_history(ann.id, bob.id, None, 100)
                .await
                .unwrap()
                .len(),
            10
        );
        // Replayed into the backend at open, not just into memory.
        assert!(backend.get(&keys::user(bob.id)).unwrap().is_some());
        // Ids go on from where the log left them.
        let cat = reopened.create_user("cat", "h").await.unwrap().unwrap();
        assert!(cat.id.0 > ids[9]);
    }

    /// A close checkpoints everything: the backend alone is complete, and the
    /// next open replays nothing it already has.
    #[tokio::test]
    async fn close_leaves_everything_in_the_backend() {
        let dir = tempfile::tempdir().unwrap();
        let backend = MemoryBackend::new();
        let store = KvStore::open_with_wal(backend.clone(), WalConfig::new(dir.path())).unwrap();
        let ann = store.create_user("ann", "h").await.unwrap().unwrap();
        assert!(
            backend.get(&keys::user(ann.id)).unwrap().is_none(),
            "only logged so far"
        );
        drop(store);
        assert!(backend.get(&keys::user(ann.id)).unwrap().is_some());
        let store = KvStore::open_with_wal(backend, WalConfig::new(dir.path())).unwrap();
        assert_eq!(store.user_by_id(ann.id).await.unwrap().unwrap(), ann);
        assert_eq!(
            wal::segments(dir.path()).unwrap().len(),
            1,
            "one fresh segment"
        );
    }
    /// A backend whose commits fail while `broken` is set and wait while
    /// `closed` is, recording what the store tells it about pacing.
    #[derive(Clone, Default)]
    struct Controlled {
        inner: MemoryBackend,
        broken: Arc<AtomicBool>,
        closed: Arc<AtomicBool>,
        told: Arc<Mutex<Vec<bool>>>,
    }

    impl KvBackend for Controlled {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.get(key)
        }
        fn scan(&self, s: &[u8], e: &[u8], rev: bool, n: usize) -> Result<Entries, StoreError> {
            self.inner.scan(s, e, rev, n)
        }
        fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
            while self.closed.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if self.broken.load(Ordering::SeqCst) {
                return Err(StoreError::backend(std::io::Error::other("disk gone")));
            }
            self.inner.commit(batch)
        }
        fn pace_checkpoints(&self, pace: bool) {
            self.told.lock().unwrap().push(pace);
        }
    }

    /// Checkpoints are paced from the open on; one still running when the next
    /// segment is full is told to stop pacing, and told to pace again once done.
    #[tokio::test]
    async fn checkpoints_are_paced_unless_slower_than_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Controlled::default();
        let config = WalConfig {
            checkpoint_bytes: 4096,
            ..WalConfig::new(dir.path())
        };
        let store = KvStore::open_with_wal(backend.clone(), config).unwrap();
        backend.closed.store(true, Ordering::SeqCst);
        // Dropped before the store, whose close waits for the checkpoint.
        struct OpenOnDrop(Arc<AtomicBool>);
        impl Drop for OpenOnDrop {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        let _gate = OpenOnDrop(Arc::clone(&backend.closed));
        let told = || backend.told.lock().unwrap().clone();
        let mut users = 0;
        // The first full segment starts a checkpoint, which waits at the gate
        // while the next segment fills. Untold, the writer would soon be held
        // back waiting for the checkpoint.
        assert_eq!(told(), [true], "paced from the open");
        while told().len() < 2 {
            let name = format!("u{users}");
            let create = store.create_user(&name, "h");
            tokio::time::timeout(std::time::Duration::from_secs(10), create)
                .await
                .expect("held back before being told to hurry")
                .unwrap();
            users += 1;
        }
        assert_eq!(told(), [true, false]);
        backend.closed.store(false, Ordering::SeqCst);
        while told().len() < 3 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            store.create_user(&format!("u{users}"), "h").await.unwrap();
            users += 1;
            assert!(users < 1000, "never told the hurry is over");
        }
        assert_eq!(told(), [true, false, true]);
    }

    /// A checkpoint that fails stops all later writes (what is on disk is then
    /// unknown) but loses nothing acknowledged: reads still see it, and the next
    /// open replays it from the log.
    #[tokio::test]
    async fn a_failed_checkpoint_refuses_writes_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Controlled::default();
        let config = WalConfig {
            checkpoint_bytes: 1,
            ..WalConfig::new(dir.path())
        };
        let store = KvStore::open_with_wal(backend.clone(), config.clone()).unwrap();
        store.create_user("ann", "h").await.unwrap().unwrap();
        backend.broken.store(true, Ordering::SeqCst);
        let mut acknowledged = Vec::new();
        let refused = loop {
            let name = format!("user{}", acknowledged.len());
            match store.create_user(&name, "h").await {
                Ok(_) => acknowledged.push(name),
                Err(e) => break e,
            }
            assert!(
                acknowledged.len() < 1000,
                "writes go on after a failed checkpoint"
            );
        };
        assert!(matches!(refused, StoreError::Backend(_)), "{refused:?}");
        for name in &acknowledged {
            assert!(
                store.account_by_name(name).await.unwrap().is_some(),
                "{name}"
            );
        }
        drop(store);

        backend.broken.store(false, Ordering::SeqCst);
        let store = KvStore::open_with_wal(backend.clone(), config).unwrap();
        for name in acknowledged.iter().chain([&"ann".to_string()]) {
            assert!(
                store.account_by_name(name).await.unwrap().is_some(),
                "{name}"
            );
        }
        assert!(store.create_user("bob", "h").await.unwrap().is_some());
    }

    proptest::proptest! {
        /// Reads through the memtable (frozen and active changes) over the backend
        /// agree with applying every change in order, for any range, direction and
        /// limit.
        #[test]
        fn view_scans_match_a_model(
            phases in proptest::collection::vec(
                proptest::collection::vec((0u8..12, proptest::option::of(0u8..4)), 0..12),
                3,
            ),
            scans in proptest::collection::vec((0u8..13, 0u8..13, proptest::bool::ANY, 0usize..6), 1..8),
        ) {
            let batch = |writes: &Vec<(u8, Option<u8>)>| -> WriteBatch {
                writes.iter().map(|(k, v)| (vec![*k], v.map(|v| vec![v]))).collect()
            };
            let backend = MemoryBackend::new();
            backend.commit(batch(&phases[0])).unwrap();
            let group = |writes: &Vec<(u8, Option<u8>)>| -> Group {
                batch(writes).into_iter().map(|(k, value)| (MemKey::from(k), Write { value, fresh: false })).collect()
            };
            let mut memtable = Memtable::default();
            memtable.apply(group(&phases[1]));
            memtable.freeze();
            memtable.apply(group(&phases[2]));
            let mut model = BTreeMap::new();
            for phase in &phases {
                for (k, v) in batch(phase) {
                    match v {
                        Some(v) => model.insert(k, v),
                        None => model.remove(&k),
                    };
                }
            }
            let memtable = RwLock::new(memtable);
            let view = View { backend: &backend, memtable: Some(&memtable) };
            for (a, b, reverse, limit) in scans {
                let (start, end) = (vec![a], vec![b]);
                let got = view.scan(&start, &end, reverse, limit).unwrap();
                let range = model.range(start.clone()..end.clone().max(start.clone()));
                let want: Entries = if reverse {
                    range.rev().take(limit).map(|(k, v)| (k.clone(), v.clone())).collect()
                } else {
                    range.take(limit).map(|(k, v)| (k.clone(), v.clone())).collect()
                };
                proptest::prop_assert_eq!(got, want, "scan {}..{} reverse={} limit={}", a, b, reverse, limit);
            }
            for key in 0u8..12 {
                proptest::prop_assert_eq!(view.get(&[key]).unwrap(), model.get(&vec![key]).cloned());
            }
        }
    }
}
