//! [`WsConnection`]: frames over a WebSocket stream, in the connection's
//! subprotocol.

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::{FutureExt, Sink, Stream};
use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as TungError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::idle::Tracked;
use super::{ClientStream, ServerStream, Subprotocol, WsError, WRITE_BURST};
use crate::protocol::{ClientFrame, CodecError, ErrorCode, Event, ServerFrame};
use crate::transport::TransportError;

/// Frames over a WebSocket: reads `In` frames, writes `Out` frames, over the
/// byte stream `S`.
///
/// While nothing is under way (every byte read is handed out, every write
/// flushed) the connection rests as its bare socket: tungstenite's state and
/// buffers are dropped, and rebuilt when a byte arrives or a frame is sent.
/// A peer that sends a WebSocket ping or close keeps it awake.
pub struct WsConnection<In, Out, S> {
    state: State<S>,
    role: Role,
    subprotocol: Subprotocol,
    max_frame_len: usize,
    read_buffer: usize,
    /// Nothing written since the last completed flush.
    write_clean: bool,
    /// The last read found nothing more to hand out.
    read_pending: bool,
    /// Closing, closed or failed: never rests again.
    ended: bool,
    /// The code of the `Closing` event sent, for the close frame.
    closing: Option<ErrorCode>,
    _types: PhantomData<fn(Out) -> In>,
}

enum State<S> {
    /// tungstenite at work.
    Active(Box<WebSocketStream<Tracked<S>>>),
    /// At rest: the socket alone.
    Resting(Tracked<S>),
    /// Between the two (only inside a call).
    Moving,
}

/// Bytes read at once from a resting connection (on the stack).
const RESTING_READ: usize = 2048;

/// The server's end of a WebSocket connection.
pub type WsServerConnection = WsConnection<ClientFrame, ServerFrame, ServerStream>;

/// A client's end of a WebSocket connection.
pub type WsClientConnection = WsConnection<ServerFrame, ClientFrame, ClientStream>;

impl<In, Out, S> std::fmt::Debug for WsConnection<In, Out, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConnection")
            .field("subprotocol", &self.subprotocol)
            .field("max_frame_len", &self.max_frame_len)
            .field("resting", &matches!(self.state, State::Resting(_)))
            .finish_non_exhaustive()
    }
}

