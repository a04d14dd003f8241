//! The write-ahead-log side of the writer ([`WalWriter`]): where group commits
//! go when there is a log, and the checkpoints that move them into the backend.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, RwLock};
use std::thread::JoinHandle;

use super::failure::Failure;
use super::memtable::{self, Memtable};
use super::packed::{self, Packed};
use super::wal::LogFs;
use super::writer::{commit_caught, Group, Write};
use super::{os, wal, KvBackend};
use crate::store::StoreError;

/// Where and when a [`KvStore`](super::KvStore) keeps a write-ahead log; see
/// [`KvStore::open_with_wal`](super::KvStore::open_with_wal).
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// The directory of the log's segment files (`chat-wal-N.log`).
    pub dir: PathBuf,
    /// A checkpoint starts once the current segment holds this many bytes. Larger
    /// means fewer, bigger backend commits and more memory (the changes since the
    /// last checkpoint are also held in memory) and a longer replay after a crash.
    pub checkpoint_bytes: u64,
    /// Whether the log's checkpoints keep up with it, kept up to date by the
    /// store opened with this config, for a backend that tunes its commits to
    /// that (give it a clone before the open). A clone of the config shares it.
    pub checkpoint_lag: CheckpointLag,
}

impl WalConfig {
    /// The default checkpoint size.
    pub const DEFAULT_CHECKPOINT_BYTES: u64 = 16 << 20;

    /// A log in `dir` with the default checkpoint size.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalConfig {
            dir: dir.into(),
            checkpoint_bytes: Self::DEFAULT_CHECKPOINT_BYTES,
            checkpoint_lag: CheckpointLag::new(),
        }
    }
}

/// Whether a write-ahead log's checkpoints keep up with it: set while a
/// checkpoint runs slower than the write-ahead log grows.
///
/// A cloneable handle that a [`WalConfig`] carries; all clones share one state,
/// which the store opened with that config keeps. While the log is open (from
/// the end of the open's replay until the store closes) its checkpoints either
/// [keep up](Self::keeps_up) or [lag](Self::is_lagging): they lag once the next
/// segment fills before the running checkpoint is done. Before and after, neither.
///
/// For a backend that spares the disk for the log's own syncs while its commits
/// are checkpoints that keep up (no writer waits for those; a lagging one, spared,
/// would fall further behind until writers wait for it), as `chatcore_redb` can.
#[derive(Clone, Default)]
pub struct CheckpointLag(Arc<AtomicU8>);

// The states of a `CheckpointLag`.
const NO_LOG: u8 = 0;
const KEEPING_UP: u8 = 1;
const LAGGING: u8 = 2;

impl CheckpointLag {
    /// A handle on no log yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a log is open with this handle and its checkpoints keep up with it.
    pub fn keeps_up(&self) -> bool {
        self.0.load(Ordering::Relaxed) == KEEPING_UP
    }

    /// Whether a checkpoint runs slower than the log grows.
    pub fn is_lagging(&self) -> bool {
        self.0.load(Ordering::Relaxed) == LAGGING
    }

