//! Records in blocks (format 5). A checkpoint writes the new messages of
//! each conversation, and the new idempotency records of each sender in each
//! conversation, as blocks of up to [`BLOCK_BYTES`] instead of one backend
//! record each: in redb an insert costs about the same whatever its size (a
//! walk down the tree, a leaf shifted, a split every few), and these were
//! nearly all of a checkpoint's inserts, two per message.
//!
//! A packed family's keys are its prefix byte, a group (a conversation; a
//! sender and conversation) and a u64 (a seq; a `client_msg_id`); its blocks
//! are under another prefix byte, the group and the first record's u64.
//! [`Packed`] wraps the backend so that everything above it still sees one
//! record per key. Records of their own stay valid: those written before
//! format 5, by a store without a log, by a log's replay at open, or
//! rewritten. A record is in one place only: in a block or under its own
//! key. A block spans the u64s from its first record to its last, and no two
//! blocks of a group overlap, so the block that may hold a record is the
//! last one that starts at or before it; a record deleted or rewritten is
//! taken out of its block. New records whose span would overlap a block the
//! backend has stay records of their own: seqs only grow, but an
//! idempotency record's `client_msg_id` is the client's (the library's
//! [`Client`](crate::client::Client) makes them grow with time).

use std::collections::{btree_map, BTreeMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{BorrowedWrites, Entries, KvBackend, KvSnapshot, Live, WriteBatch};
use crate::store::StoreError;

/// A family of records a checkpoint packs: see the module documentation.
struct Family {
    /// The prefix byte of its records.
    record: u8,
    /// The prefix byte of its blocks.
    block: u8,
}

/// The families a checkpoint packs.
const FAMILIES: [Family; 2] = [
    // Messages: `h` conversation seq (`keys::msg`).
    Family {
        record: b'h',
        block: b'H',
    },
    // Idempotency records: `K` sender conversation client_msg_id
    // (`keys::idempotency`).
    Family {
        record: b'K',
        block: b'J',
    },
];
/// The key ranges a scan treats apart, in key order: each family's blocks
/// (never seen as such) and records (seen with those of its blocks).
const SPECIAL: [([u8; 1], [u8; 1], Option<&Family>); 4] = [
    ([b'H'], [b'I'], None),
    ([b'J'], [b'K'], None),
    ([b'K'], [b'L'], Some(&FAMILIES[1])),
    ([b'h'], [b'i'], Some(&FAMILIES[0])),
];

/// The most bytes in one block: with its key and redb's leaf header, a
/// block fills one 16 KiB page (a block a little larger would take a 32 KiB
/// one). A record larger than this is a block of its own.
const BLOCK_BYTES: usize = 16 * 1024 - 256;
/// A block as the backend holds it: its key and its bytes.
type Stored = (Vec<u8>, Vec<u8>);

/// Blocks read at once by a scan.
const BLOCKS_PER_READ: usize = 2;
/// Bytes before each record in a block: its u64 and its length.
const HEADER: usize = 12;

/// A backend some of whose records a checkpoint writes in blocks; see the
/// module documentation.
pub(super) struct Packed<B> {
    inner: B,
    /// Whether any block was written: until then reads and writes go straight
    /// through (a store without a log never has one). Set before the commit
    /// that writes the first; a read that sees the memtable without a change
    /// comes after that commit, and so after this was set.
    blocks: Arc<AtomicBool>,
}

impl<B: KvBackend> Packed<B> {
    pub(super) fn new(inner: B) -> Result<Self, StoreError> {
        let mut any = false;
        for family in &FAMILIES {
            any |= !inner
                .scan(&[family.block], &[family.block + 1], false, 1)?
                .is_empty();
        }
        Ok(Packed {
            inner,
            blocks: Arc::new(AtomicBool::new(any)),
        })
    }

    /// The backend as it stores things.
    pub(super) fn inner(&self) -> &B {
        &self.inner
    }

    fn has_blocks(&self) -> bool {
        self.blocks.load(Ordering::SeqCst)
    }

    /// A checkpoint's commit: the records in `fresh` (of packed families,
    /// which the backend cannot hold yet, in key order) go into blocks;
    /// `writes` as [`KvBackend::commit_borrowed`].
    pub(super) fn commit_checkpoint<'a>(
        &self,
        fresh: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        writes: &mut BorrowedWrites<'_>,
    ) -> Result<(), StoreError> {
        let mut owned = WriteBatch::new();
        let mut run: Vec<(&[u8], &[u8])> = Vec::new();
        for (key, value) in fresh {
            if run.last().is_some_and(|(last, _)| !same_group(last, key)) {
                self.pack(&run, &mut owned)?;
                run.clear();
            }
            run.push((key, value));
        }
        if !run.is_empty() {
            self.pack(&run, &mut owned)?;
        }
        self.blocks.store(true, Ordering::SeqCst);
        self.commit_with(writes, owned)
    }

    /// Blocks of `run`, records of one group in key order, into `out`; as
    /// records of their own if a block would overlap one the backend has.
    fn pack(&self, run: &[(&[u8], &[u8])], out: &mut WriteBatch) -> Result<(), StoreError> {
        let (first, last) = (run[0].0, run[run.len() - 1].0);
        if self.has_blocks() && self.overlaps(first, last)? {
            for (key, value) in run {
                out.insert(key.to_vec(), Some(value.to_vec()));
            }
            return Ok(());
        }
        let mut block = Vec::new();
        let mut start = first;
        for &(key, value) in run {
            let size = HEADER + value.len();
            if !block.is_empty() && block.len() + size > BLOCK_BYTES {
                out.insert(block_key(start), Some(std::mem::take(&mut block)));
            }
            if block.is_empty() {
                start = key;
            }
            block.extend_from_slice(&seq(key).to_be_bytes());
            block.extend_from_slice(&(value.len() as u32).to_be_bytes());
            block.extend_from_slice(value);
        }
        out.insert(block_key(start), Some(block));
        Ok(())
    }

    /// Whether a block the backend has spans any key from `first` to `last`
    /// (records of one group).
    fn overlaps(&self, first: &[u8], last: &[u8]) -> Result<bool, StoreError> {
        if let Some((_, block)) = covering(&Live(&self.inner), first)? {
            if Block(&block).last_seq()? >= seq(first) {
                return Ok(true);
            }
        }
        let from = block_key(first);
        let to = super::keys::after(block_key(last));
        Ok(!self.inner.scan(&from, &to, false, 1)?.is_empty())
    }

    /// Commits `writes` and `owned` together; a record rewritten or deleted
    /// is first taken out of the block that holds it.
    fn commit_with(
        &self,
        writes: &mut BorrowedWrites<'_>,
        mut owned: WriteBatch,
    ) -> Result<(), StoreError> {
        if !self.has_blocks() {
            let owned = owned.iter().map(|(k, v)| (&k[..], v.as_deref()));
            let mut all = writes.map(shorten).chain(owned);
            return self.inner.commit_borrowed(&mut all);
        }
        // Blocks as they will be, by their key in the backend.
        let mut edited: BTreeMap<Vec<u8>, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
        let mut plain = Vec::new();
        for (key, value) in writes {
            let held = match packs(key) {
                true => covering(&Live(&self.inner), key)?,
                false => None,
            };
            if let Some((at, block)) = held {
                if Block(&block).find(seq(key))?.is_some() {
                    let entries = match edited.entry(at) {
                        btree_map::Entry::Occupied(e) => e.into_mut(),
                        btree_map::Entry::Vacant(e) => e.insert(Block(&block).entries()?),
                    };
                    entries.retain(|(s, _)| *s != seq(key));
                }
            }
            plain.push((key, value));
        }
        for (at, entries) in edited {
            let mut bytes = Vec::new();
            for (s, value) in &entries {
                bytes.extend_from_slice(&s.to_be_bytes());
                bytes.extend_from_slice(&(value.len() as u32).to_be_bytes());
                bytes.extend_from_slice(value);
            }
            // A block is under its first record's key.
            let first = entries.first().map(|(s, _)| *s);
            let moved = first.map(|s| with_seq(&at, s));
            if moved.as_deref() != Some(&at[..]) {
                owned.entry(at).or_insert(None);
            }
            if let Some(key) = moved {
                owned.insert(key, Some(bytes));
            }
        }
        let mut all = plain
            .into_iter()
            .chain(owned.iter().map(|(k, v)| (&k[..], v.as_deref())));
        self.inner.commit_borrowed(&mut all)
    }
}

