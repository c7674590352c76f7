//! Node slots on SQL: leases in the `node_slots` table.

use async_trait::async_trait;

use super::SqlStore;
use super::dialect::{on, retrying};
use crate::store::{Result, SlotStore};

#[async_trait]
impl SlotStore for SqlStore {
    async fn claim_slot(&self, owner: &str, now_ms: u64, lease_ms: u64) -> Result<Option<u16>> {
        retrying!(on!(self, write, |p, q| {
            for slot in 0..crate::ids::MAX_NODES {
                let r = sqlx::query(q::CLAIM_SLOT)
                    .bind(owner)
                    .bind((now_ms + lease_ms) as i64)
                    .bind(slot as i64)
                    .bind(now_ms as i64)
                    .bind(owner)
                    .execute(p)
                    .await?;
                if r.rows_affected() == 1 {
                    return Ok(Some(slot));
                }
            }
            Ok(None)
        }))
    }

    async fn renew_slot(&self, slot: u16, owner: &str, now_ms: u64, lease_ms: u64) -> Result<bool> {
        retrying!(on!(self, write, |p, q| {
            let r = sqlx::query(q::RENEW_SLOT)
                .bind((now_ms + lease_ms) as i64)
                .bind(slot as i64)
                .bind(owner)
                .execute(p)
                .await?;
            Ok(r.rows_affected() == 1)
        }))
    }

    async fn release_slot(&self, slot: u16, owner: &str) -> Result<()> {
        retrying!(on!(self, write, |p, q| {
            sqlx::query(q::RELEASE_SLOT)
                .bind(slot as i64)
                .bind(owner)
                .execute(p)
                .await?;
            Ok(())
        }))
    }
}
