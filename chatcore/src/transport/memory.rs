//! An in-memory transport: connections are pairs of channels, frames are passed as
//! values (no encoding), and everything runs in one process.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use chatcore::transport::memory;
//! let (listener, connector) = memory::listener();
//! // Hand `listener` to `Server::serve`; connect clients with:
//! let client_end = connector.connect().await.unwrap();
//! # drop((listener, client_end));
//! # }
//! ```

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::channel::mpsc;
use futures::{Sink, Stream, StreamExt};

use super::{Transport, TransportError};
use crate::protocol::{ClientFrame, ServerFrame};

/// Frames a side may have in flight before its sender waits.
const CHANNEL_CAPACITY: usize = 256;

/// One end of an in-memory connection: receives `In`, sends `Out`.
#[derive(Debug)]
pub struct MemoryConnection<In, Out> {
    rx: mpsc::Receiver<In>,
    tx: mpsc::Sender<Out>,
}

/// The server's end.
pub type MemoryServerConnection = MemoryConnection<ClientFrame, Arc<ServerFrame>>;

/// The client's end (see [`MemoryClientConnection`]'s `Stream` impl: frames arrive
/// as plain `ServerFrame`s).
#[derive(Debug)]
pub struct MemoryClientConnection(MemoryConnection<Arc<ServerFrame>, ClientFrame>);

/// Two connected ends.
pub fn pair() -> (MemoryServerConnection, MemoryClientConnection) {
    let (ctx, srx) = mpsc::channel(CHANNEL_CAPACITY);
    let (stx, crx) = mpsc::channel(CHANNEL_CAPACITY);
    (
        MemoryConnection { rx: srx, tx: stx },
        MemoryClientConnection(MemoryConnection { rx: crx, tx: ctx }),
    )
}

impl<In, Out> Stream for MemoryConnection<In, Out> {
    type Item = Result<In, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_next_unpin(cx).map(|o| o.map(Ok))
    }
}

impl<In, Out> Sink<Out> for MemoryConnection<In, Out> {
    type Error = TransportError;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.tx.poll_ready(cx).map_err(|_| TransportError::Closed)
    }
    fn start_send(mut self: Pin<&mut Self>, item: Out) -> Result<(), Self::Error> {
        self.tx.start_send(item).map_err(|_| TransportError::Closed)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        self.tx.close_channel();
        Poll::Ready(Ok(()))
    }
}

impl Stream for MemoryClientConnection {
    type Item = Result<ServerFrame, TransportError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .poll_next_unpin(cx)
            .map_ok(|frame| Arc::try_unwrap(frame).unwrap_or_else(|shared| (*shared).clone()))
    }
}

impl Sink<ClientFrame> for MemoryClientConnection {
    type Error = TransportError;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_ready(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: ClientFrame) -> Result<(), Self::Error> {
        Pin::new(&mut self.0).start_send(item)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// Accepts in-memory connections made through its [`MemoryConnector`]s.
#[derive(Debug)]
pub struct MemoryListener {
    incoming: mpsc::UnboundedReceiver<MemoryServerConnection>,
}

/// Opens in-memory connections to a [`MemoryListener`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MemoryConnector {
    outgoing: mpsc::UnboundedSender<MemoryServerConnection>,
}

/// A listener and a connector to it.
pub fn listener() -> (MemoryListener, MemoryConnector) {
    let (tx, rx) = mpsc::unbounded();
    (
        MemoryListener { incoming: rx },
        MemoryConnector { outgoing: tx },
    )
}

impl MemoryConnector {
    /// Connects; fails with [`TransportError::Closed`] if the listener is gone.
    pub async fn connect(&self) -> Result<MemoryClientConnection, TransportError> {
        let (server_end, client_end) = pair();
        self.outgoing
            .unbounded_send(server_end)
            .map_err(|_| TransportError::Closed)?;
        Ok(client_end)
    }
}

#[async_trait]
impl Transport for MemoryListener {
    type Connection = MemoryServerConnection;

    async fn accept(
        &mut self,
    ) -> Result<Option<(Self::Connection, Option<SocketAddr>)>, TransportError> {
        Ok(self.incoming.next().await.map(|c| (c, None)))
    }
}
