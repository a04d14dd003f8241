//! The server engine: runs one task per connection, each driving a
//! [`Session`](crate::session::Session) against the [`Store`] and the router.
//!
//! ```
//! use std::sync::Arc;
//! use chatcore::{engine::{Server, ServerConfig}, store::MemoryStore, transport::memory};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = Server::new(Arc::new(MemoryStore::new()), ServerConfig::default()).unwrap();
//! let (listener, connector) = memory::listener();
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let running = tokio::spawn(server.clone().serve(listener, shutdown.clone()));
//! // ... connect clients through `connector` ...
//! # drop(connector);
//! shutdown.cancel();
//! running.await.unwrap().unwrap();
//! # }
//! ```

mod accounts;
mod chat;
mod conn;
mod connection;
mod contacts;
mod directory;
mod dispatch;
mod files;
mod pipeline;
mod rooms;
#[cfg(feature = "testkit")]
pub mod testkit;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{AuthError, HashParams, Hasher};
use crate::limits::FailureWindow;
use crate::protocol::ErrorCode;
use crate::router::Router;
use crate::store::Store;
use crate::transport::{ServerConnection, Transport, TransportError};

const MINUTE: Duration = Duration::from_secs(60);

/// What happens when a user logs in while already logged in elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateLogin {
    /// Keep every session; all of them get the user's events.
    #[default]
    Allow,
    /// The new session replaces the old ones, which get `Kicked` and close.
    ReplaceOld,
}

/// Server settings. `Default` is a sensible production setup.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Name sent in the server hello.
    pub server_name: String,
    /// Duplicate-login policy.
    pub duplicate_login: DuplicateLogin,
    /// Allow chat between users who are not friends.
    pub open_chat: bool,
    /// Most open outgoing friend requests per user.
    pub max_pending_requests: usize,
    /// argon2id cost.
    pub hash_params: HashParams,
    /// Most password hashes computed at once (at least one).
    pub hash_concurrency: usize,
    /// Frames queued for one session before it counts as a slow reader and is closed.
    pub outbound_queue: usize,
    /// Inbox items read per page when pushing the login backlog.
    pub backlog_page: usize,
    /// Most connections served at once; one more is told `TooManyConnections`
    /// and closed.
    pub max_connections: usize,
    /// A connection that has not said hello by then is told `Timeout` and closed.
    pub hello_timeout: std::time::Duration,
    /// Largest file accepted for transfer, in bytes.
    pub max_file_size: u64,
    /// Upload chunk size; keep it well under the transport's maximum frame length.
    pub file_chunk_size: u32,
    /// A connection that sends nothing for this long is told `Timeout` and closed.
    pub idle_timeout: Duration,
    /// How often the server sends `Event::Ping` (clients answer with a ping).
    pub ping_interval: Duration,
    /// Sustained requests per second per connection; more are refused
    /// `RateLimited`.
    pub request_rate: f64,
    /// Requests a connection may send in a burst above the rate.
    pub request_burst: u32,
    /// Refusals for rate in a row after which the connection is closed.
    pub max_rate_strikes: u32,
    /// Failed logins per user name within a minute before further attempts are
    /// refused `RateLimited` (without checking the password).
    pub login_failures_per_user: usize,
    /// Failed logins per peer address within a minute, likewise.
    pub login_failures_per_address: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_name: format!("chatcore/{}", env!("CARGO_PKG_VERSION")),
            duplicate_login: DuplicateLogin::Allow,
            open_chat: false,
            max_pending_requests: 100,
            hash_params: HashParams::default(),
            // Half the cores: a login storm must leave room for chat.
            hash_concurrency: std::thread::available_parallelism().map_or(1, |n| n.get() / 2),
            outbound_queue: 4096,
            backlog_page: 256,
            max_connections: 10_000,
            hello_timeout: std::time::Duration::from_secs(10),
            max_file_size: crate::protocol::limits::DEFAULT_MAX_FILE_SIZE,
            file_chunk_size: crate::protocol::limits::FILE_CHUNK,
            idle_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(20),
            request_rate: 50.0,
            request_burst: 100,
            max_rate_strikes: 50,
            login_failures_per_user: 5,
            login_failures_per_address: 20,
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The hashing parameters are invalid.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Accepting connections failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// State every connection task shares.
struct ServerState {
    store: Arc<dyn Store>,
    router: Router,
    directory: directory::Directory,
    config: ServerConfig,
    hasher: Hasher,
    next_conn: AtomicU64,
    /// Recent failed logins by (lowercase) user name.
    failed_logins_by_user: FailureWindow<String>,
    /// Recent failed logins by peer address.
    failed_logins_by_address: FailureWindow<IpAddr>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("config", &self.config)
            .field("online", &self.router.online_count())
            .finish_non_exhaustive()
    }
}

