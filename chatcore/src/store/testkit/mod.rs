//! The conformance suite every [`Store`] backend runs (feature `testkit`).
//!
//! Each property is a public async fn taking a [`Fixture`]; the
//! [`store_conformance_tests!`](crate::store_conformance_tests) macro expands to one
//! named `#[tokio::test]` per property, so a backend's whole suite is:
//!
//! ```ignore
//! chatcore::store_conformance_tests!(chatcore::store::testkit::Fixture::in_temp_dir(|dir| {
//!     MyStore::open(dir).unwrap()
//! }));
//! ```
//!
//! The test crate needs `tokio` with the `macros` and `rt-multi-thread` features.
//! A fixture can *reopen* the same location, which is how the suite checks that
//! what was acknowledged survives a close.

pub mod crash;
pub mod on_disk;

use std::path::Path;
use std::sync::Arc;

use super::{
    Appended, Deliver, FileTarget, NewFile, NewMessage, NewRoomMessage, Room, Store, User, UserId,
};
use crate::friends::{FriendAction, LinkState};
use crate::protocol::{Body, ErrorCode, Event, Peer};

/// A place a backend keeps its data, and how to open a store on it.
pub struct Fixture<S> {
    open: Box<dyn Fn() -> S + Send + Sync>,
    _dir: Option<tempfile::TempDir>,
}

impl<S> std::fmt::Debug for Fixture<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("dir", &self._dir)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Fixture<S> {
    /// A fixture whose `open` reopens the same data every time it is called.
    pub fn new(open: impl Fn() -> S + Send + Sync + 'static) -> Self {
        Fixture {
            open: Box::new(open),
            _dir: None,
        }
    }

    /// A fixture on a fresh temporary directory, removed when the fixture drops.
    pub fn in_temp_dir(open: impl Fn(&Path) -> S + Send + Sync + 'static) -> Self {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let path = dir.path().to_path_buf();
        Fixture {
            open: Box::new(move || open(&path)),
            _dir: Some(dir),
        }
    }

    /// Opens a store on the fixture's data. Drop the previous one first.
    pub fn open(&self) -> S {
        (self.open)()
    }
}

