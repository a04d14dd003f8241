//! Abuse limits over the in-memory transport: request floods, password guessing,
//! silent and slow clients. Each time an honest client keeps chatting.

use std::sync::Arc;
use std::time::Duration;

use chatcore::engine::testkit::{password, test_config, Harness, TestClient};
use chatcore::engine::ServerConfig;
use chatcore::protocol::{
    limits, ClientFrame, ErrorCode, Event, Request, ServerFrame, PROTOCOL_VERSION,
};
use chatcore::store::MemoryStore;
use chatcore::transport::memory::MemoryClientConnection;
use futures::{SinkExt, StreamExt};

const LIMIT: Duration = Duration::from_secs(10);

fn start(config: ServerConfig) -> Harness {
    Harness::start(Arc::new(MemoryStore::new()), config)
}

async fn friends(h: &Harness) -> (TestClient, TestClient) {
    let mut ann = h.user("ann").await;
    let mut bob = h.user("bob").await;
    h.befriend(&mut ann, "ann", &mut bob, "bob").await;
    (ann, bob)
}

async fn chat(ann: &TestClient, bob: &mut TestClient) {
    let sent = ann.client.send_text("bob", "still here").await.unwrap();
    bob.expect(|e| matches!(e, Event::Message(m) if m.id == sent.id))
        .await;
}

/// A raw connection that has said hello (and reads nothing yet).
async fn raw_hello(h: &Harness, client: &str) -> MemoryClientConnection {
    let mut raw = h.connector().connect().await.unwrap();
    let hello = ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        client: client.into(),
    };
    raw.send(hello).await.unwrap();
    raw
}

/// A raw connection that said hello and asked to log in as `user` (nothing
/// read yet).
async fn raw_login(h: &Harness, client: &str, user: &str) -> MemoryClientConnection {
    let mut raw = raw_hello(h, client).await;
    let login = Request::Login {
        username: user.into(),
        password: password(user),
    };
    raw.send(ClientFrame::Request {
        req_id: 1,
        request: login,
    })
    .await
    .unwrap();
    raw
}

/// The messages `user`'s backlog holds at a fresh login, up to `CaughtUp`.
async fn backlog_of(h: &Harness, user: &str) -> Vec<chatcore::protocol::Message> {
    let mut c = h.login_raw(user).await;
    let mut messages = Vec::new();
    loop {
        match c.next_event().await {
            Event::Message(m) => messages.push(m),
            Event::CaughtUp => return messages,
            _ => {}
        }
    }
}

/// A server with a small outbound queue (32 frames), and ann, whose friend
/// bob (offline) has `count` of her messages waiting.
async fn backlog_for_bob(count: usize) -> (Harness, TestClient) {
    let mut config = test_config();
    config.outbound_queue = 32;
    let h = start(config);
    let (ann, bob) = friends(&h).await;
    bob.client.logout().await.unwrap();
    drop(bob);
    for n in 0..count {
        ann.client.send_text("bob", &format!("{n}")).await.unwrap();
    }
    (h, ann)
}

