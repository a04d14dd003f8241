//! Bad input over real TCP on 127.0.0.1: each bad connection is closed (after an
//! error frame where the protocol allows one) while a well-behaved pair of clients
//! keeps chatting.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use chatcore::client::Client;
use chatcore::engine::testkit::{password, test_config, TestClient};
use chatcore::engine::Server;
use chatcore::protocol::{
    decode_frame, encode_frame, ClientFrame, ErrorCode, Event, Request, ServerFrame,
    DEFAULT_MAX_FRAME_LEN, PROTOCOL_VERSION,
};
use chatcore::store::MemoryStore;
use chatcore::transport::tcp::{self, TcpTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(10);

/// Reads frames until the server closes the connection; returns them.
async fn frames_until_close(stream: &mut TcpStream) -> Vec<ServerFrame> {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    loop {
        while let Some(frame) =
            decode_frame::<ServerFrame>(&mut buf, DEFAULT_MAX_FRAME_LEN).unwrap()
        {
            frames.push(frame);
        }
        let n = tokio::time::timeout(LIMIT, stream.read_buf(&mut buf))
            .await
            .expect("the server closes the connection in time")
            .unwrap_or(0);
        if n == 0 {
            return frames;
        }
    }
}

fn closing(code: ErrorCode) -> ServerFrame {
    ServerFrame::Event(Event::Closing { code })
}

fn frame_bytes(frame: &ClientFrame) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_frame(frame, &mut buf, DEFAULT_MAX_FRAME_LEN).unwrap();
    buf.to_vec()
}

async fn tcp_client(addr: std::net::SocketAddr, name: &str, register: bool) -> TestClient {
    let (client, events) = Client::connect(tcp::connect(addr).await.unwrap())
        .await
        .unwrap();
    if register {
        client.register(name, &password(name)).await.unwrap();
    }
    client.login(name, &password(name)).await.unwrap();
    let mut c = TestClient { client, events };
    c.expect(|e| *e == Event::CaughtUp).await;
    c
}

async fn chat(ann: &TestClient, bob: &mut TestClient, text: &str) {
    let sent = ann.client.send_text("bob", text).await.unwrap();
    let got = bob.expect(|e| matches!(e, Event::Message(_))).await;
    assert!(matches!(got, Event::Message(m) if m.id == sent.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connections_are_closed_and_others_keep_chatting() {
    let mut config = test_config();
    config.hello_timeout = Duration::from_millis(300);
    let server = Server::new(Arc::new(MemoryStore::new()), config).unwrap();
    let transport = TcpTransport::bind("127.0.0.1:0").await.unwrap();
    let addr = transport.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(server.clone().serve(transport, shutdown.clone()));

    let mut ann = tcp_client(addr, "ann", true).await;
    let mut bob = tcp_client(addr, "bob", true).await;
    ann.client.friend_request("bob", "").await.unwrap();
    bob.expect(|e| matches!(e, Event::FriendRequested { .. }))
        .await;
    bob.client.respond_friend("ann", true).await.unwrap();
    chat(&ann, &mut bob, "before").await;

    // Garbage: a plausible length, then bytes that are no frame.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"\x00\x00\x00\x08\xff\xff\xff\xff\xff\xff\xff\xff")
        .await
        .unwrap();
    assert_eq!(
        frames_until_close(&mut s).await,
        vec![closing(ErrorCode::MalformedFrame)]
    );

    // A length prefix of 4 GiB: refused before anything is allocated.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0]).await.unwrap();
    assert_eq!(
        frames_until_close(&mut s).await,
        vec![closing(ErrorCode::FrameTooLarge)]
    );

    chat(&ann, &mut bob, "between").await;

    // A truncated frame: half a hello, then the client stops sending.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let hello = frame_bytes(&ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        client: "half".into(),
    });
    s.write_all(&hello[..hello.len() / 2]).await.unwrap();
    s.shutdown().await.unwrap();
    assert_eq!(frames_until_close(&mut s).await, vec![]);

    // A request before hello.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&frame_bytes(&ClientFrame::Request {
        req_id: 1,
        request: Request::ListFriends,
    }))
    .await
    .unwrap();
    assert_eq!(
        frames_until_close(&mut s).await,
        vec![closing(ErrorCode::ProtocolViolation)]
    );

    // A client that connects and says nothing: closed after the hello timeout.
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        frames_until_close(&mut s).await,
        vec![closing(ErrorCode::Timeout)]
    );

    chat(&ann, &mut bob, "after").await;
    // The store is intact: history holds exactly the three messages.
    let history = bob
        .client
        .history(chatcore::protocol::Peer::User("ann".into()), None, 10)
        .await
        .unwrap();
    let texts: Vec<_> = history
        .iter()
        .map(|m| match &m.body {
            chatcore::protocol::Body::Text(t) => t.as_str(),
        })
        .collect();
    assert_eq!(texts, vec!["after", "between", "before"]);

    shutdown.cancel();
    tokio::time::timeout(LIMIT, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Connected clients were told.
    ann.expect(|e| *e == Event::ServerShutdown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_refused() {
    let mut config = test_config();
    config.max_connections = 2;
    let server = Server::new(Arc::new(MemoryStore::new()), config).unwrap();
    let transport = TcpTransport::bind("127.0.0.1:0").await.unwrap();
    let addr = transport.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(server.clone().serve(transport, shutdown.clone()));
    let first = Client::connect(tcp::connect(addr).await.unwrap())
        .await
        .unwrap();
    let second = Client::connect(tcp::connect(addr).await.unwrap())
        .await
        .unwrap();
    let third = Client::connect(tcp::connect(addr).await.unwrap()).await;
    assert_eq!(
        third.unwrap_err().code(),
        Some(ErrorCode::TooManyConnections)
    );
    first.0.ping().await.unwrap();
    second.0.ping().await.unwrap();
    shutdown.cancel();
}
