//! Accounts, tokens and the login snapshot on SQL.

use async_trait::async_trait;
use sqlx::Row;

use super::SqlStore;
use super::dialect::{LastId, on, retrying, role_from, sql_before, sql_id};
use super::rows::{SnapshotRow, user_from_row};
use crate::store::{AccountStore, DeletedAccount, GroupExit, GroupFate, Result, Snapshot, UserRow};

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_user(&self, name: &str, pw_hash: &str, now_ms: u64) -> Result<u64> {
        retrying!(on!(self, write, |p, q| {
            let r = sqlx::query(q::INSERT_USER)
                .bind(name)
                .bind(pw_hash)
                .bind(now_ms as i64)
                .execute(p)
                .await?;
            Ok(r.last_id())
        }))
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

    async fn set_password(&self, user: u64, pw_hash: &str) -> Result<()> {
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            sqlx::query(q::SET_PASSWORD)
                .bind(pw_hash)
                .bind(sql_id(user))
                .execute(&mut *tx)
                .await?;
            sqlx::query(q::DELETE_TOKENS)
                .bind(sql_id(user))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }))
    }

    async fn delete_tokens(&self, user: u64) -> Result<()> {
        retrying!(on!(self, write, |p, q| {
            sqlx::query(q::DELETE_TOKENS)
                .bind(sql_id(user))
                .execute(p)
                .await?;
            Ok(())
        }))
    }

    async fn insert_token(&self, hash: &[u8], user: u64, expires_ms: u64) -> Result<()> {
        retrying!(on!(self, write, |p, q| {
            sqlx::query(q::INSERT_TOKEN)
                .bind(hash)
                .bind(sql_id(user))
                .bind(expires_ms as i64)
                .execute(p)
                .await?;
            Ok(())
        }))
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
        retrying!(on!(self, write, |p, q| {
            sqlx::query(q::DELETE_TOKEN).bind(hash).execute(p).await?;
            Ok(())
        }))
    }

    async fn purge_tokens(&self, now_ms: u64) -> Result<u64> {
        retrying!(on!(self, write, |p, q| {
            let r = sqlx::query(q::PURGE_TOKENS)
                .bind(now_ms as i64)
                .execute(p)
                .await?;
            Ok(r.rows_affected())
        }))
    }

    async fn snapshot(&self, user: u64) -> Result<Snapshot> {
        let Some(j) = &self.journal else {
            return self.snapshot_sql(user).await;
        };
        // The inbox mark merges the log's tail (looked at first) with the
        // table: the tail's entries, less its acks of the table's rows.
        let view = j.inbox_view(user);
        let Some(range) = view.range() else {
            return self.snapshot_sql(user).await;
        };
        // SQLite's mark and its entries in the tail's range must come from
        // one moment of the database (the applier may commit between).
        if let Some(inline) = &self.inline {
            match inline.snapshot_and_between(user, range) {
                Ok((mut snap, in_sql)) => {
                    snap.inbox = view.adjust(snap.inbox, &in_sql);
                    return Ok(snap);
                }
                Err(e) => tracing::debug!(error = %e, "inline read failed; using the pool"),
            }
        }
        let mut snap = self.snapshot_sql(user).await?;
        let in_sql = self.inbox_between_sql(user, range.0, range.1).await?;
        // (Not one transaction: the count may be off by what the applier
        // committed between the two reads; only when inline reads fail.)
        snap.inbox = view.adjust(snap.inbox, &in_sql);
        Ok(snap)
    }

    async fn delete_account(&self, user: u64, now_ms: u64) -> Result<Option<DeletedAccount>> {
        let deleted = self.delete_account_sql(user, now_ms).await?;
        if deleted.is_some()
            && let Some(j) = &self.journal
        {
            j.purge(user);
        }
        Ok(deleted)
    }
}

