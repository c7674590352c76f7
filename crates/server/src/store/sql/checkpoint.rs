//! The SQLite WAL checkpointer: a background task that moves the WAL into
//! the database file beside the writer, so commits never pay for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::sqlite::SqlitePool;

/// How often the WAL is checkpointed (SQLite).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// A WAL longer than this many frames (pages) is restarted from its
/// beginning by the writer, between two batches. Without it, a writer that
/// never pauses would let the WAL grow without bound.
pub(super) const WAL_RESTART_FRAMES: i64 = 4_096;

/// Checkpoints the WAL beside the writer, never blocking it (PASSIVE),
/// until `stop`; then once fully (TRUNCATE) so a stopped node leaves a
/// compact database file.
pub(super) async fn checkpoint_loop(
    pool: SqlitePool,
    restart: Arc<AtomicBool>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        // (busy, frames in the WAL, frames copied to the database)
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await
        {
            Ok((_, frames, _)) if frames > WAL_RESTART_FRAMES => {
                restart.store(true, Ordering::Relaxed)
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checkpoint failed"),
        }
    }
    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
    {
        tracing::warn!(error = %e, "final checkpoint failed");
    }
    pool.close().await;
}
