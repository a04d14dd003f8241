//! The engine on a store with a small pool, under many clients at once doing
//! what the load generator does: register, log in, befriend, send both ways.
//!
//! Regression: a connection's loop left the futures it polls beside a request
//! (the login's backlog, pipelined sends and acks) unpolled while it awaited
//! the request's handler. Such a future can hold a pooled connection (or be
//! handed the next free one) until it is polled again; once every connection
//! of the pool was held so, by sessions each waiting in a handler for a
//! connection of the same pool, nothing ran until the pool's wait timed out,
//! and every waiting request was refused `Unavailable`.

use std::sync::Arc;

use chatcore::engine::testkit::{password, test_config, Harness};
use chatcore::protocol::{Body, Peer};
use chatcore_postgres::{PgOptions, PgStore};
use tokio::task::JoinSet;

use crate::pg;

/// Pairs of clients at once.
const PAIRS: usize = 12;
/// Sends each way per pair, pipelined.
const SENDS: u64 = 10;

/// One pair's whole run; `Err` names the step refused.
async fn pair(harness: Arc<Harness>, i: usize) -> Result<(), String> {
    let (a_name, b_name) = (format!("sender{i}"), format!("receiver{i}"));
    let mut clients = Vec::new();
    for name in [&a_name, &b_name] {
        let c = harness.connect().await;
        let pw = password(name);
        c.client
            .register(name, &pw)
            .await
            .map_err(|e| format!("register {name}: {e}"))?;
        // Not waiting for `CaughtUp`: the backlog runs beside what follows.
        c.client
            .login(name, &pw)
            .await
            .map_err(|e| format!("login {name}: {e}"))?;
        clients.push(c);
    }
    let (a, b) = (&clients[0].client, &clients[1].client);
    let friends = a
        .friend_request(&b_name, "")
        .await
        .map_err(|e| format!("friend request {a_name}: {e}"))?;
    if !friends {
        b.respond_friend(&a_name, true)
            .await
            .map_err(|e| format!("accept {b_name}: {e}"))?;
    }
    // Both ways at once, each side's sends pipelined on its connection.
    let mut sends = JoinSet::new();
    for (from, to) in [(a, &b_name), (b, &a_name)] {
        for seq in 1..=SENDS {
            let (from, to) = (from.clone(), to.clone());
            sends.spawn(async move {
                from.send(Peer::User(to.clone()), seq, Body::Text(format!("m{seq}")))
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("send {seq} to {to}: {e}"))
            });
        }
    }
    while let Some(sent) = sends.join_next().await {
        sent.expect("a send task")?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_clients_on_a_small_pool_are_all_served() {
    let options = PgOptions {
        max_connections: 2,
        ..PgOptions::default()
    };
    let store = PgStore::new(pg::fresh_database(), options).expect("a store");
    let harness = Arc::new(Harness::start(Arc::new(store), test_config()));
    let mut pairs = JoinSet::new();
    for i in 0..PAIRS {
        pairs.spawn(pair(Arc::clone(&harness), i));
    }
    let mut refused = Vec::new();
    while let Some(done) = pairs.join_next().await {
        if let Err(step) = done.expect("a pair's task") {
            refused.push(step);
        }
    }
    assert!(refused.is_empty(), "refused: {refused:?}");
}
