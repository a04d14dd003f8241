//! End-to-end engine scenarios over the in-memory transport (feature `testkit`).
//!
//! Every scenario takes a store [`Fixture`], so each backend runs the very same
//! scenarios with one macro call:
//!
//! ```ignore
//! chatcore::engine_scenario_tests!(Fixture::in_temp_dir(|dir| MyStore::open(dir).unwrap()));
//! ```
//!
//! [`Harness`] and [`TestClient`] are public so applications can write their own.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{DuplicateLogin, Server, ServerConfig};
use crate::auth::HashParams;
use crate::client::{Client, ClientError, Events};
use crate::protocol::{
    limits, Body, ClientFrame, ErrorCode, Event, FriendState, Peer, Request, Response, ServerFrame,
    OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use crate::store::testkit::Fixture;
use crate::store::Store;
use crate::transport::memory::{self, MemoryConnector};

/// How long a test waits for an expected event before failing (a hang guard, not
/// a speed assertion).
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`TestClient::assert_quiet`] listens.
const QUIET: Duration = Duration::from_millis(150);

/// A server on the in-memory transport.
#[derive(Debug)]
pub struct Harness {
    server: Server,
    connector: MemoryConnector,
    shutdown: CancellationToken,
}

/// A connected client with its event stream.
#[derive(Debug)]
pub struct TestClient {
    /// The client.
    pub client: Client,
    /// Its events.
    pub events: Events,
}

/// Test config: light (still real) argon2 parameters, and request rate limits
/// out of the way of scenarios that pipeline hundreds of requests.
pub fn test_config() -> ServerConfig {
    ServerConfig {
        hash_params: HashParams::insecure_fast(),
        request_rate: 100_000.0,
        request_burst: 100_000,
        ..ServerConfig::default()
    }
}

impl Harness {
    /// Starts a server on `store`.
    pub fn start(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        let server = Server::new(store, config).expect("valid config");
        let (listener, connector) = memory::listener();
        let shutdown = CancellationToken::new();
        tokio::spawn(server.clone().serve(listener, shutdown.clone()));
        Harness {
            server,
            connector,
            shutdown,
        }
    }

    /// The server.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Opens raw connections to the server.
    pub fn connector(&self) -> &MemoryConnector {
        &self.connector
    }

    /// A new connection, hello done.
    pub async fn connect(&self) -> TestClient {
        let conn = self.connector.connect().await.expect("connect");
        let (client, events) = Client::connect(conn).await.expect("hello");
        TestClient { client, events }
    }

    /// Registers `name` (password `name-password`) on a new connection.
    pub async fn register(&self, name: &str) {
        let c = self.connect().await;
        c.client
            .register(name, &password(name))
            .await
            .expect("register");
    }

    /// A new connection logged in as `name` (registered before), past `CaughtUp`.
    pub async fn login(&self, name: &str) -> TestClient {
        let mut c = self.connect().await;
        c.client.login(name, &password(name)).await.expect("login");
        c.expect(|e| matches!(e, Event::CaughtUp)).await;
        c
    }

    /// Registers and logs in.
    pub async fn user(&self, name: &str) -> TestClient {
        self.register(name).await;
        self.login(name).await
    }

    /// Registers and logs in `a` and `b`, and makes them friends.
    pub async fn friends(&self, a: &str, b: &str) -> (TestClient, TestClient) {
        let mut first = self.user(a).await;
        let mut second = self.user(b).await;
        self.befriend(&mut first, a, &mut second, b).await;
        (first, second)
    }

