//! Which idempotency records may exist. Every send looks up the record of its
//! own `client_msg_id` to tell a retry from a new message, and a new message's
//! key is in neither the memtable nor the backend: without this filter that
//! miss walks the backend's B-tree on every send. A Bloom filter of the
//! records' keys answers "certainly not stored" for almost every one.

use fastbloom::BloomFilter;

use super::keys;
use super::memtable::Memtable;
use super::{KvBackend, StoreError};

/// False positives (a lookup that finds nothing) per lookup of a key not
/// stored, while the filter holds at most its capacity.
const FALSE_POSITIVES: f64 = 0.01;

/// The smallest capacity: a small database's filter (1.2 MB).
const MIN_CAPACITY: usize = 1 << 20;

/// The idempotency records' keys, approximately (never missing one).
pub(super) struct SendFilter {
    /// Hashed with foldhash (keyed, like the writer's maps): a send hashes
    /// its key twice (the lookup and the note), and SipHash cost more than the
    /// filter's own work.
    bloom: BloomFilter<foldhash::fast::RandomState>,
    /// Keys noted since it was built (deleted records stay noted).
    noted: usize,
    capacity: usize,
}

impl SendFilter {
    /// A filter of the records in `backend` and `memtable`: twice as many fit
    /// before it is built again.
    pub fn load<B: KvBackend>(
        backend: &B,
        memtable: Option<&Memtable>,
    ) -> Result<Self, StoreError> {
        let (start, end) = keys::IDEMPOTENCY;
        let stored = backend.scan(start, end, false, usize::MAX)?;
        let logged = memtable.map(|m| m.range(start, end, false, usize::MAX));
        let count = stored.len() + logged.as_ref().map_or(0, |l| l.len());
        let mut filter = SendFilter::with_capacity((2 * count).max(MIN_CAPACITY));
        for (key, _) in &stored {
            filter.note(key);
        }
        for (key, value) in logged.iter().flatten() {
            if value.is_some() {
                filter.note(key);
            }
        }
        Ok(filter)
    }

    fn with_capacity(capacity: usize) -> Self {
        SendFilter {
            bloom: BloomFilter::with_false_pos(FALSE_POSITIVES)
                .hasher(foldhash::fast::RandomState::default())
                .expected_items(capacity),
            noted: 0,
            capacity,
        }
    }

    /// An empty filter (for a store that starts empty, and tests).
    #[cfg(test)]
    pub fn empty() -> Self {
        SendFilter::with_capacity(1024)
    }

    /// Whether a record may be stored under `key` (`false`: certainly not).
    pub fn may_hold(&self, key: &[u8]) -> bool {
        self.bloom.contains(key)
    }

    /// A record is stored under `key`.
    pub fn note(&mut self, key: &[u8]) {
        self.bloom.insert(key);
        self.noted += 1;
    }

    /// It holds more than it was built for: false positives grow past
    /// [`FALSE_POSITIVES`], and it should be built again.
    pub fn is_full(&self) -> bool {
        self.noted > self.capacity
    }
}
