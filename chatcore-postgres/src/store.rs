//! The [`Store`] implementation: each method one transaction (or one read
//! statement's snapshot), by area.

use async_trait::async_trait;
use chatcore::friends::{FriendAction, Link};
use chatcore::protocol::{DeviceClaim, DeviceId, ErrorCode, ItemId, Message, Timestamp, Unread};
use chatcore::store::{
    Account, Acks, Appended, Conversation, Device, DeviceLogin, DirectSent, FileQuota, FileRecord,
    FriendOutcome, NewFile, NewMessage, NewRoomMessage, Notice, Receipt, Room, RoomId, RoomListing,
    RoomPosition, SendRecordSweep, Store, StoreError, StreamItem, SweepCursor, User, UserId,
};

use crate::txn::{direct, read, room, txn};
use crate::{accounts, chat, devices, files, friends, logins, reads, rooms, stream, PgStore};

#[async_trait]
impl Store for PgStore {
    async fn failed_logins(
        &self,
        keys: &[String],
        since: Timestamp,
    ) -> Result<Option<Vec<u32>>, StoreError> {
        read!(self, c => logins::failed_logins(c, keys, since).await).map(Some)
    }

    async fn record_failed_login(
        &self,
        keys: &[String],
        now: Timestamp,
        forget_before: Timestamp,
    ) -> Result<(), StoreError> {
        txn!(self, tx => logins::record_failed_login(tx, keys, now, forget_before).await)
    }

    async fn clear_failed_logins(&self, key: &str) -> Result<(), StoreError> {
        txn!(self, tx => logins::clear_failed_logins(tx, key).await)
    }

    async fn device_login(
        &self,
        user: UserId,
        claim: Option<DeviceClaim>,
        max_devices: usize,
        now: Timestamp,
    ) -> Result<Result<DeviceLogin, ErrorCode>, StoreError> {
        txn!(self, tx => devices::device_login(tx, user, &claim, max_devices, now).await)
    }

    async fn devices(&self, user: UserId) -> Result<Vec<Device>, StoreError> {
        read!(self, c => devices::devices(c, user).await)
    }

    async fn device_seen(
        &self,
        user: UserId,
        device: DeviceId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        txn!(self, tx => devices::device_seen(tx, user, device, now).await)
    }

    async fn revoke_device(
        &self,
        user: UserId,
        device: DeviceId,
    ) -> Result<Result<(), ErrorCode>, StoreError> {
        txn!(self, tx => devices::revoke_device(tx, user, device).await)
    }

