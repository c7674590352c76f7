//! Presence in Redis: `{prefix}:online:{user}` is a hash whose fields are
//! the nodes holding a session of the user; the user is online while it is
//! not empty. Fields are added and removed by Lua scripts that also keep
//! each node's user set (on a cluster, one set per node and bucket, in the
//! user's slot), so "first node" and "last node" are decided atomically.

use std::time::Instant;

use redis::Script;

use super::conn::{Conn, Grouped};
use super::{RedisBus, bus_latency};
use crate::cluster::BusError;

/// Adds this node to the user's presence hash; returns how many nodes now
/// hold the user.
pub(super) const JOIN_LUA: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[2], ARGV[2])
return redis.call('HLEN', KEYS[1])
";

/// Removes a node from the user's presence hash; returns how many nodes
/// still hold the user.
pub(super) const LEAVE_LUA: &str = r"
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return redis.call('HLEN', KEYS[1])
";

/// The two scripts, loaded once.
#[derive(Debug)]
pub(super) struct Scripts {
    pub join: Script,
    pub leave: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            join: Script::new(JOIN_LUA),
            leave: Script::new(LEAVE_LUA),
        }
    }
}

impl RedisBus {
    /// Removes node `node` from the user's presence; returns how many
    /// nodes still hold the user.
    pub(super) async fn remove_holder(
        &self,
        conn: &mut Conn,
        node: u16,
        user: u64,
    ) -> Result<i64, BusError> {
        Ok(self
            .scripts
            .leave
            .key(self.keys.online(user))
            .key(self.keys.node_users(node, self.keys.group(user)))
            .arg(node)
            .arg(user)
            .invoke_async(conn)
            .await?)
    }

    pub(super) async fn lookup(&self, users: &[u64]) -> Result<Vec<bool>, BusError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        // One pipeline per group, each answering for its users.
        let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (i, &u) in users.iter().enumerate() {
            groups.entry(self.keys.group(u)).or_default().push(i);
        }
        let answers = futures::future::join_all(groups.into_values().map(|at| {
            let mut pipe = redis::pipe();
            for &i in &at {
                pipe.exists(self.keys.online(users[i]));
            }
            let mut conn = self.cmd();
            async move {
                let found: Vec<bool> = pipe.query_async(&mut conn).await?;
                Ok::<_, BusError>((at, found))
            }
        }))
        .await;
        let mut r = vec![false; users.len()];
        for answer in answers {
            let (at, found) = answer?;
            for (i, online) in at.into_iter().zip(found) {
                r[i] = online;
            }
        }
        bus_latency(started);
        Ok(r)
    }

    /// Subscribes to the user's channel and joins the presence hash.
    /// Returns true when no other node held the user.
    pub(super) async fn arrive(&self, user: u64) -> Result<bool, BusError> {
        let started = Instant::now();
        let mut sub = self.sub();
        sub.subscribe(&[self.keys.user_channel(user)]).await?;
        let mut conn = self.cmd();
        let holders: i64 = self
            .scripts
            .join
            .key(self.keys.online(user))
            .key(self.keys.node_users(self.node, self.keys.group(user)))
            .arg(self.node)
            .arg(user)
            .invoke_async(&mut conn)
            .await?;
        bus_latency(started);
        Ok(holders == 1)
    }

    /// Leaves the presence hash and unsubscribes. Returns true when no
    /// node holds the user any more.
    pub(super) async fn depart(&self, user: u64) -> Result<bool, BusError> {
        let started = Instant::now();
        let mut conn = self.cmd();
        let holders = self.remove_holder(&mut conn, self.node, user).await?;
        let mut sub = self.sub();
        sub.unsubscribe(&[self.keys.user_channel(user)]).await?;
        bus_latency(started);
        Ok(holders == 0)
    }

    /// Registers this node as a holder of each of `users` again (after an
    /// outage or a failover, Redis may have lost it), without asking who
    /// else holds them.
    pub(super) async fn register(&self, users: &[u64]) -> Result<(), BusError> {
        for chunk in users.chunks(512) {
            let mut pipes = Grouped::new();
            for &u in chunk {
                let group = self.keys.group(u);
                pipes
                    .pipe(group)
                    .hset(self.keys.online(u), self.node, 1)
                    .sadd(self.keys.node_users(self.node, group), u);
            }
            pipes.run(&self.cmd()).await.map_err(|(_, e)| e)?;
        }
        // A user who left meanwhile may have been registered again after
        // leaving: take them out.
        let mut conn = self.cmd();
        for &u in users {
            if !self.hub.is_online(u) {
                self.remove_holder(&mut conn, self.node, u).await?;
            }
        }
        Ok(())
    }

    /// Subscribes to the channels of `users` (one command per group and
    /// chunk: on a cluster one `SSUBSCRIBE` must stay within a slot).
    pub(super) async fn subscribe_users(&self, users: &[u64]) -> Result<(), BusError> {
        let mut groups: std::collections::BTreeMap<usize, Vec<String>> = Default::default();
        for &u in users {
            groups
                .entry(self.keys.group(u))
                .or_default()
                .push(self.keys.user_channel(u));
        }
        let done = futures::future::join_all(groups.into_values().map(|channels| {
            let mut sub = self.sub();
            async move {
                for chunk in channels.chunks(512) {
                    sub.subscribe(chunk).await?;
                }
                Ok::<(), redis::RedisError>(())
            }
        }))
        .await;
        done.into_iter().collect::<Result<(), _>>()?;
        Ok(())
    }
}
