//! Helpers for black-box tests: a real server on 127.0.0.1:0 with a fresh
//! SQLite file, and a raw client that speaks JSON values over TCP, TLS or
//! WebSocket, so tests see exactly what a third-party client would; the
//! services and nginx of the cluster suites. Dev-only: never in a binary.
//!
//! Over 500 lines: the server, the client and the cluster helpers are the
//! harness's three parts, each short; [`fixture`] holds the set-ups.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use chatserver::{Config, Server};

pub mod chaos;
pub mod fixture;
pub mod galera;
mod link;
pub mod redis_cluster;

pub use link::{Closed, certificates, tls_client, tls_stream};

/// Settings for a test node on 127.0.0.1:0 with the given store: every
/// default as `--help` shows it (no environment variable is read), argon2
/// made cheap, SQLite commits without fsync.
pub fn test_config(db: impl Into<String>) -> Config {
    let mut c = Config::defaults();
    c.port = 0;
    c.db = db.into();
    c.argon2_memory_kib = 1024;
    c.argon2_passes = 1;
    c.sqlite_sync = chatserver::store::SqliteSync::Normal;
    c.web = "127.0.0.1:0".into();
    c
}

/// How long a test waits for a frame before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server running in this process. Dropping it stops it; [`stop`]
/// stops it gracefully and waits.
///
/// [`stop`]: TestServer::stop
pub struct TestServer {
    pub addr: SocketAddr,
    /// Where /healthz and /metrics answer, when `http` was configured.
    pub http: Option<SocketAddr>,
    /// The web listener (`/` and `/ws`), unless turned off.
    pub web: Option<SocketAddr>,
    /// The certificate holder, when TLS is on.
    tls: Option<std::sync::Arc<chatserver::tls::Tls>>,
    /// The store URL, to restart a server on the same data.
    pub db: String,
    dir: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// A server with default settings on a fresh SQLite file.
    pub async fn start() -> anyhow::Result<TestServer> {
        TestServer::start_with(|_| {}).await
    }

