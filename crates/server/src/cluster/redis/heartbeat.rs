//! Liveness: every [`HEARTBEAT`] a node refreshes `{prefix}:alive:{n}` (with
//! a short expiry) and its entry in the node set, recovers after an outage,
//! and looks for dead nodes. When a node stops refreshing (kill -9), one of
//! the others takes `{prefix}:reap:{n}` and removes the dead node from its
//! users' presence hashes, reporting those who went offline.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

use super::RedisBus;
use crate::cluster::codec::Body;
use crate::cluster::{BusError, ClusterEvent};
use crate::ids::now_ms;

/// How often a node refreshes its liveness and looks for dead nodes.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// Recoveries failing in a row after which the connections are replaced.
const STUCK_RECOVERIES: u32 = 5;
/// How long a node's liveness key lives without a refresh. A killed node's
/// users go offline within about this plus one heartbeat.
pub const ALIVE_TTL: Duration = Duration::from_secs(8);

impl RedisBus {
    /// Refreshes liveness and the node list. Returns true when this node
    /// was missing from the list: another node took it for dead (it was
    /// paused, or cut off, for longer than [`ALIVE_TTL`]) and removed its
    /// users from presence, so it must register them again.
    pub(super) async fn beat(&self) -> Result<bool, redis::RedisError> {
        let mut conn = self.cmd();
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.keys.alive(self.node))
            .arg(now_ms())
            .arg("PX")
            .arg(ALIVE_TTL.as_millis() as u64)
            .ignore()
            .sadd(self.keys.nodes(), self.node);
        let (added,): (i64,) = pipe.query_async(&mut conn).await?;
        Ok(added == 1)
    }

    /// Every HEARTBEAT: refresh liveness, recover after an outage, reap
    /// dead nodes.
    pub(super) async fn heartbeat(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failed_recoveries = 0u32;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.beat().await {
                Err(e) => {
                    self.outage_began(&e.to_string());
                    if e.is_timeout() {
                        // Not an answer, an error or a refusal: silence. A
                        // cluster connection can get stuck so (see
                        // `reconnect`).
                        self.reconnect_cluster().await;
                    }
                    continue;
                }
                Ok(true) if !self.hub.users().is_empty() => {
                    self.outage_began("this node was taken for dead")
                }
                Ok(_) => {}
            }
            self.last_beat.store(now_ms(), Ordering::Release);
            if self.degraded.load(Ordering::Acquire) {
                if let Err(e) = self.recover().await {
                    tracing::warn!(error = %e, "redis recovery incomplete; retrying");
                    failed_recoveries += 1;
                    if failed_recoveries >= STUCK_RECOVERIES {
                        failed_recoveries = 0;
                        self.reconnect_cluster().await;
                    }
                    continue;
                }
                failed_recoveries = 0;
            }
            if let Err(e) = self.reap_dead().await {
                tracing::warn!(error = %e, "dead-node check failed");
            }
            if self.keys.is_sharded() {
                self.watch_topology(true).await;
            }
        }
    }

    /// On a cluster, replaces the connections (one Redis's connection
    /// manager reconnects by itself).
    async fn reconnect_cluster(&self) {
        if self.keys.is_sharded()
            && let Err(e) = self.reconnect().await
        {
            tracing::warn!(error = %e, "connecting to the redis cluster again failed");
        }
    }

    /// Finds nodes whose liveness expired and reaps them.
    async fn reap_dead(&self) -> Result<(), BusError> {
        let mut conn = self.cmd();
        let nodes: Vec<u16> = conn.smembers(self.keys.nodes()).await?;
        for n in nodes {
            if n == self.node {
                continue;
            }
            let alive: bool = conn.exists(self.keys.alive(n)).await?;
            if alive {
                continue;
            }
            // One reaper per dead node.
            let lock: Option<String> = redis::cmd("SET")
                .arg(self.keys.reap(n))
                .arg(self.node)
                .arg("NX")
                .arg("PX")
                .arg(30_000)
                .query_async(&mut conn)
                .await?;
            if lock.is_none() {
                continue;
            }
            tracing::warn!(
                node = n,
                "node stopped answering; marking its users offline"
            );
            self.reap(n).await?;
            let _: () = conn.del(self.keys.reap(n)).await?;
        }
        Ok(())
    }

    /// Removes node `n` from the presence of each of its users and reports
    /// those who are now offline everywhere.
    pub(super) async fn reap(&self, n: u16) -> Result<(), BusError> {
        let mut conn = self.cmd();
        let mut gone = Vec::new();
        for group in self.keys.user_groups() {
            let users: Vec<u64> = conn.smembers(self.keys.node_users(n, group)).await?;
            for u in users {
                let holders = self.remove_holder(&mut conn, n, u).await?;
                if holders == 0 {
                    gone.push(u);
                }
            }
            let _: () = conn.del(self.keys.node_users(n, group)).await?;
        }
        let _: () = conn.srem(self.keys.nodes(), n).await?;
        if !gone.is_empty() {
            let _ = self.events.send(ClusterEvent::Announce(gone));
        }
        if n != self.node {
            self.replay_after_death();
        }
        Ok(())
    }

    /// A node died: messages it committed in its last moments may never
    /// have been published. Every node (this one too: it ignores its own
    /// publications) replays to its users what came since shortly before
    /// the dead node's last sign of life.
    fn replay_after_death(&self) {
        let since_ms =
            now_ms().saturating_sub((ALIVE_TTL + HEARTBEAT * 2).as_millis() as u64 + 5_000);
        let since = crate::ids::first_id_at(since_ms);
        self.enqueue(super::publisher::Publication {
            user: None,
            body: Body::Replay(since),
        });
        let held = self.hub.hold_all();
        let _ = self.events.send(ClusterEvent::Replay { held, since });
    }
}
