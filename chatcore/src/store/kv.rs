//! [`KvStore`]: the domain logic of [`Store`] over any ordered key-value
//! [`KvBackend`], with group commit on a dedicated writer thread.
//!
//! # Group commit
//!
//! Every mutating call becomes a job for the one writer thread. The thread takes all
//! jobs that queued while it was committing, runs each against an overlay of the
//! writes before it (so later jobs see earlier ones), commits the union as one
//! atomic, durable batch, and only then answers each caller. One fsync covers every
//! write that arrived during the previous one. A job that fails leaves no writes.
//!
//! # Key layout
//!
//! All integers are big-endian so that ranges scan in numeric order.
//!
//! | key | value |
//! |---|---|
//! | `m` `version` | format version (u32 BE) |
//! | `m` `next_id` | next user/item id |
//! | `u` user | [`UserRecord`] |
//! | `n` lowercase name | user id |
//! | `l` owner other | [`Link`] |
//! | `p` owner | open outgoing request count |
//! | `h` `d` low high seq | [`Message`] of a 1:1 conversation |
//! | `s` `d` low high | last seq of that conversation |
//! | `i` user item | [`InboxRecord`] |
//! | `k` sender client_msg_id | [`SendReceipt`] (idempotency) |

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{
    Account, Appended, FriendOutcome, NewMessage, Notice, SendReceipt, Store, StoreError, User,
    UserId,
};
use crate::friends::{transition, FriendAction, Link, NoticeKind, Side};
use crate::protocol::{ErrorCode, Event, ItemId, Message, Peer};

/// The format version of the key layout, stored in every database.
pub const FORMAT_VERSION: u32 = 1;

/// Key-value pairs as a scan returns them.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Writes to apply atomically: key -> new value, or `None` to delete.
pub type WriteBatch = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// An ordered byte-key store that can commit a batch atomically and durably.
///
/// This is all a backend implements to get the whole [`Store`] (via [`KvStore`]).
/// Methods are synchronous: [`KvStore`] calls them off the async workers.
pub trait KvBackend: Send + Sync + 'static {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` entries with `start <= key < end`, ascending (or descending if
    /// `reverse`).
    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Entries, StoreError>;

    /// Applies every write atomically. Must not return `Ok` before the batch is
    /// durable.
    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError>;
}

/// Stored form of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Name as registered.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// Stored form of an inbox item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxRecord {
    /// For messages: the sender, who gets a `Delivered` receipt on ack.
    pub sender: Option<UserId>,
    /// The event as delivered.
    pub event: Event,
}

mod keys {
    use super::UserId;

    pub const VERSION: &[u8] = b"mversion";
    pub const NEXT_ID: &[u8] = b"mnext_id";

    fn with(prefix: u8, parts: &[u64]) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + 8 * parts.len());
        k.push(prefix);
        for p in parts {
            k.extend_from_slice(&p.to_be_bytes());
        }
        k
    }

    pub fn user(id: UserId) -> Vec<u8> {
        with(b'u', &[id.0])
    }
    pub fn name(lowercase: &str) -> Vec<u8> {
        let mut k = vec![b'n'];
        k.extend_from_slice(lowercase.as_bytes());
        k
    }
    pub fn link(owner: UserId, other: UserId) -> Vec<u8> {
        with(b'l', &[owner.0, other.0])
    }
    pub fn links_of(owner: UserId) -> (Vec<u8>, Vec<u8>) {
        (with(b'l', &[owner.0]), with(b'l', &[owner.0 + 1]))
    }
    pub fn pending(owner: UserId) -> Vec<u8> {
        with(b'p', &[owner.0])
    }
    fn pair(a: UserId, b: UserId) -> [u64; 2] {
        [a.0.min(b.0), a.0.max(b.0)]
    }
    pub fn direct_msg(a: UserId, b: UserId, seq: u64) -> Vec<u8> {
        let [lo, hi] = pair(a, b);
        let mut k = with(b'h', &[lo, hi, seq]);
        k.insert(1, b'd');
        k
    }
    pub fn direct_seq(a: UserId, b: UserId) -> Vec<u8> {
        let mut k = with(b's', &pair(a, b));
        k.insert(1, b'd');
        k
    }
    pub fn inbox(user: UserId, item: u64) -> Vec<u8> {
        with(b'i', &[user.0, item])
    }
    pub fn idempotency(sender: UserId, client_msg_id: u64) -> Vec<u8> {
        with(b'k', &[sender.0, client_msg_id])
    }
    pub fn last_u64(key: &[u8]) -> u64 {
        let tail: [u8; 8] = key[key.len() - 8..]
            .try_into()
            .expect("key ends with a u64");
        u64::from_be_bytes(tail)
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("records always serialize")
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("{key:?}"),
        reason: e.to_string(),
    })
}

