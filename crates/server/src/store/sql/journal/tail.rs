//! The log's tail in memory: what the log holds and SQLite does not yet.
//!
//! Two parts: the *active* one, which the writer adds each committed batch
//! to (the log segment being appended), and at most one *frozen* one,
//! which the applier is writing into SQLite (the previous segment). A
//! part's inbox holds the entries of its own messages still unacked; an
//! ack of an entry in the active part removes it there (it never reaches
//! SQLite), any other ack is kept in `acks`, to be applied to the older
//! data (the frozen part and SQLite).
//!
//! Every read looks at the tail *first*, then at SQLite, and merges by
//! message id. The applier removes a frozen part only after SQLite has
//! committed it, so whatever a read missed in SQLite it saw in memory;
//! seen twice, it counts once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chat_proto::Msg;

use super::record::Item;
use crate::store::{InboxMark, NewMsg, Target};

/// A message of the tail, with who got an inbox entry for it.
#[derive(Debug)]
pub struct Entry {
    pub msg: NewMsg,
    pub recipients: Vec<u64>,
}

/// The data of one log segment.
#[derive(Debug, Default)]
pub struct Part {
    /// The segment's number.
    pub seq: u64,
    pub msgs: HashMap<u64, Arc<Entry>>,
    /// One-to-one message ids by (sender, recipient), ascending.
    conv: HashMap<(u64, u64), Vec<u64>>,
    /// Group message ids by group, ascending.
    groups: HashMap<u64, Vec<u64>>,
    cids: HashMap<(u64, String), u64>,
    /// Unacked inbox entries of this part's messages, by user.
    pub inbox: HashMap<u64, BTreeSet<u64>>,
    /// Acks of entries older than this part, by user.
    pub acks: HashMap<u64, BTreeSet<u64>>,
    /// Users whose inbox was emptied (account deleted) while this part
    /// was active.
    pub purged: HashSet<u64>,
    pub max_id: u64,
    /// About how many bytes the segment has.
    pub bytes: usize,
}

fn insert_sorted(v: &mut Vec<u64>, id: u64) {
    match v.last() {
        Some(&last) if last > id => {
            if let Err(at) = v.binary_search(&id) {
                v.insert(at, id);
            }
        }
        _ => v.push(id),
    }
}

impl Part {
    pub fn new(seq: u64) -> Part {
        Part {
            seq,
            ..Part::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty() && self.acks.is_empty() && self.purged.is_empty()
    }

    /// Adds one committed record (`bytes` long in the log).
    pub fn apply(&mut self, items: Vec<Item>, bytes: usize) {
        self.bytes += bytes;
        for item in items {
            match item {
                Item::Msg { msg, recipients } => {
                    let id = msg.id;
                    self.max_id = self.max_id.max(id);
                    match msg.target {
                        Target::User(to) => {
                            insert_sorted(self.conv.entry((msg.from, to)).or_default(), id)
                        }
                        Target::Group(g) => insert_sorted(self.groups.entry(g).or_default(), id),
                    }
                    if let Some(cid) = &msg.cid {
                        self.cids.insert((msg.from, cid.clone()), id);
                    }
                    for &u in &recipients {
                        self.inbox.entry(u).or_default().insert(id);
                    }
                    self.msgs.insert(id, Arc::new(Entry { msg, recipients }));
                }
                Item::Ack { user, ids } => {
                    let mine = self.inbox.get_mut(&user);
                    let mut older = Vec::new();
                    match mine {
                        Some(set) => {
                            for id in ids {
                                if !set.remove(&id) {
                                    older.push(id);
                                }
                            }
                            if set.is_empty() {
                                self.inbox.remove(&user);
                            }
                        }
                        None => older = ids,
                    }
                    if !older.is_empty() {
                        self.acks.entry(user).or_default().extend(older);
                    }
                }
            }
        }
    }

    /// Forgets `user`'s inbox (account deleted).
    pub fn purge(&mut self, user: u64) {
        self.inbox.remove(&user);
        self.acks.remove(&user);
        self.purged.insert(user);
    }
}

/// Both parts, newest last.
#[derive(Debug)]
pub struct Tail {
    pub frozen: Option<Arc<Part>>,
    pub active: Part,
}

/// What the tail says of one user's inbox: its entries (message ids,
/// unacked) and the acks of older entries it holds.
#[derive(Debug, Default, Clone)]
pub struct InboxView {
    pub entries: BTreeSet<u64>,
    pub acked: HashSet<u64>,
    pub purged: bool,
}

impl InboxView {
    /// The ids SQLite must be asked about (`lo..=hi`), if any.
    pub fn range(&self) -> Option<(u64, u64)> {
        if self.purged {
            return None;
        }
        let ids = || self.entries.iter().chain(self.acked.iter()).copied();
        Some((ids().min()?, ids().max()?))
    }

