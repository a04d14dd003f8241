//! 1:1 chat: offline delivery, receipts, retries, backlog order, search and
//! history, open chat, pipelined sends.

use std::time::Duration;

use super::{delivered_to, harness, password, refused, test_config};
use crate::friends::FriendAction;
use crate::protocol::{Body, ErrorCode, Event, Peer, Unread};
use crate::store::testkit::Fixture;
use crate::store::Store;

/// A 1:1 message to an offline friend arrives at their next login, once; after
/// the ack it is not redelivered; the sender gets the receipt.
pub async fn offline_message_is_delivered_once<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (mut ann, bob) = h.friends("ann", "bob").await;
    bob.client.logout().await.unwrap();
    drop(bob);

    let sent = ann
        .client
        .send_text("bob", "while you were out 🌙")
        .await
        .unwrap();
    let mut bob = h.login_raw("bob").await;
    let first = bob.next_event().await;
    let Event::Message(m) = first else {
        panic!("expected the message first, got {first:?}")
    };
    assert_eq!((m.id, m.from.as_str()), (sent.id, "ann"));
    assert_eq!(m.body, Body::Text("while you were out 🌙".into()));
    assert_eq!(m.to, Peer::User("bob".into()));
    assert_eq!((m.seq, m.ts), (sent.seq, sent.ts));
    // Unread, and so again at the next login: delivered is not read.
    let unread = Event::Unread(vec![Unread {
        peer: Peer::User("ann".into()),
        unread: 1,
        read_seq: 0,
        last_seq: sent.seq,
    }]);
    assert_eq!(bob.next_event().await, unread);
    assert_eq!(bob.next_event().await, Event::CaughtUp);
    bob.sync().await; // the auto-ack is processed

    ann.expect(|e| *e == delivered_to("bob", sent.seq)).await;

    drop(bob);
    let mut bob = h.login_raw("bob").await;
    assert_eq!(bob.next_event().await, unread);
    assert_eq!(bob.next_event().await, Event::CaughtUp);
    bob.assert_quiet().await;
    h.stop().await;
}

/// The recipient acks while the sender is offline: the receipt waits for the
/// sender's next login.
pub async fn receipt_reaches_offline_sender_at_login<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    bob.client.logout().await.unwrap();
    let sent = ann.client.send_text("bob", "ack me later").await.unwrap();
    ann.client.logout().await.unwrap();
    drop(ann);
    // bob reads (and acks) while ann is offline.
    bob.client.login("bob", &password("bob")).await.unwrap();
    bob.expect(|e| matches!(e, Event::Message(m) if m.id == sent.id))
        .await;
    bob.sync().await;
    let mut ann = h.login_raw("ann").await;
    ann.expect(|e| *e == delivered_to("bob", sent.seq)).await;
    ann.expect(|e| *e == Event::CaughtUp).await;
    h.stop().await;
}

/// A retried send (same `client_msg_id`) is answered the same and arrives once.
pub async fn retried_send_is_delivered_once<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    let body = Body::Text("exactly once".into());
    let to = Peer::User("bob".into());
    let first = ann.client.send(to.clone(), 7, body.clone()).await.unwrap();
    let again = ann.client.send(to.clone(), 7, body).await.unwrap();
    assert_eq!(first, again);
    bob.expect(|e| matches!(e, Event::Message(m) if m.id == first.id))
        .await;
    bob.assert_quiet().await;
    let history = bob
        .client
        .history(Peer::User("ann".into()), None, 50)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    h.stop().await;
}

/// Many offline messages arrive in order, then `CaughtUp`.
pub async fn offline_backlog_arrives_in_order<S: Store>(fx: &Fixture<S>) {
    let mut config = test_config();
    config.backlog_page = 16; // several pages
    let h = harness(fx, config);
    let (ann, mut bob) = h.friends("ann", "bob").await;
    bob.client.logout().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            ann.client
                .send_text("bob", &format!("m{i}"))
                .await
                .unwrap()
                .id,
        );
    }
    bob.client.login("bob", &password("bob")).await.unwrap();
    let mut got = Vec::new();
    loop {
        match bob.next_event().await {
            Event::Message(m) => got.push(m.id),
            Event::CaughtUp => break,
            _ => {}
        }
    }
    assert_eq!(got, ids);
    h.stop().await;
}