    /// Makes `a` and `b` friends (both online), consuming the notices.
    pub async fn befriend(
        &self,
        a: &mut TestClient,
        a_name: &str,
        b: &mut TestClient,
        b_name: &str,
    ) {
        a.client
            .friend_request(b_name, "hi")
            .await
            .expect("request");
        b.expect(|e| matches!(e, Event::FriendRequested { from, .. } if from == a_name))
            .await;
        b.client.respond_friend(a_name, true).await.expect("accept");
        a.expect(|e| matches!(e, Event::FriendAdded { user, .. } if user == b_name))
            .await;
        b.expect(|e| matches!(e, Event::FriendAdded { user, .. } if user == a_name))
            .await;
        // New friends who are both online see each other's presence.
        let online = |user: &str| Event::Presence {
            user: user.into(),
            online: true,
        };
        a.expect(|e| *e == online(b_name)).await;
        b.expect(|e| *e == online(a_name)).await;
        // Let the automatic acks land, so no notice is redelivered at a later login.
        a.sync().await;
        b.sync().await;
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server.shutdown().await;
    }
}

/// The password the harness gives `name`.
pub fn password(name: &str) -> String {
    format!("{name}-password")
}

impl TestClient {
    /// The next event; panics if none comes within the timeout.
    pub async fn next_event(&mut self) -> Event {
        match tokio::time::timeout(EVENT_TIMEOUT, self.events.next()).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("connection closed while waiting for an event"),
            Err(_) => panic!("no event within {EVENT_TIMEOUT:?}"),
        }
    }

    /// Skips events until one matches; returns it.
    pub async fn expect(&mut self, matches: impl Fn(&Event) -> bool) -> Event {
        loop {
            let event = self.next_event().await;
            if matches(&event) {
                return event;
            }
        }
    }

    /// Asserts that no event arrives for a short while.
    pub async fn assert_quiet(&mut self) {
        if let Ok(Some(event)) = tokio::time::timeout(QUIET, self.events.next()).await {
            panic!("expected no event, got {event:?}");
        }
    }

    /// A round trip: every frame this client sent before (acks included) has
    /// been processed when it returns. (The client sends the acks of events it
    /// forwarded before any later request.)
    pub async fn sync(&self) {
        self.client.ping().await.expect("ping");
    }
}

fn refused<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Refused(code)) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn harness<S: Store>(fx: &Fixture<S>, config: ServerConfig) -> Harness {
    Harness::start(Arc::new(fx.open()), config)
}

/// Expands to one `#[tokio::test]` per engine scenario, each on a fresh fixture.
#[macro_export]
macro_rules! engine_scenario_tests {
    ($fixture:expr) => {
        $crate::__testkit_tests!(engine::testkit; $fixture;
            offline_message_is_delivered_once,
            receipt_reaches_offline_sender_at_login,
            retried_send_is_delivered_once,
            offline_backlog_arrives_in_order,
            friend_request_to_offline_user,
            crossing_requests_become_friends,
            remove_friend_stops_chat,
            block_stops_requests_and_chat,
            presence_reaches_friends_not_strangers,
            error_codes_are_documented_ones,
            replace_policy_kicks_old_session,
            allow_policy_delivers_to_every_session,
            open_chat_allows_strangers,
            search_and_history,
            protocol_violations_close,
            room_members_see_one_order,
            offline_member_catches_up_by_history,
            room_refusals_and_delete,
            file_to_offline_friend_arrives_intact,
            bad_uploads_leave_nothing_visible,
            room_files_reach_members,
            pipelined_sends_keep_order,
            acks_in_both_protocol_versions,
        );
    };
}

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
    assert_eq!(bob.next_event().await, Event::CaughtUp);
    bob.sync().await; // the auto-ack is processed

    let delivered = ann.expect(|e| matches!(e, Event::Delivered { .. })).await;
    assert!(matches!(delivered, Event::Delivered { ids, .. } if ids == vec![sent.id]));

    drop(bob);
    let mut bob = h.login_raw("bob").await;
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
    let receipt = ann.expect(|e| matches!(e, Event::Delivered { .. })).await;
    assert!(matches!(receipt, Event::Delivered { ids, .. } if ids == vec![sent.id]));
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

