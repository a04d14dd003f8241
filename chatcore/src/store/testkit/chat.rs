//! Chat: 1:1 messages and their seqs, the stream and devices' positions in
//! it, acks and their receipts, history, and idempotent sends.

use super::{
    ack_to, befriend, default_device, inbox, new_id, send, stream, text, try_send, user, Fixture,
    ACKED_AT, MAX_PENDING,
};
use crate::friends::FriendAction;
use crate::protocol::{DeviceClaim, ErrorCode, Event, Peer};
use crate::store::{Appended, DirectSent, NewMessage, Receipt, Store, User, UserId};

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

/// A `client_msg_id` names a send within its conversation: the same id in
/// another conversation is another message, and the same id with another body
/// in the same conversation is refused, never answered with the first receipt.
pub async fn client_msg_ids_are_per_conversation_and_a_reuse_is_refused<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b, c) = (
        user(&store, "ann").await,
        user(&store, "bob").await,
        user(&store, "cat").await,
    );
    let to_bob = new_id(&send(&store, &a, &b, 7, "for bob").await);
    let to_cat = new_id(&send(&store, &a, &c, 7, "for cat").await);
    assert_ne!(to_bob, to_cat);
    assert_eq!(inbox(&store, c.id).await.len(), 1, "cat got her message");
    assert_eq!(
        try_send(&store, &a, &b, 7, "something else").await,
        Err(ErrorCode::ClientMsgIdReused)
    );
    assert_eq!(inbox(&store, b.id).await.len(), 1, "nothing more for bob");
    assert!(matches!(
        try_send(&store, &a, &b, 7, "for bob").await,
        Ok(Appended::Duplicate(r)) if r.id == to_bob
    ));
}

/// Idempotency records are kept until they expire; a sweep (pages of two
/// records, resumed where the last stopped) deletes exactly the expired ones;
/// a retry after that is a new message, and records of later sends stay.
pub async fn send_records_expire<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b, c) = (
        user(&store, "ann").await,
        user(&store, "bob").await,
        user(&store, "cat").await,
    );
    // Sent at 1_700_000_000_000 + id ms: ids 1..=3 old, 50..=52 recent.
    let mut old = Vec::new();
    for id in 1..=3 {
        old.push(new_id(&send(&store, &a, &b, id, "old").await));
        send(&store, &c, &a, id + 49, "recent").await;
    }
    let recent = new_id(&send(&store, &a, &b, 52, "recent").await);
    // Swept from the backend (a store with a log checkpoints at its close,
    // packing the records of a conversation together).
    drop(store);
    let store = fx.open();
    let sweep = |before: u64| {
        let store = &store;
        async move {
            let (mut resume, mut expired, mut calls) = (None, 0, 0);
            loop {
                let step = store.expire_send_records(before, resume, 2).await.unwrap();
                expired += step.expired;
                calls += 1;
                assert!(calls < 100, "the sweep ends");
                match step.next {
                    Some(next) => resume = Some(next),
                    None => return expired,
                }
            }
        }
    };
    assert_eq!(
        sweep(1_700_000_000_001).await,
        0,
        "nothing is older than its own ms"
    );
    assert_eq!(sweep(1_700_000_000_010).await, 3);
    assert_eq!(sweep(1_700_000_000_010).await, 0, "gone");
    drop(store);
    let store = fx.open();
    let again = new_id(&send(&store, &a, &b, 1, "old").await);
    assert!(
        !old.contains(&again),
        "an expired record no longer deduplicates"
    );
    assert!(matches!(
        send(&store, &a, &b, 52, "recent").await,
        Appended::Duplicate(r) if r.id == recent
    ));
}

/// The send itself checks blocks (either way) and, when asked, friendship: the
/// store refuses what the engine's caches might still allow.
pub async fn blocks_and_friendship_are_checked_by_the_send<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let closed = |from: &crate::store::User, to: &crate::store::User, id: u64| NewMessage {
        from: from.clone(),
        to: to.clone(),
        client_msg_id: id,
        body: text("hi"),
        ts: 1,
        friends_only: true,
        device: None,
    };
    assert_eq!(
        store.append_direct(closed(&a, &b, 1)).await.unwrap(),
        Err(ErrorCode::NotFriends)
    );
    befriend(&store, &a, &b).await;
    assert!(matches!(
        store.append_direct(closed(&a, &b, 2)).await.unwrap(),
        Ok(DirectSent { notices, .. }) if notices.len() == 1
    ));
    store
        .friend_op(&b, &a, FriendAction::Block, MAX_PENDING)
        .await
        .unwrap()
        .unwrap();
    for (from, to) in [(&a, &b), (&b, &a)] {
        assert_eq!(
            try_send(&store, from, to, 3, "blocked").await,
            Err(ErrorCode::Blocked),
            "{} to {}",
            from.name,
            to.name
        );
    }
    // A retry of what was stored before the block is still answered as stored.
    assert!(matches!(
        store.append_direct(closed(&a, &b, 2)).await.unwrap(),
        Ok(DirectSent { notices, .. }) if notices.is_empty()
    ));
    let messages = inbox(&store, b.id)
        .await
        .into_iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    assert_eq!(messages, 1, "only the message sent before the block");
}

