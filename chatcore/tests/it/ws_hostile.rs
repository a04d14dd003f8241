//! Hostile input over the WebSocket transport, real TCP on 127.0.0.1: every
//! bad connection gets a clear refusal or a `Closing` with the protocol's error
//! code and a close frame naming it, while a well-behaved pair of clients keeps
//! chatting; the TCP and WebSocket listeners of one server share its caps.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chatcore::client::Client;
use chatcore::engine::testkit::{password, test_config, TestClient};
use chatcore::engine::{Server, ServerConfig};
use chatcore::protocol::{ClientFrame, ErrorCode, Event, Request, ServerFrame, PROTOCOL_VERSION};
use chatcore::store::MemoryStore;
use chatcore::transport::ws::{self, OriginPolicy, Subprotocol, WsOptions, WsTransport};
use chatcore::transport::{join, tcp::TcpTransport, tls};
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(10);

struct Served {
    ws: SocketAddr,
    tcp: SocketAddr,
    server: Server,
    shutdown: CancellationToken,
}

/// A server on a TCP and a WebSocket listener.
async fn serve(config: ServerConfig, options: WsOptions) -> Served {
    let server = Server::new(Arc::new(MemoryStore::new()), config).unwrap();
    let tcp = TcpTransport::bind("127.0.0.1:0").await.unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws = WsTransport::builder(listener, options).start().unwrap();
    let ws_addr = ws.local_addr();
    let shutdown = CancellationToken::new();
    tokio::spawn(server.clone().serve(join(tcp, Some(ws)), shutdown.clone()));
    Served {
        ws: ws_addr,
        tcp: tcp_addr,
        server,
        shutdown,
    }
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/ws")
}

/// A logged-in client over WebSocket.
async fn user(addr: SocketAddr, name: &str, subprotocol: Subprotocol) -> TestClient {
    let conn = ws::connect(&url(addr), subprotocol).await.unwrap();
    let (client, events) = Client::connect(conn).await.unwrap();
    client.register(name, &password(name)).await.unwrap();
    client.login(name, &password(name)).await.unwrap();
    let mut c = TestClient { client, events };
    c.expect(|e| *e == Event::CaughtUp).await;
    c
}

/// Friends `ann` (JSON) and `bob` (postcard) who chat throughout a test.
async fn pair(addr: SocketAddr) -> (TestClient, TestClient) {
    let ann = user(addr, "ann", Subprotocol::Json).await;
    let mut bob = user(addr, "bob", Subprotocol::Postcard).await;
    ann.client.friend_request("bob", "hi").await.unwrap();
    bob.expect(|e| matches!(e, Event::FriendRequested { .. }))
        .await;
    bob.client.respond_friend("ann", true).await.unwrap();
    (ann, bob)
}

async fn chat(ann: &TestClient, bob: &mut TestClient, text: &str) {
    let sent = ann.client.send_text("bob", text).await.unwrap();
    bob.expect(|e| matches!(e, Event::Message(m) if m.id == sent.id))
        .await;
}