/// A borrowed write, as one that lives shorter.
fn shorten<'s, 'l: 's>((key, value): (&'l [u8], Option<&'l [u8]>)) -> (&'s [u8], Option<&'s [u8]>) {
    (key, value)
}

impl<B: KvBackend> KvBackend for Packed<B> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        get(&Live(&self.inner), self.has_blocks(), key)
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        scan(
            &Live(&self.inner),
            self.has_blocks(),
            start,
            end,
            reverse,
            limit,
        )
    }

    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.commit_borrowed(&mut batch.iter().map(|(k, v)| (&k[..], v.as_deref())))
    }

    fn commit_borrowed(&self, writes: &mut BorrowedWrites<'_>) -> Result<(), StoreError> {
        self.commit_with(writes, WriteBatch::new())
    }

    fn snapshot(&self) -> Result<Box<dyn KvSnapshot + '_>, StoreError> {
        Ok(Box::new(PackedSnapshot {
            inner: self.inner.snapshot()?,
            blocks: &self.blocks,
        }))
    }

    fn free_space(&self) -> Option<u64> {
        self.inner.free_space()
    }
}

/// A snapshot of a [`Packed`] backend: its reads, as the backend's.
struct PackedSnapshot<'a> {
    inner: Box<dyn KvSnapshot + 'a>,
    blocks: &'a AtomicBool,
}