/// A friend request to an offline user waits; accepted at their next login,
/// both sides are told.
pub async fn friend_request_to_offline_user<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let mut ann = h.user("ann").await;
    h.register("bob").await;
    assert!(!ann
        .client
        .friend_request("bob", "remember me?")
        .await
        .unwrap());
    let mut bob = h.login_raw("bob").await;
    let req = bob.next_event().await;
    assert!(
        matches!(&req, Event::FriendRequested { from, note, .. } if from == "ann" && note == "remember me?"),
        "{req:?}"
    );
    bob.expect(|e| *e == Event::CaughtUp).await;
    let pending = bob.client.friends().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].state, FriendState::RequestReceived);
    bob.client.respond_friend("ann", true).await.unwrap();
    ann.expect(|e| matches!(e, Event::FriendAdded { user, .. } if user == "bob"))
        .await;
    bob.expect(|e| matches!(e, Event::FriendAdded { user, .. } if user == "ann"))
        .await;
    let friends = ann.client.friends().await.unwrap();
    assert_eq!(friends.len(), 1);
    assert_eq!(
        (
            friends[0].user.as_str(),
            friends[0].state,
            friends[0].online
        ),
        ("bob", FriendState::Friends, true)
    );
    // A second login of bob does not see the request again.
    bob.sync().await;
    drop(bob);
    let mut bob = h.login_raw("bob").await;
    assert_eq!(bob.next_event().await, Event::CaughtUp);
    h.stop().await;
}

/// Requests crossing each other make friends at once.
pub async fn crossing_requests_become_friends<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let mut ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    assert!(!ann.client.friend_request("bob", "").await.unwrap());
    assert!(bob.client.friend_request("ann", "").await.unwrap());
    ann.expect(|e| matches!(e, Event::FriendAdded { user, .. } if user == "bob"))
        .await;
    bob.expect(|e| matches!(e, Event::FriendAdded { user, .. } if user == "ann"))
        .await;
    ann.client.send_text("bob", "we're friends").await.unwrap();
    h.stop().await;
}

/// Removing a friend tells them and stops chat both ways.
pub async fn remove_friend_stops_chat<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    ann.client.remove_friend("bob").await.unwrap();
    bob.expect(|e| matches!(e, Event::FriendRemoved { user, .. } if user == "ann"))
        .await;
    assert_eq!(
        refused(ann.client.send_text("bob", "hi").await),
        ErrorCode::NotFriends
    );
    assert_eq!(
        refused(bob.client.send_text("ann", "hi").await),
        ErrorCode::NotFriends
    );
    assert_eq!(
        refused(ann.client.remove_friend("bob").await),
        ErrorCode::NotFriends
    );
    h.stop().await;
}

/// A block stops requests and chat from either side; unblock lifts it.
pub async fn block_stops_requests_and_chat<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    ann.client.block("bob").await.unwrap();
    bob.expect(|e| matches!(e, Event::FriendRemoved { .. }))
        .await;
    assert_eq!(
        refused(bob.client.send_text("ann", "hi").await),
        ErrorCode::Blocked
    );
    assert_eq!(
        refused(bob.client.friend_request("ann", "").await),
        ErrorCode::Blocked
    );
    assert_eq!(
        refused(ann.client.friend_request("bob", "").await),
        ErrorCode::Blocked
    );
    let list = ann.client.friends().await.unwrap();
    assert_eq!(list[0].state, FriendState::Blocked);
    ann.client.unblock("bob").await.unwrap();
    assert!(!bob.client.friend_request("ann", "again?").await.unwrap());
    h.stop().await;
}

/// Friends see each other come and go; strangers see nothing; online lists and
/// counts follow.
pub async fn presence_reaches_friends_not_strangers<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let mut ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    let mut cat = h.user("cat").await;
    h.befriend(&mut ann, "ann", &mut bob, "bob").await;
    assert_eq!(ann.client.online_friends().await.unwrap(), vec!["bob"]);
    assert_eq!(cat.client.online_count().await.unwrap(), 3);

    bob.client.logout().await.unwrap();
    ann.expect(|e| {
        *e == Event::Presence {
            user: "bob".into(),
            online: false,
        }
    })
    .await;
    assert!(ann.client.online_friends().await.unwrap().is_empty());
    assert_eq!(ann.client.online_count().await.unwrap(), 2);

    bob.client.login("bob", &password("bob")).await.unwrap();
    ann.expect(|e| {
        *e == Event::Presence {
            user: "bob".into(),
            online: true,
        }
    })
    .await;
    // bob learns who is online by asking.
    bob.expect(|e| *e == Event::CaughtUp).await;
    assert_eq!(bob.client.online_friends().await.unwrap(), vec!["ann"]);

    drop(bob); // a dropped connection counts as leaving
    ann.expect(|e| {
        *e == Event::Presence {
            user: "bob".into(),
            online: false,
        }
    })
    .await;
    cat.assert_quiet().await;
    h.stop().await;
}

