//! The changes that are in the write-ahead log but not yet in the backend, in
//! memory, overlaid on every read.
//!
//! `active` takes each group commit once its log record is durable; a checkpoint
//! freezes it (`frozen`) and writes it into the backend, then drops it. An entry
//! created and deleted within one period never reaches the backend at all: in a
//! chat that keeps up, that is every stream item.

use std::collections::{btree_map, BTreeMap};
use std::sync::Arc;

use super::memkey::MemKey;
use super::writer::{Group, Write};
use super::WriteBatch;

/// A change not yet in the backend.
struct Entry {
    value: Option<Vec<u8>>,
    /// Whether the backend may hold the key: if not, a delete needs no tombstone.
    maybe_in_backend: bool,
}

type Changes = BTreeMap<MemKey, Entry>;

/// See the module documentation.
#[derive(Default)]
pub struct Memtable {
    active: Changes,
    frozen: Option<Frozen>,
    /// How many checkpoints were forgotten: what the backend holds changed
    /// with each (the writer's read cache of the backend goes with it).
    checkpoints: u64,
}

/// The changes a checkpoint writes. Frozen as they are: the writer thread does
/// no work for it beyond swapping a map.
#[derive(Clone)]
pub struct Frozen(Arc<Changes>);

impl Frozen {
    /// The changes as backend writes, each with whether the backend cannot
    /// hold its key yet (it was created in the period).
    pub fn changes(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>, bool)> {
        self.0
            .iter()
            .map(|(k, e)| (k.as_slice(), e.value.as_deref(), !e.maybe_in_backend))
    }
}

impl Memtable {
    /// What the memtable knows of `key`: `Some(None)` if deleted, `None` if the
    /// backend has the answer.
    pub fn get(&self, key: &MemKey) -> Option<Option<Vec<u8>>> {
        if let Some(entry) = self.active.get(key) {
            return Some(entry.value.clone());
        }
        Some(self.frozen.as_ref()?.0.get(key)?.value.clone())
    }

    /// The changes with `start <= key < end` in scan order (descending if
    /// `reverse`), the newest for each key, up to and including the `limit`-th that
    /// is not a delete: a scan of at most `limit` entries is decided by those and
    /// the backend, whatever lies further.
    pub fn range(&self, start: &[u8], end: &[u8], reverse: bool, limit: usize) -> WriteBatch {
        let mut changes = WriteBatch::new();
        if start >= end || limit == 0 {
            return changes;
        }
        let bounds = MemKey::range(start, end);
        let active = self
            .active
            .range(bounds.clone())
            .map(|(k, e)| (k, &e.value));
        let frozen = self
            .frozen
            .iter()
            .flat_map(|f| f.0.range(bounds.clone()))
            .map(|(k, e)| (k, &e.value));
        let mut present = 0;
        let mut take = |(key, value): (&MemKey, &Option<Vec<u8>>)| {
            present += usize::from(value.is_some());
            changes.insert(key.as_slice().to_vec(), value.clone());
            present < limit
        };
        if reverse {
            merge(active.rev(), frozen.rev(), |a, b| b.cmp(a)).all(&mut take);
        } else {
            merge(active, frozen, |a, b| a.cmp(b)).all(&mut take);
        }
        changes
    }

    /// Takes a durable group (leaving it empty).
    ///
    /// An ordered map, unlike the group's: it grows to some hundred thousand
    /// keys in a period, and a hashed one that size put each new key, and
    /// each lookup of one, in a cold cache line (fewer instructions than the
    /// B-tree, whose keys of one conversation share a leaf, but more time).
    pub fn apply(&mut self, group: &mut Group) {
        for (key, Write { value, fresh }) in group.drain() {
            match self.active.entry(key) {
                btree_map::Entry::Occupied(mut entry) => {
                    if value.is_none() && !entry.get().maybe_in_backend {
                        entry.remove();
                    } else {
                        entry.get_mut().value = value;
                    }
                }
                btree_map::Entry::Vacant(entry) => {
                    let maybe_in_backend = !fresh;
                    if value.is_some() || maybe_in_backend {
                        entry.insert(Entry {
                            value,
                            maybe_in_backend,
                        });
                    }
                }
            }
        }
    }

