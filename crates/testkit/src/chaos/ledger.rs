//! Every message sent (each attempt's outcome) and received, and the
//! check of what the delivery guarantee forbids.
//!
//! Over 500 lines, a third of them unit tests: each rule of the verdict
//! (lost, out of order, a `cid` with two ids, stored though refused) is
//! one check with its own tests, and they read the same records.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum To {
    User(u64),
    Group(u64),
}

impl std::fmt::Display for To {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            To::User(u) => write!(f, "user {u}"),
            To::Group(g) => write!(f, "group {g}"),
        }
    }
}

/// What one attempt to send a message got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `ok` with this message id.
    Ok(u64),
    /// `unavailable`: the request changed nothing.
    Unavailable,
    /// Another error code.
    Failed(String),
    /// No answer: the connection broke or the node went silent. The
    /// message may or may not have been stored.
    NoAnswer,
}

impl Outcome {
    /// The outcome of a `chat`/`group_chat` reply.
    pub fn of_reply(reply: &Value) -> Outcome {
        if reply["ok"] == json!(true) {
            match reply["msg"]["id"].as_u64() {
                Some(id) => Outcome::Ok(id),
                None => Outcome::Failed("ok without msg.id".into()),
            }
        } else if reply["code"] == json!("unavailable") {
            Outcome::Unavailable
        } else {
            Outcome::Failed(reply["code"].as_str().unwrap_or("?").to_owned())
        }
    }
}

/// One attempt to send a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The node it went to.
    pub port: u16,
    pub outcome: Outcome,
    /// When it was answered (or given up on), in ms since the run began.
    pub at_ms: u64,
}

/// One message a client meant to send: every attempt (all with the same
/// `cid`) and where each went.
#[derive(Debug, Clone)]
pub struct Sent {
    pub from: u64,
    pub to: To,
    pub cid: String,
    /// In order.
    pub attempts: Vec<Attempt>,
}

impl Sent {
    /// The id of the first `ok`.
    pub fn acked(&self) -> Option<u64> {
        self.attempts.iter().find_map(|a| match a.outcome {
            Outcome::Ok(id) => Some(id),
            _ => None,
        })
    }

    /// Every attempt got an answer and none was `ok`: the message must
    /// not exist.
    pub fn refused(&self) -> bool {
        !self.attempts.is_empty()
            && self
                .attempts
                .iter()
                .all(|a| matches!(a.outcome, Outcome::Unavailable | Outcome::Failed(_)))
    }

    /// Some attempt got no answer.
    pub fn in_doubt(&self) -> bool {
        self.attempts.iter().any(|a| a.outcome == Outcome::NoAnswer)
    }

    /// The outcomes, in short (for messages).
    pub fn outcomes(&self) -> String {
        let parts: Vec<String> = self
            .attempts
            .iter()
            .map(|a| {
                format!(
                    "{:?} from {} at {:.1} s",
                    a.outcome,
                    a.port,
                    a.at_ms as f64 / 1000.0
                )
            })
            .collect();
        parts.join(", ")
    }
}

/// One `msg` event as a recipient saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: u64,
    pub from: u64,
    pub to: To,
    pub cid: Option<String>,
    /// Which of the recipient's connections it came on (a counter).
    pub conn: u64,
    /// The node that connection was on.
    pub port: u16,
    /// When it was read, in ms since the run began.
    pub at_ms: u64,
}

impl Delivery {
    /// The delivery a `msg` event carries, if it is one.
    pub fn of_event(ev: &Value, conn: u64, port: u16, at_ms: u64) -> Option<Delivery> {
        if ev["ev"] != json!("msg") {
            return None;
        }
        let m = &ev["msg"];
        let to = match (m["to"].as_u64(), m["group"].as_u64()) {
            (Some(u), None) => To::User(u),
            (None, Some(g)) => To::Group(g),
            _ => return None,
        };
        Some(Delivery {
            id: m["id"].as_u64()?,
            from: m["from"].as_u64()?,
            to,
            cid: m["cid"].as_str().map(str::to_owned),
            conn,
            port,
            at_ms,
        })
    }
}

/// What was stored, as read back from `history` at the end:
/// (sender, cid) -> ids, and every id.
#[derive(Debug, Default, Clone)]
pub struct Stored {
    pub by_cid: HashMap<(u64, String), HashSet<u64>>,
    pub ids: HashSet<u64>,
}

