//! Watching the store from the server: its health (a failed store stops the
//! server, fail-stop) and the free space of its disk (below the watermark,
//! uploads are refused `StorageFull` so that the disk never fills up under the
//! log, while messages go on), both looked at once a second, off the async
//! workers (the hot path reads one atomic flag); and the sweep of expired
//! idempotency records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

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

/// Deletes expired idempotency records while the server runs: a few times per
/// retention period, a pass over every record, a bounded batch at a time (no
/// index by time: that would cost every send a write).
pub(super) async fn sweep_send_records(state: Arc<ServerState>, shutdown: CancellationToken) {
    const BATCH: usize = 10_000;
    let retention = state.config.send_record_retention;
    let mut every = tokio::time::interval((retention / 4).min(Duration::from_secs(600)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let before = super::conn::now_ms().saturating_sub(retention.as_millis() as u64);
        let (mut resume, mut expired) = (None, 0);
        loop {
            match state.store.expire_send_records(before, resume, BATCH).await {
                Ok(sweep) => {
                    expired += sweep.expired;
                    match sweep.next {
                        Some(next) => resume = Some(next),
                        None => break,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "expiring idempotency records failed");
                    break;
                }
            }
        }
        if expired > 0 {
            tracing::debug!(expired, "expired idempotency records");
        }
    }
}
