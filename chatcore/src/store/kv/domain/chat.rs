//! Chat: conversations (a 1:1 conversation's messages and history, and the
//! append and history that rooms share), the inbox, and acks.

use std::collections::HashMap;

use super::scan_decode;
use crate::friends::LinkState;
use crate::protocol::{Body, ErrorCode, Event, ItemId, Message, Peer, Timestamp};
use crate::store::kv::keys::{self, Conv};
use crate::store::kv::records::{decode, decode_u64, InboxRecord, Reader};
use crate::store::kv::{KvBackend, Txn, View};
use crate::store::{Appended, NewMessage, Notice, RoomId, SendReceipt, StoreError, User, UserId};

/// What an acked id names.
enum Acked {
    /// An inbox item: its key and record.
    Inbox(Vec<u8>, InboxRecord),
    /// A room message: its room and seq.
    RoomMessage(RoomId, u64),
}

impl Txn<'_> {
    /// Puts an event into an inbox, giving it a fresh id.
    pub(super) fn push_inbox(
        &mut self,
        recipient: UserId,
        make: impl FnOnce(ItemId) -> Event,
    ) -> Result<Notice, StoreError> {
        let id = self.next_id()?;
        self.put_inbox(recipient, id, make(id), true)
    }

    /// Puts an event into an inbox. `new_id`: this job allocated `id` (so the
    /// entry is new, and an ack before the next checkpoint leaves no trace in the
    /// backend).
    pub(super) fn put_inbox(
        &mut self,
        recipient: UserId,
        id: ItemId,
        event: Event,
        new_id: bool,
    ) -> Result<Notice, StoreError> {
        let key = keys::inbox(recipient, id);
        let record = InboxRecord::Event(event);
        if new_id {
            self.put_created(key, &record);
        } else {
            self.put(key, &record);
        }
        let InboxRecord::Event(event) = record else {
            unreachable!("built above")
        };
        Ok(Notice { recipient, event })
    }

    /// What `user` acks with `id`: an item of their inbox or a room message
    /// (their ids never coincide), looked up first as a room message if
    /// `room_first`. The ids of one ack are mostly of one kind (a busy room's
    /// messages, or inbox items), so the caller passes what the id before was: a
    /// lookup that misses goes down to the backend.
    fn acked(
        &self,
        user: UserId,
        id: ItemId,
        room_first: bool,
    ) -> Result<Option<Acked>, StoreError> {
        let inbox = || {
            let key = keys::inbox(user, id);
            let record = self.record::<InboxRecord>(&key)?;
            Ok::<_, StoreError>(record.map(|record| Acked::Inbox(key, record)))
        };
        let room = || {
            let found = self.record::<(RoomId, u64)>(&keys::room_msg_index(id))?;
            Ok::<_, StoreError>(found.map(|(room, seq)| Acked::RoomMessage(room, seq)))
        };
        if room_first {
            room()?.map_or_else(inbox, |found| Ok(Some(found)))
        } else {
            inbox()?.map_or_else(room, |found| Ok(Some(found)))
        }
    }

    /// The answer to a send that `from` made before with `client_msg_id` in
    /// `conv`, if any: its receipt when the body is the same (a retry), a refusal
    /// when it is not (the id was reused for another message).
    pub(super) fn earlier_send(
        &self,
        conv: Conv,
        from: UserId,
        client_msg_id: u64,
        body: &Body,
    ) -> Result<Option<Result<Appended, ErrorCode>>, StoreError> {
        let Some(receipt) =
            self.record::<SendReceipt>(&keys::idempotency(from, conv, client_msg_id))?
        else {
            return Ok(None);
        };
        let stored = self.record::<Message>(&keys::msg(conv, receipt.seq))?;
        Ok(Some(match stored {
            Some(message) if message.body != *body => Err(ErrorCode::ClientMsgIdReused),
            _ => Ok(Appended::Duplicate(receipt)),
        }))
    }

    /// Appends a new message to a conversation (id and seq assigned), with its
    /// idempotency record and that record's expiry entry. The caller checked
    /// [`earlier_send`](Self::earlier_send) first.
    pub(super) fn append_new(
        &mut self,
        conv: Conv,
        from: &User,
        to: Peer,
        client_msg_id: u64,
        body: Body,
        ts: Timestamp,
    ) -> Result<Message, StoreError> {
        let seq_key = keys::last_seq(conv);
        let seq = self.counter(&seq_key)? + 1;
        self.put_u64(seq_key, seq);
        let id = self.next_id()?;
        let message = Message {
            id,
            seq,
            from: from.name.clone(),
            to,
            body,
            ts,
        };
        self.put_created(keys::msg(conv, seq), &message);
        let idem_key = keys::idempotency(from.id, conv, client_msg_id);
        self.put_created(idem_key, &SendReceipt { id, seq, ts });
        Ok(message)
    }
}

/// A page of a conversation's history, newest first.
pub(super) fn history_page<B: KvBackend>(
    backend: &View<'_, B>,
    conv: Conv,
    before_seq: Option<u64>,
    limit: usize,
) -> Result<Vec<Message>, StoreError> {
    let range = (
        keys::msg(conv, 0),
        keys::msg(conv, before_seq.unwrap_or(u64::MAX)),
    );
    Ok(scan_decode::<B, Message>(backend, range, true, limit)?
        .into_iter()
        .map(|(_, m)| m)
        .collect())
}

