//! chatcore's cluster bus on NATS ([`NatsBus`]): the nodes of one chat
//! service, each a [`chatcore::engine::Server`] on one shared store (such as
//! `chatcore_postgres::PgStore`), tell each other what is live through a
//! NATS server (core NATS, at-most-once; see [`chatcore::bus`] for what goes
//! over it and why a lost message costs a store read, never a message).
//!
//! Wire: each [`Envelope`] (the publishing node's id and incarnation, and the
//! engine's message) is postcard-encoded and published on one of two
//! subjects under a prefix (default `chatcore`): `<prefix>.live` (stream
//! items, frames, room messages, stops, kicks, cache invalidations) and
//! `<prefix>.presence` (heartbeats, online sets and their changes). Every node
//! subscribes to both: every node sees every live message and applies it to
//! the sessions it has (a router lookup each). Nodes that share a prefix are
//! one cluster; another prefix on the same NATS is another cluster.
//!
//! While the connection is down, what the node publishes is dropped (not
//! queued for later). The subscriptions are active (flushed to the server) before
//! [`NatsBus::connect`] returns, so a node hears everything published after
//! it starts serving. When the connection breaks and comes back (the client
//! reconnects by itself, forever) or the NATS client drops messages for a
//! slow consumer, the engine is told [`BusEvent::Reconnected`] and every
//! session of the node fills from the store.
//!
//! ```no_run
//! use std::sync::Arc;
//! use chatcore::engine::{Server, ServerConfig};
//! use chatcore_nats::{NatsBus, NatsConfig};
//!
//! # async fn run(store: Arc<dyn chatcore::store::Store>) -> Result<(), Box<dyn std::error::Error>> {
//! let bus = NatsBus::connect(NatsConfig::new("nats://127.0.0.1:4222", "node-1")).await?;
//! let server = Server::with_bus(store, ServerConfig::default(), Arc::new(bus))?;
//! # drop(server);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "test-server")]
pub mod test_server;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chatcore::bus::{Bus, BusEvent, Envelope, Topic};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The default subject prefix.
pub const DEFAULT_PREFIX: &str = "chatcore";

/// How to reach NATS, and as whom.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsConfig {
    /// The NATS server: `nats://host:port`; for a NATS cluster several,
    /// comma-separated, tried in the order given (the nearest first).
    pub url: String,
    /// This node's id, unique among the running nodes.
    pub node_id: String,
    /// The subjects' prefix (default [`DEFAULT_PREFIX`]): nodes with one
    /// prefix are one cluster.
    pub prefix: String,
    /// Messages waiting to be published before more are dropped (default
    /// 65 536): a publish never waits.
    pub publish_queue: usize,
    /// Messages received and not yet applied before the NATS client drops
    /// more (a slow consumer: the node then fills every session from the
    /// store). Default 65 536.
    pub receive_queue: usize,
    /// How long connecting at start may take (default 5 s).
    pub connect_timeout: Duration,
    /// The longest wait between reconnection attempts (default 1 s; the
    /// attempts back off from 100 ms to it).
    pub max_reconnect_delay: Duration,
}

impl NatsConfig {
    /// The defaults, for node `node_id` at `url`.
    pub fn new(url: impl Into<String>, node_id: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            node_id: node_id.into(),
            prefix: DEFAULT_PREFIX.into(),
            publish_queue: 1 << 16,
            receive_queue: 1 << 16,
            connect_timeout: Duration::from_secs(5),
            max_reconnect_delay: Duration::from_secs(1),
        }
    }
}

/// Why the bus could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// NATS could not be reached (or refused the connection).
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// Where.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
    },
    /// Subscribing failed.
    #[error("cannot subscribe on NATS: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    /// The subscriptions could not be confirmed by the server.
    #[error("cannot reach NATS to confirm the subscriptions: {0}")]
    Flush(#[from] async_nats::client::FlushError),
    /// The node id or prefix cannot be part of a subject (empty, or with a
    /// space, `.`, `*` or `>`).
    #[error("invalid {what} {value:?}: it must be non-empty without spaces, '.', '*' or '>'")]
    InvalidName {
        /// `node id` or `prefix`.
        what: &'static str,
        /// The value.
        value: String,
    },
}

/// A node's endpoint on a NATS bus (see the crate docs). Dropping it stops
/// its tasks and closes the connection.
#[derive(Debug)]
pub struct NatsBus {
    node: String,
    outgoing: mpsc::Sender<(Topic, Envelope)>,
    events: Mutex<Option<mpsc::Receiver<BusEvent>>>,
    tasks: Vec<JoinHandle<()>>,
}

fn valid_token(value: &str) -> bool {
    !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>'))
}

/// The subject `topic` goes out on.
fn subject(prefix: &str, topic: Topic) -> String {
    match topic {
        Topic::Presence => format!("{prefix}.presence"),
        _ => format!("{prefix}.live"),
    }
}

