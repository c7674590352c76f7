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

    fn resume(&self, _replayed: &std::collections::HashMap<u64, std::collections::HashSet<u64>>) {}

    async fn count(&self, key: &str, window: Duration) -> Result<(), BusError> {
        let now = Instant::now();
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= COUNTERS_SWEEP {
            map.retain(|_, (_, until)| *until > now);
        }
        let full = map.len() >= COUNTERS_MAX;
        match map.get_mut(key) {
            Some((n, until)) if *until > now => *n += 1,
            Some(entry) => *entry = (1, now + window),
            None if full => {}
            None => {
                map.insert(key.to_owned(), (1, now + window));
            }
        }
        Ok(())
    }

    async fn counts(&self, keys: &[String]) -> Result<Vec<(u64, Duration)>, BusError> {
        let now = Instant::now();
        let map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        Ok(keys
            .iter()
            .map(|k| match map.get(k) {
                Some(&(n, until)) if until > now => (n, until - now),
                _ => (0, Duration::ZERO),
            })
            .collect())
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
        let keys = vec!["a".to_owned(), "b".to_owned()];
        for _ in 0..3 {
            bus.count("a", Duration::from_secs(60)).await.unwrap();
        }
        bus.count("b", Duration::from_millis(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let got = bus.counts(&keys).await.unwrap();
        assert_eq!(got[0].0, 3);
        assert!(got[0].1 > Duration::from_secs(59));
        assert_eq!(got[1], (0, Duration::ZERO), "expired");
        bus.reset("a").await.unwrap();
        assert_eq!(bus.counts(&keys).await.unwrap()[0].0, 0);
    }
}
