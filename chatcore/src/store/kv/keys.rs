//! The key layout. All integers big-endian, so ranges scan in numeric order.

use crate::store::{RoomId, UserId};

pub const VERSION: &[u8] = b"mversion";
pub const NEXT_ID: &[u8] = b"mnext_id";

/// A conversation: the two users of a 1:1 chat (lower id first) or a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    Direct(UserId, UserId),
    Room(RoomId),
}

impl Conv {
    pub fn direct(a: UserId, b: UserId) -> Conv {
        Conv::Direct(a.min(b), a.max(b))
    }

    fn append_to(self, k: &mut Vec<u8>) {
        match self {
            Conv::Direct(lo, hi) => {
                k.push(b'd');
                k.extend_from_slice(&lo.0.to_be_bytes());
                k.extend_from_slice(&hi.0.to_be_bytes());
            }
            Conv::Room(room) => {
                k.push(b'r');
                k.extend_from_slice(&room.0.to_be_bytes());
            }
        }
    }
}

fn key(prefix: u8, conv: Option<Conv>, parts: &[u64]) -> Vec<u8> {
    let mut k = Vec::with_capacity(18 + 8 * parts.len());
    k.push(prefix);
    if let Some(conv) = conv {
        conv.append_to(&mut k);
    }
    for p in parts {
        k.extend_from_slice(&p.to_be_bytes());
    }
    k
}

/// `[start, end)` of every key that starts with `prefix ++ conv ++ parts`.
fn range(prefix: u8, conv: Option<Conv>, parts: &[u64]) -> (Vec<u8>, Vec<u8>) {
    let start = key(prefix, conv, parts);
    (start.clone(), successor(start))
}

/// The smallest key above every key that starts with `prefix`.
pub fn successor(mut prefix: Vec<u8>) -> Vec<u8> {
    while let Some(last) = prefix.pop() {
        if last < 0xff {
            prefix.push(last + 1);
            return prefix;
        }
    }
    vec![0xff; 64] // all 0xff: nothing sorts above; a generous bound
}

/// The smallest key above `key` (and so above nothing that starts with it
/// but `key` itself): where a page that ended at `key` goes on.
pub fn after(mut key: Vec<u8>) -> Vec<u8> {
    key.push(0);
    key
}

pub fn user(id: UserId) -> Vec<u8> {
    key(b'u', None, &[id.0])
}
pub fn name(lowercase: &str) -> Vec<u8> {
    let mut k = vec![b'n'];
    k.extend_from_slice(lowercase.as_bytes());
    k
}
/// The first byte of every [`link`] key.
pub const LINK: u8 = b'l';
/// The first byte of every [`unread`] key.
pub const UNREAD: u8 = b'N';
/// The first byte of every [`last_seq`] key.
pub const LAST_SEQ: u8 = b's';
/// The first byte of every [`stream`] key.
pub const STREAM: u8 = b'W';
/// The first byte of every [`stream_item`] key.
pub const STREAM_ITEM: u8 = b'w';
/// The first byte of every [`cursor`] key.
pub const CURSOR: u8 = b'v';
/// The first byte of every [`delivered_mark`] key.
pub const DELIVERED_MARK: u8 = b'M';