/// A chat server over any [`Store`] and [`Transport`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Server {
    state: Arc<ServerState>,
}

impl Server {
    /// A server on `store`.
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Result<Self, ServerError> {
        let hasher = Hasher::new(config.hash_params, config.hash_concurrency)?;
        let failed_logins_by_user = FailureWindow::new(config.login_failures_per_user, MINUTE);
        let failed_logins_by_address =
            FailureWindow::new(config.login_failures_per_address, MINUTE);
        Ok(Server {
            state: Arc::new(ServerState {
                store,
                router: Router::default(),
                directory: directory::Directory::default(),
                config,
                hasher,
                next_conn: AtomicU64::new(1),
                failed_logins_by_user,
                failed_logins_by_address,
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
            }),
        })
    }

    /// Accepts connections until `shutdown` is cancelled (or the transport ends),
    /// then tells every connected client `ServerShutdown`, closes them and waits for
    /// their tasks. Every acknowledged write is already durable (see
    /// [`Store`]), so there is nothing else to flush.
    pub async fn serve<T: Transport>(
        self,
        mut transport: T,
        shutdown: CancellationToken,
    ) -> Result<(), ServerError> {
        self.reclaim_abandoned_uploads().await;
        let result = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                accepted = transport.accept() => match accepted {
                    Ok(Some((conn, peer))) => { self.spawn_connection(conn, peer); }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e.into()),
                },
            }
        };
        drop(transport);
        self.shutdown().await;
        result
    }

    /// Runs one connection in its own task (for transports the caller accepts itself).
    pub fn spawn_connection<C: ServerConnection>(&self, conn: C, peer: Option<SocketAddr>) {
        if self.state.tasks.len() >= self.state.config.max_connections {
            tracing::warn!(?peer, "connection limit reached; refusing");
            self.state
                .tasks
                .spawn(connection::refuse(conn, ErrorCode::TooManyConnections));
            return;
        }
        let conn_id = self.state.next_conn.fetch_add(1, Ordering::Relaxed);
        let state = Arc::clone(&self.state);
        self.state
            .tasks
            .spawn(connection::run(state, conn, conn_id, peer));
    }

    /// Deletes uploads a crash left incomplete (no connection owns them now).
    async fn reclaim_abandoned_uploads(&self) {
        let store = &self.state.store;
        match store.incomplete_files().await {
            Ok(files) => {
                for file in files {
                    tracing::info!(file, "reclaiming an abandoned upload");
                    if let Err(e) = store.delete_file(file).await {
                        tracing::error!(error = %e, "reclaiming an upload failed");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "listing abandoned uploads failed"),
        }
    }

    /// Closes every connection (each is told `ServerShutdown`) and waits for them.
    pub async fn shutdown(&self) {
        self.state.shutdown.cancel();
        self.state.tasks.close();
        self.state.tasks.wait().await;
    }

    /// How many users are online.
    pub fn online_count(&self) -> usize {
        self.state.router.online_count()
    }

    /// The store the server runs on.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.state.store
    }
}
