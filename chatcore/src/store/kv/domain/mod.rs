//! The domain operations of [`Store`] as key-value transactions.
//!
//! Each method is one job of the group commit (writes) or one read on the blocking
//! pool; see [`keys`] for the layout. The [`Store`] implementation here only
//! chooses which, and the files named for each area hold the operations:
//! `users` (accounts and search), `devices`, `friends` (links and friend
//! requests), `chat` (1:1 messages and history), `stream` (what each user must
//! not miss, devices' positions in it, acks and receipts), `reads` (read marks
//! and unread counts), `rooms` and `files`.

mod chat;
mod devices;
mod files;
mod friends;
mod reads;
mod rooms;
mod stream;
mod users;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use super::keys::{self, Conv};
use super::records::{decode, Reader};
use super::{KvBackend, KvStore, View};
use crate::friends::{FriendAction, Link};
use crate::protocol::{DeviceClaim, DeviceId, ErrorCode, ItemId, Message, Timestamp, Unread};
use crate::store::{
    Account, Acks, Appended, Conversation, Device, DeviceLogin, DirectSent, FileQuota, FileRecord,
    FriendOutcome, NewFile, NewMessage, NewRoomMessage, Notice, Receipt, Room, RoomId, RoomListing,
    RoomPosition, SendRecordSweep, Store, StoreError, StoreHealth, StreamItem, SweepCursor, User,
    UserId,
};

/// Up to `limit` records with `start <= key < end`, decoded, with their keys.
fn scan_decode<B: KvBackend, T: DeserializeOwned>(
    backend: &View<'_, B>,
    (start, end): (Vec<u8>, Vec<u8>),
    reverse: bool,
    limit: usize,
) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
    backend
        .scan(&start, &end, reverse, limit)?
        .into_iter()
        .map(|(k, v)| {
            let value = decode(&k, &v)?;
            Ok((k, value))
        })
        .collect()
}

#[async_trait]
impl<B: KvBackend> Store for KvStore<B> {
    /// The writer queues a write at its first poll.
    fn writes_in_poll_order(&self) -> bool {
        true
    }

    fn health(&self) -> StoreHealth {
        match self.failure.get() {
            None => StoreHealth::Healthy,
            Some(failed) => StoreHealth::Failed(failed),
        }
    }

    /// The least free space of the log's and the backend's file systems, where
    /// known.
    fn free_space(&self) -> Option<u64> {
        let log = self
            .log_dir
            .as_deref()
            .and_then(crate::store::available_space);
        log.into_iter().chain(self.backend.free_space()).min()
    }

