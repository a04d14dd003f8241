//! # chatcore
//!
//! An embeddable instant-messaging engine: accounts, friends, presence and 1:1
//! chat with durable, acknowledged delivery, behind a [`Store`](store::Store) and a
//! [`Transport`](transport::Transport) you choose.
//!
//! ## Layout
//!
//! | module | holds |
//! |---|---|
//! | [`protocol`] | wire types, error codes, the frame codec |
//! | [`session`] | the per-connection state machine (sans-IO) |
//! | [`engine`] | the server: one task per connection, request handlers |
//! | [`friends`] | the friend workflow as a pure transition function |
//! | [`store`] | the `Store` trait, the key-value implementation, the memory store |
//! | [`transport`] | connection traits and the in-memory transport |
//! | [`client`] | an async client |
//! | [`auth`] | argon2id hashing off the async workers |
//! | [`limits`] | token bucket and failed-login window (sans-IO) |
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
//! let config = ServerConfig { hash_params: HashParams::insecure_fast(), ..Default::default() };
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

pub mod auth;
pub mod client;
pub mod engine;
pub mod friends;
pub mod limits;
mod mailbox;
pub mod protocol;
mod router;
pub mod session;
pub mod store;
pub mod transport;
