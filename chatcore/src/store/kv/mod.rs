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
//! A checkpoint spares the disk for the log's own syncs (a checkpointed segment
//! is shrunk step by step before it is deleted, module `wal`) unless it runs
//! slower than the log grows. [`WalConfig::checkpoint_lag`] says which, so that
//! a backend can spare the disk too while checkpoints keep up (`chatcore_redb`
//! paces its commits then, an option of its own).
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
//! | `u` user | [`UserRecord`](records::UserRecord) |
//! | `n` lowercase name | user id |
//! | `l` owner other | [`Link`] |
//! | `p` owner | open outgoing request count |
//! | `h` `d` low high seq | [`Message`] of a 1:1 conversation |
//! | `H` conversation first-seq | format 5: a block of a conversation's messages, written by a checkpoint (module `packed`) |
//! | `J` sender conversation first-client_msg_id | format 5: a block of idempotency records, likewise |
//! | `s` `d` low high | last seq of that conversation |
//! | `i` user item | [`InboxRecord`](records::InboxRecord) |
//! | `K` sender (`d` other user \| `r` room) client_msg_id | [`SendReceipt`] (idempotency, per conversation) |
//! | `k` sender client_msg_id | format 2's idempotency records: swept |
//! | `C` room | member count (format 3) |
//! | `O` owner | how many rooms the owner has (u64 BE) |
//! | `q` user | what the user's files take up (`records::FileUsage`) |
//! | `V` user device | [`DeviceRecord`](records::DeviceRecord) |
//!
//! # Where things are
//!
//! - this file: the [`KvBackend`] and [`KvSnapshot`] traits, and [`KvStore`] (open,
//!   close, and how a write or read reaches the writer thread or the blocking pool);
//! - `records`: the stored forms of the records and their encoding, [`FORMAT_VERSION`];
//! - `upgrade`: the format check at open, and what opening an older format adds;
//! - `keys`: the key layout above;
//! - `writer`: the writer thread, its group commit and a job's transaction (`Txn`);
//! - `wal_writer`: the write-ahead-log side of the writer (`WalWriter`) and its
//!   checkpoints, [`WalConfig`];
//! - `wal`: the log's segment files and records, and the file operations it
//!   needs (`LogFs`, which tests replace);
//! - `failure`: the store's failed state, behind [`Store::health`](super::Store::health);
//! - `memtable` (with `memkey`): the logged changes not yet in the backend;
//! - `packed`: the backend as the rest sees it, with the messages and
//!   idempotency records a checkpoint wrote in blocks read as records of
//!   their own;
//! - `view`: the committed state as a read sees it (`View`);
//! - `domain`: the [`Store`] methods as transactions and reads, by area (users,
//!   friends, chat, rooms, files);
//! - `os`: what the log needs of the operating system beyond `std`.

mod domain;
mod failure;
mod keymap;
pub(super) mod keys;
mod memkey;
mod memtable;
mod os;
mod packed;
#[cfg(all(test, feature = "testkit"))]
mod power_loss;
pub(super) mod records;
mod send_filter;
mod upgrade;
mod view;
mod wal;
mod wal_writer;
mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::StoreError;
use failure::Failure;
use memtable::Memtable;
use packed::Packed;
use records::decode_u64;
use view::View;
use wal::{LogFs, StdFs};
use wal_writer::WalWriter;
use writer::{write_loop, Job, Txn};

pub use records::FORMAT_VERSION;
pub use wal_writer::{CheckpointLag, WalConfig};

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

    /// Bytes free for this backend's files on their file system (see
    /// [`available_space`](super::available_space)), if it keeps any; for
    /// [`Store::free_space`](super::Store::free_space). The default knows none.
    fn free_space(&self) -> Option<u64> {
        None
    }
}

/// Reads of a [`KvBackend::snapshot`].
pub trait KvSnapshot {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every entry with `start <= key < end`, ascending.
    fn scan(&self, start: &[u8], end: &[u8]) -> Result<Entries, StoreError>;

    /// Up to `limit` entries with `start <= key < end`, ascending (or
    /// descending if `reverse`), as [`KvBackend::scan`]. Provided through
    /// [`scan`](Self::scan); a backend that can stop early should.
    fn scan_bounded(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        let mut entries = self.scan(start, end)?;
        if reverse {
            entries.reverse();
        }
        entries.truncate(limit);
        Ok(entries)
    }
}

/// The default snapshot: reads go straight to the backend.
pub(super) struct Live<'a, B: ?Sized>(&'a B);

impl<B: KvBackend + ?Sized> KvSnapshot for Live<'_, B> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn scan(&self, start: &[u8], end: &[u8]) -> Result<Entries, StoreError> {
        self.0.scan(start, end, false, usize::MAX)
    }
    fn scan_bounded(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        self.0.scan(start, end, reverse, limit)
    }
}

/// The domain-level [`Store`](super::Store) over a [`KvBackend`], with group commit.
///
/// Reads run on tokio's blocking pool; writes on one dedicated writer thread.
pub struct KvStore<B: KvBackend> {
    backend: Arc<Packed<B>>,
    /// With a write-ahead log: the changes not yet checkpointed into the backend.
    memtable: Option<Arc<RwLock<Memtable>>>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    failure: Failure,
    /// The write-ahead log's directory, if there is a log.
    log_dir: Option<PathBuf>,
}

impl<B: KvBackend> std::fmt::Debug for KvStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvStore").finish_non_exhaustive()
    }
}

impl<B: KvBackend> KvStore<B> {
    /// Wraps `backend`: checks (or, for an empty database, writes) the format
    /// version and starts the writer thread. Each group commit is one
    /// [`KvBackend::commit`].
    pub fn open(backend: B) -> Result<Self, StoreError> {
        let format = upgrade::check_version(&backend)?;
        let backend = Packed::new(backend)?;
        upgrade::finish(&backend, format)?;
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
        Self::open_with_wal_on(backend, config, StdFs::shared())
    }

