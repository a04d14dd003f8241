//! [`WsTransport`]: a listener serving HTTP/1.1 with hyper, upgrading one path
//! to WebSocket connections and handing others to an [`HttpHandler`].

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};

use super::{Upgrading, WsAcceptor, WsOptions, WsServerConnection};
use crate::transport::tcp::is_transient;
use crate::transport::{Transport, TransportError};

/// Answers the HTTP requests that are not for the WebSocket path (a web
/// page's files, say): from the request's head to a whole response.
pub type HttpHandler = Arc<dyn Fn(&http::request::Parts) -> Response<Bytes> + Send + Sync>;

/// The byte stream under a server-side WebSocket connection: the upgraded
/// HTTP connection (plain TCP or TLS).
pub struct ServerStream(TokioIo<hyper::upgrade::Upgraded>);

impl ServerStream {
    pub(super) fn new(io: TokioIo<hyper::upgrade::Upgraded>) -> Self {
        ServerStream(io)
    }
}

impl std::fmt::Debug for ServerStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerStream")
    }
}

impl AsyncRead for ServerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

/// Upgraded connections waiting for `accept`.
const ACCEPT_BACKLOG: usize = 1024;

/// An upgraded connection, or the error that ended the accept loop.
type Accepted = io::Result<(WsServerConnection, SocketAddr)>;

/// A listener of WebSocket connections: serves HTTP/1.1 on its port (TLS with
/// [`WsTransportBuilder::tls`], feature `tls`), upgrades requests for
/// [`WsOptions::path`] and answers the rest with its [`HttpHandler`] (404
/// without one).
///
/// Each TCP connection is served in a task owned by the accept loop until it
/// upgrades, at most [`WsOptions::max_handshakes`] at once and each for at
/// most [`WsOptions::handshake_timeout`]; dropping the transport (as
/// `Server::serve` does at shutdown) ends them.
#[derive(Debug)]
pub struct WsTransport {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<Accepted>,
    acceptor: tokio::task::JoinHandle<()>,
}

/// What every HTTP connection of a listener shares.
struct Shared {
    acceptor: WsAcceptor,
    handler: Option<HttpHandler>,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl WsTransport {
    /// Binds `addr` with `options`, plain TCP.
    pub async fn bind(addr: impl ToSocketAddrs, options: WsOptions) -> io::Result<Self> {
        Self::builder(TcpListener::bind(addr).await?, options).start()
    }

    /// A listener on an already bound socket, to be given TLS or an HTTP
    /// handler before it starts.
    pub fn builder(listener: TcpListener, options: WsOptions) -> WsTransportBuilder {
        WsTransportBuilder {
            listener,
            options,
            handler: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

/// Sets a [`WsTransport`] up before it starts accepting.
#[must_use]
pub struct WsTransportBuilder {
    listener: TcpListener,
    options: WsOptions,
    handler: Option<HttpHandler>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl std::fmt::Debug for WsTransportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsTransportBuilder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl WsTransportBuilder {
    /// Answers requests for other paths with `handler`.
    pub fn http_handler(mut self, handler: HttpHandler) -> Self {
        self.handler = Some(handler);
        self
    }

    /// Serves TLS (`https` and `wss`) with `config`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<tokio_rustls::rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Starts accepting (spawns the accept loop on the current runtime).
    pub fn start(self) -> io::Result<WsTransport> {
        if self.options.max_handshakes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_handshakes must not be zero",
            ));
        }
        #[cfg(feature = "tls")]
        let tls_on = self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls_on = false;
        let local_addr = self.listener.local_addr()?;
        let (tx, ready) = mpsc::channel(ACCEPT_BACKLOG);
        let shared = Arc::new(Shared {
            acceptor: WsAcceptor::new(self.options, tls_on),
            handler: self.handler,
            #[cfg(feature = "tls")]
            tls: self.tls.map(tokio_rustls::TlsAcceptor::from),
        });
        let acceptor = tokio::spawn(accept_loop(self.listener, shared, tx));
        Ok(WsTransport {
            local_addr,
            ready,
            acceptor,
        })
    }
}

impl Drop for WsTransport {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Accepts while fewer than `max_handshakes` connections are being served
/// HTTP; each that upgrades goes to `ready`.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, ready: mpsc::Sender<Accepted>) {
    let max = shared.acceptor.options().max_handshakes;
    let mut serving = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = serving.join_next() => {}
            accepted = listener.accept(), if serving.len() < max => match accepted {
                Ok((stream, peer)) => {
                    serving.spawn(serve_http(Arc::clone(&shared), stream, peer, ready.clone()));
                }
                // Out of fds or a connection reset before accept: keep serving.
                Err(e) if is_transient(&e) => {
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e)).await;
                    return;
                }
            },
        }
    }
}

