//! The client side: [`connect`] to a `ws://` or `wss://` URL.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::conn::config;
use super::idle::Tracked;
use super::{Subprotocol, WsClientConnection, WsError};
use crate::protocol::DEFAULT_MAX_FRAME_LEN;
use crate::transport::TransportError;

/// The byte stream under a client's WebSocket connection: TCP, or TLS over
/// TCP for `wss://` (feature `tls`).
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientStream {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            ClientStream::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            #[cfg(feature = "tls")]
            ClientStream::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

fn invalid(what: String) -> TransportError {
    TransportError::Io(io::Error::new(io::ErrorKind::InvalidInput, what))
}

/// Connects to `url` (`ws://host:port/path`, or `wss://` with the Mozilla
/// roots) with `subprotocol`.
pub async fn connect(
    url: &str,
    subprotocol: Subprotocol,
) -> Result<WsClientConnection, TransportError> {
    #[cfg(feature = "tls")]
    let tls = if url.starts_with("wss:") {
        Some(crate::transport::tls::client_config(None)?)
    } else {
        None
    };
    #[cfg(not(feature = "tls"))]
    let tls = None;
    connect_with(url, subprotocol, tls, DEFAULT_MAX_FRAME_LEN).await
}

/// TLS settings for `wss://`: a rustls client config (feature `tls`).
#[cfg(feature = "tls")]
pub type TlsSettings = Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>;

/// TLS settings for `wss://` (none without feature `tls`).
#[cfg(not(feature = "tls"))]
pub type TlsSettings = Option<std::convert::Infallible>;

/// Connects to `url` with `subprotocol`, checking a `wss://` server against
/// `tls` (see [`tls::client_config`](crate::transport::tls::client_config)),
/// with frames of at most `max_frame_len` bytes.
pub async fn connect_with(
    url: &str,
    subprotocol: Subprotocol,
    tls: TlsSettings,
    max_frame_len: usize,
) -> Result<WsClientConnection, TransportError> {
    let (secure, host, port) = endpoint(url)?;
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let stream = if secure {
        tls_stream(tcp, &host, tls).await?
    } else {
        ClientStream::Plain(tcp)
    };
    connect_over(stream, url, subprotocol, max_frame_len).await
}

/// Whether `url` is `wss://`, and its host and port.
fn endpoint(url: &str) -> Result<(bool, String, u16), TransportError> {
    let uri: http::Uri = url.parse().map_err(|e| invalid(format!("{url}: {e}")))?;
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(invalid(format!("{url}: not a ws:// or wss:// URL"))),
    };
    let host = uri
        .host()
        .ok_or_else(|| invalid(format!("{url}: no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    Ok((secure, host, port))
}

/// Upgrades a stream the caller connected (from a chosen source address,
/// say) to `url` with `subprotocol`.
pub async fn connect_over(
    stream: ClientStream,
    url: &str,
    subprotocol: Subprotocol,
    max_frame_len: usize,
) -> Result<WsClientConnection, TransportError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| invalid(format!("{url}: {e}")))?;
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(subprotocol.name()),
    );
    let config = config(
        subprotocol,
        max_frame_len,
        super::WsOptions::default().read_buffer,
    );
    let stream = Tracked::never_resting(stream);
    let (ws, response) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                    .unwrap_or_default();
                TransportError::WebSocket(WsError::Handshake(format!(
                    "{}: {body}",
                    response.status()
                )))
            }
            tokio_tungstenite::tungstenite::Error::Io(e) => TransportError::Io(e),
            other => TransportError::WebSocket(WsError::Handshake(other.to_string())),
        })?;
    let chosen = response
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    if chosen != Some(subprotocol.name()) {
        return Err(TransportError::WebSocket(WsError::Handshake(format!(
            "the server chose subprotocol {chosen:?}, not {subprotocol}"
        ))));
    }
    Ok(WsClientConnection::awake(ws, subprotocol, max_frame_len))
}

#[cfg(feature = "tls")]
async fn tls_stream(
    tcp: TcpStream,
    host: &str,
    tls: TlsSettings,
) -> Result<ClientStream, TransportError> {
    use tokio_rustls::rustls::pki_types::ServerName;
    let config = match tls {
        Some(config) => config,
        None => crate::transport::tls::client_config(None)?,
    };
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| invalid(format!("server name {host:?}: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(ClientStream::Tls(Box::new(stream)))
}

#[cfg(not(feature = "tls"))]
async fn tls_stream(_: TcpStream, _: &str, _: TlsSettings) -> Result<ClientStream, TransportError> {
    Err(invalid("wss:// needs chatcore's feature `tls`".into()))
}
