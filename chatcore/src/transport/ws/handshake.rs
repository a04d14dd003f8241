//! The server's side of the upgrade: checks an HTTP request and answers it
//! ([`WsAcceptor`]), then frames the upgraded stream ([`Upgrading`]).

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::{ServerStream, Subprotocol, WsError, WsOptions, WsServerConnection};
use crate::transport::TransportError;

/// Checks upgrade requests against [`WsOptions`] (subprotocol, `Origin`) and
/// answers them. Use it in a hyper-based server of your own; [`WsTransport`](super::WsTransport)
/// uses it for its path.
#[derive(Debug, Clone)]
pub struct WsAcceptor {
    options: WsOptions,
    tls: bool,
}

/// Why an upgrade was refused: an HTTP status and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    status: StatusCode,
    reason: String,
    /// Sent with `426`: the version the server speaks.
    version_13: bool,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Refusal {
            status,
            reason: reason.into(),
            version_13: false,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Why, in a sentence.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The answer to send: the status and the reason as a line of text.
    pub fn response(&self) -> Response<String> {
        let mut response = Response::new(format!("{}\n", self.reason));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if self.version_13 {
            headers.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        response
    }
}

/// An accepted upgrade: once the `101` answer is sent, [`Upgrading::connection`]
/// gives the connection.
#[derive(Debug)]
pub struct Upgrading {
    upgrade: hyper::upgrade::OnUpgrade,
    subprotocol: Subprotocol,
    max_frame_len: usize,
    read_buffer: usize,
}

impl WsAcceptor {
    /// An acceptor for requests that arrive over TLS (`tls`) or not (the
    /// `Origin` of the server's own page is `https` or `http`).
    pub fn new(options: WsOptions, tls: bool) -> Self {
        WsAcceptor { options, tls }
    }

    /// The options it checks against.
    pub fn options(&self) -> &WsOptions {
        &self.options
    }

    /// Checks an upgrade request: `GET`, `Upgrade: websocket`, version 13, a
    /// key, an allowed `Origin` and one of chatcore's subprotocols (the first
    /// the client offers). Gives the `101` answer and what completes the
    /// upgrade once the answer is sent, or the refusal to send.
    pub fn accept<B>(
        &self,
        request: &mut Request<B>,
    ) -> Result<(Response<()>, Upgrading), Refusal> {
        if request.method() != Method::GET {
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket upgrade is a GET",
            ));
        }
        let headers = request.headers();
        if !has_token(headers, header::CONNECTION, "upgrade")
            || !has_token(headers, header::UPGRADE, "websocket")
        {
            return Err(Refusal::new(
                StatusCode::UPGRADE_REQUIRED,
                "this path is a WebSocket endpoint (Upgrade: websocket)",
            ));
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            let mut refusal = Refusal::new(
                StatusCode::UPGRADE_REQUIRED,
                "unsupported WebSocket version (13 only)",
            );
            refusal.version_13 = true;
            return Err(refusal);
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "missing Sec-WebSocket-Key",
            ));
        };
        let origin = headers
            .get(header::ORIGIN)
            .map(|o| o.to_str().unwrap_or("?"));
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !self.options.origins.permits(origin, host, self.tls) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                format!(
                    "origin {} may not connect (the server allows its own page; see --web-allow-origin)",
                    origin.unwrap_or_default()
                ),
            ));
        }
        let Some(subprotocol) = choose_subprotocol(headers) else {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "offer a subprotocol of chatcore (Sec-WebSocket-Protocol: {} or {})",
                    super::JSON_SUBPROTOCOL,
                    super::POSTCARD_SUBPROTOCOL
                ),
            ));
        };
        let accept = derive_accept_key(key.as_bytes());
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(&accept).expect("base64 is a header value"),
        );
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(subprotocol.name()),
        );
        let upgrading = Upgrading {
            upgrade: hyper::upgrade::on(request),
            subprotocol,
            max_frame_len: self.options.max_frame_len,
            read_buffer: self.options.read_buffer,
        };
        Ok((response, upgrading))
    }
}

impl Upgrading {
    /// The subprotocol chosen.
    pub fn subprotocol(&self) -> Subprotocol {
        self.subprotocol
    }

    /// Waits for the upgraded stream (after the `101` answer went out) and
    /// frames it.
    pub async fn connection(self) -> Result<WsServerConnection, TransportError> {
        let upgraded = self
            .upgrade
            .await
            .map_err(|e| TransportError::WebSocket(WsError::Handshake(e.to_string())))?;
        let stream = ServerStream::new(TokioIo::new(upgraded));
        Ok(WsServerConnection::from_upgraded(
            stream,
            Role::Server,
            self.subprotocol,
            self.max_frame_len,
            self.read_buffer,
        ))
    }
}

/// Whether a comma-separated header holds `token` (without regard to case).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// The first subprotocol of chatcore's that the client offers.
fn choose_subprotocol(headers: &HeaderMap) -> Option<Subprotocol> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|name| Subprotocol::from_name(name.trim()))
}