/// A raw WebSocket client offering `protocols` with `origin`.
async fn raw(
    addr: SocketAddr,
    protocols: Option<&str>,
    origin: Option<&str>,
) -> Result<WebSocketStream<TcpStream>, WsError> {
    let mut request = url(addr).into_client_request().unwrap();
    if let Some(p) = protocols {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    if let Some(o) = origin {
        request.headers_mut().insert("Origin", o.parse().unwrap());
    }
    let stream = TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(request, stream)
        .await
        .map(|(ws, _)| ws)
}

/// The HTTP status and body of a refused upgrade.
fn refused(result: Result<WebSocketStream<TcpStream>, WsError>) -> (u16, String) {
    match result {
        Err(WsError::Http(response)) => (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into(),
        ),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, got an upgrade"),
    }
}

/// The messages the server sends until its close frame, and that frame.
async fn until_close(ws: &mut WebSocketStream<TcpStream>) -> (Vec<Message>, Option<CloseFrame>) {
    let mut messages = Vec::new();
    loop {
        match tokio::time::timeout(LIMIT, ws.next())
            .await
            .expect("the server closes in time")
        {
            Some(Ok(Message::Close(frame))) => return (messages, frame),
            Some(Ok(message)) => messages.push(message),
            Some(Err(e)) => panic!("no close frame, but {e}"),
            None => return (messages, None),
        }
    }
}

/// Asserts the server said `Closing{code}` (as JSON text or postcard binary)
/// and closed with a frame naming the code.
async fn assert_closed_with(ws: &mut WebSocketStream<TcpStream>, code: ErrorCode) {
    let (messages, frame) = until_close(ws).await;
    let frames: Vec<ServerFrame> = messages
        .iter()
        .map(|m| match m {
            Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            Message::Binary(b) => postcard::from_bytes(b).unwrap(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        frames.last(),
        Some(&ServerFrame::Event(Event::Closing { code })),
        "{frames:?}"
    );
    let frame = frame.expect("a close frame");
    assert_eq!(frame.reason.as_str(), code.as_str());
}

fn json_hello() -> Message {
    Message::text(
        serde_json::to_string(&ClientFrame::Hello {
            version: PROTOCOL_VERSION,
            client: "raw".into(),
        })
        .unwrap(),
    )
}

/// A masked client frame, written by hand: `opcode`, a length that may lie
/// (`claimed`), and `payload`.
fn raw_frame(opcode: u8, claimed: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    if claimed < 126 {
        out.push(0x80 | claimed as u8);
    } else if claimed <= u16::MAX as u64 {
        out.push(0x80 | 126);
        out.extend_from_slice(&(claimed as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&claimed.to_be_bytes());
    }
    let mask = [1, 2, 3, 4];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Upgrades, then writes `bytes` straight to the socket; returns the
/// connection to read the answer from.
async fn raw_bytes(addr: SocketAddr, protocol: &str, bytes: &[u8]) -> WebSocketStream<TcpStream> {
    let ws = raw(addr, Some(protocol), None).await.unwrap();
    let mut stream = ws.into_inner();
    stream.write_all(bytes).await.unwrap();
    WebSocketStream::from_raw_socket(stream, Role::Client, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_closed_with_their_code_and_others_keep_chatting() {
    let s = serve(test_config(), WsOptions::default()).await;
    let (ann, mut bob) = pair(s.ws).await;
    chat(&ann, &mut bob, "before").await;

    let json = ws::JSON_SUBPROTOCOL;
    let postcard = ws::POSTCARD_SUBPROTOCOL;
    let cases: Vec<(&str, Vec<Message>, ErrorCode)> = vec![
        // Garbage text, before and after a hello.
        (
            json,
            vec![Message::text("\u{1}\u{7f}garbage{{{")],
            ErrorCode::MalformedFrame,
        ),
        (
            json,
            vec![json_hello(), Message::text("]][[")],
            ErrorCode::MalformedFrame,
        ),
        // JSON, but not a frame.
        (
            json,
            vec![Message::text(r#"{"hello":"there"}"#)],
            ErrorCode::MalformedFrame,
        ),
        (
            json,
            vec![Message::text("[1,2,3]")],
            ErrorCode::MalformedFrame,
        ),
        (
            json,
            vec![Message::text(r#""Ping""#)],
            ErrorCode::MalformedFrame,
        ),
        // Bytes as a number array, where base64 belongs.
        (
            json,
            vec![
                json_hello(),
                Message::text(
                    r#"{"Request":{"req_id":1,"request":{"UploadChunk":{"file":1,"offset":0,"bytes":[1,2]}}}}"#,
                ),
            ],
            ErrorCode::MalformedFrame,
        ),
        // A binary message on the JSON subprotocol, and text on postcard.
        (
            json,
            vec![Message::binary(vec![0u8, 5, 3])],
            ErrorCode::MalformedFrame,
        ),
        (
            postcard,
            vec![Message::text(r#"{"Hello":{"version":5,"client":"x"}}"#)],
            ErrorCode::MalformedFrame,
        ),
        // Binary garbage on postcard.
        (
            postcard,
            vec![Message::binary(vec![0xffu8; 40])],
            ErrorCode::MalformedFrame,
        ),
        // A frame that is not a hello first.
        (
            json,
            vec![Message::text(
                r#"{"Request":{"req_id":1,"request":"Ping"}}"#,
            )],
            ErrorCode::ProtocolViolation,
        ),
    ];
    for (protocol, messages, code) in cases {
        let mut ws = raw(s.ws, Some(protocol), None).await.unwrap();
        for m in messages {
            ws.send(m).await.unwrap();
        }
        if code == ErrorCode::MalformedFrame {
            assert_closed_with(&mut ws, code).await;
        } else {
            let (messages, _) = until_close(&mut ws).await;
            let text = messages.last().unwrap().to_text().unwrap().to_owned();
            let last: ServerFrame = serde_json::from_str(&text).unwrap();
            assert_eq!(last, ServerFrame::Event(Event::Closing { code }));
        }
        chat(&ann, &mut bob, "still here").await;
    }

    // Invalid UTF-8 in a text message.
    let mut ws = raw_bytes(s.ws, json, &raw_frame(0x1, 3, &[0xc3, 0x28, 0xff])).await;
    assert_closed_with(&mut ws, ErrorCode::MalformedFrame).await;
    chat(&ann, &mut bob, "after bad utf-8").await;
    s.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_messages_are_refused_before_they_are_read() {
    let mut config = test_config();
    config.max_frame_len = 4096;
    config.file_chunk_size = 2048;
    let mut options = WsOptions::default();
    options.max_frame_len = 4096;
    let s = serve(config, options).await;
    let (ann, mut bob) = pair(s.ws).await;

    // One byte over: 4097 on postcard, 8193 on JSON (twice the frame limit).
    let mut ws = raw(s.ws, Some(ws::POSTCARD_SUBPROTOCOL), None)
        .await
        .unwrap();
    ws.send(Message::binary(vec![0u8; 4097])).await.unwrap();
    assert_closed_with(&mut ws, ErrorCode::FrameTooLarge).await;
    let mut ws = raw(s.ws, Some(ws::JSON_SUBPROTOCOL), None).await.unwrap();
    ws.send(Message::text("x".repeat(8193))).await.unwrap();
    assert_closed_with(&mut ws, ErrorCode::FrameTooLarge).await;
    // At the limit, a JSON message is read (and is not a frame).
    let mut ws = raw(s.ws, Some(ws::JSON_SUBPROTOCOL), None).await.unwrap();
    ws.send(Message::text("x".repeat(8192))).await.unwrap();
    assert_closed_with(&mut ws, ErrorCode::MalformedFrame).await;

    // A frame header that claims 3 GiB: refused on the header, nothing read.
    for protocol in [ws::POSTCARD_SUBPROTOCOL, ws::JSON_SUBPROTOCOL] {
        let opcode = if protocol == ws::JSON_SUBPROTOCOL {
            0x1
        } else {
            0x2
        };
        let mut ws = raw_bytes(s.ws, protocol, &raw_frame(opcode, 3 << 30, b"abc")).await;
        assert_closed_with(&mut ws, ErrorCode::FrameTooLarge).await;
    }
    chat(&ann, &mut bob, "unbothered").await;
    s.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_without_a_chatcore_subprotocol_or_from_a_foreign_page_are_refused() {
    let mut options = WsOptions::default();
    options.origins = OriginPolicy::same_host().allow("http://friend.example:3000");
    let s = serve(test_config(), options).await;
    let (ann, mut bob) = pair(s.ws).await;

    let (status, body) = refused(raw(s.ws, None, None).await);
    assert_eq!(status, 400);
    assert!(body.contains(ws::JSON_SUBPROTOCOL), "{body}");
    let (status, _) = refused(raw(s.ws, Some("chatcore.json.v0, mqtt"), None).await);
    assert_eq!(status, 400);

    let (status, body) = refused(
        raw(
            s.ws,
            Some(ws::JSON_SUBPROTOCOL),
            Some("http://evil.example"),
        )
        .await,
    );
    assert_eq!(status, 403);
    assert!(body.contains("http://evil.example"), "{body}");
    // The same host on another port, or over https, is another origin.
    let other_port = format!("http://127.0.0.1:{}", s.ws.port() + 1);
    let (status, _) = refused(raw(s.ws, Some(ws::JSON_SUBPROTOCOL), Some(&other_port)).await);
    assert_eq!(status, 403);
    let (status, _) = refused(raw(s.ws, Some(ws::JSON_SUBPROTOCOL), Some("null")).await);
    assert_eq!(status, 403);

    // The server's own page, and an allowed one, may; the client's first
    // offer of chatcore's wins.
    for origin in [
        format!("http://{}", s.ws),
        "http://friend.example:3000".into(),
    ] {
        let mut ws = raw(
            s.ws,
            Some("mqtt, chatcore.json.v1, chatcore.postcard.v1"),
            Some(&origin),
        )
        .await
        .unwrap();
        ws.send(json_hello()).await.unwrap();
        let hello = ws.next().await.unwrap().unwrap();
        assert!(
            hello
                .to_text()
                .unwrap()
                .starts_with(r#"{"Hello":{"version":5"#),
            "{hello:?}"
        );
    }
    // Plain HTTP to the endpoint, and other paths without a handler.
    let stream = TcpStream::connect(s.ws).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<
        _,
        http_body_util::Empty<bytes::Bytes>,
    >(hyper_util::rt::TokioIo::new(stream))
    .await
    .unwrap();
    tokio::spawn(conn);
    for (path, status) in [("/ws", 426), ("/index.html", 404)] {
        let request = http::Request::get(path)
            .header("Host", s.ws.to_string())
            .body(http_body_util::Empty::new())
            .unwrap();
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
    }
    chat(&ann, &mut bob, "unbothered").await;
    s.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_and_websocket_share_the_connection_caps() {
    let mut config = test_config();
    config.max_connections_per_address = 3;
    let s = serve(config, WsOptions::default()).await;
    let (ann, mut bob) = pair(s.ws).await;
    let tcp = Client::connect(chatcore::transport::tcp::connect(s.tcp).await.unwrap())
        .await
        .unwrap();
    // A fourth from 127.0.0.1, over either transport, is refused.
    let over_ws = Client::connect(
        ws::connect(&url(s.ws), Subprotocol::Postcard)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        over_ws.unwrap_err().code(),
        Some(ErrorCode::TooManyConnections)
    );
    let over_tcp = Client::connect(chatcore::transport::tcp::connect(s.tcp).await.unwrap()).await;
    assert_eq!(
        over_tcp.unwrap_err().code(),
        Some(ErrorCode::TooManyConnections)
    );
    // The refused JSON client hears it as JSON, and a close frame naming it.
    let mut ws = raw(s.ws, Some(ws::JSON_SUBPROTOCOL), None).await.unwrap();
    assert_closed_with(&mut ws, ErrorCode::TooManyConnections).await;
    tcp.0.ping().await.unwrap();
    chat(&ann, &mut bob, "still three").await;
    drop(tcp);
    s.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_rates_apply_over_websocket() {
    let mut config = test_config();
    config.hello_timeout = Duration::from_millis(300);
    config.request_rate = 1.0;
    config.request_burst = 2;
    config.max_rate_strikes = 3;
    let s = serve(config, WsOptions::default()).await;

    // No hello: closed with `timeout`.
    let mut ws = raw(s.ws, Some(ws::JSON_SUBPROTOCOL), None).await.unwrap();
    assert_closed_with(&mut ws, ErrorCode::Timeout).await;

    // A flood: refused `rate_limited`, then closed.
    let mut ws = raw(s.ws, Some(ws::JSON_SUBPROTOCOL), None).await.unwrap();
    ws.send(json_hello()).await.unwrap();
    // One write: the server may close after the first few, and a later
    // write of ours would then fail (a broken pipe) before we read why.
    for req_id in 0..10 {
        let ping = ClientFrame::Request {
            req_id,
            request: Request::Ping,
        };
        ws.feed(Message::text(serde_json::to_string(&ping).unwrap()))
            .await
            .unwrap();
    }
    ws.flush().await.unwrap();
    let (messages, frame) = until_close(&mut ws).await;
    let texts: Vec<&str> = messages.iter().map(|m| m.to_text().unwrap()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains(r#"{"Err":"rate_limited"}"#)),
        "{texts:?}"
    );
    assert_eq!(frame.unwrap().reason.as_str(), "rate_limited");
    s.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_reader_that_stops_reading_is_closed() {
    let mut config = test_config();
    config.open_chat = true;
    config.outbound_queue_bytes = 256 * 1024;
    let s = serve(config, WsOptions::default()).await;
    let ann = user(s.ws, "ann", Subprotocol::Postcard).await;
    // bob logs in over JSON, then reads nothing more.
    let mut bob = raw(s.ws, Some(ws::JSON_SUBPROTOCOL), None).await.unwrap();
    let frames = [
        ClientFrame::Hello {
            version: PROTOCOL_VERSION,
            client: "stalled".into(),
        },
        ClientFrame::Request {
            req_id: 1,
            request: Request::Register {
                username: "bob".into(),
                password: password("bob"),
            },
        },
        ClientFrame::Request {
            req_id: 2,
            request: Request::Login {
                username: "bob".into(),
                password: password("bob"),
            },
        },
    ];
    for f in &frames {
        bob.send(Message::text(serde_json::to_string(f).unwrap()))
            .await
            .unwrap();
    }
    tokio::time::timeout(LIMIT, async {
        while s.server.online_count() != 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    // 16 KiB messages until bob's session is closed as a slow reader.
    let text = "z".repeat(16 * 1024);
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        let mut i = 0u64;
        while s.server.online_count() == 2 {
            ann.client
                .send(
                    chatcore::protocol::Peer::User("bob".into()),
                    i,
                    chatcore::protocol::Body::Text(text.clone()),
                )
                .await
                .unwrap();
            i += 1;
        }
        i
    })
    .await
    .expect("bob is closed as a slow reader");
    assert!(closed > 8, "closed after {closed} messages");
    ann.client.ping().await.unwrap();
    drop(bob);
    s.shutdown.cancel();
}

/// Writes a self-signed certificate for `localhost` and its key; returns the dir.
fn certificate() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_over_wss() {
    let dir = certificate();
    let config =
        tls::server_config(&dir.path().join("cert.pem"), &dir.path().join("key.pem")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let transport = WsTransport::builder(listener, WsOptions::default())
        .tls(config)
        .start()
        .unwrap();
    let port = transport.local_addr().port();
    let server = Server::new(Arc::new(MemoryStore::new()), test_config()).unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(server.clone().serve(transport, shutdown.clone()));
    let trust = tls::client_config(Some(&dir.path().join("cert.pem"))).unwrap();
    let url = format!("wss://localhost:{port}/ws");
    let mut users = Vec::new();
    for (name, subprotocol) in [("ann", Subprotocol::Json), ("bob", Subprotocol::Postcard)] {
        let conn = ws::connect_with(&url, subprotocol, Some(trust.clone()), 1 << 20)
            .await
            .unwrap();
        let (client, events) = Client::connect(conn).await.unwrap();
        client.register(name, &password(name)).await.unwrap();
        client.login(name, &password(name)).await.unwrap();
        users.push(TestClient { client, events });
    }
    let (ann, bob) = users.split_at_mut(1);
    let (ann, bob) = (&mut ann[0], &mut bob[0]);
    ann.client.friend_request("bob", "over wss").await.unwrap();
    bob.expect(|e| matches!(e, Event::FriendRequested { .. }))
        .await;
    bob.client.respond_friend("ann", true).await.unwrap();
    chat(ann, bob, "encrypted 🔒").await;
    // Not trusting the certificate fails; plain ws:// to a TLS port too.
    let untrusting = ws::connect_with(
        &url,
        Subprotocol::Json,
        Some(tls::client_config(None).unwrap()),
        1 << 20,
    )
    .await;
    assert!(untrusting.is_err());
    let plain = ws::connect(&format!("ws://localhost:{port}/ws"), Subprotocol::Json).await;
    assert!(plain.is_err());
    chat(ann, bob, "still encrypted").await;
    shutdown.cancel();
}
