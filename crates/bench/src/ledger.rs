//! Loss and duplicate accounting.
//!
//! Every message the bench sends is numbered per sender (its stamp's SEQ).
//! A sender remembers which numbers the server answered `ok`, per target
//! (its friend, its group); a recipient remembers which numbers it got from
//! each sender. Both are bit sets, one bit per message, so tracking costs a
//! bit per delivery. At the end [`settle`] compares them: an `ok` message
//! missing at a recipient is lost; a delivery the sender never saw `ok`
//! for is unconfirmed (its reply failed or never came), which is not a
//! loss.

use std::collections::HashMap;

/// A set of small integers (message numbers), one bit each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqSet {
    words: Vec<u64>,
    len: u64,
}

impl SeqSet {
    /// Adds `seq`; false when it was already there.
    pub fn insert(&mut self, seq: u64) -> bool {
        let (w, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if w >= self.words.len() {
            self.words.resize((w + 1).next_power_of_two(), 0);
        }
        if self.words[w] & bit != 0 {
            return false;
        }
        self.words[w] |= bit;
        self.len += 1;
        true
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.words
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1u64 << (seq % 64)) != 0)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn word(&self, i: usize) -> u64 {
        self.words.get(i).copied().unwrap_or(0)
    }

    /// How many members of `self` are in none of `others`.
    pub fn count_not_in(&self, others: &[&SeqSet]) -> u64 {
        self.words
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let covered = others.iter().fold(0, |acc, o| acc | o.word(i));
                u64::from((w & !covered).count_ones())
            })
            .sum()
    }
}

/// What one recipient got, by sender.
#[derive(Debug, Default)]
pub struct Received {
    by_sender: HashMap<u32, SeqSet>,
}

impl Received {
    /// Notes message `seq` of `sender`; false when it is a duplicate.
    pub fn note(&mut self, sender: u32, seq: u64) -> bool {
        self.by_sender.entry(sender).or_default().insert(seq)
    }

    pub fn from(&self, sender: u32) -> Option<&SeqSet> {
        self.by_sender.get(&sender)
    }
}

/// Messages one sender got `ok` for, to one target.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    /// Numbers of the messages answered `ok`.
    pub ok: SeqSet,
    /// Connection indices that should get each of them.
    pub recipients: Vec<u32>,
}

/// The outcome of comparing what was sent with what arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// `ok` messages missing at a recipient (counted per recipient).
    pub lost: u64,
    /// Deliveries of messages whose sender never got `ok`.
    pub unconfirmed: u64,
}

/// Compares senders' `ok` sets with recipients' received sets. `senders`
/// maps a connection index to its targets; `receivers` maps a connection
/// index to what it got.
pub fn settle(
    senders: &HashMap<u32, Vec<Outbound>>,
    receivers: &HashMap<u32, Received>,
) -> Settled {
    let empty = SeqSet::default();
    let mut out = Settled::default();
    for (&sender, targets) in senders {
        for t in targets {
            for r in &t.recipients {
                let got = receivers
                    .get(r)
                    .and_then(|rc| rc.from(sender))
                    .unwrap_or(&empty);
                out.lost += t.ok.count_not_in(&[got]);
            }
        }
    }
    for got in receivers.values() {
        for (sender, set) in &got.by_sender {
            let oks: Vec<&SeqSet> = senders
                .get(sender)
                .map(|ts| ts.iter().map(|t| &t.ok).collect())
                .unwrap_or_default();
            out.unconfirmed += set.count_not_in(&oks);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_set_inserts_once() {
        let mut s = SeqSet::default();
        assert!(s.insert(0));
        assert!(s.insert(64));
        assert!(s.insert(1_000_000));
        assert!(!s.insert(64));
        assert_eq!(s.len(), 3);
        assert!(s.contains(1_000_000) && !s.contains(1));
        let mut t = SeqSet::default();
        t.insert(64);
        assert_eq!(s.count_not_in(&[&t]), 2);
        assert_eq!(s.count_not_in(&[]), 3);
        assert_eq!(t.count_not_in(&[&s]), 0);
    }

    #[test]
    fn settles_lost_and_unconfirmed() {
        // Sender 0 chats to 1 (ok 0..10) and to its group {1, 2} (ok 10..20).
        let mut chat = Outbound {
            recipients: vec![1],
            ..Default::default()
        };
        let mut group = Outbound {
            recipients: vec![1, 2],
            ..Default::default()
        };
        for s in 0..10 {
            chat.ok.insert(s);
        }
        for s in 10..20 {
            group.ok.insert(s);
        }
        let senders = HashMap::from([(0, vec![chat, group])]);
        let mut r1 = Received::default();
        let mut r2 = Received::default();
        for s in 0..20 {
            assert!(r1.note(0, s));
        }
        assert!(!r1.note(0, 3));
        // Recipient 2 misses group message 15; gets 25, never answered ok.
        for s in (10..20).filter(|&s| s != 15) {
            r2.note(0, s);
        }
        r2.note(0, 25);
        let receivers = HashMap::from([(1, r1), (2, r2)]);
        assert_eq!(
            settle(&senders, &receivers),
            Settled {
                lost: 1,
                unconfirmed: 1
            }
        );
    }

    #[test]
    fn a_missing_recipient_lost_everything() {
        let mut o = Outbound {
            recipients: vec![7],
            ..Default::default()
        };
        o.ok.insert(1);
        o.ok.insert(2);
        let senders = HashMap::from([(3, vec![o])]);
        assert_eq!(settle(&senders, &HashMap::new()).lost, 2);
    }
}
