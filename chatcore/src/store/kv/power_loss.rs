//! The write-ahead log through a power loss: a model of a disk ([`SimDisk`])
//! that keeps what the log synced apart from what it only wrote, under the
//! log's file operations ([`LogFs`]) and a backend whose commits are atomic and
//! durable; cut at random moments, it loses nothing acknowledged.

use std::collections::BTreeMap;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::Rng;

use super::wal::{LogFile, LogFs};
use super::{Entries, KvBackend, KvStore, WalConfig, WriteBatch};
use crate::store::testkit::power_loss::{power_loss_loses_nothing, PowerLossDisk};
use crate::store::{Store, StoreError, StoreHealth};

/// A file as the model keeps it.
#[derive(Clone, Default)]
struct SimFile {
    /// What reads see.
    data: Vec<u8>,
    /// What a power loss leaves (before the writes since the last sync).
    synced: Vec<u8>,
    /// The writes since the last sync, in order: offset and length.
    unsynced: Vec<(usize, usize)>,
    /// Deleted, but the directory was not synced since.
    removed: bool,
    /// Created, and the directory synced since.
    named: bool,
}

#[derive(Clone, Default)]
struct State {
    files: BTreeMap<PathBuf, SimFile>,
    /// The backend's committed data.
    backend: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Appends fail as on a full disk.
    full: bool,
}

/// A disk under the log's files and the store's backend, shared by clones.
#[derive(Clone, Default)]
struct SimDisk(Arc<Mutex<State>>);

impl SimDisk {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().expect("disk lock")
    }

    fn open(&self, checkpoint_bytes: u64) -> Result<KvStore<SimDisk>, StoreError> {
        let config = WalConfig {
            checkpoint_bytes,
            ..WalConfig::new("/log")
        };
        KvStore::open_with_wal_on(self.clone(), config, Arc::new(self.clone()))
    }
}

impl PowerLossDisk for SimDisk {
    /// Files whose creation was synced keep their synced bytes, then the
    /// writes since, in order, up to a random point (none half the time; the
    /// write the point falls in is torn). The backend keeps every commit.
    fn cut_power(&self, rng: &mut StdRng) -> Self {
        let state = self.state();
        let mut files = BTreeMap::new();
        for (path, file) in state.files.iter().filter(|(_, f)| f.named) {
            let mut kept = file.synced.clone();
            let written: usize = file.unsynced.iter().map(|(_, len)| len).sum();
            let mut reached = if rng.gen_bool(0.5) {
                0
            } else {
                rng.gen_range(0..=written)
            };
            for &(at, len) in &file.unsynced {
                let n = len.min(reached);
                if kept.len() < at + n {
                    kept.resize(at + n, 0);
                }
                kept[at..at + n].copy_from_slice(&file.data[at..at + n]);
                reached -= n;
            }
            let file = SimFile {
                data: kept.clone(),
                synced: kept,
                unsynced: Vec::new(),
                removed: false,
                named: true,
            };
            files.insert(path.clone(), file);
        }
        let backend = state.backend.clone();
        SimDisk(Arc::new(Mutex::new(State {
            files,
            backend,
            full: false,
        })))
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, path.display().to_string())
}

impl LogFs for SimDisk {
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let state = self.state();
        let here = |(p, f): (&PathBuf, &SimFile)| p.parent() == Some(dir) && !f.removed;
        Ok(state
            .files
            .iter()
            .filter(|e| here(*e))
            .map(|(p, _)| p.clone())
            .collect())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self.state().files.get(path) {
            Some(file) if !file.removed => Ok(file.data.clone()),
            _ => Err(not_found(path)),
        }
    }

    fn create(&self, path: &Path, allocate: u64) -> io::Result<Box<dyn LogFile>> {
        let mut state = self.state();
        if state.files.get(path).is_some_and(|f| !f.removed) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists"));
        }
        // Allocated and synced, as `StdFs` does where it can.
        let zeros = vec![0; allocate as usize];
        let file = SimFile {
            data: zeros.clone(),
            synced: zeros,
            ..SimFile::default()
        };
        state.files.insert(path.to_path_buf(), file);
        Ok(Box::new(SimLog {
            disk: self.clone(),
            path: path.to_path_buf(),
            cursor: 0,
        }))
    }

    fn len(&self, path: &Path) -> io::Result<Option<u64>> {
        let state = self.state();
        let file = state.files.get(path).filter(|f| !f.removed);
        Ok(file.map(|f| f.data.len() as u64))
    }

    fn shrink(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut state = self.state();
        let file = state.files.get_mut(path).ok_or_else(|| not_found(path))?;
        file.data.truncate(len as usize);
        file.synced = file.data.clone();
        file.unsynced.clear();
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        match state.files.get_mut(path) {
            Some(file) if file.named => file.removed = true,
            _ => drop(state.files.remove(path)),
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        state
            .files
            .retain(|p, f| p.parent() != Some(dir) || !f.removed);
        for (_, file) in state
            .files
            .iter_mut()
            .filter(|(p, _)| p.parent() == Some(dir))
        {
            file.named = true;
        }
        Ok(())
    }
}