/// Every refusal reachable from the API carries its documented code.
pub async fn error_codes_are_documented_ones<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let anon = h.connect().await;
    let c = &anon.client;
    assert_eq!(refused(c.friends().await), ErrorCode::NotAuthenticated);
    assert_eq!(
        refused(c.send_text("x", "y").await),
        ErrorCode::NotAuthenticated
    );
    assert_eq!(
        refused(c.register("ab", "long-enough").await),
        ErrorCode::InvalidUsername
    );
    assert_eq!(
        refused(c.register("has space", "long-enough").await),
        ErrorCode::InvalidUsername
    );
    assert_eq!(
        refused(c.register("ann", "short").await),
        ErrorCode::InvalidPassword
    );
    c.register("Ann", &password("ann")).await.unwrap();
    assert_eq!(
        refused(c.register("aNN", "whatever-123").await),
        ErrorCode::UsernameTaken
    );
    assert_eq!(
        refused(c.login("ann", "wrong-password").await),
        ErrorCode::InvalidCredentials
    );
    assert_eq!(
        refused(c.login("nobody", "wrong-password").await),
        ErrorCode::InvalidCredentials
    );
    assert_eq!(c.login("ANN", &password("ann")).await.unwrap(), "Ann");
    assert_eq!(
        refused(c.login("ann", &password("ann")).await),
        ErrorCode::AlreadyAuthenticated
    );
    assert_eq!(
        refused(c.friend_request("nobody", "").await),
        ErrorCode::NoSuchUser
    );
    assert_eq!(
        refused(c.friend_request("ann", "").await),
        ErrorCode::CannotBefriendSelf
    );
    assert_eq!(
        refused(c.send_text("nobody", "hi").await),
        ErrorCode::NoSuchUser
    );
    h.register("bob").await;
    assert_eq!(
        refused(c.send_text("bob", "hi").await),
        ErrorCode::NotFriends
    );
    assert_eq!(
        refused(c.respond_friend("bob", true).await),
        ErrorCode::NoSuchRequest
    );
    let long_note = "n".repeat(crate::protocol::limits::MAX_NOTE_LEN + 1);
    assert_eq!(
        refused(c.friend_request("bob", &long_note).await),
        ErrorCode::InvalidArgument
    );
    c.friend_request("bob", "").await.unwrap();
    assert_eq!(
        refused(c.friend_request("bob", "").await),
        ErrorCode::AlreadyRequested
    );
    let mut bob = h.login("bob").await;
    bob.client.respond_friend("Ann", true).await.unwrap();
    assert_eq!(
        refused(c.friend_request("bob", "").await),
        ErrorCode::AlreadyFriends
    );
    assert_eq!(
        refused(c.send_text("bob", "").await),
        ErrorCode::InvalidMessage
    );
    let huge = "x".repeat(crate::protocol::limits::MAX_TEXT_LEN + 1);
    assert_eq!(
        refused(c.send_text("bob", &huge).await),
        ErrorCode::InvalidMessage
    );
    let to_room = c
        .send(Peer::Room("lobby".into()), 1, Body::Text("hi".into()))
        .await;
    assert_eq!(refused(to_room), ErrorCode::NoSuchRoom);
    let big_ack = c
        .ack(vec![0; crate::protocol::limits::MAX_ACK_IDS + 1])
        .await;
    assert_eq!(refused(big_ack), ErrorCode::InvalidArgument);
    bob.assert_quiet_except_presence().await;
    h.stop().await;
}

