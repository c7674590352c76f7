//! [`RedisBus`]: routing and presence between nodes through Redis.
//!
//! Channels: each user has one, `{prefix}:u:{id}`; a node subscribes to
//! the channels of the users it holds sessions for, and publishes every
//! frame for a user on that user's channel. The origin node delivers to its
//! own sessions directly and ignores its own publications.
//!
//! Presence: `{prefix}:online:{id}` is a hash whose fields are the nodes
//! holding a session of the user; the user is online while it is not
//! empty. Fields are added and removed by Lua scripts, so "first node" and
//! "last node" are decided atomically. Each node keeps `{prefix}:alive:{n}`
//! alive with a short expiry and lists its users in
//! `{prefix}:nodeusers:{n}`; when a node stops refreshing (kill -9), the
//! others notice within seconds, one of them takes `{prefix}:reap:{n}` and
//! removes the dead node from its users' hashes, reporting the users who
//! went offline.
//!
//! Outages: Redis publish/subscribe is at most once. When the connection
//! drops the bus remembers when; once Redis answers again it registers the
//! node's users again (a restarted Redis keeps nothing), resubscribes, and
//! reports [`ClusterEvent::Recovered`] so the server can push the unacked
//! messages its sessions may have missed.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, PushKind, Script, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ClusterEvent;
use crate::cache::RelCache;
use crate::hub::Hub;
use crate::ids::now_ms;
use crate::outbox::OutFrame;

/// How often a node refreshes its liveness and looks for dead nodes.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a node's liveness key lives without a refresh. A killed node's
/// users go offline within about this plus one heartbeat.
pub const ALIVE_TTL: Duration = Duration::from_secs(8);
/// Publications waiting for Redis; beyond this they are dropped (the
/// messages are stored and will be pushed again after the outage).
const PUBLISH_QUEUE: usize = 65_536;
/// Publications sent in one pipeline.
const PUBLISH_BATCH: usize = 1024;
/// Margin before an outage's start from which messages are pushed again.
const OUTAGE_MARGIN_MS: u64 = 5_000;

/// Adds this node to the user's presence hash; returns how many nodes now
/// hold the user.
const JOIN_LUA: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[2], ARGV[2])
return redis.call('HLEN', KEYS[1])
";

/// Removes a node from the user's presence hash; returns how many nodes
/// still hold the user.
const LEAVE_LUA: &str = r"
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return redis.call('HLEN', KEYS[1])
";

/// A change other nodes must forget from their caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    Friendship(u64, u64),
    Group(u64),
}

impl Invalidation {
    fn encode(self) -> String {
        match self {
            Invalidation::Friendship(a, b) => format!("f {a} {b}"),
            Invalidation::Group(g) => format!("g {g}"),
        }
    }

    fn decode(s: &str) -> Option<Invalidation> {
        let mut it = s.split(' ');
        match (it.next()?, it.next()?.parse().ok()?, it.next()) {
            ("f", a, Some(b)) => Some(Invalidation::Friendship(a, b.parse().ok()?)),
            ("g", g, None) => Some(Invalidation::Group(g)),
            _ => None,
        }
    }
}

/// One queued publication.
enum Publication {
    /// A frame for a user's sessions.
    User(u64, Bytes),
    /// A cache invalidation for every node.
    Invalidate(Invalidation),
}

/// Key names under one prefix.
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn user_channel(&self, user: u64) -> String {
        format!("{}:u:{user}", self.prefix)
    }
    fn online(&self, user: u64) -> String {
        format!("{}:online:{user}", self.prefix)
    }
    fn node_users(&self, node: u16) -> String {
        format!("{}:nodeusers:{node}", self.prefix)
    }
    fn alive(&self, node: u16) -> String {
        format!("{}:alive:{node}", self.prefix)
    }
    fn reap(&self, node: u16) -> String {
        format!("{}:reap:{node}", self.prefix)
    }
    fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }
    fn invalidations(&self) -> String {
        format!("{}:inv", self.prefix)
    }
    /// The user id of a channel name of ours.
    fn channel_user(&self, channel: &[u8]) -> Option<u64> {
        let rest = channel.strip_prefix(self.prefix.as_bytes())?;
        let id = rest.strip_prefix(b":u:")?;
        std::str::from_utf8(id).ok()?.parse().ok()
    }
}

