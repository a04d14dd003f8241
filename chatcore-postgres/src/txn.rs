//! Transactions: how one `Store` method runs (one transaction, retried when
//! PostgreSQL rolled it back for a conflict), and how failures become
//! [`StoreError`]s.

use std::sync::Arc;

use chatcore::store::StoreError;
use tokio_postgres::error::SqlState;

/// How many times a transaction PostgreSQL rolled back for a serialization
/// failure or a deadlock is run again before the error is returned.
pub(crate) const MAX_RETRIES: u32 = 20;

/// Why a transaction did not commit.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The database answered an error (or the connection broke) before
    /// the commit: nothing was written.
    Pg(tokio_postgres::Error),
    /// The commit failed: if the connection broke, whether it took effect
    /// is unknown, so it is never run again here.
    Commit(tokio_postgres::Error),
    /// No connection could be had from the pool.
    Pool(deadpool_postgres::PoolError),
    /// Our own finding (a record that does not decode, a newer schema).
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<deadpool_postgres::PoolError> for Fail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Fail::Pool(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    /// Whether running the transaction again is right: PostgreSQL rolled it
    /// back for a conflict with another (which asks for just that), or the
    /// connection was gone before the commit (a database that restarted
    /// since the pool made it; a new one is tried, and a database that is
    /// still down refuses it: [`Fail::Pool`], not retried).
    pub(crate) fn retryable(&self) -> bool {
        match self {
            Fail::Pg(e) => {
                e.is_closed()
                    || matches!(
                        e.code(),
                        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                            || *c == SqlState::T_R_DEADLOCK_DETECTED
                            || *c == SqlState::ADMIN_SHUTDOWN
                            || *c == SqlState::CRASH_SHUTDOWN
                    )
            }
            Fail::Commit(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED
            ),
            _ => false,
        }
    }

    /// The [`StoreError`] the caller gets: the database out of reach (no
    /// connection, a broken one, the server shutting down) is
    /// [`StoreError::Unavailable`]; an error the database answered is
    /// [`StoreError::Backend`].
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Fail::Store(e) => e,
            Fail::Pool(e) => StoreError::Unavailable(Arc::new(e)),
            Fail::Pg(e) | Fail::Commit(e) => {
                let unreachable = e.is_closed()
                    || match e.code() {
                        None => true,
                        Some(code) => {
                            code.code().starts_with("08") // connection exception
                                || code.code().starts_with("57P") // operator intervention
                                || *code == SqlState::CANNOT_CONNECT_NOW
                        }
                    };
                if unreachable {
                    StoreError::Unavailable(Arc::new(e))
                } else {
                    StoreError::backend(e)
                }
            }
        }
    }
}

/// A decoding failure of a stored postcard value.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> Fail {
    Fail::Store(StoreError::Corrupt {
        key: what.to_owned(),
        reason: e.to_string(),
    })
}

/// Decodes postcard bytes stored in `what`.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, Fail> {
    postcard::from_bytes(bytes).map_err(|e| corrupt(what, e))
}

/// Encodes a value for a bytea column.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("postcard encodes the store's types")
}

/// A `u64` as a bigint, bit for bit (ids, timestamps: read back with [`u`]).
pub(crate) fn i(v: u64) -> i64 {
    v as i64
}

/// A bigint read back as the `u64` it was stored from.
pub(crate) fn u(v: i64) -> u64 {
    v as u64
}

/// A `u64` bound (a limit, a position) as a bigint, saturating.
pub(crate) fn bound(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// A `usize` limit as a bigint, saturating.
pub(crate) fn limit(v: usize) -> i64 {
    bound(v as u64)
}

/// Runs `$body` (an expression, with `.await`s, of type `Result<T, Fail>`)
/// in one READ COMMITTED transaction on a pooled connection bound to
/// `$tx`, committed when it is `Ok`; runs it again from the start when
/// PostgreSQL rolled it back for a serialization failure or a deadlock.
/// Evaluates to `Result<T, StoreError>`. A write that needs more than READ
/// COMMITTED takes row locks (`FOR UPDATE`) in its body; a read of several
/// statements names `RepeatableRead` (one snapshot for all of them).
macro_rules! txn {
    ($store:expr, $tx:ident => $body:expr) => {
        $crate::txn::txn!($store, ReadCommitted, $tx => $body)
    };
    ($store:expr, $isolation:ident, $tx:ident => $body:expr) => {{
        let store: &$crate::PgStore = $store;
        let mut attempt = 0u32;
        loop {
            let result: Result<_, $crate::txn::Fail> = async {
                store.ready().await?;
                let mut client = store.pool.get().await?;
                let transaction = client
                    .build_transaction()
                    .isolation_level(::tokio_postgres::IsolationLevel::$isolation)
                    .start()
                    .await?;
                let value = {
                    let $tx = &transaction;
                    $body
                }?;
                transaction
                    .commit()
                    .await
                    .map_err($crate::txn::Fail::Commit)?;
                Ok(value)
            }
            .await;
            match result {
                Err(e) if e.retryable() && attempt < $crate::txn::MAX_RETRIES => {
                    attempt += 1;
                    ::tokio::time::sleep(::std::time::Duration::from_millis(
                        u64::from(attempt) * 2,
                    ))
                    .await;
                }
                other => break other.map_err($crate::txn::Fail::into_store),
            }
        }
    }};
}

/// Runs `$body` on a pooled connection outside a transaction (one read
/// statement's snapshot), again on another connection if the one it had was
/// gone (a read is always safe to repeat); `Result<T, StoreError>`.
macro_rules! read {
    ($store:expr, $client:ident => $body:expr) => {{
        let store: &$crate::PgStore = $store;
        let mut attempt = 0u32;
        loop {
            let result: Result<_, $crate::txn::Fail> = async {
                store.ready().await?;
                let client = store.pool.get().await?;
                let $client = &client;
                $body
            }
            .await;
            match result {
                Err(e) if e.retryable() && attempt < $crate::txn::MAX_RETRIES => attempt += 1,
                other => break other.map_err($crate::txn::Fail::into_store),
            }
        }
    }};
}

pub(crate) use {read, txn};

/// Query parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

/// Runs a statement (prepared once per connection) and returns its rows.
pub(crate) async fn query<C: deadpool_postgres::GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<tokio_postgres::Row>, Fail> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

/// Runs a statement that returns at most one row.
pub(crate) async fn query_opt<C: deadpool_postgres::GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<tokio_postgres::Row>, Fail> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

/// Runs a statement that returns exactly one row.
pub(crate) async fn query_one<C: deadpool_postgres::GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<tokio_postgres::Row, Fail> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_one(&statement, params).await?)
}

/// Runs a statement; returns how many rows it changed.
pub(crate) async fn execute<C: deadpool_postgres::GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, Fail> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

/// A new id from the store-wide sequence.
pub(crate) async fn next_id<C: deadpool_postgres::GenericClient>(c: &C) -> Result<u64, Fail> {
    Ok(u(query_one(c, "SELECT nextval('ids')", &[]).await?.get(0)))
}

/// The key of the 1:1 conversation of `a` and `b`.
pub(crate) fn direct(a: u64, b: u64) -> (i64, i64) {
    (i(a.min(b)), i(a.max(b)))
}

/// The key of a room's conversation.
pub(crate) fn room(room: u64) -> (i64, i64) {
    (i(room), 0)
}