/// tungstenite's settings for a connection of `subprotocol`.
pub(super) fn config(
    subprotocol: Subprotocol,
    max_frame_len: usize,
    read_buffer: usize,
) -> WebSocketConfig {
    let max_message = subprotocol.max_message_len(max_frame_len);
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(WRITE_BURST)
        // Bounded: the writer flushes before it takes more than a burst and
        // one message; a peer that does not read stalls it, and the session's
        // own queue then closes it as a slow reader.
        .max_write_buffer_size(WRITE_BURST + max_message.saturating_mul(8) + 4096)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

impl<In, Out, S: AsyncRead + AsyncWrite + Unpin> WsConnection<In, Out, S> {
    /// Frames an upgraded stream (the handshake is done) as `role`, resting
    /// until there is something to do.
    pub(super) fn from_upgraded(
        stream: S,
        role: Role,
        subprotocol: Subprotocol,
        max_frame_len: usize,
        read_buffer: usize,
    ) -> Self {
        WsConnection {
            state: State::Resting(Tracked::new(stream)),
            role,
            subprotocol,
            max_frame_len,
            read_buffer,
            write_clean: true,
            read_pending: true,
            ended: false,
            closing: None,
            _types: PhantomData,
        }
    }

    /// Frames a connection whose handshake tungstenite did (a client's).
    pub(super) fn awake(
        ws: WebSocketStream<Tracked<S>>,
        subprotocol: Subprotocol,
        max_frame_len: usize,
    ) -> Self {
        WsConnection {
            state: State::Active(Box::new(ws)),
            role: Role::Client,
            subprotocol,
            max_frame_len,
            read_buffer: super::WsOptions::default().read_buffer,
            write_clean: true,
            read_pending: false,
            ended: false,
            closing: None,
            _types: PhantomData,
        }
    }

    /// The subprotocol the two ends agreed on.
    pub fn subprotocol(&self) -> Subprotocol {
        self.subprotocol
    }

    /// tungstenite over the socket, rebuilt if resting (with `part`, bytes
    /// read meanwhile).
    fn wake(&mut self, part: Vec<u8>) -> &mut WebSocketStream<Tracked<S>> {
        if let State::Resting(_) = self.state {
            let State::Resting(stream) = std::mem::replace(&mut self.state, State::Moving) else {
                unreachable!("checked")
            };
            let config = Some(config(
                self.subprotocol,
                self.max_frame_len,
                self.read_buffer,
            ));
            // Both complete at once: there is no handshake to wait for.
            let ws = if part.is_empty() {
                WebSocketStream::from_raw_socket(stream, self.role, config).now_or_never()
            } else {
                WebSocketStream::from_partially_read(stream, part, self.role, config).now_or_never()
            }
            .expect("a WebSocket without a handshake is ready at once");
            self.state = State::Active(Box::new(ws));
        }
        match &mut self.state {
            State::Active(ws) => ws,
            _ => unreachable!("woken"),
        }
    }

    /// Drops tungstenite (and its buffers) if nothing is under way.
    fn rest_if_idle(&mut self) {
        let idle = self.write_clean
            && self.read_pending
            && !self.ended
            && matches!(&self.state, State::Active(ws) if ws.get_ref().tracker.at_rest());
        if idle {
            let State::Active(ws) = std::mem::replace(&mut self.state, State::Moving) else {
                unreachable!("checked")
            };
            self.state = State::Resting(ws.into_inner());
        }
    }
}

/// What a frame type tells the close frame.
pub trait OutFrame: Serialize {
    /// The code of a `Closing` event, if this frame is one.
    fn closing_code(&self) -> Option<ErrorCode>;
}

impl OutFrame for ServerFrame {
    fn closing_code(&self) -> Option<ErrorCode> {
        match self {
            ServerFrame::Event(Event::Closing { code }) => Some(*code),
            ServerFrame::Event(Event::ServerShutdown) => Some(ErrorCode::ShuttingDown),
            _ => None,
        }
    }
}

impl OutFrame for ClientFrame {
    fn closing_code(&self) -> Option<ErrorCode> {
        None
    }
}

/// A tungstenite error as a transport error (`None`: the stream ended).
fn transport_error(e: TungError) -> Option<TransportError> {
    Some(match e {
        TungError::ConnectionClosed
        | TungError::AlreadyClosed
        // The peer went without a close frame: gone all the same.
        | TungError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return None,
        TungError::Io(e) => TransportError::Io(e),
        TungError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            TransportError::Codec(CodecError::TooLarge {
                len: size,
                max: max_size,
            })
        }
        TungError::WriteBufferFull(_) => TransportError::Io(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            "websocket write buffer full",
        )),
        other => TransportError::WebSocket(WsError::Protocol(other.to_string())),
    })
}

impl<In: DeserializeOwned, Out, S: AsyncRead + AsyncWrite + Unpin> Stream
    for WsConnection<In, Out, S>
{
    type Item = Result<In, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let State::Resting(stream) = &mut this.state {
                let mut buf = [0u8; RESTING_READ];
                let mut read = ReadBuf::new(&mut buf);
                match ready!(Pin::new(stream).poll_read(cx, &mut read)) {
                    Err(e) => {
                        this.ended = true;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                    Ok(()) if read.filled().is_empty() => {
                        this.ended = true;
                        return Poll::Ready(None);
                    }
                    Ok(()) => {
                        let part = read.filled().to_vec();
                        this.wake(part);
                    }
                }
            }
            let ws = this.wake(Vec::new());
            let message = match Pin::new(ws).poll_next(cx) {
                Poll::Pending => {
                    this.read_pending = true;
                    this.rest_if_idle();
                    if matches!(this.state, State::Resting(_)) {
                        continue; // wait on the bare socket
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    this.ended = true;
                    return Poll::Ready(transport_error(e).map(Err));
                }
                Poll::Ready(Some(Ok(message))) => message,
            };
            this.read_pending = false;
            let frame = match (message, this.subprotocol) {
                (Message::Binary(bytes), Subprotocol::Postcard) => {
                    postcard::from_bytes(&bytes).map_err(|e| CodecError::Undecodable(e).into())
                }
                (Message::Text(text), Subprotocol::Json) => serde_json::from_str(text.as_str())
                    .map_err(|e| TransportError::WebSocket(WsError::Json(e))),
                (Message::Binary(_), subprotocol) => Err(WsError::WrongMessageType {
                    got: "binary",
                    subprotocol,
                }
                .into()),
                (Message::Text(_), subprotocol) => Err(WsError::WrongMessageType {
                    got: "text",
                    subprotocol,
                }
                .into()),
                // The peer's close ends the stream (tungstenite answers it).
                (Message::Close(_), _) => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
                // Pings are answered by tungstenite; pongs need nothing.
                (Message::Ping(_) | Message::Pong(_) | Message::Frame(_), _) => continue,
            };
            return Poll::Ready(Some(frame));
        }
    }
}