/// Waits (20 s at most) until `n` users are online.
async fn wait_online(h: &Harness, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while h.server().online_count() != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "online count never became {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads server frames until the connection closes.
async fn until_closed(
    raw: &mut chatcore::transport::memory::MemoryClientConnection,
) -> Vec<ServerFrame> {
    let mut frames = Vec::new();
    while let Some(frame) = tokio::time::timeout(LIMIT, raw.next())
        .await
        .expect("closed in time")
    {
        frames.push(frame.unwrap());
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_rate_limited_then_closed() {
    let mut config = test_config();
    config.request_rate = 20.0;
    config.request_burst = 10;
    config.max_rate_strikes = 30;
    let h = start(config);
    let (ann, mut bob) = friends(&h).await;
    let mut raw = raw_hello(&h, "flood").await;
    for req_id in 0..200 {
        if raw
            .send(ClientFrame::Request {
                req_id,
                request: Request::Ping,
            })
            .await
            .is_err()
        {
            break; // closed mid-flood
        }
    }
    let frames = until_closed(&mut raw).await;
    let limited = frames
        .iter()
        .filter(|f| {
            matches!(
                f,
                ServerFrame::Response {
                    result: Err(ErrorCode::RateLimited),
                    ..
                }
            )
        })
        .count();
    assert!(limited > 0, "some requests were refused RateLimited");
    assert_eq!(
        frames.last(),
        Some(&ServerFrame::Event(Event::Closing {
            code: ErrorCode::RateLimited
        }))
    );
    chat(&ann, &mut bob).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_is_throttled_per_user() {
    let h = start(test_config());
    let (ann, mut bob) = friends(&h).await;
    let guesser = h.connect().await;
    let mut codes = Vec::new();
    for i in 0..20 {
        let err = guesser
            .client
            .login("bob", &format!("guess-{i}"))
            .await
            .unwrap_err();
        codes.push(err.code().unwrap());
    }
    assert_eq!(&codes[..5], &[ErrorCode::InvalidCredentials; 5]);
    assert_eq!(&codes[5..], &[ErrorCode::RateLimited; 15]);
    // Even the right password waits out the window.
    let err = guesser
        .client
        .login("bob", &password("bob"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::RateLimited));
    // Other users are not affected, and bob's sessions keep working.
    h.register("cat").await;
    h.login("cat").await;
    chat(&ann, &mut bob).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_answering_pings_is_closed() {
    let mut config = test_config();
    config.idle_timeout = Duration::from_millis(400);
    config.ping_interval = Duration::from_millis(100);
    let h = start(config);
    let (ann, mut bob) = friends(&h).await;
    let mut raw = raw_hello(&h, "mute").await;
    let frames = until_closed(&mut raw).await;
    assert!(matches!(frames[0], ServerFrame::Hello { .. }));
    assert!(frames.contains(&ServerFrame::Event(Event::Ping)));
    assert_eq!(
        frames.last(),
        Some(&ServerFrame::Event(Event::Closing {
            code: ErrorCode::Timeout
        }))
    );
    // The library client answers pings, so ann and bob outlived the idle timeout.
    tokio::time::sleep(Duration::from_millis(600)).await;
    chat(&ann, &mut bob).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_reads_is_disconnected() {
    let mut config = test_config();
    config.outbound_queue = 32;
    config.open_chat = true;
    let h = start(config);
    let (ann, mut bob) = friends(&h).await;
    // cat logs in over a raw connection and then never reads again.
    h.register("cat").await;
    let raw = raw_login(&h, "slow", "cat").await;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while h.server().online_count() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "cat logged in");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Fill the memory transport's buffer and cat's queue; every message is stored.
    let mut sent = 0;
    while h.server().online_count() == 3 {
        assert!(sent < 5_000, "the slow reader was never disconnected");
        ann.client.send_text("cat", "you there?").await.unwrap();
        sent += 1;
    }
    assert!(
        sent > 32,
        "closed only after its queue filled ({sent} sent)"
    );
    chat(&ann, &mut bob).await;
    // Nothing was lost: cat gets everything at the next login.
    drop(raw);
    let mut cat = h.login_raw("cat").await;
    let mut got = 0;
    loop {
        match cat.next_event().await {
            Event::Message(_) => got += 1,
            Event::CaughtUp => break,
            _ => {}
        }
    }
    assert_eq!(got, sent);
    h.stop().await;
}

/// At the default limits, a user receiving a few hundred messages a second
/// from many friends keeps up: the acks their client owes for them are never
/// refused (the request rate does not count them), their own requests still
/// go through, and a new login brings nothing already received back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_receiver_keeps_up_at_the_default_limits() {
    const SENDERS: usize = 8;
    const EACH: usize = 90;
    let mut config = ServerConfig::default();
    config.hash_params = chatcore::auth::HashParams::insecure_fast();
    let h = start(config);
    let mut bob = h.user("bob").await;
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let name = format!("sender{i}");
        let mut sender = h.user(&name).await;
        h.befriend(&mut sender, &name, &mut bob, "bob").await;
        senders.push(sender);
    }
    // Each sender well within its own request rate (30/s against 50/s), the
    // senders out of step: bob receives a message every ~4 ms for three
    // seconds, more often than his client's acks wait for company (5 ms).
    let period = Duration::from_millis(33);
    let sending = senders.into_iter().enumerate().map(|(i, sender)| {
        tokio::spawn(async move {
            tokio::time::sleep(period * i as u32 / SENDERS as u32).await;
            let mut tick = tokio::time::interval(period);
            for n in 0..EACH {
                tick.tick().await;
                let text = format!("{i}/{n}");
                sender.client.send_text("bob", &text).await.expect("sent");
            }
            sender
        })
    });
    let senders = futures::future::join_all(sending).await;
    let mut received = std::collections::HashSet::new();
    while received.len() < SENDERS * EACH {
        match bob.next_event().await {
            Event::Message(m) => assert!(received.insert(m.id), "{m:?} twice"),
            Event::Closing { code } => panic!("bob closed: {code:?}"),
            _ => {}
        }
    }
    // Bob's own requests still pass, after every ack he owes.
    bob.sync().await;
    drop(bob);
    drop(senders);

    let mut again = h.login_raw("bob").await;
    loop {
        match again.next_event().await {
            Event::CaughtUp => break,
            Event::Message(m) => panic!("redelivered after it was received: {m:?}"),
            _ => {}
        }
    }
    h.stop().await;
}

/// A client whose connection the server sees coming from `ip`.
async fn connect_from(h: &Harness, ip: [u8; 4]) -> TestClient {
    let (server_end, client_end) = chatcore::transport::memory::pair();
    let peer = std::net::SocketAddr::from((ip, 40_000));
    h.server().spawn_connection(server_end, Some(peer));
    let (client, events) = chatcore::client::Client::connect(client_end).await.unwrap();
    TestClient { client, events }
}

async fn login_code(c: &TestClient, name: &str, password: &str) -> Option<ErrorCode> {
    c.client
        .login(name, password)
        .await
        .err()
        .and_then(|e| e.code())
}

/// Guessing bob's password from one address throttles that address for bob,
/// not bob himself logging in from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guesser_elsewhere_cannot_lock_the_owner_out() {
    let h = start(test_config());
    h.register("bob").await;
    let guesser = connect_from(&h, [203, 0, 113, 9]).await;
    for i in 0..5 {
        let code = login_code(&guesser, "bob", &format!("guess-{i}")).await;
        assert_eq!(code, Some(ErrorCode::InvalidCredentials));
    }
    let code = login_code(&guesser, "bob", "guess-5").await;
    assert_eq!(code, Some(ErrorCode::RateLimited));
    let owner = connect_from(&h, [198, 51, 100, 7]).await;
    assert_eq!(login_code(&owner, "bob", &password("bob")).await, None);
    h.stop().await;
}

/// Guesses spread over many addresses meet the all-addresses bound; malformed
/// names count against their address only, and are refused as wrong
/// credentials however long they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spread_guessing_and_malformed_names_are_bounded() {
    let mut config = test_config();
    config.login_failures_per_user_all_addresses = 6;
    config.login_failures_per_address = 8;
    let h = start(config);
    h.register("bob").await;
    for (i, ip) in [[203, 0, 113, 1], [203, 0, 113, 2], [203, 0, 113, 3]]
        .into_iter()
        .enumerate()
    {
        let guesser = connect_from(&h, ip).await;
        for n in 0..2 {
            let code = login_code(&guesser, "bob", &format!("guess-{i}-{n}")).await;
            assert_eq!(code, Some(ErrorCode::InvalidCredentials));
        }
    }
    let fourth = connect_from(&h, [203, 0, 113, 4]).await;
    assert_eq!(
        login_code(&fourth, "bob", &password("bob")).await,
        Some(ErrorCode::RateLimited),
        "six failures from anywhere hold bob's name for the minute"
    );

    let sprayer = connect_from(&h, [192, 0, 2, 1]).await;
    let long_name = "x".repeat(100_000);
    for _ in 0..8 {
        let code = login_code(&sprayer, &long_name, "a password").await;
        assert_eq!(code, Some(ErrorCode::InvalidCredentials));
    }
    assert_eq!(
        login_code(&sprayer, "cat", "a password").await,
        Some(ErrorCode::RateLimited),
        "the address used its failures"
    );
    h.register("cat").await;
    let elsewhere = connect_from(&h, [192, 0, 2, 2]).await;
    assert_eq!(login_code(&elsewhere, "cat", &password("cat")).await, None);
    h.stop().await;
}

/// A login backlog to a client that never reads stops at the first
/// slow-reader verdict (not one grace period per remaining item); the server
/// goes on serving others and shuts down promptly, and the rest of the
/// backlog waits in the inbox for the next login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_to_a_reader_that_never_reads_stops_at_once() {
    // More than the memory transport's buffer (256) and the queue hold.
    const BACKLOG: usize = 600;
    let (h, ann) = backlog_for_bob(BACKLOG).await;
    let raw = raw_login(&h, "never reads", "bob").await;
    // One grace period (5 s) for the verdict, then the session is gone.
    wait_online(&h, 2).await;
    wait_online(&h, 1).await;
    drop(raw);
    assert_eq!(
        backlog_of(&h, "bob").await.len(),
        BACKLOG,
        "nothing was lost"
    );
    drop(ann);
    tokio::time::timeout(Duration::from_secs(10), h.stop())
        .await
        .expect("a prompt shutdown");
}

