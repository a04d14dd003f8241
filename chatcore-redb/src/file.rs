//! The file under redb: redb's own [`FileBackend`], except that while a
//! write-ahead log's checkpoints keep up with it, a commit's pages reach the disk
//! in bounded pieces, with pauses between them.
//!
//! Why: a checkpoint commits tens of MiB of pages at once, and the disk flushes
//! them as one burst when redb syncs. A write-ahead log `fdatasync` issued during
//! that burst waits for all of it (a virtio disk's flush is device-wide): measured
//! 16–22 ms for one chat commit, where it is otherwise well under one. Synced in
//! pieces of [`SYNC_EVERY`] bytes, with the disk left alone after each piece for
//! as long as the piece took, a log commit waits for one piece at most. The same
//! practice as RocksDB's `bytes_per_sync` with a rate limiter, without a rate to
//! tune: the checkpoint takes at most half of the disk's time, whatever the disk.

use std::io;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chatcore::store::CheckpointLag;
use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// How many bytes written make the backend sync before it writes more.
pub(crate) const SYNC_EVERY: u64 = 256 << 10;

/// A [`StorageBackend`] (redb's [`FileBackend`] in use) that, while the
/// checkpoints of the log `pace` belongs to keep up with it, syncs every
/// [`SYNC_EVERY`] bytes written, then pauses as long as that sync took.
#[derive(Debug)]
pub(crate) struct PacedFile<B = FileBackend> {
    inner: B,
    /// Bytes written since the last sync.
    unsynced: AtomicU64,
    /// The commits are paced while this says the write-ahead log in front
    /// keeps up ([`CheckpointLag::keeps_up`]): the commits are then its
    /// checkpoints, which nothing waits for. Unpaced without it or without an
    /// open log (a commit is then a writer's own), and while checkpoints lag
    /// behind the log (paced, they would fall further behind, until writers
    /// wait).
    pace: Option<CheckpointLag>,
}

impl<B> PacedFile<B> {
    pub(crate) fn new(inner: B, pace: Option<CheckpointLag>) -> Self {
        PacedFile {
            inner,
            unsynced: AtomicU64::new(0),
            pace,
        }
    }
}

impl<B: StorageBackend> StorageBackend for PacedFile<B> {
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.inner.write(offset, data)?;
        let len = data.len() as u64;
        let unsynced = self.unsynced.fetch_add(len, Ordering::Relaxed) + len;
        if unsynced >= SYNC_EVERY && self.pace.as_ref().is_some_and(CheckpointLag::keeps_up) {
            let started = Instant::now();
            self.sync_data()?;
            std::thread::sleep(started.elapsed());
        }
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.unsynced.store(0, Ordering::Relaxed);
        self.inner.sync_data()
    }

    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.inner.set_len(len)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chatcore::store::{KvStore, MemoryBackend, WalConfig};
    use redb::backends::InMemoryBackend;

    use super::*;

    /// An in-memory backend recording, for each sync, how many bytes were
    /// written since the one before.
    #[derive(Debug, Default)]
    struct Recording {
        inner: InMemoryBackend,
        written: AtomicU64,
        syncs: Mutex<Vec<u64>>,
    }

    impl StorageBackend for Recording {
        fn len(&self) -> Result<u64, io::Error> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> Result<(), io::Error> {
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> Result<(), io::Error> {
            let written = self.written.swap(0, Ordering::Relaxed);
            self.syncs.lock().unwrap().push(written);
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
            self.written.fetch_add(data.len() as u64, Ordering::Relaxed);
            self.inner.write(offset, data)
        }
    }

    /// A write-ahead log open in front of a store, whose checkpoints keep up,
    /// while this lives.
    struct OpenLog {
        lag: CheckpointLag,
        _store: KvStore<MemoryBackend>,
        _dir: tempfile::TempDir,
    }

    fn open_log() -> OpenLog {
        let dir = tempfile::tempdir().unwrap();
        let config = WalConfig::new(dir.path());
        let lag = config.checkpoint_lag.clone();
        let store = KvStore::open_with_wal(MemoryBackend::new(), config).unwrap();
        assert!(lag.keeps_up());
        OpenLog {
            lag,
            _store: store,
            _dir: dir,
        }
    }

    fn file(pace: Option<CheckpointLag>) -> PacedFile<Recording> {
        PacedFile::new(Recording::default(), pace)
    }

    /// Writes 3 × `SYNC_EVERY` + 10 pages and syncs; returns the bytes each sync
    /// found written.
    fn large_commit(file: &PacedFile<Recording>) -> Vec<u64> {
        let page = vec![7u8; 4096];
        let pages = 3 * SYNC_EVERY / 4096 + 10;
        file.set_len(pages * 4096).unwrap();
        for n in 0..pages {
            file.write(n * 4096, &page).unwrap();
        }
        file.sync_data().unwrap();
        let mut back = vec![0u8; 4096];
        file.read((pages - 1) * 4096, &mut back).unwrap();
        assert_eq!(back, page);
        file.inner.syncs.lock().unwrap().clone()
    }

    #[test]
    fn a_large_write_is_synced_in_pieces_and_reads_back() {
        let log = open_log();
        assert_eq!(
            large_commit(&file(Some(log.lag.clone()))),
            [SYNC_EVERY, SYNC_EVERY, SYNC_EVERY, 10 * 4096],
            "a sync after every SYNC_EVERY bytes, then redb's own"
        );
    }

    #[test]
    fn unpaced_only_redb_syncs() {
        // No handle, or a handle on no open log.
        for pace in [None, Some(CheckpointLag::new())] {
            assert_eq!(large_commit(&file(pace)), [3 * SYNC_EVERY + 10 * 4096]);
        }
    }

    #[test]
    fn a_small_commit_is_synced_once() {
        let log = open_log();
        let file = file(Some(log.lag.clone()));
        file.set_len(8192).unwrap();
        file.write(0, &[1; 8192]).unwrap();
        file.sync_data().unwrap();
        file.write(0, &[2; 8192]).unwrap();
        file.sync_data().unwrap();
        assert_eq!(*file.inner.syncs.lock().unwrap(), [8192, 8192]);
    }
}