    async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
    ) -> Result<Option<User>, StoreError> {
        let name = name.to_owned();
        let password_hash = password_hash.to_owned();
        self.write(move |txn| users::create_user(txn, name, password_hash))
            .await
    }

    async fn device_login(
        &self,
        user: UserId,
        claim: Option<DeviceClaim>,
        max_devices: usize,
        now: Timestamp,
    ) -> Result<Result<DeviceLogin, ErrorCode>, StoreError> {
        self.write(move |txn| devices::device_login(txn, user, claim, max_devices, now))
            .await
    }

    async fn devices(&self, user: UserId) -> Result<Vec<Device>, StoreError> {
        self.read(move |b| devices::devices(b, user)).await
    }

    async fn device_seen(
        &self,
        user: UserId,
        device: DeviceId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(move |txn| devices::device_seen(txn, user, device, now))
            .await
    }

    async fn revoke_device(
        &self,
        user: UserId,
        device: DeviceId,
    ) -> Result<Result<(), ErrorCode>, StoreError> {
        self.write(move |txn| devices::revoke_device(txn, user, device))
            .await
    }

    async fn account_by_name(&self, name: &str) -> Result<Option<Account>, StoreError> {
        let name_key = keys::name(&name.to_lowercase());
        self.read(move |b| users::account_by_name(b, &name_key))
            .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.read(move |b| b.user(id)).await
    }

    async fn search_users(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let prefix = prefix.to_lowercase();
        let after = after.map(str::to_lowercase);
        self.read(move |b| users::search_users(b, &prefix, after.as_deref(), limit))
            .await
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
        let (actor, other) = (actor.clone(), other.clone());
        self.write(move |txn| friends::friend_op(txn, &actor, &other, action, max_pending))
            .await
    }

    async fn link(&self, owner: UserId, other: UserId) -> Result<Link, StoreError> {
        self.read(move |b| Ok(b.record(&keys::link(owner, other))?.unwrap_or_default()))
            .await
    }

    async fn links(&self, owner: UserId) -> Result<Vec<(User, Link)>, StoreError> {
        self.read(move |b| friends::links(b, owner, None, usize::MAX))
            .await
    }

    async fn links_page(
        &self,
        owner: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<(User, Link)>, StoreError> {
        self.read(move |b| friends::links(b, owner, after, limit))
            .await
    }

    async fn append_direct(
        &self,
        msg: NewMessage,
    ) -> Result<Result<DirectSent, ErrorCode>, StoreError> {
        self.write(move |txn| chat::append_direct(txn, msg)).await
    }

    async fn expire_send_records(
        &self,
        before: Timestamp,
        resume: Option<SweepCursor>,
        max: usize,
    ) -> Result<SendRecordSweep, StoreError> {
        let resume = resume.map(|cursor| cursor.0);
        let (doomed, next) = self
            .read(move |b| chat::send_records_to_expire(b, before, resume, max))
            .await?;
        let expired = doomed.len();
        if expired > 0 {
            // A record, once written, stays until it is deleted: what the look
            // found expired is still there, and still expired.
            self.write(move |txn| {
                doomed.into_iter().for_each(|key| txn.delete(key));
                Ok(())
            })
            .await?;
        }
        Ok(SendRecordSweep {
            expired,
            next: next.map(SweepCursor),
        })
    }

    async fn stream(
        &self,
        user: UserId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StreamItem>, StoreError> {
        self.read(move |b| stream::stream(b, user, after, limit))
            .await
    }

    async fn ack(&self, user: UserId, acks: Acks) -> Result<Vec<Receipt>, StoreError> {
        self.write(move |txn| stream::ack(txn, user, acks)).await
    }

    async fn delivered_since(
        &self,
        sender: UserId,
        since: Timestamp,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.read(move |b| stream::delivered_since(b, sender, since))
            .await
    }

    async fn mark_read(
        &self,
        reader: &User,
        conversation: Conversation,
        seq: u64,
    ) -> Result<Result<Vec<Notice>, ErrorCode>, StoreError> {
        let reader = reader.clone();
        self.write(move |txn| reads::mark_read(txn, &reader, conversation, seq))
            .await
    }

    async fn set_read_receipts(&self, user: UserId, on: bool) -> Result<(), StoreError> {
        self.write(move |txn| reads::set_read_receipts(txn, user, on))
            .await
    }

    async fn unread(&self, user: UserId) -> Result<Vec<Unread>, StoreError> {
        self.read(move |b| reads::unread(b, user)).await
    }

    async fn direct_history(
        &self,
        a: UserId,
        b: UserId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.read(move |backend| chat::history_page(backend, Conv::direct(a, b), before_seq, limit))
            .await
    }

    async fn create_room(
        &self,
        owner: &User,
        name: &str,
        max_owned: usize,
    ) -> Result<Result<Room, ErrorCode>, StoreError> {
        let (owner, name) = (owner.id, name.to_owned());
        self.write(move |txn| rooms::create_room(txn, owner, name, max_owned))
            .await
    }

    async fn room_by_name(&self, name: &str) -> Result<Option<Room>, StoreError> {
        let name_key = keys::room_name(&name.to_lowercase());
        self.read(move |b| rooms::room_by_name(b, &name_key)).await
    }

    async fn rooms(
        &self,
        viewer: UserId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RoomListing>, StoreError> {
        let after = after.map(str::to_lowercase);
        self.read(move |b| rooms::rooms(b, viewer, after.as_deref(), limit))
            .await
    }

    async fn join_room(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Result<bool, ErrorCode>, StoreError> {
        self.write(move |txn| rooms::join_room(txn, room, user))
            .await
    }

    async fn leave_room(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        self.write(move |txn| rooms::leave_room(txn, room, user))
            .await
    }

    async fn delete_room(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        self.write(move |txn| rooms::delete_room(txn, room)).await
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        self.read(move |b| Ok(b.raw(&keys::member(room, user))?.is_some()))
            .await
    }

    async fn room_members(&self, room: RoomId) -> Result<Vec<User>, StoreError> {
        self.read(move |b| rooms::room_members(b, room, None, usize::MAX))
            .await
    }

    async fn room_members_page(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<User>, StoreError> {
        self.read(move |b| rooms::room_members(b, room, after, limit))
            .await
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomPosition>, StoreError> {
        self.read(move |b| rooms::rooms_of(b, user)).await
    }

    async fn append_room(
        &self,
        msg: NewRoomMessage,
    ) -> Result<Result<Appended, ErrorCode>, StoreError> {
        self.write(move |txn| rooms::append_room(txn, msg)).await
    }

    async fn room_history(
        &self,
        room: RoomId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.read(move |b| chat::history_page(b, Conv::Room(room), before_seq, limit))
            .await
    }

    async fn create_file(
        &self,
        offer: NewFile,
        quota: FileQuota,
    ) -> Result<Result<FileRecord, ErrorCode>, StoreError> {
        self.write(move |txn| files::create_file(txn, offer, quota))
            .await
    }

    async fn put_chunk(&self, file: ItemId, index: u64, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.write(move |txn| files::put_chunk(txn, file, index, bytes))
            .await
    }

    async fn complete_file(
        &self,
        file: ItemId,
        ts: Timestamp,
    ) -> Result<Option<Notice>, StoreError> {
        self.write(move |txn| files::complete_file(txn, file, ts))
            .await
    }

    async fn delete_file(&self, file: ItemId) -> Result<(), StoreError> {
        self.write(move |txn| files::delete_file(txn, file)).await
    }

    async fn file(&self, file: ItemId) -> Result<Option<FileRecord>, StoreError> {
        self.read(move |b| b.record(&keys::file(file))).await
    }

    async fn incomplete_files(&self) -> Result<Vec<ItemId>, StoreError> {
        self.read(files::incomplete_files).await
    }

    async fn direct_files(
        &self,
        a: UserId,
        b: UserId,
        after: Option<ItemId>,
        limit: usize,
    ) -> Result<Vec<FileRecord>, StoreError> {
        self.read(move |backend| files::files_of(backend, Conv::direct(a, b), after, limit))
            .await
    }

    async fn room_files(
        &self,
        room: RoomId,
        after: Option<ItemId>,
        limit: usize,
    ) -> Result<Vec<FileRecord>, StoreError> {
        self.read(move |b| files::files_of(b, Conv::Room(room), after, limit))
            .await
    }

    async fn chunk(&self, file: ItemId, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(move |b| b.raw(&keys::chunk(file, index))).await
    }
}
