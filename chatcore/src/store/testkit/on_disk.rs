//! The checks every on-disk backend crate runs on its `open(dir)` (feature
//! `testkit`): a reopened store holds what it held and refuses writes after
//! close; a second open of an open database, another format version, and data
//! without a version record are errors; an older format opens. The
//! [`store_open_tests!`](crate::store_open_tests) macro expands to one named test
//! per check:
//!
//! ```ignore
//! chatcore::store_open_tests!(chatcore::store::testkit::on_disk::OnDisk {
//!     open: |dir| my_backend::open(dir),
//!     backend: |path| MyBackend::open(path),
//!     data: |dir| dir.join(my_backend::FILE_NAME),
//! });
//! ```

use std::path::{Path, PathBuf};

use super::{new_id, new_room, say, send, user, HASH};
use crate::protocol::{ErrorCode, Event, ItemId};
use crate::store::kv::keys;
use crate::store::kv::records::InboxRecord;
use crate::store::{
    Acks, Appended, FileQuota, FileTarget, KvBackend, KvStore, NewFile, Receipt, Store, StoreError,
    WriteBatch, FORMAT_VERSION,
};

/// How a backend crate keeps a store in a directory.
#[derive(Debug)]
pub struct OnDisk<B: KvBackend> {
    /// The crate's `open(dir)`.
    pub open: fn(&Path) -> Result<KvStore<B>, StoreError>,
    /// Opens the bare backend on the data `open` keeps at this path.
    pub backend: fn(&Path) -> Result<B, StoreError>,
    /// Where in `dir` the backend keeps its data.
    pub data: fn(&Path) -> PathBuf,
}

/// Registers ann and bob and stores `count` messages from ann to bob; returns
/// their ids. For tests that then damage the files.
pub async fn ann_writes_to_bob(store: &impl Store, count: u64) -> Vec<ItemId> {
    let (ann, bob) = (user(store, "ann").await, user(store, "bob").await);
    let mut ids = Vec::new();
    for client_msg_id in 0..count {
        ids.push(new_id(
            &send(store, &ann, &bob, client_msg_id, "hello").await,
        ));
    }
    ids
}

impl<B: KvBackend> OnDisk<B> {
    fn open_err(&self, dir: &Path) -> StoreError {
        match (self.open)(dir) {
            Ok(_) => panic!("opening {} should fail", dir.display()),
            Err(e) => e,
        }
    }

    /// Writes one record straight into the backend's data in `dir`.
    fn write_raw(&self, dir: &Path, key: &[u8], value: &[u8]) {
        self.commit_raw(
            dir,
            WriteBatch::from([(key.to_vec(), Some(value.to_vec()))]),
        );
    }

    /// Commits `batch` straight into the backend's data in `dir`.
    fn commit_raw(&self, dir: &Path, batch: WriteBatch) {
        let backend = (self.backend)(&(self.data)(dir)).unwrap();
        backend.commit(batch).unwrap();
    }
}

/// Data written before a close is there after every reopen (into a directory
/// `open` creates); writes after the close are refused, not lost silently.
pub async fn reopen_after_close_keeps_data<B: KvBackend>(kit: &OnDisk<B>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested").join("data");
    let ids = {
        let store = (kit.open)(&dir).unwrap();
        let ids = ann_writes_to_bob(&store, 1).await;
        store.close();
        assert!(matches!(
            store.create_user("cat", HASH).await,
            Err(StoreError::Closed)
        ));
        ids
    };
    assert!((kit.data)(&dir).exists());
    for _ in 0..2 {
        let store = (kit.open)(&dir).unwrap();
        let bob = store.account_by_name("bob").await.unwrap().unwrap().user;
        let inbox = store.stream(bob.id, 0, 10).await.unwrap();
        assert!(
            matches!(&inbox[..], [i] if matches!(&i.event, Event::Message(m) if m.id == ids[0]))
        );
        assert_eq!(store.account_by_name("cat").await.unwrap(), None);
    }
}

