//! TLS over TCP with rustls (feature `tls`).
//!
//! The frames and the codec are the same as over plain TCP. The server's
//! handshakes run in their own tasks with a deadline, so a client that stalls its
//! handshake holds up no one else's accept; at most
//! [`TlsOptions::max_handshakes`] run at once (further clients wait in the
//! listen backlog until one ends), and dropping the transport (as
//! `Server::serve` does at shutdown) ends every handshake still running.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use chatcore::transport::tls;
//! let config = tls::server_config("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let transport = tls::TlsTransport::bind("127.0.0.1:7878", config).await?;
//! // ... Server::serve(transport, shutdown) ...
//! let client_config = tls::client_config(Some("ca.pem".as_ref()))?;
//! let conn = tls::connect("127.0.0.1:7878", "localhost", client_config).await?;
//! # Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::mpsc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

use super::tcp::{is_transient, ByteStream, TcpConnection};

use super::{Transport, TransportError};
use crate::protocol::{ClientFrame, ServerFrame, DEFAULT_MAX_FRAME_LEN};
/// The rustls this module's configs are of (to name their types).
pub use tokio_rustls::rustls;

/// How long a client may take to complete its TLS handshake, by default.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most TLS handshakes in progress at once, by default.
pub const DEFAULT_MAX_HANDSHAKES: usize = 256;

/// How a [`TlsTransport`] carries frames and runs handshakes.
///
/// New settings may be added in any release: start from the default.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TlsOptions {
    /// The largest frame accepted or sent.
    pub max_frame_len: usize,
    /// Most handshakes in progress at once (at least one). A handshake costs
    /// the server a task and CPU before anything else bounds the client, so
    /// stalled or slow ones must not pile up without limit.
    pub max_handshakes: usize,
    /// How long a client may take to complete its handshake.
    pub handshake_timeout: Duration,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }
}

/// Handshaken connections waiting for `accept`.
const ACCEPT_BACKLOG: usize = 1024;

/// The server's end of a TLS connection.
pub type TlsServerConnection =
    TcpConnection<ClientFrame, ServerFrame, server::TlsStream<TcpStream>>;

/// A client's end of a TLS connection.
pub type TlsClientConnection =
    TcpConnection<ServerFrame, ClientFrame, client::TlsStream<TcpStream>>;

// rustls may hold decrypted bytes the socket no longer signals, so a TLS stream
// always reports ready and keeps its (small) read buffer.
impl ByteStream for server::TlsStream<TcpStream> {
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl ByteStream for client::TlsStream<TcpStream> {
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server config from a PEM certificate chain and a PEM private key.
pub fn server_config(cert_pem: &Path, key_pem: &Path) -> io::Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| invalid(format!("{}: {e}", cert_pem.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("{}: {e}", cert_pem.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!("{}: no certificate", cert_pem.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .map_err(|e| invalid(format!("{}: {e}", key_pem.display())))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(format!("certificate and key: {e}")))?;
    Ok(Arc::new(config))
}

/// A client config trusting the certificates in `ca_pem`, or the Mozilla roots
/// (webpki-roots) if `None`.
pub fn client_config(ca_pem: Option<&Path>) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match ca_pem {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| invalid(format!("{}: {e}", path.display())))?
            {
                let cert = cert.map_err(|e| invalid(format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects over TLS, checking the server's certificate against `server_name`.
pub async fn connect(
    addr: impl ToSocketAddrs,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> Result<TlsClientConnection, TransportError> {
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|e| invalid(format!("server name {server_name:?}: {e}")))?;
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let tls = TlsConnector::from(config).connect(name, stream).await?;
    Ok(TcpConnection::over(tls, DEFAULT_MAX_FRAME_LEN))
}

/// A TLS listener: accepts TCP connections and completes their handshakes in the
/// background.
#[derive(Debug)]
pub struct TlsTransport {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<Accepted>,
    acceptor: tokio::task::JoinHandle<()>,
}

/// A handshaken connection, or the error that ended the accept loop.
type Accepted = io::Result<(TlsServerConnection, SocketAddr)>;

impl TlsTransport {
    /// Binds `addr` with the default [`TlsOptions`].
    pub async fn bind(addr: impl ToSocketAddrs, config: Arc<ServerConfig>) -> io::Result<Self> {
        Self::from_listener(
            TcpListener::bind(addr).await?,
            config,
            TlsOptions::default(),
        )
    }

    /// Uses an already bound listener.
    pub fn from_listener(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        options: TlsOptions,
    ) -> io::Result<Self> {
        if options.max_handshakes == 0 {
            return Err(invalid("max_handshakes must not be zero".into()));
        }
        let local_addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(ACCEPT_BACKLOG);
        let acceptor = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(config),
            options,
            tx,
        ));
        Ok(TlsTransport {
            local_addr,
            ready,
            acceptor,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for TlsTransport {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Accepts connections while fewer than `max_handshakes` are in progress and
/// hands each handshaken one to `ready`. The handshakes belong to this task:
/// when it ends or is aborted (the transport dropped), they end with it.
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    options: TlsOptions,
    ready: mpsc::Sender<Accepted>,
) {
    let mut handshakes = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = handshakes.join_next() => {}
            accepted = listener.accept(), if handshakes.len() < options.max_handshakes => {
                match accepted {
                    Ok((stream, peer)) => {
                        handshakes.spawn(handshake(acceptor.clone(), stream, peer, options, ready.clone()));
                    }
                    // Out of fds or a connection reset before accept: keep serving.
                    Err(e) if is_transient(&e) => {
                        tracing::warn!(error = %e, "accept failed; retrying");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e)).await;
                        return;
                    }
                }
            }
        }
    }
}

/// One client's handshake, within the deadline.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    options: TlsOptions,
    ready: mpsc::Sender<Accepted>,
) {
    let _ = stream.set_nodelay(true);
    match tokio::time::timeout(options.handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let conn = TcpConnection::over(tls, options.max_frame_len);
            let _ = ready.send(Ok((conn, peer))).await;
        }
        Ok(Err(e)) => tracing::info!(?peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::info!(?peer, "TLS handshake timed out"),
    }
}

#[async_trait]
impl Transport for TlsTransport {
    type Connection = TlsServerConnection;

    async fn accept(
        &mut self,
    ) -> Result<Option<(Self::Connection, Option<SocketAddr>)>, TransportError> {
        super::handed_over(&mut self.ready).await
    }
}
