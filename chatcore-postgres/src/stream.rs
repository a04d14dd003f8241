//! A user's stream: what they must not miss, at increasing positions, with a
//! position per device (cumulative acks), the delivered marks the acks move,
//! and letting go of what every active device is past.

use chatcore::protocol::{DeviceId, Event, Message};
use chatcore::store::{Acks, Notice, Older, Receipt, StreamItem, UserId};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::txn::{bound, decode, encode, execute, i, limit, query, query_one, query_opt, u, Fail};

/// Most items one ack lets go (as the kv store): a device back after long
/// lets a long stream go over several acks, never in one long write.
const MAX_RECLAIM: i64 = 10_000;

/// What a stream item holds, as stored.
pub(crate) enum Item {
    /// An event stored whole.
    Event(Event),
    /// A message from `sender` (seq in their conversation, id).
    Message { sender: u64, seq: u64, id: u64 },
    /// A message the user sent to `to` from `device`.
    Sent {
        to: u64,
        seq: u64,
        id: u64,
        device: Option<DeviceId>,
    },
}

/// Locks the stream heads of `users` in id order (the order every
/// transaction that writes to two streams takes them in).
pub(crate) async fn lock_users<C: GenericClient>(c: &C, users: &[u64]) -> Result<(), Fail> {
    let ids: Vec<i64> = users.iter().map(|&id| i(id)).collect();
    query(
        c,
        "SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        &[&ids],
    )
    .await?;
    Ok(())
}

/// Appends `item` to `user`'s stream; returns its position.
pub(crate) async fn push_item<C: GenericClient>(
    c: &C,
    user: u64,
    item: &Item,
) -> Result<u64, Fail> {
    let (kind, other, seq, msg_id, device, event): (i16, _, _, _, _, _) = match item {
        Item::Event(event) => (0, None, None, None, None, Some(encode(event))),
        Item::Message { sender, seq, id } => {
            (1, Some(i(*sender)), Some(i(*seq)), Some(i(*id)), None, None)
        }
        Item::Sent {
            to,
            seq,
            id,
            device,
        } => (
            2,
            Some(i(*to)),
            Some(i(*seq)),
            Some(i(*id)),
            device.map(i),
            None,
        ),
    };
    // One statement: the head moves (under the user's row lock) and the
    // item goes in at it.
    let pos: i64 = query_one(
        c,
        "WITH head AS (
             UPDATE users SET stream_head = stream_head + 1 WHERE id = $1 RETURNING stream_head)
         INSERT INTO stream_items (user_id, pos, kind, other, seq, msg_id, device, event)
         SELECT $1, stream_head, $2::smallint, $3::bigint, $4::bigint, $5::bigint, $6::bigint,
                $7::bytea
         FROM head
         RETURNING pos",
        &[&i(user), &kind, &other, &seq, &msg_id, &device, &event],
    )
    .await?
    .get(0);
    Ok(u(pos))
}

/// Appends an event stored whole to `user`'s stream.
pub(crate) async fn push_event<C: GenericClient>(
    c: &C,
    user: u64,
    event: Event,
) -> Result<Notice, Fail> {
    let item = Item::Event(event);
    let pos = push_item(c, user, &item).await?;
    let Item::Event(event) = item else {
        unreachable!("built above")
    };
    Ok(Notice {
        recipient: UserId(user),
        item: whole(pos, event),
    })
}