    /// A server on a fresh SQLite file, with settings changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> anyhow::Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let db = format!("sqlite://{}", dir.path().join("chat.db").display());
        let mut config = test_config(db);
        tweak(&mut config);
        let mut server = TestServer::start_config(config).await?;
        server.dir = Some(dir);
        Ok(server)
    }

    /// A server with exactly this configuration (its port is usually 0).
    pub async fn start_config(config: Config) -> anyhow::Result<TestServer> {
        let db = config.db.clone();
        let server = Server::bind(config).await?;
        let addr = server.local_addr()?;
        let http = server.http_addr();
        let web = server.web_addr();
        let tls = server.tls();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Ok(TestServer {
            addr,
            http,
            web,
            tls,
            db,
            dir: None,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Stops the server gracefully and waits until it has; keeps the data
    /// folder so a new server can start on it. Returns the folder.
    pub async fn stop(mut self) -> anyhow::Result<Option<tempfile::TempDir>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(self.dir.take())
    }

    /// Reads the TLS certificate and key again (as SIGHUP does).
    pub fn reload_tls(&self) -> anyhow::Result<()> {
        self.tls.as_ref().context("TLS is off")?.reload()
    }

    /// A new client connected to this server.
    pub async fn client(&self) -> anyhow::Result<TestClient> {
        TestClient::connect(self.addr).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A raw protocol client: sends JSON values, reads frames, keeps events
/// that arrive while it waits for a reply.
pub struct TestClient {
    link: link::Link,
    next_id: u64,
    events: VecDeque<Value>,
    /// The user id after [`login`](TestClient::login).
    pub user: Option<u64>,
    /// The token of the last successful login.
    pub token: Option<String>,
}

impl TestClient {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<TestClient> {
        Ok(TestClient::over(link::Link::tcp(addr).await?))
    }

    /// A client over TLS to `addr`, trusting `tls`, for the name `name`.
    pub async fn connect_tls(
        addr: SocketAddr,
        tls: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
        name: &str,
    ) -> anyhow::Result<TestClient> {
        Ok(TestClient::over(link::Link::tls(addr, tls, name).await?))
    }

    /// A client over a WebSocket to `ws://addr/ws`, with `origin` as a
    /// browser page would send it.
    pub async fn connect_ws(addr: SocketAddr, origin: Option<&str>) -> anyhow::Result<TestClient> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let url = format!("ws://{addr}/ws");
        Ok(TestClient::over(
            link::Link::ws(&url, Box::new(tcp), origin).await?,
        ))
    }

    /// A client over a WebSocket inside TLS (`wss://name/ws`).
    pub async fn connect_wss(
        addr: SocketAddr,
        tls: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
        name: &str,
    ) -> anyhow::Result<TestClient> {
        let stream = link::tls_stream(addr, tls, name).await?;
        let url = format!("wss://{name}/ws");
        Ok(TestClient::over(
            link::Link::ws(&url, Box::new(stream), None).await?,
        ))
    }

    fn over(link: link::Link) -> TestClient {
        TestClient {
            link,
            next_id: 1,
            events: VecDeque::new(),
            user: None,
            token: None,
        }
    }

    /// Writes raw bytes (over a WebSocket: one message).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.link.send_raw(bytes).await
    }

    /// Sends frames back to back without waiting for replies: in one
    /// write on a line transport, one message each on a WebSocket.
    pub async fn send_all(&mut self, frames: &[Value]) -> anyhow::Result<()> {
        self.link.send_all(frames).await
    }

    /// Sends a binary WebSocket message.
    pub async fn send_binary(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.link.send_binary(bytes).await
    }

    /// The next line, or how the server closed.
    async fn read_line(&mut self, within: Duration) -> anyhow::Result<Result<String, Closed>> {
        tokio::time::timeout(within, self.link.read_line())
            .await
            .context("timed out waiting for a frame")?
    }

    /// Waits until the server closes; returns the frames before and the
    /// close (with its WebSocket code, if any).
    pub async fn closed(&mut self) -> anyhow::Result<(Vec<Value>, Closed)> {
        let mut seen = Vec::new();
        loop {
            match self.read_line(WAIT).await {
                Err(_) => bail!("the server did not close the connection"),
                Ok(Err(closed)) => return Ok((seen, closed)),
                Ok(Ok(line)) => {
                    if let Ok(v) = serde_json::from_str(line.trim_end()) {
                        seen.push(v);
                    }
                }
            }
        }
    }

    /// Writes a value as one frame, as it is.
    pub async fn send(&mut self, frame: &Value) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(frame)?;
        line.push(b'\n');
        self.send_raw(&line).await
    }

    /// Reads the next frame of any kind; `None` when the server closed the
    /// connection.
    pub async fn recv_frame(&mut self) -> anyhow::Result<Option<Value>> {
        let line = match self.read_line(WAIT).await? {
            Ok(line) => line,
            Err(_) => return Ok(None),
        };
        let v: Value = serde_json::from_str(line.trim_end())
            .with_context(|| format!("server sent a line that is not JSON: {line:?}"))?;
        Ok(Some(v))
    }

    /// Reads the next reply, keeping events for later.
    pub async fn recv_reply(&mut self) -> anyhow::Result<Value> {
        loop {
            let Some(v) = self.recv_frame().await? else {
                bail!("connection closed while waiting for a reply");
            };
            if v.get("ev").is_some() {
                self.events.push_back(v);
            } else {
                return Ok(v);
            }
        }
    }

    /// Sends `frame` with a fresh `id` and returns its reply.
    pub async fn request(&mut self, mut frame: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        frame["id"] = json!(id);
        self.send(&frame).await?;
        let reply = self.recv_reply().await?;
        if reply["re"] != json!(id) {
            bail!("reply out of order: expected re {id}, got {reply}");
        }
        Ok(reply)
    }

    /// Sends a request that must succeed; returns the reply.
    pub async fn ok(&mut self, frame: Value) -> anyhow::Result<Value> {
        let reply = self.request(frame.clone()).await?;
        if reply["ok"] != json!(true) {
            bail!("{frame} failed: {reply}");
        }
        Ok(reply)
    }

    /// Sends a request that must fail with `code`; returns the reply.
    pub async fn fails(&mut self, frame: Value, code: &str) -> anyhow::Result<Value> {
        let reply = self.request(frame.clone()).await?;
        if reply["ok"] != json!(false) || reply["code"] != json!(code) {
            bail!("{frame}: expected {code}, got {reply}");
        }
        Ok(reply)
    }

    /// The next event (kept or new).
    pub async fn next_event(&mut self) -> anyhow::Result<Value> {
        if let Some(ev) = self.events.pop_front() {
            return Ok(ev);
        }
        let Some(v) = self.recv_frame().await? else {
            bail!("connection closed while waiting for an event");
        };
        if v.get("ev").is_some() {
            return Ok(v);
        }
        bail!("unexpected reply while waiting for an event: {v}");
    }

    /// The next event of kind `ev`, skipping others (presence noise).
    pub async fn event_of(&mut self, ev: &str) -> anyhow::Result<Value> {
        loop {
            let v = self.next_event().await?;
            if v["ev"] == json!(ev) {
                return Ok(v);
            }
        }
    }

    /// Events already received and not yet taken.
    pub fn kept_events(&mut self) -> Vec<Value> {
        self.events.drain(..).collect()
    }

    /// Waits `quiet` and returns every event that arrived meanwhile.
    pub async fn events_within(&mut self, quiet: Duration) -> anyhow::Result<Vec<Value>> {
        let mut out = self.kept_events();
        loop {
            match self.read_line(quiet).await {
                Err(_) | Ok(Err(_)) => return Ok(out),
                Ok(Ok(line)) => out.push(serde_json::from_str(line.trim_end())?),
            }
        }
    }

    /// Registers an account; returns its id.
    pub async fn register(&mut self, name: &str, password: &str) -> anyhow::Result<u64> {
        let r = self
            .ok(json!({"op": "register", "name": name, "password": password}))
            .await?;
        r["user"]["id"]
            .as_u64()
            .context("register reply has no user id")
    }

    /// Logs in with a password; returns the reply.
    pub async fn login(&mut self, user: u64, password: &str) -> anyhow::Result<Value> {
        let r = self
            .ok(json!({"op": "login", "user": user, "password": password}))
            .await?;
        self.user = Some(user);
        self.token = r["token"].as_str().map(str::to_owned);
        Ok(r)
    }

    /// Registers and logs in; returns the id.
    pub async fn signup(&mut self, name: &str) -> anyhow::Result<u64> {
        let id = self.register(name, "password1").await?;
        self.login(id, "password1").await?;
        Ok(id)
    }

    /// Waits until the server closes the connection, skipping frames.
    /// Returns the frames seen before the close.
    pub async fn until_closed(&mut self) -> anyhow::Result<Vec<Value>> {
        Ok(self.closed().await?.0)
    }
}

