//! Message ids: unique across the cluster, below 2^53 (JavaScript reads them
//! exactly), and ordered by time, so that sorting by id sorts by age.
//!
//! Layout, from the high bits down: 40 bits of milliseconds since
//! 2025-01-01 (enough until 2059), 5 bits of node slot (32 nodes), 8 bits of
//! sequence (256 ids per millisecond per node). When a node issues more than
//! 256 ids in one millisecond it borrows the next millisecond: its clock
//! runs ahead for a moment and never goes back, so ids stay unique and
//! increasing even if the wall clock steps backwards.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// 2025-01-01T00:00:00Z in Unix milliseconds.
pub const EPOCH_MS: u64 = 1_735_689_600_000;
const NODE_BITS: u32 = 5;
const SEQ_BITS: u32 = 8;
/// Every id is below this (2^53).
pub const MAX_ID: u64 = 1 << 53;
/// How many node slots a cluster has.
pub const MAX_NODES: u16 = 1 << NODE_BITS;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Issues message ids for one node.
#[derive(Debug)]
pub struct IdGen {
    /// The node slot; changes only if the node loses its lease and takes
    /// another slot.
    node: AtomicU64,
    /// The last (millisecond tick, sequence) issued.
    state: Mutex<(u64, u64)>,
}

impl IdGen {
    /// A generator for node slot `node` that never issues an id at or below
    /// `floor` (the highest id already stored, whoever stored it).
    pub fn new(node: u16, floor: u64) -> IdGen {
        assert!(node < MAX_NODES, "node slot out of range");
        let floor_tick = floor >> (NODE_BITS + SEQ_BITS);
        IdGen {
            node: AtomicU64::new(node as u64),
            state: Mutex::new((floor_tick, (1 << SEQ_BITS) - 1)),
        }
    }

    /// The node slot this generator writes into ids.
    pub fn node(&self) -> u16 {
        self.node.load(Ordering::Relaxed) as u16
    }

    /// Moves to another node slot.
    pub fn set_node(&self, node: u16) {
        assert!(node < MAX_NODES, "node slot out of range");
        self.node.store(node as u64, Ordering::Relaxed);
    }

    /// The next id.
    pub fn next(&self) -> u64 {
        let now = now_ms().saturating_sub(EPOCH_MS);
        // The lock is held for a few instructions and never across an await;
        // a poisoned lock still holds a consistent pair of integers.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tick, seq) = *st;
        let next = if now > tick {
            (now, 0)
        } else if seq + 1 < (1 << SEQ_BITS) {
            (tick, seq + 1)
        } else {
            (tick + 1, 0)
        };
        *st = next;
        (next.0 << (NODE_BITS + SEQ_BITS))
            | (self.node.load(Ordering::Relaxed) << SEQ_BITS)
            | next.1
    }
}

/// The smallest id that can have been issued at or after `ms` (Unix
/// milliseconds).
pub fn first_id_at(ms: u64) -> u64 {
    ms.saturating_sub(EPOCH_MS) << (NODE_BITS + SEQ_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increasing_unique_and_below_2_pow_53() {
        let g = IdGen::new(3, 0);
        let mut last = 0;
        for _ in 0..100_000 {
            let id = g.next();
            assert!(id > last);
            assert!(id < 1 << 53);
            assert_eq!((id >> SEQ_BITS) & 31, 3);
            last = id;
        }
    }

    #[test]
    fn never_below_the_floor() {
        let far = ((now_ms() - EPOCH_MS + 60_000) << 13) | 5;
        let g = IdGen::new(0, far);
        assert!(g.next() > far);
    }

    #[test]
    fn nodes_never_collide() {
        let a = IdGen::new(0, 0);
        let b = IdGen::new(1, 0);
        let xs: std::collections::HashSet<u64> = (0..10_000).map(|_| a.next()).collect();
        assert!((0..10_000).all(|_| !xs.contains(&b.next())));
    }
}
