//! [`MemKey`]: a key as the writer's ordered maps (a group, the memtable) hold it.
//!
//! Those maps take several inserts and lookups per message. With `Vec<u8>` keys
//! every comparison follows a pointer to the key's bytes, a likely cache miss, and
//! calls `memcmp`; a key of up to [`INLINE`] bytes (every key a message writes) is
//! kept in the map's node instead and compared as four big-endian words. In the
//! relay load that took key comparisons from 19% of the writer thread's samples
//! to 12%.

use std::cmp::Ordering;
use std::ops::Bound;

/// The longest key kept inline.
const INLINE: usize = 32;

/// A key, ordered as its bytes are (lexicographically).
#[derive(Clone, Debug)]
pub enum MemKey {
    /// Up to [`INLINE`] bytes, zero-padded.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// A longer key (a long user or room name).
    Heap(Box<[u8]>),
}

impl MemKey {
    /// The key `bytes`.
    pub fn new(bytes: &[u8]) -> MemKey {
        if bytes.len() > INLINE {
            return MemKey::Heap(bytes.into());
        }
        let mut inline = [0; INLINE];
        inline[..bytes.len()].copy_from_slice(bytes);
        MemKey::Inline {
            len: bytes.len() as u8,
            bytes: inline,
        }
    }

    /// The bounds of the keys `start <= key < end`, for a map's `range`.
    pub fn range(start: &[u8], end: &[u8]) -> (Bound<MemKey>, Bound<MemKey>) {
        (
            Bound::Included(MemKey::new(start)),
            Bound::Excluded(MemKey::new(end)),
        )
    }

    /// The key's bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            MemKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            MemKey::Heap(bytes) => bytes,
        }
    }
}

impl MemKey {
    /// The key's bytes, owned (a heap key's without a copy).
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            MemKey::Inline { .. } => self.as_slice().to_vec(),
            MemKey::Heap(bytes) => bytes.into_vec(),
        }
    }
}

impl From<Vec<u8>> for MemKey {
    fn from(bytes: Vec<u8>) -> MemKey {
        if bytes.len() <= INLINE {
            MemKey::new(&bytes)
        } else {
            MemKey::Heap(bytes.into_boxed_slice())
        }
    }
}

impl Ord for MemKey {
    fn cmp(&self, other: &MemKey) -> Ordering {
        match (self, other) {
            // Zero padding keeps the order: where one key is a prefix of the other
            // the padded words are equal, and the shorter key sorts first.
            (MemKey::Inline { len: a, bytes: x }, MemKey::Inline { len: b, bytes: y }) => {
                let word = |bytes: &[u8; INLINE], i: usize| {
                    u64::from_be_bytes(bytes[i..i + 8].try_into().expect("8 bytes"))
                };
                (0..INLINE)
                    .step_by(8)
                    .map(|i| word(x, i).cmp(&word(y, i)))
                    .find(|o| o.is_ne())
                    .unwrap_or_else(|| a.cmp(b))
            }
            _ => self.as_slice().cmp(other.as_slice()),
        }
    }
}

impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &MemKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for MemKey {
    fn eq(&self, other: &MemKey) -> bool {
        match (self, other) {
            (MemKey::Inline { len: a, bytes: x }, MemKey::Inline { len: b, bytes: y }) => {
                a == b && x == y
            }
            _ => self.as_slice() == other.as_slice(),
        }
    }
}

/// Equal keys hash alike: a key has one form (inline up to [`INLINE`] bytes).
impl std::hash::Hash for MemKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            // As four words: a keyed hasher folds each in at once, where
            // 33 bytes would take its slower path for long inputs.
            MemKey::Inline { len, bytes } => {
                for word in bytes.chunks_exact(8) {
                    state.write_u64(u64::from_ne_bytes(word.try_into().expect("8 bytes")));
                }
                state.write_u8(*len);
            }
            MemKey::Heap(bytes) => state.write(bytes),
        }
    }
}

impl Eq for MemKey {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Ordered exactly as the bytes are, inline, on the heap and mixed, and
        /// the bytes come back unchanged.
        #[test]
        fn orders_as_the_bytes_do(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xff), any::<u8>()], 0..48),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xff), any::<u8>()], 0..48),
            shared in 0usize..40,
        ) {
            // Often one key is a prefix of the other, or they share a long prefix.
            let b: Vec<u8> = a.iter().take(shared).chain(&b).copied().collect();
            let (x, y) = (MemKey::new(&a), MemKey::from(b.clone()));
            prop_assert_eq!(x.as_slice(), &a[..]);
            prop_assert_eq!(y.as_slice(), &b[..]);
            prop_assert_eq!(y.clone().into_vec(), b.clone());
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert_eq!(y.cmp(&x), b.cmp(&a));
            prop_assert_eq!(x == y, a == b);
        }
    }
}
