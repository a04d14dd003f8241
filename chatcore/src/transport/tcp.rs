//! TCP: the frame codec over a `TcpStream` (feature `tcp`, on by default).
//!
//! Both ends set `TCP_NODELAY`: frames are written whole, one flush per burst,
//! so Nagle's algorithm would only add delayed-ACK stalls.
//!
//! Memory: a connection's read and write buffers are released whenever they are
//! empty, so an idle connection holds no buffer at all; the read buffer then grows
//! to exactly the frame the length prefix announces.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use async_trait::async_trait;
use futures::{Sink, Stream};
use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio_util::codec::{Encoder, Framed};

use super::{Transport, TransportError};
use crate::protocol::{ClientFrame, CodecError, FrameCodec, ServerFrame, DEFAULT_MAX_FRAME_LEN};

/// Bytes of encoded frames buffered before a write is forced mid-burst.
const WRITE_BURST: usize = 256 * 1024;

/// Read buffer allocated when data arrives on a connection that holds none.
const READ_CHUNK: usize = 4096;

/// A byte stream frames travel over: TCP, or TLS over TCP.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Ready once a read would make progress; lets an idle connection wait
    /// without a read buffer.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl ByteStream for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }
}

/// A framed connection over TCP (or TLS, `S`): reads `In` frames, writes `Out`
/// frames.
#[derive(Debug)]
pub struct TcpConnection<In, Out, S = TcpStream> {
    framed: Framed<S, FrameCodec<In, Out>>,
}

/// The server's end of a TCP connection.
pub type TcpServerConnection = TcpConnection<ClientFrame, ServerFrame>;

/// A client's end of a TCP connection.
pub type TcpClientConnection = TcpConnection<ServerFrame, ClientFrame>;

impl<In, Out> TcpConnection<In, Out> {
    /// Frames `stream` with frames of at most `max_frame_len` bytes.
    pub fn new(stream: TcpStream, max_frame_len: usize) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        Ok(Self::over(stream, max_frame_len))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.framed.get_ref().peer_addr()
    }
}

impl<In, Out, S: ByteStream> TcpConnection<In, Out, S> {
    /// Frames any byte stream (the caller sets `TCP_NODELAY` on the socket).
    pub fn over(stream: S, max_frame_len: usize) -> Self {
        let mut framed = Framed::with_capacity(stream, FrameCodec::new(max_frame_len), 0);
        // One burst of queued frames goes out in as few writes as possible.
        framed.set_backpressure_boundary(WRITE_BURST);
        TcpConnection { framed }
    }
}

/// Connects to a server, with the default maximum frame length.
pub async fn connect(addr: impl ToSocketAddrs) -> Result<TcpClientConnection, TransportError> {
    let stream = TcpStream::connect(addr).await?;
    Ok(TcpConnection::new(stream, DEFAULT_MAX_FRAME_LEN)?)
}

impl<In: DeserializeOwned, Out, S: ByteStream> Stream for TcpConnection<In, Out, S> {
    type Item = Result<In, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.framed.read_buffer().capacity() == 0 {
            // Idle with no buffer: allocate one only once there is data to read.
            if let Err(e) = ready!(ByteStream::poll_read_ready(self.framed.get_ref(), cx)) {
                return Poll::Ready(Some(Err(e.into())));
            }
            self.framed.read_buffer_mut().reserve(READ_CHUNK);
        }
        let next = Pin::new(&mut self.framed).poll_next(cx);
        if next.is_ready() {
            release_if_empty(self.framed.read_buffer_mut());
        }
        next.map(|o| o.map(|r| r.map_err(TransportError::from)))
    }
}

impl<In, Out, S: ByteStream, Item> Sink<Item> for TcpConnection<In, Out, S>
where
    FrameCodec<In, Out>: Encoder<Item, Error = CodecError>,
{
    type Error = TransportError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.framed)
            .poll_ready(cx)
            .map_err(Into::into)
    }
    fn start_send(mut self: Pin<&mut Self>, item: Item) -> Result<(), Self::Error> {
        Pin::new(&mut self.framed)
            .start_send(item)
            .map_err(Into::into)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.framed)
            .poll_flush(cx)
            .map_err(Into::into)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.framed)
            .poll_close(cx)
            .map_err(Into::into)
    }
}

/// A TCP listener yielding server-side connections.
#[derive(Debug)]
pub struct TcpTransport {
    listener: TcpListener,
    max_frame_len: usize,
}

impl TcpTransport {
    /// Binds `addr` with the default maximum frame length.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Self> {
        Ok(Self::from_listener(
            TcpListener::bind(addr).await?,
            DEFAULT_MAX_FRAME_LEN,
        ))
    }

    /// Uses an already bound listener.
    pub fn from_listener(listener: TcpListener, max_frame_len: usize) -> Self {
        TcpTransport {
            listener,
            max_frame_len,
        }
    }

    /// Sets the maximum frame length (both directions).
    pub fn with_max_frame_len(mut self, max_frame_len: usize) -> Self {
        self.max_frame_len = max_frame_len;
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

#[async_trait]
impl Transport for TcpTransport {
    type Connection = TcpConnection<ClientFrame, ServerFrame>;

    async fn accept(
        &mut self,
    ) -> Result<Option<(Self::Connection, Option<SocketAddr>)>, TransportError> {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    return Ok(Some((
                        TcpConnection::new(stream, self.max_frame_len)?,
                        Some(peer),
                    )))
                }
                // Out of fds or a connection reset before accept: keep serving.
                Err(e) if is_transient(&e) => {
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Frees an empty buffer's allocation (idle connections keep none).
fn release_if_empty(buffer: &mut bytes::BytesMut) {
    if buffer.is_empty() && buffer.capacity() > 0 {
        *buffer = bytes::BytesMut::new();
    }
}

/// Whether an `accept` error leaves the listener usable (retry after a pause).
pub(super) fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock)
        || e.raw_os_error() == Some(24) // EMFILE
        || e.raw_os_error() == Some(23) // ENFILE
}

// Sending a shared frame avoids copying an event per recipient before encoding.
impl<In, Out: Serialize> Encoder<Arc<Out>> for FrameCodec<In, Out> {
    type Error = CodecError;
    fn encode(&mut self, frame: Arc<Out>, dst: &mut bytes::BytesMut) -> Result<(), CodecError> {
        crate::protocol::encode_frame(&*frame, dst, self.max_len())
    }
}