/// A segment open for appends.
struct SimLog {
    disk: SimDisk,
    path: PathBuf,
    cursor: usize,
}

impl LogFile for SimLog {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.disk.state();
        if state.full {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"));
        }
        let file = state
            .files
            .get_mut(&self.path)
            .ok_or_else(|| not_found(&self.path))?;
        let end = self.cursor + bytes.len();
        if file.data.len() < end {
            file.data.resize(end, 0);
        }
        file.data[self.cursor..end].copy_from_slice(bytes);
        file.unsynced.push((self.cursor, bytes.len()));
        self.cursor = end;
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut state = self.disk.state();
        let file = state
            .files
            .get_mut(&self.path)
            .ok_or_else(|| not_found(&self.path))?;
        file.synced.resize(file.data.len(), 0);
        for (at, len) in std::mem::take(&mut file.unsynced) {
            file.synced[at..at + len].copy_from_slice(&file.data[at..at + len]);
        }
        Ok(())
    }
}

/// The backend: every commit atomic and durable at once.
impl KvBackend for SimDisk {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state().backend.get(key).cloned())
    }

    fn scan(&self, start: &[u8], end: &[u8], rev: bool, n: usize) -> Result<Entries, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let state = self.state();
        let range = state
            .backend
            .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
            .map(|(k, v)| (k.clone(), v.clone()));
        Ok(if rev {
            range.rev().take(n).collect()
        } else {
            range.take(n).collect()
        })
    }

    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let backend = &mut self.state().backend;
        for (key, value) in batch {
            match value {
                Some(v) => backend.insert(key, v),
                None => backend.remove(&key),
            };
        }
        Ok(())
    }
}

/// Power cuts at random moments, with checkpoints every 4 KiB (so that cuts
/// land mid-checkpoint and mid-deletion) and every 64 KiB: nothing
/// acknowledged is lost, and the store opens.
#[test]
fn a_power_loss_loses_nothing_acknowledged() {
    for checkpoint_bytes in [4096, 64 << 10] {
        power_loss_loses_nothing(0, 40, SimDisk::default, |disk| {
            disk.open(checkpoint_bytes)
                .expect("open after the power cut")
        });
    }
}

/// An append that fails (a full disk) fails the store: its health says so,
/// every later write is refused `Failed` (what reached the disk is unknown),
/// reads go on, and a reopen has everything acknowledged before.
#[tokio::test]
async fn a_failed_append_fails_the_store_and_loses_nothing() {
    let disk = SimDisk::default();
    let store = disk.open(WalConfig::DEFAULT_CHECKPOINT_BYTES).unwrap();
    store.create_user("ann", "h").await.unwrap().unwrap();
    assert!(matches!(store.health(), StoreHealth::Healthy));
    disk.state().full = true;
    let refused = store.create_user("bob", "h").await.unwrap_err();
    assert!(matches!(refused, StoreError::Failed(_)), "{refused:?}");
    assert!(matches!(
        store.health(),
        StoreHealth::Failed(StoreError::Failed(_))
    ));
    disk.state().full = false;
    let still = store.create_user("cat", "h").await.unwrap_err();
    assert!(matches!(still, StoreError::Failed(_)), "{still:?}");
    assert!(store.account_by_name("ann").await.unwrap().is_some());
    drop(store);
    let store = disk.open(WalConfig::DEFAULT_CHECKPOINT_BYTES).unwrap();
    assert!(store.account_by_name("ann").await.unwrap().is_some());
    assert!(store.account_by_name("bob").await.unwrap().is_none());
    assert!(store.create_user("bob", "h").await.unwrap().is_some());
}
