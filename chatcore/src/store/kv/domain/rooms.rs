//! Rooms: creation and deletion, membership and read positions, and room
//! messages (written once, never copied into inboxes).

use crate::protocol::{ErrorCode, Message, Peer};
use crate::store::kv::keys::{self, Conv};
use crate::store::kv::records::{decode, decode_u64, room_from, Reader, RoomRecord};
use crate::store::kv::{KvBackend, Txn, View};
use crate::store::{
    Appended, FileRecord, NewRoomMessage, Room, RoomId, RoomListing, RoomPosition, StoreError,
    User, UserId,
};

impl Txn<'_> {
    /// Deletes every key with `start <= key < end`; returns them.
    fn delete_range(
        &mut self,
        (start, end): (Vec<u8>, Vec<u8>),
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let keys: Vec<Vec<u8>> = self
            .scan(&start, &end)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        for key in &keys {
            self.delete(key.clone());
        }
        Ok(keys)
    }
}

/// Creates the room `name` with its owner as the first member, unless a room
/// has that name already, whatever its case, or the owner has `max_owned`.
pub(super) fn create_room(
    txn: &mut Txn<'_>,
    owner: UserId,
    name: String,
    max_owned: usize,
) -> Result<Result<Room, ErrorCode>, StoreError> {
    let name_key = keys::room_name(&name.to_lowercase());
    if txn.raw(&name_key)?.is_some() {
        return Ok(Err(ErrorCode::RoomExists));
    }
    let owned_key = keys::owned_rooms(owner);
    let owned = txn.counter(&owned_key)?;
    if owned >= max_owned as u64 {
        return Ok(Err(ErrorCode::TooManyRooms));
    }
    txn.put_u64(owned_key, owned + 1);
    let id = RoomId(txn.next_id()?);
    txn.put_u64(name_key, id.0);
    let record = RoomRecord {
        name: name.clone(),
        owner,
    };
    txn.put(keys::room(id), &record);
    txn.put_u64(keys::member(id, owner), 0);
    txn.put_u64(keys::read_mark(owner, super::reads::ROOM, id.0), 0);
    txn.put(keys::membership(owner, id), &());
    txn.put_u64(keys::member_count(id), 1);
    Ok(Ok(room_from(id, record)))
}

/// The room whose lowercase name is under `name_key`.
pub(super) fn room_by_name<B: KvBackend>(
    b: &View<'_, B>,
    name_key: &[u8],
) -> Result<Option<Room>, StoreError> {
    match b.raw(name_key)? {
        Some(raw) => b.room(RoomId(decode_u64(name_key, &raw)?)),
        None => Ok(None),
    }
}

/// Up to `limit` rooms in lowercase name order, after the one whose lowercase
/// name is `after`, with their owners' names, member counts and whether
/// `viewer` is a member: one range of the room name index and a few point
/// reads per room.
pub(super) fn rooms<B: KvBackend>(
    b: &View<'_, B>,
    viewer: UserId,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<RoomListing>, StoreError> {
    let first = keys::room_name("");
    let end = keys::successor(first.clone());
    let start = after.map_or(first, |name| keys::after(keys::room_name(name)));
    let mut rooms = Vec::new();
    for (key, raw) in b.scan(&start, &end, false, limit)? {
        let Some(room) = b.room(RoomId(decode_u64(&key, &raw)?))? else {
            continue;
        };
        rooms.push(RoomListing {
            owner: b.user(room.owner)?.map(|u| u.name).unwrap_or_default(),
            members: u32::try_from(b.counter(&keys::member_count(room.id))?).unwrap_or(u32::MAX),
            joined: b.raw(&keys::member(room.id, viewer))?.is_some(),
            room,
        });
    }
    Ok(rooms)
}

impl Txn<'_> {
    /// Moves `room`'s member count by `delta`.
    fn count_members(&mut self, room: RoomId, delta: i64) -> Result<(), StoreError> {
        let key = keys::member_count(room);
        let count = self.counter(&key)?.saturating_add_signed(delta);
        self.put_u64(key, count);
        Ok(())
    }
}

/// Makes `user` a member of `room`, read up to its newest message.
pub(super) fn join_room(
    txn: &mut Txn<'_>,
    room: RoomId,
    user: UserId,
) -> Result<Result<bool, ErrorCode>, StoreError> {
    if txn.raw(&keys::room(room))?.is_none() {
        return Ok(Err(ErrorCode::NoSuchRoom));
    }
    let member = keys::member(room, user);
    if txn.raw(&member)?.is_some() {
        return Ok(Ok(false));
    }
    let last = txn.counter(&keys::last_seq(Conv::Room(room)))?;
    txn.put_u64(member, last);
    txn.put(keys::membership(user, room), &());
    // Read up to where they joined (a mark from an earlier membership would
    // count what was said since).
    txn.put_u64(keys::read_mark(user, super::reads::ROOM, room.0), last);
    txn.count_members(room, 1)?;
    Ok(Ok(true))
}

