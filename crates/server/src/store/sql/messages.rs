//! Messages on SQL: history and the inbox (the writer's batches are in
//! [`super::batch`]). On SQLite each read merges the message log's tail
//! (read first) with the tables.

use async_trait::async_trait;
use chat_proto::Msg;

use super::SqlStore;
use super::dialect::{on, sql_before, sql_id};
use super::journal::merge;
use super::rows::msg_from_row;
use crate::store::{MessageStore, Result};

#[async_trait]
impl MessageStore for SqlStore {
    async fn max_message_id(&self) -> Result<u64> {
        let tail = self.journal.as_ref().map_or(0, |j| j.max_id());
        on!(self, read, |p, q| {
            let v: Option<i64> = sqlx::query_scalar(q::MAX_MESSAGE_ID).fetch_one(p).await?;
            Ok((v.unwrap_or(0) as u64).max(tail))
        })
    }

    async fn history_with(
        &self,
        a: u64,
        b: u64,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Msg>> {
        // The log's tail first, then the tables (see journal::tail).
        let tail = self
            .journal
            .as_ref()
            .map(|j| j.history_with(a, b, before.unwrap_or(u64::MAX), limit));
        let before = sql_before(before);
        let sql: Vec<Msg> = on!(self, read, |p, q| {
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
            rows.iter()
                .map(|r| Ok(msg_from_row(r)?))
                .collect::<Result<Vec<Msg>>>()
        })?;
        Ok(with_tail(tail, sql, true, limit))
    }

    async fn history_group(
        &self,
        group: u64,
        since: u64,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Msg>> {
        let tail = self
            .journal
            .as_ref()
            .map(|j| j.history_group(group, since, before.unwrap_or(u64::MAX), limit));
        let before = sql_before(before);
        let sql: Vec<Msg> = on!(self, read, |p, q| {
            let rows = sqlx::query(q::HISTORY_GROUP)
                .bind(sql_id(group))
                .bind(i64::try_from(since).unwrap_or(i64::MAX))
                .bind(before)
                .bind(limit as i64)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| Ok(msg_from_row(r)?))
                .collect::<Result<Vec<Msg>>>()
        })?;
        Ok(with_tail(tail, sql, true, limit))
    }

    async fn inbox_page(&self, user: u64, after: u64, upto: u64, limit: u32) -> Result<Vec<Msg>> {
        // The log's tail first: its entries, and its acks of the table's.
        let (tail, acked) = match &self.journal {
            Some(j) => {
                let (t, a) = j.inbox(user, after, upto, limit);
                (Some(t), a)
            }
            None => (None, Default::default()),
        };
        // Rows the tail acked are skipped: read that many more.
        let fetch = limit as i64 + acked.len() as i64;
        let sql: Vec<Msg> = on!(self, read, |p, q| {
            let rows = sqlx::query(q::INBOX_PAGE)
                .bind(sql_id(user))
                .bind(sql_id(after))
                .bind(sql_id(upto))
                .bind(fetch)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| Ok(msg_from_row(r)?))
                .filter(|m: &Result<Msg>| !matches!(m, Ok(m) if acked.contains(&m.id)))
                .collect::<Result<Vec<Msg>>>()
        })?;
        Ok(with_tail(tail, sql, false, limit))
    }
}

/// The rows read from the tables merged with what the log's tail had
/// (newest first when `desc`), `limit` at most; the rows alone without a
/// log (MySQL).
fn with_tail(tail: Option<Vec<Msg>>, sql: Vec<Msg>, desc: bool, limit: u32) -> Vec<Msg> {
    match tail {
        Some(t) => merge(t, sql, desc, limit as usize),
        None => sql,
    }
}