/// Expands to one `#[tokio::test]` per conformance property, each on a fresh
/// fixture made by evaluating `$fixture`.
#[macro_export]
macro_rules! store_conformance_tests {
    ($fixture:expr) => {
        $crate::__testkit_tests!(store::testkit; $fixture;
            users_are_unique_without_case,
            search_finds_substrings_in_name_order,
            friend_request_and_accept,
            friend_request_and_reject,
            crossing_requests_make_friends,
            pending_requests_are_bounded,
            remove_and_block,
            refusals_change_nothing,
            messages_get_seqs_and_inbox_order,
            retried_send_is_stored_once,
            ack_removes_and_writes_one_receipt_per_sender,
            inbox_pages_after_a_cursor,
            history_pages_backwards,
            concurrent_writers_all_land,
            reopen_keeps_everything_acked,
            rooms_lifecycle,
            room_messages_cursor_and_history,
            room_delivery_is_in_seq_order,
            files_become_visible_only_when_complete,
            files_survive_reopen,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_tests {
    // One name at a time: the module path repeats once per test.
    ($($module:ident)::+; $fixture:expr;) => {};
    ($($module:ident)::+; $fixture:expr; $name:ident $(, $rest:ident)* $(,)?) => {
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let fixture = $fixture;
            $crate::$($module)::+::$name(&fixture).await;
        }
        $crate::__testkit_tests!($($module)::+; $fixture; $($rest),*);
    };
}

/// Expands to one `#[tokio::test]` per check of
/// [`on_disk`](crate::store::testkit::on_disk), given an
/// [`OnDisk`](crate::store::testkit::on_disk::OnDisk).
#[macro_export]
macro_rules! store_open_tests {
    ($on_disk:expr) => {
        $crate::__testkit_tests!(store::testkit::on_disk; $on_disk;
            reopen_after_close_keeps_data,
            a_second_open_of_an_open_database_is_an_error,
            another_format_version_is_refused,
            data_without_a_version_record_is_not_a_database,
        );
    };
}

const HASH: &str = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
const MAX_PENDING: usize = 2;

async fn user(store: &impl Store, name: &str) -> User {
    store
        .create_user(name, HASH)
        .await
        .expect("create_user")
        .expect("name is free")
}

async fn befriend(store: &impl Store, a: &User, b: &User) {
    let req = FriendAction::Request { note: "hi".into() };
    store
        .friend_op(a, b, req, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    let accept = FriendAction::Respond { accept: true };
    store
        .friend_op(b, a, accept, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
}

fn text(s: &str) -> Body {
    Body::Text(s.into())
}

async fn send(
    store: &impl Store,
    from: &User,
    to: &User,
    client_msg_id: u64,
    body: &str,
) -> Appended {
    store
        .append_direct(NewMessage {
            from: from.clone(),
            to: to.clone(),
            client_msg_id,
            body: text(body),
            ts: 1_700_000_000_000 + client_msg_id,
        })
        .await
        .expect("append_direct")
}

fn new_id(appended: &Appended) -> u64 {
    match appended {
        Appended::New(m) => m.id,
        Appended::Duplicate(r) => panic!("expected a new message, got duplicate {r:?}"),
    }
}

async fn inbox(store: &impl Store, user: UserId) -> Vec<Event> {
    store.inbox(user, None, 10_000).await.expect("inbox")
}

/// Names are unique without regard to case; lookups ignore case; ids are stable.
pub async fn users_are_unique_without_case<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let ann = user(&store, "Ann").await;
    assert_eq!(store.create_user("ann", HASH).await.unwrap(), None);
    assert_eq!(store.create_user("ANN", HASH).await.unwrap(), None);
    let bob = user(&store, "bob").await;
    assert_ne!(ann.id, bob.id);
    let found = store.account_by_name("aNN").await.unwrap().expect("found");
    assert_eq!(found.user, ann);
    assert_eq!(found.password_hash, HASH);
    assert_eq!(store.user_by_id(bob.id).await.unwrap(), Some(bob));
    assert_eq!(store.account_by_name("nobody").await.unwrap(), None);
    assert_eq!(store.user_by_id(UserId(u64::MAX - 1)).await.unwrap(), None);
}

/// Search is a case-insensitive substring match, in name order, bounded.
pub async fn search_finds_substrings_in_name_order<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    for name in ["carol", "Caroline", "oscar", "dave"] {
        user(&store, name).await;
    }
    assert_eq!(
        store.search_users("CAR", 10).await.unwrap(),
        vec!["carol", "Caroline", "oscar"]
    );
    assert_eq!(store.search_users("car", 2).await.unwrap().len(), 2);
    assert!(store.search_users("zzz", 10).await.unwrap().is_empty());
}

/// A request leaves Outgoing/Incoming links and a notice; accept makes both
/// friends and tells both.
pub async fn friend_request_and_accept<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let req = FriendAction::Request {
        note: "it's ann".into(),
    };
    let out = store
        .friend_op(&a, &b, req, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert!(out.link.is_outgoing());
    assert_eq!(out.notices.len(), 1);
    assert_eq!(out.notices[0].recipient, b.id);
    assert!(matches!(&out.notices[0].event,
        Event::FriendRequested { from, note, .. } if from == "ann" && note == "it's ann"));
    assert_eq!(
        store.link(b.id, a.id).await.unwrap().state,
        LinkState::Incoming {
            note: "it's ann".into()
        }
    );
    // The request waits in b's inbox.
    assert_eq!(
        inbox(&store, b.id).await,
        vec![out.notices[0].event.clone()]
    );

    let accept = FriendAction::Respond { accept: true };
    let out = store
        .friend_op(&b, &a, accept, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.link.state, LinkState::Friends);
    let mut told: Vec<UserId> = out.notices.iter().map(|n| n.recipient).collect();
    told.sort();
    assert_eq!(told, vec![a.id, b.id]);
    for (owner, other) in [(&a, &b), (&b, &a)] {
        let links = store.links(owner.id).await.unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].0, *other);
        assert_eq!(links[0].1.state, LinkState::Friends);
    }
    assert!(matches!(inbox(&store, a.id).await.as_slice(),
        [Event::FriendAdded { user, .. }] if user == "bob"));
}

