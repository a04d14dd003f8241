//! Storage: the [`Store`] trait, the shared key-value implementation, and the
//! in-memory store.
//!
//! # The durability contract
//!
//! When a mutating method of a [`Store`] returns `Ok`, its change survives a crash
//! of the process (and, for the disk backends, of the machine). The engine answers
//! a client only after that `Ok`, which is what makes "the sender saw `Ok`" mean
//! "the message is safe".
//!
//! # Backends
//!
//! [`Store`] is domain-level, so a backend may implement it directly (one atomic
//! transaction per method). The bundled backends instead implement the much smaller
//! [`KvBackend`] (point reads, ordered scans, one atomic durable batch commit) and
//! get the whole domain logic, its key layout, and group commit from [`KvStore`].

mod error;
mod kv;
mod memory;
#[cfg(feature = "testkit")]
pub mod testkit;
mod types;

pub use error::{available_space, StoreError, StoreHealth};
pub use kv::{
    BorrowedWrites, CheckpointLag, Entries, KvBackend, KvSnapshot, KvStore, WalConfig, WriteBatch,
    FORMAT_VERSION,
};
pub use memory::{MemoryBackend, MemoryStore};
pub use types::*;

use async_trait::async_trait;

pub use crate::friends::{FriendAction, Link, LinkState};
use crate::protocol::{DeviceClaim, DeviceId, ErrorCode, ItemId, Message, Timestamp, Unread};