/// A database another store has open is an error that says so.
pub async fn a_second_open_of_an_open_database_is_an_error<B: KvBackend>(kit: &OnDisk<B>) {
    let tmp = tempfile::tempdir().unwrap();
    let _store = (kit.open)(tmp.path()).unwrap();
    let err = kit.open_err(tmp.path());
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("already open"), "{err}");
}

/// A database of another format version is refused, naming both versions.
pub async fn another_format_version_is_refused<B: KvBackend>(kit: &OnDisk<B>) {
    let tmp = tempfile::tempdir().unwrap();
    drop((kit.open)(tmp.path()).unwrap());
    let newer = (FORMAT_VERSION + 1).to_be_bytes();
    kit.write_raw(tmp.path(), keys::VERSION, &newer);
    let err = kit.open_err(tmp.path());
    assert!(
        matches!(err, StoreError::VersionMismatch { found, expected }
            if found == FORMAT_VERSION + 1 && expected == FORMAT_VERSION),
        "{err:?}"
    );
}

/// A database of format 2 (before member and quota counts were kept) opens
/// with them counted: the room list's member counts, rooms per owner and what
/// each user's files take up hold for what was stored before.
pub async fn a_format_2_database_opens_with_its_counts<B: KvBackend>(kit: &OnDisk<B>) {
    let tmp = tempfile::tempdir().unwrap();
    let (ann, bob, lobby) = {
        let store = (kit.open)(tmp.path()).unwrap();
        let (ann, bob) = (user(&store, "ann").await, user(&store, "bob").await);
        let lobby = new_room(&store, &ann, "lobby").await;
        assert_eq!(store.join_room(lobby.id, bob.id).await.unwrap(), Ok(true));
        let offer = NewFile {
            from: ann.clone(),
            to: FileTarget::User(bob.clone()),
            name: "notes.txt".into(),
            size: 3,
            sha256: [7; 32],
            chunk_size: 3,
            ts: 1,
        };
        store.create_file(offer, UNLIMITED).await.unwrap().unwrap();
        store.close();
        (ann, bob, lobby)
    };
    kit.commit_raw(
        tmp.path(),
        WriteBatch::from([
            (keys::member_count(lobby.id), None),
            (keys::owned_rooms(ann.id), None),
            (keys::file_usage(ann.id), None),
            // An idempotency record of format 2's layout (no conversation).
            ([b"k".as_slice(), &[0; 16]].concat(), Some(vec![0; 3])),
            (keys::VERSION.to_vec(), Some(2u32.to_be_bytes().to_vec())),
        ]),
    );
    let store = (kit.open)(tmp.path()).unwrap();
    let members = || async { store.rooms(ann.id, None, 10).await.unwrap()[0].members };
    assert_eq!(members().await, 2);
    assert!(store.leave_room(lobby.id, bob.id).await.unwrap());
    assert_eq!(members().await, 1);
    assert_eq!(
        store.create_room(&ann, "den", 1).await.unwrap(),
        Err(ErrorCode::TooManyRooms),
        "the room owned before counts"
    );
    let one_file = FileQuota {
        files: 1,
        bytes: u64::MAX,
    };
    let offer = NewFile {
        from: ann.clone(),
        to: FileTarget::User(bob),
        name: "more.txt".into(),
        size: 1,
        sha256: [7; 32],
        chunk_size: 1,
        ts: 2,
    };
    assert_eq!(
        store.create_file(offer, one_file).await.unwrap(),
        Err(ErrorCode::QuotaExceeded),
        "the file offered before counts"
    );
    let sweep = store.expire_send_records(0, None, 10).await.unwrap();
    assert_eq!(
        sweep.expired, 1,
        "format 2's records are swept whatever their age"
    );
    let sweep = store.expire_send_records(0, sweep.next, 10).await.unwrap();
    assert_eq!((sweep.expired, sweep.next), (0, None));
}

