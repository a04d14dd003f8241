//! The domain operations of [`Store`] as key-value transactions.
//!
//! Each method is one job of the group commit (writes) or one read on the blocking
//! pool; see [`keys`] for the layout.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use super::keys::{self, Conv};
use super::records::{
    decode, decode_u64, room_from, user_from, InboxRecord, Reader, RoomRecord, UserRecord,
};
use super::{KvBackend, KvStore, Txn, View};
use crate::friends::{transition, FriendAction, Link, NoticeKind, Side};
use crate::protocol::{ErrorCode, Event, ItemId, Message, Peer, Timestamp};
use crate::store::{
    Account, Appended, Deliver, FileRecord, FileTarget, FriendOutcome, NewFile, NewMessage,
    NewRoomMessage, Notice, Room, RoomId, RoomPosition, SendReceipt, Store, StoreError, User,
    UserId,
};

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

/// A page of a conversation's history, newest first.
fn history_page<B: KvBackend>(
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

fn conv_of(target: &FileTarget, from: UserId) -> Conv {
    match target {
        FileTarget::User(to) => Conv::direct(from, to.id),
        FileTarget::Room(room) => Conv::Room(room.id),
    }
}

fn files_of<B: KvBackend>(
    backend: &View<'_, B>,
    conv: Conv,
) -> Result<Vec<FileRecord>, StoreError> {
    let mut files = Vec::new();
    let (start, end) = keys::conv_files(conv);
    for (key, _) in backend.scan(&start, &end, false, usize::MAX)? {
        if let Some(file) = backend.record::<FileRecord>(&keys::file(keys::last_u64(&key)))? {
            if file.complete {
                files.push(file);
            }
        }
    }
    Ok(files)
}

/// What an acked id names.
enum Acked {
    /// An inbox item: its key and record.
    Inbox(Vec<u8>, InboxRecord),
    /// A room message: its room and seq.
    RoomMessage(RoomId, u64),
}

impl Txn<'_> {
    fn link(&self, owner: UserId, other: UserId) -> Result<Link, StoreError> {
        Ok(self.record(&keys::link(owner, other))?.unwrap_or_default())
    }

    fn set_link(
        &mut self,
        owner: UserId,
        other: UserId,
        old: &Link,
        new: &Link,
    ) -> Result<(), StoreError> {
        let key = keys::link(owner, other);
        if new.is_none() {
            self.delete(key);
        } else {
            self.put(key, new);
        }
        let delta = new.is_outgoing() as i64 - old.is_outgoing() as i64;
        if delta != 0 {
            let pkey = keys::pending(owner);
            let count = self.counter(&pkey)?;
            self.put_u64(pkey, count.saturating_add_signed(delta));
        }
        Ok(())
    }

    /// Puts an event into an inbox, giving it a fresh id.
    fn push_inbox(
        &mut self,
        recipient: UserId,
        make: impl FnOnce(ItemId) -> Event,
    ) -> Result<Notice, StoreError> {
        let id = self.next_id()?;
        self.put_inbox(recipient, id, make(id), true)
    }

    /// Puts an event into an inbox. `new_id`: this job allocated `id` (so the
    /// entry is new, and an ack before the next checkpoint leaves no trace in the
    /// backend).
    fn put_inbox(
        &mut self,
        recipient: UserId,
        id: ItemId,
        event: Event,
        new_id: bool,
    ) -> Result<Notice, StoreError> {
        let key = keys::inbox(recipient, id);
        let record = InboxRecord::Event(event);
        if new_id {
            self.put_created(key, &record);
        } else {
            self.put(key, &record);
        }
        let InboxRecord::Event(event) = record else {
            unreachable!("built above")
        };
        Ok(Notice { recipient, event })
    }

    /// What `user` acks with `id`: an item of their inbox or a room message
    /// (their ids never coincide), looked up first as a room message if
    /// `room_first`. The ids of one ack are mostly of one kind (a busy room's
    /// messages, or inbox items), so the caller passes what the id before was: a
    /// lookup that misses goes down to the backend.
    fn acked(
        &self,
        user: UserId,
        id: ItemId,
        room_first: bool,
    ) -> Result<Option<Acked>, StoreError> {
        let inbox = || {
            let key = keys::inbox(user, id);
            let record = self.record::<InboxRecord>(&key)?;
            Ok::<_, StoreError>(record.map(|record| Acked::Inbox(key, record)))
        };
        let room = || {
            let found = self.record::<(RoomId, u64)>(&keys::room_msg_index(id))?;
            Ok::<_, StoreError>(found.map(|(room, seq)| Acked::RoomMessage(room, seq)))
        };
        if room_first {
            room()?.map_or_else(inbox, |found| Ok(Some(found)))
        } else {
            inbox()?.map_or_else(room, |found| Ok(Some(found)))
        }
    }

    /// Appends `body` to a conversation unless the sender used `client_msg_id`
    /// before: returns the new message (id, seq assigned), or the first receipt.
    fn append(
        &mut self,
        conv: Conv,
        from: &User,
        to: Peer,
        client_msg_id: u64,
        body: crate::protocol::Body,
        ts: Timestamp,
    ) -> Result<Appended, StoreError> {
        let idem_key = keys::idempotency(from.id, client_msg_id);
        if let Some(receipt) = self.record::<SendReceipt>(&idem_key)? {
            return Ok(Appended::Duplicate(receipt));
        }
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
        self.put_created(idem_key, &SendReceipt { id, seq, ts });
        Ok(Appended::New(message))
    }

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

    fn delete_file_record(&mut self, file: &FileRecord) {
        for index in 0..file.size.div_ceil(u64::from(file.chunk_size.max(1))) {
            self.delete(keys::chunk(file.id, index));
        }
        self.delete(keys::conv_file(conv_of(&file.to, file.from.id), file.id));
        self.delete(keys::file(file.id));
    }
}