    /// SQLite's mark corrected by the tail: `in_sql` are the table's
    /// entries in [`range`](Self::range). Entries seen in both count once.
    pub fn adjust(&self, sql: InboxMark, in_sql: &[u64]) -> InboxMark {
        let in_sql: HashSet<u64> = in_sql.iter().copied().collect();
        let gone = in_sql.iter().filter(|id| self.acked.contains(id)).count() as u64;
        let added = self
            .entries
            .iter()
            .filter(|id| !in_sql.contains(id))
            .count() as u64;
        // `in_sql` also holds the table's highest entry below the range:
        // the highest entry left is among these or the tail's.
        let sql_upto = if self.acked.contains(&sql.upto) {
            in_sql
                .iter()
                .copied()
                .filter(|id| !self.acked.contains(id))
                .max()
                .unwrap_or(0)
        } else {
            sql.upto
        };
        InboxMark {
            upto: sql_upto.max(self.entries.last().copied().unwrap_or(0)),
            count: (sql.count + added).saturating_sub(gone),
        }
    }
}

impl Tail {
    pub fn new(seq: u64) -> Tail {
        Tail {
            frozen: None,
            active: Part::new(seq),
        }
    }

    fn parts(&self) -> impl Iterator<Item = &Part> {
        self.frozen.as_deref().into_iter().chain([&self.active])
    }

    pub fn max_id(&self) -> u64 {
        self.parts().map(|p| p.max_id).max().unwrap_or(0)
    }

    pub fn entry(&self, id: u64) -> Option<Arc<Entry>> {
        self.parts().find_map(|p| p.msgs.get(&id).cloned())
    }

    /// The message `from` sent with this `cid`, if the tail has it.
    pub fn by_cid(&self, from: u64, cid: &str) -> Option<Arc<Entry>> {
        let key = (from, cid.to_owned());
        self.parts()
            .find_map(|p| p.cids.get(&key))
            .and_then(|&id| self.entry(id))
    }

    pub fn last_group_msg(&self, group: u64) -> Option<u64> {
        self.parts()
            .filter_map(|p| p.groups.get(&group)?.last().copied())
            .max()
    }

    /// `user`'s inbox as the tail sees it.
    pub fn inbox(&self, user: u64) -> InboxView {
        let mut v = InboxView::default();
        if self.active.purged.contains(&user) {
            v.purged = true;
        }
        if let Some(f) = &self.frozen {
            v.purged |= f.purged.contains(&user);
            if let Some(a) = f.acks.get(&user) {
                v.acked.extend(a);
            }
        }
        if let Some(a) = self.active.acks.get(&user) {
            v.acked.extend(a);
        }
        if let Some(f) = &self.frozen
            && !self.active.purged.contains(&user)
            && let Some(e) = f.inbox.get(&user)
        {
            let newer = self.active.acks.get(&user);
            v.entries
                .extend(e.iter().filter(|id| newer.is_none_or(|a| !a.contains(id))));
        }
        if let Some(e) = self.active.inbox.get(&user) {
            v.entries.extend(e);
        }
        v
    }

    /// Who still holds `id` in their inbox, among those the tail knows
    /// of, and whether the tail decides it (the message is in the tail).
    pub fn holders(&self, id: u64) -> Option<Vec<u64>> {
        let e = self.entry(id)?;
        Some(
            e.recipients
                .iter()
                .copied()
                .filter(|&u| self.inbox(u).entries.contains(&id))
                .collect(),
        )
    }

    /// Acks the tail holds for `user`'s older entries.
    pub fn acked(&self, user: u64) -> HashSet<u64> {
        self.inbox(user).acked
    }

