//! Chat: conversations (a 1:1 conversation's messages and history, and the
//! append, idempotency records and history that rooms share).

use chatcore::friends::{Link, LinkState};
use chatcore::protocol::{Body, ErrorCode, Event, Message, Peer, Timestamp};
use chatcore::store::{
    Appended, DirectSent, NewMessage, Notice, Older, SendReceipt, StreamItem, SweepCursor, User,
    UserId,
};
use deadpool_postgres::GenericClient;

use crate::stream::{lock_users, push_item, Item};
use crate::txn::{
    bound, decode, direct, encode, execute, i, limit, next_id, query, query_one, query_opt, u, Fail,
};

/// A conversation's key: see the schema.
pub(crate) type Conv = (i64, i64);

/// What a send finds under its conversation's lock: the newest seq, and
/// the answer to a send `from` made before with the same `client_msg_id`.
pub(crate) struct Locked {
    /// The conversation's newest seq.
    pub(crate) last: u64,
    /// The earlier send's answer, if there was one (see [`earlier_send`]).
    pub(crate) earlier: Option<Result<Appended, ErrorCode>>,
}

/// Locks conversation `conv` (every send to it queues here, in this process
/// or another), then looks for an earlier send of `client_msg_id` by
/// `from`; `None` if the conversation has no row (no message yet, or a
/// deleted room).
///
/// Two statements, not one with a join: under READ COMMITTED a statement
/// that waited for a row lock sees the locked row as it is now but every
/// other table as it was when the statement began, so a join would miss the
/// idempotency record the transaction it waited for just wrote. The second
/// statement reads after the lock is held.
pub(crate) async fn lock_and_look<C: GenericClient>(
    c: &C,
    conv: Conv,
    from: UserId,
    client_msg_id: u64,
    body: &Body,
) -> Result<Option<Locked>, Fail> {
    let Some(row) = query_opt(
        c,
        "SELECT last_seq FROM conversations WHERE a = $1 AND b = $2 FOR UPDATE",
        &[&conv.0, &conv.1],
    )
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(Locked {
        last: u(row.get(0)),
        earlier: earlier_send(c, conv, from, client_msg_id, body).await?,
    }))
}

/// [`lock_and_look`], making the conversation's row at its first message.
async fn lock_direct<C: GenericClient>(c: &C, msg: &NewMessage) -> Result<Locked, Fail> {
    let conv = direct(msg.from.id.0, msg.to.id.0);
    let look = || lock_and_look(c, conv, msg.from.id, msg.client_msg_id, &msg.body);
    if let Some(locked) = look().await? {
        return Ok(locked);
    }
    // Whoever inserts first makes the row, the other finds it.
    execute(
        c,
        "INSERT INTO conversations (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&conv.0, &conv.1],
    )
    .await?;
    look()
        .await?
        .ok_or_else(|| crate::txn::corrupt("conversation", "its row vanished under its lock"))
}

/// The answer to an earlier send from a row of `r.id, r.seq, r.ts,
/// m.message` (all null if there was none): its receipt when the body is
/// the same (a retry), a refusal when it is not.
fn answer(
    row: &tokio_postgres::Row,
    body: &Body,
) -> Result<Option<Result<Appended, ErrorCode>>, Fail> {
    let Some(id) = row.get::<_, Option<i64>>(0) else {
        return Ok(None);
    };
    let receipt = SendReceipt {
        id: u(id),
        seq: u(row.get(1)),
        ts: u(row.get(2)),
    };
    let stored: Option<Message> = match row.get::<_, Option<&[u8]>>(3) {
        Some(bytes) => Some(decode("message", bytes)?),
        None => None,
    };
    Ok(Some(match stored {
        Some(message) if message.body != *body => Err(ErrorCode::ClientMsgIdReused),
        _ => Ok(Appended::Duplicate(receipt)),
    }))
}

/// The newest seq of `conv` (0 if it has none).
pub(crate) async fn last_seq<C: GenericClient>(c: &C, conv: Conv) -> Result<u64, Fail> {
    Ok(query_opt(
        c,
        "SELECT last_seq FROM conversations WHERE a = $1 AND b = $2",
        &[&conv.0, &conv.1],
    )
    .await?
    .map_or(0, |row| u(row.get(0))))
}

