//! The client acks only what the application received, and in explicit-ack
//! mode only what the application acks.

use std::sync::Arc;

use chatcore::client::{Client, ClientConfig};
use chatcore::engine::testkit::{password, test_config, Harness, TestClient};
use chatcore::protocol::Event;
use chatcore::store::MemoryStore;

async fn friends_with_bob_offline() -> (Harness, TestClient) {
    let h = Harness::start(Arc::new(MemoryStore::new()), test_config());
    let (ann, bob) = h.friends("ann", "bob").await;
    bob.client.logout().await.unwrap();
    (h, ann)
}

async fn client_with(h: &Harness, config: ClientConfig) -> (Client, chatcore::client::Events) {
    let conn = h.connector().connect().await.unwrap();
    Client::connect_with(conn, config).await.unwrap()
}

/// Messages in `bob`'s backlog at a fresh login.
async fn backlog_of_bob(h: &Harness) -> Vec<String> {
    let mut bob = h.login_raw("bob").await;
    let mut texts = Vec::new();
    loop {
        match bob.next_event().await {
            Event::Message(m) => texts.push(format!("{:?}", m.body)),
            Event::CaughtUp => return texts,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_no_one_can_receive_are_not_acked() {
    let (h, ann) = friends_with_bob_offline().await;
    ann.client.send_text("bob", "unseen").await.unwrap();
    let (client, events) = client_with(&h, ClientConfig::default()).await;
    drop(events);
    client.login("bob", &password("bob")).await.unwrap();
    ann.client.send_text("bob", "unseen too").await.unwrap();
    // Any request first sends the acks of what was forwarded: none.
    client.online_count().await.unwrap();
    client.logout().await.unwrap();
    assert_eq!(backlog_of_bob(&h).await.len(), 2, "both still in the inbox");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_ack_mode_acks_only_when_told() {
    let (h, ann) = friends_with_bob_offline().await;
    ann.client.send_text("bob", "first").await.unwrap();
    ann.client.send_text("bob", "second").await.unwrap();
    let mut config = ClientConfig::default();
    config.auto_ack = false;
    let (client, mut events) = client_with(&h, config).await;
    client.login("bob", &password("bob")).await.unwrap();
    let mut ids = Vec::new();
    loop {
        match events.next().await.expect("open") {
            Event::Message(m) => ids.push(m.id),
            Event::CaughtUp => break,
            _ => {}
        }
    }
    assert_eq!(ids.len(), 2);
    client.online_count().await.unwrap();
    // Processed the first only.
    client.ack(vec![ids[0]]).await.unwrap();
    client.logout().await.unwrap();
    assert_eq!(
        backlog_of_bob(&h).await,
        vec![r#"Text("second")"#.to_string()]
    );
    h.stop().await;
}
