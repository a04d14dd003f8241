//! [`KeyMap`]: a group commit's writes, hashed for the point reads and writes
//! a message makes, put in order only when a scan asks.
//!
//! A relayed message makes some ten point reads and writes in the group's
//! map and no scan. A job's scan (a mark's unread count, a device list) sees
//! the keys in order through a sorted index that takes the keys added since
//! the last scan when the next one comes.

use std::collections::{hash_map, BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use super::memkey::MemKey;

/// A keyed hash: a client chooses part of some keys (its message ids), so
/// the hash must not be one it can aim collisions at.
type Hasher = foldhash::fast::RandomState;

/// A map from keys to `V`, hashed, with ordered scans.
pub(super) struct KeyMap<V> {
    map: HashMap<MemKey, V, Hasher>,
    /// The keys in order, for scans; behind a lock so that a scan (which may
    /// run on any reader's thread) can bring it up to date.
    order: Mutex<Order>,
}

/// The sorted index of a [`KeyMap`]. It may hold keys the map no longer
/// does (a scan skips them), never fewer.
#[derive(Default)]
struct Order {
    sorted: BTreeSet<MemKey>,
    /// Keys added since they were last put in order, oldest first, not yet
    /// in `sorted`.
    unsorted: VecDeque<MemKey>,
}

impl Order {
    /// Moves the unsorted keys that `map` holds into `sorted`, but for the
    /// newest `keep`.
    fn settle<V>(&mut self, map: &HashMap<MemKey, V, Hasher>, keep: usize) {
        // One key at a time, so that nothing is lost to a panic half way.
        while self.unsorted.len() > keep {
            let Some(key) = self.unsorted.pop_front() else {
                break;
            };
            if map.contains_key(&key) {
                self.sorted.insert(key);
            }
        }
    }
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap {
            map: HashMap::with_hasher(Hasher::default()),
            order: Mutex::default(),
        }
    }
}

/// A key's place in a [`KeyMap`], from [`KeyMap::entry`].
pub(super) enum Slot<'a, V> {
    /// The map holds the key.
    Occupied(hash_map::OccupiedEntry<'a, MemKey, V>),
    /// It does not.
    Vacant(VacantSlot<'a, V>),
}

/// A key a [`KeyMap`] does not hold.
pub(super) struct VacantSlot<'a, V> {
    entry: hash_map::VacantEntry<'a, MemKey, V>,
    unsorted: &'a mut VecDeque<MemKey>,
}

impl<V> VacantSlot<'_, V> {
    /// The key.
    pub(super) fn key(&self) -> &MemKey {
        self.entry.key()
    }

    /// Puts `value` under the key.
    pub(super) fn insert(self, value: V) {
        self.unsorted.push_back(self.entry.key().clone());
        self.entry.insert(value);
    }
}

impl<V> KeyMap<V> {
    /// An empty map with room for `keys` keys.
    pub(super) fn with_capacity(keys: usize) -> Self {
        KeyMap {
            map: HashMap::with_capacity_and_hasher(keys, Hasher::default()),
            order: Mutex::new(Order {
                sorted: BTreeSet::new(),
                unsorted: VecDeque::with_capacity(keys),
            }),
        }
    }

    /// How many keys it holds.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it holds no key.
    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value under `key`.
    pub(super) fn get(&self, key: &MemKey) -> Option<&V> {
        self.map.get(key)
    }

