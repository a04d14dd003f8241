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