/// A plain HTTP GET; returns the status code and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::AsyncReadExt;
    let mut stream = TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut raw = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut raw))
        .await
        .context("timed out waiting for the HTTP answer")??;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The MySQL/MariaDB server for cluster tests (`CHAT_TEST_MYSQL_URL`).
/// Without it the caller should skip, saying so; with `CI` set a missing
/// service is a failure.
pub fn mysql_url() -> Option<String> {
    service_url("CHAT_TEST_MYSQL_URL")
}

/// The Redis server for cluster tests (`CHAT_TEST_REDIS_URL`).
pub fn redis_url() -> Option<String> {
    service_url("CHAT_TEST_REDIS_URL")
}

fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!("{var} is not set and CI is: the cluster suites must run in CI");
            }
            eprintln!("skipped: {var} is not set (scripts/test sets it)");
            None
        }
    }
}

/// A name no other test or run uses, for databases and key prefixes.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A fresh database on the MySQL server of `base` (a URL naming any
/// database); returns its URL. Drop it with [`drop_mysql_db`].
pub async fn fresh_mysql_db(base: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let name = unique_name("chat_t");
    let mut conn = sqlx::MySqlConnection::connect(base).await?;
    let sql = format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    let cut = base.rfind('/').context("MySQL URL has no database part")?;
    Ok(format!("{}/{name}", &base[..cut]))
}

