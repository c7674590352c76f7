//! The two ways to reach Redis, behind one connection type: one server
//! (a [`ConnectionManager`], plain pub/sub) or a Redis Cluster (a cluster
//! connection, sharded pub/sub: `SSUBSCRIBE`/`SPUBLISH`, so a publication
//! travels only within the shard that owns its channel).
//!
//! On a cluster a pipeline must stay within one slot (the client refuses
//! others), so commands are gathered in [`Grouped`]: one pipeline per key
//! group (see [`super::keys`]), sent concurrently. On one Redis there is
//! one group, so one pipeline, as before.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, PushInfo, RedisError, RedisFuture, RedisResult, Value};
use tokio::sync::mpsc;

/// Where the bus's Redis is.
#[derive(Debug, Clone)]
pub enum Target {
    /// One Redis server (`redis://HOST:PORT`).
    Single(String),
    /// A Redis Cluster, reached through any of these seed addresses
    /// (`HOST:PORT` or `redis://HOST:PORT`).
    Cluster(Vec<String>),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Single(url) => write!(f, "redis at {url}"),
            Target::Cluster(seeds) => write!(f, "redis cluster at {}", seeds.join(",")),
        }
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

fn seed_url(seed: &str) -> String {
    let seed = seed.trim();
    if seed.contains("://") {
        seed.to_owned()
    } else {
        format!("redis://{seed}")
    }
}

/// How long connecting to a cluster may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(3)))
        .set_min_delay(Duration::from_millis(100))
        .set_max_delay(Duration::from_secs(2))
        .set_number_of_retries(3)
}

fn cluster_builder(seeds: &[String]) -> ClusterClientBuilder {
    ClusterClientBuilder::new(seeds.iter().map(|s| seed_url(s)).collect::<Vec<_>>())
        .use_protocol(redis::ProtocolVersion::RESP3)
        .connection_timeout(Duration::from_secs(2))
        .response_timeout(Duration::from_secs(3))
        // A request waits out a failover (the replica's promotion) at
        // most this long, then fails and the bus's outage handling takes
        // over.
        .overall_response_timeout(Some(Duration::from_secs(5)))
        .retries(6)
        .min_retry_wait(50)
        .max_retry_wait(1000)
}

/// A connection to Redis: commands, pipelines and scripts go through
/// [`ConnectionLike`] whatever the kind.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Opens the two connections of a bus: one for commands, one for
    /// subscriptions, whose pushes (messages, confirmations, disconnections)
    /// go to `pushes`.
    pub async fn open(
        target: &Target,
        pushes: mpsc::UnboundedSender<PushInfo>,
    ) -> RedisResult<(Conn, Conn)> {
        match target {
            Target::Single(url) => {
                let client = redis::Client::open(with_resp3(url))?;
                let cmd = ConnectionManager::new_with_config(client.clone(), manager_config());
                let sub = ConnectionManager::new_with_config(
                    client,
                    manager_config()
                        .set_push_sender(pushes)
                        .set_automatic_resubscription(),
                );
                Ok((Conn::Single(cmd.await?), Conn::Single(sub.await?)))
            }
            Target::Cluster(seeds) => {
                let cmd = cluster_builder(seeds).build()?;
                // Its subscriptions are tracked by the client, which takes
                // them again after a reconnection; what it forgets (after a
                // slot migration or a failover) the bus takes again itself.
                let sub = cluster_builder(seeds).push_sender(pushes).build()?;
                let both = async {
                    Ok::<_, RedisError>((
                        Conn::Cluster(cmd.get_async_connection().await?),
                        Conn::Cluster(sub.get_async_connection().await?),
                    ))
                };
                // Connecting has been seen to hang (redis-rs#1953).
                tokio::time::timeout(CONNECT_WITHIN, both)
                    .await
                    .map_err(|_| {
                        RedisError::from(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "connecting to the redis cluster timed out",
                        ))
                    })?
            }
        }
    }

    /// The publishing command: `PUBLISH`, or `SPUBLISH` on a cluster.
    pub fn publish_cmd(&self) -> &'static str {
        match self {
            Conn::Single(_) => "PUBLISH",
            Conn::Cluster(_) => "SPUBLISH",
        }
    }

    /// Subscribes to `channels` (`SSUBSCRIBE` on a cluster, where they
    /// must all be in one slot: one group of [`super::keys::Keys`]).
    pub async fn subscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        if channels.is_empty() {
            return Ok(());
        }
        match self {
            Conn::Single(c) => c.subscribe(channels).await,
            Conn::Cluster(c) => c.ssubscribe(channels).await,
        }
    }

    /// Unsubscribes from `channels` (of one group, on a cluster).
    pub async fn unsubscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        if channels.is_empty() {
            return Ok(());
        }
        match self {
            Conn::Single(c) => c.unsubscribe(channels).await,
            Conn::Cluster(c) => c.sunsubscribe(channels).await,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Commands gathered by key group, one pipeline per group.
#[derive(Default, Clone)]
pub(super) struct Grouped {
    pipes: BTreeMap<usize, Pipeline>,
}

impl Grouped {
    pub fn new() -> Grouped {
        Grouped::default()
    }

    /// The pipeline of group `group`.
    pub fn pipe(&mut self, group: usize) -> &mut Pipeline {
        self.pipes.entry(group).or_default()
    }

    /// Sends every pipeline at once (their replies are ignored). Returns
    /// the groups whose pipeline failed, with the first error.
    pub async fn run(self, conn: &Conn) -> Result<(), (Vec<usize>, RedisError)> {
        let results = futures::future::join_all(self.pipes.into_iter().map(|(group, pipe)| {
            let mut conn = conn.clone();
            async move { (group, pipe.exec_async(&mut conn).await) }
        }))
        .await;
        let mut failed = Vec::new();
        let mut first = None;
        for (group, r) in results {
            if let Err(e) = r {
                failed.push(group);
                first.get_or_insert(e);
            }
        }
        match first {
            None => Ok(()),
            Some(e) => Err((failed, e)),
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

    #[test]
    fn seeds_become_urls() {
        assert_eq!(seed_url("127.0.0.1:7000"), "redis://127.0.0.1:7000");
        assert_eq!(seed_url(" redis://h:1 "), "redis://h:1");
    }
}