/// Appends a 1:1 message to its conversation and the recipient's inbox, unless
/// it is a retry, or a block (either way) or a missing friendship refuses it:
/// checked here, in the write's transaction, so a block takes effect for the
/// very next message whatever the engine's caches hold.
pub(super) fn append_direct(
    txn: &mut Txn<'_>,
    msg: NewMessage,
) -> Result<Result<Appended, ErrorCode>, StoreError> {
    let conv = Conv::direct(msg.from.id, msg.to.id);
    if let Some(answer) = txn.earlier_send(conv, msg.from.id, msg.client_msg_id, &msg.body)? {
        return Ok(answer);
    }
    // Friends never block each other (a block ends the friendship on both
    // sides, and blocked users cannot befriend; `proptest_friends` checks it):
    // only a send between non-friends reads the other side's link.
    let mine = txn.link(msg.from.id, msg.to.id)?;
    if mine.state != LinkState::Friends {
        if mine.blocked || txn.link(msg.to.id, msg.from.id)?.blocked {
            return Ok(Err(ErrorCode::Blocked));
        }
        if msg.friends_only {
            return Ok(Err(ErrorCode::NotFriends));
        }
    }
    let to = Peer::User(msg.to.name.clone());
    let message = txn.append_new(conv, &msg.from, to, msg.client_msg_id, msg.body, msg.ts)?;
    // The inbox points into the history rather than holding a copy.
    let record = InboxRecord::Message {
        sender: msg.from.id,
        seq: message.seq,
    };
    txn.put_created(keys::inbox(msg.to.id, message.id), &record);
    Ok(Ok(Appended::New(message)))
}

type Key = Vec<u8>;

/// The idempotency records to delete among up to `max` after `resume`: those
/// of sends made before `before`, and any left from before records were
/// scoped per conversation (those go first). Returns them, and where the
/// next look goes on (`None`: past the last record).
pub(super) fn send_records_to_expire<B: KvBackend>(
    b: &View<'_, B>,
    before: Timestamp,
    resume: Option<Vec<u8>>,
    max: usize,
) -> Result<(Vec<Key>, Option<Key>), StoreError> {
    let (start, end) = keys::LEGACY_IDEMPOTENCY;
    let legacy: Vec<Key> = b
        .scan(start, end, false, max)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    if !legacy.is_empty() {
        let (first, _) = keys::IDEMPOTENCY;
        return Ok((legacy, Some(resume.unwrap_or_else(|| first.to_vec()))));
    }
    let (first, end) = keys::IDEMPOTENCY;
    // Just past the key the last look ended at.
    let start = resume.map_or_else(
        || first.to_vec(),
        |mut key| {
            key.push(0);
            key
        },
    );
    let looked = b.scan(&start, end, false, max)?;
    let next = (looked.len() == max).then(|| looked[max - 1].0.clone());
    let mut doomed = Vec::new();
    for (key, raw) in looked {
        if decode::<SendReceipt>(&key, &raw)?.ts < before {
            doomed.push(key);
        }
    }
    Ok((doomed, next))
}

/// Up to `limit` items of `user`'s inbox after the item `after`, in id order.
pub(super) fn inbox<B: KvBackend>(
    b: &View<'_, B>,
    user: UserId,
    after: Option<ItemId>,
    limit: usize,
) -> Result<Vec<Event>, StoreError> {
    let start = keys::inbox(user, after.map_or(0, |a| a.saturating_add(1)));
    let (_, end) = keys::inbox_of(user);
    scan_decode::<B, InboxRecord>(b, (start, end), false, limit)?
        .into_iter()
        .map(|(key, record)| match record {
            InboxRecord::Event(event) | InboxRecord::FromUser(_, event) => Ok(event),
            InboxRecord::Message { sender, seq } => {
                let at = keys::msg(Conv::direct(sender, user), seq);
                match b.record::<Message>(&at)? {
                    Some(message) => Ok(Event::Message(message)),
                    None => Err(StoreError::Corrupt {
                        key: format!("{key:?}"),
                        reason: "inbox item points to a missing message".into(),
                    }),
                }
            }
        })
        .collect()
}

/// `user` acks `ids`: inbox items leave the inbox (a message's sender gets one
/// `Delivered` receipt for all of theirs), room messages move the read position.
pub(super) fn ack(
    txn: &mut Txn<'_>,
    user: UserId,
    ids: Vec<ItemId>,
) -> Result<Vec<Notice>, StoreError> {
    let mut receipts: HashMap<UserId, Vec<ItemId>> = HashMap::new();
    // First-seen order, for stable output.
    let mut senders = Vec::new();
    // The highest room message acked per room: a batch moves each read
    // position once, however many of the room's messages it acks.
    let mut read_to: Vec<(RoomId, u64)> = Vec::new();
    let mut room_first = false;
    for id in ids {
        match txn.acked(user, id, room_first)? {
            Some(Acked::Inbox(key, record)) => {
                room_first = false;
                txn.delete(key);
                if let Some(sender) = record.receipt_to() {
                    let list = receipts.entry(sender).or_default();
                    if list.is_empty() {
                        senders.push(sender);
                    }
                    list.push(id);
                }
            }
            // A room message moves the member's read position instead.
            Some(Acked::RoomMessage(room, seq)) => {
                room_first = true;
                match read_to.iter_mut().find(|(r, _)| *r == room) {
                    Some((_, highest)) => *highest = (*highest).max(seq),
                    None => read_to.push((room, seq)),
                }
            }
            None => {}
        }
    }
    for (room, seq) in read_to {
        let member = keys::member(room, user);
        // Only a member has a read position (one who left acks in vain).
        if let Some(raw) = txn.raw(&member)? {
            if decode_u64(&member, &raw)? < seq {
                txn.put_u64(member, seq);
            }
        }
    }
    let mut notices = Vec::with_capacity(senders.len());
    for sender in senders {
        let ids = receipts.remove(&sender).unwrap_or_default();
        notices.push(txn.push_inbox(sender, |id| Event::Delivered { id, ids })?);
    }
    Ok(notices)
}
