//! Durability: concurrent writers (group commit) all land, and a reopen keeps
//! everything acknowledged.

use std::sync::Arc;

use super::{ack_to, befriend, default_device, inbox, new_id, send, stream, user, Fixture};
use crate::friends::LinkState;
use crate::protocol::Event;
use crate::store::{Appended, Store};

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

/// Close and reopen: users, links, history, delivered marks and unacked stream items are there;
/// acked items are not redelivered; new ids do not collide with old ones.
pub async fn reopen_keeps_everything_acked<S: Store>(fx: &Fixture<S>) {
    let (a, b, acked, kept, receipt) = {
        let store = fx.open();
        let (a, b) = (user(&store, "ann").await, user(&store, "bob").await);
        befriend(&store, &a, &b).await;
        let phone = default_device(&store, b.id).await;
        let acked = new_id(&send(&store, &a, &b, 1, "read").await);
        let kept = new_id(&send(&store, &a, &b, 2, "unread").await);
        // Past b's friend notices and the first message: only the second is
        // left.
        let items = stream(&store, b.id).await;
        let first = items.iter().find(|i| i.event.inbox_id() == Some(acked));
        let receipts = ack_to(&store, b.id, phone, first.expect("sent").pos).await;
        assert_eq!(receipts.len(), 1);
        (a, b, acked, kept, receipts[0].seq)
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
    let marks = store.delivered_since(a.id, 0).await.unwrap();
    assert_eq!(marks, [("bob".to_string(), receipt)], "the delivered mark");
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