fn decode_u64(key: &[u8], bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        key: format!("{key:?}"),
        reason: "expected 8 bytes".into(),
    })?;
    Ok(u64::from_be_bytes(arr))
}

/// A write transaction as a job sees it: reads see the committed state overlaid with
/// the writes of earlier jobs of the same group and its own.
struct Txn<'a, B> {
    backend: &'a B,
    group: &'a WriteBatch,
    own: WriteBatch,
}

impl<B: KvBackend> Txn<'_, B> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.own.get(key).or_else(|| self.group.get(key)) {
            return Ok(v.clone());
        }
        self.backend.get(key)
    }
    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.get_raw(key)?.map(|v| decode(key, &v)).transpose()
    }
    fn get_u64(&self, key: &[u8]) -> Result<u64, StoreError> {
        Ok(match self.get_raw(key)? {
            Some(v) => decode_u64(key, &v)?,
            None => 0,
        })
    }
    fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.own.insert(key, Some(encode(value)));
    }
    fn put_u64(&mut self, key: Vec<u8>, value: u64) {
        self.own.insert(key, Some(value.to_be_bytes().to_vec()));
    }
    fn delete(&mut self, key: Vec<u8>) {
        self.own.insert(key, None);
    }
    fn next_id(&mut self) -> Result<u64, StoreError> {
        let id = self.get_u64(keys::NEXT_ID)?.max(1);
        self.put_u64(keys::NEXT_ID.to_vec(), id + 1);
        Ok(id)
    }
    fn link(&self, owner: UserId, other: UserId) -> Result<Link, StoreError> {
        Ok(self.get(&keys::link(owner, other))?.unwrap_or_default())
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
            let count = self.get_u64(&pkey)?;
            self.put_u64(pkey, count.saturating_add_signed(delta));
        }
        Ok(())
    }
    /// Puts an inbox record, giving its event a fresh id.
    fn push_inbox(
        &mut self,
        recipient: UserId,
        sender: Option<UserId>,
        make: impl FnOnce(ItemId) -> Event,
    ) -> Result<Notice, StoreError> {
        let id = self.next_id()?;
        let event = make(id);
        self.put(
            keys::inbox(recipient, id),
            &InboxRecord {
                sender,
                event: event.clone(),
            },
        );
        Ok(Notice { recipient, event })
    }
}

type Completion = Box<dyn FnOnce(Option<&StoreError>) + Send>;
type Job<B> = Box<dyn FnOnce(&mut Txn<'_, B>) -> Completion + Send>;

/// Most jobs folded into one commit; bounds the latency one commit adds.
const MAX_GROUP: usize = 4096;

/// The domain-level [`Store`] over a [`KvBackend`], with group commit.
///
/// Reads run on tokio's blocking pool; writes on one dedicated writer thread.
pub struct KvStore<B: KvBackend> {
    backend: Arc<B>,
    jobs: Mutex<Option<mpsc::Sender<Job<B>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl<B: KvBackend> std::fmt::Debug for KvStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvStore").finish_non_exhaustive()
    }
}