    /// Sets the state; only the [`WalWriter`] does.
    fn set(&self, state: u8) {
        self.0.store(state, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for CheckpointLag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointLag")
            .field("keeps_up", &self.keeps_up())
            .field("is_lagging", &self.is_lagging())
            .finish()
    }
}

/// The write-ahead log side of the writer: where group commits go when there is
/// a log (else each is one backend commit).
pub(super) struct WalWriter {
    log: wal::Wal,
    config: WalConfig,
    memtable: Arc<RwLock<Memtable>>,
    checkpoints: mpsc::Sender<Checkpoint>,
    /// A finished checkpoint's outcome, and its changes for the writer to free.
    done: mpsc::Receiver<(Result<(), StoreError>, memtable::Frozen)>,
    checkpointer: Option<JoinHandle<()>>,
    running: bool,
    /// Set after a failed append, rotation or checkpoint: every later write
    /// fails (what is on disk is then unknown), and a restart replays the log.
    failure: Failure,
}

/// A checkpoint's work: the frozen changes, and the segments they came from.
struct Checkpoint {
    changes: memtable::Frozen,
    last_segment: u64,
    files: Vec<PathBuf>,
}

impl WalWriter {
    pub(super) fn new<B: KvBackend>(
        log: wal::Wal,
        config: WalConfig,
        memtable: Arc<RwLock<Memtable>>,
        backend: &Arc<Packed<B>>,
        failure: Failure,
    ) -> Result<Self, StoreError> {
        let (checkpoints, jobs) = mpsc::channel::<Checkpoint>();
        let (done_tx, done) = mpsc::channel();
        config.checkpoint_lag.set(KEEPING_UP);
        let (backend, table, dir, lag, fs) = (
            Arc::clone(backend),
            Arc::clone(&memtable),
            config.dir.clone(),
            config.checkpoint_lag.clone(),
            Arc::clone(log.fs()),
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
                    let result = checkpoint(&*backend, &table, &*fs, &dir, &lag, job);
                    // Freed by the thread that allocated them: the allocator then
                    // reuses that memory for the next period instead of faulting in
                    // fresh pages.
                    if done_tx.send((result, changes)).is_err() {
                        break;
                    }
                }
            })
            .map_err(StoreError::backend)?;
        Ok(WalWriter {
            log,
            config,
            memtable,
            checkpoints,
            done,
            checkpointer: Some(checkpointer),
            running: false,
            failure,
        })
    }

    /// Makes `group` durable in the log, then visible to reads. A failure here
    /// fails the store (the writer sees to that).
    pub(super) fn commit(&mut self, group: &mut Group) -> Result<(), StoreError> {
        self.log.append(group.iter().map(Write::borrowed))?;
        self.memtable.write().expect("memtable lock").apply(group);
        Ok(())
    }

    /// Starts a checkpoint when the segment is full, and holds the writer back
    /// while one runs and the log has grown far past the size.
    pub(super) fn maintain(&mut self) {
        self.collect(false);
        if self.running && self.log.bytes() >= 4 * self.config.checkpoint_bytes {
            self.collect(true);
        }
        if !self.running
            && self.failure.get().is_none()
            && self.log.bytes() >= self.config.checkpoint_bytes
        {
            let (last_segment, file) = (self.log.number(), self.log.path());
            if let Err(e) = self.log.rotate() {
                self.failure.fail(e);
                return;
            }
            self.start_checkpoint(last_segment, vec![file]);
        }
        // The next segment filled before the running checkpoint finished: the
        // checkpoint is slower than the log, and sparing the disk it would fall
        // behind until writers wait for it.
        let lagging = self.running && self.log.bytes() >= self.config.checkpoint_bytes;
        let lag = &self.config.checkpoint_lag;
        if lagging != lag.is_lagging() {
            lag.set(if lagging { LAGGING } else { KEEPING_UP });
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
                self.failure.fail(e);
            }
        }
    }

    /// At close: checkpoints everything, so the backend alone is complete.
    pub(super) fn finish(mut self) {
        self.collect(true);
        let empty = self.memtable.read().expect("memtable lock").is_empty();
        if self.failure.get().is_none() && !empty {
            self.start_checkpoint(self.log.number(), vec![self.log.path()]);
            self.collect(true);
        }
        drop(self.checkpoints);
        if let Some(handle) = self.checkpointer.take() {
            let _ = handle.join();
        }
        self.config.checkpoint_lag.set(NO_LOG);
    }
}

