//! The cluster scenarios (`chatcore::engine::testkit::cluster`) on NATS:
//! nodes in this process, each with its own `PgStore` on one PostgreSQL
//! database and its own `NatsBus` on one nats-server, both started by the
//! test (feature `nats-tests`; a missing program fails the test).

#![cfg(feature = "nats-tests")]

use std::sync::Arc;

use chatcore::bus::Bus;
use chatcore::engine::testkit::cluster::{self, cluster_config, replace_old_config, Cluster};
use chatcore::engine::ServerConfig;
use chatcore::store::Store;
use chatcore_nats::test_server::{NatsCluster, NatsServer};
use chatcore_nats::{NatsBus, NatsConfig};
use chatcore_postgres::{PgOptions, PgStore};

/// Node `name`'s bus on `nats`.
async fn bus(nats: &NatsServer, name: &str) -> Arc<dyn Bus> {
    bus_at(&nats.url(), name).await
}

/// Node `name`'s bus on the NATS server(s) at `urls`.
async fn bus_at(urls: &str, name: &str) -> Arc<dyn Bus> {
    let bus = NatsBus::connect(NatsConfig::new(urls, name))
        .await
        .expect("connect to the test nats-server");
    Arc::new(bus)
}

/// `nodes` nodes on a fresh database and `nats`.
async fn start(
    nats: &NatsServer,
    nodes: &[&str],
    config: ServerConfig,
) -> (Cluster, chatcore_postgres::Config) {
    let urls = vec![nats.url(); nodes.len()];
    start_at(&urls, nodes, config).await
}

/// `nodes` nodes on a fresh database, node `i` on the NATS server(s) `urls[i]`.
async fn start_at(
    urls: &[String],
    nodes: &[&str],
    config: ServerConfig,
) -> (Cluster, chatcore_postgres::Config) {
    let database = chatcore_postgres::test_server::fresh_database();
    let mut each = Vec::new();
    for (name, urls) in nodes.iter().zip(urls) {
        let store = PgStore::new(database.clone(), PgOptions::default()).expect("a store");
        each.push((Arc::new(store) as Arc<dyn Store>, bus_at(urls, name).await));
    }
    (Cluster::start_each(each, config), database)
}

#[tokio::test]
async fn friends_on_two_nodes_chat_live() {
    let nats = NatsServer::start();
    let (c, _) = start(&nats, &["a", "b"], cluster_config()).await;
    cluster::friends_on_two_nodes_chat_live(&c).await;
    c.stop().await;
}

#[tokio::test]
async fn room_members_on_two_nodes_see_one_order() {
    let nats = NatsServer::start();
    let (c, _) = start(&nats, &["a", "b"], cluster_config()).await;
    cluster::room_members_on_two_nodes_see_one_order(&c).await;
    c.stop().await;
}

#[tokio::test]
async fn presence_is_cluster_wide_and_a_silent_node_takes_its_users_offline() {
    let nats = NatsServer::start();
    let (mut c, _) = start(&nats, &["a", "b"], cluster_config()).await;
    let late = bus(&nats, "c").await;
    cluster::presence_is_cluster_wide_and_a_silent_node_takes_its_users_offline(&mut c, late).await;
    c.stop().await;
}

#[tokio::test]
async fn replace_old_kicks_across_nodes() {
    let nats = NatsServer::start();
    let (c, _) = start(&nats, &["a", "b"], replace_old_config()).await;
    cluster::replace_old_kicks_across_nodes(&c).await;
    c.stop().await;
}

#[tokio::test]
async fn a_revoke_closes_the_device_on_another_node() {
    let nats = NatsServer::start();
    let (c, _) = start(&nats, &["a", "b"], cluster_config()).await;
    cluster::a_revoke_closes_the_device_on_another_node(&c).await;
    c.stop().await;
}

#[tokio::test]
async fn a_block_on_one_node_is_enforced_on_the_other() {
    let nats = NatsServer::start();
    let (c, _) = start(&nats, &["a", "b"], cluster_config()).await;
    cluster::a_block_on_one_node_is_enforced_on_the_other(&c).await;
    c.stop().await;
}

/// nats-server is killed and started again on its port: what was sent
/// meanwhile arrives, and live delivery resumes.
#[tokio::test]
async fn messages_sent_while_nats_is_down_arrive_when_it_is_back() {
    let nats = Arc::new(NatsServer::start());
    let (c, _) = start(&nats, &["a", "b"], cluster_config()).await;
    let (down, up) = (Arc::clone(&nats), Arc::clone(&nats));
    cluster::messages_sent_while_a_node_is_cut_off_arrive_when_it_reconnects(
        &c,
        || async move {
            tokio::task::spawn_blocking(move || down.kill())
                .await
                .unwrap();
        },
        || async move {
            tokio::task::spawn_blocking(move || up.resume())
                .await
                .unwrap();
        },
    )
    .await;
    c.stop().await;
}

/// A three-member NATS cluster, node `a` on member 0 and `b` on member 1,
/// each given all three: member 1 dies and stays dead; `b` moves to the next
/// member it was given, and what was sent meanwhile arrives, then live
/// delivery goes on.
#[tokio::test]
async fn a_node_moves_to_another_nats_member_when_its_own_dies() {
    let nats = Arc::new(NatsCluster::start(3));
    let urls = [nats.urls_from(0), nats.urls_from(1)];
    let (c, _) = start_at(&urls, &["a", "b"], cluster_config()).await;
    let down = Arc::clone(&nats);
    cluster::messages_sent_while_a_node_is_cut_off_arrive_when_it_reconnects(
        &c,
        || async move {
            tokio::task::spawn_blocking(move || down.member(1).kill())
                .await
                .unwrap();
        },
        || async {},
    )
    .await;
    c.stop().await;
}

/// `NatsConfig::url` as a comma-separated list: a server out of reach first
/// is passed over for the next.
#[tokio::test]
async fn a_list_of_servers_is_tried_in_order() {
    let nats = NatsServer::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let urls = format!("nats://127.0.0.1:{dead}, {}", nats.url());
    let bus = NatsBus::connect(NatsConfig::new(urls, "a"))
        .await
        .expect("the second server of the list");
    drop(bus);
}