    /// Starts a new period: the changes so far, for a checkpoint. Panics if the
    /// previous checkpoint has not finished.
    pub fn freeze(&mut self) -> Frozen {
        assert!(self.frozen.is_none(), "one checkpoint at a time");
        let frozen = Frozen(Arc::new(std::mem::take(&mut self.active)));
        self.frozen = Some(frozen.clone());
        frozen
    }

    /// The frozen changes are in the backend now: returns them, to be freed.
    pub fn checkpointed(&mut self) -> Option<Frozen> {
        self.checkpoints += 1;
        self.frozen.take()
    }

    /// How many checkpoints were forgotten so far: the backend changes only
    /// through them, so a read of a key the memtable does not hold answers the
    /// same until the next.
    pub fn checkpoints(&self) -> u64 {
        self.checkpoints
    }

    /// Changes held (active and frozen), for deciding when to checkpoint.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty() && self.frozen.is_none()
    }
}

/// Two sorted streams of changes as one, in `order`; on equal keys the first
/// stream's (the newer) change wins.
fn merge<'a, V: 'a>(
    newer: impl Iterator<Item = (&'a MemKey, V)>,
    older: impl Iterator<Item = (&'a MemKey, V)>,
    order: impl Fn(&MemKey, &MemKey) -> std::cmp::Ordering,
) -> impl Iterator<Item = (&'a MemKey, V)> {
    let (mut newer, mut older) = (newer.peekable(), older.peekable());
    std::iter::from_fn(move || {
        let pick = match (newer.peek(), older.peek()) {
            (Some((n, _)), Some((o, _))) => order(n, o),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => return None,
        };
        match pick {
            std::cmp::Ordering::Less => newer.next(),
            std::cmp::Ordering::Greater => older.next(),
            std::cmp::Ordering::Equal => {
                older.next();
                newer.next()
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn get(m: &Memtable, key: &str) -> Option<Option<Vec<u8>>> {
        m.get(&MemKey::new(key.as_bytes()))
    }

    /// A group of writes; the keys in `fresh` hold new ids.
    fn group(writes: &[(&str, Option<&str>)], fresh: &[&str]) -> Group {
        writes
            .iter()
            .map(|(key, value)| {
                let write = Write {
                    value: value.map(k),
                    fresh: fresh.contains(key),
                };
                (MemKey::new(key.as_bytes()), write)
            })
            .collect()
    }

    #[test]
    fn a_fresh_key_deleted_in_the_same_period_leaves_nothing() {
        let mut m = Memtable::default();
        m.apply(&mut group(
            &[("inbox1", Some("v")), ("old", None)],
            &["inbox1"],
        ));
        assert_eq!(get(&m, "inbox1"), Some(Some(k("v"))));
        m.apply(&mut group(&[("inbox1", None)], &[]));
        assert_eq!(
            get(&m, "inbox1"),
            None,
            "no tombstone: the backend never had it"
        );
        // A key the backend may hold keeps a tombstone.
        assert_eq!(get(&m, "old"), Some(None));
        let frozen = m.freeze();
        let changes: Vec<_> = frozen.changes().collect();
        assert_eq!(changes, [(&k("old")[..], None, false)]);
    }

    #[test]
    fn active_overrides_frozen_and_ranges_merge_both() {
        let mut m = Memtable::default();
        m.apply(&mut group(&[("a", Some("1")), ("b", Some("1"))], &[]));
        m.freeze();
        m.apply(&mut group(&[("b", None), ("c", Some("2"))], &[]));
        assert_eq!(get(&m, "a"), Some(Some(k("1"))));
        assert_eq!(get(&m, "b"), Some(None));
        assert_eq!(
            m.range(b"a", b"c", false, usize::MAX),
            [(k("a"), Some(k("1"))), (k("b"), None)].into()
        );
        // Up to the first present entry in scan order, deletes before it included.
        assert_eq!(
            m.range(b"a", b"d", true, 1),
            [(k("c"), Some(k("2")))].into()
        );
        assert_eq!(
            m.range(b"b", b"d", false, 1),
            [(k("b"), None), (k("c"), Some(k("2")))].into()
        );
        m.checkpointed();
        assert_eq!(get(&m, "a"), None);
        assert!(!m.is_empty());
    }
}
