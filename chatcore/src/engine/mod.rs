//! The server engine: runs one task per connection, each driving the sans-IO
//! session state machine against the [`Store`] and the router.
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
mod backlog;
mod chat;
mod cluster;
mod config;
mod conn;
mod contacts;
mod directory;
mod dispatch;
mod files;
mod io_loop;
mod lists;
mod pipeline;
mod rooms;
mod sequencer;
mod store_watch;
#[cfg(feature = "testkit")]
pub mod testkit;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{AuthError, Hasher};
use crate::bus::Bus;
use crate::limits::{FailureWindow, Occupancy};
use crate::protocol::ErrorCode;
use crate::router::Router;
use crate::store::{Store, StoreError, StoreHealth, UserId};
use crate::transport::{ServerConnection, Transport, TransportError};

pub use config::{ConfigError, DuplicateLogin, ServerConfig};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(60 * 60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The hashing parameters are invalid.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A setting makes no sense.
    #[error("invalid server config: {0}")]
    Config(#[from] ConfigError),
    /// Accepting connections failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The store failed ([`StoreHealth::Failed`]): the server stopped rather
    /// than refuse every write until someone notices (fail-stop). Restart it:
    /// reopening the store recovers everything acknowledged.
    #[error("the store failed, so the server stopped: {0}")]
    StoreFailed(StoreError),
}

/// State every connection task shares.
struct ServerState {
    store: Arc<dyn Store>,
    router: Router,
    /// The node's cluster state: `None` on a single node (no bus).
    cluster: Option<cluster::Cluster>,
    directory: directory::Directory,
    /// Live room delivery in seq order.
    sequencer: sequencer::Sequencer,
    config: ServerConfig,
    hasher: Hasher,
    next_conn: AtomicU64,
    /// Recent failed logins by (lowercase) user name and peer address.
    failed_logins_by_user: FailureWindow<(String, Option<IpAddr>)>,
    /// Recent failed logins by (lowercase) user name, from any address.
    failed_logins_by_name: FailureWindow<String>,
    /// Recent failed logins by peer address.
    failed_logins_by_address: FailureWindow<IpAddr>,
    /// Registrations in the last hour by peer address.
    registrations_by_address: FailureWindow<IpAddr>,
    /// Friend requests in the last day by (requester, target).
    friend_requests_by_pair: FailureWindow<(UserId, UserId)>,
    /// Live connections by peer address.
    connections_by_address: Occupancy<IpAddr>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// Whether the store's disk is below the free-space watermark.
    disk: store_watch::DiskSpace,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("config", &self.config)
            .field("online_here", &self.router.online_count())
            .finish_non_exhaustive()
    }
}

/// A chat server over any [`Store`] and [`Transport`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Server {
    state: Arc<ServerState>,
}

impl Server {
    /// A server on `store`. Fails on a config that makes no sense
    /// ([`ServerConfig::validate`]) or on invalid hashing parameters.
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Result<Self, ServerError> {
        Self::build(store, config, None)
    }

    /// A node of a cluster: a server on `store`, shared with the other nodes
    /// (a networked store such as `chatcore_postgres::PgStore`), that tells
    /// them what is live through `bus` and applies what they tell (see
    /// [`crate::bus`]). Presence and online counts are cluster-wide; a node
    /// unheard for [`ServerConfig::cluster_missed_heartbeats`] heartbeats
    /// ([`ServerConfig::cluster_heartbeat`]) counts as dead.
    ///
    /// The bus's subscription is taken here; what arrives is applied while
    /// [`serve`](Self::serve) runs. Give each node its own bus endpoint.
    pub fn with_bus(
        store: Arc<dyn Store>,
        config: ServerConfig,
        bus: Arc<dyn Bus>,
    ) -> Result<Self, ServerError> {
        Self::build(store, config, Some(bus))
    }