/// The Redis side of a node.
pub struct RedisBus {
    keys: Keys,
    node: u16,
    cmd: ConnectionManager,
    sub: ConnectionManager,
    publish_tx: mpsc::Sender<Publication>,
    hub: Arc<Hub>,
    cache: Arc<RelCache>,
    /// When the current outage began (Unix ms), 0 when Redis is fine.
    outage_since: AtomicU64,
    /// Set while the heartbeat has not yet confirmed a recovery.
    degraded: AtomicBool,
    join: Script,
    leave: Script,
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

/// A Redis call failed.
#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct BusError(#[from] redis::RedisError);

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
            hub,
            cache,
            outage_since: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            join: Script::new(JOIN_LUA),
            leave: Script::new(LEAVE_LUA),
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

    /// Queues `frame` for the sessions of `users` on other nodes.
    pub fn publish(&self, users: &[u64], frame: &Bytes) {
        for &user in users {
            self.enqueue(Publication::User(user, frame.clone()));
        }
    }

    /// Tells every other node to forget a cached relation.
    pub fn invalidate(&self, what: Invalidation) {
        self.enqueue(Publication::Invalidate(what));
    }

    fn enqueue(&self, p: Publication) {
        if self.publish_tx.try_send(p).is_err() {
            metrics::counter!("chat_bus_dropped_total").increment(1);
        }
    }