/// Reject clears both links and tells the requester.
pub async fn friend_request_and_reject<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let req = FriendAction::Request {
        note: String::new(),
    };
    store
        .friend_op(&a, &b, req, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    let reject = FriendAction::Respond { accept: false };
    let out = store
        .friend_op(&b, &a, reject, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.notices.len(), 1);
    assert_eq!(out.notices[0].recipient, a.id);
    assert!(matches!(&out.notices[0].event, Event::FriendRejected { user, .. } if user == "bob"));
    assert!(store.links(a.id).await.unwrap().is_empty());
    assert!(store.links(b.id).await.unwrap().is_empty());
}

/// A request crossing one the other way makes friends at once.
pub async fn crossing_requests_make_friends<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let req = FriendAction::Request {
        note: String::new(),
    };
    store
        .friend_op(&a, &b, req.clone(), MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    let out = store
        .friend_op(&b, &a, req, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.link.state, LinkState::Friends);
    assert_eq!(
        store.link(a.id, b.id).await.unwrap().state,
        LinkState::Friends
    );
}

/// Open outgoing requests are bounded; answering one frees a slot.
pub async fn pending_requests_are_bounded<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let a = user(&store, "ann").await;
    let others = [
        user(&store, "bob").await,
        user(&store, "cat").await,
        user(&store, "dan").await,
    ];
    let req = FriendAction::Request {
        note: String::new(),
    };
    for other in &others[..MAX_PENDING] {
        store
            .friend_op(&a, other, req.clone(), MAX_PENDING)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        store
            .friend_op(&a, &others[2], req.clone(), MAX_PENDING)
            .await
            .unwrap(),
        Err(ErrorCode::TooManyPendingRequests)
    );
    let accept = FriendAction::Respond { accept: true };
    store
        .friend_op(&others[0], &a, accept, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    store
        .friend_op(&a, &others[2], req, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
}

/// Remove deletes both edges; block ends friendship and stops requests both ways.
pub async fn remove_and_block<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    befriend(&store, &a, &b).await;
    let out = store
        .friend_op(&a, &b, FriendAction::Remove, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(&out.notices[..], [n] if n.recipient == b.id
        && matches!(&n.event, Event::FriendRemoved { user, .. } if user == "ann")));
    assert!(store.links(a.id).await.unwrap().is_empty());
    assert!(store.links(b.id).await.unwrap().is_empty());

    befriend(&store, &a, &b).await;
    store
        .friend_op(&a, &b, FriendAction::Block, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    let link = store.link(a.id, b.id).await.unwrap();
    assert!(link.blocked);
    assert_eq!(store.link(b.id, a.id).await.unwrap().state, LinkState::None);
    let req = FriendAction::Request {
        note: String::new(),
    };
    for (x, y) in [(&a, &b), (&b, &a)] {
        assert_eq!(
            store
                .friend_op(x, y, req.clone(), MAX_PENDING)
                .await
                .unwrap(),
            Err(ErrorCode::Blocked)
        );
    }
    store
        .friend_op(&a, &b, FriendAction::Unblock, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert!(store.links(a.id).await.unwrap().is_empty());
    store
        .friend_op(&b, &a, req, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
}

/// A refused operation writes nothing: no link, no notice.
pub async fn refusals_change_nothing<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    for action in [FriendAction::Remove, FriendAction::Respond { accept: true }] {
        assert!(store
            .friend_op(&a, &b, action, MAX_PENDING)
            .await
            .unwrap()
            .is_err());
    }
    assert!(store.links(a.id).await.unwrap().is_empty());
    assert!(inbox(&store, b.id).await.is_empty());
    let req = FriendAction::Request {
        note: String::new(),
    };
    store
        .friend_op(&a, &b, req.clone(), MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.friend_op(&a, &b, req, MAX_PENDING).await.unwrap(),
        Err(ErrorCode::AlreadyRequested)
    );
    assert_eq!(inbox(&store, b.id).await.len(), 1);
    let to_self = FriendAction::Request {
        note: String::new(),
    };
    assert_eq!(
        store.friend_op(&a, &a, to_self, MAX_PENDING).await.unwrap(),
        Err(ErrorCode::CannotBefriendSelf)
    );
    assert!(
        store.links(a.id).await.unwrap().len() == 1,
        "only the link to b"
    );
}

/// Each conversation numbers its messages from 1; the inbox lists them in order.
pub async fn messages_get_seqs_and_inbox_order<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b, c) = (
        user(&store, "ann").await,
        user(&store, "bob").await,
        user(&store, "cat").await,
    );
    let m1 = send(&store, &a, &b, 1, "one").await;
    let m2 = send(&store, &b, &a, 1, "two 👋").await;
    let m3 = send(&store, &c, &b, 1, "three").await;
    let m4 = send(&store, &a, &b, 2, "four").await;
    let seqs: Vec<u64> = [&m1, &m2, &m3, &m4]
        .iter()
        .map(|m| match m {
            Appended::New(m) => m.seq,
            Appended::Duplicate(_) => panic!("duplicate"),
        })
        .collect();
    assert_eq!(seqs, vec![1, 2, 1, 3]);
    let b_inbox = inbox(&store, b.id).await;
    let ids: Vec<u64> = b_inbox.iter().filter_map(Event::inbox_id).collect();
    assert_eq!(ids, vec![new_id(&m1), new_id(&m3), new_id(&m4)]);
    match &b_inbox[0] {
        Event::Message(m) => {
            assert_eq!(m.from, "ann");
            assert_eq!(m.to, Peer::User("bob".into()));
            assert_eq!(m.body, text("one"));
        }
        other => panic!("expected a message, got {other:?}"),
    }
    assert!(
        matches!(&inbox(&store, a.id).await[..], [Event::Message(m)] if m.body == text("two 👋"))
    );
}