impl<In, Out: OutFrame, S: AsyncRead + AsyncWrite + Unpin, Item: Borrow<Out>> Sink<Item>
    for WsConnection<In, Out, S>
{
    type Error = TransportError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match &mut self.state {
            State::Active(ws) => Pin::new(&mut **ws).poll_ready(cx).map(written),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn start_send(mut self: Pin<&mut Self>, item: Item) -> Result<(), Self::Error> {
        let frame: &Out = item.borrow();
        let message = match self.subprotocol {
            Subprotocol::Postcard => {
                let bytes = postcard::to_allocvec(frame).map_err(CodecError::Unencodable)?;
                if bytes.len() > self.max_frame_len {
                    return Err(CodecError::TooLarge {
                        len: bytes.len(),
                        max: self.max_frame_len,
                    }
                    .into());
                }
                Message::Binary(bytes.into())
            }
            // Not capped: the server keeps every frame within the postcard
            // limit, and its JSON is what it is.
            Subprotocol::Json => Message::Text(
                serde_json::to_string(frame)
                    .map_err(|e| TransportError::WebSocket(WsError::Json(e)))?
                    .into(),
            ),
        };
        if let Some(code) = frame.closing_code() {
            self.closing = Some(code);
        }
        self.write_clean = false;
        let ws = self.wake(Vec::new());
        written(Pin::new(ws).start_send(message))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let State::Active(ws) = &mut self.state else {
            return Poll::Ready(Ok(()));
        };
        let flushed = written(ready!(Pin::new(&mut **ws).poll_flush(cx)));
        if flushed.is_ok() {
            self.write_clean = true;
            self.rest_if_idle();
        }
        Poll::Ready(flushed)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.ended = true;
        // A close frame naming the error code, if one was sent; the sink's own
        // close (a plain close frame) otherwise.
        if let Some(code) = self.closing {
            let frame = CloseFrame {
                code: close_code(code),
                reason: code.as_str().into(),
            };
            let ws = self.wake(Vec::new());
            let sent = ready!(Pin::new(&mut *ws).poll_ready(cx))
                .and_then(|()| Pin::new(&mut *ws).start_send(Message::Close(Some(frame))));
            self.closing = None;
            if sent.is_err() {
                return Poll::Ready(written(sent));
            }
        }
        let ws = self.wake(Vec::new());
        Pin::new(ws).poll_close(cx).map(written)
    }
}

/// A write's outcome: once the connection is closed (the peer's close frame
/// came, or the peer went), what is still written is dropped, as a closed
/// TCP peer's kernel would; the reading side has ended the session.
fn written(result: Result<(), TungError>) -> Result<(), TransportError> {
    match result {
        Ok(()) => Ok(()),
        Err(e) => match transport_error(e) {
            None => Ok(()),
            Some(e) => Err(e),
        },
    }
}

/// The WebSocket close code for a chatcore error code.
fn close_code(code: ErrorCode) -> CloseCode {
    match code {
        ErrorCode::FrameTooLarge => CloseCode::Size,
        ErrorCode::MalformedFrame => CloseCode::Invalid,
        ErrorCode::ShuttingDown => CloseCode::Away,
        ErrorCode::Internal | ErrorCode::Unavailable => CloseCode::Error,
        ErrorCode::TooManyConnections => CloseCode::Again,
        _ => CloseCode::Policy,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::{SinkExt, StreamExt};
    use tokio::io::{AsyncWriteExt, DuplexStream};

    use super::*;

    type Server = WsConnection<ClientFrame, ServerFrame, DuplexStream>;

    fn pair(subprotocol: Subprotocol) -> (Server, WebSocketStream<DuplexStream>) {
        let (a, b) = tokio::io::duplex(1 << 20);
        let server = Server::from_upgraded(a, Role::Server, subprotocol, 1 << 20, 1024);
        let client = WebSocketStream::from_raw_socket(b, Role::Client, None)
            .now_or_never()
            .unwrap();
        (server, client)
    }

    fn resting(c: &Server) -> bool {
        matches!(c.state, State::Resting(_))
    }

    fn hello() -> ClientFrame {
        ClientFrame::Hello {
            version: 5,
            client: "t".repeat(60_000),
        }
    }

    /// Polls the server's stream once; `None` if nothing is ready.
    fn poll_once(server: &mut Server) -> Option<Option<Result<ClientFrame, TransportError>>> {
        server.next().now_or_never()
    }

    #[tokio::test]
    async fn an_idle_connection_rests_as_its_socket_between_messages() {
        let (mut server, mut client) = pair(Subprotocol::Postcard);
        assert!(resting(&server));
        // A big message arrives in many reads; afterwards the connection rests.
        let bytes = postcard::to_allocvec(&hello()).unwrap();
        client.send(Message::binary(bytes)).await.unwrap();
        assert_eq!(server.next().await.unwrap().unwrap(), hello());
        assert!(poll_once(&mut server).is_none());
        assert!(resting(&server));
        // A write wakes it; the flush lets it rest again.
        let frame = Arc::new(ServerFrame::Event(Event::CaughtUp));
        server.send(frame).await.unwrap();
        assert!(resting(&server));
        let got = client.next().await.unwrap().unwrap();
        let got: ServerFrame = postcard::from_bytes(&got.into_data()).unwrap();
        assert_eq!(got, ServerFrame::Event(Event::CaughtUp));
        // Two frames in one write, the second cut in half: handed out whole.
        let mut raw = client.into_inner();
        let one = masked(0x82, &postcard::to_allocvec(&hello()).unwrap());
        let two = masked(
            0x82,
            &postcard::to_allocvec(&ClientFrame::AckUpTo { pos: 3 }).unwrap(),
        );
        let mut both = one.clone();
        both.extend_from_slice(&two[..2]);
        raw.write_all(&both).await.unwrap();
        assert_eq!(server.next().await.unwrap().unwrap(), hello());
        assert!(poll_once(&mut server).is_none());
        assert!(!resting(&server), "half a frame is held");
        raw.write_all(&two[2..]).await.unwrap();
        assert_eq!(
            server.next().await.unwrap().unwrap(),
            ClientFrame::AckUpTo { pos: 3 }
        );
        assert!(poll_once(&mut server).is_none());
        assert!(resting(&server));
        // A fragmented message: awake until its last fragment.
        let json = postcard::to_allocvec(&ClientFrame::AckUpTo { pos: 4 }).unwrap();
        raw.write_all(&masked(0x02, &json[..1])).await.unwrap();
        assert!(poll_once(&mut server).is_none());
        assert!(!resting(&server));
        raw.write_all(&masked(0x80, &json[1..])).await.unwrap();
        assert_eq!(
            server.next().await.unwrap().unwrap(),
            ClientFrame::AckUpTo { pos: 4 }
        );
        assert!(poll_once(&mut server).is_none());
        assert!(resting(&server));
        // A ping is answered, and keeps it awake from then on.
        raw.write_all(&masked(0x89, b"hi")).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(200), server.next()).await;
        assert!(waited.is_err(), "a ping is not a frame");
        assert!(!resting(&server));
        let mut client = WebSocketStream::from_raw_socket(raw, Role::Client, None).await;
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::Pong("hi".into())
        );
    }

    /// A masked client frame.
    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() < 65536);
        let mut out = vec![first];
        if payload.len() < 126 {
            out.push(0x80 | payload.len() as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        let mask = [3, 1, 4, 1];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }
}