    /// Whether each user has a session on any node.
    pub async fn online(&self, users: &[u64]) -> Result<Vec<bool>, BusError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        self.noting_outage(self.lookup(users).await)
    }

    /// A failed call may mean Redis lost our state: recover once it answers.
    fn noting_outage<T>(&self, r: Result<T, BusError>) -> Result<T, BusError> {
        if let Err(e) = &r {
            self.outage_began(&e.to_string());
        }
        r
    }

    /// Removes node `node` from the user's presence; returns how many
    /// nodes still hold the user.
    async fn remove_holder(
        &self,
        conn: &mut ConnectionManager,
        node: u16,
        user: u64,
    ) -> Result<i64, BusError> {
        Ok(self
            .leave
            .key(self.keys.online(user))
            .key(self.keys.node_users(node))
            .arg(node)
            .arg(user)
            .invoke_async(conn)
            .await?)
    }

    async fn lookup(&self, users: &[u64]) -> Result<Vec<bool>, BusError> {
        let started = Instant::now();
        let mut pipe = redis::pipe();
        for &u in users {
            pipe.exists(self.keys.online(u));
        }
        let mut conn = self.cmd.clone();
        let r: Vec<bool> = pipe.query_async(&mut conn).await?;
        bus_latency(started);
        Ok(r)
    }

    /// This node now holds the user: subscribe to the user's channel and
    /// join the presence hash. Returns true when no other node held the
    /// user (the user just came online).
    pub async fn user_arrived(&self, user: u64) -> Result<bool, BusError> {
        self.noting_outage(self.arrive(user).await)
    }

    async fn arrive(&self, user: u64) -> Result<bool, BusError> {
        let started = Instant::now();
        let mut sub = self.sub.clone();
        sub.subscribe(self.keys.user_channel(user)).await?;
        let mut conn = self.cmd.clone();
        let holders: i64 = self
            .join
            .key(self.keys.online(user))
            .key(self.keys.node_users(self.node))
            .arg(self.node)
            .arg(user)
            .invoke_async(&mut conn)
            .await?;
        bus_latency(started);
        Ok(holders == 1)
    }

    /// This node no longer holds the user. Returns true when no node holds
    /// the user any more (the user went offline).
    pub async fn user_left(&self, user: u64) -> Result<bool, BusError> {
        self.noting_outage(self.leave_user(user).await)
    }

    async fn leave_user(&self, user: u64) -> Result<bool, BusError> {
        let started = Instant::now();
        let mut conn = self.cmd.clone();
        let holders = self.remove_holder(&mut conn, self.node, user).await?;
        let mut sub = self.sub.clone();
        sub.unsubscribe(self.keys.user_channel(user)).await?;
        bus_latency(started);
        Ok(holders == 0)
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.cmd.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Removes this node from Redis (clean shutdown; its sessions have
    /// already left one by one).
    pub async fn unregister(&self) {
        let mut conn = self.cmd.clone();
        let mut pipe = redis::pipe();
        pipe.del(self.keys.alive(self.node))
            .del(self.keys.node_users(self.node))
            .srem(self.keys.nodes(), self.node);
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            tracing::warn!(error = %e, "could not unregister from redis");
        }
    }

    /// Refreshes liveness and the node list.
    async fn beat(&self) -> Result<(), BusError> {
        let mut conn = self.cmd.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.keys.alive(self.node))
            .arg(now_ms())
            .arg("PX")
            .arg(ALIVE_TTL.as_millis() as u64)
            .ignore()
            .sadd(self.keys.nodes(), self.node)
            .ignore();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    fn outage_began(&self, why: &str) {
        if self
            .outage_since
            .compare_exchange(0, now_ms(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            tracing::warn!(
                reason = why,
                "redis connection lost; messages are stored and will be pushed again"
            );
            metrics::counter!("chat_bus_outages_total").increment(1);
        }
        self.degraded.store(true, Ordering::Release);
    }

    /// Every HEARTBEAT: refresh liveness, recover after an outage, reap
    /// dead nodes.
    async fn heartbeat(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.beat().await {
                self.outage_began(&e.to_string());
                continue;
            }
            if self.degraded.load(Ordering::Acquire)
                && let Err(e) = self.recover().await
            {
                tracing::warn!(error = %e, "redis recovery incomplete; retrying");
                continue;
            }
            if let Err(e) = self.reap_dead().await {
                tracing::warn!(error = %e, "dead-node check failed");
            }
        }
    }

    /// After an outage: make Redis agree with this node's sessions again
    /// (register users and channels, drop users who left meanwhile), then
    /// report the recovery.
    async fn recover(&self) -> Result<(), BusError> {
        let users = self.hub.users();
        let mut conn = self.cmd.clone();
        let here: HashSet<u64> = users.iter().copied().collect();
        let listed: HashSet<u64> = conn.smembers(self.keys.node_users(self.node)).await?;
        let mut gone = Vec::new();
        for &u in listed.iter().filter(|u| !here.contains(u)) {
            let holders = self.remove_holder(&mut conn, self.node, u).await?;
            let mut sub = self.sub.clone();
            sub.unsubscribe(self.keys.user_channel(u)).await?;
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
        for chunk in users.chunks(512) {
            let mut pipe = redis::pipe();
            for &u in chunk {
                pipe.hset(self.keys.online(u), self.node, 1).ignore();
                pipe.sadd(self.keys.node_users(self.node), u).ignore();
            }
            pipe.query_async::<()>(&mut conn).await?;
            let channels: Vec<String> = chunk.iter().map(|&u| self.keys.user_channel(u)).collect();
            let mut sub = self.sub.clone();
            sub.subscribe(channels).await?;
        }
        // Invalidations from other nodes may have been lost meanwhile.
        self.cache.clear();
        let since = self.outage_since.swap(0, Ordering::AcqRel);
        self.degraded.store(false, Ordering::Release);
        let since = since.saturating_sub(OUTAGE_MARGIN_MS);
        tracing::info!(users = users.len(), "redis is back; sessions re-registered");
        let _ = self
            .events
            .send(ClusterEvent::Recovered { since_ms: since });
        Ok(())
    }

    /// Finds nodes whose liveness expired and reaps them.
    async fn reap_dead(&self) -> Result<(), BusError> {
        let mut conn = self.cmd.clone();
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
    async fn reap(&self, n: u16) -> Result<(), BusError> {
        let mut conn = self.cmd.clone();
        let users: Vec<u64> = conn.smembers(self.keys.node_users(n)).await?;
        let mut gone = Vec::new();
        for u in users {
            let holders = self.remove_holder(&mut conn, n, u).await?;
            if holders == 0 {
                gone.push(u);
            }
        }
        let mut pipe = redis::pipe();
        pipe.del(self.keys.node_users(n))
            .ignore()
            .srem(self.keys.nodes(), n)
            .ignore();
        pipe.query_async::<()>(&mut conn).await?;
        if !gone.is_empty() {
            let _ = self.events.send(ClusterEvent::Announce(gone));
        }
        Ok(())
    }

    /// Delivers what other nodes published for our users.
    async fn receive(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<redis::PushInfo>,
        stop: CancellationToken,
    ) {
        loop {
            let push = tokio::select! {
                _ = stop.cancelled() => return,
                p = rx.recv() => match p { Some(p) => p, None => return },
            };
            match push.kind {
                PushKind::Message => {
                    let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                        (push.data.first(), push.data.get(1))
                    else {
                        continue;
                    };
                    match self.keys.channel_user(channel) {
                        Some(user) => self.deliver(user, payload),
                        None if channel == self.keys.invalidations().as_bytes() => {
                            self.forget(payload)
                        }
                        None => {}
                    }
                }
                PushKind::Disconnection => self.outage_began("disconnected"),
                _ => {}
            }
        }
    }

    /// A publication is `{origin node} {frame}`; frames from this node were
    /// delivered here already.
    fn deliver(&self, user: u64, payload: &[u8]) {
        let Some(space) = payload.iter().position(|&b| b == b' ') else {
            return;
        };
        let origin: Option<u16> = std::str::from_utf8(&payload[..space])
            .ok()
            .and_then(|s| s.parse().ok());
        if origin == Some(self.node) {
            return;
        }
        let bytes = Bytes::copy_from_slice(&payload[space + 1..]);
        let msg_id = msg_id_of(&bytes);
        let n = self.hub.send(user, &OutFrame { bytes, msg_id }, None);
        metrics::counter!("chat_bus_received_total").increment(1);
        crate::metrics::delivered(n);
    }

    /// Applies another node's invalidation.
    fn forget(&self, payload: &[u8]) {
        let Ok(text) = std::str::from_utf8(payload) else {
            return;
        };
        let Some((origin, rest)) = text.split_once(' ') else {
            return;
        };
        if origin.parse() == Ok(self.node) {
            return;
        }
        match Invalidation::decode(rest) {
            Some(Invalidation::Friendship(a, b)) => self.cache.friendship_changed(a, b),
            Some(Invalidation::Group(g)) => self.cache.group_changed(g),
            None => tracing::warn!(payload = text, "unreadable invalidation"),
        }
    }

    /// Sends queued publications in pipelines.
    async fn publisher(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<Publication>,
        stop: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        let prefix = format!("{} ", self.node);
        loop {
            let first = tokio::select! {
                _ = stop.cancelled() => return,
                f = rx.recv() => match f { Some(f) => f, None => return },
            };
            batch.push(first);
            while batch.len() < PUBLISH_BATCH {
                match rx.try_recv() {
                    Ok(f) => batch.push(f),
                    Err(_) => break,
                }
            }
            let mut pipe = redis::pipe();
            for p in batch.drain(..) {
                match p {
                    Publication::User(user, frame) => {
                        let mut payload = Vec::with_capacity(prefix.len() + frame.len());
                        payload.extend_from_slice(prefix.as_bytes());
                        payload.extend_from_slice(&frame);
                        pipe.publish(self.keys.user_channel(user), payload).ignore();
                    }
                    Publication::Invalidate(what) => {
                        pipe.publish(
                            self.keys.invalidations(),
                            format!("{prefix}{}", what.encode()),
                        )
                        .ignore();
                    }
                }
            }
            let started = Instant::now();
            let mut conn = self.cmd.clone();
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                // The messages are stored; recovery pushes them again.
                self.outage_began(&e.to_string());
            } else {
                bus_latency(started);
            }
        }
    }
}

fn bus_latency(started: Instant) {
    metrics::histogram!("chat_bus_seconds").record(started.elapsed().as_secs_f64());
}

/// The message id of a `msg` event frame, so held events can be matched
/// against a login replay. Cheap: the id is the first number after
/// `"msg":{"id":`.
pub fn msg_id_of(frame: &[u8]) -> Option<u64> {
    const HEAD: &[u8] = b"{\"ev\":\"msg\",\"msg\":{\"id\":";
    let rest = frame.strip_prefix(HEAD)?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        let k = Keys {
            prefix: "chat:t1".into(),
        };
        assert_eq!(k.channel_user(k.user_channel(42).as_bytes()), Some(42));
        assert_eq!(k.channel_user(b"chat:t2:u:42"), None);
        assert_eq!(k.channel_user(b"chat:t1:u:x"), None);
    }

    #[test]
    fn invalidations_round_trip() {
        for inv in [Invalidation::Friendship(3, 9), Invalidation::Group(12)] {
            assert_eq!(Invalidation::decode(&inv.encode()), Some(inv));
        }
        assert_eq!(Invalidation::decode("f 1"), None);
        assert_eq!(Invalidation::decode("x 1 2"), None);
    }

    #[test]
    fn msg_ids_are_found_in_frames() {
        let msg = chat_proto::Msg {
            id: 987,
            from: 1,
            to: Some(2),
            group: None,
            text: "x".into(),
            ts: 5,
            cid: None,
        };
        let line = chat_proto::Event::Msg { msg }.to_line();
        assert_eq!(msg_id_of(&line), Some(987));
        assert_eq!(
            msg_id_of(b"{\"ev\":\"presence\",\"user\":1,\"online\":true}\n"),
            None
        );
    }

    #[test]
    fn resp3_is_requested() {
        assert_eq!(with_resp3("redis://h:1"), "redis://h:1?protocol=resp3");
        assert_eq!(
            with_resp3("redis://h:1/?db=2"),
            "redis://h:1/?db=2&protocol=resp3"
        );
    }
}
