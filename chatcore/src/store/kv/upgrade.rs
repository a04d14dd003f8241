//! The format check at open, and the in-place upgrade of an older format.

use std::collections::HashMap;

use super::keys;
use super::keys::Conv;
use super::records::{
    decode, encode, FileUsage, InboxRecord, ItemRecord, RoomRecord, StreamRecord, FORMAT_VERSION,
    OLDEST_FORMAT,
};
use super::{KvBackend, WriteBatch};
use crate::protocol::{Event, Message};
use crate::store::{FileRecord, RoomId, StoreError, UserId};

/// The first format that keeps room member counts (`keys::member_count`) and
/// the quota counts: rooms per owner (`keys::owned_rooms`) and files per
/// uploader (`keys::file_usage`).
const KEPT_COUNTS: u32 = 3;

/// The first format with streams (`keys::stream_item`) instead of inboxes.
const STREAMS: u32 = 4;

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
    if from < KEPT_COUNTS {
        member_counts(backend, &mut batch)?;
        quota_counts(backend, &mut batch)?;
    }
    if from < STREAMS {
        inboxes_to_streams(backend, &mut batch)?;
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

/// Counts, once, the rooms each user owns and what each user's files take up,
/// so that the quotas format 3 keeps hold for what was stored before.
fn quota_counts<B: KvBackend>(backend: &B, batch: &mut WriteBatch) -> Result<(), StoreError> {
    let mut owned: HashMap<UserId, u64> = HashMap::new();
    let (start, end) = keys::ROOMS;
    for (key, raw) in backend.scan(start, end, false, usize::MAX)? {
        let room: RoomRecord = decode(&key, &raw)?;
        *owned.entry(room.owner).or_default() += 1;
    }
    for (owner, count) in owned {
        batch.insert(keys::owned_rooms(owner), Some(count.to_be_bytes().to_vec()));
    }
    let mut usage: HashMap<UserId, FileUsage> = HashMap::new();
    let (start, end) = keys::FILES;
    for (key, raw) in backend.scan(start, end, false, usize::MAX)? {
        let file: FileRecord = decode(&key, &raw)?;
        let entry = usage.entry(file.from.id).or_default();
        entry.files += 1;
        entry.bytes = entry.bytes.saturating_add(file.size);
    }
    for (user, usage) in usage {
        batch.insert(keys::file_usage(user), Some(encode(&usage)));
    }
    Ok(())
}

/// Moves every inbox item into its user's stream, in id order (the order they
/// were stored in), ahead of every device: positions start at 1 and nothing is
/// let go yet.
fn inboxes_to_streams<B: KvBackend>(backend: &B, batch: &mut WriteBatch) -> Result<(), StoreError> {
    let (start, end) = keys::INBOXES;
    let mut heads: HashMap<UserId, u64> = HashMap::new();
    for (key, raw) in backend.scan(start, end, false, usize::MAX)? {
        let user = UserId(u64::from_be_bytes(
            key[1..9].try_into().expect("an inbox key holds a user id"),
        ));
        let record = match decode::<InboxRecord>(&key, &raw)? {
            // Format 1 kept a copy; the history has the message too.
            InboxRecord::FromUser(sender, Event::Message(m))
                if backend
                    .get(&keys::msg(Conv::direct(sender, user), m.seq))?
                    .is_some() =>
            {
                ItemRecord::Message {
                    sender,
                    seq: m.seq,
                    id: m.id,
                }
            }
            InboxRecord::Event(event) | InboxRecord::FromUser(_, event) => ItemRecord::Event(event),
            InboxRecord::Message { sender, seq } => {
                let at = keys::msg(Conv::direct(sender, user), seq);
                let Some(raw) = backend.get(&at)? else {
                    continue; // a dangling item: nothing to deliver
                };
                let message: Message = decode(&at, &raw)?;
                ItemRecord::Message {
                    sender,
                    seq,
                    id: message.id,
                }
            }
        };
        let head = heads.entry(user).or_default();
        *head += 1;
        batch.insert(keys::stream_item(user, *head), Some(encode(&record)));
        batch.insert(key, None);
    }
    // Devices of format 3 (protocol 4 logins) are counted in their streams.
    let mut devices: HashMap<UserId, u64> = HashMap::new();
    let (start, end) = keys::DEVICES;
    for (key, _) in backend.scan(start, end, false, usize::MAX)? {
        *devices.entry(keys::device_user(&key)).or_default() += 1;
    }
    let users: std::collections::HashSet<UserId> =
        heads.keys().chain(devices.keys()).copied().collect();
    for user in users {
        let stream = StreamRecord {
            head: heads.get(&user).copied().unwrap_or(0),
            floor: 0,
            devices: devices.get(&user).copied().unwrap_or(0),
        };
        batch.insert(keys::stream(user), Some(encode(&stream)));
    }
    Ok(())
}
