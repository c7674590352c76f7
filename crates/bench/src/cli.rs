//! The command line: which workload to run, against which server, how hard.
//!
//! Every option has a default that runs something sensible on one machine;
//! [`Opts::check`] rejects combinations that cannot work before any socket
//! is opened.
//!
//! It runs past 500 lines because each option's doc comment is its `--help`
//! text, and the tests of the parsing sit beside the options they check.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, ensure};
use clap::{Parser, ValueEnum};

pub use crate::storm::BackoffKind;
pub use crate::transport::Kind as TransportKind;
use crate::transport::Layers;

/// Load generator for the chat server: registers its own users, logs them
/// in, drives one workload for a while and reports throughput, end-to-end
/// latency, errors, lost and duplicated messages.
#[derive(Debug, Clone, Parser)]
#[command(name = "chatbench", version, about, long_about = None)]
pub struct Opts {
    /// What to run.
    #[arg(value_enum)]
    pub workload: Workload,

    /// `relay`: the address to listen on.
    #[arg(default_value = "127.0.0.1")]
    pub host: String,

    /// `relay`: the port to listen on (0: any free one).
    #[arg(default_value_t = 6100)]
    pub port: u16,

    /// Server to connect to (senders, in `cross-node`): its TCP port, or
    /// with `--transport ws` its web listener (`--web`)
    /// [default: 127.0.0.1:6000; ws: 127.0.0.1:6080].
    #[arg(long)]
    pub addr: Option<String>,

    /// Second server: where `cross-node` receivers connect.
    #[arg(long)]
    pub addr2: Option<String>,

    /// What carries the frames: `tcp` (lines on the server's port) or
    /// `ws` (one WebSocket text message a frame, to `/ws` of the web
    /// listener), for every connection, setup and load alike.
    #[arg(long, value_enum, default_value_t = TransportKind::Tcp)]
    pub transport: TransportKind,

    /// TLS: `tcp` becomes TLS over TCP, `ws` becomes wss.
    #[arg(long)]
    pub tls: bool,

    /// With `--tls`: trust only the certificate authorities in this PEM
    /// file (a private CA) [default: the system's].
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca: Option<PathBuf>,

    /// With `--tls`: the name the server's certificate must carry
    /// [default: the host of `--addr`].
    #[arg(long, requires = "tls")]
    pub server_name: Option<String>,

    /// With `--transport ws`: the Origin header sent (the server checks
    /// it against `--web-origin`) [default: the listener's own,
    /// http(s)://ADDR].
    #[arg(long)]
    pub origin: Option<String>,

    /// Pairs of friends (`one-to-one`, `cross-node`, `mixed`) [default: 100].
    #[arg(long)]
    pub pairs: Option<usize>,

    /// Connections: sessions held (`idle`, default 1000), concurrent
    /// reconnecting clients (`login`, default 100); in the chat workloads
    /// it stands for twice `--pairs` when that is not given.
    #[arg(long)]
    pub connections: Option<usize>,

    /// Groups (`group`).
    #[arg(long, default_value_t = 1)]
    pub groups: usize,

    /// Members per group (`group`, default 100; `mixed`, default 10).
    #[arg(long)]
    pub group_size: Option<usize>,

    /// Members of each group that send (`group`) [default: all].
    #[arg(long)]
    pub senders: Option<usize>,

    /// Seconds measured, after the warmup.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,

    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,

    /// Seconds to wait, after sending stops, for replies and deliveries
    /// still on their way; whatever has not arrived by then is lost.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,

    /// Open loop: messages per second in total across all senders
    /// (`mixed`: requests of every kind), each sender on a fixed schedule;
    /// latency counts from the scheduled time. Without it, closed loop:
    /// each sender keeps `--window` requests outstanding.
    #[arg(long)]
    pub rate: Option<f64>,

    /// Closed loop: requests each sender keeps outstanding (pipelined).
    #[arg(long, default_value_t = 8)]
    pub window: usize,

    /// Bytes of text per message.
    #[arg(long, default_value_t = 64)]
    pub text_bytes: usize,

    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,