/// A database of format 3 (an inbox per user, its items deleted one by one
/// as they were acked) opens with each inbox as its user's stream, in the
/// order it was stored: a device that logs in gets every item, and passing the
/// messages makes their sender a receipt that names them.
pub async fn a_format_3_database_opens_with_its_inboxes_as_streams<B: KvBackend>(kit: &OnDisk<B>) {
    let tmp = tempfile::tempdir().unwrap();
    let (ann, bob, ids) = {
        let store = (kit.open)(tmp.path()).unwrap();
        let (ann, bob) = (user(&store, "ann").await, user(&store, "bob").await);
        let one = new_id(&send(&store, &ann, &bob, 1, "one").await);
        let two = new_id(&send(&store, &ann, &bob, 2, "two").await);
        store.close();
        (ann, bob, [one, two])
    };
    let record = |r: InboxRecord| Some(postcard::to_allocvec(&r).unwrap());
    let notice = Event::FriendAdded {
        id: ids[1] + 100,
        user: "ann".into(),
    };
    kit.commit_raw(
        tmp.path(),
        WriteBatch::from([
            // Format 3 had no streams...
            (keys::stream_item(bob.id, 1), None),
            (keys::stream_item(bob.id, 2), None),
            (keys::stream(bob.id), None),
            (keys::unread(bob.id, ann.id), None),
            // ...but inboxes, by item id.
            (
                keys::inbox(bob.id, ids[0]),
                record(InboxRecord::Message {
                    sender: ann.id,
                    seq: 1,
                }),
            ),
            (
                keys::inbox(bob.id, ids[1]),
                record(InboxRecord::Message {
                    sender: ann.id,
                    seq: 2,
                }),
            ),
            (
                keys::inbox(bob.id, ids[1] + 100),
                record(InboxRecord::Event(notice.clone())),
            ),
            (keys::VERSION.to_vec(), Some(3u32.to_be_bytes().to_vec())),
        ]),
    );
    let store = (kit.open)(tmp.path()).unwrap();
    let items = store.stream(bob.id, 0, 10).await.unwrap();
    let order: Vec<_> = items.iter().map(|i| (i.pos, i.event.inbox_id())).collect();
    assert_eq!(
        order,
        [
            (1, Some(ids[0])),
            (2, Some(ids[1])),
            (3, Some(ids[1] + 100))
        ]
    );
    assert_eq!(items[2].event, notice);
    let phone = store
        .device_login(bob.id, None, 1, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(phone.position, 0, "a device gets what the inbox held");
    let acks = Acks {
        device: phone.device.id,
        up_to: Some(3),
        room_messages: Vec::new(),
        now: 1,
        active_since: 0,
    };
    let receipts = store.ack(bob.id, acks).await.unwrap();
    let receipt = Receipt {
        sender: ann.id,
        recipient: "bob".into(),
        seq: 2,
        ids: ids.to_vec(),
    };
    assert_eq!(receipts, [receipt]);
    assert!(store.stream(bob.id, 0, 10).await.unwrap().is_empty());
    let three = send(&store, &ann, &bob, 3, "three").await;
    assert!(
        store.stream(bob.id, 0, 10).await.unwrap()[0].pos == 4,
        "{three:?}"
    );
}

const UNLIMITED: FileQuota = FileQuota {
    files: u64::MAX,
    bytes: u64::MAX,
};

/// Every message of a history, newest first, read in pages of `page`
/// through `read(before_seq, limit)`: as seq and body.
async fn paged<F, R>(page: usize, read: F) -> Vec<(u64, crate::protocol::Body)>
where
    F: Fn(Option<u64>, usize) -> R,
    R: std::future::Future<Output = Result<Vec<crate::protocol::Message>, StoreError>>,
{
    let (mut all, mut before) = (Vec::new(), None);
    loop {
        let messages = read(before, page).await.unwrap();
        let Some(last) = messages.last() else {
            return all;
        };
        before = Some(last.seq);
        all.extend(messages.into_iter().map(|m| (m.seq, m.body)));
    }
}

/// A format-4 database (every message and idempotency record a record of its
/// own) opens as format 5 and reads as before; what comes after goes where
/// this build puts it (with a log, a checkpoint packs them into blocks), and
/// histories, streams, retries and a room's deletion see old and new alike.
pub async fn a_format_4_database_opens_with_its_messages<B: KvBackend>(kit: &OnDisk<B>) {
    let tmp = tempfile::tempdir().unwrap();
    let data = (kit.data)(tmp.path());
    // Format 4 as it was: written without a log, one record per message.
    let (ann, bob, room) = {
        let store = KvStore::open((kit.backend)(&data).unwrap()).unwrap();
        let (ann, bob) = (user(&store, "ann").await, user(&store, "bob").await);
        let room = new_room(&store, &ann, "lobby").await;
        for n in 1..=30 {
            send(&store, &ann, &bob, n, &format!("direct {n}")).await;
            say(&store, &ann, &room, n, &format!("room {n}")).await;
        }
        store.close();
        (ann, bob, room)
    };
    kit.write_raw(tmp.path(), keys::VERSION, &4u32.to_be_bytes());
    {
        let store = (kit.open)(tmp.path()).unwrap();
        for n in 31..=60 {
            send(&store, &ann, &bob, n, &format!("direct {n}")).await;
            say(&store, &ann, &room, n, &format!("room {n}")).await;
        }
        store.close();
    }
    let version = (kit.backend)(&data).unwrap().get(keys::VERSION).unwrap();
    assert_eq!(version, Some(FORMAT_VERSION.to_be_bytes().to_vec()));
    let store = (kit.open)(tmp.path()).unwrap();
    // Newest first, in pages that cross from new messages to old ones.
    let direct = paged(7, |before, limit| {
        store.direct_history(ann.id, bob.id, before, limit)
    })
    .await;
    let in_room = paged(9, |before, limit| {
        store.room_history(room.id, before, limit)
    })
    .await;
    let want = |what: &str| -> Vec<_> {
        (1..=60)
            .rev()
            .map(|n| (n, super::text(&format!("{what} {n}"))))
            .collect()
    };
    assert_eq!(direct, want("direct"));
    assert_eq!(in_room, want("room"));
    // Bob's stream points into the history: every message, once, in order.
    let texts: Vec<_> = super::stream(&store, bob.id)
        .await
        .into_iter()
        .map(|item| match item.event {
            Event::Message(m) => m.body,
            other => panic!("{other:?}"),
        })
        .collect();
    let mut oldest_first = want("direct");
    oldest_first.reverse();
    assert_eq!(
        texts,
        oldest_first.into_iter().map(|(_, b)| b).collect::<Vec<_>>()
    );
    // Retries, of a send before the upgrade and of one after it.
    for n in [5, 45] {
        let retry = super::try_send(&store, &ann, &bob, n, &format!("direct {n}")).await;
        assert!(
            matches!(retry, Ok(Appended::Duplicate(r)) if r.seq == n),
            "{n}"
        );
    }
    store.delete_room(room.id).await.unwrap();
    assert!(store
        .room_history(room.id, None, 100)
        .await
        .unwrap()
        .is_empty());
    drop(store);
    let store = (kit.open)(tmp.path()).unwrap();
    assert!(store
        .room_history(room.id, None, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .direct_history(ann.id, bob.id, None, 100)
            .await
            .unwrap()
            .len(),
        60
    );
}

/// Data without chatcore's version record is not taken for a database.
pub async fn data_without_a_version_record_is_not_a_database<B: KvBackend>(kit: &OnDisk<B>) {
    let tmp = tempfile::tempdir().unwrap();
    kit.write_raw(tmp.path(), b"something", b"else");
    let err = kit.open_err(tmp.path());
    assert!(matches!(err, StoreError::NotADatabase(_)), "{err:?}");
}