impl KvSnapshot for PackedSnapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        get(&*self.inner, self.blocks.load(Ordering::SeqCst), key)
    }

    fn scan(&self, start: &[u8], end: &[u8]) -> Result<Entries, StoreError> {
        self.scan_bounded(start, end, false, usize::MAX)
    }

    fn scan_bounded(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        let blocks = self.blocks.load(Ordering::SeqCst);
        scan(&*self.inner, blocks, start, end, reverse, limit)
    }
}

/// The value under `key` in `src`, a packed record's found in its block
/// (if `src` may hold `blocks`).
fn get(src: &dyn KvSnapshot, blocks: bool, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    if blocks && packs(key) {
        if let Some((_, block)) = covering(src, key)? {
            if let Some(value) = Block(&block).find(seq(key))? {
                return Ok(Some(value.to_vec()));
            }
        }
    }
    src.get(key)
}

/// Up to `limit` entries of `src` with `start <= key < end`, as a backend's
/// scan, with the records of blocks in place of the blocks (if `src` may
/// hold `blocks`).
fn scan(
    src: &dyn KvSnapshot,
    blocks: bool,
    start: &[u8],
    end: &[u8],
    reverse: bool,
    limit: usize,
) -> Result<Entries, StoreError> {
    if !blocks {
        return src.scan_bounded(start, end, reverse, limit);
    }
    // The range in parts, in key order: plain ones, and each packed family's
    // records (their own and their blocks'); blocks are never seen as such.
    let mut parts: Vec<(&[u8], &[u8], Option<&Family>)> = Vec::new();
    let mut from = start;
    for (lo, hi, family) in &SPECIAL {
        let (lo, hi) = (&lo[..], &hi[..]);
        parts.push((from, end.min(lo), None));
        if let Some(family) = family {
            parts.push((start.max(lo), end.min(hi), Some(*family)));
        }
        from = from.max(hi);
    }
    parts.push((from, end, None));
    let mut out = Entries::new();
    let mut scan_part = |&(from, to, family): &(&[u8], &[u8], Option<&Family>)| {
        let left = limit - out.len();
        if from >= to || left == 0 {
            return Ok(());
        }
        let mut entries = match family {
            Some(family) => records_in(src, family, from, to, reverse, left)?,
            None => src.scan_bounded(from, to, reverse, left)?,
        };
        out.append(&mut entries);
        Ok::<(), StoreError>(())
    };
    if reverse {
        parts.iter().rev().try_for_each(&mut scan_part)?;
    } else {
        parts.iter().try_for_each(&mut scan_part)?;
    }
    Ok(out)
}

