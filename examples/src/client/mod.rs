//! The pieces of `chat-client`: the command language ([`command`]), the output
//! lines and their JSON shapes ([`output`]), text rendering for people
//! ([`render`]), shortcode emoji ([`emoji`]), file transfer ([`transfer`]), the
//! device it logs in as ([`device`]), what it has seen of each conversation
//! ([`conversations`]) and the main loop ([`app`]).

pub mod app;
pub mod command;
pub mod conversations;
pub mod device;
pub mod emoji;
pub mod output;
pub mod render;
pub mod transfer;
