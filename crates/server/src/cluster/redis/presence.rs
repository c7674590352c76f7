//! Presence in Redis: `{prefix}:online:{user}` is a hash whose fields are
//! the nodes holding a session of the user; the user is online while it is
//! not empty. Fields are added and removed by Lua scripts that also keep
//! each node's user set, so "first node" and "last node" are decided
//! atomically.

use std::time::Instant;

use redis::Script;
use redis::aio::ConnectionManager;

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
        conn: &mut ConnectionManager,
        node: u16,
        user: u64,
    ) -> Result<i64, BusError> {
        Ok(self
            .scripts
            .leave
            .key(self.keys.online(user))
            .key(self.keys.node_users(node))
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
        let mut pipe = redis::pipe();
        for &u in users {
            pipe.exists(self.keys.online(u));
        }
        let mut conn = self.cmd.clone();
        let r: Vec<bool> = pipe.query_async(&mut conn).await?;
        bus_latency(started);
        Ok(r)
    }

    /// Subscribes to the user's channel and joins the presence hash.
    /// Returns true when no other node held the user.
    pub(super) async fn arrive(&self, user: u64) -> Result<bool, BusError> {
        let started = Instant::now();
        let mut sub = self.sub.clone();
        sub.subscribe(self.keys.user_channel(user)).await?;
        let mut conn = self.cmd.clone();
        let holders: i64 = self
            .scripts
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

    /// Leaves the presence hash and unsubscribes. Returns true when no
    /// node holds the user any more.
    pub(super) async fn depart(&self, user: u64) -> Result<bool, BusError> {
        let started = Instant::now();
        let mut conn = self.cmd.clone();
        let holders = self.remove_holder(&mut conn, self.node, user).await?;
        let mut sub = self.sub.clone();
        sub.unsubscribe(self.keys.user_channel(user)).await?;
        bus_latency(started);
        Ok(holders == 0)
    }
}
