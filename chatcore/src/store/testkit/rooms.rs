//! Rooms: their lifecycle, membership and read positions, room messages, and
//! dense seqs under concurrent sends (the engine orders live delivery by them).

use std::sync::Arc;

use super::{
    acks, default_device, inbox, new_id, new_room, say, send, stream, text, user, Fixture,
};
use crate::protocol::{ErrorCode, Peer};
use crate::store::{Appended, NewRoomMessage, Room, RoomListing, Store, UserId};

async fn read_seq(store: &impl Store, user: UserId, room: &Room) -> u64 {
    let positions = store.rooms_of(user).await.unwrap();
    positions
        .iter()
        .find(|p| p.room.id == room.id)
        .expect("member")
        .read_seq
}

type Row = (String, String, u32, bool);

fn row(name: &str, owner: &str, members: u32, joined: bool) -> Row {
    (name.into(), owner.into(), members, joined)
}

/// The room list as `viewer` sees it: name, owner, member count, joined.
async fn listed(store: &impl Store, viewer: UserId) -> Vec<Row> {
    store
        .rooms(viewer, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.room.name, r.owner, r.members, r.joined))
        .collect()
}

/// Create (owner joins; names unique without case), join, leave, list, delete.
pub async fn rooms_lifecycle<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let room = new_room(&store, &a, "Lobby").await;
    assert_eq!((room.name.as_str(), room.owner), ("Lobby", a.id));
    assert_eq!(
        store.create_room(&b, "LOBBY", usize::MAX).await.unwrap(),
        Err(ErrorCode::RoomExists)
    );
    assert_eq!(
        store.room_by_name("lobby").await.unwrap(),
        Some(room.clone())
    );
    assert!(store.is_member(room.id, a.id).await.unwrap());
    assert!(!store.is_member(room.id, b.id).await.unwrap());
    assert_eq!(store.join_room(room.id, b.id).await.unwrap(), Ok(true));
    assert_eq!(store.join_room(room.id, b.id).await.unwrap(), Ok(false));
    assert_eq!(
        store.room_members(room.id).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    let other = new_room(&store, &b, "den").await;
    assert_eq!(
        listed(&store, a.id).await,
        vec![row("den", "bob", 1, false), row("Lobby", "ann", 2, true)]
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
    assert_eq!(
        store.rooms(b.id, None, 10).await.unwrap(),
        vec![RoomListing {
            room: other,
            owner: "bob".into(),
            members: 1,
            joined: true,
        }]
    );
    assert_eq!(
        store.join_room(room.id, b.id).await.unwrap(),
        Err(ErrorCode::NoSuchRoom),
        "joining a deleted room"
    );
    // The name is free again.
    assert!(store
        .create_room(&b, "lobby", usize::MAX)
        .await
        .unwrap()
        .is_ok());
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
    let room = new_room(&store, &a, "lobby").await;
    store.join_room(room.id, b.id).await.unwrap().unwrap();
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
    let refused = store.append_room(outsider).await.unwrap();
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
    let phone = default_device(&store, b.id).await;
    acks(&store, b.id, phone, None, vec![ids[2]]).await;
    assert_eq!(read_seq(&store, b.id, &room).await, 3);
    acks(&store, b.id, phone, None, vec![ids[0]]).await; // never moves back
    assert_eq!(read_seq(&store, b.id, &room).await, 3);
    // One batch, room messages out of order beside a stream position: the
    // room position moves to the highest, and the stream's items are let go;
    // a direct message's id among room ones means nothing.
    let direct = [
        new_id(&send(&store, &a, &b, 8, "dm 1").await),
        new_id(&send(&store, &a, &b, 9, "dm 2").await),
    ];
    let head = stream(&store, b.id).await.last().expect("two items").pos;
    let room_ids = vec![direct[0], ids[3], ids[1], direct[1]];
    acks(&store, b.id, phone, Some(head), room_ids).await;
    assert_eq!(read_seq(&store, b.id, &room).await, 4);
    assert!(inbox(&store, b.id).await.is_empty());
    acks(&store, c.id, phone, None, vec![ids[4]]).await; // not a member: nothing
    assert!(store.rooms_of(c.id).await.unwrap().is_empty());
    // A new member starts at the newest message.
    store.join_room(room.id, c.id).await.unwrap().unwrap();
    assert_eq!(read_seq(&store, c.id, &room).await, 5);
}

/// Concurrent sends to one room get the seqs 1..=n, each once, and the
/// history holds them in seq order: the engine orders live delivery by seq
/// and fills a gap from the history, so a seq must never be skipped.
pub async fn concurrent_room_sends_get_dense_seqs<S: Store>(fx: &Fixture<S>) {
    const SENDS: u64 = 64;
    let store = Arc::new(fx.open());
    let a = user(&*store, "ann").await;
    let room = new_room(&*store, &a, "lobby").await;
    let tasks: Vec<_> = (0..SENDS)
        .map(|i| {
            let (store, a, room) = (Arc::clone(&store), a.clone(), room.clone());
            tokio::spawn(async move {
                match say(&*store, &a, &room, i, "x").await {
                    Appended::New(m) => (m.seq, m.id),
                    Appended::Duplicate(r) => panic!("not a retry: {r:?}"),
                }
            })
        })
        .collect();
    let mut sent = Vec::new();
    for t in tasks {
        sent.push(t.await.unwrap());
    }
    sent.sort_unstable();
    let seqs: Vec<u64> = sent.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=SENDS).collect::<Vec<_>>());
    let history = store
        .room_history(room.id, None, SENDS as usize)
        .await
        .unwrap();
    let stored: Vec<(u64, u64)> = history.iter().rev().map(|m| (m.seq, m.id)).collect();
    assert_eq!(stored, sent, "the history holds every send at its seq");
}