    fn build(
        store: Arc<dyn Store>,
        config: ServerConfig,
        bus: Option<Arc<dyn Bus>>,
    ) -> Result<Self, ServerError> {
        config.validate()?;
        let hasher = Hasher::new(config.hash_params, config.hash_concurrency)?;
        let failed_logins_by_user = FailureWindow::new(config.login_failures_per_user, MINUTE);
        let failed_logins_by_name =
            FailureWindow::new(config.login_failures_per_user_all_addresses, MINUTE);
        let failed_logins_by_address =
            FailureWindow::new(config.login_failures_per_address, MINUTE);
        let registrations_by_address = FailureWindow::new(config.registrations_per_address, HOUR);
        let friend_requests_by_pair = FailureWindow::new(config.friend_requests_per_pair, DAY);
        let connections_by_address = Occupancy::new(config.max_connections_per_address);
        Ok(Server {
            state: Arc::new(ServerState {
                store,
                router: Router::default(),
                cluster: bus.map(cluster::Cluster::new),
                directory: directory::Directory::default(),
                sequencer: sequencer::Sequencer::default(),
                config,
                hasher,
                next_conn: AtomicU64::new(1),
                failed_logins_by_user,
                failed_logins_by_name,
                failed_logins_by_address,
                registrations_by_address,
                friend_requests_by_pair,
                connections_by_address,
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                disk: store_watch::DiskSpace::default(),
            }),
        })
    }

    /// Accepts connections until `shutdown` is cancelled (or the transport ends),
    /// then tells every connected client `ServerShutdown`, closes them and waits for
    /// their tasks. Every acknowledged write is already durable (see
    /// [`Store`]), so there is nothing else to flush.
    ///
    /// While it runs it watches the store (once a second): below
    /// [`ServerConfig::min_free_disk`] of free disk space uploads are refused
    /// `StorageFull`, and if the store fails ([`Server::health`]) the server
    /// stops the same way and returns [`ServerError::StoreFailed`] (fail-stop:
    /// a supervisor restarts the process, and the reopened store recovers).
    pub async fn serve<T: Transport>(
        self,
        mut transport: T,
        shutdown: CancellationToken,
    ) -> Result<(), ServerError> {
        if self.state.cluster.is_none() {
            // Other nodes may be uploading (review 2.13): a cluster leaves
            // abandoned uploads alone.
            self.reclaim_abandoned_uploads().await;
        }
        let sweeping = tokio::spawn(store_watch::sweep_send_records(
            Arc::clone(&self.state),
            shutdown.clone(),
        ));
        let state = &self.state;
        state
            .disk
            .probe(&state.store, state.config.min_free_disk)
            .await;
        let store_failed = store_watch::until_store_fails(Arc::clone(state));
        tokio::pin!(store_failed);
        // Polled here, not spawned: a node whose `serve` stops (or is dropped)
        // stops heartbeating, and the others see it die.
        let bus = Arc::clone(state).run_bus();
        tokio::pin!(bus);
        let result = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                () = &mut bus => {}
                failure = &mut store_failed => {
                    tracing::error!(error = %failure, "the store failed; the server stops");
                    break Err(ServerError::StoreFailed(failure));
                }
                accepted = transport.accept() => match accepted {
                    Ok(Some((conn, peer))) => { self.spawn_connection(conn, peer); }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e.into()),
                },
            }
        };
        drop(transport);
        sweeping.abort();
        self.shutdown().await;
        // After the sessions went (each a presence change the others applied):
        // the others forget this node at once instead of waiting for it to die.
        self.state.leave_cluster();
        result
    }

    /// Runs one connection in its own task (for transports the caller accepts itself).
    pub fn spawn_connection<C: ServerConnection>(&self, conn: C, peer: Option<SocketAddr>) {
        let tasks = &self.state.tasks;
        if tasks.len() >= self.state.config.max_connections {
            tracing::warn!(?peer, "connection limit reached; refusing");
            tasks.spawn(io_loop::refuse(conn, ErrorCode::TooManyConnections));
            return;
        }
        let place = match peer {
            Some(peer) => match self.state.connections_by_address.enter(peer.ip()) {
                Some(place) => Some(place),
                None => {
                    tracing::warn!(%peer, "connection limit for the address reached; refusing");
                    tasks.spawn(io_loop::refuse(conn, ErrorCode::TooManyConnections));
                    return;
                }
            },
            None => None,
        };
        let conn_id = self.state.next_conn.fetch_add(1, Ordering::Relaxed);
        let state = Arc::clone(&self.state);
        // Not wrapped in another future to hold the place: that would keep a
        // second copy of the connection's state in every idle task.
        tasks.spawn(io_loop::run(state, conn, conn_id, peer, place));
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

    /// The store's health: [`StoreHealth::Failed`] once it refuses writes for
    /// good (then [`serve`](Self::serve) stops and returns
    /// [`ServerError::StoreFailed`]).
    pub fn health(&self) -> StoreHealth {
        self.state.store.health()
    }

    /// How many users are online (in a cluster: on any node, as far as this
    /// node knows).
    pub fn online_count(&self) -> usize {
        self.state.online_count()
    }

    /// The store the server runs on.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.state.store
    }
}
