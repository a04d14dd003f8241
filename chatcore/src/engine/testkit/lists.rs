//! Lists and history in pages: whatever their size, every answer fits in a
//! frame, and paging reaches every item.

use bytes::BytesMut;

use super::{harness, test_config, TestClient};
use crate::protocol::{
    encode_frame, limits, Body, Items, List, Peer, Request, Response, ServerFrame,
};
use crate::store::testkit::Fixture;
use crate::store::Store;

/// Asserts that `response` fits in a frame of `max_frame_len` bytes.
fn assert_fits(response: &Response, max_frame_len: usize) {
    let frame = ServerFrame::Response {
        req_id: u32::MAX,
        result: Ok(response.clone()),
    };
    if let Err(e) = encode_frame(&frame, &mut BytesMut::new(), max_frame_len) {
        panic!("an answer does not fit in a frame: {e}");
    }
}

/// What identifies each item of a page: a name, or a message's seq.
fn keys(items: &Items) -> Vec<String> {
    match items {
        Items::Users(v) => v.clone(),
        Items::Friends(v) => v.iter().map(|f| f.user.clone()).collect(),
        Items::Rooms(v) => v.iter().map(|r| r.name.clone()).collect(),
        Items::Members(v) => v.iter().map(|m| m.user.clone()).collect(),
        Items::Files(v) => v.iter().map(|f| f.name.clone()).collect(),
        Items::History(v) => v.iter().map(|m| m.seq.to_string()).collect(),
    }
}

/// Every page of `list`, each checked to fit: the items' keys, and how many
/// pages there were.
async fn every_page(c: &TestClient, list: List, max_frame_len: usize) -> (Vec<String>, usize) {
    let (mut all, mut pages, mut after) = (Vec::new(), 0, None);
    loop {
        let (items, next) = c
            .client
            .page(list.clone(), after.take(), 1000)
            .await
            .expect("a page");
        pages += 1;
        let page = keys(&items);
        assert!(!page.is_empty() || next.is_none(), "an empty page goes on");
        assert_fits(
            &Response::Page {
                items,
                next: next.clone(),
            },
            max_frame_len,
        );
        all.extend(page);
        match next {
            Some(next) => after = Some(next),
            None => return (all, pages),
        }
    }
}

/// A name of `MAX_USERNAME_LEN` bytes: `kind`, the number, then padding.
fn long_name(kind: &str, i: usize) -> String {
    let name = format!("{kind}{i:02}-");
    format!("{name:x<width$}", width = limits::MAX_USERNAME_LEN)
}