#[async_trait]
impl<B: KvBackend> Store for KvStore<B> {
    async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
    ) -> Result<Option<User>, StoreError> {
        let name = name.to_owned();
        let password_hash = password_hash.to_owned();
        self.write(move |txn| {
            let name_key = keys::name(&name.to_lowercase());
            if txn.raw(&name_key)?.is_some() {
                return Ok(None);
            }
            let id = UserId(txn.next_id()?);
            txn.put_u64(name_key, id.0);
            let record = UserRecord {
                name: name.clone(),
                password_hash,
            };
            txn.put(keys::user(id), &record);
            Ok(Some(User { id, name }))
        })
        .await
    }

    async fn account_by_name(&self, name: &str) -> Result<Option<Account>, StoreError> {
        let name_key = keys::name(&name.to_lowercase());
        self.read(move |b| {
            let Some(raw) = b.raw(&name_key)? else {
                return Ok(None);
            };
            let id = UserId(decode_u64(&name_key, &raw)?);
            let key = keys::user(id);
            let Some(record) = b.record::<UserRecord>(&key)? else {
                return Err(StoreError::Corrupt {
                    key: format!("{key:?}"),
                    reason: "name index points to a missing user".into(),
                });
            };
            Ok(Some(Account {
                password_hash: record.password_hash.clone(),
                user: user_from(id, record),
            }))
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.read(move |b| b.user(id)).await
    }

    async fn search_users(&self, query: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let query = query.to_lowercase();
        self.read(move |b| {
            // The name index is in lowercase order; a substring match must look at
            // every name. Fine for the user counts of an embedded server.
            let mut found = Vec::new();
            for (key, raw) in b.scan(b"n", b"o", false, usize::MAX)? {
                if found.len() >= limit {
                    break;
                }
                let lower = std::str::from_utf8(&key[1..]).unwrap_or_default();
                if lower.contains(&query) {
                    if let Some(user) = b.user(UserId(decode_u64(&key, &raw)?))? {
                        found.push(user.name);
                    }
                }
            }
            Ok(found)
        })
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
        self.write(move |txn| {
            let a_old = txn.link(actor.id, other.id)?;
            let o_old = txn.link(other.id, actor.id)?;
            let pending = txn.counter(&keys::pending(actor.id))? as usize;
            let t = match transition(&a_old, &o_old, &action, pending, max_pending) {
                Ok(t) => t,
                Err(code) => return Ok(Err(code)),
            };
            txn.set_link(actor.id, other.id, &a_old, &t.actor)?;
            txn.set_link(other.id, actor.id, &o_old, &t.other)?;
            let mut notices = Vec::with_capacity(t.notices.len());
            for (side, kind) in t.notices {
                // A notice goes to one side and names the other.
                let (to, about) = match side {
                    Side::Actor => (&actor, &other),
                    Side::Other => (&other, &actor),
                };
                let user = about.name.clone();
                notices.push(txn.push_inbox(to.id, |id| match kind {
                    NoticeKind::Requested { note } => Event::FriendRequested {
                        id,
                        from: user,
                        note,
                    },
                    NoticeKind::Added => Event::FriendAdded { id, user },
                    NoticeKind::Rejected => Event::FriendRejected { id, user },
                    NoticeKind::Removed => Event::FriendRemoved { id, user },
                })?);
            }
            Ok(Ok(FriendOutcome {
                link: t.actor,
                other_link: t.other,
                notices,
            }))
        })
        .await
    }

    async fn link(&self, owner: UserId, other: UserId) -> Result<Link, StoreError> {
        self.read(move |b| Ok(b.record(&keys::link(owner, other))?.unwrap_or_default()))
            .await
    }

    async fn links(&self, owner: UserId) -> Result<Vec<(User, Link)>, StoreError> {
        self.read(move |b| {
            let mut out = Vec::new();
            for (key, link) in scan_decode::<B, Link>(b, keys::links_of(owner), false, usize::MAX)?
            {
                if let Some(user) = b.user(UserId(keys::last_u64(&key)))? {
                    out.push((user, link));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn append_direct(&self, msg: NewMessage) -> Result<Appended, StoreError> {
        self.write(move |txn| {
            let conv = Conv::direct(msg.from.id, msg.to.id);
            let to = Peer::User(msg.to.name.clone());
            let appended = txn.append(conv, &msg.from, to, msg.client_msg_id, msg.body, msg.ts)?;
            if let Appended::New(message) = &appended {
                // The inbox points into the history rather than holding a copy.
                let record = InboxRecord::Message {
                    sender: msg.from.id,
                    seq: message.seq,
                };
                txn.put_created(keys::inbox(msg.to.id, message.id), &record);
            }
            Ok(appended)
        })
        .await
    }

    async fn inbox(
        &self,
        user: UserId,
        after: Option<ItemId>,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.read(move |b| {
            let start = keys::inbox(user, after.map_or(0, |a| a.saturating_add(1)));
            let (_, end) = keys::inbox_of(user);
            scan_decode::<B, InboxRecord>(b, (start, end), false, limit)?
                .into_iter()
                .map(|(key, record)| match record {
                    InboxRecord::Event(event) | InboxRecord::FromUser(_, event) => Ok(event),
                    InboxRecord::Message { sender, seq } => {
                        let at = keys::msg(Conv::direct(sender, user), seq);
                        match b.record::<Message>(&at)? {
                            Some(message) => Ok(Event::Message(message)),
                            None => Err(StoreError::Corrupt {
                                key: format!("{key:?}"),
                                reason: "inbox item points to a missing message".into(),
                            }),
                        }
                    }
                })
                .collect()
        })
        .await
    }

    async fn ack(&self, user: UserId, ids: &[ItemId]) -> Result<Vec<Notice>, StoreError> {
        let ids = ids.to_vec();
        self.write(move |txn| {
            let mut receipts: HashMap<UserId, Vec<ItemId>> = HashMap::new();
            // First-seen order, for stable output.
            let mut senders = Vec::new();
            // The highest room message acked per room: a batch moves each read
            // position once, however many of the room's messages it acks.
            let mut read_to: Vec<(RoomId, u64)> = Vec::new();
            let mut room_first = false;
            for id in ids {
                match txn.acked(user, id, room_first)? {
                    Some(Acked::Inbox(key, record)) => {
                        room_first = false;
                        txn.delete(key);
                        if let Some(sender) = record.receipt_to() {
                            let list = receipts.entry(sender).or_default();
                            if list.is_empty() {
                                senders.push(sender);
                            }
                            list.push(id);
                        }
                    }
                    // A room message moves the member's read position instead.
                    Some(Acked::RoomMessage(room, seq)) => {
                        room_first = true;
                        match read_to.iter_mut().find(|(r, _)| *r == room) {
                            Some((_, highest)) => *highest = (*highest).max(seq),
                            None => read_to.push((room, seq)),
                        }
                    }
                    None => {}
                }
            }
            for (room, seq) in read_to {
                let member = keys::member(room, user);
                // Only a member has a read position (one who left acks in vain).
                if let Some(raw) = txn.raw(&member)? {
                    if decode_u64(&member, &raw)? < seq {
                        txn.put_u64(member, seq);
                    }
                }
            }
            let mut notices = Vec::with_capacity(senders.len());
            for sender in senders {
                let ids = receipts.remove(&sender).unwrap_or_default();
                notices.push(txn.push_inbox(sender, |id| Event::Delivered { id, ids })?);
            }
            Ok(notices)
        })
        .await
    }

    async fn direct_history(
        &self,
        a: UserId,
        b: UserId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.read(move |backend| history_page(backend, Conv::direct(a, b), before_seq, limit))
            .await
    }

    async fn create_room(&self, owner: &User, name: &str) -> Result<Option<Room>, StoreError> {
        let (owner, name) = (owner.id, name.to_owned());
        self.write(move |txn| {
            let name_key = keys::room_name(&name.to_lowercase());
            if txn.raw(&name_key)?.is_some() {
                return Ok(None);
            }
            let id = RoomId(txn.next_id()?);
            txn.put_u64(name_key, id.0);
            let record = RoomRecord {
                name: name.clone(),
                owner,
            };
            txn.put(keys::room(id), &record);
            txn.put_u64(keys::member(id, owner), 0);
            txn.put(keys::membership(owner, id), &());
            Ok(Some(room_from(id, record)))
        })
        .await
    }

    async fn room_by_name(&self, name: &str) -> Result<Option<Room>, StoreError> {
        let name_key = keys::room_name(&name.to_lowercase());
        self.read(move |b| match b.raw(&name_key)? {
            Some(raw) => b.room(RoomId(decode_u64(&name_key, &raw)?)),
            None => Ok(None),
        })
        .await
    }

    async fn rooms(&self) -> Result<Vec<(Room, u32)>, StoreError> {
        self.read(|b| {
            let (start, end) = keys::ROOMS;
            let mut rooms = Vec::new();
            for (key, record) in
                scan_decode::<B, RoomRecord>(b, (start.into(), end.into()), false, usize::MAX)?
            {
                let id = RoomId(keys::last_u64(&key));
                let (start, end) = keys::members_of(id);
                let members = b.scan(&start, &end, false, usize::MAX)?.len() as u32;
                rooms.push((room_from(id, record), members));
            }
            Ok(rooms)
        })
        .await
    }

    async fn join_room(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        self.write(move |txn| {
            let member = keys::member(room, user);
            if txn.raw(&member)?.is_some() || txn.raw(&keys::room(room))?.is_none() {
                return Ok(false);
            }
            let last = txn.counter(&keys::last_seq(Conv::Room(room)))?;
            txn.put_u64(member, last);
            txn.put(keys::membership(user, room), &());
            Ok(true)
        })
        .await
    }

    async fn leave_room(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        self.write(move |txn| {
            let member = keys::member(room, user);
            if txn.raw(&member)?.is_none() {
                return Ok(false);
            }
            txn.delete(member);
            txn.delete(keys::membership(user, room));
            Ok(true)
        })
        .await
    }

    async fn delete_room(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        self.write(move |txn| {
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
                    txn.delete_file_record(&file);
                }
            }
            txn.delete(keys::last_seq(conv));
            txn.delete(keys::room_name(&record.name.to_lowercase()));
            txn.delete(keys::room(room));
            Ok(members)
        })
        .await
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        self.read(move |b| Ok(b.raw(&keys::member(room, user))?.is_some()))
            .await
    }

    async fn room_members(&self, room: RoomId) -> Result<Vec<User>, StoreError> {
        self.read(move |b| {
            let (start, end) = keys::members_of(room);
            let mut users = Vec::new();
            for (key, _) in b.scan(&start, &end, false, usize::MAX)? {
                if let Some(user) = b.user(UserId(keys::last_u64(&key)))? {
                    users.push(user);
                }
            }
            Ok(users)
        })
        .await
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomPosition>, StoreError> {
        self.read(move |b| {
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
        })
        .await
    }

    async fn append_room(
        &self,
        msg: NewRoomMessage,
        deliver: Deliver,
    ) -> Result<Result<Appended, ErrorCode>, StoreError> {
        let write = move |txn: &mut Txn<'_>| {
            let room = msg.room.id;
            if txn.raw(&keys::room(room))?.is_none() {
                return Ok(Err(ErrorCode::NoSuchRoom));
            }
            if txn.raw(&keys::member(room, msg.from.id))?.is_none() {
                return Ok(Err(ErrorCode::NotRoomMember));
            }
            let to = Peer::Room(msg.room.name.clone());
            let conv = Conv::Room(room);
            let appended = txn.append(conv, &msg.from, to, msg.client_msg_id, msg.body, msg.ts)?;
            if let Appended::New(message) = &appended {
                txn.put(keys::room_msg_index(message.id), &(room, message.seq));
            }
            Ok(Ok(appended))
        };
        // The writer thread runs completions in commit order, which is seq order.
        let committed = move |appended: &Result<Appended, ErrorCode>| {
            if let Ok(Appended::New(message)) = appended {
                deliver(message);
            }
        };
        self.write_then(write, committed).await
    }

    async fn room_history(
        &self,
        room: RoomId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.read(move |b| history_page(b, Conv::Room(room), before_seq, limit))
            .await
    }

    async fn create_file(&self, offer: NewFile) -> Result<FileRecord, StoreError> {
        self.write(move |txn| {
            let record = FileRecord {
                id: txn.next_id()?,
                from: offer.from,
                to: offer.to,
                name: offer.name,
                size: offer.size,
                sha256: offer.sha256,
                chunk_size: offer.chunk_size,
                received: 0,
                complete: false,
                ts: offer.ts,
            };
            txn.put(keys::file(record.id), &record);
            Ok(record)
        })
        .await
    }

    async fn put_chunk(&self, file: ItemId, index: u64, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.write(move |txn| {
            let key = keys::file(file);
            let Some(mut record) = txn.record::<FileRecord>(&key)? else {
                return Err(StoreError::Corrupt {
                    key: format!("{key:?}"),
                    reason: "chunk for a missing file".into(),
                });
            };
            record.received += bytes.len() as u64;
            txn.put(key, &record);
            txn.put_raw(keys::chunk(file, index), bytes);
            Ok(())
        })
        .await
    }

    async fn complete_file(
        &self,
        file: ItemId,
        ts: Timestamp,
    ) -> Result<Option<Notice>, StoreError> {
        self.write(move |txn| {
            let key = keys::file(file);
            let Some(mut record) = txn.record::<FileRecord>(&key)? else {
                return Ok(None);
            };
            record.complete = true;
            record.ts = ts;
            txn.put(key, &record);
            txn.put(
                keys::conv_file(conv_of(&record.to, record.from.id), file),
                &(),
            );
            let FileTarget::User(to) = &record.to else {
                return Ok(None);
            };
            let event = Event::FileShared {
                id: record.id,
                from: record.from.name.clone(),
                to: Peer::User(to.name.clone()),
                name: record.name.clone(),
                size: record.size,
            };
            txn.put_inbox(to.id, record.id, event, false).map(Some)
        })
        .await
    }

    async fn delete_file(&self, file: ItemId) -> Result<(), StoreError> {
        self.write(move |txn| {
            if let Some(record) = txn.record::<FileRecord>(&keys::file(file))? {
                txn.delete_file_record(&record);
            }
            Ok(())
        })
        .await
    }

    async fn file(&self, file: ItemId) -> Result<Option<FileRecord>, StoreError> {
        self.read(move |b| b.record(&keys::file(file))).await
    }

    async fn incomplete_files(&self) -> Result<Vec<ItemId>, StoreError> {
        self.read(|b| {
            let (start, end) = keys::FILES;
            Ok(
                scan_decode::<B, FileRecord>(b, (start.into(), end.into()), false, usize::MAX)?
                    .into_iter()
                    .filter(|(_, f)| !f.complete)
                    .map(|(_, f)| f.id)
                    .collect(),
            )
        })
        .await
    }

    async fn direct_files(&self, a: UserId, b: UserId) -> Result<Vec<FileRecord>, StoreError> {
        self.read(move |backend| files_of(backend, Conv::direct(a, b)))
            .await
    }

    async fn room_files(&self, room: RoomId) -> Result<Vec<FileRecord>, StoreError> {
        self.read(move |b| files_of(b, Conv::Room(room))).await
    }

    async fn chunk(&self, file: ItemId, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(move |b| b.raw(&keys::chunk(file, index))).await
    }
}
