//! Two stores (two pools, as two nodes would have) on one database: sends
//! to one conversation get unique, gap-free seqs; a send retried on the
//! other store is stored once; a name registered on both is taken once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chatcore::protocol::Body;
use chatcore::store::{Appended, NewMessage, NewRoomMessage, SendReceipt, Store, User};
use chatcore_postgres::PgStore;

use crate::pg;

const TASKS: u64 = 4;
const SENDS: u64 = 25;

fn message(from: &User, to: &User, client_msg_id: u64) -> NewMessage {
    NewMessage {
        from: from.clone(),
        to: to.clone(),
        client_msg_id,
        body: Body::Text(format!("message {client_msg_id}")),
        ts: 1_700_000_000_000 + client_msg_id,
        friends_only: false,
        device: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_sending_to_one_conversation_keep_seqs_unique_and_retries_idempotent() {
    let config = pg::fresh_database();
    let stores = [Arc::new(pg::open(&config)), Arc::new(pg::open(&config))];
    let ann = stores[0].create_user("ann", "h").await.unwrap().unwrap();
    let bob = stores[1].create_user("bob", "h").await.unwrap().unwrap();
    // Both write in both directions of the one conversation; every send is
    // made on one store and retried at once on the other.
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        for (n, store) in stores.iter().enumerate() {
            let (store, other) = (Arc::clone(store), Arc::clone(&stores[1 - n]));
            let (from, to) = if task % 2 == 0 {
                (ann.clone(), bob.clone())
            } else {
                (bob.clone(), ann.clone())
            };
            tasks.push(tokio::spawn(async move {
                let mut receipts = Vec::new();
                for k in 0..SENDS {
                    let id = (task * 2 + n as u64) * 1_000 + k;
                    let msg = message(&from, &to, id);
                    let (first, retry) =
                        tokio::join!(store.append_direct(msg.clone()), other.append_direct(msg));
                    let first = first.unwrap().unwrap().receipt;
                    let retry = retry.unwrap().unwrap().receipt;
                    assert_eq!(first, retry, "a retry on another store answers the same");
                    receipts.push((id, first));
                }
                receipts
            }));
        }
    }
    let mut by_id: BTreeMap<u64, SendReceipt> = BTreeMap::new();
    for task in tasks {
        for (id, receipt) in task.await.unwrap() {
            assert!(by_id.insert(id, receipt).is_none());
        }
    }
    let total = TASKS * 2 * SENDS;
    let seqs: BTreeSet<u64> = by_id.values().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=total).collect(), "seqs unique and gap-free");
    let ids: BTreeSet<u64> = by_id.values().map(|r| r.id).collect();
    assert_eq!(ids.len() as u64, total, "ids unique");
    let history = stores[0]
        .direct_history(ann.id, bob.id, None, 10_000)
        .await
        .unwrap();
    assert_eq!(history.len() as u64, total, "each send stored once");
    // Seq order is commit order: ids (from one sequence, taken under the
    // conversation's lock) increase with seqs.
    let mut by_seq = history.clone();
    by_seq.sort_by_key(|m| m.seq);
    assert!(by_seq.windows(2).all(|w| w[0].id < w[1].id));
    // Each side's stream got exactly the messages sent to it, once each.
    for (user, from) in [(&ann, &bob), (&bob, &ann)] {
        let items = stores[1].stream(user.id, 0, 10_000).await.unwrap();
        let sent_to_user = history.iter().filter(|m| m.from == from.name).count();
        assert_eq!(items.len(), sent_to_user);
        let positions: Vec<u64> = items.iter().map(|i| i.pos).collect();
        assert_eq!(positions, (1..=items.len() as u64).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_sending_to_one_room_keep_seqs_unique() {
    let config = pg::fresh_database();
    let stores = [Arc::new(pg::open(&config)), Arc::new(pg::open(&config))];
    let ann = stores[0].create_user("ann", "h").await.unwrap().unwrap();
    let bob = stores[1].create_user("bob", "h").await.unwrap().unwrap();
    let room = stores[0]
        .create_room(&ann, "lobby", 10)
        .await
        .unwrap()
        .unwrap();
    assert!(stores[1].join_room(room.id, bob.id).await.unwrap().unwrap());
    let mut tasks = Vec::new();
    for (n, store) in stores.iter().enumerate() {
        for from in [&ann, &bob] {
            let (store, from, room) = (Arc::clone(store), from.clone(), room.clone());
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for k in 0..SENDS {
                    let msg = NewRoomMessage {
                        from: from.clone(),
                        room: room.clone(),
                        client_msg_id: n as u64 * 1_000 + k,
                        body: Body::Text("hi".into()),
                        ts: 1,
                    };
                    match store
                        .append_room(msg, Box::new(|_| {}))
                        .await
                        .unwrap()
                        .unwrap()
                    {
                        Appended::New(m) => seqs.push(m.seq),
                        Appended::Duplicate(r) => panic!("not a retry: {r:?}"),
                    }
                }
                seqs
            }));
        }
    }
    let mut seqs = BTreeSet::new();
    for task in tasks {
        for seq in task.await.unwrap() {
            assert!(seqs.insert(seq), "seq {seq} twice");
        }
    }
    assert_eq!(seqs, (1..=4 * SENDS).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_name_registered_on_two_stores_at_once_is_taken_once() {
    let config = pg::fresh_database();
    let (a, b): (PgStore, PgStore) = (pg::open(&config), pg::open(&config));
    for n in 0..20 {
        let (lower, upper) = (format!("user{n}"), format!("USER{n}"));
        let (x, y) = tokio::join!(a.create_user(&lower, "h"), b.create_user(&upper, "h"));
        let made = [x.unwrap(), y.unwrap()];
        assert_eq!(made.iter().flatten().count(), 1, "{made:?}");
    }
}