/// An open server lets strangers chat.
pub async fn open_chat_allows_strangers<S: Store>(fx: &Fixture<S>) {
    let mut config = test_config();
    config.open_chat = true;
    let h = harness(fx, config);
    let ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    let sent = ann.client.send_text("bob", "hello stranger").await.unwrap();
    bob.expect(|e| matches!(e, Event::Message(m) if m.id == sent.id))
        .await;
    h.stop().await;
}

/// Search by name prefix (a substring elsewhere in a name does not match);
/// history pages backwards by seq.
pub async fn search_and_history<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let mut ann = h.user("ann").await;
    let mut anna = h.user("anna").await;
    h.register("joanne").await;
    h.register("zed").await;
    let found = ann.client.search_users("ANN", 10).await.unwrap();
    assert_eq!(found, vec!["ann", "anna"]);
    assert_eq!(ann.client.search_users("jo", 10).await.unwrap(), ["joanne"]);
    assert_eq!(ann.client.search_users("ann", 1).await.unwrap().len(), 1);
    h.befriend(&mut ann, "ann", &mut anna, "anna").await;
    for i in 1..=5 {
        ann.client
            .send_text("anna", &format!("m{i}"))
            .await
            .unwrap();
    }
    let page = anna
        .client
        .history(Peer::User("ann".into()), None, 2)
        .await
        .unwrap();
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![5, 4]);
    let older = anna
        .client
        .history(Peer::User("ann".into()), Some(4), 10)
        .await
        .unwrap();
    assert_eq!(
        older.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    h.stop().await;
}

/// Many sends in flight on one connection (as many as the request burst
/// allows, at most 200) are stored and delivered in request order, each
/// answered with its own seq.
pub async fn pipelined_sends_keep_order<S: Store>(fx: &Fixture<S>) {
    let config = test_config();
    // The friendship took a few of ann's requests.
    let count = (config.request_burst as u64).saturating_sub(10).min(200);
    let h = harness(fx, config);
    let (ann, mut bob) = h.friends("ann", "bob").await;
    let texts: Vec<String> = (0..count).map(|i| format!("m{i}")).collect();
    // join_all polls in order, so the requests leave in this order.
    let sends = texts.iter().map(|t| ann.client.send_text("bob", t));
    let answers = futures::future::join_all(sends).await;
    let seqs: Vec<u64> = answers.into_iter().map(|a| a.unwrap().seq).collect();
    assert_eq!(seqs, (1..=count).collect::<Vec<_>>());
    for (i, text) in texts.iter().enumerate() {
        match bob.expect(|e| matches!(e, Event::Message(_))).await {
            Event::Message(m) => {
                assert_eq!((m.seq, &m.body), (i as u64 + 1, &Body::Text(text.clone())));
            }
            _ => unreachable!(),
        }
    }
    h.stop().await;
}

/// A block committed behind the engine's back (its caches still say friends)
/// refuses the very next message: the store checks the send in its transaction.
pub async fn the_store_refuses_a_send_the_caches_would_allow<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    ann.client.send_text("bob", "cached").await.unwrap();
    bob.expect(|e| matches!(e, Event::Message(_))).await;
    let store = h.server().store();
    let user = |name: &'static str| async move {
        store.account_by_name(name).await.unwrap().unwrap().user
    };
    let (ann_user, bob_user) = (user("ann").await, user("bob").await);
    store
        .friend_op(&bob_user, &ann_user, FriendAction::Block, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        refused(ann.client.send_text("bob", "after the block").await),
        ErrorCode::Blocked
    );
    bob.assert_quiet_except(|e| matches!(e, Event::FriendRemoved { .. }))
        .await;
    h.stop().await;
}

