//! A MariaDB Galera cluster of the test's own: three `mariadbd` processes
//! on free loopback ports, each with its data in a temporary folder, joined
//! by Galera (Debian's `galera-4` provider) into one synchronous
//! multi-primary database. The first node bootstraps the cluster
//! (`--wsrep-new-cluster`); the other two join it and copy its data by
//! state transfer (rsync, or mariabackup when rsync is missing). Each node
//! lets `root` in over TCP without a password and has a database `test`.
//! Dropping the cluster kills every node.
//!
//! Galera runs its nodes as the `mysql` user (as root its state transfer
//! fails), so the folders are given to `mysql` when the test runs as root.
//! [`GaleraCluster::start`] returns `None`, saying why, when Galera or
//! MariaDB is not installed; with `CI` set that is a failure instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::Connection;

use crate::{Child, fresh_port, wait_port};

/// Where Debian's `galera-4` puts the provider.
pub const PROVIDER: &str = "/usr/lib/galera/libgalera_smm.so";

/// Nodes in the cluster.
pub const NODES: usize = 3;

/// One `mariadbd` of the cluster.
pub struct GaleraNode {
    /// Its MySQL port on 127.0.0.1.
    pub port: u16,
    /// Galera's group communication port (`base_port`).
    pub gcomm_port: u16,
    ist_port: u16,
    sst_port: u16,
    datadir: PathBuf,
    child: Option<Child>,
}

/// A running three-node Galera cluster.
pub struct GaleraCluster {
    pub nodes: Vec<GaleraNode>,
    dir: tempfile::TempDir,
}

/// The state transfer method the installed tools allow: rsync when it is
/// installed, else mariabackup.
fn sst_method() -> Option<&'static str> {
    if runs("rsync", &["--version"]) {
        Some("rsync")
    } else if runs("mariabackup", &["--version"]) || runs("mariadb-backup", &["--version"]) {
        Some("mariabackup")
    } else {
        None
    }
}