/// Up to `limit` records of `family` with `start <= key < end` (within its
/// prefix): those under their own keys and those in blocks.
fn records_in(
    src: &dyn KvSnapshot,
    family: &Family,
    start: &[u8],
    end: &[u8],
    reverse: bool,
    limit: usize,
) -> Result<Entries, StoreError> {
    let mut found = src.scan_bounded(start, end, reverse, limit)?;
    let mut from_blocks = 0;
    // Adds the records of block `at` in the range to `found`.
    let take = |found: &mut Entries, at: &[u8], block: &[u8]| {
        let before = found.len();
        for entry in Block(block).iter() {
            let (s, value) = entry?;
            let key = record_key(family, at, s);
            if start <= &key[..] && &key[..] < end {
                found.push((key, value.to_vec()));
            }
        }
        Ok::<usize, StoreError>(found.len() - before)
    };
    // A block that starts before the range may reach into it: its records
    // come first in ascending order, last in descending.
    let earlier = last_block(src, family, &block_key(start))?;
    if let (Some((at, block)), false) = (&earlier, reverse) {
        from_blocks += take(&mut found, at, block)?;
    }
    // The blocks that start in the range, a few at a time: each brings at
    // least its first record, and all of a block's records come before the
    // next block's, so they stop once `limit` records came from blocks.
    let (mut from, mut to) = (block_key(start), block_key(end));
    while from_blocks < limit {
        let batch = src.scan_bounded(&from, &to, reverse, BLOCKS_PER_READ)?;
        for (at, block) in &batch {
            from_blocks += take(&mut found, at, block)?;
        }
        match batch.last() {
            Some((at, _)) if batch.len() == BLOCKS_PER_READ => match reverse {
                true => to.clone_from(at),
                false => from = super::keys::after(at.clone()),
            },
            _ => break,
        }
    }
    if let (Some((at, block)), true) = (&earlier, reverse) {
        if from_blocks < limit {
            take(&mut found, at, block)?;
        }
    }
    found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if reverse {
        found.reverse();
    }
    found.truncate(limit);
    Ok(found)
}

/// The block that may hold record `key` of a packed family: the last one
/// that starts at or before it, if it is of the same group.
fn covering(src: &dyn KvSnapshot, key: &[u8]) -> Result<Option<Stored>, StoreError> {
    let Some(family) = family(key) else {
        return Ok(None);
    };
    let to = super::keys::after(block_key(key));
    let last = last_block(src, family, &to)?;
    Ok(last.filter(|(at, _)| group(at) == group(key)))
}

/// The last block of `family` whose key is below `to`, of any group.
fn last_block(
    src: &dyn KvSnapshot,
    family: &Family,
    to: &[u8],
) -> Result<Option<Stored>, StoreError> {
    Ok(src.scan_bounded(&[family.block], to, true, 1)?.pop())
}

/// The packed family record `key` belongs to, if any.
fn family(key: &[u8]) -> Option<&'static Family> {
    let prefix = *key.first()?;
    (key.len() > 8)
        .then(|| FAMILIES.iter().find(|f| f.record == prefix))
        .flatten()
}

/// Whether a checkpoint puts the new record `key` into a block.
pub(super) fn packs(key: &[u8]) -> bool {
    family(key).is_some()
}

/// A record's or block's group: the bytes between the prefix and the u64.
fn group(key: &[u8]) -> &[u8] {
    &key[1..key.len() - 8]
}

/// Whether two records (of packed families) are of one family and group.
fn same_group(a: &[u8], b: &[u8]) -> bool {
    a[..a.len() - 8] == b[..b.len() - 8]
}

/// A record or block key's u64 (its last 8 bytes).
fn seq(key: &[u8]) -> u64 {
    let tail = &key[key.len().saturating_sub(8)..];
    let mut bytes = [0; 8];
    bytes[8 - tail.len()..].copy_from_slice(tail);
    u64::from_be_bytes(bytes)
}

/// The key of a block starting at record `key` (or, for a bound of a range
/// of a family's records, the bound of the blocks that start in it).
fn block_key(key: &[u8]) -> Vec<u8> {
    let mut at = key.to_vec();
    if let Some(first) = at.first_mut() {
        for family in &FAMILIES {
            if *first == family.record {
                *first = family.block;
                break;
            }
            // A family's prefix + 1: above every record, so above every block.
            if *first == family.record + 1 && key.len() == 1 {
                *first = family.block + 1;
                break;
            }
        }
    }
    at
}

/// The key of record `seq` of `family` in the group of block key `at`.
fn record_key(family: &Family, at: &[u8], seq: u64) -> Vec<u8> {
    let mut key = with_seq(at, seq);
    key[0] = family.record;
    key
}

