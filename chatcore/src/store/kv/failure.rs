//! The store's failed state ([`Failure`]): set once, by the writer thread or the
//! outcome of a checkpoint, when what is on disk is no longer known (a failed
//! log append, commit or checkpoint, a panic on the writer thread); read by
//! [`Store::health`](crate::store::Store::health). From then on every write is
//! refused with [`StoreError::Failed`] until the store is reopened, which
//! replays the log.

use std::sync::{Arc, OnceLock};

use crate::store::StoreError;

/// A store's failure, if it failed; clones share it.
#[derive(Clone, Default)]
pub(super) struct Failure(Arc<OnceLock<StoreError>>);

impl Failure {
    /// Fails the store because of `cause` (the first cause stays), and returns
    /// the error every write gets from now on.
    pub(super) fn fail(&self, cause: StoreError) -> StoreError {
        let failed = StoreError::Failed(Box::new(cause));
        if self.0.set(failed.clone()).is_ok() {
            tracing::error!(error = %failed, "the store refuses writes until it is reopened");
        }
        self.get().unwrap_or(failed)
    }

    /// The error writes are refused with, once the store failed.
    pub(super) fn get(&self) -> Option<StoreError> {
        self.0.get().cloned()
    }
}

/// Fails the store if the thread that holds it unwinds (the writer, whose
/// callers would otherwise see only [`StoreError::Closed`]).
pub(super) struct FailOnPanic<'a>(pub(super) &'a Failure);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail(StoreError::backend(std::io::Error::other(
                "the store's writer thread panicked",
            )));
        }
    }
}