/// Review 1.5: the room list, a room's members, the friend list, a search and
/// a room's files, each bigger than a frame: every answer fits, the pages
/// reach every item, the older whole-list requests answer a first page that
/// fits, and the client's list methods fetch all pages.
pub async fn lists_bigger_than_a_frame_come_in_pages<S: Store>(fx: &Fixture<S>) {
    let mut config = test_config();
    // About 20 names to a page: 30 users make every list longer than one.
    config.max_frame_len = 1100;
    config.file_chunk_size = 64;
    config.max_pending_requests = 1000;
    let max = config.max_frame_len;
    let h = harness(fx, config);
    let ann = h.user("ann").await;
    ann.client.create_room("hall").await.unwrap();
    let (mut users, mut rooms) = (Vec::new(), vec!["hall".to_string()]);
    for i in 0..30 {
        let (user, room) = (long_name("user", i), long_name("room", i));
        h.register(&user).await;
        let c = h.login(&user).await;
        c.client.join_room("hall").await.unwrap();
        c.client.create_room(&room).await.unwrap();
        ann.client.friend_request(&user, "").await.unwrap();
        users.push(user);
        rooms.push(room);
    }
    rooms.sort_by_key(|r| r.to_lowercase());
    let mut members = vec!["ann".to_string()];
    members.extend(users.iter().cloned());
    let file_names: Vec<String> = (0..10)
        .map(|i| format!("{i:02}{}", "f".repeat(limits::MAX_FILE_NAME_LEN - 2)))
        .collect();
    for name in &file_names {
        let (file, _) = ann
            .client
            .offer_file(Peer::Room("hall".into()), name, 1, sha256_of(b"x"))
            .await
            .unwrap();
        ann.client
            .upload_chunk(file, 0, b"x".to_vec())
            .await
            .unwrap();
        ann.client.complete_file(file).await.unwrap();
    }

    let cases = [
        (List::Rooms, rooms.clone()),
        (
            List::Members {
                room: "hall".into(),
            },
            members.clone(),
        ),
        (List::Friends, users.clone()),
        (
            List::Users {
                prefix: "USER".into(),
            },
            users.clone(),
        ),
        (
            List::Files {
                peer: Peer::Room("hall".into()),
            },
            file_names.clone(),
        ),
    ];
    for (list, expected) in cases {
        let (all, pages) = every_page(&ann, list.clone(), max).await;
        assert!(
            pages > 1,
            "{list:?} fits in one frame: the test proves nothing"
        );
        assert_eq!(all, expected, "{list:?}");
    }

    // The client's list methods fetch every page.
    let listed = ann.client.rooms().await.unwrap();
    let room_names: Vec<String> = listed.iter().map(|r| r.name.clone()).collect();
    assert_eq!(room_names, rooms);
    assert_eq!(listed[0].members, 31, "hall, first in name order");
    assert!(listed[1..].iter().all(|r| r.members == 1 && !r.joined));
    let listed = ann.client.members("hall").await.unwrap();
    let member_names: Vec<String> = listed.into_iter().map(|m| m.user).collect();
    assert_eq!(member_names, members);
    let listed = ann.client.friends().await.unwrap();
    let friend_names: Vec<String> = listed.into_iter().map(|f| f.user).collect();
    assert_eq!(friend_names, users);
    let listed = ann.client.files(Peer::Room("hall".into())).await.unwrap();
    let files: Vec<String> = listed.into_iter().map(|f| f.name).collect();
    assert_eq!(files, file_names);

    // The older requests answer a first page that fits.
    for request in [
        Request::ListRooms,
        Request::Members {
            room: "hall".into(),
        },
        Request::ListFriends,
        Request::ListFiles {
            peer: Peer::Room("hall".into()),
        },
        Request::SearchUsers {
            query: "user".into(),
            limit: 100,
        },
    ] {
        let response = ann.client.request(request).await.unwrap();
        assert_fits(&response, max);
    }
    h.stop().await;
}

fn sha256_of(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).into()
}

/// Review 1.5: history pages of 16 KiB messages, asked 200 at a time, fit in
/// a frame (before: 200 × 16 KiB, over three times the frame limit, and the
/// connection hung), for a room and a 1:1 conversation; paging by
/// `before_seq`, and by the page cursor, reaches every message.
pub async fn history_pages_fit_a_frame<S: Store>(fx: &Fixture<S>) {
    let config = test_config();
    let max = config.max_frame_len;
    let h = harness(fx, config);
    let (ann, bob) = h.friends("ann", "bob").await;
    ann.client.create_room("big").await.unwrap();
    bob.client.join_room("big").await.unwrap();
    const COUNT: u64 = 80;
    let text = "m".repeat(limits::MAX_TEXT_LEN);
    // One connection per conversation: within the default request burst.
    let ann_in_room = h.login("ann").await;
    for (sender, peer) in [
        (&ann, Peer::User("bob".into())),
        (&ann_in_room, Peer::Room("big".into())),
    ] {
        for client_msg_id in 0..COUNT {
            let body = Body::Text(text.clone());
            sender
                .client
                .send(peer.clone(), client_msg_id, body)
                .await
                .unwrap();
        }
    }
    bob.sync().await;
    let every_seq: Vec<String> = (1..=COUNT).rev().map(|s| s.to_string()).collect();
    for peer in [Peer::User("ann".into()), Peer::Room("big".into())] {
        // `History`, going on from the oldest seq of each page.
        let (mut seqs, mut before, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = bob.client.history(peer.clone(), before, 200).await.unwrap();
            assert_fits(&Response::History(page.clone()), max);
            let Some(oldest) = page.last() else { break };
            before = Some(oldest.seq);
            pages += 1;
            seqs.extend(page.iter().map(|m| m.seq.to_string()));
        }
        assert!(pages > 1, "{peer:?}: one page held everything");
        assert_eq!(seqs, every_seq, "{peer:?}");
        // The page cursor says where the end is.
        let (seqs, pages) = every_page(&bob, List::History { peer: peer.clone() }, max).await;
        assert!(pages > 1, "{peer:?}");
        assert_eq!(seqs, every_seq, "{peer:?}");
    }
    h.stop().await;
}