impl<B: KvBackend> KvStore<B> {
    /// Wraps `backend`: checks (or, for an empty database, writes) the format
    /// version and starts the writer thread.
    pub fn open(backend: B) -> Result<Self, StoreError> {
        match backend.get(keys::VERSION)? {
            Some(v) => {
                let found = match <[u8; 4]>::try_from(v.as_slice()) {
                    Ok(b) => u32::from_be_bytes(b),
                    Err(_) => return Err(StoreError::NotADatabase("bad version record".into())),
                };
                if found != FORMAT_VERSION {
                    return Err(StoreError::VersionMismatch {
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
            }
            None => {
                if !backend.scan(&[], &[0xff], false, 1)?.is_empty() {
                    return Err(StoreError::NotADatabase(
                        "data without a version record".into(),
                    ));
                }
                let mut batch = WriteBatch::new();
                batch.insert(
                    keys::VERSION.to_vec(),
                    Some(FORMAT_VERSION.to_be_bytes().to_vec()),
                );
                backend.commit(batch)?;
            }
        }
        let backend = Arc::new(backend);
        let (tx, rx) = mpsc::channel::<Job<B>>();
        let writer_backend = Arc::clone(&backend);
        let writer = std::thread::Builder::new()
            .name("chatcore-store-writer".into())
            .spawn(move || write_loop(&*writer_backend, rx))
            .map_err(StoreError::backend)?;
        Ok(KvStore {
            backend,
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// The backend (for backend-specific inspection).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Runs `f` as one job of the next group commit; resolves after the commit.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Txn<'_, B>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: Job<B> = Box::new(move |txn| {
            let result = f(txn);
            if result.is_err() {
                // A job that fails part-way leaves no writes.
                txn.own.clear();
            }
            Box::new(move |commit_error: Option<&StoreError>| {
                let _ = tx.send(match commit_error {
                    Some(e) => Err(e.clone()),
                    None => result,
                });
            })
        });
        {
            let jobs = self.jobs.lock().expect("jobs lock");
            let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
            sender.send(job).map_err(|_| StoreError::Closed)?;
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a read on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&B) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || f(&backend))
            .await
            .map_err(|e| StoreError::backend(std::io::Error::other(e.to_string())))?
    }

    /// Stops the writer after the jobs already queued; later writes fail with
    /// [`StoreError::Closed`]. Dropping the store does the same.
    pub fn close(&self) {
        self.jobs.lock().expect("jobs lock").take();
        if let Some(handle) = self.writer.lock().expect("writer lock").take() {
            let _ = handle.join();
        }
    }
}

impl<B: KvBackend> Drop for KvStore<B> {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_loop<B: KvBackend>(backend: &B, jobs: mpsc::Receiver<Job<B>>) {
    while let Ok(first) = jobs.recv() {
        let mut group = WriteBatch::new();
        let mut completions = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let mut txn = Txn {
                backend,
                group: &group,
                own: WriteBatch::new(),
            };
            // A panicking job must not take the writer (and every later caller) down.
            match std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut txn))) {
                Ok(completion) => {
                    let own = txn.own;
                    group.extend(own);
                    completions.push(completion);
                }
                Err(_) => tracing::error!("store job panicked; its writes were dropped"),
            }
            if completions.len() < MAX_GROUP {
                next = jobs.try_recv().ok();
            }
        }
        let outcome = if group.is_empty() {
            Ok(())
        } else {
            backend.commit(group)
        };
        for completion in completions {
            completion(outcome.as_ref().err());
        }
    }
}

fn scan_decode<B: KvBackend, T: DeserializeOwned>(
    backend: &B,
    start: &[u8],
    end: &[u8],
    reverse: bool,
    limit: usize,
) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
    backend
        .scan(start, end, reverse, limit)?
        .into_iter()
        .map(|(k, v)| {
            let value = decode(&k, &v)?;
            Ok((k, value))
        })
        .collect()
}

