//! Rooms: creation and deletion, membership and read positions, and room
//! messages (written once, never copied into streams).

use chatcore::protocol::{ErrorCode, Peer};
use chatcore::store::{
    Appended, NewRoomMessage, Room, RoomId, RoomListing, RoomPosition, User, UserId,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::chat::{append_new, earlier_send, last_seq, lock_and_look, Entry, Locked};
use crate::txn::{execute, i, limit, next_id, query, query_opt, room, u, Fail};

fn room_from(row: &Row) -> Room {
    Room {
        id: RoomId(u(row.get(0))),
        name: row.get(1),
        owner: UserId(u(row.get(2))),
    }
}

/// Creates the room `name` with its owner as the first member, unless a
/// room has that name already, whatever its case, or the owner has
/// `max_owned` (counted under the owner's row lock).
pub(crate) async fn create_room<C: GenericClient>(
    c: &C,
    owner: &User,
    name: &str,
    max_owned: usize,
) -> Result<Result<Room, ErrorCode>, Fail> {
    let lname = name.to_lowercase();
    let Some(row) = query_opt(
        c,
        "SELECT owned_rooms FROM users WHERE id = $1 FOR UPDATE",
        &[&i(owner.id.0)],
    )
    .await?
    else {
        return Ok(Err(ErrorCode::NoSuchUser));
    };
    if query_opt(c, "SELECT 1 FROM rooms WHERE lname = $1", &[&lname])
        .await?
        .is_some()
    {
        return Ok(Err(ErrorCode::RoomExists));
    }
    let owned: i64 = row.get(0);
    if u(owned) >= max_owned as u64 {
        return Ok(Err(ErrorCode::TooManyRooms));
    }
    let id = next_id(c).await?;
    let inserted = query_opt(
        c,
        "INSERT INTO rooms (id, name, lname, owner, member_count) VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (lname) DO NOTHING RETURNING id",
        &[&i(id), &name, &lname, &i(owner.id.0)],
    )
    .await?;
    if inserted.is_none() {
        return Ok(Err(ErrorCode::RoomExists));
    }
    execute(
        c,
        "UPDATE users SET owned_rooms = owned_rooms + 1 WHERE id = $1",
        &[&i(owner.id.0)],
    )
    .await?;
    execute(
        c,
        "INSERT INTO members (room_id, user_id, delivered, read_seq) VALUES ($1, $2, 0, 0)",
        &[&i(id), &i(owner.id.0)],
    )
    .await?;
    execute(
        c,
        "INSERT INTO conversations (a, b) VALUES ($1, 0)",
        &[&i(id)],
    )
    .await?;
    Ok(Ok(Room {
        id: RoomId(id),
        name: name.to_owned(),
        owner: owner.id,
    }))
}

/// The room named `name`, without regard to case.
pub(crate) async fn room_by_name<C: GenericClient>(
    c: &C,
    name: &str,
) -> Result<Option<Room>, Fail> {
    let row = query_opt(
        c,
        "SELECT id, name, owner FROM rooms WHERE lname = $1",
        &[&name.to_lowercase()],
    )
    .await?;
    Ok(row.as_ref().map(room_from))
}

/// Up to `max` rooms in lowercase name order, after the one whose lowercase
/// name is `after`, with owners' names, kept member counts and whether
/// `viewer` is a member.
pub(crate) async fn rooms<C: GenericClient>(
    c: &C,
    viewer: UserId,
    after: Option<&str>,
    max: usize,
) -> Result<Vec<RoomListing>, Fail> {
    let after = after.map(str::to_lowercase).unwrap_or_default();
    let rows = query(
        c,
        "SELECT r.id, r.name, r.owner, coalesce(u.name, ''), r.member_count,
                EXISTS (SELECT 1 FROM members m WHERE m.room_id = r.id AND m.user_id = $1)
         FROM rooms r LEFT JOIN users u ON u.id = r.owner
         WHERE r.lname > $2 ORDER BY r.lname LIMIT $3",
        &[&i(viewer.0), &after, &limit(max)],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| RoomListing {
            room: room_from(row),
            owner: row.get(3),
            members: u32::try_from(row.get::<_, i64>(4)).unwrap_or(u32::MAX),
            joined: row.get(5),
        })
        .collect())
}

/// Locks `room`'s row; whether it exists.
async fn lock_room<C: GenericClient>(c: &C, room: RoomId) -> Result<Option<Row>, Fail> {
    query_opt(
        c,
        "SELECT id, name, owner FROM rooms WHERE id = $1 FOR UPDATE",
        &[&i(room.0)],
    )
    .await
}

/// Makes `user` a member of `room`, read up to its newest message.
pub(crate) async fn join_room<C: GenericClient>(
    c: &C,
    id: RoomId,
    user: UserId,
) -> Result<Result<bool, ErrorCode>, Fail> {
    if lock_room(c, id).await?.is_none() {
        return Ok(Err(ErrorCode::NoSuchRoom));
    }
    let last = i(last_seq(c, room(id.0)).await?);
    let joined = query_opt(
        c,
        "INSERT INTO members (room_id, user_id, delivered, read_seq) VALUES ($1, $2, $3, $3)
         ON CONFLICT DO NOTHING RETURNING 1",
        &[&i(id.0), &i(user.0), &last],
    )
    .await?;
    if joined.is_none() {
        return Ok(Ok(false));
    }
    execute(
        c,
        "UPDATE rooms SET member_count = member_count + 1 WHERE id = $1",
        &[&i(id.0)],
    )
    .await?;
    Ok(Ok(true))
}

