//! What the store keeps and hands back: users, devices, rooms, files,
//! messages and the stream's items, and what a write answers.

use serde::{Deserialize, Serialize};

use crate::friends::Link;
use crate::protocol::{Body, DeviceId, Event, ItemId, Message, Timestamp};
#[cfg(doc)]
use crate::store::Store;

/// A user's numeric id, assigned by the store at registration. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserId(pub u64);

/// A user: id and the name as registered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct User {
    /// The id.
    pub id: UserId,
    /// The name, in the case it was registered with.
    pub name: String,
}

/// One of a user's devices as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its id (from the store's id counter: never reused).
    pub id: DeviceId,
    /// Its name, as the user gave it.
    pub name: String,
    /// When it last logged in or a session of it ended, ms since the epoch.
    pub last_seen: Timestamp,
}

/// What [`Store::device_login`] found: the device and where it is in the
/// user's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceLogin {
    /// The device.
    pub device: Device,
    /// The position it acked up to: its session starts after it.
    pub position: u64,
    /// It was away so long that items it never acked were let go (its position
    /// moved up to the oldest kept item).
    pub fell_behind: bool,
    /// When it was last seen before this login (0 for a new device): receipts
    /// since then are news to it ([`Store::delivered_since`]).
    pub seen_before: Timestamp,
}

/// An item of a user's stream, as [`Store::stream`] reads it or a write returns
/// it (in a [`Notice`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamItem {
    /// Its position in the user's stream (from 1, increasing by one).
    pub pos: u64,
    /// What it is.
    pub event: Event,
    /// What a session older than protocol version 5 is sent instead.
    pub older: Older,
    /// The device that caused it (a message the user sent from it): its
    /// sessions are not sent it.
    pub from_device: Option<DeviceId>,
}

/// How a [`StreamItem`] reaches a session older than protocol version 5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Older {
    /// As [`StreamItem::event`].
    Same,
    /// Not at all (an event its version does not know).
    Hidden,
}

/// A conversation's delivered mark moved: the first device of `recipient`
/// has `sender`'s messages up to `seq` (from [`Store::ack`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Whose messages.
    pub sender: UserId,
    /// Who has them (the name).
    pub recipient: String,
    /// Up to here (a seq of their conversation).
    pub seq: u64,
    /// The ids of the messages it newly covers (for older sessions).
    pub ids: Vec<ItemId>,
}

/// A device's acks, for [`Store::ack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acks {
    /// The device that acks.
    pub device: DeviceId,
    /// Its new position in the stream (cumulative; an older one changes nothing).
    pub up_to: Option<u64>,
    /// Room messages acked by id: each moves the user's delivered position in
    /// its room.
    pub room_messages: Vec<ItemId>,
    /// Now.
    pub now: Timestamp,
    /// Devices last seen before this no longer hold items back.
    pub active_since: Timestamp,
}

/// A conversation: with a user, or a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversation {
    /// The 1:1 conversation with this user.
    User(User),
    /// This room.
    Room(Room),
}

/// A room's numeric id, assigned by the store. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoomId(pub u64);

/// A room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// The id.
    pub id: RoomId,
    /// The name as created.
    pub name: String,
    /// The owner (may delete the room).
    pub owner: UserId,
}

/// A row of [`Store::rooms`]: a room with what the room list shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomListing {
    /// The room.
    pub room: Room,
    /// Its owner's name (empty if the owner is unknown).
    pub owner: String,
    /// How many members it has.
    pub members: u32,
    /// Whether the user the list was read for is one of them.
    pub joined: bool,
}

/// A member's position in one of their rooms, from [`Store::rooms_of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPosition {
    /// The room.
    pub room: Room,
    /// The highest seq the member acked.
    pub read_seq: u64,
    /// The room's newest seq.
    pub last_seq: u64,
}

/// A message to a room, for [`Store::append_room`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoomMessage {
    /// Sender (from the session).
    pub from: User,
    /// The room.
    pub room: Room,
    /// The sender's idempotency key, unique per conversation.
    pub client_msg_id: u64,
    /// Content.
    pub body: Body,
    /// Server time.
    pub ts: Timestamp,
}

/// Where a file goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileTarget {
    /// A user.
    User(User),
    /// A room.
    Room(Room),
}

/// A file offer, for [`Store::create_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// Uploader.
    pub from: User,
    /// Recipient.
    pub to: FileTarget,
    /// Sanitised name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
    /// Every chunk but the last has this many bytes.
    pub chunk_size: u32,
    /// Server time of the offer.
    pub ts: Timestamp,
}

/// How much one user may store, for [`Store::create_file`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileQuota {
    /// Most files.
    pub files: u64,
    /// Most bytes, each file counted at its offered size.
    pub bytes: u64,
}

/// A file as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The id (from the store's item id counter).
    pub id: ItemId,
    /// Uploader.
    pub from: User,
    /// Recipient.
    pub to: FileTarget,
    /// Sanitised name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
    /// Every chunk but the last has this many bytes.
    pub chunk_size: u32,
    /// Bytes of chunks stored so far.
    pub received: u64,
    /// Verified and visible.
    pub complete: bool,
    /// When the offer (and later the completion) was stored.
    pub ts: Timestamp,
}

/// A user with the stored password hash (PHC string). Its `Debug` leaves the
/// hash out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The user.
    pub user: User,
    /// argon2id PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user)
            .field("password_hash", &crate::protocol::Redacted)
            .finish()
    }
}

/// A message to be stored by [`Store::append_direct`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Sender (from the session).
    pub from: User,
    /// Recipient.
    pub to: User,
    /// The sender's idempotency key, unique per conversation.
    pub client_msg_id: u64,
    /// Content.
    pub body: Body,
    /// Server time.
    pub ts: Timestamp,
    /// Only friends may send (a closed server); blocks refuse either way.
    pub friends_only: bool,
    /// The sender's device: their other devices get the message in their
    /// stream, this one does not.
    pub device: Option<DeviceId>,
}

/// The stored identity of a sent message: what the sender is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReceipt {
    /// Server id.
    pub id: ItemId,
    /// Seq in the conversation.
    pub seq: u64,
    /// Server timestamp.
    pub ts: Timestamp,
}

/// Where a sweep of send records stopped: bytes only the store that made them
/// reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepCursor(pub Vec<u8>);

/// What one [`Store::expire_send_records`] call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRecordSweep {
    /// Records deleted.
    pub expired: usize,
    /// Where the sweep goes on; `None` once every record was looked at.
    pub next: Option<SweepCursor>,
}

/// What [`Store::append_direct`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored now; push `message` to the recipient.
    New(Message),
    /// The sender already sent this `client_msg_id`; nothing was stored.
    Duplicate(SendReceipt),
}

/// What [`Store::append_direct`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectSent {
    /// Where the message is (for a retry: where it was stored the first time).
    pub receipt: SendReceipt,
    /// The stream items it made (none for a retry): the recipient's, and the
    /// sender's for their other devices.
    pub notices: Vec<Notice>,
}

/// A stream item created by a store operation, to push to a live recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Whose stream holds it.
    pub recipient: UserId,
    /// The item.
    pub item: StreamItem,
}

/// The outcome of a friend operation ([`Store::friend_op`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendOutcome {
    /// The actor's link to the other user after the operation.
    pub link: Link,
    /// Inbox events written for either side.
    pub notices: Vec<Notice>,
}