/// The same `(sender, client_msg_id)` is stored once and answered the same.
pub async fn retried_send_is_stored_once<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let first = send(&store, &a, &b, 42, "once").await;
    let Appended::New(m) = &first else {
        panic!("new")
    };
    let again = send(&store, &a, &b, 42, "once").await;
    assert!(
        matches!(again, Appended::Duplicate(r) if r.id == m.id && r.seq == m.seq && r.ts == m.ts)
    );
    assert_eq!(inbox(&store, b.id).await.len(), 1);
    assert_eq!(
        store
            .direct_history(a.id, b.id, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Another sender may use the same client id.
    let c = user(&store, "cat").await;
    assert!(matches!(
        send(&store, &c, &b, 42, "mine").await,
        Appended::New(_)
    ));
}

/// Ack removes items; acked messages produce one `Delivered` per sender; acking
/// again, unknown ids, and acking receipts produce nothing more.
pub async fn ack_removes_and_writes_one_receipt_per_sender<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b, c) = (
        user(&store, "ann").await,
        user(&store, "bob").await,
        user(&store, "cat").await,
    );
    let x1 = new_id(&send(&store, &a, &c, 1, "x1").await);
    let y1 = new_id(&send(&store, &b, &c, 1, "y1").await);
    let x2 = new_id(&send(&store, &a, &c, 2, "x2").await);
    let receipts = store.ack(c.id, &[x1, y1, x2, 999_999]).await.unwrap();
    assert!(inbox(&store, c.id).await.is_empty());
    assert_eq!(receipts.len(), 2);
    let to_a = receipts
        .iter()
        .find(|n| n.recipient == a.id)
        .expect("receipt for a");
    assert!(matches!(&to_a.event, Event::Delivered { ids, .. } if *ids == vec![x1, x2]));
    let to_b = receipts
        .iter()
        .find(|n| n.recipient == b.id)
        .expect("receipt for b");
    assert!(matches!(&to_b.event, Event::Delivered { ids, .. } if *ids == vec![y1]));
    assert_eq!(inbox(&store, a.id).await, vec![to_a.event.clone()]);
    assert!(store.ack(c.id, &[x1, y1]).await.unwrap().is_empty());
    let receipt_id = to_a.event.inbox_id().unwrap();
    assert!(store.ack(a.id, &[receipt_id]).await.unwrap().is_empty());
    assert!(inbox(&store, a.id).await.is_empty());
    // History is not touched by acks.
    assert_eq!(
        store
            .direct_history(a.id, c.id, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

/// The inbox pages by id cursor.
pub async fn inbox_pages_after_a_cursor<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(new_id(&send(&store, &a, &b, i, "m").await));
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.inbox(b.id, after, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        after = page.last().and_then(Event::inbox_id);
        seen.extend(page.iter().filter_map(Event::inbox_id));
    }
    assert_eq!(seen, ids);
    // Another user's inbox is separate.
    assert!(inbox(&store, a.id).await.is_empty());
}

/// History is newest first and pages with `before_seq`; conversations are separate.
pub async fn history_pages_backwards<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b, c) = (
        user(&store, "ann").await,
        user(&store, "bob").await,
        user(&store, "cat").await,
    );
    for i in 1..=5 {
        let (from, to) = if i % 2 == 0 { (&b, &a) } else { (&a, &b) };
        send(&store, from, to, i, &format!("m{i}")).await;
    }
    send(&store, &a, &c, 100, "other conversation").await;
    let page = store.direct_history(b.id, a.id, None, 2).await.unwrap();
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![5, 4]);
    let page = store.direct_history(a.id, b.id, Some(4), 10).await.unwrap();
    assert_eq!(
        page.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    assert_eq!(page[2].body, text("m1"));
    assert!(store
        .direct_history(a.id, b.id, Some(1), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .direct_history(c.id, a.id, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Many concurrent writers (group commit) all land, with distinct ids and seqs.
pub async fn concurrent_writers_all_land<S: Store>(fx: &Fixture<S>) {
    let store = Arc::new(fx.open());
    let (a, b) = (user(&*store, "ann").await, user(&*store, "bob").await);
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let (store, a, b) = (Arc::clone(&store), a.clone(), b.clone());
            tokio::spawn(async move { new_id(&send(&*store, &a, &b, i, "concurrent").await) })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.expect("task"));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64);
    let mut seqs: Vec<u64> = store
        .direct_history(a.id, b.id, None, 100)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=64).collect::<Vec<_>>());
    assert_eq!(inbox(&*store, b.id).await.len(), 64);
}

