//! What the handlers push, over the local router and, in a cluster, the bus
//! (see [`crate::bus`]); and the node's side of the bus: applying what the
//! other nodes publish, heartbeats, node liveness and cluster-wide presence.
//!
//! Every delivery a handler makes after a commit goes through the
//! [`ServerState`] methods here. On a single node (no bus) each is the
//! router's call and one `Option` check more. In a cluster each also publishes
//! the same thing, and the node's bus loop ([`ServerState::run_bus`], polled by
//! `Server::serve`) applies the others' to the local router and caches.
//!
//! Presence: a node tells its own sessions (never another node's) when a
//! friend's presence flips cluster-wide, as far as it knows: a local login
//! that is the user's first session anywhere, a local logout that was their
//! last anywhere, or another node's change (or death) that flips a user this
//! node has no session of. So each friend's session hears of a flip once, from
//! its own node.

mod presence;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::ServerState;
use crate::bus::message::{BusMessage, Msg};
use crate::bus::{Bus, BusEvent, Envelope, NodeId};
use crate::friends::LinkState;
use crate::mailbox::Control;
use crate::protocol::{DeviceId, Event, Message, ServerFrame};
use crate::store::{RoomId, StreamItem, User, UserId};

use presence::{Flip, Remote};

/// This node's own online set, as published.
#[derive(Debug, Default)]
struct Local {
    version: u64,
    users: std::collections::HashMap<UserId, User>,
}

/// A node's cluster state (present only with a bus).
#[derive(Debug)]
pub(super) struct Cluster {
    bus: Arc<dyn Bus>,
    node: NodeId,
    incarnation: u64,
    local: Mutex<Local>,
    remote: RwLock<Remote>,
    /// The bus's receiving side, taken when the server starts serving.
    events: Mutex<Option<mpsc::Receiver<BusEvent>>>,
}

impl Cluster {
    pub fn new(bus: Arc<dyn Bus>) -> Self {
        let incarnation = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let events = bus.subscribe();
        Cluster {
            node: bus.node_id().to_owned(),
            bus,
            incarnation,
            local: Mutex::default(),
            remote: RwLock::default(),
            events: Mutex::new(Some(events)),
        }
    }

    fn publish(&self, msg: Msg) {
        let message = BusMessage(msg);
        let topic = message.topic();
        self.bus.publish(
            topic,
            Envelope {
                origin: self.node.clone(),
                incarnation: self.incarnation,
                message,
            },
        );
    }

    fn remote(&self) -> std::sync::RwLockReadGuard<'_, Remote> {
        self.remote.read().expect("cluster presence lock")
    }

    fn remote_mut(&self) -> std::sync::RwLockWriteGuard<'_, Remote> {
        self.remote.write().expect("cluster presence lock")
    }

    fn snapshot(&self) {
        let local = self.local.lock().expect("local presence lock");
        self.publish(Msg::Snapshot {
            version: local.version,
            users: local.users.values().cloned().collect(),
        });
    }
}

impl ServerState {
    /// Pushes a frame to every session of `user`, here and on the other nodes.
    pub(super) fn push(&self, user: UserId, frame: &Arc<ServerFrame>) {
        self.router.push(user, frame);
        if let Some(cluster) = &self.cluster {
            cluster.publish(Msg::Push {
                users: vec![user],
                frame: ServerFrame::clone(frame),
            });
        }
    }

    /// Pushes a frame to every session of each of `users`, here and elsewhere
    /// (one bus message for all of them).
    pub(super) fn push_all(
        &self,
        users: impl IntoIterator<Item = UserId>,
        frame: &Arc<ServerFrame>,
    ) {
        let users = users.into_iter();
        match &self.cluster {
            None => users.for_each(|user| {
                self.router.push(user, frame);
            }),
            Some(cluster) => {
                let users: Vec<UserId> = users.collect();
                for &user in &users {
                    self.router.push(user, frame);
                }
                cluster.publish(Msg::Push {
                    users,
                    frame: ServerFrame::clone(frame),
                });
            }
        }
    }

    /// As [`Router::push_by_version`](crate::router::Router::push_by_version), everywhere.
    pub(super) fn push_by_version(
        &self,
        user: UserId,
        current: &Arc<ServerFrame>,
        older: &Arc<ServerFrame>,
    ) {
        self.router.push_by_version(user, current, older);
        if let Some(cluster) = &self.cluster {
            cluster.publish(Msg::PushByVersion {
                user,
                current: ServerFrame::clone(current),
                older: ServerFrame::clone(older),
            });
        }
    }

    /// Offers a new item of `user`'s stream to their sessions everywhere.
    pub(super) fn push_item(&self, user: UserId, item: StreamItem) {
        if let Some(cluster) = &self.cluster {
            cluster.publish(Msg::Item {
                user,
                item: item.clone().into(),
            });
        }
        self.router.push_item(user, item);
    }