/// The answer to a send that `from` made before with `client_msg_id` in
/// `conv`, if any (for a conversation without a row: a deleted room).
pub(crate) async fn earlier_send<C: GenericClient>(
    c: &C,
    conv: Conv,
    from: UserId,
    client_msg_id: u64,
    body: &Body,
) -> Result<Option<Result<Appended, ErrorCode>>, Fail> {
    let row = query_opt(
        c,
        "SELECT r.id, r.seq, r.ts, m.message FROM send_records r
         LEFT JOIN messages m ON m.a = r.a AND m.b = r.b AND m.seq = r.seq
         WHERE r.sender = $1 AND r.a = $2 AND r.b = $3 AND r.client_msg_id = $4",
        &[&i(from.0), &conv.0, &conv.1, &i(client_msg_id)],
    )
    .await?;
    match row {
        Some(row) => answer(&row, body),
        None => Ok(None),
    }
}

/// A message to append, as [`append_new`] takes it.
pub(crate) struct Entry<'a> {
    /// The sender.
    pub(crate) from: &'a User,
    /// Whom it is to.
    pub(crate) to: Peer,
    /// The sender's idempotency key.
    pub(crate) client_msg_id: u64,
    /// Content.
    pub(crate) body: Body,
    /// Server time.
    pub(crate) ts: Timestamp,
}

/// Appends a new message to `conv` at `last + 1` (the caller holds the
/// conversation's lock and checked [`earlier_send`]), with its idempotency
/// record.
pub(crate) async fn append_new<C: GenericClient>(
    c: &C,
    conv: Conv,
    last: u64,
    entry: Entry<'_>,
) -> Result<Message, Fail> {
    let Entry {
        from,
        to,
        client_msg_id,
        body,
        ts,
    } = entry;
    let seq = last + 1;
    let id = next_id(c).await?;
    let message = Message {
        id,
        seq,
        from: from.name.clone(),
        to,
        body,
        ts,
    };
    // The counter, the history and the idempotency record in one statement.
    execute(
        c,
        "WITH counter AS (UPDATE conversations SET last_seq = $3 WHERE a = $1 AND b = $2),
              history AS (INSERT INTO messages (a, b, seq, id, sender, message)
                          VALUES ($1, $2, $3, $4, $5, $6))
         INSERT INTO send_records (sender, a, b, client_msg_id, id, seq, ts)
         VALUES ($5, $1, $2, $7, $4, $3, $8)",
        &[
            &conv.0,
            &conv.1,
            &i(seq),
            &i(id),
            &i(from.id.0),
            &encode(&message),
            &i(client_msg_id),
            &i(ts),
        ],
    )
    .await?;
    Ok(message)
}

/// A page of a conversation's history, newest first.
pub(crate) async fn history_page<C: GenericClient>(
    c: &C,
    conv: Conv,
    before_seq: Option<u64>,
    max: usize,
) -> Result<Vec<Message>, Fail> {
    let before = before_seq.map_or(i64::MAX, bound);
    let rows = query(
        c,
        "SELECT message FROM messages WHERE a = $1 AND b = $2 AND seq < $3
         ORDER BY seq DESC LIMIT $4",
        &[&conv.0, &conv.1, &before, &limit(max)],
    )
    .await?;
    rows.iter()
        .map(|row| decode("message", row.get::<_, &[u8]>(0)))
        .collect()
}