    /// Save registered users (ids, tokens) here and reuse them next time,
    /// so re-runs skip the (deliberately slow) password registration.
    #[arg(long)]
    pub users_file: Option<PathBuf>,

    /// The server's process id: report its CPU use and resident memory
    /// (`idle`: before and after the sessions log in).
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Spread connections over this many loopback source addresses
    /// (127.0.0.1, 127.0.0.2, ...), each with its own 64k ports; 0 lets
    /// the kernel choose. Only used when the server is on 127.0.0.0/8.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(0..=254))]
    pub source_ips: u8,

    /// Request mix of `mixed`, as weights.
    #[arg(long, default_value = "chat:70,group:20,history:5,sync:5")]
    pub mix: Mix,

    /// Worker threads of the bench (1 leaves the other core to the server)
    /// [default: 1; `relay`: one per core, as the server].
    #[arg(long)]
    pub threads: Option<usize>,

    /// Connections used to register users and set up friends and groups.
    #[arg(long, default_value_t = 16)]
    pub setup_connections: usize,

    /// Connections logging in at the same time while the workload starts.
    #[arg(long, default_value_t = 256)]
    pub login_concurrency: usize,

    /// Password of the users the bench registers.
    #[arg(long, default_value = "bench-password")]
    pub user_password: String,

    /// `login`: log in by password instead of by token: register
    /// `--users` users, then log each in once, `--connections` at a time,
    /// and report the server's memory before, at the end of the burst and
    /// `--settle` seconds after (with `--server-pid`). `--warmup` and
    /// `--duration` do not apply: the burst lasts as long as it lasts.
    #[arg(long)]
    pub password: bool,

    /// `login --password`: users registered and logged in, once each.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,

    /// `login --password`: seconds after the burst to read the server's
    /// memory again.
    #[arg(long, default_value_t = 10.0)]
    pub settle: f64,

    /// Run the same workload first against a relay (`relay`: start
    /// `chatbench relay` on a free loopback port for the run; or the
    /// HOST:PORT of one already running), then against `--addr`, and
    /// report the server's figures as a ratio of the relay's. The relay
    /// gets fresh users (`--users-file` is for the server only).
    #[arg(long, value_name = "relay|HOST:PORT")]
    pub baseline: Option<String>,

    /// `storm`: the process id of the node to kill (SIGKILL) once every
    /// session is logged in and `--warmup` seconds have passed.
    #[arg(long)]
    pub kill_pid: Option<u32>,

    /// `storm`: how victims wait before reconnecting: `new` (full-jitter
    /// exponential, 1 s doubling to 30 s, as the terminal client) or `old`
    /// (about 1 s, ±20%).
    #[arg(long, value_enum, default_value_t = BackoffKind::New)]
    pub backoff: BackoffKind,

    /// `storm`: seconds to wait for every session to log in, and for
    /// every victim to log in again after the kill.
    #[arg(long, default_value_t = 300.0)]
    pub storm_timeout: f64,

    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Pairs of friends chatting, both ways.
    OneToOne,
    /// Groups of `--group-size` members; each message fans out to the
    /// other members.
    Group,
    /// Hold `--connections` logged-in sessions and report the server's
    /// resident memory before and after.
    Idle,
    /// Reconnect storm: connect, log in by token, disconnect, repeat.
    Login,
    /// Pairs split over two servers: senders on `--addr`, receivers on
    /// `--addr2`.
    CrossNode,
    /// Chat, group chat, history and sync, mixed by `--mix`.
    Mixed,
    /// Reconnect storm after a node dies: `--connections` sessions (pairs
    /// of friends chatting, `--rate` msg/s in all) through the balancer at
    /// `--addr`; `--kill-pid` is killed; the victims reconnect with
    /// `--backoff` and log in by token. Reports the time to the last
    /// login, `unavailable` replies, presence flaps, and acknowledged
    /// messages never delivered.
    Storm,
    /// Not a workload: serve the in-memory relay on HOST PORT, the
    /// machine's ceiling to compare the server with.
    Relay,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::OneToOne => "one-to-one",
            Workload::Group => "group",
            Workload::Idle => "idle",
            Workload::Login => "login",
            Workload::CrossNode => "cross-node",
            Workload::Mixed => "mixed",
            Workload::Storm => "storm",
            Workload::Relay => "relay",
        }
    }
}

