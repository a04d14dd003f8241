//! A chatcore [`Store`] on PostgreSQL, for many chat-server nodes sharing one
//! database.
//!
//! ```no_run
//! use chatcore::store::Store;
//! use chatcore_postgres::PgStore;
//!
//! # async fn run() -> Result<(), chatcore::store::StoreError> {
//! let store = PgStore::connect("postgres://chat@db.example/chat").await?;
//! let ann = store.create_user("ann", "$argon2id$...").await?;
//! # Ok(())
//! # }
//! ```
//!
//! # How it keeps the contract
//!
//! - Every [`Store`] method is one transaction (READ COMMITTED), committed
//!   before it returns `Ok`: durable as PostgreSQL's commit is. The store's
//!   connections set `synchronous_commit=on` (a commit waits for its WAL
//!   flush) whatever the server's default, unless the caller's connection
//!   options set it themselves.
//! - Ids come from one sequence; a conversation's seqs from its row in
//!   `conversations`, incremented under that row's lock; stream positions
//!   from the user's row, the same way. A transaction that needs to read
//!   and then write the same state (a send, an ack, a friend request, a
//!   device login, a file offer against the quota) first locks the rows it
//!   reads (`SELECT … FOR UPDATE`, or the `UPDATE` that increments), so
//!   concurrent callers, in this process or another, queue on the row rather
//!   than lose an update. Users' rows are locked in id order; transactions
//!   PostgreSQL still rolls back (a deadlock, a serialization failure) are
//!   run again from the start.
//! - Permission checks (block, friendship, membership) read the rows in the
//!   same transaction as the write, after the conversation's lock.
//! - A retried send finds its idempotency record (`send_records`) under the
//!   conversation's lock, whichever node stored the first one.
//! - Names are unique by a `UNIQUE` index on their lowercase forms.
//! - Failed logins are rows of `failed_logins` ([`Store::failed_logins`]),
//!   so every node counts the same window: N nodes do not give N times the
//!   password-guessing budget.
//! - A database out of reach is [`StoreError::Unavailable`] (after the pool's
//!   wait and connect timeouts), never a panic; the next call tries again.
//!
//! Writes do not take effect in the order their futures were first polled
//! ([`Store::writes_in_poll_order`] is `false`): two sends to one
//! conversation commit in the order they take the conversation's row lock.
//! The engine therefore starts a connection's send to a conversation only
//! after its previous one there committed, while different connections' sends
//! run side by side. [`Store::append_room`] only stores: the engine orders a
//! room's live delivery by seq.
//!
//! # Why tokio-postgres and deadpool-postgres
//!
//! tokio-postgres is the async PostgreSQL driver that sqlx and most others
//! build on or beside, kept with rust-postgres; it is small, speaks the wire
//! protocol (so any Postgres-wire database works) and gives its errors'
//! `SQLSTATE`, which the retry of rolled-back transactions needs.
//! deadpool-postgres is the usual pool for it: a few hundred lines, with
//! timeouts. sqlx would bring its own runtime glue, macros and migrations
//! machinery, none of which this crate needs (its queries are checked by the
//! tests against a real server, not at compile time).
//!
//! # What it does not do
//!
//! [`Store::free_space`] knows nothing (the disk is the database server's);
//! [`Store::health`] is always healthy: an unreachable database is an error
//! per call, not a failure for good.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accounts;
mod chat;
mod devices;
mod files;
mod friends;
mod logins;
mod reads;
mod rooms;
mod schema;
mod store;
mod stream;
#[cfg(feature = "test-server")]
pub mod test_server;
mod txn;

use std::time::Duration;

#[cfg(doc)]
use chatcore::store::Store;
use chatcore::store::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio::sync::OnceCell;

pub use tokio_postgres::config::Host;
pub use tokio_postgres::Config;

/// How many connections a store keeps at most, unless told
/// ([`PgOptions::max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// How a [`PgStore`] connects.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Most connections in the pool.
    pub max_connections: usize,
    /// How long a call waits for a free connection, and for a new one to
    /// connect, before it is refused [`StoreError::Unavailable`].
    pub timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            timeout: Duration::from_secs(5),
        }
    }
}

/// `config` with `synchronous_commit=on` (`Ok` means durable: a commit
/// waits for its WAL flush whatever the server's default), unless its
/// options set `synchronous_commit` themselves.
fn durable(mut config: Config) -> Config {
    let existing = config.get_options().unwrap_or_default().to_owned();
    if !existing.contains("synchronous_commit") {
        config.options(format!("{existing} -c synchronous_commit=on").trim());
    }
    config
}

/// A [`Store`] on a PostgreSQL database (see the [crate docs](crate)).
///
/// Cheap to share behind an `Arc`; connections are made when needed and
/// kept in a pool.
pub struct PgStore {
    pool: Pool,
    ready: OnceCell<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:pass@host/db` or
    /// `host=… dbname=…`) and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        PgStore::connect_with(url, PgOptions::default()).await
    }

    /// [`Self::connect`] with a pool of `options.max_connections` and its timeout.
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let store = PgStore::new(url.parse().map_err(StoreError::backend)?, options)?;
        store.ready().await.map_err(txn::Fail::into_store)?;
        Ok(store)
    }

    /// A store on `config` that connects when first used: the schema is
    /// brought up to date by the first call (which returns the error if that
    /// fails; the next call tries again). Does no I/O, so it can be made
    /// outside a runtime; the calls need a tokio runtime.
    pub fn new(config: Config, options: PgOptions) -> Result<PgStore, StoreError> {
        let manager = Manager::from_config(
            durable(config),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(options.timeout),
                create: Some(options.timeout),
                recycle: Some(options.timeout),
            })
            .build()
            .map_err(StoreError::backend)?;
        Ok(PgStore {
            pool,
            ready: OnceCell::new(),
        })
    }

    /// The schema version of the database (0 if it has none yet).
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        let found: Result<i32, txn::Fail> = async {
            let client = self.pool.get().await?;
            schema::version(&client).await
        }
        .await;
        found.map(|v| v as u32).map_err(txn::Fail::into_store)
    }

    /// The schema version this build writes.
    pub fn current_schema_version() -> u32 {
        schema::current_version() as u32
    }

    /// Migrates once per store (again after a failure).
    async fn ready(&self) -> Result<(), txn::Fail> {
        self.ready
            .get_or_try_init(|| schema::migrate(&self.pool))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_wait_for_the_wal_unless_the_caller_chose() {
        let plain: Config = "host=/tmp dbname=chat".parse().unwrap();
        assert_eq!(
            durable(plain).get_options(),
            Some("-c synchronous_commit=on")
        );
        let mut other = Config::new();
        other.options("-c search_path=chat");
        assert_eq!(
            durable(other).get_options(),
            Some("-c search_path=chat -c synchronous_commit=on")
        );
        let mut chosen = Config::new();
        chosen.options("-c synchronous_commit=remote_apply");
        assert_eq!(
            durable(chosen).get_options(),
            Some("-c synchronous_commit=remote_apply")
        );
    }
}