/// The room list goes by pages in lowercase name order, each after the last
/// name of the one before; its member counts follow every join, leave and
/// delete.
pub async fn room_list_pages_with_kept_member_counts<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b, c) = (
        user(&store, "ann").await,
        user(&store, "bob").await,
        user(&store, "cat").await,
    );
    let mut names = Vec::new();
    for i in (0..7).rev() {
        let name = format!("Room{i}");
        new_room(&store, &a, &name).await;
        names.push(name);
    }
    names.sort_by_key(|n| n.to_lowercase());
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.rooms(b.id, after.as_deref(), 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.room.name.to_lowercase());
        seen.extend(page.into_iter().map(|r| r.room.name));
    }
    assert_eq!(seen, names, "every room once, in name order");

    let room = store.room_by_name("room3").await.unwrap().unwrap();
    let members_of_room3 = || async {
        let page = store.rooms(a.id, Some("room2"), 1).await.unwrap();
        assert_eq!(page[0].room, room);
        page[0].members
    };
    assert_eq!(members_of_room3().await, 1);
    assert_eq!(store.join_room(room.id, b.id).await.unwrap(), Ok(true));
    assert_eq!(store.join_room(room.id, c.id).await.unwrap(), Ok(true));
    assert_eq!(store.join_room(room.id, c.id).await.unwrap(), Ok(false));
    assert_eq!(members_of_room3().await, 3);
    assert!(store.leave_room(room.id, b.id).await.unwrap());
    assert!(!store.leave_room(room.id, b.id).await.unwrap());
    assert_eq!(members_of_room3().await, 2);
    store.delete_room(room.id).await.unwrap();
    let again = new_room(&store, &c, "Room3").await;
    let page = store.rooms(a.id, Some("room2"), 1).await.unwrap();
    assert_eq!(
        (page[0].room.id, page[0].members, page[0].joined),
        (again.id, 1, false),
        "a room made again under a deleted one's name starts at one member"
    );
}

/// A room's members page by id, each page after the last id of the one before.
pub async fn room_members_page_by_id<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let owner = user(&store, "owner").await;
    let room = new_room(&store, &owner, "big").await;
    let mut everyone = vec![owner];
    for i in 0..6 {
        let u = user(&store, &format!("member{i}")).await;
        assert_eq!(store.join_room(room.id, u.id).await.unwrap(), Ok(true));
        everyone.push(u);
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.room_members_page(room.id, after, 4).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page);
    }
    assert_eq!(seen, everyone);
    assert_eq!(store.room_members(room.id).await.unwrap(), everyone);
}
/// The rooms a user owns are counted in the store: the quota refuses one more
/// `TooManyRooms` (and creates nothing), still after a reopen, and deleting one
/// of them makes room for another.
pub async fn rooms_per_owner_hold_across_a_reopen_and_deletion_frees_one<S: Store>(
    fx: &Fixture<S>,
) {
    let (a, first) = {
        let store = fx.open();
        let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
        let first = new_room(&store, &a, "one").await;
        new_room(&store, &a, "two").await;
        assert_eq!(
            store.create_room(&a, "three", 2).await.unwrap(),
            Err(ErrorCode::TooManyRooms)
        );
        assert_eq!(store.room_by_name("three").await.unwrap(), None);
        // Joining rooms is not owning them; others have their own quota.
        assert!(store.create_room(&b, "three", 2).await.unwrap().is_ok());
        (a, first)
    };
    let store = fx.open();
    assert_eq!(
        store.create_room(&a, "four", 2).await.unwrap(),
        Err(ErrorCode::TooManyRooms)
    );
    store.delete_room(first.id).await.unwrap();
    assert!(store.create_room(&a, "four", 2).await.unwrap().is_ok());
    assert_eq!(
        store.create_room(&a, "five", 2).await.unwrap(),
        Err(ErrorCode::TooManyRooms)
    );
}
