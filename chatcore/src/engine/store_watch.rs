//! Watching the store from the server: its health (a failed store stops the
//! server, fail-stop) and the free space of its disk (below the watermark,
//! uploads are refused `StorageFull` so that the disk never fills up under the
//! log, while messages go on).
//!
//! Both are looked at once a second, off the async workers; the hot path reads
//! one atomic flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::ServerState;
use crate::store::{Store, StoreError, StoreHealth};

/// How often the store's health and free space are looked at.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Whether the store's disk is below the free-space watermark, as last probed.
#[derive(Debug, Default)]
pub(super) struct DiskSpace {
    low: AtomicBool,
}

impl DiskSpace {
    /// Whether large writes (uploads) are refused for want of disk space.
    pub(super) fn is_low(&self) -> bool {
        self.low.load(Ordering::Relaxed)
    }

    /// Probes the store's free space against `watermark` (0: never low).
    pub(super) async fn probe(&self, store: &Arc<dyn Store>, watermark: u64) {
        if watermark == 0 {
            return;
        }
        let store = Arc::clone(store);
        let free = tokio::task::spawn_blocking(move || store.free_space())
            .await
            .ok()
            .flatten();
        let low = free.is_some_and(|free| free < watermark);
        if self.low.swap(low, Ordering::Relaxed) != low {
            match low {
                true => tracing::warn!(
                    free,
                    watermark,
                    "free disk space is below the watermark; refusing uploads"
                ),
                false => tracing::info!(free, watermark, "free disk space is back; uploads resume"),
            }
        }
    }
}

/// Probes the store's free space every [`PROBE_EVERY`]; resolves with the
/// store's failure once it reports one.
pub(super) async fn until_store_fails(state: Arc<ServerState>) -> StoreError {
    let mut ticks = tokio::time::interval(PROBE_EVERY);
    loop {
        ticks.tick().await;
        if let StoreHealth::Failed(e) = state.store.health() {
            return e;
        }
        let watermark = state.config.min_free_disk;
        state.disk.probe(&state.store, watermark).await;
    }
}
