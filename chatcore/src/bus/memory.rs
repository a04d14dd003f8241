//! A bus between nodes in one process: several [`Server`](crate::engine::Server)s
//! on one store, for tests and for trying a cluster out without a broker.
//!
//! A node can be cut off ([`MemoryHub::cut_off`]: what it publishes and what is
//! published to it is lost, as on a broken broker connection) and connected
//! again ([`MemoryHub::reconnect`], which tells it [`BusEvent::Reconnected`],
//! or [`MemoryHub::restore_quietly`], which does not: a loss it can only
//! notice from gaps).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::{Bus, BusEvent, Envelope, NodeId, Topic};

/// How many messages may wait for a node before more are dropped.
const QUEUE: usize = 1 << 16;

#[derive(Debug)]
struct Node {
    sender: mpsc::Sender<BusEvent>,
    receiver: Option<mpsc::Receiver<BusEvent>>,
    connected: bool,
}

/// The nodes of one in-process cluster. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct MemoryHub {
    nodes: Arc<Mutex<HashMap<NodeId, Node>>>,
}

impl MemoryHub {
    /// A node's endpoint on this hub, named `node` (a second `join` under the
    /// same name replaces the first: a restarted node).
    pub fn join(&self, node: &str) -> MemoryBus {
        let (sender, receiver) = mpsc::channel(QUEUE);
        self.lock().insert(
            node.to_owned(),
            Node {
                sender,
                receiver: Some(receiver),
                connected: true,
            },
        );
        MemoryBus {
            hub: self.clone(),
            node: node.to_owned(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, Node>> {
        self.nodes.lock().expect("memory hub lock")
    }

    /// Cuts `node` off: until it is connected again, what it publishes and
    /// what the others publish to it is lost.
    pub fn cut_off(&self, node: &str) {
        if let Some(n) = self.lock().get_mut(node) {
            n.connected = false;
        }
    }

    /// Connects `node` again and tells it so ([`BusEvent::Reconnected`]).
    pub fn reconnect(&self, node: &str) {
        if let Some(n) = self.lock().get_mut(node) {
            n.connected = true;
            let _ = n.sender.try_send(BusEvent::Reconnected);
        }
    }

    /// Connects `node` again without telling it (it notices lost messages
    /// only by the gaps they leave).
    pub fn restore_quietly(&self, node: &str) {
        if let Some(n) = self.lock().get_mut(node) {
            n.connected = true;
        }
    }

    fn publish(&self, from: &str, envelope: Envelope) {
        let nodes = self.lock();
        if !nodes.get(from).is_some_and(|n| n.connected) {
            return;
        }
        for (name, node) in nodes.iter() {
            if name != from && node.connected {
                // Full: dropped, as a broker drops for a slow consumer.
                let _ = node
                    .sender
                    .try_send(BusEvent::Message(Box::new(envelope.clone())));
            }
        }
    }
}

/// One node's endpoint on a [`MemoryHub`].
#[derive(Debug)]
pub struct MemoryBus {
    hub: MemoryHub,
    node: NodeId,
}

impl Bus for MemoryBus {
    fn node_id(&self) -> &str {
        &self.node
    }

    fn publish(&self, _topic: Topic, envelope: Envelope) {
        self.hub.publish(&self.node, envelope);
    }

    fn subscribe(&self) -> mpsc::Receiver<BusEvent> {
        let mut nodes = self.hub.lock();
        match nodes.get_mut(&self.node).and_then(|n| n.receiver.take()) {
            Some(receiver) => receiver,
            None => mpsc::channel(1).1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::message::{BusMessage, Msg};

    fn envelope(origin: &str) -> Envelope {
        Envelope {
            origin: origin.into(),
            incarnation: 1,
            message: BusMessage(Msg::Leaving),
        }
    }

    fn origin(event: BusEvent) -> String {
        match event {
            BusEvent::Message(e) => e.origin,
            BusEvent::Reconnected => "reconnected".into(),
        }
    }

    #[tokio::test]
    async fn a_message_reaches_every_other_node_and_none_while_cut_off() {
        let hub = MemoryHub::default();
        let (a, b, c) = (hub.join("a"), hub.join("b"), hub.join("c"));
        let (mut ra, mut rb, mut rc) = (a.subscribe(), b.subscribe(), c.subscribe());
        a.publish(Topic::Live, envelope("a"));
        assert_eq!(origin(rb.recv().await.unwrap()), "a");
        assert_eq!(origin(rc.recv().await.unwrap()), "a");
        assert!(ra.try_recv().is_err(), "not back to its publisher");

        hub.cut_off("b");
        a.publish(Topic::Live, envelope("a"));
        b.publish(Topic::Live, envelope("b"));
        assert_eq!(origin(rc.recv().await.unwrap()), "a");
        assert!(rc.try_recv().is_err(), "b's message was lost");
        assert!(rb.try_recv().is_err(), "a's message to b was lost");

        hub.reconnect("b");
        assert_eq!(origin(rb.recv().await.unwrap()), "reconnected");
        c.publish(Topic::Live, envelope("c"));
        assert_eq!(origin(rb.recv().await.unwrap()), "c");
    }
}