/// `key` with its last 8 bytes (its seq) replaced by `seq`.
fn with_seq(key: &[u8], seq: u64) -> Vec<u8> {
    let mut key = key.to_vec();
    let at = key.len() - 8;
    key[at..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// A block's bytes: each message as its seq (8 bytes), its length (4) and
/// itself, in seq order.
struct Block<'a>(&'a [u8]);

impl<'a> Block<'a> {
    fn iter(&self) -> impl Iterator<Item = Result<(u64, &'a [u8]), StoreError>> + 'a {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let corrupt = || StoreError::Corrupt {
                key: "a block of messages".into(),
                reason: "cut short".into(),
            };
            if rest.len() < HEADER {
                rest = &[];
                return Some(Err(corrupt()));
            }
            let s = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
            let len = u32::from_be_bytes(rest[8..HEADER].try_into().expect("4 bytes")) as usize;
            let Some(value) = rest.get(HEADER..HEADER + len) else {
                rest = &[];
                return Some(Err(corrupt()));
            };
            rest = &rest[HEADER + len..];
            Some(Ok((s, value)))
        })
    }

    fn find(&self, wanted: u64) -> Result<Option<&'a [u8]>, StoreError> {
        for entry in self.iter() {
            let (s, value) = entry?;
            if s == wanted {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    fn entries(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.iter()
            .map(|entry| entry.map(|(s, v)| (s, v.to_vec())))
            .collect()
    }

    fn last_seq(&self) -> Result<u64, StoreError> {
        Ok(self.iter().last().transpose()?.map_or(0, |(s, _)| s))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::store::MemoryBackend;

    /// Keys of two conversations' messages (seqs 1..=24), of one group of
    /// idempotency records (client_msg_ids 1..=24) and a few others, below,
    /// between and above the prefixes of records and blocks.
    fn key(n: u8) -> Vec<u8> {
        const OTHERS: [&[u8]; 7] = [b"a", b"G", b"I", b"Ka", b"h", b"i", b"z"];
        let mut key = match n {
            0..=47 => vec![b'h', b'r', 0, 0, 0, 0, 0, 0, 0, n / 24 + 7],
            48..=71 => vec![b'K', 0, 0, 0, 0, 0, 0, 0, 3, b'd', 0, 0, 0, 0, 0, 0, 0, 4],
            _ => return OTHERS[usize::from(n - KEYS)].to_vec(),
        };
        key.extend_from_slice(&u64::from(n % 24 + 1).to_be_bytes());
        key
    }

    /// How many keys [`key`] makes besides the others.
    const KEYS: u8 = 72;
    /// How many keys [`key`] makes.
    const ALL_KEYS: u8 = KEYS + 7;

    /// Entries as key and value number, for messages that fit a screen.
    fn short(entries: Entries) -> Vec<(Vec<u8>, u16)> {
        entries
            .into_iter()
            .map(|(k, v)| (k, u16::from_be_bytes([v[0], v[1]])))
            .collect()
    }

    fn value(v: u16) -> Vec<u8> {
        // Some values long enough to fill a block with a few messages.
        let len = if v.is_multiple_of(5) { 6000 } else { 3 };
        let mut bytes = vec![b'v'; len];
        bytes[..2].copy_from_slice(&v.to_be_bytes());
        bytes
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// A checkpoint: keys absent so far are new (and messages among them
        /// go into blocks); the others are rewritten or deleted.
        Checkpoint(Vec<(u8, Option<u16>)>),
        /// A commit of a store without a log (or a log's replay).
        Plain(Vec<(u8, Option<u16>)>),
    }

    fn op() -> impl Strategy<Value = Op> {
        let writes = proptest::collection::vec(
            (0u8..ALL_KEYS, proptest::option::weighted(0.8, any::<u16>())),
            0..20,
        );
        prop_oneof![
            3 => writes.clone().prop_map(Op::Checkpoint),
            1 => writes.prop_map(Op::Plain),
        ]
    }

    fn apply(store: &Packed<MemoryBackend>, model: &mut BTreeMap<Vec<u8>, Vec<u8>>, op: &Op) {
        let (writes, checkpoint) = match op {
            Op::Checkpoint(writes) => (writes, true),
            Op::Plain(writes) => (writes, false),
        };
        let batch: WriteBatch = writes
            .iter()
            .map(|(k, v)| (key(*k), v.map(value)))
            .collect();
        let new = |k: &Vec<u8>, v: &Option<Vec<u8>>| {
            checkpoint && packs(k) && v.is_some() && !model.contains_key(k)
        };
        let fresh: Vec<(&[u8], &[u8])> = batch
            .iter()
            .filter(|(k, v)| new(k, v))
            .map(|(k, v)| (&k[..], v.as_deref().unwrap()))
            .collect();
        let mut rest = batch
            .iter()
            .filter(|(k, v)| !new(k, v))
            .map(|(k, v)| (&k[..], v.as_deref()));
        store
            .commit_checkpoint(fresh.into_iter(), &mut rest)
            .unwrap();
        for (k, v) in batch {
            match v {
                Some(v) => model.insert(k, v),
                None => model.remove(&k),
            };
        }
    }

    proptest! {
        /// Whatever was written in blocks or on its own, rewritten or deleted,
        /// reads (point reads, scans of any range, direction and limit, live or
        /// through a snapshot) agree with a plain map of every write.
        #[test]
        fn reads_match_a_model(
            ops in proptest::collection::vec(op(), 1..8),
            scans in proptest::collection::vec((0u8..ALL_KEYS, 0u8..ALL_KEYS, any::<bool>(), 0usize..30), 1..12),
        ) {
            let store = Packed::new(MemoryBackend::new()).unwrap();
            let mut model = BTreeMap::new();
            for op in &ops {
                apply(&store, &mut model, op);
                let snapshot = store.snapshot().unwrap();
                for n in 0..ALL_KEYS {
                    let k = key(n);
                    let want = model.get(&k).map(|v| v[..2].to_vec());
                    let got = store.get(&k).unwrap().map(|v| v[..2].to_vec());
                    prop_assert_eq!(got, want.clone(), "get {}", n);
                    prop_assert_eq!(snapshot.get(&k).unwrap().map(|v| v[..2].to_vec()), want);
                }
                for &(a, b, reverse, limit) in &scans {
                    let (start, end) = (key(a), key(b));
                    let range = model.range(start.clone()..end.clone().max(start.clone()));
                    let want: Entries = if reverse {
                        range.rev().take(limit).map(|(k, v)| (k.clone(), v.clone())).collect()
                    } else {
                        range.take(limit).map(|(k, v)| (k.clone(), v.clone())).collect()
                    };
                    let what = format!("scan {a}..{b} reverse={reverse} limit={limit}");
                    prop_assert_eq!(short(store.scan(&start, &end, reverse, limit).unwrap()), short(want.clone()), "{}", what);
                    prop_assert_eq!(short(snapshot.scan_bounded(&start, &end, reverse, limit).unwrap()), short(want), "{}", what);
                }
                // Everything, as a whole-store scan sees it: no block shows.
                let all: Entries = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                prop_assert_eq!(short(snapshot.scan(&[], &[0xff]).unwrap()), short(all));
            }
        }
    }

    #[test]
    fn the_ranges_a_scan_treats_apart_are_every_familys_in_key_order() {
        assert!(SPECIAL.windows(2).all(|w| w[0].1 <= w[1].0));
        for family in &FAMILIES {
            let range = |prefix: u8| ([prefix], [prefix + 1]);
            assert!(SPECIAL
                .iter()
                .any(|&(lo, hi, f)| (lo, hi) == range(family.block) && f.is_none()));
            assert!(SPECIAL
                .iter()
                .any(|&(lo, hi, f)| (lo, hi) == range(family.record)
                    && f.is_some_and(|f| f.record == family.record)));
        }
    }

    #[test]
    fn a_checkpoint_packs_a_conversations_new_messages_into_few_records() {
        let store = Packed::new(MemoryBackend::new()).unwrap();
        let batch: Vec<(Vec<u8>, Vec<u8>)> = (0..24).map(|n| (key(n), vec![b'm'; 100])).collect();
        let fresh = batch.iter().map(|(k, v)| (&k[..], &v[..]));
        store
            .commit_checkpoint(fresh, &mut std::iter::empty())
            .unwrap();
        let stored = store.inner().scan(&[], &[0xff], false, usize::MAX).unwrap();
        assert_eq!(stored.len(), 1, "one block");
        assert_eq!(stored[0].0[0], b'H');
        assert_eq!(store.get(&key(5)).unwrap(), Some(vec![b'm'; 100]));
        // Deleting the first message moves the block to its new first seq.
        store.commit(WriteBatch::from([(key(0), None)])).unwrap();
        let stored = store.inner().scan(&[], &[0xff], false, usize::MAX).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].0, block_key(&key(1)));
        assert_eq!(store.get(&key(0)).unwrap(), None);
        assert_eq!(store.scan(&key(0), &key(24), false, 100).unwrap().len(), 23);
    }
}
