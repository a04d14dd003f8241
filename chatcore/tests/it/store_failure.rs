//! What the server does when its store fails or its disk runs low: a failed
//! store is answered `Unavailable` and stops the server (fail-stop); below the
//! free-space watermark uploads are refused `StorageFull` while chat goes on.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatcore::client::ClientError;
use chatcore::engine::testkit::{test_config, Harness, TestClient};
use chatcore::engine::ServerError;
use chatcore::protocol::{ErrorCode, Event, Peer};
use chatcore::store::{KvStore, StoreError, StoreHealth};
use sha2::{Digest, Sha256};

use crate::faulty::Faulty;

fn start(backend: &Faulty, min_free_disk: u64) -> Harness {
    let mut config = test_config();
    config.open_chat = true;
    config.min_free_disk = min_free_disk;
    config.file_chunk_size = 4096;
    let store = KvStore::open(backend.clone()).expect("open");
    Harness::start(Arc::new(store), config)
}

fn refusal<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Refused(code)) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn chat(from: &TestClient, to: &mut TestClient, to_name: &str, text: &str) {
    from.client.send_text(to_name, text).await.expect("send");
    to.expect(
        |e| matches!(e, Event::Message(m) if m.body == chatcore::protocol::Body::Text(text.into())),
    )
    .await;
}

/// A commit that fails (a full disk under the store) fails the store: the
/// request is answered `Unavailable`, and so is every later write, the
/// server's health says so, and the server stops by itself (every client told
/// `ServerShutdown`), returning the failure: fail-stop.
#[tokio::test]
async fn a_failed_store_is_unavailable_and_stops_the_server() {
    let backend = Faulty::default();
    let harness = start(&backend, 0);
    let ann = harness.user("ann").await;
    let mut bob = harness.user("bob").await;
    chat(&ann, &mut bob, "bob", "before").await;
    assert!(matches!(harness.server().health(), StoreHealth::Healthy));

    backend.full.store(true, Ordering::SeqCst);
    let refused = ann.client.send_text("bob", "lost").await;
    assert_eq!(refusal(refused), ErrorCode::Unavailable);
    assert!(matches!(
        harness.server().health(),
        StoreHealth::Failed(StoreError::Failed(_))
    ));
    backend.full.store(false, Ordering::SeqCst);
    match ann.client.send_text("bob", "still refused").await {
        // Refused, or the server already stopped.
        Err(ClientError::Refused(code)) => assert_eq!(code, ErrorCode::Unavailable),
        Err(ClientError::Closed) => {}
        other => panic!("a write after the failure: {other:?}"),
    }

    let stopped = harness.stopped().await;
    assert!(
        matches!(
            stopped,
            Err(ServerError::StoreFailed(StoreError::Failed(_)))
        ),
        "{stopped:?}"
    );
    bob.expect(|e| matches!(e, Event::ServerShutdown)).await;
}

/// A hang guard for what the once-a-second probe picks up.
const PROBE_WAIT: Duration = Duration::from_secs(10);

/// Waits until the server's probe has seen the disk as `low` or not: a chunk
/// of no upload is refused `StorageFull` while low, `NoSuchFile` otherwise.
async fn until_disk_seen(client: &TestClient, low: bool) {
    let started = Instant::now();
    loop {
        let seen = match client.client.upload_chunk(u64::MAX, 0, vec![1]).await {
            Err(ClientError::Refused(ErrorCode::StorageFull)) => true,
            Err(ClientError::Refused(ErrorCode::NoSuchFile)) => false,
            other => panic!("a chunk of no upload: {other:?}"),
        };
        if seen == low {
            return;
        }
        assert!(started.elapsed() < PROBE_WAIT, "the probe never saw it");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Below the watermark (from the start: the server probes before it
/// accepts), file offers and chunks are refused `StorageFull` while messages
/// go on both ways; once the probe sees space again, a refused chunk goes
/// through as it was, and the file arrives intact.
#[tokio::test]
async fn uploads_are_refused_below_the_disk_watermark_while_chat_goes_on() {
    let backend = Faulty::default();
    backend.free.store(1000, Ordering::SeqCst);
    let harness = start(&backend, 4096);
    let mut ann = harness.user("ann").await;
    let mut bob = harness.user("bob").await;
    let content = vec![7u8; 10_000];
    let sha: [u8; 32] = Sha256::digest(&content).into();
    let bob_peer = || Peer::User("bob".into());

    let offer = ann
        .client
        .offer_file(bob_peer(), "a.bin", 10_000, sha)
        .await;
    assert_eq!(refusal(offer), ErrorCode::StorageFull);
    chat(&ann, &mut bob, "bob", "still chatting").await;
    chat(&bob, &mut ann, "ann", "me too").await;

    backend.free.store(1 << 30, Ordering::SeqCst);
    until_disk_seen(&ann, false).await;
    let (file, chunk) = ann
        .client
        .offer_file(bob_peer(), "a.bin", 10_000, sha)
        .await
        .expect("an offer once there is space");
    let chunks: Vec<_> = content.chunks(chunk as usize).collect();
    assert!(chunks.len() > 1, "a refused chunk between others");
    ann.client
        .upload_chunk(file, 0, chunks[0].to_vec())
        .await
        .expect("first chunk");

    backend.free.store(1000, Ordering::SeqCst);
    until_disk_seen(&ann, true).await;
    let second = ann
        .client
        .upload_chunk(file, u64::from(chunk), chunks[1].to_vec());
    assert_eq!(refusal(second.await), ErrorCode::StorageFull);
    chat(&ann, &mut bob, "bob", "low on disk").await;

    backend.free.store(1 << 30, Ordering::SeqCst);
    until_disk_seen(&ann, false).await;
    let mut offset = 0;
    for bytes in &chunks[1..] {
        offset += u64::from(chunk);
        ann.client
            .upload_chunk(file, offset, bytes.to_vec())
            .await
            .expect("chunk");
    }
    ann.client.complete_file(file).await.expect("complete");
    bob.expect(|e| matches!(e, Event::FileShared { id, .. } if *id == file))
        .await;
}