fn user_from(id: UserId, record: UserRecord) -> User {
    User {
        id,
        name: record.name,
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
            if txn.get_raw(&name_key)?.is_some() {
                return Ok(None);
            }
            let id = UserId(txn.next_id()?);
            txn.put_u64(name_key, id.0);
            txn.put(
                keys::user(id),
                &UserRecord {
                    name: name.clone(),
                    password_hash,
                },
            );
            Ok(Some(User { id, name }))
        })
        .await
    }

    async fn account_by_name(&self, name: &str) -> Result<Option<Account>, StoreError> {
        let name_key = keys::name(&name.to_lowercase());
        self.read(move |b| {
            let Some(raw) = b.get(&name_key)? else {
                return Ok(None);
            };
            let id = UserId(decode_u64(&name_key, &raw)?);
            let key = keys::user(id);
            let Some(raw) = b.get(&key)? else {
                return Err(StoreError::Corrupt {
                    key: format!("{key:?}"),
                    reason: "name index points to a missing user".into(),
                });
            };
            let record: UserRecord = decode(&key, &raw)?;
            Ok(Some(Account {
                password_hash: record.password_hash.clone(),
                user: user_from(id, record),
            }))
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.read(move |b| {
            let key = keys::user(id);
            b.get(&key)?
                .map(|raw| decode::<UserRecord>(&key, &raw).map(|r| user_from(id, r)))
                .transpose()
        })
        .await
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
                    let id = UserId(decode_u64(&key, &raw)?);
                    let ukey = keys::user(id);
                    if let Some(rec) = b.get(&ukey)? {
                        found.push(decode::<UserRecord>(&ukey, &rec)?.name);
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
        let (actor, other) = (actor.clone(), other.clone());
        self.write(move |txn| {
            let a_old = txn.link(actor.id, other.id)?;
            let o_old = txn.link(other.id, actor.id)?;
            let pending = txn.get_u64(&keys::pending(actor.id))? as usize;
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
                notices.push(txn.push_inbox(to.id, None, |id| match kind {
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
                notices,
            }))
        })
        .await
    }

    async fn link(&self, owner: UserId, other: UserId) -> Result<Link, StoreError> {
        self.read(move |b| {
            let key = keys::link(owner, other);
            Ok(b.get(&key)?
                .map(|raw| decode(&key, &raw))
                .transpose()?
                .unwrap_or_default())
        })
        .await
    }

    async fn links(&self, owner: UserId) -> Result<Vec<(User, Link)>, StoreError> {
        self.read(move |b| {
            let (start, end) = keys::links_of(owner);
            let mut out = Vec::new();
            for (key, link) in scan_decode::<B, Link>(b, &start, &end, false, usize::MAX)? {
                let id = UserId(keys::last_u64(&key));
                let ukey = keys::user(id);
                let Some(raw) = b.get(&ukey)? else { continue };
                out.push((user_from(id, decode(&ukey, &raw)?), link));
            }
            Ok(out)
        })
        .await
    }

    async fn append_direct(&self, msg: NewMessage) -> Result<Appended, StoreError> {
        self.write(move |txn| {
            let idem_key = keys::idempotency(msg.from.id, msg.client_msg_id);
            if let Some(receipt) = txn.get::<SendReceipt>(&idem_key)? {
                return Ok(Appended::Duplicate(receipt));
            }
            let seq_key = keys::direct_seq(msg.from.id, msg.to.id);
            let seq = txn.get_u64(&seq_key)? + 1;
            txn.put_u64(seq_key, seq);
            let id = txn.next_id()?;
            let message = Message {
                id,
                seq,
                from: msg.from.name,
                to: Peer::User(msg.to.name),
                body: msg.body,
                ts: msg.ts,
            };
            txn.put(keys::direct_msg(msg.from.id, msg.to.id, seq), &message);
            txn.put(
                keys::inbox(msg.to.id, id),
                &InboxRecord {
                    sender: Some(msg.from.id),
                    event: Event::Message(message.clone()),
                },
            );
            txn.put(
                idem_key,
                &SendReceipt {
                    id,
                    seq,
                    ts: msg.ts,
                },
            );
            Ok(Appended::New(message))
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
            let end = keys::inbox(UserId(user.0 + 1), 0);
            Ok(
                scan_decode::<B, InboxRecord>(b, &start, &end, false, limit)?
                    .into_iter()
                    .map(|(_, r)| r.event)
                    .collect(),
            )
        })
        .await
    }

    async fn ack(&self, user: UserId, ids: &[ItemId]) -> Result<Vec<Notice>, StoreError> {
        let ids = ids.to_vec();
        self.write(move |txn| {
            let mut receipts: HashMap<UserId, Vec<ItemId>> = HashMap::new();
            let mut senders = Vec::new(); // first-seen order, for stable output
            for id in ids {
                let key = keys::inbox(user, id);
                let Some(record) = txn.get::<InboxRecord>(&key)? else {
                    continue;
                };
                txn.delete(key);
                if let (Some(sender), Event::Message(_)) = (record.sender, &record.event) {
                    let list = receipts.entry(sender).or_default();
                    if list.is_empty() {
                        senders.push(sender);
                    }
                    list.push(id);
                }
            }
            let mut notices = Vec::with_capacity(senders.len());
            for sender in senders {
                let ids = receipts.remove(&sender).unwrap_or_default();
                notices.push(txn.push_inbox(sender, None, |id| Event::Delivered { id, ids })?);
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
        self.read(move |backend| {
            let start = keys::direct_msg(a, b, 0);
            let end = keys::direct_msg(a, b, before_seq.unwrap_or(u64::MAX));
            Ok(
                scan_decode::<B, Message>(backend, &start, &end, true, limit)?
                    .into_iter()
                    .map(|(_, m)| m)
                    .collect(),
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Body;
    use crate::store::MemoryBackend;

    /// A job that fails after it has written leaves nothing behind: here
    /// `append_direct` bumps the conversation seq, then fails on a corrupt id counter.
    #[tokio::test]
    async fn a_failed_job_leaves_no_writes() {
        let backend = MemoryBackend::new();
        let store = KvStore::open(backend.clone()).unwrap();
        let a = store.create_user("ann", "h").await.unwrap().unwrap();
        let b = store.create_user("bob", "h").await.unwrap().unwrap();
        let msg = |client_msg_id| NewMessage {
            from: a.clone(),
            to: b.clone(),
            client_msg_id,
            body: Body::Text("hi".into()),
            ts: 1,
        };
        let good_next_id = backend.get(keys::NEXT_ID).unwrap();
        let set_next_id = |value: Option<Vec<u8>>| {
            backend
                .commit(WriteBatch::from([(keys::NEXT_ID.to_vec(), value)]))
                .unwrap()
        };
        set_next_id(Some(vec![1, 2, 3]));
        let err = store.append_direct(msg(1)).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert_eq!(backend.get(&keys::direct_seq(a.id, b.id)).unwrap(), None);
        set_next_id(good_next_id);
        match store.append_direct(msg(1)).await.unwrap() {
            Appended::New(m) => assert_eq!(m.seq, 1),
            other => panic!("expected a new message, got {other:?}"),
        }
    }
}