/// An item stored as its event: older sessions get it too if their version
/// knows it.
pub(crate) fn whole(pos: u64, event: Event) -> StreamItem {
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

/// The columns [`render`] reads, for `stream_items s` joined with the
/// message it points at as `m`.
const ITEM_COLUMNS: &str = "s.pos, s.kind, s.device, s.event, m.message";

/// The join of a stream item with the message it points at.
const ITEM_JOIN: &str = "stream_items s LEFT JOIN messages m
     ON s.kind > 0 AND m.a = least(s.user_id, s.other) AND m.b = greatest(s.user_id, s.other)
     AND m.seq = s.seq";

/// A row of [`ITEM_COLUMNS`] as sessions get it.
fn render(row: &Row) -> Result<StreamItem, Fail> {
    let pos = u(row.get(0));
    let kind: i16 = row.get(1);
    if kind == 0 {
        let bytes: Vec<u8> = row.get(3);
        return Ok(whole(pos, decode("stream item event", &bytes)?));
    }
    let Some(bytes) = row.get::<_, Option<Vec<u8>>>(4) else {
        return Err(crate::txn::corrupt(
            &format!("stream item {pos}"),
            "points to a missing message",
        ));
    };
    let message: Message = decode("message", &bytes)?;
    Ok(StreamItem {
        pos,
        event: Event::Message(message),
        older: Older::Same,
        from_device: if kind == 2 {
            row.get::<_, Option<i64>>(2).map(u)
        } else {
            None
        },
    })
}

/// Up to `max` items of `user`'s stream past `after`.
pub(crate) async fn stream<C: GenericClient>(
    c: &C,
    user: UserId,
    after: u64,
    max: usize,
) -> Result<Vec<StreamItem>, Fail> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM {ITEM_JOIN}
         WHERE s.user_id = $1 AND s.pos > $2 ORDER BY s.pos LIMIT $3"
    );
    query(c, &sql, &[&i(user.0), &bound(after), &limit(max)])
        .await?
        .iter()
        .map(render)
        .collect()
}

/// Carries out a device's acks (see `Store::ack`).
pub(crate) async fn ack<C: GenericClient>(
    c: &C,
    user: UserId,
    acks: &Acks,
) -> Result<Vec<Receipt>, Fail> {
    room_acks(c, user, &acks.room_messages).await?;
    let Some(up_to) = acks.up_to else {
        return Ok(Vec::new());
    };
    // The user's row, then the device's (the order device logins take
    // them in): one ack of the user's at a time. A revoked device acks in
    // vain.
    let Some(row) = query_opt(
        c,
        "SELECT u.stream_head, u.stream_floor, u.name, d.pos
         FROM users u JOIN devices d ON d.user_id = u.id
         WHERE u.id = $1 AND d.id = $2
         FOR UPDATE OF u, d",
        &[&i(user.0), &i(acks.device)],
    )
    .await?
    else {
        return Ok(Vec::new());
    };
    let (head, floor, name, mut pos): (i64, i64, String, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let up_to = bound(up_to).min(head);
    let mut receipts = Vec::new();
    if up_to > pos {
        receipts = delivered(c, user, &name, pos.max(floor), up_to, acks.now).await?;
        pos = up_to;
    }
    // The device's position, and letting go of what every active device
    // (seen since `active_since`, and this one) is past, at most
    // MAX_RECLAIM items: one statement.
    execute(
        c,
        "WITH cursor AS (
             UPDATE devices SET pos = $5, pos_at = $6 WHERE user_id = $1 AND id = $4),
         target AS (
             SELECT least(coalesce(min(pos), $5::bigint), $5::bigint, $2::bigint + $7::bigint) AS upto FROM devices
             WHERE user_id = $1 AND id <> $4 AND greatest(last_seen, pos_at) >= $3),
         gone AS (
             DELETE FROM stream_items
             WHERE user_id = $1 AND pos > $2 AND pos <= (SELECT upto FROM target))
         UPDATE users SET stream_floor = target.upto FROM target
         WHERE id = $1 AND target.upto > $2",
        &[
            &i(user.0),
            &floor,
            &bound(acks.active_since),
            &i(acks.device),
            &pos,
            &i(acks.now),
            &MAX_RECLAIM,
        ],
    )
    .await?;
    Ok(receipts)
}

