//! The writer's batch. On SQLite, one record of the message log
//! ([`super::journal`]). On MySQL, one transaction: all new messages in a few
//! multi-row INSERTs (conflicting `cid`s are skipped, then resolved row by
//! row), all one-to-one inbox rows in a few more, group inbox rows by
//! membership, and acks as a few DELETEs.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::SqlStore;
use super::bulk::{self, chunks};
use super::dialect::{on, sql_id};
use super::rows::msg_from_row;
use crate::store::{
    BatchStore, NewMsg, Redeliver, Refusal, Result, StoreError, Stored, Target, WriteOp,
    WriteOutcome,
};

#[async_trait]
impl BatchStore for SqlStore {
    /// Applies one batch in one transaction, with multi-row statements:
    /// all new messages in a few INSERTs (conflicting `cid`s are skipped
    /// and resolved row by row), all one-to-one inbox rows in a few more,
    /// and acks as one DELETE per user and chunk of ids.
    async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>> {
        if let Some(j) = &self.journal {
            // SQLite: one record appended to the message log and fsynced.
            j.room().await;
            let (j, ops, verify) = (j.clone(), ops.to_vec(), self.verify_at_commit);
            return tokio::task::spawn_blocking(move || j.commit(&ops, verify))
                .await
                .map_err(|e| StoreError::Internal(format!("the log writer failed: {e}")))?;
        }
        // In a cluster, the rule the node checked from its cache may have
        // changed on another node a moment ago: the database has the last
        // word. It is asked on a connection of its own while the batch's
        // transaction runs (a round trip beside the inserts, not one more
        // before them); when it refuses anything, the transaction is
        // rolled back and the batch runs again without those messages.
        let mut refused = HashMap::new();
        loop {
            let verify = self.verify_at_commit && refused.is_empty();
            match self.write_rows(ops, &refused, verify).await? {
                Ok(out) => return Ok(out),
                Err(r) => refused = r,
            }
        }
    }

    async fn resolve(&self, ops: &[WriteOp]) -> Result<Option<Vec<WriteOutcome>>> {
        let msgs: Vec<&NewMsg> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Msg(m) => Some(m),
                WriteOp::Ack { .. } => None,
            })
            .collect();
        // With the message log, a committed batch may not be in the
        // tables yet: the log's tail answers first.
        let tail = self.journal.as_deref();
        let in_tail = |id: u64| tail.and_then(|j| j.holders(id));
        on!(self, write, |p, q| {
            // The batch is one transaction: if any of its new messages is
            // stored, all of it is. (A batch whose messages were all
            // retries or refusals changed nothing that running it again
            // would change differently.)
            let mut stored = false;
            for m in &msgs {
                if in_tail(m.id).is_some() {
                    stored = true;
                    break;
                }
                if sqlx::query(q::MSG_EXISTS)
                    .bind(sql_id(m.id))
                    .fetch_optional(p)
                    .await?
                    .is_some()
                {
                    stored = true;
                    break;
                }
            }
            if !stored {
                return Ok(None);
            }
            let mut out = Vec::with_capacity(ops.len());
            for op in ops {
                let WriteOp::Msg(m) = op else {
                    out.push(WriteOutcome::Acked);
                    continue;
                };
                if let Some(holders) = in_tail(m.id) {
                    out.push(WriteOutcome::Msg(Stored::New {
                        recipients: holders,
                    }));
                    continue;
                }
                let ours = sqlx::query(q::MSG_EXISTS)
                    .bind(sql_id(m.id))
                    .fetch_optional(p)
                    .await?
                    .is_some();
                if ours {
                    let holders: Vec<i64> = sqlx::query_scalar(q::INBOX_HOLDERS)
                        .bind(sql_id(m.id))
                        .fetch_all(p)
                        .await?;
                    out.push(WriteOutcome::Msg(Stored::New {
                        recipients: holders.into_iter().map(|v| v as u64).collect(),
                    }));
                    continue;
                }
                if let Some((id, ts)) = m
                    .cid
                    .as_deref()
                    .and_then(|cid| tail?.sent_with_cid(m.from, cid))
                {
                    out.push(WriteOutcome::Msg(Stored::Duplicate {
                        id,
                        ts,
                        again: None,
                    }));
                    continue;
                }
                let first = match m.cid.as_deref() {
                    Some(cid) => {
                        sqlx::query(q::MSG_BY_CID)
                            .bind(sql_id(m.from))
                            .bind(cid)
                            .fetch_optional(p)
                            .await?
                    }
                    None => None,
                };
                out.push(WriteOutcome::Msg(match first {
                    Some(row) => {
                        let first = msg_from_row(&row)?;
                        Stored::Duplicate {
                            id: first.id,
                            ts: first.ts,
                            again: None,
                        }
                    }
                    // Neither stored nor a retry: refused at commit.
                    None => Stored::Refused(match m.target {
                        Target::User(_) => Refusal::NotFriend,
                        Target::Group(_) => Refusal::NotMember,
                    }),
                }));
            }
            Ok(Some(out))
        })
    }
}

