//! Groups and memberships on SQL.

use async_trait::async_trait;
use chat_proto::Role;
use sqlx::Row;

use super::SqlStore;
use super::dialect::{LastId, on, role_from, role_to, sql_id};
use super::rows::{group_from_row, user_from_row};
use crate::store::{GroupRow, GroupStore, Join, Result, UserRow};

#[async_trait]
impl GroupStore for SqlStore {
    async fn create_group(&self, creator: u64, name: &str, desc: &str, now_ms: u64) -> Result<u64> {
        on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            let r = sqlx::query(q::INSERT_GROUP)
                .bind(name)
                .bind(desc)
                .bind(sql_id(creator))
                .bind(now_ms as i64)
                .execute(&mut *tx)
                .await?;
            let id = r.last_id();
            sqlx::query(q::INSERT_MEMBER)
                .bind(sql_id(id))
                .bind(sql_id(creator))
                .bind(role_to(Role::Creator))
                .bind(now_ms as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    async fn group(&self, id: u64) -> Result<Option<GroupRow>> {
        on!(self, read, |p, q| {
            let row = sqlx::query(q::GROUP)
                .bind(sql_id(id))
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some(group_from_row(&r)?),
                None => None,
            })
        })
    }

    async fn join_group(&self, group: u64, user: u64, now_ms: u64) -> Result<Join> {
        on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            let Some(r) = sqlx::query(q::GROUP_FOR_JOIN)
                .bind(sql_id(group))
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(Join::NoSuchGroup);
            };
            let row = group_from_row(&r)?;
            let done = sqlx::query(q::INSERT_MEMBER_IGNORE)
                .bind(sql_id(group))
                .bind(sql_id(user))
                .bind(role_to(Role::Member))
                .bind(now_ms as i64)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(Join::AlreadyMember);
            }
            tx.commit().await?;
            Ok(Join::Joined(row))
        })
    }

    async fn role(&self, group: u64, user: u64) -> Result<Option<Role>> {
        on!(self, read, |p, q| {
            let v: Option<i64> = sqlx::query_scalar(q::ROLE)
                .bind(sql_id(group))
                .bind(sql_id(user))
                .fetch_optional(p)
                .await?;
            Ok(v.map(role_from))
        })
    }

    async fn leave_group(&self, group: u64, user: u64) -> Result<bool> {
        on!(self, write, |p, q| {
            let r = sqlx::query(q::DELETE_MEMBER)
                .bind(sql_id(group))
                .bind(sql_id(user))
                .execute(p)
                .await?;
            Ok(r.rows_affected() > 0)
        })
    }

    async fn delete_group(&self, group: u64) -> Result<Vec<u64>> {
        on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            let ids: Vec<i64> = sqlx::query_scalar(q::MEMBER_IDS)
                .bind(sql_id(group))
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query(q::DELETE_MEMBERS)
                .bind(sql_id(group))
                .execute(&mut *tx)
                .await?;
            sqlx::query(q::DELETE_GROUP)
                .bind(sql_id(group))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(ids.into_iter().map(|v| v as u64).collect())
        })
    }

    async fn members(&self, group: u64) -> Result<Vec<(UserRow, Role)>> {
        on!(self, read, |p, q| {
            let rows = sqlx::query(q::MEMBERS)
                .bind(sql_id(group))
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| Ok((user_from_row(r)?, role_from(r.try_get::<i64, _>(2)?))))
                .collect()
        })
    }

    async fn member_ids(&self, group: u64) -> Result<Vec<u64>> {
        on!(self, read, |p, q| {
            let ids: Vec<i64> = sqlx::query_scalar(q::MEMBER_IDS)
                .bind(sql_id(group))
                .fetch_all(p)
                .await?;
            Ok(ids.into_iter().map(|v| v as u64).collect())
        })
    }
}