    /// Stops the sessions of a revoked device everywhere.
    pub(super) fn device_revoked(&self, user: UserId, device: DeviceId) {
        self.router.stop_device(user, device, &Control::Revoked);
        if let Some(cluster) = &self.cluster {
            cluster.publish(Msg::Revoked { user, device });
        }
    }

    /// A login with `DuplicateLogin::ReplaceOld` at `at_us`: the user's
    /// sessions on other nodes that logged in before are kicked (the local
    /// ones the router replaced already).
    pub(super) fn kick_elsewhere(&self, user: UserId, at_us: u64) {
        if let Some(cluster) = &self.cluster {
            cluster.publish(Msg::Kick { user, at_us });
        }
    }

    /// Whether `user` has a session on any node.
    pub(super) fn is_online(&self, user: UserId) -> bool {
        self.router.is_online(user)
            || self
                .cluster
                .as_ref()
                .is_some_and(|cluster| cluster.remote().has(user))
    }

    /// How many users have a session on any node.
    pub(super) fn online_count(&self) -> usize {
        let local = self.router.online_count();
        match &self.cluster {
            None => local,
            Some(cluster) => {
                let remote = cluster.remote();
                local
                    + remote
                        .users()
                        .filter(|&u| !self.router.is_online(u))
                        .count()
            }
        }
    }

    /// The links between `a` and `b` changed (committed): caches everywhere forget them.
    pub(super) fn links_changed(&self, a: UserId, b: UserId) {
        self.directory.links_changed(a, b);
        if let Some(cluster) = &self.cluster {
            cluster.publish(Msg::Links { a, b });
        }
    }

    /// A room named `name` was created or deleted (committed).
    pub(super) fn room_changed(&self, name: &str, id: Option<RoomId>) {
        self.directory.room_changed(name, id);
        if let Some(cluster) = &self.cluster {
            cluster.publish(Msg::RoomChanged {
                name: name.to_owned(),
                id,
            });
        }
    }

    /// `room`'s members changed (committed).
    pub(super) fn members_changed(&self, room: RoomId) {
        self.directory.members_changed(room);
        if let Some(cluster) = &self.cluster {
            cluster.publish(Msg::Members { room });
        }
    }

    /// A room message this node stored: published to the other nodes, and
    /// delivered to this node's members in seq order with theirs
    /// (`engine::sequencer`).
    pub(super) async fn room_message_stored(self: &Arc<Self>, room: RoomId, message: Message) {
        if let Some(cluster) = &self.cluster {
            cluster.publish(Msg::Room {
                room,
                message: message.clone(),
            });
        }
        self.offer_room_message(room, message).await;
    }

    /// Notes a session of `user` entering or leaving this node's router, and
    /// says whether the user's presence flipped cluster-wide (as far as this
    /// node knows): then their friends' sessions here are to be told. Always
    /// true on a single node.
    pub(super) fn presence_changed_here(&self, user: &User, online: bool) -> bool {
        let Some(cluster) = &self.cluster else {
            return true;
        };
        {
            // Under the lock, from the router (not from `online`): a login and
            // a logout racing each other publish the final state last.
            let mut local = cluster.local.lock().expect("local presence lock");
            let here = self.router.is_online(user.id);
            let changed = if here {
                local.users.insert(user.id, user.clone()).is_none()
            } else {
                local.users.remove(&user.id).is_some()
            };
            if changed {
                local.version += 1;
                cluster.publish(Msg::Presence {
                    version: local.version,
                    user: user.clone(),
                    online: here,
                });
            }
        }
        !cluster.remote().has(user.id) && self.router.is_online(user.id) == online
    }

    /// Tells the sessions here of `user`'s friends that `user` came or went.
    pub(super) async fn announce_presence(&self, user: &User, online: bool) {
        let links = match self.store.links(user.id).await {
            Ok(links) => links,
            Err(e) => {
                tracing::warn!(error = %e, "reading friends for a presence notice failed");
                return;
            }
        };
        let frame = Arc::new(ServerFrame::Event(Event::Presence {
            user: user.name.clone(),
            online,
        }));
        for (friend, link) in links {
            if link.state == LinkState::Friends {
                self.router.push(friend.id, &frame);
            }
        }
    }

    /// Tells local friends of users whose presence on other nodes flipped,
    /// unless the user is online here (then nothing flipped for them).
    async fn announce_flips(&self, flips: Vec<Flip>) {
        if self.router.online_count() == 0 {
            return; // nobody here to tell (and no friends to read)
        }
        for (user, online) in flips {
            if !self.router.is_online(user.id) {
                self.announce_presence(&user, online).await;
            }
        }
    }

