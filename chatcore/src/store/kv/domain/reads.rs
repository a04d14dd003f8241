//! Read marks: what a user read of each conversation, the unread counts they
//! leave, and whether others are told.

use super::scan_decode;
use crate::protocol::{ErrorCode, Event, Message, Peer, Unread};
use crate::store::kv::keys::{self, Conv};
use crate::store::kv::records::{decode, decode_u64, Reader, Settings};
use crate::store::kv::{KvBackend, Txn, View};
use crate::store::{Conversation, Notice, RoomId, StoreError, User, UserId};

/// Unread messages are counted when asked, among at most this many after the
/// read mark (conversations keep no counter: a message costs no count
/// update); past them every message counts.
const MAX_COUNTED: u64 = 1_000;

/// The kinds of conversation in `keys::read_mark`.
const USER: u64 = 0;
pub(super) const ROOM: u64 = 1;

/// `reader`'s read mark in a room: set at create or join and by `mark_read`;
/// a membership from before read marks has none: its delivered position then.
fn room_read_mark(r: &impl Reader, reader: UserId, room: RoomId) -> Result<u64, StoreError> {
    let mark = keys::read_mark(reader, ROOM, room.0);
    match r.raw(&mark)? {
        Some(raw) => decode_u64(&mark, &raw),
        None => r.counter(&keys::member(room, reader)),
    }
}

/// Marks `reader`'s conversation read up to `seq` (see
/// [`Store::mark_read`](crate::store::Store::mark_read)).
pub(super) fn mark_read(
    txn: &mut Txn<'_>,
    reader: &User,
    conversation: Conversation,
    seq: u64,
) -> Result<Result<Vec<Notice>, ErrorCode>, StoreError> {
    let (conv, mark_key, old) = match &conversation {
        Conversation::User(peer) => {
            let key = keys::read_mark(reader.id, USER, peer.id.0);
            let old = txn.counter(&key)?;
            (Conv::direct(reader.id, peer.id), key, old)
        }
        Conversation::Room(room) => {
            if txn.raw(&keys::member(room.id, reader.id))?.is_none() {
                return Ok(Err(ErrorCode::NotRoomMember));
            }
            let key = keys::read_mark(reader.id, ROOM, room.id.0);
            (
                Conv::Room(room.id),
                key,
                room_read_mark(txn, reader.id, room.id)?,
            )
        }
    };
    let last = txn.counter(&keys::last_seq(conv))?;
    let seq = seq.min(last);
    if seq <= old && txn.raw(&mark_key)?.is_some() {
        return Ok(Ok(Vec::new()));
    }
    txn.put_u64(mark_key, seq);
    let mut notices = Vec::with_capacity(2);
    let (start, end) = (keys::msg(conv, seq + 1), keys::msg(conv, last + 1));
    let unread = if last - seq > MAX_COUNTED {
        last - seq
    } else {
        others(txn.scan(&start, &end)?, &reader.name)?
    };
    let peer = match conversation {
        Conversation::User(peer) => {
            if unread == 0 {
                txn.delete(keys::unread(reader.id, peer.id));
            }
            let settings: Settings = txn.record(&keys::settings(reader.id))?.unwrap_or_default();
            if settings.read_receipts {
                let read = Event::Read {
                    by: reader.name.clone(),
                    seq,
                };
                notices.push(txn.push_event(peer.id, read)?);
            }
            Peer::User(peer.name)
        }
        Conversation::Room(room) => Peer::Room(room.name),
    };
    let mine = Event::ReadUpTo { peer, seq, unread };
    notices.push(txn.push_event(reader.id, mine)?);
    Ok(Ok(notices))
}

/// A room message `sender` wrote at `seq`: they read it, so a read mark they
/// set just below it moves past it.
pub(super) fn read_own(
    txn: &mut Txn<'_>,
    sender: UserId,
    room: RoomId,
    seq: u64,
) -> Result<(), StoreError> {
    let key = keys::read_mark(sender, ROOM, room.0);
    if txn.raw(&key)?.is_some() && txn.counter(&key)? + 1 == seq {
        txn.put_u64(key, seq);
    }
    Ok(())
}

/// How many of `messages` (history entries) someone other than `me` sent.
fn others(messages: Vec<(Vec<u8>, Vec<u8>)>, me: &str) -> Result<u64, StoreError> {
    let mut count = 0;
    for (key, raw) in messages {
        count += u64::from(decode::<Message>(&key, &raw)?.from != me);
    }
    Ok(count)
}

/// Sets whether `user`'s read marks are passed on.
pub(super) fn set_read_receipts(
    txn: &mut Txn<'_>,
    user: UserId,
    on: bool,
) -> Result<(), StoreError> {
    let key = keys::settings(user);
    let mut settings: Settings = txn.record(&key)?.unwrap_or_default();
    settings.read_receipts = on;
    txn.put(key, &settings);
    Ok(())
}

/// `user`'s conversations and rooms with unread messages.
pub(super) fn unread<B: KvBackend>(
    b: &View<'_, B>,
    user: UserId,
) -> Result<Vec<Unread>, StoreError> {
    let me = b.user(user)?.map(|u| u.name).unwrap_or_default();
    let mut found = Vec::new();
    for (key, ()) in scan_decode::<B, ()>(b, keys::unread_of(user), false, usize::MAX)? {
        let sender = UserId(keys::last_u64(&key));
        let Some(peer) = b.user(sender)? else {
            continue;
        };
        let conv = Conv::direct(user, sender);
        let read_seq = b.counter(&keys::read_mark(user, USER, sender.0))?;
        let last_seq = b.counter(&keys::last_seq(conv))?;
        let unread = count_unread(b, conv, read_seq, last_seq, &me)?;
        if unread > 0 {
            found.push(Unread {
                peer: Peer::User(peer.name),
                unread,
                read_seq,
                last_seq,
            });
        }
    }
    for (key, ()) in scan_decode::<B, ()>(b, keys::memberships_of(user), false, usize::MAX)? {
        let id = RoomId(keys::last_u64(&key));
        let Some(room) = b.room(id)? else {
            continue;
        };
        let read_seq = room_read_mark(b, user, id)?;
        let last_seq = b.counter(&keys::last_seq(Conv::Room(id)))?;
        if last_seq <= read_seq {
            continue;
        }
        let unread = count_unread(b, Conv::Room(id), read_seq, last_seq, &me)?;
        if unread > 0 {
            found.push(Unread {
                peer: Peer::Room(room.name),
                unread,
                read_seq,
                last_seq,
            });
        }
    }
    Ok(found)
}

/// Messages of `conv` after `read_seq` (up to `last_seq`) that someone other
/// than `me` sent: counted among the first [`MAX_COUNTED`], every later one
/// counts.
fn count_unread<B: KvBackend>(
    b: &View<'_, B>,
    conv: Conv,
    read_seq: u64,
    last_seq: u64,
    me: &str,
) -> Result<u64, StoreError> {
    if last_seq <= read_seq {
        return Ok(0);
    }
    let (start, end) = (keys::msg(conv, read_seq + 1), keys::msg(conv, last_seq + 1));
    let looked = b.scan(&start, &end, false, MAX_COUNTED as usize)?;
    let past = (last_seq - read_seq).saturating_sub(looked.len() as u64);
    Ok(others(looked, me)? + past)
}
