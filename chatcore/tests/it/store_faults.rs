//! What the engine does when a store read fails for a moment (a failed write
//! fails the store for good: see `store_failure`): the client is told (never a
//! false `CaughtUp`), and a retry after the store is back succeeds.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chatcore::engine::testkit::{password, test_config, Harness};
use chatcore::protocol::{
    ClientFrame, ErrorCode, Event, Peer, Request, ServerFrame, PROTOCOL_VERSION,
};
use chatcore::store::KvStore;
use futures::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};

use crate::faulty::Faulty;

fn start(backend: &Faulty) -> Harness {
    let store = KvStore::open(backend.clone()).unwrap();
    Harness::start(Arc::new(store), test_config())
}

/// An inbox that cannot be read ends the login's session with the error: the
/// client is never told it caught up on a backlog it did not get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_that_cannot_be_read_is_not_caught_up() {
    let backend = Faulty::default();
    let h = start(&backend);
    let (ann, bob) = h.friends("ann", "bob").await;
    bob.client.logout().await.unwrap();
    ann.client.send_text("bob", "waiting").await.unwrap();
    backend.fail_scans.store(true, Ordering::SeqCst);
    let mut raw = h.connector().connect().await.unwrap();
    raw.send(ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        client: "t".into(),
    })
    .await
    .unwrap();
    let login = Request::Login {
        username: "bob".into(),
        password: password("bob"),
    };
    raw.send(ClientFrame::Request {
        req_id: 1,
        request: login,
    })
    .await
    .unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = tokio::time::timeout(std::time::Duration::from_secs(10), raw.next())
        .await
        .expect("closed in time")
    {
        frames.push(frame.unwrap());
    }
    assert!(
        !frames
            .iter()
            .any(|f| matches!(f, ServerFrame::Event(Event::CaughtUp))),
        "{frames:?}"
    );
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, ServerFrame::Event(Event::Closing { .. }))),
        "{frames:?}"
    );
    backend.fail_scans.store(false, Ordering::SeqCst);
    let mut bob = h.login_raw("bob").await;
    bob.expect(|e| matches!(e, Event::Message(_))).await;
    bob.expect(|e| matches!(e, Event::CaughtUp)).await;
    h.stop().await;
}

/// A chunk the store failed to write (its transaction could not read the
/// file's record) can be sent again: the upload only moves on once a chunk is
/// stored, and completes with the right checksum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_the_store_failed_is_retried() {
    let backend = Faulty::default();
    let h = start(&backend);
    let (ann, _bob) = h.friends("ann", "bob").await;
    let bytes = vec![7u8; 1000];
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    let c = &ann.client;
    let (file, _chunk_size) = c
        .offer_file(
            Peer::User("bob".into()),
            "f.bin",
            bytes.len() as u64,
            digest,
        )
        .await
        .unwrap();
    backend.fail_gets.store(true, Ordering::SeqCst);
    let failed = c.upload_chunk(file, 0, bytes.clone()).await;
    assert!(
        matches!(
            failed,
            Err(chatcore::client::ClientError::Refused(ErrorCode::Internal))
        ),
        "{failed:?}"
    );
    backend.fail_gets.store(false, Ordering::SeqCst);
    c.upload_chunk(file, 0, bytes)
        .await
        .expect("the same chunk again");
    c.complete_file(file)
        .await
        .expect("complete, checksum right");
    h.stop().await;
}