/// The storage a chat server runs on. See the [module docs](self) for the
/// durability contract: an `Ok` from a mutating method means durable.
///
/// Methods that can be refused for a reason the user caused return
/// `Ok(Err(ErrorCode))`; `Err(StoreError)` means the storage failed.
///
/// Ordering: a store need not order concurrent writes in any way beyond their
/// transactions (seqs and positions are handed out in commit order). One that
/// makes writes take effect in the order their futures were *first polled*
/// says so ([`writes_in_poll_order`](Self::writes_in_poll_order)), and the
/// engine then pipelines a connection's sends to one conversation instead of
/// starting each after the one before committed.
///
/// Live delivery is not the store's job: [`append_room`](Self::append_room)
/// returns the stored message and the engine delivers a room's messages in
/// seq order.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether writes take effect in the order their futures were first
    /// polled, even while earlier ones have not committed ([`KvStore`]: its
    /// writer queues a write at the first poll). The engine relies on it for
    /// one thing only: a connection's pipelined sends to one conversation get
    /// increasing seqs in request order; without it, the engine starts each
    /// such send after the one before committed. The default (`false`) is
    /// right for a networked store, whose writes on different connections
    /// can commit in any order.
    fn writes_in_poll_order(&self) -> bool {
        false
    }

    /// Whether the store accepts writes. A store that cannot tell whether its
    /// writes reach the disk any more (a failed `fsync`, a full disk under its
    /// log) fails for good: every later write is refused with
    /// [`StoreError::Failed`] until it is reopened. The default: always healthy.
    fn health(&self) -> StoreHealth {
        StoreHealth::Healthy
    }

    /// Bytes free on the disk the store writes to, if it knows
    /// ([`available_space`] of its directory); the server refuses uploads below
    /// its free-space watermark. A syscall: called off the async workers. The
    /// default knows none.
    fn free_space(&self) -> Option<u64> {
        None
    }

    /// Failed logins kept by the store, so that every server on it counts
    /// the same ones (N servers must not give N times the guessing budget):
    /// how many failures each of `keys` has at or after `since`, in the
    /// order of `keys`. `None` (the default): the store keeps none, and each
    /// server's own windows are the only count. That is exact for a store
    /// one server opens at a time ([`KvStore`]: its backends lock their
    /// files); a store several servers share should keep them.
    async fn failed_logins(
        &self,
        keys: &[String],
        since: Timestamp,
    ) -> Result<Option<Vec<u32>>, StoreError> {
        let _ = (keys, since);
        Ok(None)
    }

    /// Counts one failed login at `now` under each of `keys` (see
    /// [`failed_logins`](Self::failed_logins)); failures before
    /// `forget_before` may be dropped. The default keeps nothing.
    async fn record_failed_login(
        &self,
        keys: &[String],
        now: Timestamp,
        forget_before: Timestamp,
    ) -> Result<(), StoreError> {
        let _ = (keys, now, forget_before);
        Ok(())
    }

    /// Forgets the failed logins of `key` (a login under it succeeded). The
    /// default keeps nothing.
    async fn clear_failed_logins(&self, key: &str) -> Result<(), StoreError> {
        let _ = key;
        Ok(())
    }

    /// Logs `user` in as the device `claim` names: a new one is created with
    /// a fresh id (refused [`ErrorCode::TooManyDevices`] if the user has
    /// `max_devices`) at the oldest kept item of the stream, a known one must
    /// be the user's and not revoked (else [`ErrorCode::UnknownDevice`]);
    /// `None` is the user's default device (named `default`, created at the
    /// first such login, beside the `max_devices`). Either way it was last seen
    /// `now`. A device whose position is below the oldest kept item
    /// [fell behind](DeviceLogin::fell_behind) and moves up to it.
    async fn device_login(
        &self,
        user: UserId,
        claim: Option<DeviceClaim>,
        max_devices: usize,
        now: Timestamp,
    ) -> Result<Result<DeviceLogin, ErrorCode>, StoreError>;

    /// `user`'s devices, oldest first.
    async fn devices(&self, user: UserId) -> Result<Vec<Device>, StoreError>;

    /// Notes that a session of `user`'s `device` ended `now` (nothing if the
    /// device is gone).
    async fn device_seen(
        &self,
        user: UserId,
        device: DeviceId,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Revokes `user`'s `device`: it can no longer log in (refused
    /// [`ErrorCode::UnknownDevice`] if there is no such device).
    async fn revoke_device(
        &self,
        user: UserId,
        device: DeviceId,
    ) -> Result<Result<(), ErrorCode>, StoreError>;

    /// Creates a user; `Ok(None)` if the name is taken (compared without case).
    async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
    ) -> Result<Option<User>, StoreError>;

    /// Looks a user up by name, without regard to case.
    async fn account_by_name(&self, name: &str) -> Result<Option<Account>, StoreError>;

    /// Looks a user up by id.
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// Names that start with `prefix` (without regard to case), in the order of
    /// their lowercase forms, at most `limit`, starting after the name whose
    /// lowercase form is `after`. Costs what the page costs: a range of the name
    /// index, not a look at every name.
    async fn search_users(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// Applies a friend-workflow action of `actor` towards `other` atomically: the
    /// links of both sides and the stream items change together or not at all.
    async fn friend_op(
        &self,
        actor: &User,
        other: &User,
        action: FriendAction,
        max_pending: usize,
    ) -> Result<Result<FriendOutcome, ErrorCode>, StoreError>;

    /// `owner`'s link to `other` (default if none).
    async fn link(&self, owner: UserId, other: UserId) -> Result<Link, StoreError>;

    /// Every user `owner` has a non-default link to, in id order.
    async fn links(&self, owner: UserId) -> Result<Vec<(User, Link)>, StoreError>;

    /// A page of [`links`](Self::links): at most `limit`, with ids above `after`.
    async fn links_page(
        &self,
        owner: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<(User, Link)>, StoreError>;

    /// Stores a 1:1 message: history, the recipient's stream item (and unread
    /// count), the sender's stream item if they have other devices than
    /// [`NewMessage::device`], and the idempotency record, in one atomic write. Checked in the same transaction, in this order: a retry
    /// (`client_msg_id` used by `from` in this conversation before) is answered
    /// with the first send's receipt (and no notices) if the body is the same and refused
    /// [`ErrorCode::ClientMsgIdReused`] if not; a block either way refuses
    /// [`ErrorCode::Blocked`]; with [`NewMessage::friends_only`], a sender who is
    /// not the recipient's friend is refused [`ErrorCode::NotFriends`].
    async fn append_direct(
        &self,
        msg: NewMessage,
    ) -> Result<Result<DirectSent, ErrorCode>, StoreError>;

    /// Looks at up to `max` idempotency records (see
    /// [`append_direct`](Self::append_direct)) after `resume` (where the last
    /// call stopped; `None`: from the first) and deletes those of sends made
    /// before `before`. A sweep calls this until [`SendRecordSweep::next`] is
    /// `None`. A retry after its record expired is stored as a new message.
    async fn expire_send_records(
        &self,
        before: Timestamp,
        resume: Option<SweepCursor>,
        max: usize,
    ) -> Result<SendRecordSweep, StoreError>;

    /// Up to `limit` items of `user`'s stream at positions above `after`, in
    /// order (items every active device acked are gone).
    async fn stream(
        &self,
        user: UserId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StreamItem>, StoreError>;

    /// Carries out a device's acks atomically. Its position moves up to
    /// [`Acks::up_to`] (never past the newest item, never back); the first
    /// device of a user to pass a message from someone moves that
    /// conversation's delivered mark (state, not a stream item: the sender's
    /// devices are told live, and at login by
    /// [`delivered_since`](Self::delivered_since)). Items every active device
    /// (seen since [`Acks::active_since`], and this one) is past are let go.
    /// Room messages move the user's delivered position in their rooms
    /// (unknown ids are ignored). Returns the marks that moved, one per
    /// sender.
    async fn ack(&self, user: UserId, acks: Acks) -> Result<Vec<Receipt>, StoreError>;

    /// The delivered marks of `sender`'s conversations that moved at or after
    /// `since`: (the recipient's name, the seq), in recipient id order.
    async fn delivered_since(
        &self,
        sender: UserId,
        since: Timestamp,
    ) -> Result<Vec<(String, u64)>, StoreError>;

    /// Marks `reader`'s conversation read up to `seq` (at most its newest; a
    /// mark never moves back): `reader`'s stream gets [`Event::ReadUpTo`](crate::protocol::Event::ReadUpTo) and,
    /// in a 1:1 conversation, the other user's stream [`Event::Read`](crate::protocol::Event::Read) unless
    /// `reader` turned read receipts off. Refused `NotRoomMember` for a room
    /// `reader` is not in. Returns the items (none if the mark did not move).
    async fn mark_read(
        &self,
        reader: &User,
        conversation: Conversation,
        seq: u64,
    ) -> Result<Result<Vec<Notice>, ErrorCode>, StoreError>;

    /// Whether `user`'s read marks are passed on as [`Event::Read`](crate::protocol::Event::Read) (on unless
    /// turned off).
    async fn set_read_receipts(&self, user: UserId, on: bool) -> Result<(), StoreError>;

    /// `user`'s conversations and rooms with unread messages.
    async fn unread(&self, user: UserId) -> Result<Vec<Unread>, StoreError>;

    /// A page of the 1:1 conversation of `a` and `b`: messages with `seq <
    /// before_seq` (all if `None`), newest first, at most `limit`.
    async fn direct_history(
        &self,
        a: UserId,
        b: UserId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;

    /// Creates a room owned (and joined) by `owner`. Refused `RoomExists` if
    /// the name is taken (compared without case), and `TooManyRooms` if
    /// `owner` owns `max_owned` rooms already (counted in the same
    /// transaction; a deleted room no longer counts).
    async fn create_room(
        &self,
        owner: &User,
        name: &str,
        max_owned: usize,
    ) -> Result<Result<Room, ErrorCode>, StoreError>;

    /// Looks a room up by name, without regard to case.
    async fn room_by_name(&self, name: &str) -> Result<Option<Room>, StoreError>;

    /// A page of the rooms, in the order of their lowercase names: at most
    /// `limit`, starting after the room whose lowercase name is `after`; with
    /// owner names, member counts (kept, not counted: the page costs what its
    /// rows do) and whether `viewer` is a member.
    async fn rooms(
        &self,
        viewer: UserId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RoomListing>, StoreError>;

    /// Adds `user` to `room`, read position at the room's newest message; `false`
    /// if already a member (nothing changes); refused [`ErrorCode::NoSuchRoom`] if
    /// there is no such room.
    async fn join_room(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Result<bool, ErrorCode>, StoreError>;

    /// Removes `user` from `room`; `false` if not a member.
    async fn leave_room(&self, room: RoomId, user: UserId) -> Result<bool, StoreError>;

    /// Deletes a room with its memberships, history and files; returns who were
    /// members.
    async fn delete_room(&self, room: RoomId) -> Result<Vec<UserId>, StoreError>;

    /// Whether `user` is a member of `room`.
    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError>;

    /// The members of `room`, in id order.
    async fn room_members(&self, room: RoomId) -> Result<Vec<User>, StoreError>;

    /// A page of [`room_members`](Self::room_members): at most `limit`, with ids
    /// above `after`.
    async fn room_members_page(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<User>, StoreError>;

    /// The rooms `user` is in, with read positions.
    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomPosition>, StoreError>;

    /// Stores a room message (history, id index, idempotency record) atomically,
    /// unless `(from, client_msg_id)` was stored before, and returns it with its
    /// seq (the room's next, handed out in the same transaction: seqs are dense
    /// and in commit order). Written once, never per member. Refused
    /// `NoSuchRoom` or `NotRoomMember` (checked in the same transaction).
    ///
    /// Delivery is the caller's: concurrent appends to one room may return in
    /// any order, and the engine orders a room's live messages by seq (filling
    /// a gap from [`room_history`](Self::room_history)). (Until issue 18 this
    /// method took a `Deliver` callback, called in seq order on the store's
    /// writer; a store for many nodes cannot keep that promise.)
    async fn append_room(
        &self,
        msg: NewRoomMessage,
    ) -> Result<Result<Appended, ErrorCode>, StoreError>;

    /// A page of a room's history: `seq < before_seq`, newest first.
    async fn room_history(
        &self,
        room: RoomId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;

    /// Stores a file offer (not yet visible); returns its record with a fresh id.
    /// The uploader's files, complete or not, count against `quota` at their
    /// offered sizes until deleted: an offer that would take them over it is
    /// refused `QuotaExceeded` (checked in the same transaction).
    async fn create_file(
        &self,
        offer: NewFile,
        quota: FileQuota,
    ) -> Result<Result<FileRecord, ErrorCode>, StoreError>;

    /// Stores chunk number `index` of an incomplete file and adds its length to
    /// `received`.
    async fn put_chunk(&self, file: ItemId, index: u64, bytes: Vec<u8>) -> Result<(), StoreError>;

    /// Marks a file complete and visible; for a file to a user also writes a
    /// `FileShared` item into their stream (returned).
    async fn complete_file(
        &self,
        file: ItemId,
        ts: Timestamp,
    ) -> Result<Option<Notice>, StoreError>;

    /// Deletes a file and its chunks (abandoned or failed uploads).
    async fn delete_file(&self, file: ItemId) -> Result<(), StoreError>;

    /// A file's record, complete or not.
    async fn file(&self, file: ItemId) -> Result<Option<FileRecord>, StoreError>;

    /// Ids of incomplete files (uploads a crash or a disconnect abandoned).
    async fn incomplete_files(&self) -> Result<Vec<ItemId>, StoreError>;

    /// Complete files of the 1:1 conversation of `a` and `b`, oldest (lowest
    /// id) first: at most `limit`, with ids above `after`.
    async fn direct_files(
        &self,
        a: UserId,
        b: UserId,
        after: Option<ItemId>,
        limit: usize,
    ) -> Result<Vec<FileRecord>, StoreError>;

    /// Complete files of a room, oldest (lowest id) first: at most `limit`, with
    /// ids above `after`.
    async fn room_files(
        &self,
        room: RoomId,
        after: Option<ItemId>,
        limit: usize,
    ) -> Result<Vec<FileRecord>, StoreError>;

    /// Chunk number `index` of a file.
    async fn chunk(&self, file: ItemId, index: u64) -> Result<Option<Vec<u8>>, StoreError>;
}
