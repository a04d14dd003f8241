//! Opening: the schema is migrated once and recorded, a newer one is
//! refused, and a database out of reach is a typed error, not a panic.

use std::time::{Duration, Instant};

use chatcore::store::{Store, StoreError};
use chatcore_postgres::{Config, PgOptions, PgStore};

use crate::pg;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_migrated_once_and_recorded() {
    let config = pg::fresh_database();
    let first = pg::open(&config);
    let second = pg::open(&config);
    // Two stores migrate the same fresh database at once: one applies each
    // migration, the other finds it applied.
    let (a, b) = tokio::join!(
        first.create_user("ann", "h"),
        second.create_user("bob", "h")
    );
    assert!(a.unwrap().is_some() && b.unwrap().is_some());
    assert_eq!(
        first.schema_version().await.unwrap(),
        PgStore::current_schema_version()
    );
    let third = pg::open(&config);
    assert_eq!(
        third
            .account_by_name("ANN")
            .await
            .unwrap()
            .unwrap()
            .user
            .name,
        "ann"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let config = pg::fresh_database();
    let store = pg::open(&config);
    store.create_user("ann", "h").await.unwrap();
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let newer = PgStore::current_schema_version() as i32 + 1;
    client
        .execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&newer],
        )
        .await
        .unwrap();
    let err = pg::open(&config)
        .account_by_name("ann")
        .await
        .expect_err("a newer schema must be refused");
    assert!(
        matches!(err, StoreError::VersionMismatch { found, expected }
            if found == newer as u32 && expected == newer as u32 - 1),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_unavailable_not_a_panic() {
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("chat")
        .dbname("chat");
    let options = PgOptions {
        max_connections: 2,
        timeout: Duration::from_secs(2),
    };
    let store = PgStore::new(config, options).unwrap();
    let started = Instant::now();
    let err = store
        .create_user("ann", "h")
        .await
        .expect_err("no database");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store
        .stream(chatcore::store::UserId(1), 0, 10)
        .await
        .expect_err("no database");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = PgStore::connect(&format!("postgres://chat@127.0.0.1:{port}/chat"))
        .await
        .expect_err("no database");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_database_is_unavailable_while_down_and_used_again_after() {
    let server = pg::Server::own();
    let config = server.fresh_database();
    let options = PgOptions {
        max_connections: 4,
        timeout: Duration::from_secs(2),
    };
    let store = PgStore::new(config, options).unwrap();
    let ann = store.create_user("ann", "h").await.unwrap().unwrap();
    assert!(store.user_by_id(ann.id).await.unwrap().is_some());
    server.stop();
    let err = store
        .create_user("bob", "h")
        .await
        .expect_err("the database is down");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store
        .user_by_id(ann.id)
        .await
        .expect_err("the database is down");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    server.start();
    // The same store, its pooled connections gone stale: the first calls
    // after the restart succeed, on new connections.
    assert_eq!(store.user_by_id(ann.id).await.unwrap().unwrap(), ann);
    assert!(store.create_user("bob", "h").await.unwrap().is_some());
    assert!(
        store.create_user("ann", "h").await.unwrap().is_none(),
        "kept"
    );
}
