//! WebSocket (feature `ws`): the same frames as TCP, for browsers and for
//! clients behind HTTP infrastructure, on tokio-tungstenite.
//!
//! The WebSocket subprotocol, which the client offers and the server picks at
//! the upgrade, chooses how frames travel:
//!
//! - [`JSON_SUBPROTOCOL`] (`chatcore.json.v1`): one text message per frame, the
//!   serde JSON form of [`ClientFrame`](crate::protocol::ClientFrame) / [`ServerFrame`](crate::protocol::ServerFrame) (documented with an
//!   example of each common frame in `docs/websocket.md`). Byte fields are
//!   strings: file chunks base64, SHA-256 digests hex; error codes their
//!   snake_case names ([`ErrorCode::as_str`](crate::protocol::ErrorCode::as_str)).
//! - [`POSTCARD_SUBPROTOCOL`] (`chatcore.postcard.v1`): one binary message per
//!   frame, the postcard bytes of the TCP codec without its length prefix.
//!
//! A message of the other kind, one that does not decode, or one over the limit
//! ([`WsOptions::max_frame_len`] for postcard, twice that for JSON text, room
//! for a base64 file chunk) closes the connection with the protocol's error
//! code (`Event::Closing`) and a WebSocket close frame naming it. A client that
//! offers neither subprotocol is refused at the upgrade (HTTP 400).
//!
//! The server side is an HTTP/1.1 upgrade served by hyper: [`WsTransport`]
//! listens on its own port (plain or TLS, `wss`) and can serve other paths
//! through an [`HttpHandler`] (`chat-server` serves its web page that way);
//! [`WsAcceptor`] checks an upgrade request inside any hyper-based server.
//! The `Origin` of a browser's request must be the server's own page unless
//! [`OriginPolicy`] allows more. [`connect`] is the client side.
//!
//! Memory: a connection reads through a small buffer
//! ([`WsOptions::read_buffer`]) and batches a burst of frames into one write
//! up to [`WRITE_BURST`]; an idle one rests as its bare socket (tungstenite
//! and its buffers dropped, rebuilt at the next byte or frame).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use chatcore::client::Client;
//! use chatcore::engine::{Server, ServerConfig};
//! use chatcore::store::MemoryStore;
//! use chatcore::transport::{join, tcp::TcpTransport, ws};
//!
//! let server = Server::new(Arc::new(MemoryStore::new()), ServerConfig::default())?;
//! let tcp = TcpTransport::bind("127.0.0.1:7878").await?;
//! let web = ws::WsTransport::bind("127.0.0.1:8080", ws::WsOptions::default()).await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! // One server, both listeners: one set of connection caps.
//! tokio::spawn(server.serve(join(tcp, Some(web)), shutdown.clone()));
//!
//! let conn = ws::connect("ws://127.0.0.1:8080/ws", ws::Subprotocol::Postcard).await?;
//! let (client, events) = Client::connect(conn).await?;
//! # drop((client, events)); Ok(()) }
//! ```

mod client;
mod conn;
mod handshake;
mod idle;
mod listener;
mod origin;

pub use client::{connect, connect_over, connect_with, ClientStream, TlsSettings};
pub use conn::{WsClientConnection, WsConnection, WsServerConnection};
pub use handshake::{Refusal, Upgrading, WsAcceptor};
pub use listener::{HttpHandler, ServerStream, WsTransport, WsTransportBuilder};
pub use origin::OriginPolicy;

use std::time::Duration;

use crate::protocol::{ErrorCode, DEFAULT_MAX_FRAME_LEN};

/// The JSON subprotocol: text messages, the serde JSON form of the frames.
pub const JSON_SUBPROTOCOL: &str = "chatcore.json.v1";

/// The postcard subprotocol: binary messages, the frames' postcard bytes.
pub const POSTCARD_SUBPROTOCOL: &str = "chatcore.postcard.v1";

