//! The stored forms of the records and their encoding: postcard, each record in
//! an allocation of exactly its size; counters as big-endian `u64`s.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::keys;
use crate::protocol::{Event, Timestamp};
use crate::store::{Room, RoomId, StoreError, User, UserId};

/// The format version of the key layout, stored in every database. Opening a
/// database of an older format upgrades it in place (so older versions of this
/// crate then refuse it). Format 2: an inbox item of a 1:1 message points into
/// the conversation's history instead of holding a copy; format-1 records are
/// read as they are. Format 3: rooms' member counts are kept (counted once when
/// an older database opens). Format 4: the inbox became a stream with a
/// position per device (an older database's inbox items move into it, in
/// order, ahead of every device). Format 5: a checkpoint writes new messages
/// and idempotency records in blocks (`H`, `J`); records of their own stay
/// valid, so nothing is converted.
pub const FORMAT_VERSION: u32 = 5;

/// The oldest format this version reads.
pub(super) const OLDEST_FORMAT: u32 = 1;

/// Stored form of a user. Its `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Name as registered.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("name", &self.name)
            .field("password_hash", &crate::protocol::Redacted)
            .finish()
    }
}

/// Stored form of a device (under `keys::device`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct DeviceRecord {
    pub(super) name: String,
    pub(super) last_seen: Timestamp,
}

/// Where a device is in its user's stream (under `keys::cursor`; none yet: 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CursorRecord {
    /// Acked up to here.
    pub(super) pos: u64,
    /// When it last acked or logged in.
    pub(super) at: Timestamp,
}

/// A user's stream (under `keys::stream`): its newest position, the highest
/// one let go (every item at or below it is gone), and how many devices the
/// user has (so that a send and an ack need not list them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StreamRecord {
    pub(super) head: u64,
    pub(super) floor: u64,
    pub(super) devices: u64,
}

/// A user's settings (under `keys::settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Settings {
    /// Others get `Event::Read` for this user's read marks.
    pub(super) read_receipts: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            read_receipts: true,
        }
    }
}

/// Stored form of an item of a user's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemRecord {
    /// An event stored whole (friend notices, shared files, read marks).
    Event(Event),
    /// A 1:1 message from `sender` to the stream's owner, stored once: in
    /// their conversation's history, at `seq`.
    Message {
        /// Who sent it.
        sender: UserId,
        /// Where it is in the conversation.
        seq: u64,
        /// Its id (named in the sender's receipt).
        id: u64,
    },
    /// A 1:1 message the stream's owner sent to `to` from `device`, for
    /// their other devices.
    Sent {
        /// The recipient.
        to: UserId,
        /// Where it is in the conversation.
        seq: u64,
        /// The device it was sent from (its sessions are not sent it).
        device: Option<u64>,
    },
}

/// A conversation's delivered mark (under `keys::delivered_mark`): the sender's
/// messages up to `seq` reached a device of the recipient, at `at`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct DeliveredMark {
    pub(super) seq: u64,
    pub(super) at: Timestamp,
}

/// Stored form of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RoomRecord {
    pub(super) name: String,
    pub(super) owner: UserId,
}

/// Stored form of what a user's files take up: every file they offered and
/// that is not deleted, complete or not, at its offered size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileUsage {
    pub(super) files: u64,
    pub(super) bytes: u64,
}

pub(super) fn room_from(id: RoomId, record: RoomRecord) -> Room {
    Room {
        id,
        name: record.name,
        owner: record.owner,
    }
}

pub(super) fn user_from(id: UserId, record: UserRecord) -> User {
    User {
        id,
        name: record.name,
    }
}

/// Stored form of an inbox item up to format 3 (read by the upgrade to format 4).
///
/// Format 1 stored the struct `{ sender: Option<UserId>, event: Event }`. postcard
/// writes an `Option` as variant 0 or 1 of an enum, so [`Event`](Self::Event) and
/// [`FromUser`](Self::FromUser) are encoded exactly as that struct was: records of
/// format 1 read as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboxRecord {
    /// An event stored whole, from no one in particular (friend notices, receipts,
    /// shared files).
    Event(Event),
    /// An event stored whole that a user sent; format 1 stored messages so.
    FromUser(UserId, Event),
    /// A 1:1 message from `sender` to the inbox's owner, stored once: in their
    /// conversation's history, at `seq`. The sender gets a `Delivered` receipt on
    /// ack.
    Message {
        /// Who sent it.
        sender: UserId,
        /// Where it is in the conversation.
        seq: u64,
    },
}

/// A record's stored bytes, in an allocation of exactly their size.
pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    thread_local! {
        // Serializing straight into a new vector regrows it several times a record.
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        let filled = postcard::to_extend(value, std::mem::take(scratch));
        *scratch = filled.expect("records always serialize");
        let bytes = scratch.to_vec();
        if scratch.capacity() > 64 << 10 {
            *scratch = Vec::new(); // a rare big record (a file chunk's metadata)
        }
        bytes
    })
}

/// The record stored as `bytes` under `key`.
pub(super) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("{key:?}"),
        reason: e.to_string(),
    })
}

/// The counter stored as `bytes` under `key`.
pub(super) fn decode_u64(key: &[u8], bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        key: format!("{key:?}"),
        reason: "expected 8 bytes".into(),
    })?;
    Ok(u64::from_be_bytes(arr))
}

/// Typed reads over raw ones: of the committed state for a read (a
/// [`View`](super::view::View)), or of what a write job sees (a
/// [`Txn`](super::writer::Txn)).
pub(super) trait Reader {
    /// The bytes stored under `key`.
    fn raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// The record stored under `key`.
    fn record<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.raw(key)?.map(|v| decode(key, &v)).transpose()
    }
    /// The counter under `key`; 0 if there is none.
    fn counter(&self, key: &[u8]) -> Result<u64, StoreError> {
        Ok(match self.raw(key)? {
            Some(v) => decode_u64(key, &v)?,
            None => 0,
        })
    }
    /// The user `id`.
    fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self
            .record::<UserRecord>(&keys::user(id))?
            .map(|r| user_from(id, r)))
    }
    /// The room `id`.
    fn room(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        Ok(self
            .record::<RoomRecord>(&keys::room(id))?
            .map(|r| room_from(id, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::UserRecord;

    #[test]
    fn a_stored_password_hash_never_reaches_debug_output() {
        let record = UserRecord {
            name: "ann".into(),
            password_hash: "$argon2id$v=19$secret".into(),
        };
        let shown = format!("{record:?}");
        assert!(!shown.contains("argon2id"), "{shown}");
        assert!(
            shown.contains("ann") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
