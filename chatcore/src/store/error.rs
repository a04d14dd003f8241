//! How storage fails ([`StoreError`]) and whether a store still accepts
//! writes ([`StoreHealth`]).

use std::sync::Arc;

#[cfg(doc)]
use crate::{protocol::ErrorCode, store::Store};

/// A failure of the storage itself (not a refusal: those are [`ErrorCode`]s).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database engine failed.
    #[error("storage backend error: {0}")]
    Backend(Arc<dyn std::error::Error + Send + Sync>),
    /// A stored record could not be decoded.
    #[error("corrupt record under key {key}: {reason}")]
    Corrupt {
        /// The key, printed.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The database was written by another format version.
    #[error("database format version {found} is not supported (this build reads {expected})")]
    VersionMismatch {
        /// Version found on disk.
        found: u32,
        /// Version this build writes.
        expected: u32,
    },
    /// The path does not hold a chatcore database.
    #[error("not a chatcore database: {0}")]
    NotADatabase(String),
    /// The store was closed.
    #[error("store is closed")]
    Closed,
    /// The storage could not be reached (a networked database down, a
    /// connection that broke): the call did nothing, or, for a write whose
    /// connection broke while it committed, its outcome is unknown (a retry
    /// with the same idempotency key is safe). Unlike [`StoreError::Failed`]
    /// this passes: a later call may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(Arc<dyn std::error::Error + Send + Sync>),
    /// The store refuses writes since an earlier failure (the cause), after
    /// which what is on disk is unknown; see [`Store::health`]. Reopening it
    /// (a restart) recovers.
    #[error("the store has failed and refuses writes: {0}")]
    Failed(Box<StoreError>),
}

/// Whether a store accepts writes ([`Store::health`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StoreHealth {
    /// It does.
    Healthy,
    /// It refuses every write since this failure ([`StoreError::Failed`]) until
    /// it is reopened.
    Failed(StoreError),
}

/// The bytes available to an unprivileged writer on the file system that
/// holds `path`, if the platform says (`statvfs` on Unix; `None` elsewhere or on
/// error). A syscall: call it off the async workers.
pub fn available_space(path: &std::path::Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(path).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Arc::new(e))
    }
}