impl Stored {
    /// Adds the messages of a `history` reply.
    pub fn add_history(&mut self, reply: &Value) {
        for m in reply["messages"].as_array().into_iter().flatten() {
            let (Some(id), Some(from)) = (m["id"].as_u64(), m["from"].as_u64()) else {
                continue;
            };
            self.ids.insert(id);
            if let Some(cid) = m["cid"].as_str() {
                self.by_cid
                    .entry((from, cid.to_owned()))
                    .or_default()
                    .insert(id);
            }
        }
    }
}

/// Everything sent and received during a run.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    /// In each sender's order: a sender sends one message at a time and
    /// settles it before the next, so this is the order of acceptance.
    pub sends: Vec<Sent>,
    /// Per recipient, every `msg` event in the order it arrived, across
    /// all their connections.
    pub received: HashMap<u64, Vec<Delivery>>,
    /// Each group's members (fixed during a run).
    pub members: HashMap<u64, Vec<u64>>,
}

/// What [`Ledger::check`] found.
#[derive(Debug, Default, Clone)]
pub struct Verdict {
    pub messages: usize,
    pub attempts: usize,
    pub acked: usize,
    pub refused_unavailable: usize,
    pub refused_other: usize,
    pub in_doubt: usize,
    /// `msg` events to recipients, and of those, distinct ids.
    pub deliveries: usize,
    pub unique_deliveries: usize,
    /// A sender's own messages received on its other session.
    pub echoes: usize,
    pub expected_deliveries: usize,
    /// An acked message a recipient never got: (recipient, id, sender, cid).
    pub missing: Vec<(u64, u64, u64, String)>,
    /// Pairs seen out of order (described).
    pub disorder: Vec<String>,
    /// A `cid` answered or delivered with more than one id, or stored
    /// twice; or one id for two `cid`s.
    pub cid_conflicts: Vec<String>,
    /// A message whose every attempt failed, yet it was stored or
    /// delivered.
    pub stored_after_failure: Vec<String>,
    /// An acked message that `history` does not have.
    pub not_in_history: Vec<String>,
    /// Deliveries of ids no send produced (nor explains).
    pub strangers: Vec<String>,
}

impl Verdict {
    /// Every violation, one line each (empty: the run passed).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (r, id, from, cid) in &self.missing {
            out.push(format!(
                "lost: message {id} (cid {cid}) from {from} never reached {r}"
            ));
        }
        out.extend(self.disorder.iter().map(|d| format!("order: {d}")));
        out.extend(self.cid_conflicts.iter().map(|d| format!("cid: {d}")));
        out.extend(
            self.stored_after_failure
                .iter()
                .map(|d| format!("failed but stored: {d}")),
        );
        out.extend(
            self.not_in_history
                .iter()
                .map(|d| format!("not in history: {d}")),
        );
        out.extend(self.strangers.iter().map(|d| format!("unexplained: {d}")));
        out
    }
}

/// Where a refused message turned up: delivered to (users), stored as
/// (ids).
type Found = (Vec<u64>, Vec<u64>);

/// Per (sender, target): the acked ids in order of acceptance.
type Streams = HashMap<(u64, To), Vec<u64>>;

impl Ledger {
    /// Who must receive a message from `from` to `to`.
    pub fn recipients(&self, from: u64, to: To) -> Vec<u64> {
        match to {
            To::User(u) => vec![u],
            To::Group(g) => self
                .members
                .get(&g)
                .map(|m| m.iter().copied().filter(|&u| u != from).collect())
                .unwrap_or_default(),
        }
    }

    fn streams(&self) -> Streams {
        let mut s: Streams = HashMap::new();
        for send in &self.sends {
            if let Some(id) = send.acked() {
                s.entry((send.from, send.to)).or_default().push(id);
            }
        }
        s
    }

    /// The whole ledger as JSON, for a post-mortem: sends as
    /// `[from, to, cid, [[port, outcome, at_ms], ...]]`, deliveries per
    /// recipient as `[id, from, to, cid, conn, port, at_ms]`.
    pub fn to_json(&self) -> Value {
        let to = |t: To| match t {
            To::User(u) => json!({"user": u}),
            To::Group(g) => json!({"group": g}),
        };
        let sends: Vec<Value> = self
            .sends
            .iter()
            .map(|s| {
                let attempts: Vec<Value> = s
                    .attempts
                    .iter()
                    .map(|a| json!([a.port, format!("{:?}", a.outcome), a.at_ms]))
                    .collect();
                json!([s.from, to(s.to), s.cid, attempts])
            })
            .collect();
        let received: serde_json::Map<String, Value> = self
            .received
            .iter()
            .map(|(u, ds)| {
                let ds: Vec<Value> = ds
                    .iter()
                    .map(|d| json!([d.id, d.from, to(d.to), d.cid, d.conn, d.port, d.at_ms]))
                    .collect();
                (u.to_string(), Value::Array(ds))
            })
            .collect();
        json!({"sends": sends, "received": received, "members": self.members})
    }

