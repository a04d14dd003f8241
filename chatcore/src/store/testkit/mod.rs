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
//!
//! The properties live in files named for their area (`accounts`, `friends`,
//! `chat`, `rooms`, `files`, `devices`, `durability`) and are re-exported here, where the
//! macros name them; the helpers they share are here too.

pub mod crash;
pub mod on_disk;
pub mod power_loss;

mod accounts;
mod chat;
mod devices;
mod durability;
mod files;
mod friends;
mod rooms;

use std::path::Path;

pub use accounts::{search_finds_prefixes_in_name_order_by_page, users_are_unique_without_case};
pub use chat::{
    acks_move_a_position_and_write_one_receipt_per_sender,
    blocks_and_friendship_are_checked_by_the_send,
    client_msg_ids_are_per_conversation_and_a_reuse_is_refused, history_pages_backwards,
    messages_get_seqs_and_inbox_order, retried_send_is_stored_once, send_records_expire,
    the_stream_pages_after_a_position,
};
pub use devices::devices_are_created_seen_listed_bounded_and_revoked;
pub use durability::{concurrent_writers_all_land, reopen_keeps_everything_acked};
pub use files::{
    files_become_visible_only_when_complete, files_page_by_id, files_survive_reopen,
    the_file_quota_holds_across_a_reopen_and_deletion_frees_it,
};
pub use friends::{
    crossing_requests_make_friends, friend_request_and_accept, friend_request_and_reject,
    links_page_by_id, pending_requests_are_bounded, refusals_change_nothing, remove_and_block,
};
pub use rooms::{
    concurrent_room_sends_get_dense_seqs, room_list_pages_with_kept_member_counts,
    room_members_page_by_id, room_messages_cursor_and_history, rooms_lifecycle,
    rooms_per_owner_hold_across_a_reopen_and_deletion_frees_one,
};

use super::{
    Acks, Appended, DirectSent, NewMessage, NewRoomMessage, Receipt, Room, Store, StreamItem, User,
    UserId,
};
use crate::friends::FriendAction;
use crate::protocol::{Body, ErrorCode, Event};

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
        $crate::__testkit_tests!(::core::convert::identity; store::testkit; $fixture;
            users_are_unique_without_case,
            devices_are_created_seen_listed_bounded_and_revoked,
            search_finds_prefixes_in_name_order_by_page,
            links_page_by_id,
            friend_request_and_accept,
            friend_request_and_reject,
            crossing_requests_make_friends,
            pending_requests_are_bounded,
            remove_and_block,
            refusals_change_nothing,
            messages_get_seqs_and_inbox_order,
            retried_send_is_stored_once,
            client_msg_ids_are_per_conversation_and_a_reuse_is_refused,
            send_records_expire,
            blocks_and_friendship_are_checked_by_the_send,
            acks_move_a_position_and_write_one_receipt_per_sender,
            the_stream_pages_after_a_position,
            history_pages_backwards,
            concurrent_writers_all_land,
            reopen_keeps_everything_acked,
            rooms_lifecycle,
            room_list_pages_with_kept_member_counts,
            room_members_page_by_id,
            room_messages_cursor_and_history,
            concurrent_room_sends_get_dense_seqs,
            rooms_per_owner_hold_across_a_reopen_and_deletion_frees_one,
            files_become_visible_only_when_complete,
            files_survive_reopen,
            files_page_by_id,
            the_file_quota_holds_across_a_reopen_and_deletion_frees_it,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_tests {
    // One name at a time: the module path repeats once per test. `$run` takes
    // the property's future and returns the one the test awaits.
    ($run:path; $($module:ident)::+; $fixture:expr;) => {};
    ($run:path; $($module:ident)::+; $fixture:expr; $name:ident $(, $rest:ident)* $(,)?) => {
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let fixture = $fixture;
            $run($crate::$($module)::+::$name(&fixture)).await;
        }
        $crate::__testkit_tests!($run; $($module)::+; $fixture; $($rest),*);
    };
}