/// A device's ack moves its position, cumulatively; the messages it passes
/// move each conversation's delivered mark (kept, for the senders' devices to
/// read, not put in their streams), one cumulative receipt per sender (with
/// the ids it newly covers, for older clients); an older position, a repeated
/// one, and another device passing the same messages produce nothing more.
/// Items every device is past are let go.
pub async fn acks_move_a_position_and_write_one_receipt_per_sender<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b, c) = (
        user(&store, "ann").await,
        user(&store, "bob").await,
        user(&store, "cat").await,
    );
    let phone = default_device(&store, c.id).await;
    let x1 = new_id(&send(&store, &a, &c, 1, "x1").await);
    let y1 = new_id(&send(&store, &b, &c, 1, "y1").await);
    let x2 = new_id(&send(&store, &a, &c, 2, "x2").await);
    let items = stream(&store, c.id).await;
    assert_eq!(
        items.iter().map(|i| i.pos).collect::<Vec<_>>(),
        [1, 2, 3],
        "positions from 1, one per item"
    );
    let laptop = store
        .device_login(
            c.id,
            Some(DeviceClaim::New {
                name: "laptop".into(),
            }),
            20,
            5,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        laptop.position, 0,
        "a new device starts at the oldest kept item"
    );
    // The phone passes ann's first message and bob's: one receipt each, a
    // mark the senders can read later, and no item of their streams.
    let receipts = ack_to(&store, c.id, phone, 2).await;
    let receipt = |sender: &User, seq, ids: Vec<u64>| Receipt {
        sender: sender.id,
        recipient: "cat".into(),
        seq,
        ids,
    };
    assert_eq!(
        receipts,
        [receipt(&a, 1, vec![x1]), receipt(&b, 1, vec![y1])]
    );
    assert!(stream(&store, a.id).await.is_empty());
    let kept = &store;
    let marks =
        |sender: UserId, since| async move { kept.delivered_since(sender, since).await.unwrap() };
    assert_eq!(marks(a.id, 0).await, [("cat".to_string(), 1)]);
    assert!(marks(a.id, ACKED_AT + 1).await.is_empty(), "none since");
    // Nothing is let go while the laptop has not passed it.
    assert_eq!(stream(&store, c.id).await.len(), 3);
    // An older or repeated position, and the laptop passing the same
    // messages, send nothing more.
    assert!(ack_to(&store, c.id, phone, 1).await.is_empty());
    assert!(ack_to(&store, c.id, phone, 2).await.is_empty());
    assert!(ack_to(&store, c.id, laptop.device.id, 2).await.is_empty());
    assert_eq!(stream(&store, c.id).await.len(), 1, "both passed two items");
    // Past the newest item is the newest item; ann's second message is now
    // delivered, cumulatively.
    let receipts = ack_to(&store, c.id, laptop.device.id, 99).await;
    assert_eq!(receipts, [receipt(&a, 2, vec![x2])]);
    assert_eq!(marks(a.id, 0).await, [("cat".to_string(), 2)]);
    assert_eq!(
        stream(&store, c.id).await.len(),
        1,
        "the phone holds the last one"
    );
    ack_to(&store, c.id, phone, 3).await;
    assert!(stream(&store, c.id).await.is_empty());
    // A new device now starts past everything let go.
    let tablet = store
        .device_login(
            c.id,
            Some(DeviceClaim::New {
                name: "tablet".into(),
            }),
            20,
            5,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tablet.position, 3);
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

/// The stream pages by position.
pub async fn the_stream_pages_after_a_position<S: Store>(fx: &Fixture<S>) {
    let store = fx.open();
    let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(new_id(&send(&store, &a, &b, i, "m").await));
    }
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.stream(b.id, after, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        for item in &page {
            assert_eq!(item.pos, after + 1, "positions follow each other");
            after = item.pos;
        }
        seen.extend(page.iter().filter_map(|i| i.event.inbox_id()));
    }
    assert_eq!(seen, ids);
    // Another user's stream is separate.
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