/// Close and reopen: users, links, history and unacked inbox items are there;
/// acked items are not redelivered; new ids do not collide with old ones.
pub async fn reopen_keeps_everything_acked<S: Store>(fx: &Fixture<S>) {
    let (a, b, acked, kept, receipt) = {
        let store = fx.open();
        let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
        befriend(&store, &a, &b).await;
        let acked = new_id(&send(&store, &a, &b, 1, "read").await);
        let kept = new_id(&send(&store, &a, &b, 2, "unread").await);
        let receipts = store.ack(b.id, &[acked]).await.unwrap();
        let receipt = receipts[0].event.clone();
        // Drain b's friend notices so only the unread message remains.
        let notices: Vec<u64> = inbox(&store, b.id)
            .await
            .iter()
            .filter(|e| !matches!(e, Event::Message(_)))
            .filter_map(Event::inbox_id)
            .collect();
        store.ack(b.id, &notices).await.unwrap();
        (a, b, acked, kept, receipt)
    };
    let store = fx.open();
    assert_eq!(store.account_by_name("ANN").await.unwrap().unwrap().user, a);
    assert_eq!(
        store.link(a.id, b.id).await.unwrap().state,
        LinkState::Friends
    );
    let b_inbox = inbox(&store, b.id).await;
    assert_eq!(
        b_inbox
            .iter()
            .filter_map(Event::inbox_id)
            .collect::<Vec<_>>(),
        vec![kept]
    );
    assert!(inbox(&store, a.id).await.contains(&receipt));
    assert_eq!(
        store
            .direct_history(a.id, b.id, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    // The idempotency record survived too.
    assert!(
        matches!(send(&store, &a, &b, 1, "read").await, Appended::Duplicate(r) if r.id == acked)
    );
    let fresh = new_id(&send(&store, &a, &b, 3, "after reopen").await);
    assert!(fresh > kept);
    let c = user(&store, "cat").await;
    assert!(c.id != a.id && c.id != b.id);
}

fn no_delivery() -> Deliver {
    Box::new(|_| {})
}

async fn say(
    store: &impl Store,
    from: &User,
    room: &Room,
    client_msg_id: u64,
    body: &str,
) -> Appended {
    let msg = NewRoomMessage {
        from: from.clone(),
        room: room.clone(),
        client_msg_id,
        body: text(body),
        ts: 1_700_000_000_000 + client_msg_id,
    };
    store
        .append_room(msg, no_delivery())
        .await
        .expect("append_room")
        .expect("a member of an existing room")
}

async fn read_seq(store: &impl Store, user: UserId, room: &Room) -> u64 {
    let positions = store.rooms_of(user).await.unwrap();
    positions
        .iter()
        .find(|p| p.room.id == room.id)
        .expect("member")
        .read_seq
}

/// Create (owner joins; names unique without case), join, leave, list, delete.
pub async fn rooms_lifecycle<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let room = store
        .create_room(&a, "Lobby")
        .await
        .unwrap()
        .expect("new room");
    assert_eq!((room.name.as_str(), room.owner), ("Lobby", a.id));
    assert_eq!(store.create_room(&b, "LOBBY").await.unwrap(), None);
    assert_eq!(
        store.room_by_name("lobby").await.unwrap(),
        Some(room.clone())
    );
    assert!(store.is_member(room.id, a.id).await.unwrap());
    assert!(!store.is_member(room.id, b.id).await.unwrap());
    assert!(store.join_room(room.id, b.id).await.unwrap());
    assert!(!store.join_room(room.id, b.id).await.unwrap());
    assert_eq!(
        store.room_members(room.id).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    let other = store.create_room(&b, "den").await.unwrap().unwrap();
    assert_eq!(
        store.rooms().await.unwrap(),
        vec![(room.clone(), 2), (other.clone(), 1)]
    );
    let mine: Vec<_> = store
        .rooms_of(b.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.room)
        .collect();
    assert_eq!(mine, vec![room.clone(), other.clone()]);
    assert!(store.leave_room(room.id, b.id).await.unwrap());
    assert!(!store.leave_room(room.id, b.id).await.unwrap());
    assert_eq!(store.room_members(room.id).await.unwrap(), vec![a.clone()]);

    say(&store, &a, &room, 1, "soon gone").await;
    let members = store.delete_room(room.id).await.unwrap();
    assert_eq!(members, vec![a.id]);
    assert_eq!(store.room_by_name("lobby").await.unwrap(), None);
    assert!(store.rooms_of(a.id).await.unwrap().is_empty());
    assert!(store
        .room_history(room.id, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.rooms().await.unwrap(), vec![(other, 1)]);
    // The name is free again.
    assert!(store.create_room(&b, "lobby").await.unwrap().is_some());
}

/// Room messages: seqs per room, one write (no inbox copies), idempotency, history
/// paging, and read positions moved by members' acks only.
pub async fn room_messages_cursor_and_history<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b, c) = (
        user(&store, "ann").await,
        user(&store, "bob").await,
        user(&store, "cat").await,
    );
    let room = store.create_room(&a, "lobby").await.unwrap().unwrap();
    store.join_room(room.id, b.id).await.unwrap();
    let mut ids = Vec::new();
    for i in 1..=5 {
        ids.push(new_id(&say(&store, &a, &room, i, &format!("r{i}")).await));
    }
    assert!(
        matches!(say(&store, &a, &room, 3, "r3").await, Appended::Duplicate(r) if r.id == ids[2])
    );
    assert!(
        inbox(&store, b.id).await.is_empty(),
        "room messages are not copied into inboxes"
    );
    let outsider = NewRoomMessage {
        from: c.clone(),
        room: room.clone(),
        client_msg_id: 1,
        body: text("let me in"),
        ts: 1,
    };
    let refused = store.append_room(outsider, no_delivery()).await.unwrap();
    assert_eq!(refused, Err(ErrorCode::NotRoomMember));
    let page = store.room_history(room.id, None, 2).await.unwrap();
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![5, 4]);
    assert_eq!(page[0].to, Peer::Room("lobby".into()));
    let older = store.room_history(room.id, Some(4), 10).await.unwrap();
    assert_eq!(
        older.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );

    let position = store.rooms_of(b.id).await.unwrap().remove(0);
    assert_eq!((position.read_seq, position.last_seq), (0, 5));
    store.ack(b.id, &[ids[2]]).await.unwrap();
    assert_eq!(read_seq(&store, b.id, &room).await, 3);
    store.ack(b.id, &[ids[0]]).await.unwrap(); // never moves back
    assert_eq!(read_seq(&store, b.id, &room).await, 3);
    // One batch, room messages out of order among inbox items: the position
    // moves to the highest, and the items leave the inbox.
    let direct = [
        new_id(&send(&store, &a, &b, 8, "dm 1").await),
        new_id(&send(&store, &a, &b, 9, "dm 2").await),
    ];
    store
        .ack(b.id, &[direct[0], ids[3], ids[1], direct[1]])
        .await
        .unwrap();
    assert_eq!(read_seq(&store, b.id, &room).await, 4);
    assert!(inbox(&store, b.id).await.is_empty());
    store.ack(c.id, &[ids[4]]).await.unwrap(); // not a member: nothing
    assert!(store.rooms_of(c.id).await.unwrap().is_empty());
    // A new member starts at the newest message.
    store.join_room(room.id, c.id).await.unwrap();
    assert_eq!(read_seq(&store, c.id, &room).await, 5);
}