/// Stores a 1:1 message (see `Store::append_direct`): under the
/// conversation's lock, a retry is answered from its record, then a block
/// either way or a missing friendship refuses, then the message goes into
/// the history, the recipient's stream and (for the sender's other devices)
/// the sender's.
pub(crate) async fn append_direct<C: GenericClient>(
    c: &C,
    msg: &NewMessage,
) -> Result<Result<DirectSent, ErrorCode>, Fail> {
    let conv = direct(msg.from.id.0, msg.to.id.0);
    let Locked { last, earlier } = lock_direct(c, msg).await?;
    if let Some(answer) = earlier {
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
    let (sender, recipient) = (msg.from.id.0, msg.to.id.0);
    // Both links and the sender's device count, in one statement.
    let row = query_one(
        c,
        "SELECT (SELECT link FROM links WHERE owner = $1 AND other = $2),
                (SELECT link FROM links WHERE owner = $2 AND other = $1),
                (SELECT count(*) FROM devices WHERE user_id = $1)",
        &[&i(sender), &i(recipient)],
    )
    .await?;
    let link = |n| -> Result<Link, Fail> {
        row.get::<_, Option<&[u8]>>(n)
            .map_or(Ok(Link::default()), |bytes| decode("link", bytes))
    };
    let (mine, theirs) = (link(0)?, link(1)?);
    if mine.state != LinkState::Friends {
        if mine.blocked || theirs.blocked {
            return Ok(Err(ErrorCode::Blocked));
        }
        if msg.friends_only {
            return Ok(Err(ErrorCode::NotFriends));
        }
    }
    // The sender's other devices get the message too.
    let echo = u(row.get(2)) > u64::from(msg.device.is_some());
    let to = Peer::User(msg.to.name.clone());
    let entry = Entry {
        from: &msg.from,
        to,
        client_msg_id: msg.client_msg_id,
        body: msg.body.clone(),
        ts: msg.ts,
    };
    let message = append_new(c, conv, last, entry).await?;
    let receipt = SendReceipt {
        id: message.id,
        seq: message.seq,
        ts: message.ts,
    };
    execute(
        c,
        "INSERT INTO unread_from (user_id, sender) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&i(recipient), &i(sender)],
    )
    .await?;
    if echo {
        // Both streams' rows in id order, like every other two-stream write.
        lock_users(c, &[sender, recipient]).await?;
    }
    let item = Item::Message {
        sender,
        seq: message.seq,
        id: message.id,
    };
    let pos = push_item(c, recipient, &item).await?;
    let echo = if echo {
        let item = Item::Sent {
            to: recipient,
            seq: message.seq,
            id: message.id,
            device: msg.device,
        };
        Some(push_item(c, sender, &item).await?)
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
            recipient: msg.from.id,
            item: item(echo, event, msg.device),
        });
    }
    notices.push(Notice {
        recipient: msg.to.id,
        item: item(pos, Event::Message(message), None),
    });
    Ok(Ok(DirectSent { receipt, notices }))
}

/// The length of a [`SweepCursor`]: the key of the last record looked at,
/// four big-endian bigints.
const CURSOR_LEN: usize = 32;

/// Looks at up to `max` idempotency records after `resume` (key order) and
/// deletes those of sends made before `before`; returns how many it deleted
/// and where the next look goes on.
pub(crate) async fn expire_send_records<C: GenericClient>(
    c: &C,
    before: Timestamp,
    resume: Option<&SweepCursor>,
    max: usize,
) -> Result<(usize, Option<SweepCursor>), Fail> {
    let start: [i64; 4] = match resume {
        None => [i64::MIN; 4],
        Some(SweepCursor(bytes)) if bytes.len() == CURSOR_LEN => {
            let mut key = [0i64; 4];
            for (n, part) in key.iter_mut().enumerate() {
                let mut word = [0u8; 8];
                word.copy_from_slice(&bytes[n * 8..n * 8 + 8]);
                *part = i64::from_be_bytes(word);
            }
            key
        }
        Some(_) => {
            return Err(crate::txn::corrupt(
                "send record sweep cursor",
                "not a cursor this store made",
            ))
        }
    };
    // One statement: the look, the deletion of what it found expired, and
    // the key it ended at.
    let row = query_one(
        c,
        "WITH looked AS (
             SELECT sender, a, b, client_msg_id, ts FROM send_records
             WHERE (sender, a, b, client_msg_id) > ($1, $2, $3, $4)
             ORDER BY sender, a, b, client_msg_id LIMIT $5),
         gone AS (
             DELETE FROM send_records r USING looked l
             WHERE (r.sender, r.a, r.b, r.client_msg_id) = (l.sender, l.a, l.b, l.client_msg_id)
               AND l.ts < $6
             RETURNING 1),
         last AS (
             SELECT sender, a, b, client_msg_id FROM looked
             ORDER BY sender DESC, a DESC, b DESC, client_msg_id DESC LIMIT 1)
         SELECT (SELECT count(*) FROM looked), (SELECT count(*) FROM gone),
                last.sender, last.a, last.b, last.client_msg_id
         FROM (SELECT 1) AS one LEFT JOIN last ON true",
        &[
            &start[0],
            &start[1],
            &start[2],
            &start[3],
            &limit(max),
            &bound(before),
        ],
    )
    .await?;
    let (looked, expired): (i64, i64) = (row.get(0), row.get(1));
    let next = (max > 0 && u(looked) == max as u64).then(|| {
        let last: [i64; 4] = [row.get(2), row.get(3), row.get(4), row.get(5)];
        SweepCursor(last.iter().flat_map(|part| part.to_be_bytes()).collect())
    });
    let expired = expired as usize;
    Ok((expired, next))
}