    async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
    ) -> Result<Option<User>, StoreError> {
        txn!(self, tx => accounts::create_user(tx, name, password_hash).await)
    }

    async fn account_by_name(&self, name: &str) -> Result<Option<Account>, StoreError> {
        read!(self, c => accounts::account_by_name(c, name).await)
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        read!(self, c => accounts::user_by_id(c, id).await)
    }

    async fn search_users(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        read!(self, c => accounts::search_users(c, prefix, after, limit).await)
    }

    async fn friend_op(
        &self,
        actor: &User,
        other: &User,
        action: FriendAction,
        max_pending: usize,
    ) -> Result<Result<FriendOutcome, ErrorCode>, StoreError> {
        if actor.id == other.id {
            return Ok(Err(ErrorCode::CannotBefriendSelf));
        }
        txn!(self, tx => friends::friend_op(tx, actor, other, &action, max_pending).await)
    }

    async fn link(&self, owner: UserId, other: UserId) -> Result<Link, StoreError> {
        read!(self, c => friends::link(c, owner.0, other.0).await)
    }

    async fn links(&self, owner: UserId) -> Result<Vec<(User, Link)>, StoreError> {
        read!(self, c => friends::links(c, owner, None, usize::MAX).await)
    }

    async fn links_page(
        &self,
        owner: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<(User, Link)>, StoreError> {
        read!(self, c => friends::links(c, owner, after, limit).await)
    }

    async fn append_direct(
        &self,
        msg: NewMessage,
    ) -> Result<Result<DirectSent, ErrorCode>, StoreError> {
        txn!(self, tx => chat::append_direct(tx, &msg).await)
    }

    async fn expire_send_records(
        &self,
        before: Timestamp,
        resume: Option<SweepCursor>,
        max: usize,
    ) -> Result<SendRecordSweep, StoreError> {
        let (expired, next) = txn!(self, tx => {
            chat::expire_send_records(tx, before, resume.as_ref(), max).await
        })?;
        Ok(SendRecordSweep { expired, next })
    }

    async fn stream(
        &self,
        user: UserId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StreamItem>, StoreError> {
        read!(self, c => stream::stream(c, user, after, limit).await)
    }

    async fn ack(&self, user: UserId, acks: Acks) -> Result<Vec<Receipt>, StoreError> {
        txn!(self, tx => stream::ack(tx, user, &acks).await)
    }

    async fn delivered_since(
        &self,
        sender: UserId,
        since: Timestamp,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        read!(self, c => stream::delivered_since(c, sender, since).await)
    }

    async fn mark_read(
        &self,
        reader: &User,
        conversation: Conversation,
        seq: u64,
    ) -> Result<Result<Vec<Notice>, ErrorCode>, StoreError> {
        txn!(self, tx => reads::mark_read(tx, reader, &conversation, seq).await)
    }

    async fn set_read_receipts(&self, user: UserId, on: bool) -> Result<(), StoreError> {
        txn!(self, tx => reads::set_read_receipts(tx, user, on).await)
    }

    async fn unread(&self, user: UserId) -> Result<Vec<Unread>, StoreError> {
        // Several statements: one snapshot for all of them.
        txn!(self, RepeatableRead, tx => reads::unread(tx, user).await)
    }

    async fn direct_history(
        &self,
        a: UserId,
        b: UserId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        read!(self, c => chat::history_page(c, direct(a.0, b.0), before_seq, limit).await)
    }

    async fn create_room(
        &self,
        owner: &User,
        name: &str,
        max_owned: usize,
    ) -> Result<Result<Room, ErrorCode>, StoreError> {
        txn!(self, tx => rooms::create_room(tx, owner, name, max_owned).await)
    }

    async fn room_by_name(&self, name: &str) -> Result<Option<Room>, StoreError> {
        read!(self, c => rooms::room_by_name(c, name).await)
    }

    async fn rooms(
        &self,
        viewer: UserId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RoomListing>, StoreError> {
        read!(self, c => rooms::rooms(c, viewer, after, limit).await)
    }

    async fn join_room(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Result<bool, ErrorCode>, StoreError> {
        txn!(self, tx => rooms::join_room(tx, room, user).await)
    }

    async fn leave_room(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        txn!(self, tx => rooms::leave_room(tx, room, user).await)
    }

    async fn delete_room(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        txn!(self, tx => rooms::delete_room(tx, room).await)
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        read!(self, c => rooms::is_member(c, room, user).await)
    }

    async fn room_members(&self, room: RoomId) -> Result<Vec<User>, StoreError> {
        read!(self, c => rooms::room_members(c, room, None, usize::MAX).await)
    }

    async fn room_members_page(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<User>, StoreError> {
        read!(self, c => rooms::room_members(c, room, after, limit).await)
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomPosition>, StoreError> {
        read!(self, c => rooms::rooms_of(c, user).await)
    }

    async fn append_room(
        &self,
        msg: NewRoomMessage,
    ) -> Result<Result<Appended, ErrorCode>, StoreError> {
        txn!(self, tx => rooms::append_room(tx, &msg).await)
    }

    async fn room_history(
        &self,
        room_id: RoomId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        read!(self, c => chat::history_page(c, room(room_id.0), before_seq, limit).await)
    }

    async fn create_file(
        &self,
        offer: NewFile,
        quota: FileQuota,
    ) -> Result<Result<FileRecord, ErrorCode>, StoreError> {
        txn!(self, tx => files::create_file(tx, &offer, quota).await)
    }

    async fn put_chunk(&self, file: ItemId, index: u64, bytes: Vec<u8>) -> Result<(), StoreError> {
        txn!(self, tx => files::put_chunk(tx, file, index, &bytes).await)
    }

    async fn complete_file(
        &self,
        file: ItemId,
        ts: Timestamp,
    ) -> Result<Option<Notice>, StoreError> {
        txn!(self, tx => files::complete_file(tx, file, ts).await)
    }

    async fn delete_file(&self, file: ItemId) -> Result<(), StoreError> {
        txn!(self, tx => files::delete_file(tx, file).await)
    }

    async fn file(&self, file: ItemId) -> Result<Option<FileRecord>, StoreError> {
        read!(self, c => files::file(c, file).await)
    }

    async fn incomplete_files(&self) -> Result<Vec<ItemId>, StoreError> {
        read!(self, c => files::incomplete_files(c).await)
    }

    async fn direct_files(
        &self,
        a: UserId,
        b: UserId,
        after: Option<ItemId>,
        limit: usize,
    ) -> Result<Vec<FileRecord>, StoreError> {
        read!(self, c => files::files_of(c, direct(a.0, b.0), after, limit).await)
    }

    async fn room_files(
        &self,
        room_id: RoomId,
        after: Option<ItemId>,
        limit: usize,
    ) -> Result<Vec<FileRecord>, StoreError> {
        read!(self, c => files::files_of(c, room(room_id.0), after, limit).await)
    }

    async fn chunk(&self, file: ItemId, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        read!(self, c => files::chunk(c, file, index).await)
    }
}
