//! Cluster scenarios: several servers on one store, each with its own bus
//! endpoint ([`crate::bus`]), clients spread across them. Every bus runs the
//! same scenarios (the in-process [`MemoryHub`](crate::bus::memory::MemoryHub)
//! in chatcore's tests, NATS in `chatcore-nats`'s).
//!
//! Each scenario takes a started [`Cluster`] of (at least) the nodes it
//! says, made with [`cluster_config`] unless it says otherwise. Waiting for
//! something the bus carries is bounded by the event timeout: a scenario
//! fails, never hangs.

use std::sync::Arc;
use std::time::Duration;

use super::{password, refused, test_config, Harness, TestClient, EVENT_TIMEOUT};
use crate::bus::Bus;
use crate::engine::{DuplicateLogin, ServerConfig};
use crate::protocol::{DeviceClaim, ErrorCode, Event, Message, Peer};
use crate::store::Store;

/// Nodes on one store.
pub struct Cluster {
    nodes: Vec<Harness>,
    store: Arc<dyn Store>,
    config: ServerConfig,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

/// [`test_config`] with heartbeats every 100 ms (a node unheard for 3 of
/// them is dead), so that scenarios see a node die quickly.
pub fn cluster_config() -> ServerConfig {
    let mut config = test_config();
    config.cluster_heartbeat = Duration::from_millis(100);
    config.cluster_missed_heartbeats = 3;
    config
}

/// [`cluster_config`] with the duplicate-login policy `ReplaceOld`.
pub fn replace_old_config() -> ServerConfig {
    let mut config = cluster_config();
    config.duplicate_login = DuplicateLogin::ReplaceOld;
    config
}

impl Cluster {
    /// One node per bus endpoint, all on `store`.
    pub fn start(store: Arc<dyn Store>, buses: Vec<Arc<dyn Bus>>, config: ServerConfig) -> Self {
        let nodes = buses
            .into_iter()
            .map(|bus| Harness::start_with_bus(Arc::clone(&store), config.clone(), bus))
            .collect();
        Cluster {
            nodes,
            store,
            config,
        }
    }

    /// One node per (store, bus) pair: each node with a store of its own on
    /// one database (as separate processes have).
    pub fn start_each(nodes: Vec<(Arc<dyn Store>, Arc<dyn Bus>)>, config: ServerConfig) -> Self {
        let store = Arc::clone(&nodes.first().expect("at least one node").0);
        let nodes = nodes
            .into_iter()
            .map(|(store, bus)| Harness::start_with_bus(store, config.clone(), bus))
            .collect();
        Cluster {
            nodes,
            store,
            config,
        }
    }

    /// Starts one more node, with `bus`, on the first node's store; returns its index.
    pub fn add(&mut self, bus: Arc<dyn Bus>) -> usize {
        let store = Arc::clone(&self.store);
        self.add_with(store, bus)
    }

