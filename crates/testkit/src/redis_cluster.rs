//! A Redis Cluster of the test's own: three primaries with a replica each,
//! `redis-server --cluster-enabled yes` on free loopback ports, joined by
//! `redis-cli --cluster create`, keeping nothing on disk but the nodes'
//! cluster config files in a temporary folder. Dropping it kills them all.
//!
//! The test can move a slot from one primary to another (the same steps
//! as `redis-cli --cluster reshard`, for one chosen slot), kill a primary
//! with SIGKILL and wait for its replica to take over, and read Redis's
//! own command counters.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::{Child, fresh_port, wait_port};

/// Replicas fail over a primary that stays silent this long (ms).
pub const NODE_TIMEOUT_MS: u64 = 2000;

/// One redis-server of the cluster.
pub struct RedisNode {
    pub port: u16,
    child: Option<Child>,
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub id: String,
    pub port: u16,
    pub primary: bool,
    pub failed: bool,
    /// Slot ranges served (primaries), inclusive.
    pub slots: Vec<(u16, u16)>,
}

/// A running Redis Cluster.
pub struct RedisCluster {
    pub nodes: Vec<RedisNode>,
    _dir: tempfile::TempDir,
}

/// Runs `redis-cli -p PORT ARGS...`; returns its output (an error reply
/// is an error).
pub async fn cli(port: u16, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .await
        .context("cannot run redis-cli")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || text.starts_with("ERR") || text.starts_with("(error)") {
        bail!(
            "redis-cli -p {port} {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(text)
}

impl RedisCluster {
    /// Starts six nodes and makes them a cluster of three primaries with a
    /// replica each; returns once every slot is served and every node
    /// agrees.
    pub async fn start() -> anyhow::Result<RedisCluster> {
        let dir = tempfile::tempdir()?;
        let mut nodes = Vec::new();
        let mut taken = Vec::new();
        for _ in 0..6 {
            let port = fresh_port(&mut taken)?;
            let bus_port = fresh_port(&mut taken)?;
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string()])
                .args(["--cluster-port", &bus_port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .arg("--cluster-config-file")
                .arg(dir.path().join(format!("nodes-{port}.conf")))
                .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
                .arg("--dir")
                .arg(dir.path())
                .args(["--save", "", "--appendonly", "no"])
                // Replicas in sync at once (the default waits 5 s before a
                // first full sync), and always allowed to take over.
                .args(["--repl-diskless-sync-delay", "0"])
                .args(["--cluster-replica-validity-factor", "0"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .context("cannot run redis-server")?;
            nodes.push(RedisNode {
                port,
                child: Some(Child(child)),
            });
        }
        for n in &nodes {
            wait_port(n.port, Duration::from_secs(10)).await?;
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        let out = tokio::process::Command::new("redis-cli")
            .args(&args)
            .output()
            .await
            .context("cannot run redis-cli --cluster create")?;
        if !out.status.success() {
            bail!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let cluster = RedisCluster { nodes, _dir: dir };
        cluster.wait_stable(Duration::from_secs(30)).await?;
        cluster
            .wait_replicas_synced(Duration::from_secs(30))
            .await?;
        Ok(cluster)
    }

    /// The seed addresses, as `--redis-cluster` takes them.
    pub fn seeds(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The ports of the nodes still running.
    pub fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// `CLUSTER NODES` as seen by node `port`.
    pub async fn cluster_nodes(&self, port: u16) -> anyhow::Result<Vec<NodeInfo>> {
        let text = cli(port, &["CLUSTER", "NODES"]).await?;
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                bail!("odd CLUSTER NODES line: {line}");
            }
            let addr = f[1].split('@').next().unwrap_or_default();
            let port = addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .with_context(|| format!("no port in {line}"))?;
            let flags = f[2];
            let mut slots = Vec::new();
            for s in &f[8..] {
                if s.starts_with('[') {
                    continue; // a slot being migrated or imported
                }
                let (lo, hi) = s.split_once('-').unwrap_or((s, s));
                slots.push((lo.parse()?, hi.parse()?));
            }
            out.push(NodeInfo {
                id: f[0].to_owned(),
                port,
                primary: flags.contains("master"),
                failed: flags.split(',').any(|f| f == "fail"),
                slots,
            });
        }
        Ok(out)
    }

    /// Waits until every running node reports `cluster_state:ok` and
    /// sees every slot served by a primary that is not failed.
    pub async fn wait_stable(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let mut ok = true;
            for port in self.live_ports() {
                let info = cli(port, &["CLUSTER", "INFO"]).await.unwrap_or_default();
                if !info.contains("cluster_state:ok") {
                    ok = false;
                    break;
                }
                let nodes = self.cluster_nodes(port).await.unwrap_or_default();
                let served: u32 = nodes
                    .iter()
                    .filter(|n| n.primary && !n.failed)
                    .flat_map(|n| n.slots.iter())
                    .map(|&(lo, hi)| u32::from(hi - lo) + 1)
                    .sum();
                if served != 16384 {
                    ok = false;
                    break;
                }
            }
            if ok {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the redis cluster is not stable after {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every replica's link to its primary is up (its first
    /// full sync done), so that it can take over.
    pub async fn wait_replicas_synced(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        for port in self.live_ports() {
            loop {
                let info = cli(port, &["INFO", "replication"]).await?;
                if info.contains("role:master") || info.contains("master_link_status:up") {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    bail!("the replica on {port} is not in sync after {within:?}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// The live primary serving `slot`.
    pub async fn primary_of(&self, slot: u16) -> anyhow::Result<NodeInfo> {
        let port = *self.live_ports().first().context("no node runs")?;
        self.cluster_nodes(port)
            .await?
            .into_iter()
            .find(|n| {
                n.primary && !n.failed && n.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot))
            })
            .with_context(|| format!("no primary serves slot {slot}"))
    }

    /// The live primaries.
    pub async fn primaries(&self) -> anyhow::Result<Vec<NodeInfo>> {
        let port = *self.live_ports().first().context("no node runs")?;
        Ok(self
            .cluster_nodes(port)
            .await?
            .into_iter()
            .filter(|n| n.primary && !n.failed && self.live_ports().contains(&n.port))
            .collect())
    }

    /// Moves `slot`, keys and all, from its primary to the primary on
    /// port `to` (`redis-cli --cluster reshard`'s steps, for one slot).
    /// `pause` waits between marking the slot migrating and finishing,
    /// so traffic meets the slot mid-move.
    pub async fn migrate_slot(&self, slot: u16, to: u16, pause: Duration) -> anyhow::Result<()> {
        let from = self.primary_of(slot).await?;
        let nodes = self.cluster_nodes(to).await?;
        let dest = nodes
            .iter()
            .find(|n| n.port == to)
            .context("no such destination")?
            .clone();
        if from.port == to {
            bail!("slot {slot} is already on {to}");
        }
        let s = slot.to_string();
        cli(to, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &from.id]).await?;
        cli(
            from.port,
            &["CLUSTER", "SETSLOT", &s, "MIGRATING", &dest.id],
        )
        .await?;
        tokio::time::sleep(pause).await;
        loop {
            let keys = cli(from.port, &["CLUSTER", "GETKEYSINSLOT", &s, "100"]).await?;
            let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let to_s = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &to_s, "", "0", "5000", "KEYS"];
            args.extend(keys);
            cli(from.port, &args).await?;
        }
        for port in [to, from.port] {
            cli(port, &["CLUSTER", "SETSLOT", &s, "NODE", &dest.id]).await?;
        }
        for port in self.live_ports() {
            if port != to && port != from.port {
                let _ = cli(port, &["CLUSTER", "SETSLOT", &s, "NODE", &dest.id]).await;
            }
        }
        Ok(())
    }

    /// Kills the node on `port` with SIGKILL.
    pub fn kill(&mut self, port: u16) {
        if let Some(n) = self.nodes.iter_mut().find(|n| n.port == port)
            && let Some(mut child) = n.child.take()
        {
            child.kill9();
        }
    }

    /// Kills the primary on `port` with SIGKILL and waits until a replica
    /// serves its slots and the cluster is whole again.
    pub async fn kill_primary(&mut self, port: u16, within: Duration) -> anyhow::Result<()> {
        let slots = self
            .primaries()
            .await?
            .into_iter()
            .find(|p| p.port == port)
            .with_context(|| format!("{port} is not a live primary"))?
            .slots;
        let (first, _) = *slots.first().context("the primary serves no slot")?;
        self.kill(port);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(p) = self.primary_of(first).await
                && p.port != port
            {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("no replica took over from {port} within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.wait_stable(within).await
    }

    /// Calls of `command` (lower case, e.g. `spublish`) on every running
    /// node since it started, from `INFO commandstats`.
    pub async fn command_calls(&self, command: &str) -> anyhow::Result<u64> {
        let mut total = 0;
        let prefix = format!("cmdstat_{command}:calls=");
        for port in self.live_ports() {
            let info = cli(port, &["INFO", "commandstats"]).await?;
            for line in info.lines() {
                if let Some(rest) = line.strip_prefix(&prefix) {
                    let n: u64 = rest.split(',').next().unwrap_or("0").parse()?;
                    total += n;
                }
            }
        }
        Ok(total)
    }
}

/// Settings for a chat node on 127.0.0.1:0 sharing `db` and the Redis
/// Cluster reached through `seeds`, under `prefix`.
pub fn node_config(db: &str, seeds: &str, prefix: &str) -> chatserver::Config {
    let mut c = crate::test_config(db);
    c.redis_cluster = seeds.split(',').map(str::to_owned).collect();
    c.redis_prefix = prefix.to_owned();
    c
}

/// Whether `redis-server` and `redis-cli` can run here; without them the
/// caller should skip, saying so (with `CI` set, that is a failure).
pub fn available() -> bool {
    let runs = |bin: &str| {
        std::process::Command::new(bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if runs("redis-server") && runs("redis-cli") {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("redis-server or redis-cli is missing and CI is set");
    }
    eprintln!("skipped: redis-server and redis-cli are needed for a Redis Cluster");
    false
}
