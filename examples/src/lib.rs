//! The example chat server and client built on chatcore: `chat-server` and
//! `chat-client`. See `examples/README.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod web;