    /// Up to `limit` one-to-one messages between `a` and `b` below
    /// `before`, newest first.
    pub fn history_with(&self, a: u64, b: u64, before: u64, limit: usize) -> Vec<Msg> {
        let mut ids: Vec<u64> = Vec::new();
        for p in self.parts() {
            for key in [(a, b), (b, a)] {
                if let Some(v) = p.conv.get(&key) {
                    let end = v.partition_point(|&id| id < before);
                    ids.extend(&v[end.saturating_sub(limit)..end]);
                }
            }
        }
        self.newest(ids, limit)
    }

    /// Up to `limit` messages of `group` with `since <= id < before`,
    /// newest first.
    pub fn history_group(&self, group: u64, since: u64, before: u64, limit: usize) -> Vec<Msg> {
        let mut ids: Vec<u64> = Vec::new();
        for p in self.parts() {
            if let Some(v) = p.groups.get(&group) {
                let end = v.partition_point(|&id| id < before);
                let start = v
                    .partition_point(|&id| id < since)
                    .max(end.saturating_sub(limit));
                ids.extend(&v[start.min(end)..end]);
            }
        }
        self.newest(ids, limit)
    }

    fn newest(&self, mut ids: Vec<u64>, limit: usize) -> Vec<Msg> {
        ids.sort_unstable_by(|x, y| y.cmp(x));
        ids.dedup();
        ids.truncate(limit);
        ids.into_iter()
            .filter_map(|id| self.entry(id).map(|e| e.msg.to_wire()))
            .collect()
    }
}

/// Merges two lists of messages by id (each newest first, or each oldest
/// first as `desc` says), dropping duplicates, keeping `limit`.
pub fn merge(a: Vec<Msg>, b: Vec<Msg>, desc: bool, limit: usize) -> Vec<Msg> {
    let mut all: Vec<Msg> = a.into_iter().chain(b).collect();
    if desc {
        all.sort_by_key(|m| std::cmp::Reverse(m.id));
    } else {
        all.sort_by_key(|m| m.id);
    }
    all.dedup_by_key(|m| m.id);
    all.truncate(limit);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u64, from: u64, to: u64) -> Item {
        Item::Msg {
            msg: NewMsg {
                id,
                ts: id,
                from,
                target: Target::User(to),
                text: format!("m{id}"),
                cid: Some(format!("c{id}")),
            },
            recipients: vec![to],
        }
    }

    #[test]
    fn acks_in_the_active_part_cancel_its_entries() {
        let mut tail = Tail::new(1);
        tail.active
            .apply(vec![msg(1, 10, 20), msg(2, 10, 20), msg(3, 20, 10)], 0);
        tail.active.apply(
            vec![Item::Ack {
                user: 20,
                ids: vec![1, 99],
            }],
            0,
        );
        let v = tail.inbox(20);
        assert_eq!(v.entries.into_iter().collect::<Vec<_>>(), vec![2]);
        // 99 is not the tail's: it may be in SQLite.
        assert_eq!(v.acked, HashSet::from([99]));
        assert_eq!(tail.by_cid(20, "c3").unwrap().msg.id, 3);
        let h: Vec<u64> = tail
            .history_with(20, 10, u64::MAX, 2)
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(h, vec![3, 2]);
        assert_eq!(tail.holders(2), Some(vec![20]));
        assert_eq!(tail.holders(1), Some(vec![]));
    }

    #[test]
    fn newer_acks_hide_frozen_entries() {
        let mut tail = Tail::new(1);
        tail.active.apply(vec![msg(1, 10, 20), msg(2, 10, 20)], 0);
        let frozen = std::mem::replace(&mut tail.active, Part::new(2));
        tail.frozen = Some(Arc::new(frozen));
        tail.active.apply(
            vec![
                Item::Ack {
                    user: 20,
                    ids: vec![1],
                },
                msg(3, 10, 20),
            ],
            0,
        );
        let v = tail.inbox(20);
        assert_eq!(v.entries.into_iter().collect::<Vec<_>>(), vec![2, 3]);
        assert!(v.acked.contains(&1));
        assert_eq!(tail.max_id(), 3);
        tail.active.purge(20);
        assert!(tail.inbox(20).entries.is_empty());
    }
}