/// Serves one TCP connection HTTP until it upgrades (then hands the
/// WebSocket connection to `ready`), closes, or runs out of time.
async fn serve_http(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    ready: mpsc::Sender<Accepted>,
) {
    let _ = stream.set_nodelay(true);
    let deadline = tokio::time::Instant::now() + shared.acceptor.options().handshake_timeout;
    #[cfg(feature = "tls")]
    if let Some(tls) = &shared.tls {
        let tls = tls.clone();
        match tokio::time::timeout_at(deadline, tls.accept(stream)).await {
            Ok(Ok(stream)) => return serve_http_on(shared, stream, peer, ready, deadline).await,
            Ok(Err(e)) => tracing::info!(?peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::info!(?peer, "TLS handshake timed out"),
        }
        return;
    }
    serve_http_on(shared, stream, peer, ready, deadline).await
}

async fn serve_http_on<S>(
    shared: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    ready: mpsc::Sender<Accepted>,
    deadline: tokio::time::Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (upgraded_tx, mut upgraded_rx) = oneshot::channel::<Upgrading>();
    let upgraded_tx = Mutex::new(Some(upgraded_tx));
    let service = service_fn(|request: Request<Incoming>| {
        let response = answer(&shared, request, &upgraded_tx);
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let serving = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.acceptor.options().handshake_timeout)
        .max_buf_size(16 * 1024)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    match tokio::time::timeout_at(deadline, serving).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::debug!(?peer, error = %e, "HTTP connection failed");
            return;
        }
        Err(_) => return, // out of time (an upgrade in time ends `serving`)
    }
    // An upgrade hands itself over before its answer goes out.
    let Ok(upgrading) = upgraded_rx.try_recv() else {
        return; // plain HTTP, done
    };
    match tokio::time::timeout_at(deadline, upgrading.connection()).await {
        Ok(Ok(conn)) => {
            let _ = ready.send(Ok((conn, peer))).await;
        }
        Ok(Err(e)) => tracing::info!(?peer, error = %e, "WebSocket upgrade failed"),
        Err(_) => tracing::info!(?peer, "WebSocket upgrade timed out"),
    }
}

/// One HTTP request's answer: the upgrade, a refusal, or the handler's.
fn answer(
    shared: &Shared,
    mut request: Request<Incoming>,
    upgraded: &Mutex<Option<oneshot::Sender<Upgrading>>>,
) -> Response<Full<Bytes>> {
    if request.uri().path() == shared.acceptor.options().path {
        let sender = upgraded.lock().expect("not poisoned").take();
        let Some(sender) = sender else {
            return text(StatusCode::BAD_REQUEST, "one upgrade per connection");
        };
        return match shared.acceptor.accept(&mut request) {
            Ok((response, upgrading)) => {
                let _ = sender.send(upgrading);
                response.map(|()| Full::new(Bytes::new()))
            }
            Err(refusal) => {
                tracing::info!(status = %refusal.status(), reason = refusal.reason(), "WebSocket upgrade refused");
                *upgraded.lock().expect("not poisoned") = Some(sender);
                refusal.response().map(|body| Full::new(Bytes::from(body)))
            }
        };
    }
    match &shared.handler {
        Some(handler) => {
            let (parts, _body) = request.into_parts();
            handler(&parts).map(Full::new)
        }
        None => text(StatusCode::NOT_FOUND, "not found"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

#[async_trait]
impl Transport for WsTransport {
    type Connection = WsServerConnection;

    async fn accept(
        &mut self,
    ) -> Result<Option<(Self::Connection, Option<SocketAddr>)>, TransportError> {
        crate::transport::handed_over(&mut self.ready).await
    }
}
