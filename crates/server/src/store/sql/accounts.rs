//! Accounts, tokens and the login snapshot on SQL.

use async_trait::async_trait;
use sqlx::Row;

use super::SqlStore;
use super::dialect::{LastId, on, sql_id};
use super::rows::{SnapshotRow, user_from_row};
use crate::store::{AccountStore, Result, Snapshot, UserRow};

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_user(&self, name: &str, pw_hash: &str, now_ms: u64) -> Result<u64> {
        on!(self, write, |p, q| {
            let r = sqlx::query(q::INSERT_USER)
                .bind(name)
                .bind(pw_hash)
                .bind(now_ms as i64)
                .execute(p)
                .await?;
            Ok(r.last_id())
        })
    }

    async fn user(&self, id: u64) -> Result<Option<UserRow>> {
        on!(self, read, |p, q| {
            let row = sqlx::query(q::USER)
                .bind(sql_id(id))
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some(user_from_row(&r)?),
                None => None,
            })
        })
    }

    async fn user_secret(&self, id: u64) -> Result<Option<(UserRow, String)>> {
        on!(self, read, |p, q| {
            let row = sqlx::query(q::USER_SECRET)
                .bind(sql_id(id))
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some((user_from_row(&r)?, r.try_get(2)?)),
                None => None,
            })
        })
    }

    async fn insert_token(&self, hash: &[u8], user: u64, expires_ms: u64) -> Result<()> {
        on!(self, write, |p, q| {
            sqlx::query(q::INSERT_TOKEN)
                .bind(hash)
                .bind(sql_id(user))
                .bind(expires_ms as i64)
                .execute(p)
                .await?;
            Ok(())
        })
    }

    async fn token_user(&self, hash: &[u8], now_ms: u64) -> Result<Option<UserRow>> {
        if let Some(inline) = &self.inline {
            match inline.token_user(hash, now_ms) {
                Ok(found) => return Ok(found),
                Err(e) => tracing::debug!(error = %e, "inline read failed; using the pool"),
            }
        }
        on!(self, read, |p, q| {
            let row = sqlx::query(q::TOKEN_USER)
                .bind(hash)
                .bind(now_ms as i64)
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some(user_from_row(&r)?),
                None => None,
            })
        })
    }

    async fn delete_token(&self, hash: &[u8]) -> Result<()> {
        on!(self, write, |p, q| {
            sqlx::query(q::DELETE_TOKEN).bind(hash).execute(p).await?;
            Ok(())
        })
    }

    async fn purge_tokens(&self, now_ms: u64) -> Result<u64> {
        on!(self, write, |p, q| {
            let r = sqlx::query(q::PURGE_TOKENS)
                .bind(now_ms as i64)
                .execute(p)
                .await?;
            Ok(r.rows_affected())
        })
    }

    async fn snapshot(&self, user: u64) -> Result<Snapshot> {
        if let Some(inline) = &self.inline {
            match inline.snapshot(sql_id(user)) {
                Ok(snap) => return Ok(snap),
                Err(e) => tracing::debug!(error = %e, "inline read failed; using the pool"),
            }
        }
        on!(self, read, |p, q| {
            let rows = sqlx::query(q::SNAPSHOT)
                .bind(sql_id(user))
                .bind(sql_id(user))
                .bind(sql_id(user))
                .fetch_all(p)
                .await?;
            let rows = rows
                .iter()
                .map(|r| {
                    Ok(SnapshotRow {
                        kind: r.try_get(0)?,
                        id: r.try_get(1)?,
                        name: r.try_get(2)?,
                        descr: r.try_get(3)?,
                        num: r.try_get(4)?,
                        num2: r.try_get(5)?,
                    })
                })
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
            Ok(SnapshotRow::decode(rows))
        })
    }
}