fn runs(bin: &str, args: &[&str]) -> bool {
    std::process::Command::new(bin)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why a Galera cluster cannot run here, if it cannot.
fn missing() -> Option<String> {
    if !Path::new(PROVIDER).exists() {
        return Some(format!(
            "the Galera provider {PROVIDER} is missing (apt-get install galera-4)"
        ));
    }
    for bin in ["mariadbd", "mariadb-install-db"] {
        if !runs(bin, &["--version"]) {
            return Some(format!("{bin} is missing (apt-get install mariadb-server)"));
        }
    }
    if sst_method().is_none() {
        return Some("neither rsync nor mariabackup is installed for state transfers".into());
    }
    None
}

/// Whether a Galera cluster can run here; without one the caller should
/// skip (this says why). With `CI` set, a missing piece panics.
pub fn available() -> bool {
    match missing() {
        None => true,
        Some(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("{why}, and CI is set: the Galera suite must run in CI");
            }
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// Gives `path` (and all below it) to the `mysql` user when we are root;
/// as anyone else the nodes run as ourselves and nothing needs to change.
fn give_to_mysql(path: &Path) -> anyhow::Result<()> {
    if !is_root() {
        return Ok(());
    }
    let ok = std::process::Command::new("chown")
        .arg("-R")
        .arg("mysql:mysql")
        .arg(path)
        .status()
        .context("cannot run chown")?
        .success();
    if !ok {
        bail!("chown -R mysql:mysql {} failed", path.display());
    }
    Ok(())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

/// The last lines of a node's error log, for failures.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// `SHOW STATUS LIKE name` on the node at `port`.
async fn status(port: u16, name: &str) -> anyhow::Result<String> {
    let mut conn =
        sqlx::MySqlConnection::connect(&format!("mysql://root@127.0.0.1:{port}/mysql")).await?;
    let row: Option<(String, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SHOW STATUS LIKE '{name}'")))
            .fetch_optional(&mut conn)
            .await?;
    let _ = conn.close().await;
    Ok(row.map(|r| r.1).unwrap_or_default())
}

impl GaleraNode {
    fn error_log(&self) -> PathBuf {
        self.datadir.with_extension("err")
    }

    /// Starts this node's `mariadbd` (bootstrapping a new cluster when
    /// `bootstrap`), joining the cluster at `peers`.
    fn spawn(&mut self, peers: &str, sst: &str, bootstrap: bool) -> anyhow::Result<()> {
        let dir = self.datadir.parent().context("datadir has no parent")?;
        let name = self
            .datadir
            .file_name()
            .and_then(|n| n.to_str())
            .context("odd datadir")?
            .to_owned();
        let mut cmd = std::process::Command::new("mariadbd");
        // Never the machine's /etc/mysql/my.cnf (its datadir, socket and
        // pid file belong to the system's server).
        cmd.arg("--no-defaults")
            .arg("--user=mysql")
            .arg(format!("--datadir={}", self.datadir.display()))
            .arg(format!(
                "--socket={}",
                dir.join(format!("{name}.sock")).display()
            ))
            .arg(format!(
                "--pid-file={}",
                dir.join(format!("{name}.pid")).display()
            ))
            .arg(format!("--log-error={}", self.error_log().display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg("--wsrep-on=ON")
            .arg(format!("--wsrep-provider={PROVIDER}"))
            .arg(format!("--wsrep-cluster-address=gcomm://{peers}"))
            .arg("--wsrep-cluster-name=chat_test")
            .arg(format!("--wsrep-node-name={name}"))
            .arg(format!(
                "--wsrep-node-address=127.0.0.1:{}",
                self.gcomm_port
            ))
            .arg(format!(
                "--wsrep-node-incoming-address=127.0.0.1:{}",
                self.port
            ))
            .arg(format!(
                "--wsrep-provider-options=base_port={};ist.recv_addr=127.0.0.1:{};gcache.size=64M",
                self.gcomm_port, self.ist_port
            ))
            .arg(format!(
                "--wsrep-sst-receive-address=127.0.0.1:{}",
                self.sst_port
            ))
            .arg(format!("--wsrep-sst-method={sst}"))
            .arg("--binlog-format=ROW")
            .arg("--default-storage-engine=InnoDB")
            .arg("--innodb-autoinc-lock-mode=2")
            // Small, so that a state transfer copies little.
            .arg("--innodb-buffer-pool-size=64M")
            .arg("--innodb-log-file-size=16M")
            .arg("--character-set-server=utf8mb4")
            .arg("--max-connections=500");
        if bootstrap {
            cmd.arg("--wsrep-new-cluster");
        }
        let child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("cannot run mariadbd")?;
        self.child = Some(Child(child));
        Ok(())
    }

    /// Waits until the node is synced with the cluster and takes queries.
    async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(child) = &mut self.child
                && let Ok(Some(exit)) = child.0.try_wait()
            {
                bail!(
                    "mariadbd on {} exited ({exit}):\n{}",
                    self.port,
                    log_tail(&self.error_log())
                );
            }
            if status(self.port, "wsrep_ready")
                .await
                .is_ok_and(|v| v == "ON")
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "the Galera node on {} is not ready after {within:?}:\n{}",
                    self.port,
                    log_tail(&self.error_log())
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl GaleraCluster {
    /// Starts a three-node cluster, or `None` (saying why) when Galera is
    /// not installed and `CI` is not set. Returns once every node is
    /// synced, sees all three, and has the database `test`.
    pub async fn start() -> anyhow::Result<Option<GaleraCluster>> {
        if !available() {
            return Ok(None);
        }
        // A node can fail to start for reasons of the moment (a port taken
        // meanwhile): start afresh, on other ports.
        let mut attempt = 1;
        loop {
            match GaleraCluster::start_once().await {
                Ok(cluster) => return Ok(Some(cluster)),
                Err(e) if attempt < 3 => {
                    eprintln!("a Galera cluster failed to start (attempt {attempt}): {e:#}");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn start_once() -> anyhow::Result<GaleraCluster> {
        let sst = sst_method().context("no state transfer method")?;
        let dir = tempfile::tempdir()?;
        let mut taken = Vec::new();
        let mut nodes = Vec::new();
        for i in 0..NODES {
            let datadir = dir.path().join(format!("node{i}"));
            std::fs::create_dir(&datadir)?;
            nodes.push(GaleraNode {
                port: fresh_port(&mut taken)?,
                gcomm_port: fresh_port(&mut taken)?,
                ist_port: fresh_port(&mut taken)?,
                sst_port: fresh_port(&mut taken)?,
                datadir,
                child: None,
            });
        }
        give_to_mysql(dir.path())?;
        // Only the first node needs system tables: the others receive the
        // first one's data by state transfer.
        let out = tokio::process::Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg("--user=mysql")
            .arg(format!("--datadir={}", nodes[0].datadir.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg("--innodb-log-file-size=16M")
            .output()
            .await
            .context("cannot run mariadb-install-db")?;
        if !out.status.success() {
            bail!(
                "mariadb-install-db failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        give_to_mysql(dir.path())?;
        let peers = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.gcomm_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = GaleraCluster { nodes, dir };
        cluster.nodes[0].spawn(&peers, sst, true)?;
        cluster.nodes[0].wait_ready(Duration::from_secs(60)).await?;
        for node in &mut cluster.nodes[1..] {
            node.spawn(&peers, sst, false)?;
        }
        for node in &mut cluster.nodes[1..] {
            node.wait_ready(Duration::from_secs(120)).await?;
        }
        cluster.wait_size(NODES, Duration::from_secs(30)).await?;
        // root over TCP from 127.0.0.1 without a password, whatever name
        // the address resolves to; and the database the tests name.
        let mut conn = sqlx::MySqlConnection::connect(&format!(
            "mysql://root@127.0.0.1:{}/mysql",
            cluster.nodes[0].port
        ))
        .await?;
        for sql in [
            "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'",
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
            "CREATE DATABASE IF NOT EXISTS test CHARACTER SET utf8mb4",
        ] {
            sqlx::raw_sql(sql).execute(&mut conn).await?;
        }
        let _ = conn.close().await;
        // The other nodes have it too (DDL replicates in total order).
        for node in &cluster.nodes {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let url = format!("mysql://root@127.0.0.1:{}/test", node.port);
                if let Ok(c) = sqlx::MySqlConnection::connect(&url).await {
                    let _ = c.close().await;
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    bail!("database test is not on the node on {}", node.port);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(cluster)
    }

    /// Waits until every running node sees `size` nodes in the cluster.
    pub async fn wait_size(&self, size: usize, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            loop {
                wait_port(node.port, within).await?;
                let seen = status(node.port, "wsrep_cluster_size").await;
                if seen.as_deref().ok() == Some(size.to_string().as_str()) {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    bail!(
                        "the node on {} sees a cluster of {seen:?}, not {size}, after {within:?}",
                        node.port
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// A URL of database `db` on node `i` (root, no password).
    pub fn url(&self, i: usize, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.nodes[i].port)
    }

    /// The folder holding the nodes' data and error logs (`nodeN.err`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.kill9();
        }
    }
}

/// One cluster for all the tests of a test binary: the first caller
/// starts it, the others wait for it and share it (each test on databases
/// of its own), and it is killed, its folder removed, when the test
/// process exits. `None` as [`GaleraCluster::start`] (not installed, no
/// `CI`); a cluster that fails to start panics the caller.
pub async fn shared() -> Option<&'static GaleraCluster> {
    static SHARED: tokio::sync::OnceCell<Option<&'static GaleraCluster>> =
        tokio::sync::OnceCell::const_new();
    *SHARED
        .get_or_init(|| async {
            let cluster = GaleraCluster::start()
                .await
                .expect("cannot start a Galera cluster")?;
            cluster
                .kill_at_exit()
                .expect("cannot watch the test process for the Galera cluster");
            let leaked: &'static GaleraCluster = Box::leak(Box::new(cluster));
            Some(leaked)
        })
        .await
}

impl GaleraCluster {
    /// Starts a watchdog shell that outlives this process: when the
    /// process is gone (however it ended), it kills the nodes and removes
    /// their folder. For a cluster that is never dropped ([`shared`]).
    fn kill_at_exit(&self) -> anyhow::Result<()> {
        let pids: Vec<String> = self
            .nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(|c| c.0.id().to_string()))
            .collect();
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -9 {pids} 2>/dev/null; \
             sleep 1; rm -rf '{dir}'",
            me = std::process::id(),
            pids = pids.join(" "),
            dir = self.dir.path().display(),
        );
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("cannot run sh")?;
        Ok(())
    }
}

/// A fresh database on the cluster (created through node 0, replicated to
/// all); returns its name. Drop it with [`crate::drop_mysql_db`] on any
/// node's URL.
pub async fn fresh_db(cluster: &GaleraCluster) -> anyhow::Result<String> {
    let url = crate::fresh_mysql_db(&cluster.url(0, "test")).await?;
    let name = url
        .rsplit('/')
        .next()
        .context("no database in URL")?
        .to_owned();
    // DDL replicates in total order, before the CREATE returns; still, wait
    // until each node shows it.
    for i in 0..cluster.nodes.len() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while sqlx::MySqlConnection::connect(&cluster.url(i, &name))
            .await
            .is_err()
        {
            if tokio::time::Instant::now() > deadline {
                bail!("database {name} did not reach node {i}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(name)
}
