//! Failed logins are counted in the database: two servers on one database
//! share one window (N nodes must not give N times the guessing budget).

use std::sync::Arc;

use chatcore::client::ClientError;
use chatcore::engine::testkit::{password, test_config, Harness};
use chatcore::protocol::ErrorCode;
use chatcore::store::{MemoryStore, Store};

use crate::pg;

fn refused<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Refused(code)) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_on_two_servers_share_one_window() {
    let database = pg::fresh_database();
    let mut config = test_config();
    config.login_failures_per_user = 3;
    let nodes = [
        Harness::start(Arc::new(pg::open(&database)), config.clone()),
        Harness::start(Arc::new(pg::open(&database)), config),
    ];
    nodes[0].register("ann").await;
    // Two wrong passwords on the first server, one on the second: three in
    // all, though each server saw fewer than its bound.
    for node in [&nodes[0], &nodes[0], &nodes[1]] {
        let c = node.connect().await;
        let wrong = c.client.login("ann", "not her password").await;
        assert_eq!(refused(wrong), ErrorCode::InvalidCredentials);
    }
    for node in &nodes {
        let c = node.connect().await;
        let right = c.client.login("ann", &password("ann")).await;
        assert_eq!(refused(right), ErrorCode::RateLimited);
    }
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_counts_failures_in_the_window_and_forgets_them() {
    let store = pg::open(&pg::fresh_database());
    let keys = ["name ann".to_owned(), "address 10.0.0.1".to_owned()];
    store.record_failed_login(&keys, 1_000, 0).await.unwrap();
    store
        .record_failed_login(&keys[..1], 2_000, 0)
        .await
        .unwrap();
    let counts = |since| {
        let store = &store;
        let keys = keys.clone();
        async move { store.failed_logins(&keys, since).await.unwrap() }
    };
    assert_eq!(counts(0).await, Some(vec![2, 1]));
    assert_eq!(counts(1_500).await, Some(vec![1, 0]), "only the window");
    // A later failure drops what expired.
    store
        .record_failed_login(&keys[1..], 3_000, 1_500)
        .await
        .unwrap();
    assert_eq!(counts(0).await, Some(vec![1, 1]));
    store.clear_failed_logins("name ann").await.unwrap();
    assert_eq!(counts(0).await, Some(vec![0, 1]));
    // A store one server opens keeps none: the server's windows are exact.
    let single = MemoryStore::new();
    assert_eq!(single.failed_logins(&keys, 0).await.unwrap(), None);
}