/// With `ReplaceOld`, a second login kicks the first session; friends see no
/// offline blip.
pub async fn replace_policy_kicks_old_session<S: Store>(fx: &Fixture<S>) {
    let mut config = test_config();
    config.duplicate_login = DuplicateLogin::ReplaceOld;
    let h = harness(fx, config);
    let (mut ann, mut bob) = h.friends("ann", "bob").await;
    let mut bob2 = h.login("bob").await;
    let kicked = bob.next_event().await;
    assert!(matches!(kicked, Event::Kicked { .. }), "{kicked:?}");
    assert!(
        bob.events.next().await.is_none(),
        "the kicked connection closes"
    );
    let sent = ann
        .client
        .send_text("bob", "to the new session")
        .await
        .unwrap();
    bob2.expect(|e| matches!(e, Event::Message(m) if m.id == sent.id))
        .await;
    ann.assert_quiet_except(|e| matches!(e, Event::Delivered { .. }))
        .await;
    assert_eq!(ann.client.online_friends().await.unwrap(), vec!["bob"]);
    h.stop().await;
}

/// With `Allow`, every session of the user gets the message; the user stays
/// online until the last one leaves.
pub async fn allow_policy_delivers_to_every_session<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (mut ann, mut bob) = h.friends("ann", "bob").await;
    let mut bob2 = h.login("bob").await;
    let sent = ann.client.send_text("bob", "to both").await.unwrap();
    for b in [&mut bob, &mut bob2] {
        b.expect(|e| matches!(e, Event::Message(m) if m.id == sent.id))
            .await;
    }
    drop(bob2);
    assert_eq!(ann.client.online_friends().await.unwrap(), vec!["bob"]);
    ann.assert_quiet_except(|e| matches!(e, Event::Delivered { .. }))
        .await;
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

/// Search by substring; history pages backwards by seq.
pub async fn search_and_history<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let mut ann = h.user("ann").await;
    let mut anna = h.user("anna").await;
    h.register("joanne").await;
    h.register("zed").await;
    let found = ann.client.search_users("ANN", 10).await.unwrap();
    assert_eq!(found, vec!["ann", "anna", "joanne"]);
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

/// Bad frame orders close the connection with `Closing`; others keep working.
pub async fn protocol_violations_close<S: Store>(fx: &Fixture<S>) {
    use futures::{SinkExt, StreamExt};
    let h = harness(fx, test_config());
    let ann = h.user("ann").await;

    // A request before hello.
    let mut raw = h.connector.connect().await.unwrap();
    raw.send(ClientFrame::Request {
        req_id: 1,
        request: Request::Ping,
    })
    .await
    .unwrap();
    assert_eq!(
        raw.next().await.unwrap().unwrap(),
        ServerFrame::Event(Event::Closing {
            code: ErrorCode::ProtocolViolation
        })
    );
    assert!(raw.next().await.is_none());

    // Too old a version: the server says its own version, then closes.
    let mut raw = h.connector.connect().await.unwrap();
    raw.send(ClientFrame::Hello {
        version: OLDEST_PROTOCOL_VERSION - 1,
        client: "ancient".into(),
    })
    .await
    .unwrap();
    assert!(
        matches!(raw.next().await.unwrap().unwrap(), ServerFrame::Hello { version, .. } if version == PROTOCOL_VERSION)
    );
    assert_eq!(
        raw.next().await.unwrap().unwrap(),
        ServerFrame::Event(Event::Closing {
            code: ErrorCode::UnsupportedVersion
        })
    );

    // A second hello.
    let mut raw = h.connector.connect().await.unwrap();
    let hello = ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        client: "twice".into(),
    };
    raw.send(hello.clone()).await.unwrap();
    assert!(matches!(
        raw.next().await.unwrap().unwrap(),
        ServerFrame::Hello { .. }
    ));
    raw.send(hello).await.unwrap();
    assert_eq!(
        raw.next().await.unwrap().unwrap(),
        ServerFrame::Event(Event::Closing {
            code: ErrorCode::ProtocolViolation
        })
    );

    ann.sync().await;
    h.stop().await;
}

