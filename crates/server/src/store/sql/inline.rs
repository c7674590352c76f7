//! Short SQLite reads run right on the calling thread.
//!
//! sqlx runs each SQLite connection on a thread of its own, so every query
//! is two thread hand-offs; on a login storm most of the server's time went
//! into those switches, not into SQLite. The reads a login makes (a token,
//! a snapshot of the user's lists) are a few index lookups in pages that are
//! almost always cached, so they run here instead, on a read-only
//! connection private to the calling thread. WAL mode lets them run beside
//! the writer without waiting. Any error falls back to the sqlx path, so
//! this is purely a fast path.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::queries::common;
use super::rows::SnapshotRow;
use crate::store::{Snapshot, UserRow};
use chat_proto::Msg;

thread_local! {
    /// One read-only connection per database file per thread.
    static CONNS: RefCell<HashMap<String, Connection>> = RefCell::new(HashMap::new());
}

/// A message found by its `cid`, and who has not acked it yet.
pub type SentWithCid = (Msg, Vec<u64>);

/// Inline reads of one SQLite file.
#[derive(Debug, Clone)]
pub struct InlineReads {
    path: String,
}

impl InlineReads {
    pub fn new(path: &str) -> InlineReads {
        InlineReads {
            path: path.to_owned(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        CONNS.with(|conns| {
            let mut conns = conns.borrow_mut();
            if !conns.contains_key(&self.path) {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                // Readers never wait for the writer in WAL mode; this only
                // covers the rare moment the WAL index is being rebuilt.
                conn.busy_timeout(Duration::from_millis(50))?;
                conns.insert(self.path.clone(), conn);
            }
            // Present: inserted just above when missing.
            let conn = conns.get(&self.path).ok_or(rusqlite::Error::InvalidQuery)?;
            let result = f(conn);
            if result.is_err() {
                // Start afresh next time (the file may have been replaced).
                conns.remove(&self.path);
            }
            result
        })
    }

    /// The user a live token belongs to.
    pub fn token_user(&self, hash: &[u8], now_ms: u64) -> rusqlite::Result<Option<UserRow>> {
        self.with(|c| {
            c.prepare_cached(common::TOKEN_USER)?
                .query_row(params![hash, now_ms as i64], |r| {
                    Ok(UserRow {
                        id: r.get::<_, i64>(0)? as u64,
                        name: r.get(1)?,
                    })
                })
                .optional()
        })
    }

    /// Friends, groups and inbox mark, as [`AccountStore::snapshot`](crate::store::AccountStore::snapshot).
    pub fn snapshot(&self, user: i64) -> rusqlite::Result<Snapshot> {
        self.with(|c| self.snapshot_on(c, user))
    }

    fn snapshot_on(&self, c: &Connection, user: i64) -> rusqlite::Result<Snapshot> {
        let mut stmt = c.prepare_cached(common::SNAPSHOT)?;
        let rows = stmt
            .query_map(
                params![user, user, user, user, user, user, user, user],
                |r| {
                    Ok(SnapshotRow {
                        kind: r.get(0)?,
                        id: r.get(1)?,
                        name: r.get(2)?,
                        descr: r.get(3)?,
                        num: r.get(4)?,
                        num2: r.get(5)?,
                        num3: r.get(6)?,
                        name2: r.get(7)?,
                    })
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(SnapshotRow::decode(rows))
    }

    /// For each `(from, cid)`, the message sent with it and who has not
    /// acked it yet; all read in one transaction, so a writer batch's
    /// probes share one read lock instead of taking one each.
    pub fn msgs_by_cid(&self, keys: &[(u64, &str)]) -> rusqlite::Result<Vec<Option<SentWithCid>>> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let mut by_cid = tx.prepare_cached(common::MSG_BY_CID)?;
            let mut holders = tx.prepare_cached(common::INBOX_HOLDERS)?;
            let mut found = Vec::with_capacity(keys.len());
            for &(from, cid) in keys {
                let Some(m) = by_cid
                    .query_row(params![from as i64, cid], msg_from)
                    .optional()?
                else {
                    found.push(None);
                    continue;
                };
                let ids = holders
                    .query_map(params![m.id as i64], |r| r.get::<_, i64>(0))?
                    .map(|r| r.map(|v| v as u64))
                    .collect::<rusqlite::Result<Vec<u64>>>()?;
                found.push(Some((m, ids)));
            }
            drop((by_cid, holders));
            tx.commit()?;
            Ok(found)
        })
    }

    /// A group's members.
    pub fn member_ids(&self, group: u64) -> rusqlite::Result<Vec<u64>> {
        self.ids(common::MEMBER_IDS, &[group as i64])
    }

    /// The snapshot and `user`'s inbox entries in `range`, read in one
    /// transaction (one moment of the database).
    pub fn snapshot_and_between(
        &self,
        user: u64,
        range: (u64, u64),
    ) -> rusqlite::Result<(Snapshot, Vec<u64>)> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let snap = self.snapshot_on(&tx, user as i64)?;
            let mut stmt = tx.prepare_cached(common::INBOX_BETWEEN)?;
            let (lo, hi) = (range.0.min(i64::MAX as u64), range.1.min(i64::MAX as u64));
            let ids = stmt
                .query_map(params![user as i64, lo as i64, hi as i64], |r| {
                    r.get::<_, i64>(0)
                })?
                .map(|r| r.map(|v| v as u64))
                .collect::<rusqlite::Result<Vec<u64>>>()?;
            drop(stmt);
            // The highest entry below the range (the mark's `upto` when
            // the tail acked every entry from `lo` on).
            let below: Option<i64> = tx.query_row(
                "SELECT MAX(msg_id) FROM inbox WHERE user_id = ? AND msg_id < ?",
                params![user as i64, lo as i64],
                |r| r.get(0),
            )?;
            tx.commit()?;
            let mut ids = ids;
            if let Some(b) = below {
                ids.push(b as u64);
            }
            Ok((snap, ids))
        })
    }

    pub fn are_friends(&self, a: u64, b: u64) -> rusqlite::Result<bool> {
        Ok(!self
            .ids(common::ARE_FRIENDS, &[a as i64, b as i64])?
            .is_empty())
    }

    pub fn is_member(&self, group: u64, user: u64) -> rusqlite::Result<bool> {
        Ok(!self
            .ids(common::ROLE, &[group as i64, user as i64])?
            .is_empty())
    }

    /// The first column of every row, as ids.
    fn ids(&self, sql: &str, args: &[i64]) -> rusqlite::Result<Vec<u64>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, i64>(0))?;
            rows.map(|r| r.map(|v| v as u64)).collect()
        })
    }
}

fn msg_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Msg> {
    Ok(Msg {
        id: r.get::<_, i64>(0)? as u64,
        from: r.get::<_, i64>(1)? as u64,
        to: r.get::<_, Option<i64>>(2)?.map(|v| v as u64),
        group: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
        text: r.get(4)?,
        cid: r.get(5)?,
        ts: r.get::<_, i64>(6)? as u64,
    })
}
