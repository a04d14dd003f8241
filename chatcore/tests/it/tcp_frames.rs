//! Answers and the frame limit over real TCP on 127.0.0.1 (review 1.5): a
//! history page of 16 KiB messages comes in frames the codec takes, and a frame
//! the server cannot send closes the connection instead of leaving its client
//! waiting.

use std::sync::Arc;
use std::time::Duration;

use chatcore::client::{Client, ClientError};
use chatcore::engine::testkit::{password, test_config};
use chatcore::engine::{Server, ServerConfig};
use chatcore::protocol::{limits, Body, Event, Peer};
use chatcore::store::{MemoryStore, NewMessage, Store};
use chatcore::transport::tcp::{self, TcpTransport};
use tokio_util::sync::CancellationToken;

/// A hang guard: what must happen comes long before this, or never.
const LIMIT: Duration = Duration::from_secs(20);

async fn serve(store: Arc<MemoryStore>, config: ServerConfig) -> std::net::SocketAddr {
    let max_frame_len = config.max_frame_len;
    let server = Server::new(store, config).unwrap();
    let transport = TcpTransport::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_max_frame_len(max_frame_len);
    let addr = transport.local_addr().unwrap();
    tokio::spawn(server.serve(transport, CancellationToken::new()));
    addr
}

async fn connect(addr: std::net::SocketAddr) -> (Client, chatcore::client::Events) {
    Client::connect(tcp::connect(addr).await.unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_16_kib_messages_comes_in_pages_that_fit() {
    let mut config = test_config();
    config.open_chat = true;
    let addr = serve(Arc::new(MemoryStore::new()), config).await;
    let (ann, _ann_events) = connect(addr).await;
    let (bob, _bob_events) = connect(addr).await;
    for (c, name) in [(&ann, "ann"), (&bob, "bob")] {
        c.register(name, &password(name)).await.unwrap();
        c.login(name, &password(name)).await.unwrap();
    }
    let text = "m".repeat(limits::MAX_TEXT_LEN);
    for i in 0..80 {
        let to = Peer::User("bob".into());
        ann.send(to, i, Body::Text(text.clone())).await.unwrap();
    }
    let (mut seqs, mut before) = (Vec::new(), None);
    loop {
        let page = tokio::time::timeout(
            LIMIT,
            bob.history(Peer::User("ann".into()), before, limits::MAX_HISTORY_PAGE),
        )
        .await
        .expect("a history page is answered")
        .unwrap();
        let Some(oldest) = page.last() else { break };
        assert!(page.len() < 80, "80 × 16 KiB do not fit in one frame");
        before = Some(oldest.seq);
        seqs.extend(page.iter().map(|m| m.seq));
    }
    assert_eq!(seqs, (1..=80).rev().collect::<Vec<_>>());
}

/// A message bigger than this server's frame limit (stored while the limit was
/// higher) cannot reach its recipient: the login backlog that carries it closes
/// the connection, and the client sees the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_the_limit_closes_the_connection() {
    let store = Arc::new(MemoryStore::new());
    let ann = store.create_user("ann", "h").await.unwrap().unwrap();
    let mut config = test_config();
    config.max_frame_len = 4096;
    config.file_chunk_size = 2048;
    config.idle_timeout = Duration::from_secs(3600);
    config.ping_interval = Duration::from_secs(1800);
    let addr = serve(Arc::clone(&store), config).await;
    let (bob, mut events) = connect(addr).await;
    bob.register("bob", &password("bob")).await.unwrap();
    let bob_user = store.account_by_name("bob").await.unwrap().unwrap().user;
    store
        .append_direct(NewMessage {
            from: ann,
            to: bob_user,
            client_msg_id: 1,
            body: Body::Text("x".repeat(5000)),
            ts: 1,
            friends_only: false,
            device: None,
        })
        .await
        .unwrap()
        .unwrap();

    bob.login("bob", &password("bob")).await.unwrap();
    let closed = tokio::time::timeout(LIMIT, async {
        while let Some(event) = events.next().await {
            assert!(
                !matches!(event, Event::CaughtUp),
                "the backlog cannot have been sent"
            );
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was not closed");
    assert!(matches!(bob.ping().await, Err(ClientError::Closed)));
}
