//! Chat: conversations (a 1:1 conversation's messages and history, and the
//! append and history that rooms share).

use super::scan_decode;
use super::stream::stream_record;
use crate::friends::LinkState;
use crate::protocol::{Body, DeviceId, ErrorCode, Event, Message, Peer, Timestamp};
use crate::store::kv::keys::{self, Conv};
use crate::store::kv::records::{decode, ItemRecord, Reader};
use crate::store::kv::{KvBackend, Txn, View};
use crate::store::{
    Appended, DirectSent, NewMessage, Notice, Older, SendReceipt, StoreError, StreamItem, User,
    UserId,
};

impl Txn<'_> {
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
        let key = keys::idempotency(from, conv, client_msg_id);
        if !self.may_have_sent(&key) {
            return Ok(None);
        }
        let Some(receipt) = self.record::<SendReceipt>(&key)? else {
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
        self.note_sent(&idem_key);
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

/// Appends a 1:1 message to its conversation, the recipient's stream (with
/// the note that they have unread messages from the sender) and, if the sender has other devices than the one it
/// came from, the sender's stream; unless it is a retry, or a block (either
/// way) or a missing friendship refuses it: checked here, in the write's
/// transaction, so a block takes effect for the very next message whatever the
/// engine's caches hold.
pub(super) fn append_direct(
    txn: &mut Txn<'_>,
    msg: NewMessage,
) -> Result<Result<DirectSent, ErrorCode>, StoreError> {
    let conv = Conv::direct(msg.from.id, msg.to.id);
    if let Some(answer) = txn.earlier_send(conv, msg.from.id, msg.client_msg_id, &msg.body)? {
        return Ok(answer.map(|appended| {
            let receipt = match appended {
                Appended::Duplicate(receipt) => receipt,
                Appended::New(m) => SendReceipt {
                    id: m.id,
                    seq: m.seq,
                    ts: m.ts,
                },
            };
            DirectSent {
                receipt,
                notices: Vec::new(),
            }
        }));
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
    let (sender, recipient) = (msg.from.id, msg.to.id);
    let to = Peer::User(msg.to.name.clone());
    let message = txn.append_new(conv, &msg.from, to, msg.client_msg_id, msg.body, msg.ts)?;
    let receipt = SendReceipt {
        id: message.id,
        seq: message.seq,
        ts: message.ts,
    };
    // Noted once, not counted per message: counts are made when asked.
    let unread = keys::unread(recipient, sender);
    if txn.raw(&unread)?.is_none() {
        txn.put(unread, &());
    }
    // The streams point into the history rather than hold a copy.
    let pos = txn.push_item(
        recipient,
        &ItemRecord::Message {
            sender,
            seq: message.seq,
            id: message.id,
        },
    )?;
    let echo = if has_other_devices(txn, sender, msg.device)? {
        let record = ItemRecord::Sent {
            to: recipient,
            seq: message.seq,
            device: msg.device,
        };
        Some(txn.push_item(sender, &record)?)
    } else {
        None
    };
    let item = |pos, event, from_device| StreamItem {
        pos,
        event,
        older: Older::Same,
        from_device,
    };
    let mut notices = Vec::with_capacity(1 + usize::from(echo.is_some()));
    if let Some(echo) = echo {
        let event = Event::Message(message.clone());
        notices.push(Notice {
            recipient: sender,
            item: item(echo, event, msg.device),
        });
    }
    notices.push(Notice {
        recipient,
        item: item(pos, Event::Message(message), None),
    });
    Ok(Ok(DirectSent { receipt, notices }))
}

/// Whether `user` has a device other than `device` (one of theirs, if any).
fn has_other_devices(
    txn: &Txn<'_>,
    user: UserId,
    device: Option<DeviceId>,
) -> Result<bool, StoreError> {
    let devices = stream_record(txn, user)?.devices;
    Ok(devices > u64::from(device.is_some()))
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
