//! Hostile clients over real TCP against a redb store, while 20 honest clients
//! chat: garbage, huge length prefixes, silent connections, a request flood, a
//! password guesser, 1 MiB user names, a reader that never reads, a flooded
//! inbox whose owner's sessions never read it, and a user hoarding files until
//! refused `quota_exceeded`. Afterwards every honest message was delivered
//! exactly once, the flooded user gets the whole flood once at an honest login,
//! the reopened database holds exactly the honest messages, and it still holds
//! the hoarder to the quota.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chatcore::client::{Client, ClientError};
use chatcore::engine::testkit::{password, test_config, TestClient};
use chatcore::engine::Server;
use chatcore::protocol::{
    encode_frame, limits, Body, ClientFrame, ErrorCode, Event, Peer, Request,
    DEFAULT_MAX_FRAME_LEN, PROTOCOL_VERSION,
};
use chatcore::store::{FileQuota, FileTarget, NewFile, Store};
use chatcore::transport::tcp::{self, TcpTransport};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const HONEST: usize = 20;
const MESSAGES: usize = 30;
/// Messages of 16 KiB waiting for the flooded user.
const FLOOD: usize = 800; // 12.8 MiB: more than the socket buffers hold
/// Sessions of the flooded user that log in and never read.
const NON_READERS: usize = 4;
const LIMIT: Duration = Duration::from_secs(30);
/// The hoarder's quota: files, and bytes.
const MAX_FILES: u64 = 5;
const MAX_BYTES: u64 = 64 * 1024;

fn name(i: usize) -> String {
    format!("honest{i}")
}

/// The partner of honest client `i`: pairs (0,10), (1,11), …
fn partner(i: usize) -> usize {
    (i + HONEST / 2) % HONEST
}

async fn login(addr: std::net::SocketAddr, user: &str) -> TestClient {
    let mut c = login_raw(addr, user).await;
    c.expect(|e| *e == Event::CaughtUp).await;
    c
}

/// Logged in, before any event is read.
async fn login_raw(addr: std::net::SocketAddr, user: &str) -> TestClient {
    let (client, events) = Client::connect(tcp::connect(addr).await.unwrap())
        .await
        .unwrap();
    client.login(user, &password(user)).await.unwrap();
    TestClient { client, events }
}

/// Sends raw bytes and waits until the server closes the connection.
async fn raw_until_closed(addr: std::net::SocketAddr, bytes: Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(&bytes).await;
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(LIMIT, s.read_to_end(&mut sink)).await;
    assert!(closed.is_ok(), "the server closes a hostile connection");
}

fn frame(frame: &ClientFrame) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    encode_frame(frame, &mut buf, DEFAULT_MAX_FRAME_LEN).unwrap();
    buf.to_vec()
}