/// Drops a database made by [`fresh_mysql_db`].
pub async fn drop_mysql_db(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let cut = url.rfind('/').context("MySQL URL has no database part")?;
    let name = &url[cut + 1..];
    let mut conn = sqlx::MySqlConnection::connect(url).await?;
    let sql = format!("DROP DATABASE IF EXISTS `{name}`");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(())
}

/// Settings for a cluster node on 127.0.0.1:0 sharing `db` and the Redis at
/// `redis` under `prefix`.
pub fn cluster_config(db: &str, redis: &str, prefix: &str) -> Config {
    let mut c = test_config(db);
    c.redis = Some(redis.to_owned());
    c.redis_prefix = prefix.to_owned();
    c
}

/// A TCP proxy the test can cut and restore, to make a backing service
/// unreachable without stopping it for everyone else.
pub struct TcpProxy {
    pub addr: SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
}

impl TcpProxy {
    /// Forwards connections on a new local port to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<TcpProxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let mut watch = watch.clone();
                if *watch.borrow() {
                    drop(client);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::select! {
                        _ = tokio::io::copy(&mut cr, &mut sw) => {}
                        _ = tokio::io::copy(&mut sr, &mut cw) => {}
                        _ = watch.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Ok(TcpProxy { addr, cut })
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        let _ = self.cut.send(true);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        let _ = self.cut.send(false);
    }
}

/// The host:port of a service URL (`mysql://u@h:p/db`, `redis://h:p`).
pub fn url_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url.split("://").nth(1).context("URL without scheme")?;
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    let hostport = rest.split(['/', '?']).next().unwrap_or(rest);
    use std::net::ToSocketAddrs;
    hostport
        .to_socket_addrs()?
        .next()
        .context("URL host does not resolve")
}

/// `url` with its host:port replaced by `addr`.
pub fn url_via(url: &str, addr: SocketAddr) -> anyhow::Result<String> {
    let (scheme, rest) = url.split_once("://").context("URL without scheme")?;
    let (user, hostpart) = match rest.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), rest),
    };
    let cut = hostpart.find(['/', '?']).unwrap_or(hostpart.len());
    Ok(format!("{scheme}://{user}{addr}{}", &hostpart[cut..]))
}

/// nginx for the load-balancer tests (`CHAT_TEST_NGINX`, a path).
pub fn nginx_path() -> Option<String> {
    service_url("CHAT_TEST_NGINX")
}

