//! Outages: Redis publish/subscribe is at most once. When a call fails or
//! the connection drops, the bus remembers when; once Redis answers again
//! (the heartbeat notices) it registers the node's users again (a
//! restarted Redis keeps nothing), resubscribes their channels, drops the
//! relation cache (invalidations may have been lost), and reports
//! [`ClusterEvent::Recovered`] so the server pushes the unacked messages
//! its sessions may have missed.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::AsyncCommands;

use super::RedisBus;
use super::heartbeat::{ALIVE_TTL, HEARTBEAT};
use crate::cluster::{BusError, ClusterEvent};
use crate::ids::now_ms;

/// Margin before an outage's start from which messages are pushed again:
/// at least as far back as another node's replay after taking this one
/// for dead reaches (see `replay_after_death`), so whichever of the two
/// replays runs first, the other brings nothing older after it.
const OUTAGE_MARGIN: Duration =
    Duration::from_millis((ALIVE_TTL.as_millis() + 2 * HEARTBEAT.as_millis()) as u64 + 5_000);

impl RedisBus {
    /// A failed call may mean Redis lost our state: recover once it answers.
    pub(super) fn noting_outage<T>(&self, r: Result<T, BusError>) -> Result<T, BusError> {
        if let Err(e) = &r {
            self.outage_began(&e.to_string());
        }
        r
    }

    pub(super) fn outage_began(&self, why: &str) {
        // Noticed now, but it may have begun at the last good heartbeat
        // (a paused node notices only when it runs again).
        let last = self.last_beat.load(Ordering::Acquire);
        let began = if last == 0 {
            now_ms()
        } else {
            last.min(now_ms())
        };
        if self
            .outage_since
            .compare_exchange(0, began, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            tracing::warn!(
                reason = why,
                "redis connection lost; messages are stored and will be pushed again"
            );
            crate::metrics::bus_outage();
        }
        self.hold_inbound();
        self.degraded.store(true, Ordering::Release);
    }

    /// After an outage: make Redis agree with this node's sessions again
    /// (register users and channels, drop users who left meanwhile), then
    /// report the recovery.
    pub(super) async fn recover(&self) -> Result<(), BusError> {
        if self.keys.is_sharded() {
            // Everything is subscribed again below: slots that changed
            // hands until now need no repair of their own.
            self.watch_topology(false).await;
        }
        let users = self.hub.users();
        let mut conn = self.cmd();
        let here: HashSet<u64> = users.iter().copied().collect();
        let mut listed: HashSet<u64> = HashSet::new();
        for group in self.keys.user_groups() {
            let some: Vec<u64> = conn
                .smembers(self.keys.node_users(self.node, group))
                .await?;
            listed.extend(some);
        }
        let mut gone = Vec::new();
        for &u in listed.iter().filter(|u| !here.contains(u)) {
            let holders = self.remove_holder(&mut conn, self.node, u).await?;
            let mut sub = self.sub();
            sub.unsubscribe(&[self.keys.user_channel(u)]).await?;
            if holders == 0 {
                gone.push(u);
            }
        }
        // Users who logged in here while Redis was away (or all of them,
        // if Redis restarted empty): their friends elsewhere missed it.
        let arrived: Vec<u64> = users
            .iter()
            .copied()
            .filter(|u| !listed.contains(u))
            .collect();
        // Announced a little later: the other nodes must have resubscribed
        // their users' channels after the outage, or they would miss it.
        let changed: Vec<u64> = gone.into_iter().chain(arrived).collect();
        if !changed.is_empty() {
            let events = self.events.clone();
            tokio::spawn(async move {
                tokio::time::sleep(HEARTBEAT * 2).await;
                let _ = events.send(ClusterEvent::Announce(changed));
            });
        }
        self.register(&users).await?;
        self.subscribe_users(&users).await?;
        // A cluster may have dropped this one too.
        let mut sub = self.sub();
        sub.subscribe(&[self.keys.invalidations()]).await?;
        // Invalidations from other nodes may have been lost meanwhile.
        self.cache.clear();
        let since = self.outage_since.swap(0, Ordering::AcqRel);
        self.degraded.store(false, Ordering::Release);
        let since = since.saturating_sub(OUTAGE_MARGIN.as_millis() as u64);
        tracing::info!(users = users.len(), "redis is back; sessions re-registered");
        let _ = self
            .events
            .send(ClusterEvent::Recovered { since_ms: since });
        Ok(())
    }
}
