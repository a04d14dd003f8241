//! [`WsConnection`]: frames over a WebSocket stream, in the connection's
//! subprotocol.

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::{Sink, Stream};
use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as TungError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{ClientStream, ServerStream, Subprotocol, WsError, WRITE_BURST};
use crate::protocol::{ClientFrame, CodecError, ErrorCode, Event, ServerFrame};
use crate::transport::TransportError;

/// Frames over a WebSocket: reads `In` frames, writes `Out` frames, over the
/// byte stream `S`.
pub struct WsConnection<In, Out, S> {
    ws: WebSocketStream<S>,
    subprotocol: Subprotocol,
    max_frame_len: usize,
    /// The code of the `Closing` event sent, for the close frame.
    closing: Option<ErrorCode>,
    _types: PhantomData<fn(Out) -> In>,
}

/// The server's end of a WebSocket connection.
pub type WsServerConnection = WsConnection<ClientFrame, ServerFrame, ServerStream>;

/// A client's end of a WebSocket connection.
pub type WsClientConnection = WsConnection<ServerFrame, ClientFrame, ClientStream>;

impl<In, Out, S> std::fmt::Debug for WsConnection<In, Out, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConnection")
            .field("subprotocol", &self.subprotocol)
            .field("max_frame_len", &self.max_frame_len)
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
    /// Frames an upgraded stream (the handshake is done) as `role`.
    pub(super) async fn from_upgraded(
        stream: S,
        role: Role,
        subprotocol: Subprotocol,
        max_frame_len: usize,
        read_buffer: usize,
    ) -> Self {
        let config = config(subprotocol, max_frame_len, read_buffer);
        let ws = WebSocketStream::from_raw_socket(stream, role, Some(config)).await;
        Self::over(ws, subprotocol, max_frame_len)
    }

    pub(super) fn over(
        ws: WebSocketStream<S>,
        subprotocol: Subprotocol,
        max_frame_len: usize,
    ) -> Self {
        WsConnection {
            ws,
            subprotocol,
            max_frame_len,
            closing: None,
            _types: PhantomData,
        }
    }

    /// The subprotocol the two ends agreed on.
    pub fn subprotocol(&self) -> Subprotocol {
        self.subprotocol
    }

    /// The underlying byte stream.
    pub fn get_ref(&self) -> &S {
        self.ws.get_ref()
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
        loop {
            let message = match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(transport_error(e).map(Err)),
                Some(Ok(message)) => message,
            };
            let frame = match (message, self.subprotocol) {
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
                (Message::Close(_), _) => return Poll::Ready(None),
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
        Pin::new(&mut self.ws).poll_ready(cx).map(written)
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
        written(Pin::new(&mut self.ws).start_send(message))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.ws).poll_flush(cx).map(written)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // A close frame naming the error code, if one was sent; the sink's own
        // close (a plain close frame) otherwise.
        if let Some(code) = self.closing {
            let frame = CloseFrame {
                code: close_code(code),
                reason: code.as_str().into(),
            };
            let sent = ready!(Pin::new(&mut self.ws).poll_ready(cx))
                .and_then(|()| Pin::new(&mut self.ws).start_send(Message::Close(Some(frame))));
            self.closing = None;
            if sent.is_err() {
                return Poll::Ready(written(sent));
            }
        }
        Pin::new(&mut self.ws).poll_close(cx).map(written)
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