    /// The place of `key`, to read, change, insert or remove.
    pub(super) fn entry(&mut self, key: MemKey) -> Slot<'_, V> {
        let unsorted = &mut self
            .order
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .unsorted;
        match self.map.entry(key) {
            hash_map::Entry::Occupied(entry) => Slot::Occupied(entry),
            hash_map::Entry::Vacant(entry) => Slot::Vacant(VacantSlot { entry, unsorted }),
        }
    }

    /// Puts `value` under `key`; returns what was there.
    pub(super) fn insert(&mut self, key: MemKey, value: V) -> Option<V> {
        match self.entry(key) {
            Slot::Occupied(mut entry) => Some(entry.insert(value)),
            Slot::Vacant(slot) => {
                slot.insert(value);
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub(super) fn remove(&mut self, key: &MemKey) -> Option<V> {
        self.map.remove(key)
    }

    /// Every entry, in no particular order.
    pub(super) fn iter(&self) -> hash_map::Iter<'_, MemKey, V> {
        self.map.iter()
    }

    /// Every entry in key order.
    #[cfg(test)]
    pub(super) fn sorted(&self) -> Vec<(&MemKey, &V)> {
        let mut entries: Vec<_> = self.map.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        entries
    }

    /// Takes every entry out, in no particular order.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = (MemKey, V)> + '_ {
        let order = self.order.get_mut().unwrap_or_else(PoisonError::into_inner);
        order.sorted.clear();
        order.unsorted.clear();
        self.map.drain()
    }

    /// Every entry in key order, taken out.
    pub(super) fn into_sorted(self) -> Vec<(MemKey, V)> {
        let mut entries: Vec<_> = self.map.into_iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    /// Calls `scan` with the entries with `start <= key < end`, ascending (or
    /// descending if `reverse`), and returns what it returns.
    pub(super) fn range<'m, R>(
        &'m self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        scan: impl FnOnce(&mut dyn Iterator<Item = (&'m MemKey, &'m V)>) -> R,
    ) -> R {
        if start >= end {
            return scan(&mut std::iter::empty());
        }
        let mut order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        order.settle(&self.map, 0);
        let keys = order.sorted.range(MemKey::range(start, end));
        let present = |key: &MemKey| self.map.get_key_value(key);
        if reverse {
            scan(&mut keys.rev().filter_map(present))
        } else {
            scan(&mut keys.filter_map(present))
        }
    }
}

impl<V> FromIterator<(MemKey, V)> for KeyMap<V> {
    fn from_iter<I: IntoIterator<Item = (MemKey, V)>>(entries: I) -> Self {
        let mut map = KeyMap::default();
        for (key, value) in entries {
            map.insert(key, value);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn k(bytes: &[u8]) -> MemKey {
        MemKey::new(bytes)
    }

    fn scan(map: &KeyMap<u8>, start: &[u8], end: &[u8], reverse: bool) -> Vec<(Vec<u8>, u8)> {
        map.range(start, end, reverse, |entries| {
            entries.map(|(k, v)| (k.as_slice().to_vec(), *v)).collect()
        })
    }

    proptest! {
        /// Point reads and scans answer as an ordered map does, through any
        /// mix of inserts, removals and scans.
        #[test]
        fn answers_as_an_ordered_map(
            ops in proptest::collection::vec((0u8..4, 0u8..24, any::<u8>(), 0u8..24), 0..200),
        ) {
            let mut map = KeyMap::default();
            let mut model = std::collections::BTreeMap::new();
            for (op, a, value, b) in ops {
                let key = vec![b'k', a];
                match op {
                    0 => prop_assert_eq!(map.insert(k(&key), value), model.insert(key, value)),
                    1 => prop_assert_eq!(map.remove(&k(&key)), model.remove(&key)),
                    2 => {
                        let (lo, hi) = (vec![b'k', a.min(b)], vec![b'k', a.max(b)]);
                        let want: Vec<_> =
                            model.range(lo.clone()..hi.clone()).map(|(k, v)| (k.clone(), *v)).collect();
                        prop_assert_eq!(scan(&map, &lo, &hi, false), want.clone());
                        let back: Vec<_> = want.into_iter().rev().collect();
                        prop_assert_eq!(scan(&map, &lo, &hi, true), back);
                    }
                    _ => prop_assert_eq!(map.get(&k(&key)), model.get(&key)),
                }
                prop_assert_eq!(map.len(), model.len());
            }
            let sorted: Vec<_> = map.sorted().into_iter().map(|(k, v)| (k.as_slice().to_vec(), *v)).collect();
            let want: Vec<_> = model.into_iter().collect();
            prop_assert_eq!(sorted, want);
        }
    }

    #[test]
    fn a_drained_map_scans_empty() {
        let mut map: KeyMap<u8> = [(k(b"a"), 1), (k(b"b"), 2)].into_iter().collect();
        assert_eq!(scan(&map, b"a", b"c", false).len(), 2);
        assert_eq!(map.drain().count(), 2);
        assert!(map.is_empty());
        assert!(scan(&map, b"a", b"c", false).is_empty());
        map.insert(k(b"b"), 3);
        assert_eq!(scan(&map, b"a", b"c", true), [(b"b".to_vec(), 3)]);
    }
}