/// Ends `user`'s membership of `room`.
pub(super) fn leave_room(
    txn: &mut Txn<'_>,
    room: RoomId,
    user: UserId,
) -> Result<bool, StoreError> {
    let member = keys::member(room, user);
    if txn.raw(&member)?.is_none() {
        return Ok(false);
    }
    txn.delete(member);
    txn.delete(keys::membership(user, room));
    txn.count_members(room, -1)?;
    Ok(true)
}

/// Deletes `room` with its memberships, messages and files; returns who were
/// its members.
pub(super) fn delete_room(txn: &mut Txn<'_>, room: RoomId) -> Result<Vec<UserId>, StoreError> {
    let Some(record) = txn.record::<RoomRecord>(&keys::room(room))? else {
        return Ok(Vec::new());
    };
    let conv = Conv::Room(room);
    let members: Vec<UserId> = txn
        .delete_range(keys::members_of(room))?
        .iter()
        .map(|k| UserId(keys::last_u64(k)))
        .collect();
    for member in &members {
        txn.delete(keys::membership(*member, room));
    }
    let messages = txn.scan(&keys::msg(conv, 0), &keys::msg(conv, u64::MAX))?;
    for (key, raw) in messages {
        let message: Message = decode(&key, &raw)?;
        txn.delete(keys::room_msg_index(message.id));
        txn.delete(key);
    }
    for key in txn.delete_range(keys::conv_files(conv))? {
        if let Some(file) = txn.record::<FileRecord>(&keys::file(keys::last_u64(&key)))? {
            txn.delete_file_record(&file)?;
        }
    }
    txn.delete(keys::last_seq(conv));
    txn.delete(keys::member_count(room));
    txn.delete(keys::room_name(&record.name.to_lowercase()));
    txn.delete(keys::room(room));
    let owned_key = keys::owned_rooms(record.owner);
    match txn.counter(&owned_key)? {
        // Rooms created before the count was kept are not in it.
        0 => {}
        1 => txn.delete(owned_key),
        owned => txn.put_u64(owned_key, owned - 1),
    }
    Ok(members)
}

/// Up to `limit` members of `room`, in id order, with ids above `after`.
pub(super) fn room_members<B: KvBackend>(
    b: &View<'_, B>,
    room: RoomId,
    after: Option<UserId>,
    limit: usize,
) -> Result<Vec<User>, StoreError> {
    let (first, end) = keys::members_of(room);
    let start = after.map_or(first, |user| keys::after(keys::member(room, user)));
    let mut users = Vec::new();
    for (key, _) in b.scan(&start, &end, false, limit)? {
        if let Some(user) = b.user(UserId(keys::last_u64(&key)))? {
            users.push(user);
        }
    }
    Ok(users)
}

/// The rooms `user` is a member of, with how far they have read each.
pub(super) fn rooms_of<B: KvBackend>(
    b: &View<'_, B>,
    user: UserId,
) -> Result<Vec<RoomPosition>, StoreError> {
    let (start, end) = keys::memberships_of(user);
    let mut out = Vec::new();
    for (key, _) in b.scan(&start, &end, false, usize::MAX)? {
        let id = RoomId(keys::last_u64(&key));
        let Some(room) = b.room(id)? else { continue };
        out.push(RoomPosition {
            read_seq: b.counter(&keys::member(id, user))?,
            last_seq: b.counter(&keys::last_seq(Conv::Room(id)))?,
            room,
        });
    }
    Ok(out)
}

/// Appends a message to a room its sender is a member of, with an index from
/// its id to its place (for acks).
pub(super) fn append_room(
    txn: &mut Txn<'_>,
    msg: NewRoomMessage,
) -> Result<Result<Appended, ErrorCode>, StoreError> {
    let room = msg.room.id;
    let conv = Conv::Room(room);
    // A retry is answered as the first send was, even after leaving.
    if let Some(answer) = txn.earlier_send(conv, msg.from.id, msg.client_msg_id, &msg.body)? {
        return Ok(answer);
    }
    if txn.raw(&keys::room(room))?.is_none() {
        return Ok(Err(ErrorCode::NoSuchRoom));
    }
    if txn.raw(&keys::member(room, msg.from.id))?.is_none() {
        return Ok(Err(ErrorCode::NotRoomMember));
    }
    let to = Peer::Room(msg.room.name.clone());
    let message = txn.append_new(conv, &msg.from, to, msg.client_msg_id, msg.body, msg.ts)?;
    txn.put(keys::room_msg_index(message.id), &(room, message.seq));
    super::reads::read_own(txn, msg.from.id, room, message.seq)?;
    Ok(Ok(Appended::New(message)))
}