/// Writes frozen changes into the backend, durably and with the number of the last
/// segment they cover, then forgets them and deletes those segments.
fn checkpoint<B: KvBackend>(
    backend: &Packed<B>,
    memtable: &RwLock<Memtable>,
    fs: &dyn LogFs,
    dir: &Path,
    lag: &CheckpointLag,
    job: Checkpoint,
) -> Result<(), StoreError> {
    let marker = job.last_segment.to_be_bytes();
    // New messages and idempotency records go into blocks (module `packed`).
    let to_pack = |&(key, value, new): &(&[u8], Option<&[u8]>, bool)| {
        new && value.is_some() && packed::packs(key)
    };
    let changes = || job.changes.changes();
    let fresh = changes()
        .filter(to_pack)
        .map(|(key, value, _)| (key, value.unwrap_or_default()));
    let mut writes = changes()
        .filter(|change| !to_pack(change))
        .map(|(key, value, _)| (key, value))
        .chain(std::iter::once((wal::CHECKPOINTED, Some(&marker[..]))));
    commit_caught(|| backend.commit_checkpoint(fresh, &mut writes))?;
    // Dropped outside the lock; the writer holds the last reference.
    let forgotten = memtable.write().expect("memtable lock").checkpointed();
    drop(forgotten);
    // The backend now records the checkpoint: a segment that outlives a failed
    // delete is skipped at the next open.
    if let Err(e) = wal::remove_gradually(fs, dir, &job.files, lag) {
        tracing::warn!(error = %e, "cannot delete a checkpointed write-ahead log segment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::store::kv::{keys, Entries, KvStore, WriteBatch};
    use crate::store::{MemoryBackend, Store};

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
        use crate::store::{Acks, NewMessage};

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
                friends_only: false,
                device: None,
            };
            let sent = store.append_direct(msg).await.unwrap().unwrap();
            ids.push(sent.receipt.id);
        }
        let phone = store.device_login(bob.id, None, 1, 1).await.unwrap();
        let acks = Acks {
            device: phone.unwrap().device.id,
            up_to: Some(4),
            room_messages: Vec::new(),
            now: 1,
            active_since: 0,
        };
        store.ack(bob.id, acks).await.unwrap();
        copy_dir(live.path(), crashed.path());

        let backend = MemoryBackend::new();
        let reopened =
            KvStore::open_with_wal(backend.clone(), WalConfig::new(crashed.path())).unwrap();
        let stream = reopened.stream(bob.id, 0, 100).await.unwrap();
        let left: Vec<_> = stream
            .iter()
            .filter_map(|i| match &i.event {
                Event::Message(m) => Some(m.id),
                _ => None,
            })
            .collect();
        assert_eq!(left, ids[4..]);
        // The delivered mark the acks moved.
        let marks = reopened.delivered_since(ann.id, 0).await.unwrap();
        assert_eq!(marks, [("bob".to_string(), 4)]);
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
            wal::segments(&wal::StdFs, dir.path()).unwrap().len(),
            1,
            "one fresh segment"
        );
    }
    /// A backend whose commits fail while `broken` is set and wait while
    /// `closed` is.
    #[derive(Clone, Default)]
    struct Controlled {
        inner: MemoryBackend,
        broken: Arc<AtomicBool>,
        closed: Arc<AtomicBool>,
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
    }

    /// Checkpoints keep up (and may be paced) from the open on; one still
    /// running when the next segment is full lags (and must not be), and keeps
    /// up again once done. Without an open log, neither.
    #[tokio::test]
    async fn checkpoints_are_paced_unless_slower_than_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Controlled::default();
        let config = WalConfig {
            checkpoint_bytes: 4096,
            ..WalConfig::new(dir.path())
        };
        let lag = config.checkpoint_lag.clone();
        let state = || (lag.keeps_up(), lag.is_lagging());
        assert_eq!(state(), (false, false), "no log before the open");
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
        let mut users = 0;
        // The first full segment starts a checkpoint, which waits at the gate
        // while the next segment fills. Unless it lags, the writer would soon be
        // held back waiting for the checkpoint.
        assert_eq!(state(), (true, false), "keeps up from the open");
        while !lag.is_lagging() {
            let name = format!("u{users}");
            let create = store.create_user(&name, "h");
            tokio::time::timeout(std::time::Duration::from_secs(10), create)
                .await
                .expect("held back before the checkpoint lagged")
                .unwrap();
            users += 1;
        }
        assert_eq!(state(), (false, true));
        backend.closed.store(false, Ordering::SeqCst);
        while lag.is_lagging() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            store.create_user(&format!("u{users}"), "h").await.unwrap();
            users += 1;
            assert!(users < 1000, "still lagging after the checkpoint finished");
        }
        assert_eq!(state(), (true, false));
        drop(store);
        assert_eq!(state(), (false, false), "no log after the close");
    }

    /// The writer's reads of the backend stay true across checkpoints: with a
    /// checkpoint after every write, a link that changes back and forth is
    /// read by each send as it last was (a stale cached read would let a
    /// blocked send through, or refuse an allowed one).
    #[tokio::test]
    async fn the_writers_reads_follow_checkpoints() {
        use crate::friends::FriendAction;
        use crate::protocol::{Body, ErrorCode};
        use crate::store::NewMessage;

        let dir = tempfile::tempdir().unwrap();
        let config = WalConfig {
            checkpoint_bytes: 1,
            ..WalConfig::new(dir.path())
        };
        let store = KvStore::open_with_wal(MemoryBackend::new(), config).unwrap();
        let ann = store.create_user("ann", "h").await.unwrap().unwrap();
        let bob = store.create_user("bob", "h").await.unwrap().unwrap();
        for n in 0..40u64 {
            let blocked = n % 2 == 0;
            let action = if blocked {
                FriendAction::Block
            } else {
                FriendAction::Unblock
            };
            store
                .friend_op(&ann, &bob, action, 10)
                .await
                .unwrap()
                .unwrap();
            // Let a checkpoint or two go by.
            for _ in 0..(n % 3) {
                store
                    .create_user(&format!("pad{n}x{}", n % 3), "h")
                    .await
                    .ok();
                tokio::task::yield_now().await;
            }
            let msg = NewMessage {
                from: bob.clone(),
                to: ann.clone(),
                client_msg_id: n,
                body: Body::Text("hi".into()),
                ts: 1,
                friends_only: false,
                device: None,
            };
            let sent = store.append_direct(msg).await.unwrap();
            assert_eq!(sent.is_err(), blocked, "step {n}: {sent:?}");
            if blocked {
                assert_eq!(sent.unwrap_err(), ErrorCode::Blocked);
            }
        }
    }

    /// A record the writer read from the backend (and keeps) and then
    /// changed is read as changed, from the memtable, with no checkpoint in
    /// between.
    #[tokio::test]
    async fn the_writers_kept_reads_follow_its_writes() {
        use crate::friends::FriendAction;
        use crate::protocol::{Body, ErrorCode};
        use crate::store::NewMessage;

        let backend = MemoryBackend::new();
        let (ann, bob) = {
            let store = KvStore::open(backend.clone()).unwrap();
            let ann = store.create_user("ann", "h").await.unwrap().unwrap();
            let bob = store.create_user("bob", "h").await.unwrap().unwrap();
            (ann, bob)
        };
        let dir = tempfile::tempdir().unwrap();
        let config = WalConfig {
            checkpoint_bytes: 1 << 30,
            ..WalConfig::new(dir.path())
        };
        let store = KvStore::open_with_wal(backend, config).unwrap();
        for n in 0..6u64 {
            let msg = NewMessage {
                from: bob.clone(),
                to: ann.clone(),
                client_msg_id: n,
                body: Body::Text("hi".into()),
                ts: 1,
                friends_only: false,
                device: None,
            };
            let sent = store.append_direct(msg).await.unwrap();
            let blocked = n % 2 == 1;
            assert_eq!(sent.is_err(), blocked, "step {n}: {sent:?}");
            if blocked {
                assert_eq!(sent.unwrap_err(), ErrorCode::Blocked);
            }
            let action = if blocked {
                FriendAction::Unblock
            } else {
                FriendAction::Block
            };
            store
                .friend_op(&ann, &bob, action, 10)
                .await
                .unwrap()
                .unwrap();
        }
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
        assert!(matches!(refused, StoreError::Failed(_)), "{refused:?}");
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
}