/// The path [`WsTransport`] upgrades by default.
pub const DEFAULT_PATH: &str = "/ws";

/// Bytes of outgoing messages buffered before a write is forced mid-burst.
pub const WRITE_BURST: usize = 128 * 1024;

/// How frames travel over a WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Subprotocol {
    /// [`JSON_SUBPROTOCOL`]: text messages of JSON.
    Json,
    /// [`POSTCARD_SUBPROTOCOL`]: binary messages of postcard.
    Postcard,
}

impl Subprotocol {
    /// Every subprotocol, in the server's order of preference when a client
    /// offers several (the client's order decides).
    pub const ALL: [Subprotocol; 2] = [Subprotocol::Json, Subprotocol::Postcard];

    /// Its name in `Sec-WebSocket-Protocol`.
    pub fn name(self) -> &'static str {
        match self {
            Subprotocol::Json => JSON_SUBPROTOCOL,
            Subprotocol::Postcard => POSTCARD_SUBPROTOCOL,
        }
    }

    /// The subprotocol of that name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The largest message accepted from the peer, for frames of at most
    /// `max_frame_len` postcard bytes.
    pub fn max_message_len(self, max_frame_len: usize) -> usize {
        match self {
            Subprotocol::Postcard => max_frame_len,
            // base64 makes a file chunk 4/3 as long; field names and decimal
            // numbers add the rest.
            Subprotocol::Json => max_frame_len.saturating_mul(2),
        }
    }
}

impl std::fmt::Display for Subprotocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How WebSocket connections are served.
///
/// New settings may be added in any release: start from the default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WsOptions {
    /// The largest frame, in postcard bytes (see [`Subprotocol::max_message_len`]).
    pub max_frame_len: usize,
    /// The path that upgrades ([`DEFAULT_PATH`]); other paths go to the
    /// [`HttpHandler`], if any.
    pub path: String,
    /// Which browser pages may connect.
    pub origins: OriginPolicy,
    /// Most connections at once that have not upgraded yet (TLS handshake,
    /// HTTP requests for other paths, the upgrade itself); further clients
    /// wait in the listen backlog.
    pub max_handshakes: usize,
    /// How long a connection may take to upgrade (and, for one that does not,
    /// how long it is served HTTP at all).
    pub handshake_timeout: Duration,
    /// The read buffer of each connection, in bytes: small keeps idle
    /// connections small; a message longer than it is read whole into a buffer
    /// of its own.
    pub read_buffer: usize,
}

impl Default for WsOptions {
    fn default() -> Self {
        WsOptions {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            path: DEFAULT_PATH.to_owned(),
            origins: OriginPolicy::default(),
            max_handshakes: 256,
            handshake_timeout: Duration::from_secs(10),
            read_buffer: 1024,
        }
    }
}

/// What went wrong on a WebSocket connection, beyond I/O and frame size.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WsError {
    /// A text message that is not the JSON of a frame.
    #[error("not the JSON of a frame: {0}")]
    Json(#[source] serde_json::Error),
    /// A message of the kind the subprotocol does not use (binary on JSON,
    /// text on postcard).
    #[error("a {got} message on the {subprotocol} subprotocol")]
    WrongMessageType {
        /// `"text"` or `"binary"`.
        got: &'static str,
        /// The connection's subprotocol.
        subprotocol: Subprotocol,
    },
    /// The WebSocket framing was broken (unmasked, invalid UTF-8 in a text
    /// message, a bad opcode...).
    #[error("websocket protocol: {0}")]
    Protocol(String),
    /// The upgrade failed.
    #[error("websocket handshake: {0}")]
    Handshake(String),
}

impl WsError {
    /// The error code to tell the peer before closing.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            WsError::Json(_) | WsError::WrongMessageType { .. } | WsError::Protocol(_) => {
                Some(ErrorCode::MalformedFrame)
            }
            WsError::Handshake(_) => None,
        }
    }
}