impl Harness {
    /// Logs `name` in on a new connection without consuming any event.
    pub async fn login_raw(&self, name: &str) -> TestClient {
        let c = self.connect().await;
        c.client.login(name, &password(name)).await.expect("login");
        c
    }
}

impl TestClient {
    /// Asserts that nothing arrives for a while except events matching `allowed`.
    pub async fn assert_quiet_except(&mut self, allowed: impl Fn(&Event) -> bool) {
        let deadline = tokio::time::Instant::now() + QUIET;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.next()).await {
            assert!(allowed(&event), "unexpected event {event:?}");
        }
    }

    /// Asserts quiet, ignoring presence changes.
    pub async fn assert_quiet_except_presence(&mut self) {
        self.assert_quiet_except(|e| {
            matches!(e, Event::Presence { .. } | Event::FriendAdded { .. })
        })
        .await;
    }
}

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
    c.join_room("lobby").await.unwrap();
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

fn file_config() -> ServerConfig {
    let mut config = test_config();
    config.file_chunk_size = 1000;
    config.max_file_size = 100_000;
    config
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

async fn upload(c: &Client, to: Peer, name: &str, bytes: &[u8]) -> Result<u64, ClientError> {
    let (file, chunk) = c
        .offer_file(to, name, bytes.len() as u64, sha256(bytes))
        .await?;
    for (i, part) in bytes.chunks(chunk as usize).enumerate() {
        c.upload_chunk(file, (i * chunk as usize) as u64, part.to_vec())
            .await?;
    }
    c.complete_file(file).await?;
    Ok(file)
}

async fn download(c: &Client, file: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let part = c
            .download_chunk(file, out.len() as u64, 4096)
            .await
            .unwrap();
        if part.is_empty() {
            return out;
        }
        out.extend(part);
    }
}

fn test_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// A file sent while the friend was offline is announced at their login and
/// downloads byte-identical.
pub async fn file_to_offline_friend_arrives_intact<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, file_config());
    let (ann, bob) = h.friends("ann", "bob").await;
    bob.client.logout().await.unwrap();
    drop(bob);
    let bytes = test_bytes(10_500); // 11 chunks, the last one short
    let file = upload(
        &ann.client,
        Peer::User("bob".into()),
        "report 📄.pdf",
        &bytes,
    )
    .await
    .unwrap();
    let mut bob = h.login_raw("bob").await;
    let shared = bob.expect(|e| matches!(e, Event::FileShared { .. })).await;
    assert_eq!(
        shared,
        Event::FileShared {
            id: file,
            from: "ann".into(),
            to: Peer::User("bob".into()),
            name: "report 📄.pdf".into(),
            size: bytes.len() as u64
        }
    );
    let listed = bob.client.files(Peer::User("ann".into())).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sha256, sha256(&bytes));
    let got = download(&bob.client, file).await;
    assert_eq!(sha256(&got), sha256(&bytes));
    assert_eq!(got, bytes);
    // A stranger cannot read it.
    let cat = h.user("cat").await;
    assert_eq!(
        refused(cat.client.download_chunk(file, 0, 10).await),
        ErrorCode::NoSuchFile
    );
    h.stop().await;
}

