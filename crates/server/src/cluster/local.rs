//! [`LocalBus`]: the bus of a node that runs alone. Nothing leaves the
//! process: every session is in this node's hub, so the hub's own answers
//! (first session here, last session here) are the cluster's, and the
//! counters live in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use super::{Bus, BusError, Invalidation};
use crate::hub::Hub;
use crate::outbox::OutFrame;

/// Counters kept before expired ones are swept.
const COUNTERS_SWEEP: usize = 16_384;
/// Counters kept at most: past this, new ones are not counted (failing
/// open), so addresses an attacker makes up cannot grow memory for good.
const COUNTERS_MAX: usize = 1_000_000;

/// The bus of a single node.
#[derive(Debug)]
pub struct LocalBus {
    hub: Arc<Hub>,
    /// Counter values and when each expires.
    counters: Mutex<HashMap<String, (u64, Instant)>>,
}

impl LocalBus {
    pub fn new(hub: Arc<Hub>) -> LocalBus {
        LocalBus {
            hub,
            counters: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl Bus for LocalBus {
    fn kind(&self) -> &'static str {
        "in-process"
    }

    fn publish(&self, _users: &[u64], _frame: &OutFrame) {}

    async fn invalidate(&self, _what: Invalidation) {}

    fn end_sessions(&self, _user: u64, _frame: &Bytes) {}

    fn hold_local(&self, _users: &[u64], _frame: &OutFrame, _except: Option<u64>) -> bool {
        false
    }

    fn resume(&self, _replayed: &std::collections::HashMap<u64, std::collections::HashSet<u64>>) {}

    async fn count(&self, key: &str, window: Duration) -> Result<(u64, Duration), BusError> {
        let now = Instant::now();
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= COUNTERS_SWEEP {
            map.retain(|_, (_, until)| *until > now);
        }
        let full = map.len() >= COUNTERS_MAX;
        let (n, until) = match map.get_mut(key) {
            Some((n, until)) if *until > now => {
                *n += 1;
                (*n, *until)
            }
            Some(entry) => {
                *entry = (1, now + window);
                *entry
            }
            // Full: not counted (failing open).
            None if full => (0, now),
            None => *map.entry(key.to_owned()).or_insert((1, now + window)),
        };
        Ok((n, until.saturating_duration_since(now)))
    }

    async fn uncount(&self, key: &str) -> Result<(), BusError> {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((n, _)) = map.get_mut(key) {
            *n = n.saturating_sub(1);
        }
        Ok(())
    }

    async fn reset(&self, key: &str) -> Result<(), BusError> {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key);
        Ok(())
    }

    async fn online(&self, users: &[u64]) -> Result<Vec<bool>, BusError> {
        Ok(users.iter().map(|&u| self.hub.is_online(u)).collect())
    }

    async fn user_arrived(&self, _user: u64) -> Result<bool, BusError> {
        Ok(true)
    }

    async fn user_left(&self, _user: u64) -> Result<bool, BusError> {
        Ok(true)
    }

    async fn healthy(&self) -> Option<bool> {
        None
    }

    async fn unregister(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counters_count_within_their_window() {
        let bus = LocalBus::new(Arc::new(Hub::new()));
        let minute = Duration::from_secs(60);
        for want in 1..=3 {
            let (n, left) = bus.count("a", minute).await.unwrap();
            assert_eq!(n, want);
            assert!(left > Duration::from_secs(59));
        }
        bus.uncount("a").await.unwrap();
        assert_eq!(bus.count("a", minute).await.unwrap().0, 3);
        bus.count("b", Duration::from_millis(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(bus.count("b", minute).await.unwrap().0, 1, "expired, anew");
        bus.reset("a").await.unwrap();
        assert_eq!(bus.count("a", minute).await.unwrap().0, 1);
    }
}
