//! Friendships, requests and blocks on SQL. A friendship is two rows, one
//! each way; a request is one row (from, to); a block is one row (who,
//! whom). Each operation is one transaction that first locks the pair's
//! two user rows (`LOCK_PAIR`), so the rules hold however requests race.

use async_trait::async_trait;

use super::SqlStore;
use super::dialect::{exec, exists, lock, on, retrying, sql_id};
use super::rows::user_from_row;
use crate::store::{AddFriend, Block, FriendStore, Result, UserRow};

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
        on!(self, read, |p, q| Ok(exists!(
            p,
            q::ARE_FRIENDS,
            sql_id(a),
            sql_id(b)
        )))
    }

    async fn add_friend(&self, a: u64, b: u64, now_ms: u64) -> Result<AddFriend> {
        let (a, b) = (sql_id(a), sql_id(b));
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            lock!(&mut *tx, q::LOCK_PAIR, a, b);
            let Some(row) = sqlx::query(q::USER)
                .bind(b)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(AddFriend::NoSuchUser);
            };
            let target = user_from_row(&row)?;
            if exists!(&mut *tx, q::ARE_FRIENDS, a, b) {
                return Ok(AddFriend::AlreadyFriends);
            }
            if exists!(&mut *tx, q::BLOCKS, a, b) {
                return Ok(AddFriend::YouBlock);
            }
            // A request of b to a is never hidden from a here: a does not
            // block b (checked above).
            if exists!(&mut *tx, q::REQUEST_EXISTS, b, a) {
                exec!(&mut *tx, q::INSERT_FRIENDSHIP, a, b, now_ms as i64);
                exec!(&mut *tx, q::INSERT_FRIENDSHIP, b, a, now_ms as i64);
                exec!(&mut *tx, q::DELETE_REQUESTS_BETWEEN, a, b, b, a);
                tx.commit().await?;
                return Ok(AddFriend::Accepted(target));
            }
            let new = exec!(&mut *tx, q::INSERT_REQUEST, a, b, now_ms as i64) == 1;
            let hidden = exists!(&mut *tx, q::BLOCKS, b, a);
            tx.commit().await?;
            Ok(AddFriend::Requested {
                target,
                new,
                hidden,
            })
        }))
    }

    async fn accept_friend(&self, a: u64, from: u64, now_ms: u64) -> Result<Option<UserRow>> {
        let (a, from) = (sql_id(a), sql_id(from));
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            lock!(&mut *tx, q::LOCK_PAIR, a, from);
            // A request from a user a blocks is hidden from a.
            if !exists!(&mut *tx, q::REQUEST_EXISTS, from, a)
                || exists!(&mut *tx, q::BLOCKS, a, from)
            {
                return Ok(None);
            }
            let Some(row) = sqlx::query(q::USER)
                .bind(from)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(None);
            };
            exec!(&mut *tx, q::INSERT_FRIENDSHIP, a, from, now_ms as i64);
            exec!(&mut *tx, q::INSERT_FRIENDSHIP, from, a, now_ms as i64);
            exec!(&mut *tx, q::DELETE_REQUESTS_BETWEEN, a, from, from, a);
            tx.commit().await?;
            Ok(Some(user_from_row(&row)?))
        }))
    }

    async fn decline_friend(&self, a: u64, from: u64) -> Result<bool> {
        let (a, from) = (sql_id(a), sql_id(from));
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            lock!(&mut *tx, q::LOCK_PAIR, a, from);
            if exists!(&mut *tx, q::BLOCKS, a, from) {
                return Ok(false);
            }
            let gone = exec!(&mut *tx, q::DELETE_REQUEST, from, a) > 0;
            tx.commit().await?;
            Ok(gone)
        }))
    }

    async fn cancel_friend(&self, a: u64, to: u64) -> Result<Option<bool>> {
        let (a, to) = (sql_id(a), sql_id(to));
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            lock!(&mut *tx, q::LOCK_PAIR, a, to);
            if exec!(&mut *tx, q::DELETE_REQUEST, a, to) == 0 {
                return Ok(None);
            }
            let hidden = exists!(&mut *tx, q::BLOCKS, to, a);
            tx.commit().await?;
            Ok(Some(hidden))
        }))
    }

    async fn remove_friend(&self, a: u64, b: u64) -> Result<bool> {
        let (a, b) = (sql_id(a), sql_id(b));
        retrying!(on!(self, write, |p, q| Ok(exec!(
            p,
            q::DELETE_FRIENDSHIP,
            a,
            b,
            b,
            a
        ) > 0)))
    }

    async fn block(&self, a: u64, b: u64, now_ms: u64) -> Result<Block> {
        let (a, b) = (sql_id(a), sql_id(b));
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            lock!(&mut *tx, q::LOCK_PAIR, a, b);
            if !exists!(&mut *tx, q::USER, b) {
                return Ok(Block::NoSuchUser);
            }
            exec!(&mut *tx, q::INSERT_BLOCK, a, b, now_ms as i64);
            let was_friend = exec!(&mut *tx, q::DELETE_FRIENDSHIP, a, b, b, a) > 0;
            exec!(&mut *tx, q::DELETE_REQUESTS_BETWEEN, a, b, b, a);
            exec!(&mut *tx, q::DELETE_INVITES_BY, a, b);
            tx.commit().await?;
            Ok(Block::Done { was_friend })
        }))
    }

    async fn unblock(&self, a: u64, b: u64) -> Result<()> {
        let (a, b) = (sql_id(a), sql_id(b));
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            lock!(&mut *tx, q::LOCK_PAIR, a, b);
            exec!(&mut *tx, q::DELETE_BLOCK, a, b);
            // Requests b made during the block were never seen by a.
            exec!(&mut *tx, q::DELETE_REQUEST, b, a);
            tx.commit().await?;
            Ok(())
        }))
    }

    async fn blocks(&self, a: u64, b: u64) -> Result<bool> {
        on!(self, read, |p, q| Ok(exists!(
            p,
            q::BLOCKS,
            sql_id(a),
            sql_id(b)
        )))
    }
}
