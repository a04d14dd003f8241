//! A user's stream: what they must not miss, at increasing positions, with a
//! position per device (cumulative acks), the delivered marks the acks move
//! (state, not stream items), and letting go of what every active device is
//! past.

use super::scan_decode;
use crate::protocol::{Event, Message};
use crate::store::kv::keys::{self, Conv};
use crate::store::kv::records::{
    decode, CursorRecord, DeliveredMark, DeviceRecord, ItemRecord, Reader, StreamRecord,
};
use crate::store::kv::{KvBackend, Txn, View};
use crate::store::{Acks, Notice, Older, Receipt, RoomId, StoreError, StreamItem, UserId};

/// Most items one ack lets go: a device that comes back after long lets a
/// long stream go over several acks, never in one long write.
const MAX_RECLAIM: u64 = 10_000;

impl Txn<'_> {
    /// Appends `record` to `user`'s stream; returns its position.
    pub(super) fn push_item(
        &mut self,
        user: UserId,
        record: &ItemRecord,
    ) -> Result<u64, StoreError> {
        let key = keys::stream(user);
        let mut stream: StreamRecord = self.record(&key)?.unwrap_or_default();
        stream.head += 1;
        self.put(key, &stream);
        self.put_created(keys::stream_item(user, stream.head), record);
        Ok(stream.head)
    }

    /// Appends an event stored whole to `user`'s stream.
    pub(super) fn push_event(&mut self, user: UserId, event: Event) -> Result<Notice, StoreError> {
        let record = ItemRecord::Event(event);
        let pos = self.push_item(user, &record)?;
        let ItemRecord::Event(event) = record else {
            unreachable!("built above")
        };
        Ok(Notice {
            recipient: user,
            item: whole(pos, event),
        })
    }
}

/// An item stored as its event: older sessions get it too if their version
/// knows it.
fn whole(pos: u64, event: Event) -> StreamItem {
    let older = if event.since_version() >= 5 {
        Older::Hidden
    } else {
        Older::Same
    };
    StreamItem {
        pos,
        event,
        older,
        from_device: None,
    }
}

/// The item `record` of `owner`'s stream at `pos`, as sessions get it.
pub(super) fn render(
    r: &impl Reader,
    owner: UserId,
    pos: u64,
    record: ItemRecord,
) -> Result<StreamItem, StoreError> {
    let message = |other: UserId, seq: u64| {
        let key = keys::msg(Conv::direct(owner, other), seq);
        r.record::<Message>(&key)?
            .map(Event::Message)
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("{:?}", keys::stream_item(owner, pos)),
                reason: "stream item points to a missing message".into(),
            })
    };
    Ok(match record {
        ItemRecord::Event(event) => whole(pos, event),
        ItemRecord::Message { sender, seq, .. } => StreamItem {
            pos,
            event: message(sender, seq)?,
            older: Older::Same,
            from_device: None,
        },
        ItemRecord::Sent { to, seq, device } => StreamItem {
            pos,
            event: message(to, seq)?,
            older: Older::Same,
            from_device: device,
        },
    })
}

/// Up to `limit` items of `user`'s stream past `after`.
pub(super) fn stream<B: KvBackend>(
    b: &View<'_, B>,
    user: UserId,
    after: u64,
    limit: usize,
) -> Result<Vec<StreamItem>, StoreError> {
    let start = keys::stream_item(user, after.saturating_add(1));
    let end = keys::stream_item(user, u64::MAX);
    scan_decode::<B, ItemRecord>(b, (start, end), false, limit)?
        .into_iter()
        .map(|(key, record)| render(b, user, keys::last_u64(&key), record))
        .collect()
}

/// Carries out a device's acks (see [`Store::ack`](crate::store::Store::ack)).
pub(super) fn ack(txn: &mut Txn<'_>, user: UserId, acks: Acks) -> Result<Vec<Receipt>, StoreError> {
    room_acks(txn, user, &acks.room_messages)?;
    let mut receipts = Vec::new();
    let Some(up_to) = acks.up_to else {
        return Ok(receipts);
    };
    // Every device has a position from its first login until it is revoked:
    // a revoked device acks in vain.
    let cursor_key = keys::cursor(user, acks.device);
    let Some(mut cursor) = txn.record::<CursorRecord>(&cursor_key)? else {
        return Ok(receipts);
    };
    let stream: StreamRecord = txn.record(&keys::stream(user))?.unwrap_or_default();
    let up_to = up_to.min(stream.head);
    if up_to > cursor.pos {
        receipts = delivered(txn, user, cursor.pos.max(stream.floor), up_to, acks.now)?;
        cursor.pos = up_to;
    }
    cursor.at = acks.now;
    txn.put(cursor_key, &cursor);
    reclaim(txn, user, stream, &cursor, acks.active_since)?;
    Ok(receipts)
}