impl SqlStore {
    /// `user`'s inbox entries with ids in `[lo, hi]`, through the pool.
    async fn inbox_between_sql(&self, user: u64, lo: u64, hi: u64) -> Result<Vec<u64>> {
        on!(self, read, |p, q| {
            let v: Vec<i64> = sqlx::query_scalar(q::INBOX_BETWEEN)
                .bind(sql_id(user))
                .bind(sql_id(lo))
                .bind(sql_before(Some(hi)))
                .fetch_all(p)
                .await?;
            Ok(v.into_iter().map(|x| x as u64).collect())
        })
    }

    /// The login snapshot through the pool.
    async fn snapshot_sql(&self, user: u64) -> Result<Snapshot> {
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
                .bind(sql_id(user))
                .bind(sql_id(user))
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
                        num3: r.try_get(6)?,
                        name2: r.try_get(7)?,
                    })
                })
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
            Ok(SnapshotRow::decode(rows))
        })
    }

    async fn delete_account_sql(&self, user: u64, now_ms: u64) -> Result<Option<DeletedAccount>> {
        let me = sql_id(user);
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            let live = sqlx::query(q::LOCK_USER)
                .bind(me)
                .fetch_optional(&mut *tx)
                .await?;
            if live.is_none() {
                return Ok(None);
            }
            let ids = |v: Vec<i64>| v.into_iter().map(|x| x as u64).collect::<Vec<u64>>();
            let friends: Vec<i64> = sqlx::query_scalar(q::FRIEND_IDS)
                .bind(me)
                .fetch_all(&mut *tx)
                .await?;
            let requested: Vec<i64> = sqlx::query_scalar(q::VISIBLE_REQUESTS_FROM)
                .bind(me)
                .fetch_all(&mut *tx)
                .await?;
            for sql in [
                q::DELETE_FRIENDSHIPS_OF,
                q::DELETE_REQUESTS_OF,
                q::DELETE_INVITES_OF,
                q::DELETE_BLOCKS_OF,
            ] {
                sqlx::query(sql).bind(me).bind(me).execute(&mut *tx).await?;
            }
            let memberships = sqlx::query(q::MEMBERSHIPS_OF)
                .bind(me)
                .fetch_all(&mut *tx)
                .await?;
            let mut groups = Vec::with_capacity(memberships.len());
            for m in &memberships {
                let g: i64 = m.try_get(0)?;
                let created = role_from(m.try_get(1)?) == chat_proto::Role::Creator;
                let fate = if !created {
                    GroupFate::Left
                } else {
                    let next: Option<i64> = sqlx::query_scalar(q::SUCCESSOR)
                        .bind(g)
                        .bind(me)
                        .fetch_optional(&mut *tx)
                        .await?;
                    match next {
                        Some(n) => {
                            sqlx::query(q::SET_ROLE)
                                .bind(super::dialect::role_to(chat_proto::Role::Creator))
                                .bind(g)
                                .bind(n)
                                .execute(&mut *tx)
                                .await?;
                            sqlx::query(q::SET_CREATOR)
                                .bind(n)
                                .bind(g)
                                .execute(&mut *tx)
                                .await?;
                            GroupFate::PassedTo(n as u64)
                        }
                        None => {
                            for sql in [q::DELETE_INVITES_OF_GROUP, q::DELETE_GROUP] {
                                sqlx::query(sql).bind(g).execute(&mut *tx).await?;
                            }
                            GroupFate::Deleted
                        }
                    }
                };
                sqlx::query(q::DELETE_MEMBER)
                    .bind(g)
                    .bind(me)
                    .execute(&mut *tx)
                    .await?;
                let members: Vec<i64> = sqlx::query_scalar(q::MEMBER_IDS)
                    .bind(g)
                    .fetch_all(&mut *tx)
                    .await?;
                groups.push(GroupExit {
                    group: g as u64,
                    members: ids(members),
                    fate,
                });
            }
            for sql in [q::DELETE_INBOX_OF, q::DELETE_TOKENS] {
                sqlx::query(sql).bind(me).execute(&mut *tx).await?;
            }
            sqlx::query(q::MARK_DELETED)
                .bind(now_ms as i64)
                .bind(me)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(DeletedAccount {
                friends: ids(friends),
                requested: ids(requested),
                groups,
            }))
        }))
    }
}