/// Concurrent sends to one room are delivered (the `deliver` hook) in seq order.
pub async fn room_delivery_is_in_seq_order<S: Store>(fx: &Fixture<S>) {
    let store = Arc::new(fx.open());
    let a = user(&*store, "ann").await;
    let room = store.create_room(&a, "lobby").await.unwrap().unwrap();
    let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let (store, a, room, delivered) = (
                Arc::clone(&store),
                a.clone(),
                room.clone(),
                Arc::clone(&delivered),
            );
            tokio::spawn(async move {
                let msg = NewRoomMessage {
                    from: a,
                    room,
                    client_msg_id: i,
                    body: text("x"),
                    ts: 1,
                };
                let deliver: Deliver = Box::new(move |m| delivered.lock().unwrap().push(m.seq));
                store.append_room(msg, deliver).await.unwrap().unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*delivered.lock().unwrap(), (1..=64).collect::<Vec<_>>());
}

fn offer(from: &User, to: FileTarget, name: &str, size: u64, chunk_size: u32, ts: u64) -> NewFile {
    NewFile {
        from: from.clone(),
        to,
        name: name.into(),
        size,
        sha256: [7; 32],
        chunk_size,
        ts,
    }
}

/// A file is invisible until completed; completing one to a user writes a
/// `FileShared` inbox item; deleting removes record and chunks.
pub async fn files_become_visible_only_when_complete<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let to = FileTarget::User(b.clone());
    let f = store
        .create_file(offer(&a, to, "notes.txt", 5, 3, 10))
        .await
        .unwrap();
    assert!(!f.complete);
    store.put_chunk(f.id, 0, b"abc".to_vec()).await.unwrap();
    store.put_chunk(f.id, 1, b"de".to_vec()).await.unwrap();
    assert!(store.direct_files(a.id, b.id).await.unwrap().is_empty());
    assert_eq!(store.incomplete_files().await.unwrap(), vec![f.id]);
    let notice = store
        .complete_file(f.id, 20)
        .await
        .unwrap()
        .expect("notice for bob");
    assert_eq!(notice.recipient, b.id);
    assert!(
        matches!(&notice.event, Event::FileShared { id, name, size: 5, .. } if *id == f.id && name == "notes.txt")
    );
    assert_eq!(inbox(&store, b.id).await, vec![notice.event.clone()]);
    let listed = store.direct_files(b.id, a.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].received, listed[0].complete, listed[0].ts),
        (5, true, 20)
    );
    assert!(store.incomplete_files().await.unwrap().is_empty());
    assert_eq!(store.chunk(f.id, 1).await.unwrap(), Some(b"de".to_vec()));

    let room = store.create_room(&a, "lobby").await.unwrap().unwrap();
    let g = store
        .create_file(offer(
            &a,
            FileTarget::Room(room.clone()),
            "pic.png",
            1,
            3,
            30,
        ))
        .await
        .unwrap();
    store.put_chunk(g.id, 0, b"z".to_vec()).await.unwrap();
    assert_eq!(store.complete_file(g.id, 31).await.unwrap(), None);
    assert_eq!(store.room_files(room.id).await.unwrap()[0].id, g.id);

    store.delete_file(f.id).await.unwrap();
    assert_eq!(store.file(f.id).await.unwrap(), None);
    assert_eq!(store.chunk(f.id, 0).await.unwrap(), None);
    assert!(store.direct_files(a.id, b.id).await.unwrap().is_empty());
    // Deleting the room deletes its files.
    store.delete_room(room.id).await.unwrap();
    assert_eq!(store.file(g.id).await.unwrap(), None);
}

/// Completed files, their chunks, and incomplete uploads survive a reopen.
pub async fn files_survive_reopen<S: Store>(fx: &Fixture<S>) {
    let (a, b, done, pending) = {
        let store = fx.open();
        let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
        let to = FileTarget::User(b.clone());
        let done = store
            .create_file(offer(&a, to.clone(), "a.bin", 2, 2, 1))
            .await
            .unwrap();
        store.put_chunk(done.id, 0, vec![1, 2]).await.unwrap();
        store.complete_file(done.id, 2).await.unwrap();
        let pending = store
            .create_file(offer(&a, to, "b.bin", 4, 2, 3))
            .await
            .unwrap();
        store.put_chunk(pending.id, 0, vec![3, 4]).await.unwrap();
        (a, b, done.id, pending.id)
    };
    let store = fx.open();
    assert_eq!(store.direct_files(a.id, b.id).await.unwrap()[0].id, done);
    assert_eq!(store.chunk(done, 0).await.unwrap(), Some(vec![1, 2]));
    assert_eq!(store.incomplete_files().await.unwrap(), vec![pending]);
}
