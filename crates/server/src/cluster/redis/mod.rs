//! [`RedisBus`]: routing and presence between nodes through Redis, either
//! one server or a Redis Cluster ([`Target`]).
//!
//! Channels: each user has one, `{prefix}:u:{id}` (on a cluster
//! `{prefix}:{tag}:u:{id}`, see [`keys`]); a node subscribes to the
//! channels of the users it holds sessions for, and publishes every frame
//! for a user on that user's channel. The origin node delivers to its own
//! sessions directly and ignores its own publications. What travels is
//! encoded by [`crate::cluster::codec`]. On a cluster, pub/sub is sharded
//! (`SSUBSCRIBE`/`SPUBLISH`): a publication stays within the shard that
//! owns its channel's slot.
//!
//! The bus's jobs, one file each:
//! - [`keys`]: key and channel names, and their hash tags on a cluster;
//! - [`conn`]: the connection, one server or a cluster, and pipelines
//!   grouped so that none spans slots;
//! - [`presence`]: who is online, decided atomically by Lua scripts;
//! - [`publisher`]: the outgoing queue, sent in pipelines;
//! - [`inbound`]: frames and invalidations from other nodes;
//! - [`heartbeat`]: liveness, and reaping nodes that died;
//! - [`recovery`]: what happens after an outage;
//! - [`resubscribe`]: subscriptions a cluster dropped (slot migration,
//!   failover), taken again and their gap replayed.

mod conn;
mod heartbeat;
mod inbound;
mod keys;
mod presence;
mod publisher;
mod recovery;
mod resubscribe;

pub use conn::Target;
pub use heartbeat::{ALIVE_TTL, HEARTBEAT};
pub use keys::{BUCKETS, hash_slot, meta_slot, user_slot};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use redis::AsyncCommands;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::codec::{Body, Envelope};
use super::{Bus, BusError, ClusterEvent, Invalidation};
use crate::cache::RelCache;
use crate::hub::Hub;
use crate::outbox::OutFrame;
use conn::{Conn, Grouped};
use keys::Keys;
use presence::Scripts;
use publisher::{PUBLISH_QUEUE, Publication};

/// The Redis side of a node.
pub struct RedisBus {
    keys: Keys,
    node: u16,
    /// Where Redis is, to connect again.
    target: Target,
    /// Where the subscription connection's pushes go ([`inbound`]).
    push_tx: mpsc::UnboundedSender<redis::PushInfo>,
    /// The connections: replaced whole when a cluster connection stops
    /// answering (see [`RedisBus::reconnect`]).
    conns: std::sync::RwLock<Conns>,
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
    /// Subscriptions to take again (a cluster dropped them).
    lost_tx: mpsc::UnboundedSender<resubscribe::Lost>,
    /// The primary serving each key group, as last seen (cluster only).
    owners: std::sync::Mutex<Vec<String>>,
}

/// A bus's two connections.
struct Conns {
    /// Commands (presence, liveness, publishing).
    cmd: Conn,
    /// Subscriptions; its pushes arrive in [`inbound`].
    sub: Conn,
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

fn bus_latency(started: Instant) {
    crate::metrics::bus_call(started.elapsed());
}

impl RedisBus {
    /// Connects, clears what a previous life of this node slot left behind,
    /// registers the node and starts the background tasks. Events the
    /// server must act on arrive on `events`.
    pub async fn start(
        target: &Target,
        prefix: &str,
        node: u16,
        hub: Arc<Hub>,
        cache: Arc<RelCache>,
        events: mpsc::UnboundedSender<ClusterEvent>,
        stop: CancellationToken,
    ) -> Result<Arc<RedisBus>, BusError> {
        let keys = match target {
            Target::Single(_) => Keys::single(prefix),
            Target::Cluster(_) => {
                if prefix.contains(['{', '}']) {
                    return Err(BusError(format!(
                        "the redis prefix {prefix:?} has a brace, which would change the hash tags of the keys on a cluster"
                    )));
                }
                Keys::sharded(prefix)
            }
        };
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let (cmd, sub) = Conn::open(target, push_tx.clone()).await?;
        let (publish_tx, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
        let (lost_tx, lost_rx) = mpsc::unbounded_channel();
        let bus = Arc::new(RedisBus {
            keys,
            node,
            target: target.clone(),
            push_tx,
            conns: std::sync::RwLock::new(Conns { cmd, sub }),
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
            lost_tx,
            owners: std::sync::Mutex::new(Vec::new()),
        });
        let mut sub = bus.sub();
        sub.subscribe(&[bus.keys.invalidations()]).await?;
        if bus.keys.is_sharded() {
            // What serves each group now: a later change is a failover or
            // a migration, whose gap the bus covers.
            bus.watch_topology(false).await;
        }
        // A node that died in this slot may not have been reaped yet.
        bus.reap(node).await?;
        bus.beat().await?;
        tokio::spawn(bus.clone().receive(push_rx, stop.clone()));
        tokio::spawn(bus.clone().publisher(publish_rx, stop.clone()));
        tokio::spawn(bus.clone().resubscriber(lost_rx, stop.clone()));
        tokio::spawn(bus.clone().heartbeat(stop));
        Ok(bus)
    }
}

impl RedisBus {
    /// The command connection.
    fn cmd(&self) -> Conn {
        let conns = self.conns.read().unwrap_or_else(|e| e.into_inner());
        conns.cmd.clone()
    }