    /// The acked messages some recipient has not received yet:
    /// (recipient, id, sender, cid).
    pub fn missing(&self) -> Vec<(u64, u64, u64, String)> {
        let got: HashMap<u64, HashSet<u64>> = self
            .received
            .iter()
            .map(|(u, ds)| (*u, ds.iter().map(|d| d.id).collect()))
            .collect();
        let mut out = Vec::new();
        for send in &self.sends {
            let Some(id) = send.acked() else { continue };
            for r in self.recipients(send.from, send.to) {
                if !got.get(&r).is_some_and(|s| s.contains(&id)) {
                    out.push((r, id, send.from, send.cid.clone()));
                }
            }
        }
        out
    }

    /// Checks the run against the delivery guarantee; `stored` is what
    /// `history` returns at the end (None: not read).
    pub fn check(&self, stored: Option<&Stored>) -> Verdict {
        let mut v = Verdict {
            messages: self.sends.len(),
            attempts: self.sends.iter().map(|s| s.attempts.len()).sum(),
            ..Verdict::default()
        };
        // Sends: one id per cid, and what failed.
        let mut cid_of_id: HashMap<u64, (u64, &str)> = HashMap::new();
        let mut by_cid: HashMap<(u64, &str), &Sent> = HashMap::new();
        for s in &self.sends {
            if by_cid.insert((s.from, &s.cid), s).is_some() {
                v.cid_conflicts
                    .push(format!("the test reused cid {} of {}", s.cid, s.from));
            }
            let ids: HashSet<u64> = s
                .attempts
                .iter()
                .filter_map(|a| match a.outcome {
                    Outcome::Ok(id) => Some(id),
                    _ => None,
                })
                .collect();
            if ids.len() > 1 {
                v.cid_conflicts.push(format!(
                    "cid {} of {} was answered with ids {:?} ({})",
                    s.cid,
                    s.from,
                    ids,
                    s.outcomes()
                ));
            }
            for &id in &ids {
                if let Some((f, c)) = cid_of_id.insert(id, (s.from, &s.cid))
                    && (f, c) != (s.from, s.cid.as_str())
                {
                    v.cid_conflicts.push(format!(
                        "id {id} answers cid {c} of {f} and cid {} of {}",
                        s.cid, s.from
                    ));
                }
            }
            if s.acked().is_some() {
                v.acked += 1;
                v.expected_deliveries += self.recipients(s.from, s.to).len();
            } else if s.refused() {
                if s.attempts.iter().all(|a| a.outcome == Outcome::Unavailable) {
                    v.refused_unavailable += 1;
                } else {
                    v.refused_other += 1;
                }
            }
            if s.in_doubt() {
                v.in_doubt += 1;
            }
        }

        // Deliveries: counts, cids, order.
        let streams = self.streams();
        let sent_of: HashMap<u64, &Sent> = self
            .sends
            .iter()
            .filter_map(|s| s.acked().map(|id| (id, s)))
            .collect();
        // Refused messages that were delivered anyway: to whom.
        let mut refused_got: BTreeMap<(u64, &str), Vec<u64>> = BTreeMap::new();
        let position: HashMap<u64, ((u64, To), usize)> = streams
            .iter()
            .flat_map(|(k, ids)| ids.iter().enumerate().map(move |(i, id)| (*id, (*k, i))))
            .collect();
        let mut recipients: Vec<&u64> = self.received.keys().collect();
        recipients.sort();
        for r in recipients {
            let ds = &self.received[r];
            let mut seen = HashSet::new();
            // Per (sender, target): the positions (in the sender's
            // acceptance order) of the messages first seen, in arrival
            // order, with the connection each came on.
            let mut order: HashMap<(u64, To), Vec<(usize, &Delivery)>> = HashMap::new();
            for d in ds {
                // A sender's own message on its other session (one it
                // left behind on a silent node sent it on).
                if d.from == *r {
                    v.echoes += 1;
                    continue;
                }
                v.deliveries += 1;
                if !seen.insert(d.id) {
                    continue;
                }
                v.unique_deliveries += 1;
                if let Some(cid) = &d.cid {
                    match by_cid.get(&(d.from, cid.as_str())) {
                        Some(s) => match s.acked() {
                            Some(id) if id != d.id => v.cid_conflicts.push(format!(
                                "cid {cid} of {} was acked as {id} but delivered to {r} as {}",
                                d.from, d.id
                            )),
                            Some(_) => {}
                            None if s.refused() => refused_got
                                .entry((d.from, s.cid.as_str()))
                                .or_default()
                                .push(*r),
                            None => {}
                        },
                        None => v.strangers.push(format!(
                            "{r} got {} from {} with cid {cid} that no client sent",
                            d.id, d.from
                        )),
                    }
                }
                if let Some(&(key, pos)) = position.get(&d.id) {
                    order.entry(key).or_default().push((pos, d));
                }
            }
            let mut keys: Vec<&(u64, To)> = order.keys().collect();
            keys.sort();
            for key in keys {
                let seq = &order[key];
                let Some(i) = seq.windows(2).position(|w| w[1].0 < w[0].0) else {
                    continue;
                };
                let pos: Vec<usize> = seq.iter().map(|p| p.0).collect();
                let mut shown = runs(&pos);
                if shown.len() > 160 {
                    shown = format!("{} ...", &shown[..160]);
                }
                let how = |(pos, d): (usize, &Delivery)| {
                    let sent = sent_of
                        .get(&d.id)
                        .and_then(|s| s.attempts.last())
                        .map(|a| format!("acked by {} at {:.1} s", a.port, a.at_ms as f64 / 1e3))
                        .unwrap_or_default();
                    format!(
                        "{pos} ({sent}; read from {} on connection {} at {:.1} s)",
                        d.port,
                        d.conn,
                        d.at_ms as f64 / 1e3
                    )
                };
                v.disorder.push(format!(
                    "{r} got {}'s messages to {} ({} sent) at positions [{shown}]; \
                     first {} after {}",
                    key.0,
                    key.1,
                    streams[key].len(),
                    how(seq[i + 1]),
                    how(seq[i]),
                ));
            }
        }
        v.missing = self.missing();
        // Refused messages found anyway: where (delivered to, stored as).
        let mut refused_found: BTreeMap<(u64, &str), Found> = refused_got
            .into_iter()
            .map(|(k, to)| (k, (to, Vec::new())))
            .collect();

        // What was stored.
        if let Some(stored) = stored {
            let mut keys: Vec<_> = stored.by_cid.iter().collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            for ((from, cid), ids) in keys {
                if ids.len() > 1 {
                    v.cid_conflicts.push(format!(
                        "cid {cid} of {from} is stored {} times: {ids:?}",
                        ids.len()
                    ));
                }
                if let Some(s) = by_cid.get(&(*from, cid.as_str())) {
                    if s.refused() {
                        let mut ids: Vec<u64> = ids.iter().copied().collect();
                        ids.sort_unstable();
                        refused_found
                            .entry((*from, s.cid.as_str()))
                            .or_default()
                            .1
                            .extend(ids);
                    } else if let Some(id) = s.acked()
                        && !ids.contains(&id)
                    {
                        v.cid_conflicts.push(format!(
                            "cid {cid} of {from} was acked as {id} but is stored as {ids:?}"
                        ));
                    }
                }
            }
            for s in &self.sends {
                if let Some(id) = s.acked()
                    && !stored.ids.contains(&id)
                {
                    v.not_in_history.push(format!(
                        "acked message {id} (cid {} from {} to {})",
                        s.cid, s.from, s.to
                    ));
                }
            }
        }
        for ((from, cid), (to, ids)) in refused_found {
            let s = by_cid[&(from, cid)];
            v.stored_after_failure.push(format!(
                "cid {cid} of {from} ({}): stored as {ids:?}, delivered to {to:?}",
                s.outcomes()
            ));
        }
        v
    }
}

