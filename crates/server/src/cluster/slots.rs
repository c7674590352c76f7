//! This node's slot: a lease in the store that makes the message ids of
//! different live nodes distinct (see `ids.rs`), renewed in the background.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::ids::{IdGen, now_ms};
use crate::store::SlotStore;

/// How long a node slot lease lasts without renewal.
pub const SLOT_LEASE: Duration = Duration::from_secs(30);

/// Claims a node slot in the store, so message ids from different live
/// nodes never collide.
pub async fn claim_slot(store: &dyn SlotStore, owner: &str) -> anyhow::Result<u16> {
    match store
        .claim_slot(owner, now_ms(), SLOT_LEASE.as_millis() as u64)
        .await?
    {
        Some(slot) => Ok(slot),
        None => anyhow::bail!(
            "all {} node slots are taken: too many nodes share this database",
            crate::ids::MAX_NODES
        ),
    }
}

/// Renews the slot lease every few seconds. If the lease was lost (a long
/// database outage and another node took the slot), takes a new slot.
pub async fn keep_slot(
    store: Arc<dyn crate::store::Store>,
    ids: Arc<IdGen>,
    owner: String,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(SLOT_LEASE / 6);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let slot = ids.node();
        let lease = SLOT_LEASE.as_millis() as u64;
        match store.renew_slot(slot, &owner, now_ms(), lease).await {
            Ok(true) => {}
            Ok(false) => match store.claim_slot(&owner, now_ms(), lease).await {
                Ok(Some(new)) => {
                    tracing::warn!(
                        old = slot,
                        new,
                        "node slot lease was lost; moved to a new slot"
                    );
                    ids.set_node(new);
                }
                Ok(None) => tracing::error!("node slot lost and none free"),
                Err(e) => tracing::warn!(error = %e, "node slot claim failed"),
            },
            Err(e) => tracing::warn!(error = %e, "node slot renewal failed"),
        }
    }
    let _ = store.release_slot(ids.node(), &owner).await;
}