/// Over the limit, a path in the name, chunks out of order, a wrong hash, or a
/// client gone mid-upload: refused with clear codes, nothing visible, chunks
/// reclaimed.
pub async fn bad_uploads_leave_nothing_visible<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, file_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    let c = &ann.client;
    let to = || Peer::User("bob".into());
    assert_eq!(
        refused(c.offer_file(to(), "big.bin", 100_001, [0; 32]).await),
        ErrorCode::FileTooLarge
    );
    for name in ["../etc/passwd", "a/b", "..", "", "c:evil", "nul\0"] {
        assert_eq!(
            refused(c.offer_file(to(), name, 1, [0; 32]).await),
            ErrorCode::InvalidFileName,
            "{name:?}"
        );
    }
    assert_eq!(
        refused(
            c.offer_file(Peer::User("nobody".into()), "a", 1, [0; 32])
                .await
        ),
        ErrorCode::NoSuchUser
    );
    assert_eq!(
        refused(c.upload_chunk(999_999, 0, vec![1]).await),
        ErrorCode::NoSuchFile
    );

    let bytes = test_bytes(2500);
    let (file, chunk) = c
        .offer_file(to(), "x.bin", 2500, sha256(&bytes))
        .await
        .unwrap();
    let chunk = chunk as usize;
    assert_eq!(
        refused(c.upload_chunk(file, 1000, bytes[1000..2000].to_vec()).await),
        ErrorCode::BadChunk
    );
    assert_eq!(
        refused(c.upload_chunk(file, 0, bytes[..10].to_vec()).await),
        ErrorCode::BadChunk
    );
    c.upload_chunk(file, 0, bytes[..chunk].to_vec())
        .await
        .unwrap();
    // Complete too early: fails verification, the upload is gone.
    assert_eq!(
        refused(c.complete_file(file).await),
        ErrorCode::ChecksumMismatch
    );
    assert_eq!(
        refused(c.upload_chunk(file, 1000, bytes[1000..2000].to_vec()).await),
        ErrorCode::NoSuchFile
    );

    let good = upload(c, to(), "y.bin", &bytes).await.unwrap();
    // All bytes, but the offer named another hash.
    let wrong_hash = c.offer_file(to(), "z.bin", 2500, [9; 32]).await.unwrap().0;
    for (i, part) in bytes.chunks(chunk).enumerate() {
        c.upload_chunk(wrong_hash, (i * chunk) as u64, part.to_vec())
            .await
            .unwrap();
    }
    assert_eq!(
        refused(c.complete_file(wrong_hash).await),
        ErrorCode::ChecksumMismatch
    );

    // A client that goes away mid-upload.
    let quitter = h.login("ann").await;
    let (gone, _) = quitter
        .client
        .offer_file(to(), "gone.bin", 2500, sha256(&bytes))
        .await
        .unwrap();
    quitter
        .client
        .upload_chunk(gone, 0, bytes[..chunk].to_vec())
        .await
        .unwrap();
    drop(quitter);

    let files = bob.client.files(Peer::User("ann".into())).await.unwrap();
    assert_eq!(files.iter().map(|f| f.id).collect::<Vec<_>>(), vec![good]);
    // The dropped connection's upload is reclaimed once its task ends.
    let store = h.server().store();
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    while !store.incomplete_files().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "abandoned upload not reclaimed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.file(gone).await.unwrap(), None);
    assert_eq!(store.chunk(gone, 0).await.unwrap(), None);
    bob.expect(|e| matches!(e, Event::FileShared { id, .. } if *id == good))
        .await;
    h.stop().await;
}

/// A file shared with a room reaches its online members and is listed for them.
pub async fn room_files_reach_members<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, file_config());
    let ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    let cat = h.user("cat").await;
    ann.client.create_room("lobby").await.unwrap();
    bob.client.join_room("lobby").await.unwrap();
    let bytes = test_bytes(1500);
    let file = upload(
        &ann.client,
        Peer::Room("lobby".into()),
        "slides.key",
        &bytes,
    )
    .await
    .unwrap();
    bob.expect(|e| matches!(e, Event::FileShared { id, to: Peer::Room(r), .. } if *id == file && r == "lobby")).await;
    assert_eq!(download(&bob.client, file).await, bytes);
    assert_eq!(
        bob.client
            .files(Peer::Room("lobby".into()))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        refused(cat.client.files(Peer::Room("lobby".into())).await),
        ErrorCode::NotRoomMember
    );
    assert_eq!(
        refused(cat.client.download_chunk(file, 0, 10).await),
        ErrorCode::NoSuchFile
    );
    h.stop().await;
}

