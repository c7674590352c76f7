//! The real `chatserver` binary as a cluster node: `kill -9`,
//! `SIGSTOP`/`SIGCONT` and restarts are real.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::{Child, wait_port};

/// How to run one node: the binary and its arguments.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// The `chatserver` binary (`env!("CARGO_BIN_EXE_chatserver")`).
    pub bin: PathBuf,
    pub port: u16,
    pub db: String,
    pub redis: String,
    pub prefix: String,
    /// Where its stderr goes (appended across restarts).
    pub log: PathBuf,
    /// More arguments.
    pub extra: Vec<String>,
}

/// A cluster node running the real binary: killed with SIGKILL, paused
/// with SIGSTOP, resumed with SIGCONT, restarted on the same port.
pub struct NodeProc {
    pub spec: NodeSpec,
    child: Option<Child>,
    paused: bool,
    /// How many times it was started.
    pub starts: u32,
}

impl NodeProc {
    /// Starts the node and waits until it listens.
    pub async fn start(spec: NodeSpec) -> anyhow::Result<NodeProc> {
        let mut node = NodeProc {
            spec,
            child: None,
            paused: false,
            starts: 0,
        };
        node.restart().await?;
        Ok(node)
    }

    pub fn port(&self) -> u16 {
        self.spec.port
    }

    pub fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.spec.port).into()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.0.id())
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Starts the node (again) on its port; waits until it listens.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("node {} is running", self.spec.port);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.log)
            .with_context(|| format!("cannot open {}", self.spec.log.display()))?;
        let s = &self.spec;
        let child = Command::new(&s.bin)
            .args(["127.0.0.1", &s.port.to_string()])
            .args([
                "--db",
                &s.db,
                "--redis",
                &s.redis,
                "--redis-prefix",
                &s.prefix,
            ])
            .args(["--argon2-memory-kib", "1024", "--argon2-passes", "1"])
            .args(["--web", "127.0.0.1:0"])
            .args(&s.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {}", s.bin.display()))?;
        let mut child = Child(child);
        self.starts += 1;
        // A node that cannot bind or reach its services exits: say so
        // instead of waiting for the port.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if wait_port(s.port, Duration::from_millis(200)).await.is_ok() {
                break;
            }
            if let Some(status) = child.0.try_wait()? {
                bail!(
                    "node {} exited at start ({status}); its log:\n{}",
                    s.port,
                    log_tail(&s.log, 20)
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "node {} does not listen after 30 s; its log:\n{}",
                    s.port,
                    log_tail(&s.log, 20)
                );
            }
        }
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    /// SIGKILL, and the process is reaped.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill9();
        }
        self.paused = false;
    }

    /// SIGSTOP: the process stops where it is; its sockets stay open.
    pub fn pause(&mut self) -> anyhow::Result<()> {
        self.signal("-STOP")?;
        self.paused = true;
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        self.signal("-CONT")?;
        self.paused = false;
        Ok(())
    }

    fn signal(&self, sig: &str) -> anyhow::Result<()> {
        let pid = self.pid().context("node is not running")?;
        let status = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill {sig} {pid} failed");
        }
        Ok(())
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.spec.log, lines)
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        // SIGKILL works on a stopped process too.
        self.kill9();
    }
}

/// A copy of the binary `bin` in `dir`, to run for the whole test: a
/// shared target directory may rebuild `bin` (another checkout's build)
/// while the test restarts nodes from it.
pub fn private_copy(bin: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let name = bin.file_name().context("binary path without a name")?;
    let to = dir.join(name);
    std::fs::copy(bin, &to).with_context(|| format!("cannot copy {}", bin.display()))?;
    Ok(to)
}

/// The last `lines` lines of a file.
pub fn log_tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