/// The positions, in `sent`, of the messages first seen in `events` (by
/// id, duplicates dropped), for messages in `sent`; other ids are skipped.
/// `[0, 1, 2, ...]` means in order and complete so far.
pub fn positions(sent: &[u64], events: &[Value]) -> Vec<usize> {
    let index: HashMap<u64, usize> = sent.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut seen = HashSet::new();
    events
        .iter()
        .filter(|e| e["ev"] == json!("msg"))
        .filter_map(|e| e["msg"]["id"].as_u64())
        .filter(|id| seen.insert(*id))
        .filter_map(|id| index.get(&id).copied())
        .collect()
}

/// `[0, 1, 2, 14, 15, 3]` as `0..2, 14..15, 3`: a sequence of positions
/// in short.
pub fn runs(pos: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < pos.len() {
        let mut j = i;
        while j + 1 < pos.len() && pos[j + 1] == pos[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            pos[i].to_string()
        } else {
            format!("{}..{}", pos[i], pos[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(from: u64, to: To, cid: &str, outcomes: &[Outcome]) -> Sent {
        Sent {
            from,
            to,
            cid: cid.into(),
            attempts: outcomes
                .iter()
                .map(|o| Attempt {
                    port: 1,
                    outcome: o.clone(),
                    at_ms: 0,
                })
                .collect(),
        }
    }

    fn got(id: u64, from: u64, to: To, cid: &str) -> Delivery {
        Delivery {
            id,
            from,
            to,
            cid: Some(cid.into()),
            conn: 0,
            port: 1,
            at_ms: 0,
        }
    }

    fn ledger() -> Ledger {
        let mut l = Ledger::default();
        l.members.insert(9, vec![1, 2, 3]);
        l.sends = vec![
            send(1, To::User(2), "a", &[Outcome::Ok(10)]),
            send(1, To::User(2), "b", &[Outcome::NoAnswer, Outcome::Ok(11)]),
            send(1, To::Group(9), "c", &[Outcome::Ok(12)]),
            send(1, To::User(2), "d", &[Outcome::Unavailable]),
            send(1, To::User(2), "e", &[Outcome::Ok(13)]),
        ];
        l
    }

    #[test]
    fn a_clean_run_passes_with_duplicates_dropped() {
        let mut l = ledger();
        l.received.insert(
            2,
            vec![
                got(10, 1, To::User(2), "a"),
                got(12, 1, To::Group(9), "c"),
                got(10, 1, To::User(2), "a"),
                got(11, 1, To::User(2), "b"),
                got(13, 1, To::User(2), "e"),
            ],
        );
        l.received.insert(3, vec![got(12, 1, To::Group(9), "c")]);
        let v = l.check(None);
        assert!(v.problems().is_empty(), "{:?}", v.problems());
        assert_eq!((v.acked, v.refused_unavailable, v.in_doubt), (4, 1, 1));
        assert_eq!((v.deliveries, v.unique_deliveries), (6, 5));
        assert_eq!(v.expected_deliveries, 5);
    }

    #[test]
    fn loss_disorder_and_cid_faults_are_found() {
        let mut l = ledger();
        l.received.insert(
            2,
            vec![
                got(10, 1, To::User(2), "a"),
                got(13, 1, To::User(2), "e"),
                got(11, 1, To::User(2), "b"),
                got(14, 1, To::User(2), "d"),
            ],
        );
        let v = l.check(None);
        assert_eq!(v.disorder.len(), 1, "{:?}", v.disorder);
        assert_eq!(
            v.missing.iter().map(|m| (m.0, m.1)).collect::<Vec<_>>(),
            vec![(2, 12), (3, 12)]
        );
        assert_eq!(v.stored_after_failure.len(), 1);

        let mut stored = Stored::default();
        stored.add_history(&json!({"messages": [
            {"id": 13, "from": 1, "cid": "e"},
            {"id": 15, "from": 1, "cid": "b"},
            {"id": 11, "from": 1, "cid": "b"},
            {"id": 10, "from": 1, "cid": "a"},
        ]}));
        let v = l.check(Some(&stored));
        assert!(v.cid_conflicts.iter().any(|c| c.contains("stored 2 times")));
        assert_eq!(v.not_in_history.len(), 1, "12 is not in the history read");
    }

    #[test]
    fn positions_drop_duplicates_and_show_runs() {
        let sent = [5, 6, 7, 8];
        let ev = |id: u64| json!({"ev": "msg", "msg": {"id": id}});
        let events = [ev(5), ev(7), ev(5), ev(8), ev(6), ev(99)];
        let pos = positions(&sent, &events);
        assert_eq!(pos, vec![0, 2, 3, 1]);
        assert_eq!(runs(&pos), "0, 2..3, 1");
    }
}