/// The receipts for `user`'s stream items in `(from, to]` that a device just
/// acked at `now`: per sender, the newest seq passed moves the conversation's
/// delivered mark, and a mark that moved makes one receipt.
fn delivered(
    txn: &mut Txn<'_>,
    user: UserId,
    from: u64,
    to: u64,
    now: u64,
) -> Result<Vec<Receipt>, StoreError> {
    // (sender, [(seq, id)]) in first-seen order: an ack covers few senders.
    let mut passed: Vec<(UserId, Vec<(u64, u64)>)> = Vec::new();
    // Positions are contiguous: point reads, which the log's memory answers
    // for a device that keeps up, where a scan would also ask the backend.
    for pos in from + 1..=to {
        let key = keys::stream_item(user, pos);
        let Some(raw) = txn.raw(&key)? else {
            continue;
        };
        if let ItemRecord::Message { sender, seq, id } = decode(&key, &raw)? {
            match passed.iter_mut().find(|(s, _)| *s == sender) {
                Some((_, messages)) => messages.push((seq, id)),
                None => passed.push((sender, vec![(seq, id)])),
            }
        }
    }
    let mut receipts = Vec::with_capacity(passed.len());
    let mut me = None;
    for (sender, messages) in passed {
        let mark_key = keys::delivered_mark(sender, user);
        let mark: DeliveredMark = txn.record(&mark_key)?.unwrap_or_default();
        let newest = messages.iter().map(|&(seq, _)| seq).max().unwrap_or(0);
        if newest <= mark.seq {
            continue; // another device of this user passed them first
        }
        txn.put(
            mark_key,
            &DeliveredMark {
                seq: newest,
                at: now,
            },
        );
        let recipient = match &me {
            Some(name) => String::clone(name),
            None => {
                let name = txn.user(user)?.map(|u| u.name).unwrap_or_default();
                me.insert(name).clone()
            }
        };
        let ids = messages
            .iter()
            .filter(|&&(seq, _)| seq > mark.seq)
            .map(|&(_, id)| id)
            .collect();
        receipts.push(Receipt {
            sender,
            recipient,
            seq: newest,
            ids,
        });
    }
    Ok(receipts)
}

/// The delivered marks of `sender`'s conversations that moved at or after
/// `since`.
pub(super) fn delivered_since<B: KvBackend>(
    b: &View<'_, B>,
    sender: UserId,
    since: u64,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut found = Vec::new();
    for (key, mark) in
        scan_decode::<B, DeliveredMark>(b, keys::delivered_marks_of(sender), false, usize::MAX)?
    {
        if mark.at < since {
            continue;
        }
        if let Some(recipient) = b.user(UserId(keys::last_u64(&key)))? {
            found.push((recipient.name, mark.seq));
        }
    }
    Ok(found)
}

/// Lets go of the items of `user`'s stream (`stream`) that every active device
/// (seen since `active_since`, and the one that just acked to `acked`) is
/// past, at most [`MAX_RECLAIM`] of them.
fn reclaim(
    txn: &mut Txn<'_>,
    user: UserId,
    mut stream: StreamRecord,
    acked: &CursorRecord,
    active_since: u64,
) -> Result<(), StoreError> {
    // The acking device is active; a user's only device needs no list.
    let lowest = if stream.devices <= 1 {
        acked.pos
    } else {
        let (start, end) = keys::devices_of(user);
        let mut lowest = acked.pos;
        for (key, raw) in txn.scan(&start, &end)? {
            let device: DeviceRecord = decode(&key, &raw)?;
            let cursor: CursorRecord = txn
                .record(&keys::cursor(user, keys::last_u64(&key)))?
                .unwrap_or_default();
            if device.last_seen.max(cursor.at) >= active_since {
                lowest = lowest.min(cursor.pos);
            }
        }
        lowest
    };
    let upto = lowest.min(stream.floor.saturating_add(MAX_RECLAIM));
    if upto <= stream.floor {
        return Ok(());
    }
    for pos in stream.floor + 1..=upto {
        txn.delete(keys::stream_item(user, pos));
    }
    stream.floor = upto;
    txn.put(keys::stream(user), &stream);
    Ok(())
}

/// Room messages acked by id move the user's delivered position in each
/// room, once per room however many of its messages the ack names; a user
/// who left acks in vain.
fn room_acks(txn: &mut Txn<'_>, user: UserId, ids: &[u64]) -> Result<(), StoreError> {
    let mut read_to: Vec<(RoomId, u64)> = Vec::new();
    for &id in ids {
        if let Some((room, seq)) = txn.record::<(RoomId, u64)>(&keys::room_msg_index(id))? {
            match read_to.iter_mut().find(|(r, _)| *r == room) {
                Some((_, highest)) => *highest = (*highest).max(seq),
                None => read_to.push((room, seq)),
            }
        }
    }
    for (room, seq) in read_to {
        let member = keys::member(room, user);
        if let Some(raw) = txn.raw(&member)? {
            if crate::store::kv::records::decode_u64(&member, &raw)? < seq {
                txn.put_u64(member, seq);
            }
        }
    }
    Ok(())
}

/// The stream's newest position and the highest one let go.
pub(super) fn stream_record(r: &impl Reader, user: UserId) -> Result<StreamRecord, StoreError> {
    Ok(r.record(&keys::stream(user))?.unwrap_or_default())
}