    /// Starts one more node on `store` with `bus`; returns its index.
    pub fn add_with(&mut self, store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> usize {
        let node = Harness::start_with_bus(store, self.config.clone(), bus);
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &Harness {
        &self.nodes[i]
    }

    /// Stops every node.
    pub async fn stop(self) {
        for node in self.nodes {
            node.stop().await;
        }
    }
}

/// Waits until `check` holds, trying every 50 ms; panics after the event timeout.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {EVENT_TIMEOUT:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn text(event: &Event) -> Option<&str> {
    match event {
        Event::Message(Message {
            body: crate::protocol::Body::Text(text),
            ..
        }) => Some(text),
        _ => None,
    }
}

async fn expect_text(c: &mut TestClient, want: &str) -> Message {
    match c.expect(|e| text(e) == Some(want)).await {
        Event::Message(m) => m,
        _ => unreachable!("matched a message"),
    }
}

fn presence(user: &str, online: bool) -> Event {
    Event::Presence {
        user: user.into(),
        online,
    }
}

/// Two nodes: friends on different nodes chat, and each message arrives live
/// (before anything else is done), as does its receipt; the one on the second
/// node sees the first's presence.
pub async fn friends_on_two_nodes_chat_live(c: &Cluster) {
    let (a, b) = (c.node(0), c.node(1));
    a.register("ann").await;
    b.register("bob").await;
    let mut ann = a.login("ann").await;
    let mut bob = b.login("bob").await;
    a.befriend(&mut ann, "ann", &mut bob, "bob").await;
    for i in 0..5 {
        ann.client
            .send_text("bob", &format!("to bob {i}"))
            .await
            .unwrap();
        let got = expect_text(&mut bob, &format!("to bob {i}")).await;
        assert_eq!(got.seq, 2 * i + 1);
        bob.client
            .send_text("ann", &format!("to ann {i}"))
            .await
            .unwrap();
        expect_text(&mut ann, &format!("to ann {i}")).await;
    }
    // bob's automatic ack moves the delivered mark; ann hears of it live.
    ann.client.send_text("bob", "last").await.unwrap();
    let last = expect_text(&mut bob, "last").await;
    bob.sync().await;
    ann.expect(
        |e| matches!(e, Event::DeliveredTo { peer, seq } if peer == "bob" && *seq == last.seq),
    )
    .await;
    assert_eq!(ann.client.online_friends().await.unwrap(), vec!["bob"]);
    assert_eq!(bob.client.online_count().await.unwrap(), 2);
}

/// Two nodes: members on both send to one room at once; every member sees
/// the room's messages in one order, that of their seqs, without gaps.
pub async fn room_members_on_two_nodes_see_one_order(c: &Cluster) {
    let (a, b) = (c.node(0), c.node(1));
    let mut ann = a.user("ann").await;
    let mut bob = b.user("bob").await;
    let mut cid = b.user("cid").await;
    ann.client.create_room("lounge").await.unwrap();
    for m in [&ann, &bob, &cid] {
        m.client.join_room("lounge").await.unwrap();
    }
    // The room's first message: each node's line for the room starts with it.
    ann.client.say("lounge", "hello").await.unwrap();
    for m in [&mut ann, &mut bob, &mut cid] {
        expect_text(m, "hello").await;
    }
    const EACH: usize = 20;
    let say = |c: &TestClient, who: &'static str| {
        let client = c.client.clone();
        async move {
            let sends = (0..EACH).map(|i| {
                let client = client.clone();
                async move { client.say("lounge", &format!("{who} {i}")).await.unwrap() }
            });
            futures::future::join_all(sends).await
        }
    };
    let (sent_a, sent_b) = tokio::join!(say(&ann, "ann"), say(&bob, "bob"));
    let last = sent_a.iter().chain(&sent_b).map(|s| s.seq).max().unwrap();
    assert_eq!(last, 1 + 2 * EACH as u64);
    for m in [&mut ann, &mut bob, &mut cid] {
        let mut seqs = Vec::new();
        while seqs.len() < 2 * EACH {
            if let Event::Message(msg) = m.next_event().await {
                if msg.to == Peer::Room("lounge".into()) {
                    seqs.push(msg.seq);
                }
            }
        }
        let want: Vec<u64> = (2..=last).collect();
        assert_eq!(seqs, want, "every member sees every message in seq order");
    }
}

/// Two nodes, and a third started (on `late`) once users are online:
/// presence is cluster-wide. Friends on other nodes are told when a user's
/// first session anywhere appears and when their last anywhere goes (not
/// when one of two goes), each once; `OnlineCount` counts every node; the
/// node started later learns who is online; and when a node stops
/// heartbeating its users go offline for the others.
pub async fn presence_is_cluster_wide_and_a_silent_node_takes_its_users_offline(
    c: &mut Cluster,
    late: Arc<dyn Bus>,
) {
    let (mut ann, mut bob) = (c.node(0).user("ann").await, c.node(1).user("bob").await);
    c.node(0).befriend(&mut ann, "ann", &mut bob, "bob").await;
    let third = c.add(late);
    let (b, third) = (c.node(1), c.node(third));
    eventually("the late node learns both are online", || async {
        let c = third.connect().await;
        c.client.register("cid", &password("cid")).await.ok();
        c.client.login("cid", &password("cid")).await.unwrap();
        let count = c.client.online_count().await.unwrap();
        c.client.logout().await.unwrap();
        count == 3 // with cid
    })
    .await;
    // bob's second session, on ann's node: nothing flips, so ann is told
    // nothing when it comes or goes (her node knows bob is online elsewhere).
    let bob2 = c.node(0).login("bob").await;
    bob2.client.logout().await.unwrap();
    ann.assert_quiet().await;
    // And a third, on the third node.
    let bob3 = third.login("bob").await;
    bob3.client.logout().await.unwrap();
    bob.client.logout().await.unwrap();
    ann.expect(|e| *e == presence("bob", false)).await;
    let mut bob = b.login("bob").await;
    ann.expect(|e| *e == presence("bob", true)).await;
    bob.assert_quiet_except(|e| !matches!(e, Event::Presence { .. }))
        .await;
    ann.assert_quiet().await; // told once
    let _cid = third.login("cid").await;
    eventually("every node counts all three", || async {
        ann.client.online_count().await.unwrap() == 3
            && bob.client.online_count().await.unwrap() == 3
    })
    .await;
    // The second node goes silent: ann is told bob went, and the count drops.
    b.freeze();
    ann.expect(|e| *e == presence("bob", false)).await;
    eventually("bob's node counted out", || async {
        ann.client.online_count().await.unwrap() == 2
    })
    .await;
    bob.assert_quiet_except(|_| true).await;
}

/// Two nodes with `DuplicateLogin::ReplaceOld` ([`replace_old_config`]): a
/// login on one node kicks the user's session on the other, and the new
/// session stays.
pub async fn replace_old_kicks_across_nodes(c: &Cluster) {
    let (a, b) = (c.node(0), c.node(1));
    let mut old = a.user("ann").await;
    let mut new = b.login("ann").await;
    old.expect(|e| matches!(e, Event::Kicked { .. })).await;
    new.assert_quiet_except(|e| !matches!(e, Event::Kicked { .. }))
        .await;
    new.sync().await;
}

/// Two nodes: a device revoked from a session on one node closes its session
/// on the other.
pub async fn a_revoke_closes_the_device_on_another_node(c: &Cluster) {
    let (a, b) = (c.node(0), c.node(1));
    a.register("ann").await;
    let new = |name: &str| DeviceClaim::New { name: name.into() };
    let mut phone = a.connect().await;
    let phone_id = phone
        .client
        .login_device("ann", &password("ann"), new("phone"))
        .await
        .unwrap();
    phone.expect(|e| *e == Event::CaughtUp).await;
    let laptop = b.connect().await;
    laptop
        .client
        .login_device("ann", &password("ann"), new("laptop"))
        .await
        .unwrap();
    laptop.client.revoke_device(phone_id).await.unwrap();
    let revoked = Event::Closing {
        code: ErrorCode::DeviceRevoked,
    };
    phone.expect(|e| *e == revoked).await;
}

/// Two nodes: when ann (first node) blocks bob, bob's node forgets its
/// cached link at once: his typing notices, which only the cache checks,
/// are refused `Blocked` (and his sends, which the store checks, too); when
/// she unfriends instead, the same.
pub async fn a_block_on_one_node_is_enforced_on_the_other(c: &Cluster) {
    let (a, b) = (c.node(0), c.node(1));
    let (mut ann, mut bob) = (a.user("ann").await, b.user("bob").await);
    a.befriend(&mut ann, "ann", &mut bob, "bob").await;
    // bob's node caches the links (a typing notice checks them).
    bob.client.typing(Peer::User("ann".into())).await.unwrap();
    ann.expect(|e| matches!(e, Event::Typing { .. })).await;
    ann.client.block("bob").await.unwrap();
    eventually("bob's typing refused", || async {
        matches!(
            bob.client.typing(Peer::User("ann".into())).await,
            Err(crate::client::ClientError::Refused(ErrorCode::Blocked))
        )
    })
    .await;
    assert_eq!(
        refused(bob.client.send_text("ann", "hi").await),
        ErrorCode::Blocked
    );
}

/// Two nodes, and a way to cut the second node off its bus and to reconnect
/// it: what ann (first node) sends bob (second) while his node is cut off
/// reaches him when it reconnects, in order, once; and live delivery
/// resumes.
pub async fn messages_sent_while_a_node_is_cut_off_arrive_when_it_reconnects<Cut, Fc, Re, Fr>(
    c: &Cluster,
    cut: Cut,
    reconnect: Re,
) where
    Cut: FnOnce() -> Fc,
    Fc: std::future::Future<Output = ()>,
    Re: FnOnce() -> Fr,
    Fr: std::future::Future<Output = ()>,
{
    let (a, b) = (c.node(0), c.node(1));
    let (mut ann, mut bob) = (a.user("ann").await, b.user("bob").await);
    a.befriend(&mut ann, "ann", &mut bob, "bob").await;
    ann.client.send_text("bob", "before").await.unwrap();
    expect_text(&mut bob, "before").await;
    cut().await;
    for i in 0..3 {
        ann.client
            .send_text("bob", &format!("meanwhile {i}"))
            .await
            .unwrap();
    }
    reconnect().await;
    let mut got = Vec::new();
    while got.len() < 3 {
        let event = bob.next_event().await;
        if let Some(text) = text(&event) {
            got.push(text.to_owned());
        }
    }
    assert_eq!(got, ["meanwhile 0", "meanwhile 1", "meanwhile 2"]);
    // Live again (the bus may take a moment to carry messages again: each
    // send is a new message, and bob must get every one once, in order).
    let mut sent = 0;
    let mut seen = Vec::new();
    while seen.is_empty() {
        ann.client
            .send_text("bob", &format!("after {sent}"))
            .await
            .unwrap();
        sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(200), bob.events.next()).await
        {
            if let Some(text) = text(&event) {
                seen.push(text.to_owned());
            }
        }
        assert!(sent < 100, "live delivery did not resume");
    }
    let want: Vec<String> = (0..seen.len()).map(|i| format!("after {i}")).collect();
    assert_eq!(seen, want);
}