/// What the rule check at commit refused: by index in the batch.
type Refused = HashMap<usize, Refusal>;

impl SqlStore {
    /// One attempt at a batch in one transaction, with multi-row
    /// statements. The messages in `refused` are answered so and not
    /// stored; with `verify`, the rules are checked beside the
    /// transaction, and new refusals roll it back and come back as `Err`.
    async fn write_rows(
        &self,
        ops: &[WriteOp],
        refused: &Refused,
        verify: bool,
    ) -> Result<std::result::Result<Vec<WriteOutcome>, Refused>> {
        // Outcomes are filled in as they become known.
        let mut out: Vec<Option<WriteOutcome>> = vec![None; ops.len()];
        // Messages to insert, by index in `ops`.
        let mut fresh: Vec<usize> = Vec::new();
        // Retries of a (sender, cid) seen earlier in this batch: (index, index of the first).
        let mut retries: Vec<(usize, usize)> = Vec::new();
        let mut first_cid: std::collections::HashMap<(u64, &str), usize> =
            std::collections::HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                WriteOp::Msg(m) => match m.cid.as_deref() {
                    Some(cid) => match first_cid.get(&(m.from, cid)) {
                        Some(&first) => retries.push((i, first)),
                        None => {
                            first_cid.insert((m.from, cid), i);
                            fresh.push(i);
                        }
                    },
                    None => fresh.push(i),
                },
                WriteOp::Ack { .. } => out[i] = Some(WriteOutcome::Acked),
            }
        }
        fresh.retain(|i| match refused.get(i) {
            Some(why) => {
                out[*i] = Some(WriteOutcome::Msg(Stored::Refused(*why)));
                false
            }
            None => true,
        });
        let msg = |i: usize| match &ops[i] {
            WriteOp::Msg(m) => m,
            // `fresh` holds only indexes of messages.
            WriteOp::Ack { .. } => unreachable!("fresh holds messages only"),
        };
        // Each pair asked once, however many messages it has here (a busy
        // conversation has many in one batch).
        let mut friends = BTreeSet::new();
        let mut members = BTreeSet::new();
        if verify {
            for &i in &fresh {
                let m = msg(i);
                match m.target {
                    Target::User(to) => friends.insert((m.from, to)),
                    Target::Group(g) => members.insert((g, m.from)),
                };
            }
        }
        let friends: Vec<(u64, u64)> = friends.into_iter().collect();
        let members: Vec<(u64, u64)> = members.into_iter().collect();
        let fresh_now = fresh.clone();
        let committed = on!(self, write, |p, q| {
            let check = async {
                let mut found = HashSet::new();
                let checks = [
                    (false, &friends, &bulk::FRIEND_PAIRS),
                    (true, &members, &bulk::MEMBER_PAIRS),
                ];
                for (group, pairs, table) in checks {
                    for run in bulk::padded(pairs, bulk::MAX_ACKS) {
                        let mut query = sqlx::query(AssertSqlSafe(bulk::pick(table, run.len())));
                        for &(x, y) in &run {
                            query = query.bind(sql_id(x)).bind(sql_id(y));
                        }
                        for row in query.fetch_all(p).await? {
                            let x: i64 = sqlx::Row::try_get(&row, 0)?;
                            let y: i64 = sqlx::Row::try_get(&row, 1)?;
                            found.insert((group, x as u64, y as u64));
                        }
                    }
                }
                Ok::<_, StoreError>(found)
            };
            let work = async {
                let mut tx = p.begin().await?;
                let mut inserted: Vec<usize> = Vec::with_capacity(fresh.len());
                for chunk in chunks(&fresh) {
                    let sql = q::insert_messages(chunk.len());
                    let mut query = sqlx::query(AssertSqlSafe(sql));
                    for &i in chunk {
                        let m = msg(i);
                        let (to, group) = match m.target {
                            Target::User(u) => (Some(sql_id(u)), None),
                            Target::Group(g) => (None, Some(sql_id(g))),
                        };
                        query = query
                            .bind(sql_id(m.id))
                            .bind(sql_id(m.from))
                            .bind(to)
                            .bind(group)
                            .bind(m.text.as_str())
                            .bind(m.cid.as_deref())
                            .bind(m.ts as i64);
                    }
                    let done = query.execute(&mut *tx).await?.rows_affected();
                    if done as usize == chunk.len() {
                        inserted.extend_from_slice(chunk);
                        continue;
                    }
                    // Some cid was sent before: find which rows went in.
                    for &i in chunk {
                        let m = msg(i);
                        let ours = sqlx::query(q::MSG_EXISTS)
                            .bind(sql_id(m.id))
                            .fetch_optional(&mut *tx)
                            .await?
                            .is_some();
                        if ours {
                            inserted.push(i);
                            continue;
                        }
                        let row = sqlx::query(q::MSG_BY_CID)
                            .bind(sql_id(m.from))
                            .bind(m.cid.as_deref())
                            .fetch_one(&mut *tx)
                            .await?;
                        let first = msg_from_row(&row)?;
                        let target = match (first.to, first.group) {
                            (_, Some(g)) => Target::Group(g),
                            (to, None) => Target::User(to.unwrap_or_default()),
                        };
                        // Again to those who have not acked it: the others
                        // have it for sure.
                        let holders: Vec<i64> = sqlx::query_scalar(q::INBOX_HOLDERS)
                            .bind(sql_id(first.id))
                            .fetch_all(&mut *tx)
                            .await?;
                        let recipients = holders.into_iter().map(|v| v as u64).collect();
                        out[i] = Some(WriteOutcome::Msg(Stored::Duplicate {
                            id: first.id,
                            ts: first.ts,
                            again: Some(Box::new(Redeliver {
                                msg: NewMsg {
                                    id: first.id,
                                    ts: first.ts,
                                    from: first.from,
                                    target,
                                    text: first.text,
                                    cid: first.cid,
                                },
                                recipients,
                            })),
                        }));
                    }
                }
                // Inbox rows: one-to-one in bulk, groups by membership.
                // Rows in key order, so that concurrent writers (other nodes)
                // lock them in the same order and rarely deadlock.
                let mut direct: Vec<usize> = inserted
                    .iter()
                    .copied()
                    .filter(|&i| matches!(msg(i).target, Target::User(_)))
                    .collect();
                direct.sort_by_key(|&i| match msg(i).target {
                    Target::User(u) => (u, msg(i).id),
                    Target::Group(_) => (0, 0),
                });
                for chunk in chunks(&direct) {
                    let mut query = sqlx::query(AssertSqlSafe(q::insert_inbox(chunk.len())));
                    for &i in chunk {
                        let m = msg(i);
                        if let Target::User(u) = m.target {
                            query = query.bind(sql_id(u)).bind(sql_id(m.id));
                            out[i] = Some(WriteOutcome::Msg(Stored::New {
                                recipients: vec![u],
                            }));
                        }
                    }
                    query.execute(&mut *tx).await?;
                }
                for &i in &inserted {
                    let m = msg(i);
                    let Target::Group(g) = m.target else { continue };
                    let ids: Vec<i64> = sqlx::query_scalar(q::MEMBER_IDS)
                        .bind(sql_id(g))
                        .fetch_all(&mut *tx)
                        .await?;
                    sqlx::query(q::INSERT_GROUP_INBOX)
                        .bind(sql_id(m.id))
                        .bind(sql_id(g))
                        .bind(sql_id(m.from))
                        .execute(&mut *tx)
                        .await?;
                    let recipients = ids
                        .into_iter()
                        .map(|v| v as u64)
                        .filter(|&u| u != m.from)
                        .collect();
                    out[i] = Some(WriteOutcome::Msg(Stored::New { recipients }));
                }
                let mut acked: Vec<(u64, u64)> = ops
                    .iter()
                    .filter_map(|op| match op {
                        WriteOp::Ack { user, ids } => Some(ids.iter().map(move |&id| (*user, id))),
                        WriteOp::Msg(_) => None,
                    })
                    .flatten()
                    .collect();
                acked.sort_unstable();
                for run in bulk::padded(&acked, bulk::MAX_ACKS) {
                    let mut query = sqlx::query(AssertSqlSafe(q::delete_inbox(run.len())));
                    for &(user, id) in &run {
                        query = query.bind(sql_id(user)).bind(sql_id(id));
                    }
                    query.execute(&mut *tx).await?;
                }
                Ok::<_, StoreError>(tx)
            };
            let (found, tx) = futures::join!(check, work);
            let (found, tx) = (found?, tx?);
            let refusals: Refused = if verify {
                fresh_now
                    .iter()
                    .filter_map(|&i| {
                        let m = msg(i);
                        match m.target {
                            Target::User(to) => (!found.contains(&(false, m.from, to)))
                                .then_some((i, Refusal::NotFriend)),
                            Target::Group(g) => (!found.contains(&(true, g, m.from)))
                                .then_some((i, Refusal::NotMember)),
                        }
                    })
                    .collect()
            } else {
                Refused::new()
            };
            if !refusals.is_empty() {
                tx.rollback().await?;
                return Ok(Err(refusals));
            }
            tx.commit().await.map_err(StoreError::at_commit)?;
            Ok::<(), StoreError>(())
        });
        committed?;
        // A retry inside the batch answers like its first: the original if
        // that one was new, or whatever the first resolved to.
        for (i, first) in retries {
            out[i] = Some(match &out[first] {
                Some(WriteOutcome::Msg(Stored::New { .. })) => {
                    let m = msg(first);
                    // Its first is being delivered with this batch.
                    WriteOutcome::Msg(Stored::Duplicate {
                        id: m.id,
                        ts: m.ts,
                        again: None,
                    })
                }
                other => other.clone().unwrap_or(WriteOutcome::Acked),
            });
        }
        out.into_iter()
            .map(|o| o.ok_or_else(|| StoreError::Internal("a batch op got no outcome".into())))
            .collect::<Result<Vec<_>>>()
            .map(Ok)
    }
}