/// Ends `user`'s membership of `room`.
pub(crate) async fn leave_room<C: GenericClient>(
    c: &C,
    id: RoomId,
    user: UserId,
) -> Result<bool, Fail> {
    if lock_room(c, id).await?.is_none() {
        return Ok(false);
    }
    let left = execute(
        c,
        "DELETE FROM members WHERE room_id = $1 AND user_id = $2",
        &[&i(id.0), &i(user.0)],
    )
    .await?;
    if left == 0 {
        return Ok(false);
    }
    execute(
        c,
        "UPDATE rooms SET member_count = greatest(member_count - 1, 0) WHERE id = $1",
        &[&i(id.0)],
    )
    .await?;
    Ok(true)
}

/// Deletes `room` with its memberships, messages and complete files (an
/// upload in progress is deleted by its own end); returns who were its
/// members, in id order.
pub(crate) async fn delete_room<C: GenericClient>(c: &C, id: RoomId) -> Result<Vec<UserId>, Fail> {
    let Some(row) = lock_room(c, id).await? else {
        return Ok(Vec::new());
    };
    let record = room_from(&row);
    let (a, b) = room(id.0);
    let mut members: Vec<UserId> = query(
        c,
        "DELETE FROM members WHERE room_id = $1 RETURNING user_id",
        &[&a],
    )
    .await?
    .iter()
    .map(|row| UserId(u(row.get(0))))
    .collect();
    members.sort();
    execute(c, "DELETE FROM messages WHERE a = $1 AND b = $2", &[&a, &b]).await?;
    execute(
        c,
        "DELETE FROM conversations WHERE a = $1 AND b = $2",
        &[&a, &b],
    )
    .await?;
    crate::files::delete_where(c, "a = $1 AND b = $2 AND complete", &[&a, &b]).await?;
    execute(c, "DELETE FROM rooms WHERE id = $1", &[&a]).await?;
    execute(
        c,
        "UPDATE users SET owned_rooms = greatest(owned_rooms - 1, 0) WHERE id = $1",
        &[&i(record.owner.0)],
    )
    .await?;
    Ok(members)
}

/// Whether `user` is a member of `room`.
pub(crate) async fn is_member<C: GenericClient>(
    c: &C,
    id: RoomId,
    user: UserId,
) -> Result<bool, Fail> {
    Ok(query_opt(
        c,
        "SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2",
        &[&i(id.0), &i(user.0)],
    )
    .await?
    .is_some())
}

/// Up to `max` members of `room`, in id order, with ids above `after`.
pub(crate) async fn room_members<C: GenericClient>(
    c: &C,
    id: RoomId,
    after: Option<UserId>,
    max: usize,
) -> Result<Vec<User>, Fail> {
    let rows = query(
        c,
        "SELECT m.user_id, u.name FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.room_id = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3",
        &[&i(id.0), &after.map_or(i64::MIN, |a| i(a.0)), &limit(max)],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| User {
            id: UserId(u(row.get(0))),
            name: row.get(1),
        })
        .collect())
}

/// The rooms `user` is a member of, with their delivered positions.
pub(crate) async fn rooms_of<C: GenericClient>(
    c: &C,
    user: UserId,
) -> Result<Vec<RoomPosition>, Fail> {
    let rows = query(
        c,
        "SELECT r.id, r.name, r.owner, m.delivered, coalesce(cv.last_seq, 0) FROM members m
         JOIN rooms r ON r.id = m.room_id
         LEFT JOIN conversations cv ON cv.a = m.room_id AND cv.b = 0
         WHERE m.user_id = $1 ORDER BY m.room_id",
        &[&i(user.0)],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| RoomPosition {
            room: room_from(row),
            read_seq: u(row.get(3)),
            last_seq: u(row.get(4)),
        })
        .collect())
}

/// Appends a message to a room its sender is a member of (see
/// `Store::append_room`): under the room's conversation lock, a retry is
/// answered as the first send was (even after leaving), then the room and
/// the membership are checked.
pub(crate) async fn append_room<C: GenericClient>(
    c: &C,
    msg: &NewRoomMessage,
) -> Result<Result<Appended, ErrorCode>, Fail> {
    let conv = room(msg.room.id.0);
    let locked = lock_and_look(c, conv, msg.from.id, msg.client_msg_id, &msg.body).await?;
    let Some(Locked { last, earlier }) = locked else {
        // No such room (any more): a retry is still answered as the first
        // send was.
        let earlier = earlier_send(c, conv, msg.from.id, msg.client_msg_id, &msg.body).await?;
        return Ok(earlier.unwrap_or(Err(ErrorCode::NoSuchRoom)));
    };
    // A retry is answered as the first send was, even after leaving.
    if let Some(answer) = earlier {
        return Ok(answer);
    }
    if !is_member(c, msg.room.id, msg.from.id).await? {
        return Ok(Err(ErrorCode::NotRoomMember));
    }
    let to = Peer::Room(msg.room.name.clone());
    let entry = Entry {
        from: &msg.from,
        to,
        client_msg_id: msg.client_msg_id,
        body: msg.body.clone(),
        ts: msg.ts,
    };
    let message = append_new(c, conv, last, entry).await?;
    crate::reads::read_own(c, msg.from.id, conv, message.seq).await?;
    Ok(Ok(Appended::New(message)))
}