/// Two nodes on an in-process hub: an item lost on the bus (the node is cut
/// off and restored without being told) shows as a gap when the next one
/// arrives, and the session fills it from the store: both arrive, in order.
pub async fn an_item_lost_on_the_bus_is_filled_at_the_next(
    c: &Cluster,
    hub: &crate::bus::memory::MemoryHub,
    second: &str,
) {
    let (a, b) = (c.node(0), c.node(1));
    let (mut ann, mut bob) = (a.user("ann").await, b.user("bob").await);
    a.befriend(&mut ann, "ann", &mut bob, "bob").await;
    hub.cut_off(second);
    ann.client.send_text("bob", "lost").await.unwrap();
    hub.restore_quietly(second);
    bob.assert_quiet_except(|e| matches!(e, Event::Presence { .. }))
        .await;
    ann.client.send_text("bob", "next").await.unwrap();
    expect_text(&mut bob, "lost").await;
    match bob.next_event().await {
        Event::Message(m) => assert_eq!(text(&Event::Message(m)), Some("next")),
        other => panic!("expected the next message, got {other:?}"),
    }
}

/// Two nodes on an in-process hub: a room message lost on the bus shows as
/// a gap in the room's seqs when the next one arrives, and the node reads
/// it from the room's history: the member there gets both, in seq order.
pub async fn a_room_message_lost_on_the_bus_is_read_from_history(
    c: &Cluster,
    hub: &crate::bus::memory::MemoryHub,
    second: &str,
) {
    let (a, b) = (c.node(0), c.node(1));
    let mut ann = a.user("ann").await;
    let mut bob = b.user("bob").await;
    ann.client.create_room("lounge").await.unwrap();
    for m in [&ann, &bob] {
        m.client.join_room("lounge").await.unwrap();
    }
    ann.client.say("lounge", "first").await.unwrap();
    expect_text(&mut bob, "first").await;
    hub.cut_off(second);
    ann.client.say("lounge", "lost").await.unwrap();
    hub.restore_quietly(second);
    bob.assert_quiet_except(|e| matches!(e, Event::Presence { .. }))
        .await;
    ann.client.say("lounge", "next").await.unwrap();
    let lost = expect_text(&mut bob, "lost").await;
    let next = expect_text(&mut bob, "next").await;
    assert_eq!((lost.seq, next.seq), (2, 3));
    expect_text(&mut ann, "next").await;
}