fn hello() -> ClientFrame {
    ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        client: "hostile".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_clients_are_served_exactly_once_while_hostile_ones_are_shut_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config();
    config.open_chat = true;
    config.hello_timeout = Duration::from_millis(500);
    config.request_rate = 500.0;
    config.request_burst = 500;
    config.max_rate_strikes = 20;
    config.outbound_queue = 64;
    config.max_files_per_user = MAX_FILES;
    config.max_stored_bytes_per_user = MAX_BYTES;
    let store: Arc<dyn Store> = Arc::new(chatcore_redb::open(dir.path()).unwrap());
    let server = Server::new(Arc::clone(&store), config).unwrap();
    let transport = TcpTransport::bind("127.0.0.1:0").await.unwrap();
    let addr = transport.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(server.clone().serve(transport, shutdown.clone()));

    // Honest users, befriended in pairs.
    let (setup, _setup_events) = Client::connect(tcp::connect(addr).await.unwrap())
        .await
        .unwrap();
    for i in 0..HONEST {
        setup.register(&name(i), &password(&name(i))).await.unwrap();
    }
    for user in [
        "victim",
        "slowpoke",
        "spammer",
        "flooder",
        "inundated",
        "hoarder",
        "loud",
    ] {
        setup.register(user, &password(user)).await.unwrap();
    }
    let mut honest = Vec::new();
    for i in 0..HONEST {
        honest.push(login(addr, &name(i)).await);
    }
    for i in 0..HONEST / 2 {
        let j = partner(i);
        honest[i].client.friend_request(&name(j), "").await.unwrap();
        honest[j]
            .client
            .respond_friend(&name(i), true)
            .await
            .unwrap();
    }

    // The attacks, all at once.
    let mut attacks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        attacks.spawn(raw_until_closed(
            addr,
            b"\x00\x00\x00\x08garbage!garbage!".to_vec(),
        ));
        attacks.spawn(raw_until_closed(
            addr,
            vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        ));
        attacks.spawn(raw_until_closed(addr, Vec::new())); // silent: hello timeout
    }
    attacks.spawn(async move {
        // A flood of pings after a valid hello.
        let mut bytes = frame(&hello());
        for req_id in 0..5_000 {
            bytes.extend(frame(&ClientFrame::Request {
                req_id,
                request: Request::Ping,
            }));
        }
        raw_until_closed(addr, bytes).await;
    });
    attacks.spawn(async move {
        // A password guesser: throttled after 5 attempts.
        let (guesser, _events) = Client::connect(tcp::connect(addr).await.unwrap())
            .await
            .unwrap();
        let mut throttled = 0;
        for i in 0..20 {
            let err = guesser
                .login("victim", &format!("guess{i}"))
                .await
                .unwrap_err();
            throttled += usize::from(err.code() == Some(ErrorCode::RateLimited));
        }
        assert_eq!(throttled, 15);
    });
    attacks.spawn(async move {
        // A reader that never reads, sent to by a spammer until it is cut off.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        let log_in = ClientFrame::Request {
            req_id: 1,
            request: Request::Login {
                username: "slowpoke".into(),
                password: password("slowpoke"),
            },
        };
        let mut bytes = frame(&hello());
        bytes.extend(frame(&log_in));
        slow.write_all(&bytes).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let spammer = login(addr, "spammer").await;
        let big = "x".repeat(16 * 1024);
        for _ in 0..400 {
            spammer.client.send_text("slowpoke", &big).await.unwrap();
        }
        // Its queue overflowed: the server cut it off (reading now ends in EOF
        // instead of waiting for more).
        let mut drained = Vec::new();
        let cut_off = tokio::time::timeout(LIMIT, slow.read_to_end(&mut drained)).await;
        assert!(cut_off.is_ok(), "the slow reader was disconnected");
    });

    attacks.spawn(async move {
        // User names of 1 MiB: refused as wrong credentials (or as malformed
        // at registration) before they become a key or a log line.
        let (hostile, _events) = Client::connect(tcp::connect(addr).await.unwrap())
            .await
            .unwrap();
        let huge = "n".repeat(1_000_000);
        for _ in 0..3 {
            let err = hostile.login(&huge, "password").await.unwrap_err();
            assert_eq!(err.code(), Some(ErrorCode::InvalidCredentials));
        }
        let err = hostile.register(&huge, "password").await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidUsername));
    });
    let flooded = tokio::spawn(async move {
        // A flooded inbox, then several sessions of its owner that never read:
        // each is cut off within a grace period and pins a bounded queue.
        let big = "f".repeat(16 * 1024 - 8); // with its number, 16 KiB at most
        let mut sent = Vec::new();
        // Two connections, each within the request burst.
        for half in [0..FLOOD / 2, FLOOD / 2..FLOOD] {
            let flooder = login(addr, "flooder").await;
            for n in half {
                let text = format!("{n}:{big}");
                let message = flooder.client.send_text("inundated", &text).await.unwrap();
                sent.push(message.id);
            }
        }
        let mut readers = tokio::task::JoinSet::new();
        for _ in 0..NON_READERS {
            readers.spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                let log_in = ClientFrame::Request {
                    req_id: 1,
                    request: Request::Login {
                        username: "inundated".into(),
                        password: password("inundated"),
                    },
                };
                let mut bytes = frame(&hello());
                bytes.extend(frame(&log_in));
                s.write_all(&bytes).await.unwrap();
                // Never reads until the server has given up on it.
                tokio::time::sleep(Duration::from_secs(8)).await;
                let mut drained = Vec::new();
                let cut_off = tokio::time::timeout(LIMIT, s.read_to_end(&mut drained)).await;
                assert!(cut_off.is_ok(), "a non-reading session was disconnected");
            });
        }
        while let Some(done) = readers.join_next().await {
            done.unwrap();
        }
        sent
    });
    attacks.spawn(async move {
        // A user storing files until the quota says no: one too big for the
        // bytes left, then small ones up to the file count.
        let hoarder = login(addr, "hoarder").await;
        let to = || Peer::User("victim".into());
        let content = vec![7u8; 1024];
        let sha256: [u8; 32] = sha2::Sha256::digest(&content).into();
        let refused = |result: Result<(u64, u32), ClientError>| result.unwrap_err().code();
        assert_eq!(
            refused(
                hoarder
                    .client
                    .offer_file(to(), "huge.bin", MAX_BYTES + 1, sha256)
                    .await
            ),
            Some(ErrorCode::QuotaExceeded)
        );
        for n in 0..MAX_FILES {
            let (file, _) = hoarder
                .client
                .offer_file(to(), &format!("{n}.bin"), content.len() as u64, sha256)
                .await
                .unwrap();
            hoarder
                .client
                .upload_chunk(file, 0, content.clone())
                .await
                .unwrap();
            hoarder.client.complete_file(file).await.unwrap();
        }
        assert_eq!(
            refused(hoarder.client.offer_file(to(), "more.bin", 1, sha256).await),
            Some(ErrorCode::QuotaExceeded)
        );
    });

    // Meanwhile the honest pairs chat.
    let mut senders = tokio::task::JoinSet::new();
    for (i, c) in honest.iter().enumerate() {
        let client = c.client.clone();
        senders.spawn(async move {
            for n in 0..MESSAGES {
                client
                    .send_text(&name(partner(i)), &format!("{i}:{n}"))
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    // Every honest client receives each of its partner's messages exactly once.
    for (i, c) in honest.iter_mut().enumerate() {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let deadline = tokio::time::Instant::now() + LIMIT;
        while seen.len() < MESSAGES {
            let event = tokio::time::timeout_at(deadline, c.events.next())
                .await
                .unwrap_or_else(|_| panic!("{} got {} of {MESSAGES}", name(i), seen.len()))
                .expect("connection open");
            if let Event::Message(m) = event {
                let Body::Text(text) = m.body;
                assert_eq!(m.from, name(partner(i)));
                *seen.entry(text).or_default() += 1;
            }
        }
        assert!(seen.values().all(|&n| n == 1), "{}: {seen:?}", name(i));
        c.sync().await; // acks processed
    }
    while let Some(attack) = attacks.join_next().await {
        attack.unwrap();
    }
    // The flooded user, reading at last, gets the whole flood once.
    let flood = flooded.await.unwrap();
    let mut inundated = login_raw(addr, "inundated").await;
    let mut got = Vec::new();
    loop {
        match inundated.next_event().await {
            Event::Message(m) => got.push(m.id),
            Event::CaughtUp => break,
            _ => {}
        }
    }
    assert_eq!(got, flood, "the flood, in order, once");
    inundated.sync().await;

    // A room of 16 KiB messages, and a member asking for a page as wide as
    // there is: the answer fits a frame (fewer messages, and the rest by
    // paging), the connection lives on.
    let loud = login(addr, "loud").await;
    loud.client.create_room("noisy").await.unwrap();
    let listener = &mut honest[0];
    listener.client.join_room("noisy").await.unwrap();
    let big = "l".repeat(limits::MAX_TEXT_LEN);
    for _ in 0..90 {
        loud.client.say("noisy", &big).await.unwrap();
    }
    let page = listener
        .client
        .history(Peer::Room("noisy".into()), None, limits::MAX_HISTORY_PAGE)
        .await
        .unwrap();
    assert!(
        !page.is_empty() && page.len() < 90,
        "a page that fits: {}",
        page.len()
    );
    let older = listener
        .client
        .history(
            Peer::Room("noisy".into()),
            Some(page[page.len() - 1].seq),
            200,
        )
        .await
        .unwrap();
    assert!(!older.is_empty(), "the rest by paging");
    for c in &honest {
        c.sync().await;
    }

    shutdown.cancel();
    tokio::time::timeout(LIMIT, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    drop((honest, setup, server, store));

    // The database, reopened, holds exactly the honest messages, all acked,
    // and still holds the hoarder to the quota.
    let store = chatcore_redb::open(dir.path()).unwrap();
    let account = |name: &str| {
        let store = &store;
        let name = name.to_owned();
        async move { store.account_by_name(&name).await.unwrap().unwrap().user }
    };
    let offer = NewFile {
        from: account("hoarder").await,
        to: FileTarget::User(account("victim").await),
        name: "after-restart.bin".into(),
        size: 1,
        sha256: [0; 32],
        chunk_size: 1024,
        ts: 0,
    };
    let quota = FileQuota {
        files: MAX_FILES,
        bytes: MAX_BYTES,
    };
    assert_eq!(
        store.create_file(offer, quota).await.unwrap(),
        Err(ErrorCode::QuotaExceeded)
    );
    for i in 0..HONEST / 2 {
        let a = store.account_by_name(&name(i)).await.unwrap().unwrap().user;
        let b = store
            .account_by_name(&name(partner(i)))
            .await
            .unwrap()
            .unwrap()
            .user;
        let history = store.direct_history(a.id, b.id, None, 1000).await.unwrap();
        assert_eq!(history.len(), 2 * MESSAGES);
        let mut seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
        seqs.sort();
        assert_eq!(seqs, (1..=2 * MESSAGES as u64).collect::<Vec<_>>());
        // What every device of a user acked is let go of their stream.
        for user in [&a, &b] {
            let left = store.stream(user.id, 0, 1000).await.unwrap();
            assert!(
                left.iter().all(|item| !matches!(&item.event,
                    Event::Message(m) if m.to == Peer::User(user.name.clone()))),
                "{} has unacked messages",
                user.name
            );
        }
    }
}
