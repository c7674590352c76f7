//! [`RedisBus`]: routing and presence between nodes through Redis.
//!
//! Channels: each user has one, `{prefix}:u:{id}`; a node subscribes to
//! the channels of the users it holds sessions for, and publishes every
//! frame for a user on that user's channel. The origin node delivers to its
//! own sessions directly and ignores its own publications. What travels is
//! encoded by [`crate::cluster::codec`].
//!
//! The bus's jobs, one file each:
//! - [`keys`]: key and channel names;
//! - [`presence`]: who is online, decided atomically by Lua scripts;
//! - [`publisher`]: the outgoing queue, sent in pipelines;
//! - [`inbound`]: frames and invalidations from other nodes;
//! - [`heartbeat`]: liveness, and reaping nodes that died;
//! - [`recovery`]: what happens after an outage.

mod heartbeat;
mod inbound;
mod keys;
mod presence;
mod publisher;
mod recovery;

pub use heartbeat::{ALIVE_TTL, HEARTBEAT};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::codec::{Body, Envelope};
use super::{Bus, BusError, ClusterEvent, Invalidation};
use crate::cache::RelCache;
use crate::hub::Hub;
use crate::outbox::OutFrame;
use keys::Keys;
use presence::Scripts;
use publisher::{PUBLISH_QUEUE, Publication};

/// The Redis side of a node.
pub struct RedisBus {
    keys: Keys,
    node: u16,
    /// Commands (presence, liveness, publishing).
    cmd: ConnectionManager,
    /// Subscriptions; its pushes arrive in [`inbound`].
    sub: ConnectionManager,
    publish_tx: mpsc::Sender<Publication>,
    /// Set when a publication was dropped because the queue was full.
    publish_dropped: AtomicBool,
    /// Where frames from other nodes are delivered.
    hub: Arc<Hub>,
    /// Where invalidations from other nodes are applied.
    cache: Arc<RelCache>,
    /// When the current outage began (Unix ms), 0 when Redis is fine.
    outage_since: AtomicU64,
    /// When Redis last confirmed this node alive (ms): an outage noticed
    /// late (after a pause) began no later than this.
    last_beat: AtomicU64,
    /// Set while the heartbeat has not yet confirmed a recovery.
    degraded: AtomicBool,
    /// Frames from other nodes held from an outage until its replay is
    /// done (`None`: delivering).
    inbound_held: std::sync::Mutex<Option<Vec<inbound::HeldItem>>>,
    scripts: Scripts,
    events: mpsc::UnboundedSender<ClusterEvent>,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("prefix", &self.keys.prefix)
            .field("node", &self.node)
            .finish()
    }
}

impl From<redis::RedisError> for BusError {
    fn from(e: redis::RedisError) -> BusError {
        BusError(e.to_string())
    }
}

fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(3)))
        .set_min_delay(Duration::from_millis(100))
        .set_max_delay(Duration::from_secs(2))
        .set_number_of_retries(3)
}

fn bus_latency(started: Instant) {
    crate::metrics::bus_call(started.elapsed());
}

impl RedisBus {
    /// Connects, clears what a previous life of this node slot left behind,
    /// registers the node and starts the background tasks. Events the
    /// server must act on arrive on `events`.
    pub async fn start(
        url: &str,
        prefix: &str,
        node: u16,
        hub: Arc<Hub>,
        cache: Arc<RelCache>,
        events: mpsc::UnboundedSender<ClusterEvent>,
        stop: CancellationToken,
    ) -> Result<Arc<RedisBus>, BusError> {
        let client = redis::Client::open(with_resp3(url))?;
        let cmd = ConnectionManager::new_with_config(client.clone(), manager_config()).await?;
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let sub = ConnectionManager::new_with_config(
            client,
            manager_config()
                .set_push_sender(push_tx)
                .set_automatic_resubscription(),
        )
        .await?;
        let (publish_tx, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
        let bus = Arc::new(RedisBus {
            keys: Keys {
                prefix: prefix.to_owned(),
            },
            node,
            cmd,
            sub,
            publish_tx,
            publish_dropped: AtomicBool::new(false),
            hub,
            cache,
            outage_since: AtomicU64::new(0),
            last_beat: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            inbound_held: std::sync::Mutex::new(None),
            scripts: Scripts::new(),
            events,
        });
        let mut sub = bus.sub.clone();
        sub.subscribe(bus.keys.invalidations()).await?;
        // A node that died in this slot may not have been reaped yet.
        bus.reap(node).await?;
        bus.beat().await?;
        tokio::spawn(bus.clone().receive(push_rx, stop.clone()));
        tokio::spawn(bus.clone().publisher(publish_rx, stop.clone()));
        tokio::spawn(bus.clone().heartbeat(stop));
        Ok(bus)
    }
}

#[async_trait]
impl Bus for RedisBus {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn publish(&self, users: &[u64], frame: &OutFrame) {
        for &user in users {
            self.enqueue(Publication {
                user: Some(user),
                body: Body::Frame(frame.clone()),
            });
        }
    }