/// The outbound queue is bounded in bytes as well as frames: a client that
/// stops reading while large messages arrive is closed once they fill the byte
/// bound, far below the frame bound, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_is_closed_at_the_byte_bound() {
    // Fewer than the transport's buffer (256) plus the frame bound (4096).
    const SENT: usize = 400;
    let mut config = test_config();
    config.outbound_queue_bytes = 256 * 1024;
    let h = start(config);
    let (ann, bob) = friends(&h).await;
    bob.client.logout().await.unwrap();
    drop(bob);
    let raw = raw_login(&h, "stops reading", "bob").await;
    wait_online(&h, 2).await;
    let big = "x".repeat(limits::MAX_TEXT_LEN);
    for _ in 0..SENT {
        ann.client.send_text("bob", &big).await.unwrap();
    }
    // Closed as a slow reader although far fewer frames than the frame bound
    // are queued.
    wait_online(&h, 1).await;
    drop(raw);
    assert_eq!(backlog_of(&h, "bob").await.len(), SENT, "nothing was lost");
    h.stop().await;
}

/// Acks (and other requests) sent while a login backlog is going out are read
/// and answered at once, not after the whole backlog: the answer to a request
/// sent after an ack mid-backlog arrives before `CaughtUp`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_during_a_login_backlog_are_read_at_once() {
    // Far more than the transport's buffer (256) and the queue (32) hold
    // together: the ack's commit may wait for a busy machine's threads while
    // the client reads on (with 600, one loaded CI run here read them all first).
    const BACKLOG: usize = 3000;
    let (h, _ann) = backlog_for_bob(BACKLOG).await;
    let mut raw = raw_login(&h, "acks as it reads", "bob").await;
    let mut received = Vec::new();
    let mut ack_answered_at = None;
    loop {
        let frame = tokio::time::timeout(LIMIT, raw.next())
            .await
            .expect("the backlog goes on")
            .unwrap_or_else(|| panic!("closed after {} messages", received.len()))
            .unwrap();
        match frame {
            ServerFrame::Item {
                pos,
                event: Event::Message(m),
            } => {
                received.push(m.id);
                if received.len() == 100 {
                    // A ping after the ack is answered once the ack is done.
                    raw.send(ClientFrame::AckUpTo { pos }).await.unwrap();
                    let ping = ClientFrame::Request {
                        req_id: 2,
                        request: Request::Ping,
                    };
                    raw.send(ping).await.unwrap();
                }
            }
            ServerFrame::Response { req_id: 2, result } => {
                assert_eq!(result, Ok(chatcore::protocol::Response::Pong));
                ack_answered_at = Some(received.len());
            }
            ServerFrame::Event(Event::CaughtUp) => break,
            _ => {}
        }
    }
    let answered_at = ack_answered_at.expect("the ping was answered before CaughtUp");
    assert!(answered_at < BACKLOG, "answered only after the backlog");
    assert_eq!(received.len(), BACKLOG, "the whole backlog, once");
    drop(raw);
    // The acked hundred are gone; the rest comes again.
    let again = backlog_of(&h, "bob").await;
    assert!(
        again.iter().all(|m| !received[..100].contains(&m.id)),
        "an acked message came back"
    );
    assert_eq!(again.len(), BACKLOG - 100);
    h.stop().await;
}

