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
//!
//! The scenarios, by area: `chat` (1:1 delivery, receipts, history, pipelining),
//! `contacts` (friend requests, block, presence, duplicate logins), `rooms`,
//! `files`, `lists` (pages that fit a frame), `protocol` (error codes,
//! protocol violations, both ack forms), and `quotas` (rooms, uploads, stored
//! files and bytes, friend requests per pair).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Server, ServerConfig, ServerError};
use crate::auth::HashParams;
use crate::client::{Client, ClientError, Events};
use crate::protocol::{ErrorCode, Event};
use crate::store::testkit::Fixture;
use crate::store::Store;
use crate::transport::memory::{self, MemoryConnector};

mod chat;
pub mod cluster;
mod contacts;
mod devices;
mod files;
mod lists;
mod protocol;
mod quotas;
mod rooms;
#[cfg(feature = "ws")]
mod websocket;

pub use chat::*;
pub use contacts::*;
pub use devices::*;
pub use files::*;
pub use lists::*;
pub use protocol::*;
pub use quotas::*;
pub use rooms::*;
#[cfg(feature = "ws")]
pub use websocket::{over_websocket_json, over_websocket_postcard};

/// How long a test waits for an expected event before failing (a hang guard, not
/// a speed assertion).
pub(crate) const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`TestClient::assert_quiet`] listens.
const QUIET: Duration = Duration::from_millis(150);

/// A server on the in-memory transport.
#[derive(Debug)]
pub struct Harness {
    server: Server,
    connector: MemoryConnector,
    shutdown: CancellationToken,
    serving: tokio::task::JoinHandle<Result<(), ServerError>>,
    /// Where [`Harness::connect`] goes over WebSocket, inside
    /// `over_websocket_*`.
    #[cfg(feature = "ws")]
    websocket: Option<(String, crate::transport::ws::Subprotocol, usize)>,
}

/// A connected client with its event stream.
#[derive(Debug)]
pub struct TestClient {
    /// The client.
    pub client: Client,
    /// Its events.
    pub events: Events,
}

/// Which limits [`test_config`] gives a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// Request rates out of the way of scenarios that pipeline hundreds of
    /// requests.
    Fast,
    /// Every limit at its [`ServerConfig::default`].
    Default,
}

tokio::task_local! {
    static LIMITS: Limits;
}

/// Runs `scenario` with [`test_config`] giving `limits` (outside such a scope it
/// gives [`Limits::Fast`]).
pub async fn with_limits<F: std::future::Future>(limits: Limits, scenario: F) -> F::Output {
    LIMITS.scope(limits, scenario).await
}

/// Runs `scenario` with every limit at its [`ServerConfig::default`].
pub async fn at_default_limits<F: std::future::Future>(scenario: F) -> F::Output {
    with_limits(Limits::Default, scenario).await
}

/// Test config: light (still real) argon2 parameters, and the limits of the
/// scenario's [`with_limits`] scope: fast by default, with request rates and
/// per-address throttles out of the way of scenarios that pipeline hundreds of
/// requests or register many users from one address (the tests of those limits
/// set them back).
pub fn test_config() -> ServerConfig {
    let mut config = ServerConfig {
        hash_params: HashParams::insecure_fast(),
        ..ServerConfig::default()
    };
    if LIMITS.try_with(|limits| *limits).unwrap_or(Limits::Fast) == Limits::Fast {
        config.request_rate = 100_000.0;
        config.request_burst = 100_000;
        config.registrations_per_address = 100_000;
        config.max_connections_per_address = 100_000;
    }
    config
}

impl Harness {
    /// Starts a server on `store`.
    pub fn start(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        let server = Server::new(store, config).expect("valid config");
        Self::serving(server)
    }

    /// Starts a node of a cluster on `store` with `bus`.
    pub fn start_with_bus(
        store: Arc<dyn Store>,
        config: ServerConfig,
        bus: Arc<dyn crate::bus::Bus>,
    ) -> Self {
        let server = Server::with_bus(store, config, bus).expect("valid config");
        Self::serving(server)
    }

