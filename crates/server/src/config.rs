//! Every setting of a node, from the command line or the environment.
//!
//! One struct, passed explicitly: two nodes can run in one process (tests
//! do) with different settings.

use std::time::Duration;

use clap::Parser;

use crate::store::SqliteSync;

/// A chat server node: accounts, friends, groups, one-to-one and group
/// chat, with offline delivery. Alone it stores everything in an SQLite
/// file; several nodes share MySQL/MariaDB.
#[derive(Debug, Clone, Parser)]
#[command(name = "chatserver", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on.
    #[arg(default_value = "127.0.0.1", env = "CHAT_HOST")]
    pub host: String,

    /// TCP port to listen on (0 picks a free one).
    #[arg(default_value_t = 6000, env = "CHAT_PORT")]
    pub port: u16,

    /// Store: sqlite://PATH (created when missing) or
    /// mysql://USER:PASS@HOST:PORT/DB.
    #[arg(long, env = "CHAT_DB", default_value = "sqlite://data/chat.db")]
    pub db: String,

    /// Redis URL (redis://HOST:PORT): run as one node of a cluster, routing
    /// between nodes through Redis. Without it (or `--redis-cluster`) the
    /// node runs alone.
    #[arg(long, env = "CHAT_REDIS", conflicts_with = "redis_cluster")]
    pub redis: Option<String>,

    /// Redis Cluster seed nodes (HOST:PORT[,HOST:PORT...]): run as one node
    /// of a cluster, routing between nodes through a Redis Cluster with
    /// sharded pub/sub (Redis 7 or later). The alternative to `--redis`.
    #[arg(long, env = "CHAT_REDIS_CLUSTER", value_delimiter = ',')]
    pub redis_cluster: Vec<String>,

    /// Prefix of every Redis key and channel, so several clusters (or test
    /// runs) can share one Redis.
    #[arg(long, env = "CHAT_REDIS_PREFIX", default_value = "chat")]
    pub redis_prefix: String,

    /// Address for the operators' HTTP endpoints /healthz and /metrics
    /// (e.g. 127.0.0.1:9100), kept apart from the web listener so metrics
    /// can stay private. Off when absent.
    #[arg(long, env = "CHAT_HTTP")]
    pub http: Option<String>,

    /// Address of the web listener: the web client at `/` and the
    /// WebSocket transport at `/ws`. An empty value turns it off.
    #[arg(long, env = "CHAT_WEB", default_value = "127.0.0.1:6080")]
    pub web: String,

    /// No web listener (the same as `--web ""`).
    #[arg(long, env = "CHAT_NO_WEB")]
    pub no_web: bool,

    /// Origins whose pages may open the WebSocket (comma-separated, e.g.
    /// `https://chat.example.com`). By default only the web listener's
    /// own origin; requests without an Origin (not from a browser) pass.
    #[arg(long, env = "CHAT_WEB_ORIGIN", value_delimiter = ',')]
    pub web_origin: Vec<String>,

    /// Seconds between the server's pings to a quiet WebSocket; one that
    /// answers nothing for two of them is closed.
    #[arg(long, env = "CHAT_WS_PING", default_value_t = 30)]
    pub ws_ping: u64,

    /// TLS certificate chain (PEM). With `--tls-key`, the TCP listener
    /// speaks TLS and the web listener HTTPS and WSS. SIGHUP reads both
    /// files again.
    #[arg(long, env = "CHAT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// TLS private key (PEM), with `--tls-cert`.
    #[arg(long, env = "CHAT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// SQLite durability: `full` fsyncs every commit (survives power
    /// loss), `normal` survives a crash of the server but not of the
    /// machine.
    #[arg(long, env = "CHAT_SQLITE_SYNC", default_value = "full")]
    pub sqlite_sync: SqliteSync,

    /// Database connections (SQLite: read connections; writes use one).
    #[arg(long, env = "CHAT_DB_POOL", default_value_t = 8)]
    pub db_pool: u32,

    /// Maximum frame length in bytes; a longer line gets `frame_too_large`
    /// and the connection is closed.
    #[arg(long, env = "CHAT_MAX_FRAME", default_value_t = chat_proto::DEFAULT_MAX_FRAME)]
    pub max_frame: usize,

    /// Bytes that may wait in one connection's outgoing queue; a reader
    /// that falls further behind is disconnected.
    #[arg(long, env = "CHAT_OUTBOX_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub outbox_bytes: usize,

    /// Maximum simultaneous connections; more are told `unavailable` and
    /// closed.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = 200_000)]
    pub max_connections: usize,

    /// Requests per second allowed on one connection (sustained); more
    /// get `rate_limited`. Refused requests are forgiven at this same rate;
    /// a connection with more than `--burst` (at least 50) refusals not yet
    /// forgiven, that is one sending over twice its rate, is closed.
    #[arg(long, env = "CHAT_RATE", default_value_t = 2000)]
    pub rate: u32,

    /// Requests one connection may send in a burst above the rate; also
    /// how many unforgiven refusals close it (at least 50).
    #[arg(long, env = "CHAT_BURST", default_value_t = 4000)]
    pub burst: u32,

    /// Seconds without a complete frame from the client before the server
    /// closes the connection (bytes that do not finish a frame do not
    /// count).
    #[arg(long, env = "CHAT_IDLE_TIMEOUT", default_value_t = 300)]
    pub idle_timeout: u64,

    /// Seconds a TCP connection may be silent before the kernel probes the
    /// peer (then every 10 s, 3 times): a peer whose machine sleeps or
    /// vanished is dropped about this plus 30 s later, even when it never
    /// promised a heartbeat. 0 turns the probes off.
    #[arg(long, env = "CHAT_TCP_KEEPALIVE", default_value_t = 30)]
    pub tcp_keepalive: u64,

    /// Seconds a frame may take from its first byte to its end; a client
    /// that trickles a frame slower than this is disconnected.
    #[arg(long, env = "CHAT_FRAME_TIMEOUT", default_value_t = 30)]
    pub frame_timeout: u64,

    /// Logins processed at once (credential check to reply); more get
    /// `unavailable` with `retry_after`, so a reconnect storm queues at the
    /// clients, not in the server.
    #[arg(long, env = "CHAT_MAX_LOGINS_IN_FLIGHT", default_value_t = 512)]
    pub max_logins_in_flight: usize,

    /// Failed logins allowed on one connection before it is closed.
    #[arg(long, env = "CHAT_MAX_FAILED_LOGINS", default_value_t = 5)]
    pub max_failed_logins: u32,

    /// Failed password logins allowed for one account within the window;
    /// past it, password logins for that account get `rate_limited` (token
    /// logins still work). Counted across connections and nodes.
    #[arg(long, env = "CHAT_LOGIN_FAILURES_PER_ACCOUNT", default_value_t = 10)]
    pub login_failures_per_account: u64,

    /// Failed password logins allowed from one address within the window;
    /// past it, password logins from that address get `rate_limited`.
    #[arg(long, env = "CHAT_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 50)]
    pub login_failures_per_address: u64,

    /// Seconds over which failed logins are counted, from the first.
    #[arg(long, env = "CHAT_LOGIN_FAILURE_WINDOW", default_value_t = 900)]
    pub login_failure_window: u64,

    /// Days a login token stays valid.
    #[arg(long, env = "CHAT_TOKEN_TTL_DAYS", default_value_t = 30)]
    pub token_ttl_days: u64,

    /// Most messages and acks committed in one transaction.
    #[arg(long, env = "CHAT_WRITE_BATCH", default_value_t = 2048)]
    pub write_batch: usize,

    /// argon2id memory cost in KiB (19456 = 19 MiB, OWASP's minimum).
    /// Hashes run one per core, each core's hashing thread keeping this
    /// much memory for reuse.
    #[arg(long, env = "CHAT_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,

    /// argon2id passes.
    #[arg(long, env = "CHAT_ARGON2_PASSES", default_value_t = 2)]
    pub argon2_passes: u32,

    /// Seconds to finish requests in flight at shutdown before closing
    /// connections anyway.
    #[arg(long, env = "CHAT_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,

    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or
    /// `chatserver=debug`.
    #[arg(long, env = "CHAT_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    /// Settings from `args` alone (the first is the program name), with
    /// every default as `--help` shows it and no environment variable
    /// read: tests and embedders get the same node whatever the shell
    /// around them exports.
    pub fn from_args<I, T>(args: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let cmd = Config::command().mut_args(|a| a.env(None));
        Config::from_arg_matches(&cmd.try_get_matches_from(args)?)
    }

    /// The defaults, without reading the environment.
    pub fn defaults() -> Config {
        // The defaults parse: the test below proves it.
        Config::from_args(["chatserver"]).expect("the defaults parse")
    }

    /// The Redis the bus runs on, when this node is one of a cluster.
    pub fn bus_target(&self) -> Option<crate::cluster::redis::Target> {
        use crate::cluster::redis::Target;
        let seeds: Vec<String> = self
            .redis_cluster
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        match &self.redis {
            Some(url) if !url.trim().is_empty() => Some(Target::Single(url.clone())),
            _ if !seeds.is_empty() => Some(Target::Cluster(seeds)),
            _ => None,
        }
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout.max(1))
    }

    /// The web listener's address, unless it is off.
    pub fn web_addr(&self) -> Option<&str> {
        let web = self.web.trim();
        (!self.no_web && !web.is_empty()).then_some(web)
    }

    pub fn ws_ping(&self) -> Duration {
        Duration::from_secs(self.ws_ping.max(1))
    }

    pub fn frame_timeout(&self) -> Duration {
        Duration::from_secs(self.frame_timeout.max(1))
    }

    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_days.max(1) * 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_positionals() {
        let c = Config::defaults();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 6000));
        assert_eq!(c.db, "sqlite://data/chat.db");
        assert_eq!(c.max_frame, 65536);
        let c = Config::from_args([
            "chatserver",
            "0.0.0.0",
            "6002",
            "--db",
            "sqlite:///tmp/x.db",
        ])
        .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.db.as_str()),
            ("0.0.0.0", 6002, "sqlite:///tmp/x.db")
        );
        assert!(c.bus_target().is_none());
    }

    #[test]
    fn redis_or_redis_cluster() {
        use crate::cluster::redis::Target;
        let c = Config::from_args(["chatserver", "--redis", "redis://h:1"]).unwrap();
        assert!(matches!(c.bus_target(), Some(Target::Single(u)) if u == "redis://h:1"));
        let c = Config::from_args([
            "chatserver",
            "--redis-cluster",
            "a:1,b:2",
            "--redis-cluster",
            "c:3",
        ])
        .unwrap();
        assert!(matches!(c.bus_target(), Some(Target::Cluster(s)) if s == ["a:1", "b:2", "c:3"]));
        assert!(
            Config::from_args([
                "chatserver",
                "--redis",
                "redis://h:1",
                "--redis-cluster",
                "a:1"
            ])
            .is_err(),
            "one or the other"
        );
    }
}