/// Expands to one `#[tokio::test]` per check of
/// [`on_disk`](crate::store::testkit::on_disk), given an
/// [`OnDisk`](crate::store::testkit::on_disk::OnDisk).
#[macro_export]
macro_rules! store_open_tests {
    ($on_disk:expr) => {
        $crate::__testkit_tests!(::core::convert::identity; store::testkit::on_disk; $on_disk;
            reopen_after_close_keeps_data,
            a_second_open_of_an_open_database_is_an_error,
            another_format_version_is_refused,
            a_format_2_database_opens_with_its_counts,
            a_format_3_database_opens_with_its_inboxes_as_streams,
            a_format_4_database_opens_with_its_messages,
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

/// Creates the room `name` owned by `owner` (no quota in the way).
async fn new_room(store: &impl Store, owner: &User, name: &str) -> Room {
    store
        .create_room(owner, name, usize::MAX)
        .await
        .expect("create_room")
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

/// A 1:1 send on an open server (blocks still refuse), sent at
/// `1_700_000_000_000 + client_msg_id` ms.
async fn try_send(
    store: &impl Store,
    from: &User,
    to: &User,
    client_msg_id: u64,
    body: &str,
) -> Result<Appended, ErrorCode> {
    store
        .append_direct(NewMessage {
            from: from.clone(),
            to: to.clone(),
            client_msg_id,
            body: text(body),
            ts: 1_700_000_000_000 + client_msg_id,
            friends_only: false,
            device: None,
        })
        .await
        .expect("append_direct")
        .map(appended)
}

/// What a send stored, as a room send answers it: the new message (from the
/// recipient's stream item), or the receipt of a retry.
fn appended(sent: DirectSent) -> Appended {
    let message = sent
        .notices
        .into_iter()
        .rev()
        .find_map(|notice| match notice.item.event {
            Event::Message(m) if notice.item.from_device.is_none() => Some(m),
            _ => None,
        });
    match message {
        Some(message) => Appended::New(message),
        None => Appended::Duplicate(sent.receipt),
    }
}

async fn send(
    store: &impl Store,
    from: &User,
    to: &User,
    client_msg_id: u64,
    body: &str,
) -> Appended {
    try_send(store, from, to, client_msg_id, body)
        .await
        .expect("the send is refused")
}

/// A message of `from` to `room`, sent at `1_700_000_000_000 + client_msg_id` ms.
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
        .append_room(msg)
        .await
        .expect("append_room")
        .expect("a member of an existing room")
}

fn new_id(appended: &Appended) -> u64 {
    match appended {
        Appended::New(m) => m.id,
        Appended::Duplicate(r) => panic!("expected a new message, got duplicate {r:?}"),
    }
}

/// The events of `user`'s stream that are kept (not yet acked by every
/// active device).
async fn inbox(store: &impl Store, user: UserId) -> Vec<Event> {
    stream(store, user)
        .await
        .into_iter()
        .map(|i| i.event)
        .collect()
}

/// The kept items of `user`'s stream.
async fn stream(store: &impl Store, user: UserId) -> Vec<StreamItem> {
    store.stream(user, 0, 10_000).await.expect("stream")
}

/// When the acks of [`ack_to`] and [`acks`] are made.
const ACKED_AT: u64 = 1_700_000_000_000;

/// `device` of `user` acks the stream up to `pos`; returns the receipts.
async fn ack_to(store: &impl Store, user: UserId, device: u64, pos: u64) -> Vec<Receipt> {
    acks(store, user, device, Some(pos), Vec::new()).await
}

/// `user` acks room messages by id (and, as `device`, the stream up to
/// `up_to`).
async fn acks(
    store: &impl Store,
    user: UserId,
    device: u64,
    up_to: Option<u64>,
    room_messages: Vec<u64>,
) -> Vec<Receipt> {
    let acks = Acks {
        device,
        up_to,
        room_messages,
        now: ACKED_AT,
        active_since: 0,
    };
    store.ack(user, acks).await.expect("ack")
}

/// Logs `user` in as their default device; returns its id.
async fn default_device(store: &impl Store, user: UserId) -> u64 {
    let login = store.device_login(user, None, 20, 1_700_000_000_000);
    login
        .await
        .expect("device_login")
        .expect("refused")
        .device
        .id
}