    fn serving(server: Server) -> Self {
        #[cfg(feature = "ws")]
        let max_frame_len = server.state.config.max_frame_len;
        let (listener, connector) = memory::listener();
        let shutdown = CancellationToken::new();
        #[cfg(feature = "ws")]
        let (listener, websocket) = match websocket::listen(max_frame_len) {
            Some((ws, url, subprotocol)) => (
                crate::transport::join(listener, Some(ws)),
                Some((url, subprotocol, max_frame_len)),
            ),
            None => (crate::transport::join(listener, None), None),
        };
        let serving = tokio::spawn(server.clone().serve(listener, shutdown.clone()));
        Harness {
            server,
            connector,
            shutdown,
            serving,
            #[cfg(feature = "ws")]
            websocket,
        }
    }

    /// What [`Server::serve`] returned, once it stops by itself (a failed
    /// store); panics if it does not within the timeout.
    pub async fn stopped(self) -> Result<(), ServerError> {
        match tokio::time::timeout(EVENT_TIMEOUT, self.serving).await {
            Ok(served) => served.expect("serve panicked"),
            Err(_) => panic!("the server still serves after {EVENT_TIMEOUT:?}"),
        }
    }

    /// The server.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The server's store.
    pub fn store(&self) -> &dyn Store {
        &**self.server.store()
    }

    /// Opens raw connections to the server.
    pub fn connector(&self) -> &MemoryConnector {
        &self.connector
    }

    /// A new connection, hello done.
    pub async fn connect(&self) -> TestClient {
        #[cfg(feature = "ws")]
        if let Some((url, subprotocol, max_frame_len)) = &self.websocket {
            let conn = websocket::connect(url, *subprotocol, *max_frame_len).await;
            let (client, events) = Client::connect(conn).await.expect("hello");
            return TestClient { client, events };
        }
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

    /// Stops serving at once, without a word to the cluster: no more
    /// heartbeats (as if its process froze or its network went). Its
    /// connections stay open until [`stop`](Self::stop).
    pub fn freeze(&self) {
        self.serving.abort();
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server.shutdown().await;
    }

    /// Logs `name` in on a new connection without consuming any event.
    pub async fn login_raw(&self, name: &str) -> TestClient {
        let c = self.connect().await;
        c.client.login(name, &password(name)).await.expect("login");
        c
    }
}

/// The receipt a sender gets once `peer` has their messages up to `seq`.
pub fn delivered_to(peer: &str, seq: u64) -> Event {
    Event::DeliveredTo {
        peer: peer.into(),
        seq,
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

fn refused<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Refused(code)) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn harness<S: Store>(fx: &Fixture<S>, config: ServerConfig) -> Harness {
    Harness::start(Arc::new(fx.open()), config)
}

/// Expands to one `#[tokio::test]` per engine scenario, each on a fresh fixture,
/// and a module `at_default_limits` that runs every scenario again with every
/// limit at its [`ServerConfig::default`] (see [`with_limits`]).
#[macro_export]
macro_rules! engine_scenario_tests {
    ($fixture:expr) => {
        $crate::__engine_scenarios!(::core::convert::identity; $fixture);
        mod at_default_limits {
            #[allow(unused_imports)]
            use super::*;
            $crate::__engine_scenarios!($crate::engine::testkit::at_default_limits; $fixture);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __engine_scenarios {
    ($run:path; $fixture:expr) => {
        $crate::__testkit_tests!($run; engine::testkit; $fixture;
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
            room_order_holds_under_concurrent_pipelined_sends,
            a_gap_in_a_room_is_filled_from_the_history,
            offline_member_catches_up_by_history,
            room_refusals_and_delete,
            file_to_offline_friend_arrives_intact,
            bad_uploads_leave_nothing_visible,
            room_files_reach_members,
            pipelined_sends_keep_order,
            acks_in_both_protocol_versions,
            the_store_refuses_a_send_the_caches_would_allow,
            client_msg_ids_are_scoped_and_expire,
            joining_a_deleted_room_is_no_such_room,
            devices_log_in_list_and_revoke,
            typing_reaches_online_sessions_and_is_never_stored,
            every_device_gets_every_message,
            an_own_message_reaches_the_other_devices,
            an_item_is_let_go_only_after_every_active_device_passed_it,
            an_expired_device_catches_up_from_history,
            read_marks_reach_the_readers_devices_and_the_peer,
            lists_bigger_than_a_frame_come_in_pages,
            history_pages_fit_a_frame,
            rooms_per_owner_are_bounded,
            open_uploads_per_connection_are_bounded,
            stored_files_and_bytes_are_bounded_per_user,
            stored_files_are_bounded_per_user,
            friend_requests_to_one_user_are_bounded_per_day,
        );
    };
}
