//! TLS over real TCP on 127.0.0.1 with a certificate generated at test time.

use std::sync::Arc;
use std::time::Duration;

use chatcore::client::Client;
use chatcore::engine::testkit::{password, test_config, TestClient};
use chatcore::engine::Server;
use chatcore::protocol::Event;
use chatcore::store::MemoryStore;
use chatcore::transport::{tcp, tls};
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(10);

/// Writes a self-signed certificate for `localhost` and its key; returns the dir.
fn certificate() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_over_tls_and_refuse_what_is_not_tls() {
    let dir = certificate();
    let config =
        tls::server_config(&dir.path().join("cert.pem"), &dir.path().join("key.pem")).unwrap();
    let transport = tls::TlsTransport::bind("127.0.0.1:0", config)
        .await
        .unwrap();
    let addr = transport.local_addr();
    let server = Server::new(Arc::new(MemoryStore::new()), test_config()).unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(server.clone().serve(transport, shutdown.clone()));

    let trust = tls::client_config(Some(&dir.path().join("cert.pem"))).unwrap();
    let mut users = Vec::new();
    for name in ["ann", "bob"] {
        let conn = tls::connect(addr, "localhost", trust.clone())
            .await
            .unwrap();
        let (client, events) = Client::connect(conn).await.unwrap();
        client.register(name, &password(name)).await.unwrap();
        client.login(name, &password(name)).await.unwrap();
        users.push(TestClient { client, events });
    }
    let (ann, bob) = users.split_at_mut(1);
    let (ann, bob) = (&mut ann[0], &mut bob[0]);
    ann.client.friend_request("bob", "over tls").await.unwrap();
    bob.expect(|e| matches!(e, Event::FriendRequested { .. }))
        .await;
    bob.client.respond_friend("ann", true).await.unwrap();
    let sent = ann.client.send_text("bob", "encrypted 🔒").await.unwrap();
    bob.expect(|e| matches!(e, Event::Message(m) if m.id == sent.id))
        .await;

    // A client that does not trust the certificate fails the handshake.
    let untrusting = tls::client_config(None).unwrap();
    assert!(tls::connect(addr, "localhost", untrusting).await.is_err());
    // A plain-TCP client gets no hello back; the server keeps serving.
    let plain = tcp::connect(addr).await.unwrap();
    let hello = tokio::time::timeout(LIMIT, Client::connect(plain))
        .await
        .unwrap();
    assert!(hello.is_err());
    ann.client.ping().await.unwrap();
    shutdown.cancel();
}

/// Clients that connect and never handshake hold at most `max_handshakes`
/// slots: a good client waits behind them (in the listen backlog), gets
/// through once they are gone, and chats. Shutdown completes with handshakes
/// pending and ends them (the handshake deadline here is an hour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_are_bounded_and_end_at_shutdown() {
    use tokio::io::AsyncReadExt;

    let dir = certificate();
    let config =
        tls::server_config(&dir.path().join("cert.pem"), &dir.path().join("key.pem")).unwrap();
    let mut options = tls::TlsOptions::default();
    options.max_handshakes = 2;
    options.handshake_timeout = Duration::from_secs(3600);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let transport = tls::TlsTransport::from_listener(listener, config, options).unwrap();
    let addr = transport.local_addr();
    let server = Server::new(Arc::new(MemoryStore::new()), test_config()).unwrap();
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(server.clone().serve(transport, shutdown.clone()));

    let stall = || async { tokio::net::TcpStream::connect(addr).await.unwrap() };
    let mut stalled = Vec::new();
    for _ in 0..10 {
        stalled.push(stall().await);
    }
    let trust = tls::client_config(Some(&dir.path().join("cert.pem"))).unwrap();
    let good = tokio::spawn(tls::connect(addr, "localhost", trust.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!good.is_finished(), "past the bound, a handshake waits");
    drop(stalled);
    let conn = tokio::time::timeout(LIMIT, good)
        .await
        .expect("served once the stalled ones are gone")
        .unwrap()
        .unwrap();
    let (client, _events) = Client::connect(conn).await.unwrap();
    client.register("ann", &password("ann")).await.unwrap();
    client.login("ann", &password("ann")).await.unwrap();

    let mut pending = Vec::new();
    for _ in 0..3 {
        pending.push(stall().await);
    }
    shutdown.cancel();
    tokio::time::timeout(LIMIT, serving)
        .await
        .expect("shutdown does not wait for handshakes")
        .unwrap()
        .unwrap();
    for mut socket in pending {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(LIMIT, socket.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a pending handshake ends at shutdown");
    }
}