pub fn link(owner: UserId, other: UserId) -> Vec<u8> {
    key(LINK, None, &[owner.0, other.0])
}
pub fn links_of(owner: UserId) -> (Vec<u8>, Vec<u8>) {
    range(b'l', None, &[owner.0])
}
pub fn pending(owner: UserId) -> Vec<u8> {
    key(b'p', None, &[owner.0])
}
pub fn msg(conv: Conv, seq: u64) -> Vec<u8> {
    key(b'h', Some(conv), &[seq])
}
pub fn last_seq(conv: Conv) -> Vec<u8> {
    key(LAST_SEQ, Some(conv), &[])
}
/// Format 3's inbox item (by item id): the upgrade to format 4 moves them into
/// the stream.
#[cfg(any(test, feature = "testkit"))]
pub fn inbox(user: UserId, item: u64) -> Vec<u8> {
    key(b'i', None, &[user.0, item])
}
/// Every format-3 inbox item.
pub const INBOXES: (&[u8], &[u8]) = (b"i", b"j");
/// An item of a user's stream, at its position.
pub fn stream_item(user: UserId, pos: u64) -> Vec<u8> {
    key(STREAM_ITEM, None, &[user.0, pos])
}
/// A user's stream: its newest position and the highest one let go.
pub fn stream(user: UserId) -> Vec<u8> {
    key(STREAM, None, &[user.0])
}
/// A device's position in its user's stream.
pub fn cursor(user: UserId, device: u64) -> Vec<u8> {
    key(CURSOR, None, &[user.0, device])
}
/// The user's default device (the one a login naming none is).
pub fn default_device(user: UserId) -> Vec<u8> {
    key(b'D', None, &[user.0])
}
/// The newest seq of `sender`'s messages to `recipient` that a device of
/// `recipient` acked.
pub fn delivered_mark(sender: UserId, recipient: UserId) -> Vec<u8> {
    key(DELIVERED_MARK, None, &[sender.0, recipient.0])
}
pub fn delivered_marks_of(sender: UserId) -> (Vec<u8>, Vec<u8>) {
    range(b'M', None, &[sender.0])
}
/// `reader`'s read mark in a conversation with a user (kind 0) or a room
/// (kind 1).
pub fn read_mark(reader: UserId, kind: u64, id: u64) -> Vec<u8> {
    key(b'R', None, &[reader.0, kind, id])
}
/// `user` may have unread messages from `sender` (set by a message, cleared
/// by a read mark past the newest).
pub fn unread(user: UserId, sender: UserId) -> Vec<u8> {
    key(UNREAD, None, &[user.0, sender.0])
}
pub fn unread_of(user: UserId) -> (Vec<u8>, Vec<u8>) {
    range(b'N', None, &[user.0])
}
/// A user's settings.
pub fn settings(user: UserId) -> Vec<u8> {
    key(b'P', None, &[user.0])
}
/// A send's idempotency record: scoped to its conversation (the sender and
/// the other user, or the room), so a client may number each conversation's
/// messages on its own. 26 bytes: within the writer's inline key size.
pub fn idempotency(sender: UserId, conv: Conv, client_msg_id: u64) -> Vec<u8> {
    let (kind, peer) = match conv {
        Conv::Direct(lo, hi) => (b'd', if sender == lo { hi.0 } else { lo.0 }),
        Conv::Room(room) => (b'r', room.0),
    };
    let mut k = Vec::with_capacity(26);
    k.push(b'K');
    k.extend_from_slice(&sender.0.to_be_bytes());
    k.push(kind);
    k.extend_from_slice(&peer.to_be_bytes());
    k.extend_from_slice(&client_msg_id.to_be_bytes());
    k
}
pub const IDEMPOTENCY: (&[u8], &[u8]) = (b"K", b"L");
/// Idempotency records written before they were scoped per conversation: no
/// longer read, swept like expired ones.
pub const LEGACY_IDEMPOTENCY: (&[u8], &[u8]) = (b"k", b"l");
/// One of a user's devices.
pub fn device(user: UserId, device: u64) -> Vec<u8> {
    key(b'V', None, &[user.0, device])
}
pub fn devices_of(user: UserId) -> (Vec<u8>, Vec<u8>) {
    range(b'V', None, &[user.0])
}
/// Every device of every user.
pub const DEVICES: (&[u8], &[u8]) = (b"V", b"W");
/// The user of a key from [`device`].
pub fn device_user(key: &[u8]) -> UserId {
    UserId(u64::from_be_bytes(
        key[1..9].try_into().expect("a device key holds a user id"),
    ))
}
pub fn room(id: RoomId) -> Vec<u8> {
    key(b'o', None, &[id.0])
}
pub const ROOMS: (&[u8], &[u8]) = (b"o", b"p");
/// How many rooms a user owns (the rooms-per-owner quota).
pub fn owned_rooms(owner: UserId) -> Vec<u8> {
    key(b'O', None, &[owner.0])
}
pub fn room_name(lowercase: &str) -> Vec<u8> {
    let mut k = vec![b'g'];
    k.extend_from_slice(lowercase.as_bytes());
    k
}
/// A room's member count (format 3), kept by every change of its members.
pub fn member_count(room: RoomId) -> Vec<u8> {
    key(b'C', None, &[room.0])
}
/// Membership, valued by the member's read seq.
pub fn member(room: RoomId, user: UserId) -> Vec<u8> {
    key(b'e', None, &[room.0, user.0])
}
pub fn members_of(room: RoomId) -> (Vec<u8>, Vec<u8>) {
    range(b'e', None, &[room.0])
}
/// Every membership of every room.
pub const MEMBERS: (&[u8], &[u8]) = (b"e", b"f");
/// The room of a key from [`member`].
pub fn member_room(key: &[u8]) -> RoomId {
    RoomId(u64::from_be_bytes(
        key[1..9].try_into().expect("a member key holds a room id"),
    ))
}
/// The reverse membership index.
pub fn membership(user: UserId, room: RoomId) -> Vec<u8> {
    key(b'E', None, &[user.0, room.0])
}
pub fn memberships_of(user: UserId) -> (Vec<u8>, Vec<u8>) {
    range(b'E', None, &[user.0])
}
/// Room message id -> (room, seq), so an ack can move the read cursor.
pub fn room_msg_index(id: u64) -> Vec<u8> {
    key(b'x', None, &[id])
}
pub fn file(id: u64) -> Vec<u8> {
    key(b'f', None, &[id])
}
pub const FILES: (&[u8], &[u8]) = (b"f", b"g");
/// The files a user stores and their offered bytes (the file quota).
pub fn file_usage(user: UserId) -> Vec<u8> {
    key(b'q', None, &[user.0])
}
pub fn chunk(file: u64, index: u64) -> Vec<u8> {
    key(b'c', None, &[file, index])
}
pub fn conv_file(conv: Conv, file: u64) -> Vec<u8> {
    key(b'F', Some(conv), &[file])
}
pub fn conv_files(conv: Conv) -> (Vec<u8>, Vec<u8>) {
    range(b'F', Some(conv), &[])
}
pub fn last_u64(key: &[u8]) -> u64 {
    let tail: [u8; 8] = key[key.len() - 8..]
        .try_into()
        .expect("key ends with a u64");
    u64::from_be_bytes(tail)
}