/// Pings keep a connection from idling out, not from logging in: one that
/// never logs in (or logs out and stays) is closed `Timeout` after the login
/// timeout, pinging all along; logged-in sessions are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_logs_in_is_closed_even_if_it_pings() {
    let mut config = test_config();
    config.login_timeout = Duration::from_millis(500);
    let h = start(config);
    let (ann, mut bob) = friends(&h).await;
    let anonymous = h.connect().await;
    let leaver = h.user("cat").await;
    leaver.client.logout().await.unwrap();
    for mut c in [anonymous, leaver] {
        let client = c.client.clone();
        let pinger = tokio::spawn(async move {
            while client.ping().await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        c.expect(|e| {
            *e == Event::Closing {
                code: ErrorCode::Timeout,
            }
        })
        .await;
        pinger.await.unwrap();
    }
    // Well past the login timeout, the logged-in ones chat on.
    chat(&ann, &mut bob).await;
    h.stop().await;
}

/// Registrations from one address are throttled at the default (20 an hour)
/// with `RegistrationThrottled`; other addresses register on. A taken name is
/// refused `UsernameTaken` before any hashing, and does not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_throttled_per_address_at_the_default() {
    let mut config = test_config();
    config.registrations_per_address = ServerConfig::default().registrations_per_address;
    let max = config.registrations_per_address;
    let h = start(config);
    let sybil = connect_from(&h, [203, 0, 113, 5]).await;
    let register = |name: String| {
        let client = sybil.client.clone();
        async move {
            client
                .register(&name, &password(&name))
                .await
                .err()
                .and_then(|e| e.code())
        }
    };
    assert_eq!(register("first".into()).await, None);
    for _ in 0..max {
        assert_eq!(
            register("FIRST".into()).await,
            Some(ErrorCode::UsernameTaken)
        );
    }
    for i in 1..max {
        assert_eq!(register(format!("sybil{i}")).await, None);
    }
    assert_eq!(
        register("onemore".into()).await,
        Some(ErrorCode::RegistrationThrottled)
    );
    let honest = connect_from(&h, [198, 51, 100, 8]).await;
    honest
        .client
        .register("honest", &password("honest"))
        .await
        .unwrap();
    honest
        .client
        .login("honest", &password("honest"))
        .await
        .unwrap();
    h.stop().await;
}

