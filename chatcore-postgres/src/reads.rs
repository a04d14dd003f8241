//! Read marks: what a user read of each conversation, the unread counts they
//! leave, and whether others are told.

use chatcore::protocol::{ErrorCode, Event, Peer, Unread};
use chatcore::store::{Conversation, Notice, User, UserId};
use deadpool_postgres::GenericClient;

use crate::chat::{last_seq, Conv};
use crate::stream::{lock_users, push_event};
use crate::txn::{direct, execute, i, query, query_one, query_opt, room, u, Fail};

/// Unread messages are counted when asked, among at most this many after
/// the read mark (as the kv store); past them every message counts.
const MAX_COUNTED: u64 = 1_000;

/// Marks `reader`'s conversation read up to `seq` (see `Store::mark_read`).
pub(crate) async fn mark_read<C: GenericClient>(
    c: &C,
    reader: &User,
    conversation: &Conversation,
    seq: u64,
) -> Result<Result<Vec<Notice>, ErrorCode>, Fail> {
    let me = i(reader.id.0);
    // The reader's row first (and the peer's, whose stream may get an item):
    // one mark of theirs moves at a time.
    match conversation {
        Conversation::User(peer) => lock_users(c, &[reader.id.0, peer.id.0]).await?,
        Conversation::Room(_) => lock_users(c, &[reader.id.0]).await?,
    }
    // (conversation, old mark, whether one is stored)
    let (conv, old, stored): (Conv, u64, bool) = match conversation {
        Conversation::User(peer) => {
            let mark = query_opt(
                c,
                "SELECT seq FROM read_marks WHERE user_id = $1 AND peer = $2",
                &[&me, &i(peer.id.0)],
            )
            .await?;
            let stored = mark.is_some();
            (
                direct(reader.id.0, peer.id.0),
                mark.map_or(0, |row| u(row.get(0))),
                stored,
            )
        }
        Conversation::Room(r) => {
            let Some(mark) = query_opt(
                c,
                "SELECT read_seq FROM members WHERE room_id = $1 AND user_id = $2",
                &[&i(r.id.0), &me],
            )
            .await?
            else {
                return Ok(Err(ErrorCode::NotRoomMember));
            };
            (room(r.id.0), u(mark.get(0)), true)
        }
    };
    let last = last_seq(c, conv).await?;
    let seq = seq.min(last);
    if seq <= old && stored {
        return Ok(Ok(Vec::new()));
    }
    let seq_param = i(seq);
    match conversation {
        Conversation::User(peer) => {
            let peer_id = i(peer.id.0);
            execute(
                c,
                "INSERT INTO read_marks (user_id, peer, seq) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, peer) DO UPDATE SET seq = $3",
                &[&me, &peer_id, &seq_param],
            )
            .await?
        }
        Conversation::Room(r) => {
            let room_id = i(r.id.0);
            execute(
                c,
                "UPDATE members SET read_seq = $3 WHERE room_id = $1 AND user_id = $2",
                &[&room_id, &me, &seq_param],
            )
            .await?
        }
    };
    let unread = count_unread(c, conv, seq, last, reader.id).await?;
    let mut notices = Vec::with_capacity(2);
    let peer = match conversation {
        Conversation::User(peer) => {
            if unread == 0 {
                execute(
                    c,
                    "DELETE FROM unread_from WHERE user_id = $1 AND sender = $2",
                    &[&me, &i(peer.id.0)],
                )
                .await?;
            }
            let receipts: bool =
                query_one(c, "SELECT read_receipts FROM users WHERE id = $1", &[&me])
                    .await?
                    .get(0);
            if receipts {
                let read = Event::Read {
                    by: reader.name.clone(),
                    seq,
                };
                notices.push(push_event(c, peer.id.0, read).await?);
            }
            Peer::User(peer.name.clone())
        }
        Conversation::Room(r) => Peer::Room(r.name.clone()),
    };
    let mine = Event::ReadUpTo { peer, seq, unread };
    notices.push(push_event(c, reader.id.0, mine).await?);
    Ok(Ok(notices))
}

/// A room message `sender` wrote at `seq`: they read it, so a read mark
/// they set just below it moves past it.
pub(crate) async fn read_own<C: GenericClient>(
    c: &C,
    sender: UserId,
    conv: Conv,
    seq: u64,
) -> Result<(), Fail> {
    execute(
        c,
        "UPDATE members SET read_seq = $3 WHERE room_id = $1 AND user_id = $2 AND read_seq + 1 = $3",
        &[&conv.0, &i(sender.0), &i(seq)],
    )
    .await?;
    Ok(())
}

/// Sets whether `user`'s read marks are passed on.
pub(crate) async fn set_read_receipts<C: GenericClient>(
    c: &C,
    user: UserId,
    on: bool,
) -> Result<(), Fail> {
    execute(
        c,
        "UPDATE users SET read_receipts = $2 WHERE id = $1",
        &[&i(user.0), &on],
    )
    .await?;
    Ok(())
}