impl NatsBus {
    /// Connects to NATS and subscribes; returns once the server has the
    /// subscriptions. Needs a tokio runtime.
    pub async fn connect(config: NatsConfig) -> Result<NatsBus, NatsError> {
        for (what, value) in [("node id", &config.node_id), ("prefix", &config.prefix)] {
            let tokens_ok = if what == "prefix" {
                value.split('.').all(valid_token)
            } else {
                valid_token(value)
            };
            if !tokens_ok {
                return Err(NatsError::InvalidName {
                    what,
                    value: value.clone(),
                });
            }
        }
        let (events_tx, events_rx) = mpsc::channel(config.receive_queue.max(1));
        // Set once the connection broke: its return is news to the engine.
        let broken = Arc::new(AtomicBool::new(false));
        let on_event = {
            let events = events_tx.clone();
            let broken = Arc::clone(&broken);
            let node = config.node_id.clone();
            move |event: async_nats::Event| {
                let events = events.clone();
                let broken = Arc::clone(&broken);
                let node = node.clone();
                async move {
                    let lost = match event {
                        async_nats::Event::Disconnected => {
                            tracing::warn!(%node, "NATS connection lost; reconnecting");
                            broken.store(true, Ordering::SeqCst);
                            false
                        }
                        async_nats::Event::Connected => {
                            let was_broken = broken.swap(false, Ordering::SeqCst);
                            if was_broken {
                                tracing::info!(%node, "NATS connection back");
                            }
                            was_broken
                        }
                        async_nats::Event::SlowConsumer(_) => {
                            tracing::warn!(%node, "NATS dropped messages for this slow node");
                            true
                        }
                        other => {
                            tracing::info!(%node, event = %other, "NATS");
                            false
                        }
                    };
                    if lost {
                        let _ = events.send(BusEvent::Reconnected).await;
                    }
                }
            }
        };
        let max_delay = config.max_reconnect_delay;
        let client = async_nats::ConnectOptions::new()
            .name(format!("chatcore node {}", config.node_id))
            .connection_timeout(config.connect_timeout)
            .max_reconnects(None)
            .reconnect_delay_callback(move |attempts| {
                (Duration::from_millis(100) * attempts.max(1) as u32).min(max_delay)
            })
            .subscription_capacity(config.receive_queue.max(1))
            .event_callback(on_event)
            // The servers in the order given: a node lists its nearest first.
            .retain_servers_order()
            .connect(server_list(&config.url))
            .await
            .map_err(|source| NatsError::Connect {
                url: config.url.clone(),
                source,
            })?;
        let live = client
            .subscribe(subject(&config.prefix, Topic::Live))
            .await?;
        let presence = client
            .subscribe(subject(&config.prefix, Topic::Presence))
            .await?;
        client.flush().await?;

        let node = config.node_id.clone();
        let receiving = tokio::spawn(receive(
            futures::stream::select(live, presence),
            events_tx,
            node.clone(),
        ));
        let (outgoing, queued) = mpsc::channel(config.publish_queue.max(1));
        let publishing = tokio::spawn(publish(client, queued, config.prefix.clone()));
        Ok(NatsBus {
            node,
            outgoing,
            events: Mutex::new(Some(events_rx)),
            tasks: vec![receiving, publishing],
        })
    }
}

/// The URLs of a comma-separated list (async-nats takes one URL per string).
fn server_list(urls: &str) -> Vec<&str> {
    urls.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .collect()
}

/// Decodes what arrives and hands the engine the other nodes' messages.
async fn receive(
    mut messages: impl futures::Stream<Item = async_nats::Message> + Unpin,
    events: mpsc::Sender<BusEvent>,
    node: String,
) {
    while let Some(message) = messages.next().await {
        let envelope: Envelope = match postcard::from_bytes(&message.payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(subject = %message.subject, error = %e, "an undecodable bus message; dropped");
                continue;
            }
        };
        if envelope.origin == node {
            continue;
        }
        if events
            .send(BusEvent::Message(Box::new(envelope)))
            .await
            .is_err()
        {
            return; // the server is gone
        }
    }
}

/// Publishes what the engine queued.
async fn publish(
    client: async_nats::Client,
    mut queued: mpsc::Receiver<(Topic, Envelope)>,
    prefix: String,
) {
    let live = subject(&prefix, Topic::Live);
    let presence = subject(&prefix, Topic::Presence);
    while let Some((topic, envelope)) = queued.recv().await {
        let payload = match postcard::to_allocvec(&envelope) {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) => {
                tracing::error!(error = %e, "encoding a bus message failed; dropped");
                continue;
            }
        };
        // While the connection is down a message is dropped, not queued in
        // the client for later: the nodes fill from the store when it is back
        // (and a stale heartbeat or push is worth nothing then).
        if client.connection_state() != async_nats::connection::State::Connected {
            continue;
        }
        let subject = match topic {
            Topic::Presence => presence.clone(),
            _ => live.clone(),
        };
        if let Err(e) = client.publish(subject, payload).await {
            tracing::warn!(error = %e, "publishing on NATS failed; dropped");
        }
    }
}

impl Bus for NatsBus {
    fn node_id(&self) -> &str {
        &self.node
    }

    fn publish(&self, topic: Topic, envelope: Envelope) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.outgoing.try_send((topic, envelope)) {
            tracing::warn!("the NATS publish queue is full; a bus message was dropped");
        }
    }

    fn subscribe(&self) -> mpsc::Receiver<BusEvent> {
        match self.events.lock().expect("bus events lock").take() {
            Some(events) => events,
            None => mpsc::channel(1).1,
        }
    }
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_cannot_be_subject_tokens_are_refused() {
        assert!(valid_token("node-1"));
        for bad in ["", "a.b", "a b", "*", ">"] {
            assert!(!valid_token(bad), "{bad:?}");
        }
        assert_eq!(subject("chat.prod", Topic::Live), "chat.prod.live");
        assert_eq!(subject("chatcore", Topic::Presence), "chatcore.presence");
    }

    #[tokio::test]
    async fn an_invalid_node_id_is_refused_before_connecting() {
        let config = NatsConfig::new("nats://127.0.0.1:1", "a.b");
        let err = NatsBus::connect(config).await.unwrap_err();
        assert!(
            matches!(
                err,
                NatsError::InvalidName {
                    what: "node id",
                    ..
                }
            ),
            "{err}"
        );
    }
}