/// A client may number each conversation's messages on its own; an id reused
/// for another body in one conversation is refused; records expire after the
/// configured retention, and a retry after that is a new message.
pub async fn client_msg_ids_are_scoped_and_expire<S: Store>(fx: &Fixture<S>) {
    let mut config = test_config();
    config.send_record_retention = Duration::from_millis(200);
    let h = harness(fx, config);
    let (ann, mut bob) = h.friends("ann", "bob").await;
    let (_, mut cat) = {
        let mut ann_again = h.login("ann").await;
        let mut cat = h.user("cat").await;
        h.befriend(&mut ann_again, "ann", &mut cat, "cat").await;
        (ann_again, cat)
    };
    let text = |t: &str| Body::Text(t.into());
    let to_bob = ann
        .client
        .send(Peer::User("bob".into()), 1, text("hi bob"))
        .await
        .unwrap();
    let to_cat = ann
        .client
        .send(Peer::User("cat".into()), 1, text("hi cat"))
        .await
        .unwrap();
    assert_ne!(to_bob.id, to_cat.id);
    bob.expect(|e| matches!(e, Event::Message(m) if m.id == to_bob.id))
        .await;
    cat.expect(|e| matches!(e, Event::Message(m) if m.id == to_cat.id))
        .await;
    assert_eq!(
        refused(
            ann.client
                .send(Peer::User("bob".into()), 1, text("not hi"))
                .await
        ),
        ErrorCode::ClientMsgIdReused
    );
    // Within a bounded wait the sweep expires the record.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let again = ann
            .client
            .send(Peer::User("bob".into()), 1, text("hi bob"))
            .await
            .unwrap();
        if again.id != to_bob.id {
            bob.expect(|e| matches!(e, Event::Message(m) if m.id == again.id))
                .await;
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the record never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.stop().await;
}

/// Typing reaches a friend's online sessions (every one of them) and a room's
/// other online members, never a stranger, never the typist; a second notice
/// within a second to the same place is not passed on; nothing is stored.
pub async fn typing_reaches_online_sessions_and_is_never_stored<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    let mut bob_again = h.login("bob").await;
    let mut cat = h.user("cat").await;
    let typing = |from: &str, to: Peer| Event::Typing {
        from: from.into(),
        to,
        expires_ms: crate::protocol::limits::TYPING_SHOWN_MS,
    };
    ann.client.typing(Peer::User("bob".into())).await.unwrap();
    for b in [&mut bob, &mut bob_again] {
        assert_eq!(
            b.next_event().await,
            typing("ann", Peer::User("bob".into()))
        );
    }
    // Again at once: answered, not passed on.
    ann.client.typing(Peer::User("bob".into())).await.unwrap();
    assert_eq!(
        refused(ann.client.typing(Peer::User("cat".into())).await),
        ErrorCode::NotFriends
    );
    ann.client.create_room("den").await.unwrap();
    bob.client.join_room("den").await.unwrap();
    cat.client.join_room("den").await.unwrap();
    bob.sync().await;
    let mut ann = ann;
    bob.client.typing(Peer::Room("den".into())).await.unwrap();
    ann.expect(|e| *e == typing("bob", Peer::Room("den".into())))
        .await;
    cat.expect(|e| *e == typing("bob", Peer::Room("den".into())))
        .await;
    assert_eq!(
        refused(
            h.user("dan")
                .await
                .client
                .typing(Peer::Room("den".into()))
                .await
        ),
        ErrorCode::NotRoomMember
    );
    bob.assert_quiet_except(|e| !matches!(e, Event::Typing { .. }))
        .await;
    bob_again
        .assert_quiet_except(|e| !matches!(e, Event::Typing { .. }))
        .await;
    // Nothing waits for a later login.
    drop((bob, bob_again));
    let mut bob = h.login_raw("bob").await;
    loop {
        match bob.next_event().await {
            Event::Typing { .. } => panic!("a typing notice was stored"),
            Event::CaughtUp => break,
            _ => {}
        }
    }
    h.stop().await;
}