    async fn invalidate(&self, what: Invalidation) {
        // Published now, not queued: the change must be known on every
        // node before the request that made it is answered.
        let payload = Envelope {
            origin: self.node,
            body: Body::Invalidate(what),
        }
        .encode();
        let mut conn = self.cmd.clone();
        let r: Result<(), BusError> = conn
            .publish(self.keys.invalidations(), payload)
            .await
            .map_err(BusError::from);
        // Lost: the recovery clears every node's cache.
        let _ = self.noting_outage(r);
    }

    fn resume(&self, replayed: &std::collections::HashMap<u64, std::collections::HashSet<u64>>) {
        self.resume_inbound(replayed);
    }

    fn hold_local(&self, users: &[u64], frame: &OutFrame, except: Option<u64>) -> bool {
        self.hold_if_held(users, frame, except)
    }

    fn end_sessions(&self, user: u64, frame: &Bytes) {
        self.enqueue(Publication {
            user: Some(user),
            body: Body::EndSessions(frame.clone()),
        });
    }

    async fn count(&self, key: &str, window: Duration) -> Result<(u64, Duration), BusError> {
        let key = self.keys.counter(key);
        let mut pipe = redis::pipe();
        pipe.incr(&key, 1)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(window.as_millis() as u64)
            .arg("NX")
            .ignore()
            .pttl(&key);
        let mut conn = self.cmd.clone();
        let (n, ttl): (u64, i64) = self.noting_outage(
            pipe.query_async::<(u64, i64)>(&mut conn)
                .await
                .map_err(Into::into),
        )?;
        Ok((n, Duration::from_millis(u64::try_from(ttl).unwrap_or(0))))
    }

    async fn uncount(&self, key: &str) -> Result<(), BusError> {
        let mut conn = self.cmd.clone();
        self.noting_outage(
            conn.decr::<_, _, ()>(self.keys.counter(key), 1)
                .await
                .map_err(Into::into),
        )
    }

    async fn reset(&self, key: &str) -> Result<(), BusError> {
        let mut conn = self.cmd.clone();
        self.noting_outage(
            conn.del::<_, ()>(self.keys.counter(key))
                .await
                .map_err(Into::into),
        )
    }

    async fn online(&self, users: &[u64]) -> Result<Vec<bool>, BusError> {
        self.noting_outage(self.lookup(users).await)
    }

    async fn user_arrived(&self, user: u64) -> Result<bool, BusError> {
        self.noting_outage(self.arrive(user).await)
    }

    async fn user_left(&self, user: u64) -> Result<bool, BusError> {
        self.noting_outage(self.depart(user).await)
    }

    async fn healthy(&self) -> Option<bool> {
        let mut conn = self.cmd.clone();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        Some(matches!(
            tokio::time::timeout(Duration::from_secs(2), ping).await,
            Ok(Ok(_))
        ))
    }

    async fn unregister(&self) {
        let mut conn = self.cmd.clone();
        let mut pipe = redis::pipe();
        pipe.del(self.keys.alive(self.node))
            .del(self.keys.node_users(self.node))
            .srem(self.keys.nodes(), self.node);
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            tracing::warn!(error = %e, "could not unregister from redis");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp3_is_requested() {
        assert_eq!(with_resp3("redis://h:1"), "redis://h:1?protocol=resp3");
        assert_eq!(
            with_resp3("redis://h:1/?db=2"),
            "redis://h:1/?db=2&protocol=resp3"
        );
    }
}
