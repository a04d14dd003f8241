//! # chatcore
//!
//! An embeddable instant-messaging engine: accounts, friends, presence and 1:1
//! chat with durable, acknowledged delivery, behind a [`Store`](store::Store) and a
//! [`Transport`](transport::Transport) you choose.
//!
//! ## The stable API
//!
//! These modules are what chatcore supports; semver covers them (while the
//! version is 0.y, a breaking change raises y):
//!
//! | module | holds |
//! |---|---|
//! | [`engine`] | the server: [`Server`](engine::Server), [`ServerConfig`](engine::ServerConfig) |
//! | [`client`] | an async client: [`Client`](client::Client), [`Events`](client::Events) |
//! | [`store`] | the [`Store`](store::Store) contract, the key-value implementation every bundled backend uses, the memory store |
//! | [`transport`] | connection traits, TCP (and TLS, feature `tls`), WebSocket (feature `ws`: JSON for browsers, postcard), the in-memory transport, two listeners joined |
//! | [`protocol`] | wire types, error codes, the frame codec |
//! | [`auth`] | argon2id hashing off the async workers |
//!
//! The wire format has its own, stricter promise: enums only gain variants at
//! the end, and a client of any version can read any server's hello (see
//! [`protocol`]).
//!
//! Not covered by semver:
//!
//! - `store::testkit` and `engine::testkit` (feature `testkit`): the
//!   conformance suite and engine scenarios a backend runs in its own tests.
//!   They follow the engine and may change in any release.
//! - `session`, `friends` and `limits`: the sans-IO pieces inside the engine
//!   (the connection state machine, the friend workflow's transition function,
//!   token buckets). They are public, and hidden from these docs, only so that
//!   property tests and the fuzz harness (the `chatcore-testkit` crate) can
//!   drive them directly. The friend types the [`Store`](store::Store) contract
//!   uses are re-exported from [`store`].
//!
//! ## Example: a server and two clients in one process
//!
//! ```
//! use std::sync::Arc;
//! use chatcore::auth::HashParams;
//! use chatcore::client::Client;
//! use chatcore::engine::{Server, ServerConfig};
//! use chatcore::protocol::Event;
//! use chatcore::store::MemoryStore;
//! use chatcore::transport::memory;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = ServerConfig::default();
//! config.hash_params = HashParams::insecure_fast();
//! let server = Server::new(Arc::new(MemoryStore::new()), config)?;
//! let (listener, connector) = memory::listener();
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! tokio::spawn(server.clone().serve(listener, shutdown.clone()));
//!
//! let (ann, _ann_events) = Client::connect(connector.connect().await?).await?;
//! let (bob, mut bob_events) = Client::connect(connector.connect().await?).await?;
//! ann.register("ann", "ann-password").await?;
//! bob.register("bob", "bob-password").await?;
//! ann.login("ann", "ann-password").await?;
//! bob.login("bob", "bob-password").await?;
//!
//! ann.friend_request("bob", "hi, it's ann").await?;
//! bob.respond_friend("ann", true).await?;
//! let sent = ann.send_text("bob", "hello 👋").await?;
//!
//! // Bob sees the message (acked automatically); other events come first.
//! loop {
//!     match bob_events.next().await {
//!         Some(Event::Message(m)) => {
//!             assert_eq!(m.id, sent.id);
//!             break;
//!         }
//!         Some(_) => continue,
//!         None => panic!("connection closed"),
//!     }
//! }
//! shutdown.cancel();
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The stable API (see the crate docs).
pub mod auth;
pub mod bus;
pub mod client;
pub mod engine;
pub mod protocol;
pub mod store;
pub mod transport;

// Public only for property tests and the fuzz harness; not covered by semver.
#[doc(hidden)]
pub mod friends;
#[doc(hidden)]
pub mod limits;
#[doc(hidden)]
pub mod session;

mod mailbox;
mod router;
mod sync;
