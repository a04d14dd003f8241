//! The cluster bus: how the nodes of one chat service, sharing one store,
//! tell each other what is live.
//!
//! A single [`Server`](crate::engine::Server) needs no bus: its router reaches
//! every session, which is the default ([`Server::new`](crate::engine::Server::new))
//! and costs nothing more. Several servers on one shared store (a networked
//! [`Store`](crate::store::Store) such as `chatcore_postgres::PgStore`) each get
//! a [`Bus`] ([`Server::with_bus`](crate::engine::Server::with_bus)): after a
//! commit the writing node delivers to its own sessions as before and
//! publishes the same thing to the others (a stream item, frames for a user,
//! a room message with its seq, a device stop or duplicate-login kick, a
//! presence change, a cache invalidation), and each node applies what the
//! others publish to its own sessions and caches. Nodes heartbeat, so a node
//! that stops is noticed and its users go offline.
//!
//! A bus may lose messages (NATS core is at-most-once): the store is the
//! truth, and the engine never depends on the bus for correctness. A session
//! that sees a gap in its stream positions fills from the store; after
//! [`BusEvent::Reconnected`] every session of the node fills from the store,
//! the caches are cleared and presence is asked for again.
//!
//! Implementations: [`memory::MemoryHub`] (nodes in one process; tests) and
//! the `chatcore-nats` crate (NATS).
//!
//! ```
//! use std::sync::Arc;
//! use chatcore::bus::memory::MemoryHub;
//! use chatcore::engine::{Server, ServerConfig};
//! use chatcore::store::MemoryStore;
//!
//! // Two nodes on one store (a `MemoryStore` here; a shared database in a real cluster).
//! let store = Arc::new(MemoryStore::new());
//! let hub = MemoryHub::default();
//! let a = Server::with_bus(store.clone(), ServerConfig::default(), Arc::new(hub.join("a"))).unwrap();
//! let b = Server::with_bus(store, ServerConfig::default(), Arc::new(hub.join("b"))).unwrap();
//! # drop((a, b));
//! ```

pub mod memory;
pub(crate) mod message;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub use message::BusMessage;

/// A node's name in its cluster (unique among the running nodes).
pub type NodeId = String;

/// A message as it travels: who published it, and what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The node that published it.
    pub origin: NodeId,
    /// The node's incarnation: a number that differs each time the node
    /// starts (its start time in microseconds), so the others tell a
    /// restarted node from one that went on.
    pub incarnation: u64,
    /// What it says.
    pub message: BusMessage,
}

/// Which kind of subject a message goes out on: a bus may keep them apart
/// (the NATS bus publishes each on its own subject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Topic {
    /// What a session must be told: stream items, frames, room messages,
    /// stops and kicks, cache invalidations.
    Live,
    /// Node liveness and presence: heartbeats, online sets and changes.
    Presence,
}

/// What a bus hands the server it serves.
#[derive(Debug)]
pub enum BusEvent {
    /// Another node published this.
    Message(Box<Envelope>),
    /// The bus was cut off from the others and is connected again: messages
    /// may have been lost meanwhile. The server fills every local session
    /// from the store, clears its caches and asks for presence again.
    Reconnected,
}

/// A cluster bus: publishes to the other nodes, and receives what they publish.
///
/// Both sides may lose messages; neither may block. The engine publishes
/// after each commit from its connection tasks, so [`publish`](Self::publish)
/// must return at once (queue, or drop and log).
pub trait Bus: Send + Sync + std::fmt::Debug + 'static {
    /// This node's id.
    fn node_id(&self) -> &str;

    /// Sends `envelope` to every other node on `topic`'s subject, without
    /// waiting. The node does not receive its own messages back (or ignores
    /// them: the engine drops messages of its own origin).
    fn publish(&self, topic: Topic, envelope: Envelope);

    /// What the other nodes publish, and the bus's reconnections. Called once,
    /// by [`Server::with_bus`](crate::engine::Server::with_bus) (what arrives
    /// waits in the receiver until the server serves); a second call may
    /// return a receiver that never yields.
    fn subscribe(&self) -> mpsc::Receiver<BusEvent>;
}