/// At the default cap of connections from one address, one more is told
/// `TooManyConnections` and closed; other addresses connect, and a closed
/// connection frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_are_capped_at_the_default() {
    let mut config = test_config();
    config.max_connections_per_address = ServerConfig::default().max_connections_per_address;
    let max = config.max_connections_per_address;
    let h = start(config);
    let mut held = Vec::new();
    for _ in 0..max {
        held.push(connect_from(&h, [203, 0, 113, 6]).await);
    }
    let (server_end, mut refused) = chatcore::transport::memory::pair();
    h.server()
        .spawn_connection(server_end, Some(([203, 0, 113, 6], 40_001).into()));
    assert_eq!(
        until_closed(&mut refused).await,
        vec![ServerFrame::Event(Event::Closing {
            code: ErrorCode::TooManyConnections
        })]
    );
    let elsewhere = connect_from(&h, [198, 51, 100, 9]).await;
    elsewhere.client.ping().await.unwrap();
    // A place frees once its connection is gone (the server notices the close).
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let (server_end, client_end) = chatcore::transport::memory::pair();
        h.server()
            .spawn_connection(server_end, Some(([203, 0, 113, 6], 40_002).into()));
        if let Ok((client, _events)) = chatcore::client::Client::connect(client_end).await {
            if client.ping().await.is_ok() {
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the place freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.stop().await;
}

/// On a server with frames smaller than the largest message, a message that
/// would not fit a frame is refused at the send (never stored to fail its
/// recipient's connection at every login); one that fits goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_bigger_than_a_frame_is_refused_at_the_send() {
    let mut config = test_config();
    config.max_frame_len = 4096;
    config.file_chunk_size = 2048;
    let h = start(config);
    let (ann, mut bob) = friends(&h).await;
    let err = ann
        .client
        .send_text("bob", &"x".repeat(5000))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidMessage));
    ann.client
        .send_text("bob", &"y".repeat(3000))
        .await
        .unwrap();
    bob.expect(|e| matches!(e, Event::Message(_))).await;
    h.stop().await;
}
