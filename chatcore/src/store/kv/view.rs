//! The committed state as a read sees it ([`View`]): the backend overlaid with the
//! changes a write-ahead log holds that are not yet in the backend.

use std::collections::BTreeMap;
use std::sync::RwLock;

use super::memkey::MemKey;
use super::memtable::Memtable;
use super::records::Reader;
use super::{Entries, KvBackend};
use crate::store::StoreError;

/// The committed state as a read sees it: the backend overlaid with the logged
/// changes not yet checkpointed.
pub(super) struct View<'a, B> {
    pub(super) backend: &'a B,
    pub(super) memtable: Option<&'a RwLock<Memtable>>,
}

impl<B: KvBackend> Reader for View<'_, B> {
    fn raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
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
}

impl<B: KvBackend> View<'_, B> {
    /// Up to `limit` entries with `start <= key < end`, ascending (or descending
    /// if `reverse`).
    pub(super) fn scan(
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
        let committed = self.backend.scan(start, end, reverse, fetch)?;
        Ok(overlay(committed, changes, reverse, limit))
    }
}

/// `committed` entries (a backend's, in scan order) with `changes` applied over
/// them in order (a later change to a key wins; `None` deletes): up to `limit`
/// entries, ascending, or descending if `reverse`. The one merge of reads and
/// writes: for a read's view and for a write job's transaction alike.
pub(super) fn overlay(
    committed: Entries,
    changes: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
    reverse: bool,
    limit: usize,
) -> Entries {
    let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
        committed.into_iter().map(|(k, v)| (k, Some(v))).collect();
    merged.extend(changes);
    let present = |(k, v): (Vec<u8>, Option<Vec<u8>>)| v.map(|v| (k, v));
    if reverse {
        merged
            .into_iter()
            .rev()
            .filter_map(present)
            .take(limit)
            .collect()
    } else {
        merged.into_iter().filter_map(present).take(limit).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::kv::writer::{Group, Write};
    use crate::store::kv::WriteBatch;
    use crate::store::MemoryBackend;

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
            memtable.apply(&mut group(&phases[1]));
            memtable.freeze();
            memtable.apply(&mut group(&phases[2]));
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
                proptest::prop_assert_eq!(view.raw(&[key]).unwrap(), model.get(&vec![key]).cloned());
            }
        }
    }
}