/// Messages of `conv` after `read_seq` (up to `last_seq`) that someone other
/// than `me` sent: counted among the first [`MAX_COUNTED`], every later one
/// counts.
async fn count_unread<C: GenericClient>(
    c: &C,
    conv: Conv,
    read_seq: u64,
    last_seq: u64,
    me: UserId,
) -> Result<u64, Fail> {
    if last_seq <= read_seq {
        return Ok(0);
    }
    if last_seq - read_seq > MAX_COUNTED {
        return Ok(last_seq - read_seq);
    }
    let row = query_one(
        c,
        "SELECT count(*) FILTER (WHERE sender <> $5), count(*) FROM (
             SELECT sender FROM messages WHERE a = $1 AND b = $2 AND seq > $3 AND seq <= $4
             ORDER BY seq LIMIT 1000) AS looked",
        &[&conv.0, &conv.1, &i(read_seq), &i(last_seq), &i(me.0)],
    )
    .await?;
    let (others, looked): (i64, i64) = (row.get(0), row.get(1));
    Ok(u(others) + (last_seq - read_seq).saturating_sub(u(looked)))
}

/// Counts the unread messages among the first [`MAX_COUNTED`] after the
/// read mark, for a conversation `cv` (aliased) and a read mark `read_seq`
/// (an expression): `others` and `looked` columns, for [`unread_count`].
const COUNTED: &str = "LEFT JOIN LATERAL (
         SELECT count(*) FILTER (WHERE sender <> $1) AS others, count(*) AS looked FROM (
             SELECT sender FROM messages msg
             WHERE msg.a = cv.a AND msg.b = cv.b AND msg.seq > READ_SEQ
               AND msg.seq <= cv.last_seq
             ORDER BY msg.seq LIMIT 1000) AS first) AS counted ON true";

/// The unread count [`count_unread`] would give, from a row's read mark,
/// newest seq, and the `others` and `looked` of [`COUNTED`].
fn unread_count(read_seq: u64, last_seq: u64, others: i64, looked: i64) -> u64 {
    if last_seq <= read_seq {
        0
    } else if last_seq - read_seq > MAX_COUNTED {
        last_seq - read_seq
    } else {
        u(others) + (last_seq - read_seq).saturating_sub(u(looked))
    }
}

/// `user`'s conversations and rooms with unread messages: 1:1 ones in the
/// other user's id order, then rooms in id order. Two statements, the
/// counts made in each.
pub(crate) async fn unread<C: GenericClient>(c: &C, user: UserId) -> Result<Vec<Unread>, Fail> {
    let me = i(user.0);
    let mut found = Vec::new();
    let peers = format!(
        "SELECT u.name, coalesce(r.seq, 0), coalesce(cv.last_seq, 0),
                coalesce(counted.others, 0), coalesce(counted.looked, 0)
         FROM unread_from f
         JOIN users u ON u.id = f.sender
         LEFT JOIN read_marks r ON r.user_id = f.user_id AND r.peer = f.sender
         LEFT JOIN conversations cv
             ON cv.a = least(f.user_id, f.sender) AND cv.b = greatest(f.user_id, f.sender)
         {}
         WHERE f.user_id = $1 ORDER BY f.sender",
        COUNTED.replace("READ_SEQ", "coalesce(r.seq, 0)")
    );
    let rows = query(c, &peers, &[&me]).await?;
    found.extend(rows.iter().filter_map(|row| unread_row(row, Peer::User)));
    let rooms = format!(
        "SELECT r.name, m.read_seq, coalesce(cv.last_seq, 0),
                coalesce(counted.others, 0), coalesce(counted.looked, 0)
         FROM members m
         JOIN rooms r ON r.id = m.room_id
         LEFT JOIN conversations cv ON cv.a = m.room_id AND cv.b = 0
         {}
         WHERE m.user_id = $1 ORDER BY m.room_id",
        COUNTED.replace("READ_SEQ", "m.read_seq")
    );
    let rows = query(c, &rooms, &[&me]).await?;
    found.extend(rows.iter().filter_map(|row| unread_row(row, Peer::Room)));
    Ok(found)
}

/// A row of (name, read seq, last seq, others counted, looked at) as an
/// unread count, if anything is unread.
fn unread_row(row: &tokio_postgres::Row, peer: fn(String) -> Peer) -> Option<Unread> {
    let (read_seq, last_seq) = (u(row.get(1)), u(row.get(2)));
    let unread = unread_count(read_seq, last_seq, row.get(3), row.get(4));
    (unread > 0).then(|| Unread {
        peer: peer(row.get(0)),
        unread,
        read_seq,
        last_seq,
    })
}
