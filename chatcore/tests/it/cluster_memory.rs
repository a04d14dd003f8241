//! The cluster scenarios on the in-process bus (`bus::memory`): nodes in one
//! process on one `MemoryStore`.

use std::sync::Arc;

use chatcore::bus::memory::MemoryHub;
use chatcore::bus::Bus;
use chatcore::engine::testkit::cluster::{self, cluster_config, replace_old_config, Cluster};
use chatcore::engine::ServerConfig;
use chatcore::store::MemoryStore;

fn start(hub: &MemoryHub, nodes: &[&str], config: ServerConfig) -> Cluster {
    let buses = nodes
        .iter()
        .map(|n| Arc::new(hub.join(n)) as Arc<dyn Bus>)
        .collect();
    Cluster::start(Arc::new(MemoryStore::new()), buses, config)
}

#[tokio::test]
async fn friends_on_two_nodes_chat_live() {
    let c = start(&MemoryHub::default(), &["a", "b"], cluster_config());
    cluster::friends_on_two_nodes_chat_live(&c).await;
    c.stop().await;
}

#[tokio::test]
async fn room_members_on_two_nodes_see_one_order() {
    let c = start(&MemoryHub::default(), &["a", "b"], cluster_config());
    cluster::room_members_on_two_nodes_see_one_order(&c).await;
    c.stop().await;
}

#[tokio::test]
async fn presence_is_cluster_wide_and_a_silent_node_takes_its_users_offline() {
    let hub = MemoryHub::default();
    let mut c = start(&hub, &["a", "b"], cluster_config());
    let late = Arc::new(hub.join("c"));
    cluster::presence_is_cluster_wide_and_a_silent_node_takes_its_users_offline(&mut c, late).await;
    c.stop().await;
}

#[tokio::test]
async fn replace_old_kicks_across_nodes() {
    let c = start(&MemoryHub::default(), &["a", "b"], replace_old_config());
    cluster::replace_old_kicks_across_nodes(&c).await;
    c.stop().await;
}

#[tokio::test]
async fn a_revoke_closes_the_device_on_another_node() {
    let c = start(&MemoryHub::default(), &["a", "b"], cluster_config());
    cluster::a_revoke_closes_the_device_on_another_node(&c).await;
    c.stop().await;
}

#[tokio::test]
async fn a_block_on_one_node_is_enforced_on_the_other() {
    let c = start(&MemoryHub::default(), &["a", "b"], cluster_config());
    cluster::a_block_on_one_node_is_enforced_on_the_other(&c).await;
    c.stop().await;
}

#[tokio::test]
async fn messages_sent_while_a_node_is_cut_off_arrive_when_it_reconnects() {
    let hub = MemoryHub::default();
    let c = start(&hub, &["a", "b"], cluster_config());
    cluster::messages_sent_while_a_node_is_cut_off_arrive_when_it_reconnects(
        &c,
        || async { hub.cut_off("b") },
        || async { hub.reconnect("b") },
    )
    .await;
    c.stop().await;
}

#[tokio::test]
async fn an_item_lost_on_the_bus_is_filled_at_the_next() {
    let hub = MemoryHub::default();
    let c = start(&hub, &["a", "b"], cluster_config());
    cluster::an_item_lost_on_the_bus_is_filled_at_the_next(&c, &hub, "b").await;
    c.stop().await;
}

#[tokio::test]
async fn a_room_message_lost_on_the_bus_is_read_from_history() {
    let hub = MemoryHub::default();
    let c = start(&hub, &["a", "b"], cluster_config());
    cluster::a_room_message_lost_on_the_bus_is_read_from_history(&c, &hub, "b").await;
    c.stop().await;
}
