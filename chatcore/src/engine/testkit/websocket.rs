//! The scenarios over the WebSocket transport (feature `ws`): inside
//! [`over_websocket_json`] or [`over_websocket_postcard`], a [`Harness`]
//! also listens for WebSocket connections on 127.0.0.1 and its
//! [`Harness::connect`] goes through one (raw frames through
//! [`Harness::connector`] still use the memory transport).

use std::future::Future;

use crate::transport::ws::{self, Subprotocol, WsOptions, WsTransport};

tokio::task_local! {
    static VIA: Subprotocol;
}

/// Runs `scenario` with its harness's clients over WebSocket, JSON subprotocol.
pub async fn over_websocket_json<F: Future>(scenario: F) -> F::Output {
    VIA.scope(Subprotocol::Json, scenario).await
}

/// Runs `scenario` with its harness's clients over WebSocket, postcard
/// subprotocol.
pub async fn over_websocket_postcard<F: Future>(scenario: F) -> F::Output {
    VIA.scope(Subprotocol::Postcard, scenario).await
}

/// The WebSocket listener a harness starts inside such a scope, and the URL
/// and subprotocol its clients use.
pub(super) fn listen(max_frame_len: usize) -> Option<(WsTransport, String, Subprotocol)> {
    let subprotocol = VIA.try_with(|s| *s).ok()?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("in a runtime");
    let options = WsOptions {
        max_frame_len,
        ..WsOptions::default()
    };
    let transport = WsTransport::builder(listener, options)
        .start()
        .expect("start the WebSocket listener");
    let url = format!("ws://{}{}", transport.local_addr(), ws::DEFAULT_PATH);
    Some((transport, url, subprotocol))
}

/// A client's connection to `url`.
pub(super) async fn connect(
    url: &str,
    subprotocol: Subprotocol,
    max_frame_len: usize,
) -> ws::WsClientConnection {
    ws::connect_with(url, subprotocol, None, max_frame_len)
        .await
        .expect("connect over WebSocket")
}