/// Many sends in flight on one connection are stored and delivered in request
/// order, each answered with its own seq.
pub async fn pipelined_sends_keep_order<S: Store>(fx: &Fixture<S>) {
    let h = harness(fx, test_config());
    let (ann, mut bob) = h.friends("ann", "bob").await;
    let texts: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    // join_all polls in order, so the requests leave in this order.
    let sends = texts.iter().map(|t| ann.client.send_text("bob", t));
    let answers = futures::future::join_all(sends).await;
    let seqs: Vec<u64> = answers.into_iter().map(|a| a.unwrap().seq).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
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

/// Hellos from a newer client and from a version-1 client each get the version
/// the connection uses. A version-1 client's `Request::Ack` is answered; an
/// unanswered ack is not, is ignored before login, and closes the connection when
/// it has too many ids.
pub async fn acks_in_both_protocol_versions<S: Store>(fx: &Fixture<S>) {
    use futures::{SinkExt, StreamExt};
    let h = harness(fx, test_config());
    let (mut ann, bob) = h.friends("ann", "bob").await;
    bob.client.logout().await.unwrap();
    drop(bob);
    let hello = |version| ClientFrame::Hello {
        version,
        client: "raw".into(),
    };
    let request = |req_id, request| ClientFrame::Request { req_id, request };

    let mut future = h.connector.connect().await.unwrap();
    future.send(hello(PROTOCOL_VERSION + 1)).await.unwrap();
    assert!(matches!(
        future.next().await.unwrap().unwrap(),
        ServerFrame::Hello { version, .. } if version == PROTOCOL_VERSION
    ));

    // Version 1: bob's ack is answered, and ann gets the receipt.
    let mut old = h.connector.connect().await.unwrap();
    old.send(hello(1)).await.unwrap();
    assert!(matches!(
        old.next().await.unwrap().unwrap(),
        ServerFrame::Hello { version: 1, .. }
    ));
    let login = Request::Login {
        username: "bob".into(),
        password: password("bob"),
    };
    old.send(request(1, login)).await.unwrap();
    assert!(matches!(
        old.next().await.unwrap().unwrap(),
        ServerFrame::Response {
            req_id: 1,
            result: Ok(Response::LoggedIn { .. })
        }
    ));
    assert_eq!(
        old.next().await.unwrap().unwrap(),
        ServerFrame::Event(Event::CaughtUp)
    );
    let sent = ann.client.send_text("bob", "hi").await.unwrap();
    let message = loop {
        if let ServerFrame::Event(Event::Message(m)) = old.next().await.unwrap().unwrap() {
            break m;
        }
    };
    assert_eq!(message.id, sent.id);
    old.send(request(2, Request::Ack { ids: vec![sent.id] }))
        .await
        .unwrap();
    assert_eq!(
        old.next().await.unwrap().unwrap(),
        ServerFrame::Response {
            req_id: 2,
            result: Ok(Response::Done)
        }
    );
    let receipt = ann.expect(|e| matches!(e, Event::Delivered { .. })).await;
    assert!(matches!(receipt, Event::Delivered { ids, .. } if ids == vec![sent.id]));

    // An unanswered ack before login is ignored: the ping's answer comes next.
    let mut new = h.connector.connect().await.unwrap();
    new.send(hello(PROTOCOL_VERSION)).await.unwrap();
    new.next().await.unwrap().unwrap();
    new.send(ClientFrame::Ack { ids: vec![sent.id] })
        .await
        .unwrap();
    new.send(request(1, Request::Ping)).await.unwrap();
    assert_eq!(
        new.next().await.unwrap().unwrap(),
        ServerFrame::Response {
            req_id: 1,
            result: Ok(Response::Pong)
        }
    );
    // Too many ids: nothing to answer, so the connection closes.
    let ids = vec![sent.id; limits::MAX_ACK_IDS + 1];
    new.send(ClientFrame::Ack { ids }).await.unwrap();
    assert_eq!(
        new.next().await.unwrap().unwrap(),
        ServerFrame::Event(Event::Closing {
            code: ErrorCode::InvalidArgument
        })
    );
    assert!(new.next().await.is_none());
    h.stop().await;
}
