//! Transports: how frames travel between a client and the server.
//!
//! A connection is a [`Stream`] of incoming frames plus a [`Sink`] of outgoing ones.
//! The server side ([`ServerConnection`]) reads [`ClientFrame`]s and writes shared
//! [`ServerFrame`]s (an `Arc`, so one event fans out to many sessions without a copy
//! per recipient); the client side ([`ClientConnection`]) is the mirror image. A
//! [`Transport`] accepts server-side connections.
//!
//! [`memory`] pairs connections through channels, for tests and for embedding a
//! client in the server's own process; `tcp` (feature `tcp`) is the frame codec
//! over TCP, `tls` (feature `tls`) the same over TLS, and `ws` (feature `ws`)
//! frames as WebSocket messages, JSON for browsers or postcard.
//! [`join`] serves two transports (say TCP and WebSocket) with one server.

mod join;
pub mod memory;
#[cfg(feature = "tcp")]
pub mod tcp;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "ws")]
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, Stream};

use crate::protocol::{ClientFrame, CodecError, ServerFrame};

pub use join::{join, Either, Joined};

/// Why a transport failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The bytes on the wire were not a valid frame.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The other side is gone.
    #[error("connection closed")]
    Closed,
    /// The listener failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A WebSocket message was not a frame, or the WebSocket protocol broke.
    #[cfg(feature = "ws")]
    #[error(transparent)]
    WebSocket(#[from] ws::WsError),
}

impl TransportError {
    /// The error code to tell the peer before closing, if the protocol allows one.
    pub fn code(&self) -> Option<crate::protocol::ErrorCode> {
        match self {
            TransportError::Codec(e) => e.code(),
            #[cfg(feature = "ws")]
            TransportError::WebSocket(e) => e.code(),
            _ => None,
        }
    }
}

/// The server's end of a connection.
pub trait ServerConnection:
    Stream<Item = Result<ClientFrame, TransportError>>
    + Sink<Arc<ServerFrame>, Error = TransportError>
    + Send
    + Unpin
    + 'static
{
}

impl<T> ServerConnection for T where
    T: Stream<Item = Result<ClientFrame, TransportError>>
        + Sink<Arc<ServerFrame>, Error = TransportError>
        + Send
        + Unpin
        + 'static
{
}

/// A client's end of a connection.
pub trait ClientConnection:
    Stream<Item = Result<ServerFrame, TransportError>>
    + Sink<ClientFrame, Error = TransportError>
    + Send
    + Unpin
    + 'static
{
}

impl<T> ClientConnection for T where
    T: Stream<Item = Result<ServerFrame, TransportError>>
        + Sink<ClientFrame, Error = TransportError>
        + Send
        + Unpin
        + 'static
{
}

/// A source of incoming server-side connections (a listener).
#[async_trait]
pub trait Transport: Send + 'static {
    /// The connections it yields.
    type Connection: ServerConnection;

    /// Waits for the next connection; `Ok(None)` once no more can come.
    async fn accept(
        &mut self,
    ) -> Result<Option<(Self::Connection, Option<SocketAddr>)>, TransportError>;
}

/// The next connection a listener task handed over (once its TLS or WebSocket
/// handshake is done), as [`Transport::accept`] answers it.
#[cfg(any(feature = "tls", feature = "ws"))]
async fn handed_over<C>(
    ready: &mut tokio::sync::mpsc::Receiver<std::io::Result<(C, SocketAddr)>>,
) -> Result<Option<(C, Option<SocketAddr>)>, TransportError> {
    match ready.recv().await {
        Some(Ok((conn, peer))) => Ok(Some((conn, Some(peer)))),
        Some(Err(e)) => Err(e.into()),
        None => Ok(None),
    }
}
