//! The web client (`examples/web/`) in a real headless Chromium against the
//! real `chat-server`, with `chat-client` beside it where a scenario needs a
//! TCP user. Behind the feature `browser-tests`:
//!
//! ```sh
//! apt-get install -y chromium chromium-driver
//! cargo test -p chatcore-examples --features browser-tests --test browser
//! ```
//!
//! With `--features browser-tests,cluster-tests` (and PostgreSQL and
//! nats-server installed) a page also moves between a cluster's nodes.
//!
//! Screenshots of the main views go to `target/browser-screenshots/`.
// Debian's Chromium, process groups: Unix only.
#![cfg(unix)]

#[path = "../it/common/mod.rs"]
mod common;
mod harness;

mod chat;
// Needs PostgreSQL and nats-server too.
#[cfg(feature = "cluster-tests")]
mod failover;
mod files;
mod heartbeat;
mod history;
mod modules;
mod restart;
mod rooms;