    /// [`open_with_wal`](Self::open_with_wal), with the log's files on `fs`.
    pub(crate) fn open_with_wal_on(
        backend: B,
        config: WalConfig,
        fs: Arc<dyn LogFs>,
    ) -> Result<Self, StoreError> {
        let format = upgrade::check_version(&backend)?;
        let checkpointed = backend
            .get(wal::CHECKPOINTED)?
            .map(|v| decode_u64(wal::CHECKPOINTED, &v))
            .transpose()?;
        let recovered = wal::recover(&*fs, &config.dir, checkpointed)?;
        let backend = Packed::new(backend)?;
        if !recovered.batch.is_empty() {
            let mut batch = recovered.batch;
            let last = recovered.next_segment - 1;
            batch.insert(
                wal::CHECKPOINTED.to_vec(),
                Some(last.to_be_bytes().to_vec()),
            );
            backend.commit(batch)?;
        }
        // An upgrade derives what it adds from the whole database: after the replay.
        upgrade::finish(&backend, format)?;
        wal::remove(&*fs, &config.dir, &recovered.files)?;
        let allocated = config.checkpoint_bytes.min(wal::MAX_ALLOCATED);
        let log = wal::Wal::create(fs, &config.dir, recovered.next_segment, allocated)?;
        Self::start(backend, Some((log, config)))
    }

    fn start(backend: Packed<B>, log: Option<(wal::Wal, WalConfig)>) -> Result<Self, StoreError> {
        let backend = Arc::new(backend);
        let failure = Failure::default();
        let memtable = log
            .as_ref()
            .map(|_| Arc::new(RwLock::new(Memtable::default())));
        let log_dir = log.as_ref().map(|(_, config)| config.dir.clone());
        let wal_writer = match (log, &memtable) {
            (Some((log, config)), Some(memtable)) => Some(WalWriter::new(
                log,
                config,
                Arc::clone(memtable),
                &backend,
                failure.clone(),
            )?),
            _ => None,
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let writer_backend = Arc::clone(&backend);
        let writer_memtable = memtable.clone();
        let writer_failure = failure.clone();
        let writer = std::thread::Builder::new()
            .name("chatcore-writer".into())
            .spawn(move || {
                let memtable = writer_memtable.as_deref();
                write_loop(&*writer_backend, memtable, wal_writer, rx, &writer_failure)
            })
            .map_err(StoreError::backend)?;
        Ok(KvStore {
            backend,
            memtable,
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            failure,
            log_dir,
        })
    }

    /// The backend (for backend-specific inspection). With a write-ahead log it
    /// lacks the changes since the last checkpoint, and holds the messages and
    /// idempotency records of checkpoints in blocks (format 5).
    pub fn backend(&self) -> &B {
        self.backend.inner()
    }

    /// Runs `f` as one job of the next group commit; resolves after the commit.
    /// The job is queued at the first poll (writes take effect in that order).
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |txn| {
            let result = f(txn);
            if result.is_err() {
                // A job that fails part-way leaves no writes.
                txn.rollback();
            }
            Box::new(move |commit_error: Option<&StoreError>| {
                let result = match commit_error {
                    Some(e) => Err(e.clone()),
                    None => result,
                };
                let _ = tx.send(result);
            })
        });
        {
            let jobs = self.jobs.lock().expect("jobs lock");
            let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
            sender.send(job).map_err(|_| StoreError::Closed)?;
        }
        // No answer: the writer is gone (if it panicked, the store failed).
        rx.await
            .map_err(|_| self.failure.get().unwrap_or(StoreError::Closed))?
    }

    /// Runs a read on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&View<'_, Packed<B>>) -> Result<T, StoreError> + Send + 'static,
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

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;
    use crate::protocol::Event;
    use crate::store::{MemoryBackend, Store, UserId};

    /// A database of format 1 opens and is upgraded: its inbox items, stored
    /// whole as format 1 stored them, read as they were, and an ack of its message
    /// still sends the sender a receipt.
    #[tokio::test]
    async fn a_format_1_database_is_upgraded_and_reads_as_before() {
        use crate::protocol::{Body, Message, Peer};

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
        let Event::Message(stored) = &message else {
            unreachable!()
        };
        let history = keys::msg(keys::Conv::direct(ann.id, bob.id), 1);
        batch.insert(history, Some(postcard::to_allocvec(stored).unwrap()));
        batch.insert(keys::inbox(bob.id, 901), v1(None, &notice));
        backend.commit(batch).unwrap();

        let store = KvStore::open(backend.clone()).unwrap();
        assert_eq!(
            backend.get(keys::VERSION).unwrap(),
            Some(FORMAT_VERSION.to_be_bytes().to_vec())
        );
        let stream = store.stream(bob.id, 0, 10).await.unwrap();
        let events: Vec<_> = stream.iter().map(|i| i.event.clone()).collect();
        assert_eq!(events, [message, notice]);
        let phone = store.device_login(bob.id, None, 1, 1).await.unwrap();
        let acks = crate::store::Acks {
            device: phone.unwrap().device.id,
            up_to: Some(2),
            room_messages: Vec::new(),
            now: 1,
            active_since: 0,
        };
        let receipts = store.ack(bob.id, acks).await.unwrap();
        assert!(matches!(
            &receipts[..],
            [crate::store::Receipt { sender, ids, .. }] if *sender == ann.id && ids[..] == [900]
        ));
        assert!(store.stream(bob.id, 0, 10).await.unwrap().is_empty());
    }
}
