//! The format check at open, and the in-place upgrade of an older format.

use std::collections::HashMap;

use super::keys;
use super::records::{FORMAT_VERSION, OLDEST_FORMAT};
use super::{KvBackend, WriteBatch};
use crate::store::{RoomId, StoreError};

/// The first format that keeps room member counts (`keys::member_count`).
const MEMBER_COUNTS: u32 = 3;

/// Checks the format version: writes it into an empty database and returns
/// `None`; returns an older format's version, for [`finish`] to upgrade (every
/// format reads the records of the older ones).
pub(super) fn check_version<B: KvBackend>(backend: &B) -> Result<Option<u32>, StoreError> {
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
            Ok((found < FORMAT_VERSION).then_some(found))
        }
        None => {
            if !backend.scan(&[], &[0xff], false, 1)?.is_empty() {
                return Err(StoreError::NotADatabase(
                    "data without a version record".into(),
                ));
            }
            backend.commit(with_version(WriteBatch::new()))?;
            Ok(None)
        }
    }
}

/// Upgrades a database of format `from` (from [`check_version`]) in one atomic
/// commit with the new version number: one that fails or is cut short is
/// done again at the next open.
pub(super) fn finish<B: KvBackend>(backend: &B, from: Option<u32>) -> Result<(), StoreError> {
    let Some(from) = from else {
        return Ok(());
    };
    let mut batch = WriteBatch::new();
    if from < MEMBER_COUNTS {
        member_counts(backend, &mut batch)?;
    }
    backend.commit(with_version(batch))
}

/// `batch`, and the current format's version number.
fn with_version(mut batch: WriteBatch) -> WriteBatch {
    batch.insert(
        keys::VERSION.to_vec(),
        Some(FORMAT_VERSION.to_be_bytes().to_vec()),
    );
    batch
}

/// Counts every room's members, once, for the counts format 3 keeps.
fn member_counts<B: KvBackend>(backend: &B, batch: &mut WriteBatch) -> Result<(), StoreError> {
    let (start, end) = keys::MEMBERS;
    let mut counts: HashMap<RoomId, u64> = HashMap::new();
    for (key, _) in backend.scan(start, end, false, usize::MAX)? {
        *counts.entry(keys::member_room(&key)).or_default() += 1;
    }
    for (room, count) in counts {
        batch.insert(keys::member_count(room), Some(count.to_be_bytes().to_vec()));
    }
    Ok(())
}
