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
                    match store.append_room(msg).await.unwrap().unwrap() {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bounds_hold_across_two_stores() {
    use chatcore::protocol::DeviceClaim;
    use chatcore::store::{FileQuota, FileTarget, NewFile};

    let config = pg::fresh_database();
    let (a, b) = (Arc::new(pg::open(&config)), Arc::new(pg::open(&config)));
    let ann = a.create_user("ann", "h").await.unwrap().unwrap();
    let bob = a.create_user("bob", "h").await.unwrap().unwrap();
    let quota = FileQuota {
        files: 5,
        bytes: u64::MAX,
    };
    let mut offers = Vec::new();
    let mut logins = Vec::new();
    let mut rooms = Vec::new();
    for n in 0..10u64 {
        let store = if n % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        let offer = NewFile {
            from: ann.clone(),
            to: FileTarget::User(bob.clone()),
            name: format!("f{n}"),
            size: 10,
            sha256: [0; 32],
            chunk_size: 10,
            ts: 1,
        };
        let s = Arc::clone(&store);
        offers.push(tokio::spawn(
            async move { s.create_file(offer, quota).await },
        ));
        let (s, id) = (Arc::clone(&store), ann.id);
        logins.push(tokio::spawn(async move {
            let claim = Some(DeviceClaim::New {
                name: format!("d{n}"),
            });
            s.device_login(id, claim, 3, 1).await
        }));
        let (s, owner) = (Arc::clone(&store), bob.clone());
        rooms.push(tokio::spawn(async move {
            s.create_room(&owner, &format!("room{}", n % 4), 3).await
        }));
    }
    let mut accepted = 0;
    for offer in offers {
        accepted += usize::from(offer.await.unwrap().unwrap().is_ok());
    }
    assert_eq!(accepted, 5, "the file quota holds");
    let mut devices = 0;
    for login in logins {
        devices += usize::from(login.await.unwrap().unwrap().is_ok());
    }
    assert_eq!(devices, 3, "max_devices holds");
    assert_eq!(a.devices(ann.id).await.unwrap().len(), 3);
    let mut made = 0;
    for room in rooms {
        made += usize::from(room.await.unwrap().unwrap().is_ok());
    }
    // Four names, at most three rooms per owner.
    assert_eq!(made, 3, "room names unique and the owner's bound holds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crossing_friend_requests_and_acks_on_two_stores_stay_consistent() {
    use chatcore::friends::{FriendAction, LinkState};
    use chatcore::store::Acks;

    let config = pg::fresh_database();
    let (a, b) = (Arc::new(pg::open(&config)), Arc::new(pg::open(&config)));
    let mut pairs = Vec::new();
    for n in 0..10 {
        let x = a.create_user(&format!("x{n}"), "h").await.unwrap().unwrap();
        let y = a.create_user(&format!("y{n}"), "h").await.unwrap().unwrap();
        pairs.push((x, y));
    }
    let mut tasks = Vec::new();
    for (x, y) in &pairs {
        let request = || FriendAction::Request { note: "hi".into() };
        let (s, x1, y1) = (Arc::clone(&a), x.clone(), y.clone());
        tasks.push(tokio::spawn(async move {
            s.friend_op(&x1, &y1, request(), 10).await
        }));
        let (s, x2, y2) = (Arc::clone(&b), x.clone(), y.clone());
        tasks.push(tokio::spawn(async move {
            s.friend_op(&y2, &x2, request(), 10).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap().unwrap();
    }
    for (x, y) in &pairs {
        // Crossing requests make friends, on both sides, whichever came first.
        assert_eq!(a.link(x.id, y.id).await.unwrap().state, LinkState::Friends);
        assert_eq!(b.link(y.id, x.id).await.unwrap().state, LinkState::Friends);
    }
    // Two devices of one user ack the same messages on two stores at once,
    // round after round: the delivered mark moves once a round, so exactly
    // one receipt names each round's newest seq.
    let (x, y) = &pairs[0];
    let login = |s: Arc<PgStore>, name: &str| {
        let claim = Some(chatcore::protocol::DeviceClaim::New { name: name.into() });
        let id = y.id;
        async move { s.device_login(id, claim, 10, 1).await.unwrap().unwrap() }
    };
    let (d1, d2) = (
        login(Arc::clone(&a), "one").await,
        login(Arc::clone(&b), "two").await,
    );
    let ack = |s: Arc<PgStore>, device, head| {
        let id = y.id;
        async move {
            let acks = Acks {
                device,
                up_to: Some(head),
                room_messages: Vec::new(),
                now: 2,
                active_since: 0,
            };
            s.ack(id, acks).await.unwrap()
        }
    };
    for round in 0..20u64 {
        for k in 0..3 {
            let sent = a.append_direct(message(x, y, round * 3 + k)).await;
            sent.unwrap().unwrap();
        }
        let head = a.stream(y.id, 0, 1000).await.unwrap().last().unwrap().pos;
        let (r1, r2) = tokio::join!(
            ack(Arc::clone(&a), d1.device.id, head),
            ack(Arc::clone(&b), d2.device.id, head)
        );
        let receipts: Vec<_> = r1.into_iter().chain(r2).collect();
        assert_eq!(receipts.len(), 1, "round {round}: {receipts:?}");
        assert_eq!(receipts[0].seq, round * 3 + 3);
        assert_eq!(receipts[0].ids.len(), 3);
    }
    // One device acks twice at once on two stores (a retried ack beside a
    // newer one): its position never moves back.
    for round in 0..20u64 {
        for k in 0..3 {
            let sent = a.append_direct(message(x, y, 1_000 + round * 3 + k)).await;
            sent.unwrap().unwrap();
        }
        let head = a.stream(y.id, 0, 1000).await.unwrap().last().unwrap().pos;
        tokio::join!(
            ack(Arc::clone(&a), d1.device.id, head),
            ack(Arc::clone(&b), d1.device.id, head - 2)
        );
        let claim = Some(chatcore::protocol::DeviceClaim::Known { id: d1.device.id });
        let login = b.device_login(y.id, claim, 10, 3).await.unwrap().unwrap();
        assert_eq!(login.position, head, "round {round}");
    }
}
