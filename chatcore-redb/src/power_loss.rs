//! redb through a power loss: a model of its file ([`SimFile`], a redb
//! [`StorageBackend`]) that keeps what was synced apart from what was only
//! written. Cut at random moments, it keeps what was synced and any subset of
//! the writes since, in any order, each possibly torn (a disk's write cache
//! flushes in no promised order); nothing acknowledged is lost, and the
//! database opens.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chatcore::store::testkit::power_loss::{power_loss_loses_nothing, PowerLossDisk};
use chatcore::store::{KvStore, StoreError};
use rand::rngs::StdRng;
use rand::Rng;
use redb::StorageBackend;

use crate::RedbBackend;

/// A change to the file since the last sync.
#[derive(Clone)]
enum Unsynced {
    Write { offset: usize, bytes: Vec<u8> },
    SetLen(usize),
}

impl Unsynced {
    fn apply(&self, file: &mut Vec<u8>, torn_at: Option<usize>) {
        match self {
            Unsynced::Write { offset, bytes } => {
                let bytes = &bytes[..torn_at.unwrap_or(bytes.len()).min(bytes.len())];
                if file.len() < offset + bytes.len() {
                    file.resize(offset + bytes.len(), 0);
                }
                file[*offset..offset + bytes.len()].copy_from_slice(bytes);
            }
            Unsynced::SetLen(len) => file.resize(*len, 0),
        }
    }
}

#[derive(Clone, Default)]
struct State {
    /// What reads see.
    data: Vec<u8>,
    /// What a power loss keeps for sure.
    synced: Vec<u8>,
    unsynced: Vec<Unsynced>,
}

/// The redb file, shared by clones.
#[derive(Clone, Default)]
struct SimFile(Arc<Mutex<State>>);

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile").finish_non_exhaustive()
    }
}

impl SimFile {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().expect("file lock")
    }

    fn open(&self) -> Result<KvStore<RedbBackend>, StoreError> {
        let file = self.clone();
        KvStore::open(RedbBackend::on_storage(PathBuf::from("sim.redb"), || {
            Ok(file)
        })?)
    }

    fn change(&self, change: Unsynced) {
        let mut state = self.state();
        change.apply(&mut state.data, None);
        state.unsynced.push(change);
    }
}

impl PowerLossDisk for SimFile {
    fn cut_power(&self, rng: &mut StdRng) -> Self {
        let state = self.state();
        let mut kept = state.synced.clone();
        for change in &state.unsynced {
            if rng.gen_bool(0.5) {
                let torn = rng.gen_bool(0.2).then(|| rng.gen_range(0..4096));
                change.apply(&mut kept, torn);
            }
        }
        SimFile(Arc::new(Mutex::new(State {
            data: kept.clone(),
            synced: kept,
            unsynced: Vec::new(),
        })))
    }
}

impl StorageBackend for SimFile {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.state().data.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let state = self.state();
        let start = offset as usize;
        let bytes = state
            .data
            .get(start..start + out.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.change(Unsynced::SetLen(len as usize));
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let mut state = self.state();
        let State {
            synced, unsynced, ..
        } = &mut *state;
        for change in unsynced.drain(..) {
            change.apply(synced, None);
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.change(Unsynced::Write {
            offset: offset as usize,
            bytes: data.to_vec(),
        });
        Ok(())
    }
}

/// Every group commit a redb transaction ([`KvStore::open`], no log): power
/// cuts at random moments lose nothing acknowledged, and redb opens what is
/// left (repairing it if need be).
#[test]
fn a_power_loss_loses_nothing_acknowledged() {
    power_loss_loses_nothing(0, 30, SimFile::default, |file| {
        file.open().expect("open after the power cut")
    });
}