/// The receipts for `user`'s stream items in `(from, to]` that a device just
/// acked at `now`: per sender, the newest seq passed moves the
/// conversation's delivered mark, and a mark that moved makes one receipt.
async fn delivered<C: GenericClient>(
    c: &C,
    user: UserId,
    name: &str,
    from: i64,
    to: i64,
    now: u64,
) -> Result<Vec<Receipt>, Fail> {
    let rows = query(
        c,
        "SELECT other, seq, msg_id FROM stream_items
         WHERE user_id = $1 AND pos > $2 AND pos <= $3 AND kind = 1 ORDER BY pos",
        &[&i(user.0), &from, &to],
    )
    .await?;
    // (sender, [(seq, id)]) in first-seen order: an ack covers few senders.
    let mut passed: Vec<(u64, Vec<(u64, u64)>)> = Vec::new();
    for row in rows {
        let (sender, seq, id) = (u(row.get(0)), u(row.get(1)), u(row.get(2)));
        match passed.iter_mut().find(|(s, _)| *s == sender) {
            Some((_, messages)) => messages.push((seq, id)),
            None => passed.push((sender, vec![(seq, id)])),
        }
    }
    let mut receipts = Vec::with_capacity(passed.len());
    for (sender, messages) in passed {
        let newest = messages.iter().map(|&(seq, _)| seq).max().unwrap_or(0);
        // The mark moves only forward; `old` is the mark as it was.
        let row = query_one(
            c,
            "WITH old AS (
                 SELECT seq FROM delivered_marks WHERE sender = $1 AND recipient = $2 FOR UPDATE),
             moved AS (
                 INSERT INTO delivered_marks (sender, recipient, seq, at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (sender, recipient) DO UPDATE SET seq = $3, at = $4
                 WHERE delivered_marks.seq < $3
                 RETURNING 1)
             SELECT coalesce((SELECT seq FROM old), 0), EXISTS (SELECT 1 FROM moved)",
            &[&i(sender), &i(user.0), &i(newest), &i(now)],
        )
        .await?;
        let (old, moved): (i64, bool) = (row.get(0), row.get(1));
        if !moved {
            continue; // another device of this user passed them first
        }
        let old = u(old);
        let recipient = name.to_owned();
        let ids = messages
            .iter()
            .filter(|&&(seq, _)| seq > old)
            .map(|&(_, id)| id)
            .collect();
        receipts.push(Receipt {
            sender: UserId(sender),
            recipient,
            seq: newest,
            ids,
        });
    }
    Ok(receipts)
}

/// Room messages acked by id move the user's delivered position in each of
/// their rooms; unknown ids and rooms the user left are ignored.
async fn room_acks<C: GenericClient>(c: &C, user: UserId, ids: &[u64]) -> Result<(), Fail> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = ids.iter().map(|&id| i(id)).collect();
    execute(
        c,
        "UPDATE members SET delivered = acked.seq
         FROM (SELECT a AS room_id, max(seq) AS seq FROM messages
               WHERE id = ANY($2) AND b = 0 GROUP BY a) AS acked
         WHERE members.room_id = acked.room_id AND members.user_id = $1
           AND members.delivered < acked.seq",
        &[&i(user.0), &ids],
    )
    .await?;
    Ok(())
}

/// The delivered marks of `sender`'s conversations that moved at or after
/// `since`: (recipient's name, seq), in recipient id order.
pub(crate) async fn delivered_since<C: GenericClient>(
    c: &C,
    sender: UserId,
    since: u64,
) -> Result<Vec<(String, u64)>, Fail> {
    let rows = query(
        c,
        "SELECT u.name, d.seq FROM delivered_marks d JOIN users u ON u.id = d.recipient
         WHERE d.sender = $1 AND d.at >= $2 ORDER BY d.recipient",
        &[&i(sender.0), &bound(since)],
    )
    .await?;
    Ok(rows.iter().map(|row| (row.get(0), u(row.get(1)))).collect())
}
