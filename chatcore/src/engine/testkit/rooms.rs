//! Rooms: one order for every member, catching up by history, refusals and
//! delete.

use super::{harness, refused, test_config, TestClient};
use crate::protocol::{Body, ErrorCode, Event, Peer};
use crate::store::testkit::Fixture;
use crate::store::{Appended, NewRoomMessage, Store};

async fn expect_room_message(c: &mut TestClient) -> crate::protocol::Message {
    match c
        .expect(|e| matches!(e, Event::Message(m) if matches!(m.to, Peer::Room(_))))
        .await
    {
        Event::Message(m) => m,
        _ => unreachable!(),
    }
}

/// Three members sending at once all see the room in the same (seq) order, with
/// join and leave notices.
pub async fn room_members_see_one_order<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let mut ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    let mut cat = h.user("cat").await;
    ann.client.create_room("lobby").await.unwrap();
    bob.client.join_room("lobby").await.unwrap();
    ann.expect(|e| {
        *e == Event::RoomJoined {
            room: "lobby".into(),
            user: "bob".into(),
        }
    })
    .await;
    cat.client.join_room("lobby").await.unwrap();
    for c in [&mut ann, &mut bob] {
        c.expect(|e| {
            *e == Event::RoomJoined {
                room: "lobby".into(),
                user: "cat".into(),
            }
        })
        .await;
    }
    let senders: Vec<_> = [&ann, &bob, &cat]
        .iter()
        .map(|c| {
            let client = c.client.clone();
            tokio::spawn(async move {
                for i in 0..5 {
                    client.say("lobby", &format!("m{i} 🎉")).await.unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    let mut orders = Vec::new();
    for c in [&mut ann, &mut bob, &mut cat] {
        let mut seqs = Vec::new();
        for _ in 0..15 {
            seqs.push(expect_room_message(c).await.seq);
        }
        orders.push(seqs);
    }
    assert_eq!(orders[0], (1..=15).collect::<Vec<_>>());
    assert_eq!(orders[0], orders[1]);
    assert_eq!(orders[1], orders[2]);

    cat.client.leave_room("lobby").await.unwrap();
    for c in [&mut ann, &mut bob, &mut cat] {
        c.expect(|e| {
            *e == Event::RoomLeft {
                room: "lobby".into(),
                user: "cat".into(),
            }
        })
        .await;
    }
    let members = ann.client.members("lobby").await.unwrap();
    let names: Vec<_> = members
        .iter()
        .map(|m| (m.user.as_str(), m.online))
        .collect();
    assert_eq!(names, vec![("ann", true), ("bob", true)]);
    let rooms = cat.client.rooms().await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(
        (rooms[0].owner.as_str(), rooms[0].members, rooms[0].joined),
        ("ann", 2, false)
    );
    h.stop().await;
}

/// Many connections pipelining sends to one room at once: every member (the
/// senders, and members who only listen) receives each message once, in seq
/// order, nothing missing; each sender's messages get increasing seqs in the
/// order it sent them.
pub async fn room_order_holds_under_concurrent_pipelined_sends<S: Store>(fx: &Fixture<S>) {
    const SENDERS: usize = 4;
    const LISTENERS: usize = 2;
    let config = test_config();
    // Login and join took a few of each sender's requests.
    let per_sender = (config.request_burst as usize).saturating_sub(10).min(30);
    let total = (SENDERS * per_sender) as u64;
    let h = harness(fx, config);
    let mut members = Vec::new();
    for i in 0..SENDERS + LISTENERS {
        let member = h.user(&format!("member{i}")).await;
        if i == 0 {
            member.client.create_room("lobby").await.unwrap();
        } else {
            member.client.join_room("lobby").await.unwrap();
        }
        members.push(member);
    }
    // Every member online and in the room before the first send.
    for member in &members {
        member.sync().await;
    }
    let senders: Vec<_> = members[..SENDERS]
        .iter()
        .enumerate()
        .map(|(s, member)| {
            let client = member.client.clone();
            tokio::spawn(async move {
                // join_all polls in order, so the requests leave in this order.
                let texts: Vec<String> = (0..per_sender).map(|k| format!("s{s} k{k}")).collect();
                let sends = texts.iter().map(|t| client.say("lobby", t));
                let answers = futures::future::join_all(sends).await;
                let seqs: Vec<u64> = answers.into_iter().map(|a| a.unwrap().seq).collect();
                assert!(
                    seqs.windows(2).all(|w| w[0] < w[1]),
                    "sender {s}'s seqs follow its request order: {seqs:?}"
                );
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    for (i, member) in members.iter_mut().enumerate() {
        let mut seqs = Vec::new();
        let mut per_sender_order = vec![Vec::new(); SENDERS];
        for _ in 0..total {
            let m = expect_room_message(member).await;
            let Body::Text(text) = &m.body;
            let (s, k) = text
                .strip_prefix('s')
                .and_then(|t| t.split_once(" k"))
                .map(|(s, k)| (s.parse::<usize>().unwrap(), k.parse::<usize>().unwrap()))
                .unwrap();
            per_sender_order[s].push(k);
            seqs.push(m.seq);
        }
        assert_eq!(
            seqs,
            (1..=total).collect::<Vec<_>>(),
            "member{i} sees every message once, in seq order"
        );
        for (s, ks) in per_sender_order.iter().enumerate() {
            assert_eq!(
                *ks,
                (0..per_sender).collect::<Vec<_>>(),
                "member{i} sees sender {s}'s messages in the order sent"
            );
        }
    }
    for member in &mut members {
        member
            .assert_quiet_except(|e| !matches!(e, Event::Message(_)))
            .await;
    }
    h.stop().await;
}

/// A room message the engine never offered (stored behind its back, as a
/// message lost on a cluster bus would be): the next message shows the gap,
/// and the members receive the missing one from the store, before it, once.
pub async fn a_gap_in_a_room_is_filled_from_the_history<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let mut ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    ann.client.create_room("lobby").await.unwrap();
    bob.client.join_room("lobby").await.unwrap();
    ann.client.say("lobby", "first").await.unwrap();
    for c in [&mut ann, &mut bob] {
        assert_eq!(expect_room_message(c).await.seq, 1);
    }
    let store = h.server().store();
    let room = store.room_by_name("lobby").await.unwrap().unwrap();
    let ann_user = store.account_by_name("ann").await.unwrap().unwrap().user;
    let unseen = NewRoomMessage {
        from: ann_user,
        room,
        client_msg_id: 1 << 40,
        body: Body::Text("lost on the way".into()),
        ts: 1,
    };
    let stored = store.append_room(unseen).await.unwrap().unwrap();
    assert!(matches!(stored, Appended::New(ref m) if m.seq == 2));
    assert_eq!(ann.client.say("lobby", "third").await.unwrap().seq, 3);
    for c in [&mut ann, &mut bob] {
        let (second, third) = (expect_room_message(c).await, expect_room_message(c).await);
        assert_eq!(
            (second.seq, &second.body),
            (2, &Body::Text("lost on the way".into()))
        );
        assert_eq!((third.seq, &third.body), (3, &Body::Text("third".into())));
        c.assert_quiet_except(|e| !matches!(e, Event::Message(_)))
            .await;
    }
    h.stop().await;
}

/// A member who was offline learns what they missed at login and reads it in
/// history; a new member gets the recent messages on join.
pub async fn offline_member_catches_up_by_history<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let mut ann = h.user("ann").await;
    let bob = h.user("bob").await;
    ann.client.create_room("lobby").await.unwrap();
    bob.client.join_room("lobby").await.unwrap();
    bob.client.logout().await.unwrap();
    drop(bob);
    let mut ids = Vec::new();
    for i in 1..=25 {
        ids.push(ann.client.say("lobby", &format!("m{i}")).await.unwrap().id);
        expect_room_message(&mut ann).await;
    }
    let mut bob = h.login_raw("bob").await;
    let unread = bob.expect(|e| matches!(e, Event::RoomUnread { .. })).await;
    assert_eq!(
        unread,
        Event::RoomUnread {
            room: "lobby".into(),
            read_seq: 0,
            last_seq: 25
        }
    );
    bob.expect(|e| *e == Event::CaughtUp).await;
    let page = bob
        .client
        .history(Peer::Room("lobby".into()), None, 100)
        .await
        .unwrap();
    assert_eq!(page.iter().rev().map(|m| m.id).collect::<Vec<_>>(), ids);
    assert_eq!(page[0].from, "ann");

    // A newcomer is shown the last 20, oldest first.
    let mut cat = h.user("cat").await;
    cat.client.join_room("lobby").await.unwrap();
    let mut recent = Vec::new();
    for _ in 0..crate::protocol::limits::ROOM_RECENT_ON_JOIN {
        recent.push(expect_room_message(&mut cat).await.seq);
    }
    assert_eq!(recent, (6..=25).collect::<Vec<_>>());
    h.stop().await;
}

/// Room refusals carry their codes; the owner's delete tells the members.
pub async fn room_refusals_and_delete<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    let c = &bob.client;
    assert_eq!(refused(c.join_room("nowhere").await), ErrorCode::NoSuchRoom);
    assert_eq!(
        refused(c.create_room("../x").await),
        ErrorCode::InvalidRoomName
    );
    ann.client.create_room("lobby").await.unwrap();
    assert_eq!(refused(c.create_room("LOBBY").await), ErrorCode::RoomExists);
    assert_eq!(
        refused(c.say("lobby", "hi").await),
        ErrorCode::NotRoomMember
    );
    assert_eq!(
        refused(c.history(Peer::Room("lobby".into()), None, 5).await),
        ErrorCode::NotRoomMember
    );
    assert_eq!(
        refused(c.leave_room("lobby").await),
        ErrorCode::NotRoomMember
    );
    // Who is in a room, and who of them is online, is for its members.
    assert_eq!(refused(c.members("lobby").await), ErrorCode::NotRoomMember);
    c.join_room("lobby").await.unwrap();
    assert_eq!(c.members("lobby").await.unwrap().len(), 2);
    assert_eq!(
        refused(c.delete_room("lobby").await),
        ErrorCode::NotRoomOwner
    );
    ann.client.delete_room("lobby").await.unwrap();
    bob.expect(|e| {
        *e == Event::RoomDeleted {
            room: "lobby".into(),
        }
    })
    .await;
    assert_eq!(
        refused(bob.client.say("lobby", "hi").await),
        ErrorCode::NoSuchRoom
    );
    h.stop().await;
}

/// A room deleted behind the engine's back (its cache still has it): joining
/// answers `NoSuchRoom`, and a new room of that name is found at once.
pub async fn joining_a_deleted_room_is_no_such_room<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let ann = h.user("ann").await;
    let bob = h.user("bob").await;
    ann.client.create_room("den").await.unwrap();
    bob.client.join_room("den").await.unwrap();
    let store = h.server().store();
    let room = store.room_by_name("den").await.unwrap().unwrap();
    store.delete_room(room.id).await.unwrap();
    let cat = h.user("cat").await;
    assert_eq!(
        refused(cat.client.join_room("den").await),
        ErrorCode::NoSuchRoom
    );
    // Through the engine, a delete and a new room under the name take effect at once.
    ann.client.create_room("den").await.unwrap();
    cat.client.join_room("den").await.unwrap();
    ann.client.delete_room("den").await.unwrap();
    assert_eq!(
        refused(bob.client.join_room("den").await),
        ErrorCode::NoSuchRoom
    );
    bob.client.create_room("den").await.unwrap();
    cat.client.join_room("den").await.unwrap();
    cat.client.say("den", "found").await.unwrap();
    h.stop().await;
}