/// A free TCP port on 127.0.0.1 (free when asked; tests bind it soon after).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A free port not in `taken` (then added to it), below Linux's
/// ephemeral range (32768 and up): a port the kernel picked for us could
/// be given to some outgoing connection before the node binds it.
pub fn fresh_port(taken: &mut Vec<u16>) -> anyhow::Result<u16> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: AtomicU64 = AtomicU64::new(0);
    for _ in 0..1000 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_nanos()))
            .unwrap_or(0);
        let n =
            SEED.fetch_add(0x9E37_79B9, Ordering::Relaxed) ^ nanos ^ u64::from(std::process::id());
        let p = 20000 + (n % 12000) as u16;
        if !taken.contains(&p) && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            taken.push(p);
            return Ok(p);
        }
    }
    bail!("no free port found between 20000 and 32000")
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub async fn wait_port(port: u16, within: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("nothing listens on port {port} after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process that is killed (SIGKILL) when dropped.
pub struct Child(pub std::process::Child);

impl Child {
    /// Sends SIGKILL and reaps the process.
    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.0.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()?;
        Ok(self.0.wait()?)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Starts the `chatserver` binary `bin` on 127.0.0.1:`port` with cheap
/// argon2 settings, its web listener on a free port and none of the
/// caller's `CHAT_*` settings, then `args`; its log (stderr) goes to the
/// file `log`. Returns once it listens.
pub async fn spawn_chatserver(
    bin: &str,
    port: u16,
    args: &[&str],
    log: &std::path::Path,
) -> anyhow::Result<Child> {
    let mut cmd = std::process::Command::new(bin);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CHAT_") {
            cmd.env_remove(&key);
        }
    }
    let err =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let child = cmd
        .args(["127.0.0.1", &port.to_string()])
        .args(["--argon2-memory-kib", "1024", "--argon2-passes", "1"])
        .args(["--web", "127.0.0.1:0"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .with_context(|| format!("cannot start {bin}"))?;
    let child = Child(child);
    wait_port(port, Duration::from_secs(20)).await?;
    Ok(child)
}

/// Starts `redis-server` on `port`, keeping nothing on disk.
pub async fn spawn_redis(port: u16) -> anyhow::Result<Child> {
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot run redis-server")?;
    let child = Child(child);
    wait_port(port, Duration::from_secs(10)).await?;
    Ok(child)
}

/// The project's one nginx config, `deploy/nginx/nginx.conf`.
pub const NGINX_CONF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/nginx/nginx.conf");

/// The ports an nginx of a test balances: TCP clients on `listen` over the
/// nodes' `nodes`; browsers on `web_listen` over the nodes' web listeners
/// `web_nodes`.
#[derive(Debug, Clone, Default)]
pub struct NginxPorts {
    pub listen: u16,
    pub nodes: Vec<u16>,
    pub web_listen: u16,
    pub web_nodes: Vec<u16>,
}

/// Starts nginx in the foreground on a private prefix `dir`, balancing
/// 127.0.0.1:`listen` over the `upstreams` ports (TCP only).
pub async fn spawn_nginx(
    nginx: &str,
    dir: &std::path::Path,
    listen: u16,
    upstreams: &[u16],
) -> anyhow::Result<Child> {
    let ports = NginxPorts {
        listen,
        nodes: upstreams.to_vec(),
        web_listen: free_port()?,
        // Nothing listens there: the web side is not used.
        web_nodes: vec![9],
    };
    spawn_nginx_with(nginx, dir, &ports).await
}

/// Starts nginx in the foreground on a private prefix `dir`: the shipped
/// deploy/nginx config, copied into `dir` with this test's four include
/// files beside it.
pub async fn spawn_nginx_with(
    nginx: &str,
    dir: &std::path::Path,
    ports: &NginxPorts,
) -> anyhow::Result<Child> {
    let lines = |ports: &[u16]| -> String {
        ports
            .iter()
            .map(|p| format!("server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n"))
            .collect()
    };
    std::fs::write(dir.join("nodes.conf"), lines(&ports.nodes))?;
    std::fs::write(dir.join("web-nodes.conf"), lines(&ports.web_nodes))?;
    std::fs::write(
        dir.join("listen.conf"),
        format!("listen 127.0.0.1:{};\n", ports.listen),
    )?;
    std::fs::write(
        dir.join("web-listen.conf"),
        format!("listen 127.0.0.1:{};\n", ports.web_listen),
    )?;
    let listen = ports.listen;
    let path = dir.join("nginx.conf");
    std::fs::copy(NGINX_CONF, &path).context("cannot copy deploy/nginx/nginx.conf")?;
    let child = std::process::Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&path)
        .args(["-g", "daemon off; master_process off;"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .context("cannot run nginx")?;
    let child = Child(child);
    wait_port(listen, Duration::from_secs(10)).await?;
    wait_port(ports.web_listen, Duration::from_secs(10)).await?;
    Ok(child)
}