/// Weights of the request kinds of `mixed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    pub chat: u32,
    pub group: u32,
    pub history: u32,
    pub sync: u32,
}

impl Mix {
    pub const CHAT_ONLY: Mix = Mix {
        chat: 1,
        group: 0,
        history: 0,
        sync: 0,
    };
    pub const GROUP_ONLY: Mix = Mix {
        chat: 0,
        group: 1,
        history: 0,
        sync: 0,
    };

    pub fn total(&self) -> u32 {
        self.chat + self.group + self.history + self.sync
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Mix, String> {
        let mut mix = Mix {
            chat: 0,
            group: 0,
            history: 0,
            sync: 0,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once(':')
                .ok_or_else(|| format!("`{part}`: expected KIND:WEIGHT"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("`{part}`: the weight must be a whole number"))?;
            let slot = match name.trim() {
                "chat" => &mut mix.chat,
                "group" => &mut mix.group,
                "history" => &mut mix.history,
                "sync" => &mut mix.sync,
                other => {
                    return Err(format!(
                        "unknown kind `{other}` (chat, group, history, sync)"
                    ));
                }
            };
            *slot = weight;
        }
        if mix.total() == 0 {
            return Err("at least one weight must be above 0".into());
        }
        Ok(mix)
    }
}

impl Opts {
    /// The server (`--addr`, or the default of the transport).
    pub fn addr(&self) -> &str {
        match (&self.addr, self.transport) {
            (Some(a), _) => a,
            (None, TransportKind::Tcp) => "127.0.0.1:6000",
            (None, TransportKind::Ws) => "127.0.0.1:6080",
        }
    }

    /// `tcp`, `tls`, `ws` or `wss`.
    pub fn transport_name(&self) -> &'static str {
        match (self.transport, self.tls) {
            (TransportKind::Tcp, false) => "tcp",
            (TransportKind::Tcp, true) => "tls",
            (TransportKind::Ws, false) => "ws",
            (TransportKind::Ws, true) => "wss",
        }
    }

    /// The transport's layers for a server at `addr`.
    pub fn layers(&self, addr: &str) -> anyhow::Result<Layers> {
        Layers::new(
            self.transport,
            addr,
            self.tls,
            self.ca.as_deref(),
            self.server_name.as_deref(),
            self.origin.as_deref(),
        )
    }

    /// Pairs of friends for the pair workloads.
    pub fn pair_count(&self) -> usize {
        self.pairs
            .or(self.connections.map(|c| c.div_ceil(2)))
            .unwrap_or(100)
    }

    /// Users the run needs besides those of the layout: `login
    /// --password` logs in `--users` users.
    pub fn login_users(&self) -> Option<usize> {
        (self.workload == Workload::Login && self.password).then_some(self.users)
    }

    /// Connections of `idle` and `login`.
    pub fn connection_count(&self) -> usize {
        self.connections.unwrap_or(match self.workload {
            Workload::Login => 100,
            Workload::Storm => 10_000,
            _ => 1000,
        })
    }

    pub fn group_size(&self) -> usize {
        self.group_size.unwrap_or(match self.workload {
            Workload::Mixed => 10,
            _ => 100,
        })
    }

    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    pub fn storm_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.storm_timeout.min(86_400.0))
    }

    pub fn drain(&self) -> Duration {
        Duration::from_secs_f64(self.drain)
    }

    /// Rejects settings that cannot run.
    pub fn check(&self) -> anyhow::Result<()> {
        for (name, v) in [
            ("duration", self.duration),
            ("warmup", self.warmup),
            ("drain", self.drain),
            ("settle", self.settle),
        ] {
            ensure!(
                v.is_finite() && (0.0..=86_400.0).contains(&v),
                "--{name} must be between 0 and 86400 seconds"
            );
        }
        ensure!(self.duration > 0.0, "--duration must be above 0");
        ensure!(
            (1..=1024).contains(&self.window),
            "--window must be 1 to 1024 (the server pipelines at most 1024)"
        );
        ensure!(
            (1..=4096).contains(&self.text_bytes),
            "--text-bytes must be 1 to 4096 (the protocol's limit)"
        );
        if let Some(rate) = self.rate {
            ensure!(
                rate.is_finite() && rate > 0.0,
                "--rate must be above 0 messages per second"
            );
        }
        ensure!(self.threads != Some(0), "--threads must be at least 1");
        if self.workload != Workload::Relay {
            ensure!(
                self.host == "127.0.0.1" && self.port == 6100,
                "only `relay` takes HOST and PORT (the server is --addr)"
            );
        }
        ensure!(
            self.setup_connections >= 1 && self.login_concurrency >= 1,
            "--setup-connections and --login-concurrency must be at least 1"
        );
        match self.workload {
            Workload::OneToOne | Workload::CrossNode | Workload::Mixed => {
                ensure!(self.pair_count() >= 1, "--pairs must be at least 1");
            }
            Workload::Group => {
                ensure!(self.groups >= 1, "--groups must be at least 1");
                ensure!(self.group_size() >= 2, "--group-size must be at least 2");
                if let Some(s) = self.senders {
                    ensure!(
                        (1..=self.group_size()).contains(&s),
                        "--senders must be 1 to --group-size"
                    );
                }
            }
            Workload::Storm => {
                ensure!(
                    self.connection_count() >= 2,
                    "--connections must be at least 2"
                );
                ensure!(self.kill_pid.is_some(), "storm needs --kill-pid");
                ensure!(
                    self.storm_timeout.is_finite() && self.storm_timeout > 0.0,
                    "--storm-timeout must be above 0"
                );
            }
            Workload::Idle | Workload::Login => {
                ensure!(
                    self.connection_count() >= 1,
                    "--connections must be at least 1"
                );
            }
            Workload::Relay => {}
        }
        if self.workload == Workload::Mixed {
            ensure!(self.group_size() >= 2, "--group-size must be at least 2");
        }
        ensure!(
            !self.password || self.workload == Workload::Login,
            "--password goes with `login` (password logins)"
        );
        if self.password {
            ensure!(self.users >= 1, "--users must be at least 1");
        }
        ensure!(
            self.baseline.is_none() || self.workload != Workload::Relay,
            "--baseline compares a workload; `relay` is the baseline itself"
        );
        ensure!(
            self.baseline.is_none() || (self.transport == TransportKind::Tcp && !self.tls),
            "--baseline: the relay speaks plain TCP only"
        );
        ensure!(
            self.origin.is_none() || self.transport == TransportKind::Ws,
            "--origin goes with --transport ws"
        );
        if self.workload == Workload::CrossNode && self.addr2.is_none() {
            bail!("cross-node needs --addr2 (the server the receivers connect to)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Opts {
        let mut all = vec!["chatbench"];
        all.extend_from_slice(args);
        Opts::try_parse_from(all).expect("arguments parse")
    }

    #[test]
    fn defaults() {
        let o = parse(&["one-to-one"]);
        assert_eq!(o.workload, Workload::OneToOne);
        assert_eq!(o.addr(), "127.0.0.1:6000");
        assert_eq!(o.pair_count(), 100);
        assert_eq!(o.window, 8);
        assert_eq!(o.rate, None);
        assert_eq!(o.text_bytes, 64);
        assert_eq!(o.duration(), Duration::from_secs(10));
        assert_eq!(o.mix, "chat:70,group:20,history:5,sync:5".parse().unwrap());
        assert!(!o.json);
        o.check().unwrap();
        assert_eq!(parse(&["idle"]).connection_count(), 1000);
        assert_eq!(parse(&["login"]).connection_count(), 100);
        assert_eq!(parse(&["group"]).group_size(), 100);
        assert_eq!(parse(&["mixed"]).group_size(), 10);
    }

    #[test]
    fn every_workload_and_option() {
        let o = parse(&[
            "--addr",
            "127.0.0.1:7000",
            "--addr2",
            "127.0.0.1:7001",
            "--pairs",
            "50",
            "--rate",
            "20000",
            "--window",
            "4",
            "--duration",
            "1.5",
            "--warmup",
            "0",
            "--text-bytes",
            "10",
            "--json",
            "--users-file",
            "/tmp/u.json",
            "--source-ips",
            "4",
            "cross-node",
        ]);
        assert_eq!(o.workload, Workload::CrossNode);
        assert_eq!(o.addr2.as_deref(), Some("127.0.0.1:7001"));
        assert_eq!(o.pair_count(), 50);
        assert_eq!(o.rate, Some(20000.0));
        assert_eq!(o.duration(), Duration::from_millis(1500));
        assert_eq!(o.users_file, Some(PathBuf::from("/tmp/u.json")));
        assert!(o.json);
        o.check().unwrap();
        for (name, w) in [
            ("one-to-one", Workload::OneToOne),
            ("group", Workload::Group),
            ("idle", Workload::Idle),
            ("login", Workload::Login),
            ("cross-node", Workload::CrossNode),
            ("mixed", Workload::Mixed),
            ("relay", Workload::Relay),
        ] {
            assert_eq!(parse(&[name]).workload, w);
            assert_eq!(w.name(), name);
        }
        // --connections stands in for pairs.
        assert_eq!(parse(&["one-to-one", "--connections", "9"]).pair_count(), 5);
    }

    #[test]
    fn password_logins_and_baseline() {
        let o = parse(&["login", "--password", "--users", "50", "--settle", "0"]);
        assert!(o.password);
        assert_eq!(o.login_users(), Some(50));
        assert_eq!(o.user_password, "bench-password");
        o.check().unwrap();
        assert_eq!(parse(&["login"]).login_users(), None);
        assert!(parse(&["one-to-one", "--password"]).check().is_err());
        assert!(
            parse(&["login", "--password", "--users", "0"])
                .check()
                .is_err()
        );
        let o = parse(&["one-to-one", "--baseline", "relay"]);
        assert_eq!(o.baseline.as_deref(), Some("relay"));
        o.check().unwrap();
        assert!(parse(&["relay", "--baseline", "relay"]).check().is_err());
    }

    #[test]
    fn relay_takes_host_and_port() {
        let o = parse(&["relay"]);
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 6100));
        o.check().unwrap();
        let o = parse(&["relay", "0.0.0.0", "7000", "--threads", "2"]);
        assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 7000));
        assert_eq!(o.threads, Some(2));
        assert!(parse(&["one-to-one", "10.0.0.1"]).check().is_err());
        assert!(Opts::try_parse_from(["chatbench", "relay", "h", "notaport"]).is_err());
    }

    #[test]
    fn rejects_what_cannot_run() {
        assert!(Opts::try_parse_from(["chatbench"]).is_err());
        assert!(Opts::try_parse_from(["chatbench", "chat"]).is_err());
        assert!(Opts::try_parse_from(["chatbench", "idle", "--source-ips", "300"]).is_err());
        assert!(parse(&["cross-node"]).check().is_err());
        assert!(parse(&["one-to-one", "--window", "0"]).check().is_err());
        assert!(parse(&["one-to-one", "--window", "2000"]).check().is_err());
        assert!(parse(&["one-to-one", "--rate", "0"]).check().is_err());
        assert!(
            parse(&["one-to-one", "--text-bytes", "5000"])
                .check()
                .is_err()
        );
        assert!(parse(&["one-to-one", "--duration", "0"]).check().is_err());
        assert!(parse(&["group", "--group-size", "1"]).check().is_err());
        assert!(
            parse(&["group", "--group-size", "5", "--senders", "6"])
                .check()
                .is_err()
        );
    }

    #[test]
    fn mix_parses_weights() {
        let m: Mix = "chat:3, history:1".parse().unwrap();
        assert_eq!(
            m,
            Mix {
                chat: 3,
                group: 0,
                history: 1,
                sync: 0
            }
        );
        assert_eq!(m.total(), 4);
        assert!("chat:0".parse::<Mix>().is_err());
        assert!("chat".parse::<Mix>().is_err());
        assert!("talk:1".parse::<Mix>().is_err());
        assert!("chat:x".parse::<Mix>().is_err());
    }
}
