//! Messages on SQL: history and the inbox (the writer's batches are in
//! [`super::batch`]).

use async_trait::async_trait;
use chat_proto::Msg;

use super::SqlStore;
use super::dialect::{on, sql_before, sql_id};
use super::rows::msg_from_row;
use crate::store::{MessageStore, Result};

#[async_trait]
impl MessageStore for SqlStore {
    async fn max_message_id(&self) -> Result<u64> {
        on!(self, read, |p, q| {
            let v: Option<i64> = sqlx::query_scalar(q::MAX_MESSAGE_ID).fetch_one(p).await?;
            Ok(v.unwrap_or(0) as u64)
        })
    }

    async fn history_with(
        &self,
        a: u64,
        b: u64,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Msg>> {
        let before = sql_before(before);
        on!(self, read, |p, q| {
            let rows = sqlx::query(q::HISTORY_WITH)
                .bind(sql_id(a))
                .bind(sql_id(b))
                .bind(before)
                .bind(limit as i64)
                .bind(sql_id(b))
                .bind(sql_id(a))
                .bind(before)
                .bind(limit as i64)
                .bind(limit as i64)
                .fetch_all(p)
                .await?;
            rows.iter().map(|r| Ok(msg_from_row(r)?)).collect()
        })
    }

    async fn history_group(
        &self,
        group: u64,
        since: u64,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Msg>> {
        let before = sql_before(before);
        on!(self, read, |p, q| {
            let rows = sqlx::query(q::HISTORY_GROUP)
                .bind(sql_id(group))
                .bind(i64::try_from(since).unwrap_or(i64::MAX))
                .bind(before)
                .bind(limit as i64)
                .fetch_all(p)
                .await?;
            rows.iter().map(|r| Ok(msg_from_row(r)?)).collect()
        })
    }

    async fn inbox_page(&self, user: u64, after: u64, upto: u64, limit: u32) -> Result<Vec<Msg>> {
        on!(self, read, |p, q| {
            let rows = sqlx::query(q::INBOX_PAGE)
                .bind(sql_id(user))
                .bind(sql_id(after))
                .bind(sql_id(upto))
                .bind(limit as i64)
                .fetch_all(p)
                .await?;
            rows.iter().map(|r| Ok(msg_from_row(r)?)).collect()
        })
    }
}