    /// The node's side of the bus, polled by `Server::serve` until it stops:
    /// applies what other nodes publish, heartbeats, and drops nodes unheard
    /// for `cluster_missed_heartbeats` heartbeats. Returns at once without a
    /// bus (or when the bus's receiver is gone).
    pub(super) async fn run_bus(self: Arc<Self>) {
        let Some(cluster) = &self.cluster else {
            return std::future::pending().await;
        };
        let Some(mut events) = cluster.events.lock().expect("bus events lock").take() else {
            return std::future::pending().await;
        };
        let every = self.config.cluster_heartbeat;
        let dead_after = every * self.config.cluster_missed_heartbeats;
        // A starting node asks for the others' sets, and tells its own (empty).
        cluster.publish(Msg::SnapshotRequest { node: None });
        cluster.snapshot();
        let mut heartbeat = tokio::time::interval(every);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(BusEvent::Message(envelope)) => self.apply(cluster, *envelope).await,
                    Some(BusEvent::Reconnected) => self.reconnected(cluster),
                    None => {
                        tracing::error!("the cluster bus closed; this node is on its own");
                        return std::future::pending().await;
                    }
                },
                _ = heartbeat.tick() => {
                    let version = cluster.local.lock().expect("local presence lock").version;
                    cluster.publish(Msg::Heartbeat { version });
                    let (dead, flips) = cluster.remote_mut().drop_dead(Instant::now(), dead_after);
                    for node in dead {
                        tracing::warn!(%node, "a node went silent; its users are offline");
                    }
                    self.announce_flips(flips).await;
                }
            }
        }
    }

    /// Tells the others this node stops (its users go offline at once).
    pub(super) fn leave_cluster(&self) {
        if let Some(cluster) = &self.cluster {
            cluster.publish(Msg::Leaving);
        }
    }

    /// The bus was cut off: anything may have been lost. Every session fills
    /// from the store, the caches start over, and presence is asked again.
    fn reconnected(&self, cluster: &Cluster) {
        tracing::info!("the cluster bus reconnected; sessions fill from the store");
        self.router.refill_all();
        self.directory.clear();
        cluster.publish(Msg::SnapshotRequest { node: None });
        cluster.snapshot();
    }

    async fn apply(self: &Arc<Self>, cluster: &Cluster, envelope: Envelope) {
        let Envelope {
            origin,
            incarnation,
            message: BusMessage(msg),
        } = envelope;
        if origin == cluster.node {
            return;
        }
        let now = Instant::now();
        let outcome = match msg {
            Msg::Item { user, item } => {
                self.router.push_item(user, item.into());
                cluster.remote_mut().heard(&origin, incarnation, now)
            }
            Msg::Push { users, frame } => {
                let frame = Arc::new(frame);
                for user in users {
                    self.router.push(user, &frame);
                }
                cluster.remote_mut().heard(&origin, incarnation, now)
            }
            Msg::PushByVersion {
                user,
                current,
                older,
            } => {
                self.router
                    .push_by_version(user, &Arc::new(current), &Arc::new(older));
                cluster.remote_mut().heard(&origin, incarnation, now)
            }
            Msg::Revoked { user, device } => {
                self.router.stop_device(user, device, &Control::Revoked);
                cluster.remote_mut().heard(&origin, incarnation, now)
            }
            Msg::Kick { user, at_us } => {
                let reason = "logged in elsewhere";
                self.router.kick_before(user, at_us, reason);
                cluster.remote_mut().heard(&origin, incarnation, now)
            }
            Msg::Room { room, message } => {
                self.offer_room_message(room, message).await;
                cluster.remote_mut().heard(&origin, incarnation, now)
            }
            Msg::Links { a, b } => {
                self.directory.links_changed(a, b);
                cluster.remote_mut().heard(&origin, incarnation, now)
            }
            Msg::RoomChanged { name, id } => {
                self.directory.room_changed(&name, id);
                cluster.remote_mut().heard(&origin, incarnation, now)
            }
            Msg::Members { room } => {
                self.directory.members_changed(room);
                cluster.remote_mut().heard(&origin, incarnation, now)
            }
            Msg::Presence {
                version,
                user,
                online,
            } => cluster
                .remote_mut()
                .change(&origin, incarnation, version, user, online, now),
            Msg::Heartbeat { version } => {
                cluster
                    .remote_mut()
                    .heartbeat(&origin, incarnation, version, now)
            }
            Msg::Snapshot { version, users } => {
                cluster
                    .remote_mut()
                    .snapshot(&origin, incarnation, version, users, now)
            }
            Msg::SnapshotRequest { node } => {
                if node.as_ref().is_none_or(|n| *n == cluster.node) {
                    cluster.snapshot();
                }
                cluster.remote_mut().heard(&origin, incarnation, now)
            }
            Msg::Leaving => {
                let mut flips = Vec::new();
                cluster.remote_mut().drop_node(&origin, &mut flips);
                tracing::info!(node = %origin, "a node left the cluster");
                self.announce_flips(flips).await;
                return;
            }
        };
        if outcome.ask_snapshot {
            cluster.publish(Msg::SnapshotRequest { node: Some(origin) });
        }
        self.announce_flips(outcome.flips).await;
    }
}