    /// The subscription connection.
    fn sub(&self) -> Conn {
        let conns = self.conns.read().unwrap_or_else(|e| e.into_inner());
        conns.sub.clone()
    }

    /// Replaces both connections with new ones. A cluster connection of
    /// redis-rs 1.8 can stop answering for good after a failover (every
    /// request times out; a new connection works at once): the heartbeat
    /// calls this when its command timed out. What the old subscription
    /// connection held is lost, so this starts the outage handling, which
    /// subscribes everything again on the new one and replays the gap.
    async fn reconnect(&self) -> Result<(), BusError> {
        let (cmd, sub) = Conn::open(&self.target, self.push_tx.clone()).await?;
        self.outage_began("the redis connection stopped answering");
        *self.conns.write().unwrap_or_else(|e| e.into_inner()) = Conns { cmd, sub };
        tracing::warn!("redis connection replaced after it stopped answering");
        Ok(())
    }
}

#[async_trait]
impl Bus for RedisBus {
    fn kind(&self) -> &'static str {
        if self.keys.is_sharded() {
            "redis-cluster"
        } else {
            "redis"
        }
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
        let mut conn = self.cmd();
        let r: Result<(), BusError> = redis::cmd(self.cmd().publish_cmd())
            .arg(self.keys.invalidations())
            .arg(payload)
            .exec_async(&mut conn)
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
        let mut conn = self.cmd();
        let (n, ttl): (u64, i64) = self.noting_outage(
            pipe.query_async::<(u64, i64)>(&mut conn)
                .await
                .map_err(Into::into),
        )?;
        Ok((n, Duration::from_millis(u64::try_from(ttl).unwrap_or(0))))
    }

    async fn uncount(&self, key: &str) -> Result<(), BusError> {
        let mut conn = self.cmd();
        self.noting_outage(
            conn.decr::<_, _, ()>(self.keys.counter(key), 1)
                .await
                .map_err(Into::into),
        )
    }

    async fn reset(&self, key: &str) -> Result<(), BusError> {
        let mut conn = self.cmd();
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
        let mut conn = self.cmd();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        Some(matches!(
            tokio::time::timeout(Duration::from_secs(2), ping).await,
            Ok(Ok(_))
        ))
    }

    async fn unregister(&self) {
        let mut pipes = Grouped::new();
        pipes
            .pipe(self.keys.meta_group())
            .del(self.keys.alive(self.node))
            .srem(self.keys.nodes(), self.node);
        for group in self.keys.user_groups() {
            pipes
                .pipe(group)
                .del(self.keys.node_users(self.node, group));
        }
        let mut r = pipes.clone().run(&self.cmd()).await;
        if let Err((_, e)) = &r
            && e.is_timeout()
            && self.keys.is_sharded()
            && self.reconnect().await.is_ok()
        {
            // A stuck cluster connection (see `reconnect`): once more.
            r = pipes.run(&self.cmd()).await;
        }
        if let Err((_, e)) = r {
            tracing::warn!(error = %e, "could not unregister from redis");
        }
    }
}
