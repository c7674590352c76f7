//! Friendships on SQL: a friendship is two rows, one each way.

use async_trait::async_trait;

use super::SqlStore;
use super::dialect::{on, sql_id};
use super::rows::user_from_row;
use crate::store::{AddFriend, FriendStore, Result};

#[async_trait]
impl FriendStore for SqlStore {
    async fn friend_ids(&self, user: u64) -> Result<Vec<u64>> {
        on!(self, read, |p, q| {
            let ids: Vec<i64> = sqlx::query_scalar(q::FRIEND_IDS)
                .bind(sql_id(user))
                .fetch_all(p)
                .await?;
            Ok(ids.into_iter().map(|v| v as u64).collect())
        })
    }

    async fn are_friends(&self, a: u64, b: u64) -> Result<bool> {
        on!(self, read, |p, q| {
            let row = sqlx::query(q::ARE_FRIENDS)
                .bind(sql_id(a))
                .bind(sql_id(b))
                .fetch_optional(p)
                .await?;
            Ok(row.is_some())
        })
    }

    async fn add_friend(&self, a: u64, b: u64, now_ms: u64) -> Result<AddFriend> {
        on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            let Some(row) = sqlx::query(q::USER)
                .bind(sql_id(b))
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(AddFriend::NoSuchUser);
            };
            let friend = user_from_row(&row)?;
            let r = sqlx::query(q::INSERT_FRIENDSHIP)
                .bind(sql_id(a))
                .bind(sql_id(b))
                .bind(now_ms as i64)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 0 {
                return Ok(AddFriend::AlreadyFriends);
            }
            sqlx::query(q::INSERT_FRIENDSHIP)
                .bind(sql_id(b))
                .bind(sql_id(a))
                .bind(now_ms as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(AddFriend::Added(friend))
        })
    }

    async fn remove_friend(&self, a: u64, b: u64) -> Result<bool> {
        on!(self, write, |p, q| {
            let r = sqlx::query(q::DELETE_FRIENDSHIP)
                .bind(sql_id(a))
                .bind(sql_id(b))
                .bind(sql_id(b))
                .bind(sql_id(a))
                .execute(p)
                .await?;
            Ok(r.rows_affected() > 0)
        })
    }
}
