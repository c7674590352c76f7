//! `--baseline`: one workload against the relay, then against the server,
//! back to back in one run, and the server's figures as a ratio of the
//! relay's. The relay does the same network work with nothing behind it
//! (see [`crate::relay`]), so the ratio says how much of the machine's
//! ceiling the server keeps, in a figure that travels between machines
//! better than messages per second do.
//!
//! `--baseline relay` starts the relay itself (this same executable,
//! `chatbench relay 127.0.0.1 0`, as its own process like the server) and
//! stops it before the server's turn, so the two never share the machine;
//! `--baseline HOST:PORT` uses a relay already running there.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::cli::{Opts, Workload};
use crate::report::{Summary, thousands};
use crate::stats::human_micros;

/// Both runs and how they compare.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub relay: Summary,
    pub server: Summary,
    pub ratio: Ratio,
}

/// The server's headline figures against the relay's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    /// What is compared: `delivered_per_s` (chat workloads),
    /// `logins_per_s` (`login`) or `rss_per_session_bytes` (`idle`).
    pub figure: &'static str,
    pub relay: f64,
    pub server: f64,
    /// server / relay (`None` when the relay's figure is 0).
    pub ratio: Option<f64>,
    /// The p99 latency of each: end to end for messages, connect + login
    /// for logins; in microseconds.
    pub p99_relay_us: Option<u64>,
    pub p99_server_us: Option<u64>,
    /// Server p99 / relay p99.
    pub p99_ratio: Option<f64>,
}

fn p99(s: &Summary) -> Option<u64> {
    match s.logins {
        Some(_) => s.reply_latency_us.get("login").map(|p| p.p99),
        None => s.latency_us.map(|p| p.p99),
    }
}

fn divide(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

impl Ratio {
    pub fn of(relay: &Summary, server: &Summary) -> Ratio {
        let (figure, get): (_, fn(&Summary) -> f64) = if server.logins.is_some() {
            ("logins_per_s", |s| s.logins_per_s.unwrap_or(0.0))
        } else if server.workload == Workload::Idle.name() {
            ("rss_per_session_bytes", |s| {
                s.server_rss_per_session_bytes.unwrap_or(0) as f64
            })
        } else {
            ("delivered_per_s", |s| s.delivered_per_s)
        };
        let (r99, s99) = (p99(relay), p99(server));
        Ratio {
            figure,
            relay: get(relay),
            server: get(server),
            ratio: divide(get(server), get(relay)),
            p99_relay_us: r99,
            p99_server_us: s99,
            p99_ratio: match (s99, r99) {
                (Some(s), Some(r)) => divide(s as f64, r as f64),
                _ => None,
            },
        }
    }

    /// One line for people.
    pub fn line(&self) -> String {
        let mut s = format!(
            "server / relay: {} {} / {}",
            self.figure,
            thousands(self.server.round() as u64),
            thousands(self.relay.round() as u64),
        );
        if let Some(r) = self.ratio {
            s.push_str(&format!(" = {r:.2} ({:.0}%)", r * 100.0));
        }
        if let (Some(sv), Some(rl)) = (self.p99_server_us, self.p99_relay_us) {
            s.push_str(&format!(
                "; p99 {} / {}",
                human_micros(sv),
                human_micros(rl)
            ));
            if let Some(r) = self.p99_ratio {
                s.push_str(&format!(" = {r:.1}x"));
            }
        }
        s
    }
}

impl Comparison {
    /// Both summaries and the ratio, for people.
    pub fn human(&self) -> String {
        format!(
            "against the relay (the machine's ceiling):\n{}against the server:\n{}{}\n",
            self.relay.human(),
            self.server.human(),
            self.ratio.line()
        )
    }
}

/// A relay this run started; killed when dropped.
struct RelayChild {
    child: Child,
    addr: String,
}

impl RelayChild {
    /// Starts `chatbench relay` (this executable) on a free loopback port
    /// and waits for it to say where it listens.
    async fn start() -> anyhow::Result<RelayChild> {
        let exe = std::env::current_exe().context("cannot find the chatbench executable")?;
        let mut child = Command::new(exe)
            .args(["relay", "127.0.0.1", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start `chatbench relay`")?;
        let stdout = child.stdout.take();
        // From here on, dropping `relay` kills the child, which also ends
        // the read below if it is still waiting.
        let mut relay = RelayChild {
            child,
            addr: String::new(),
        };
        let Some(stdout) = stdout else {
            bail!("no output from `chatbench relay`");
        };
        let read = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .context("`chatbench relay` did not start within 10 s")???;
        relay.addr = crate::relay::parse_listening(&line)
            .with_context(|| format!("`chatbench relay` said {line:?}"))?
            .to_string();
        Ok(relay)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `opts`' workload against the relay `opts.baseline` names, then
/// against the server.
pub async fn compare(opts: Opts) -> anyhow::Result<Comparison> {
    opts.check()?;
    let Some(baseline) = opts.baseline.clone() else {
        bail!("compare needs --baseline");
    };
    let child = match baseline.as_str() {
        "relay" => Some(RelayChild::start().await?),
        _ => None,
    };
    let relay_addr = child.as_ref().map_or(baseline, |c| c.addr.clone());
    let mut at_relay = opts.clone();
    at_relay.baseline = None;
    at_relay.addr = Some(relay_addr.clone());
    if at_relay.addr2.is_some() {
        at_relay.addr2 = Some(relay_addr.clone());
    }
    // The relay forgets its users when it stops: never mix them with the
    // server's users file.
    at_relay.users_file = None;
    at_relay.server_pid = child.as_ref().map(RelayChild::pid);
    if !opts.quiet {
        eprintln!("chatbench: against the relay at {relay_addr}");
    }
    let relay = crate::run(at_relay)
        .await
        .context("running against the relay")?;
    // The server gets the machine to itself.
    drop(child);
    let mut at_server = opts;
    at_server.baseline = None;
    if !at_server.quiet {
        eprintln!("chatbench: against the server at {}", at_server.addr());
    }
    let server = crate::run(at_server)
        .await
        .context("running against the server")?;
    Ok(Comparison {
        ratio: Ratio::of(&relay, &server),
        relay,
        server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacing::Window;
    use crate::stats::{Percentiles, Shared};
    use clap::Parser;

    fn summary(args: &[&str], per_s: f64, p99: u64) -> Summary {
        let mut all = vec!["chatbench"];
        all.extend_from_slice(args);
        let opts = Opts::parse_from(all);
        let window = Window {
            measured_s: 10.0,
            bench_cpu: 0.3,
            server_cpu: None,
        };
        let p = Percentiles {
            count: 10,
            mean: p99 as f64,
            p50: p99 / 2,
            p90: p99,
            p99,
            p999: p99,
            max: p99,
        };
        let mut s = Summary::new(&opts, &Shared::new(), &window);
        s.delivered_per_s = per_s;
        s.latency_us = Some(p);
        if opts.workload == Workload::Login {
            s.logins = Some(per_s as u64 * 10);
            s.logins_per_s = Some(per_s);
            s.reply_latency_us.insert("login", p);
        }
        s
    }

    #[test]
    fn messages_compare_by_deliveries_and_end_to_end_p99() {
        let r = Ratio::of(
            &summary(&["one-to-one"], 100_000.0, 2_000),
            &summary(&["one-to-one"], 40_000.0, 12_000),
        );
        assert_eq!(r.figure, "delivered_per_s");
        assert_eq!(r.ratio, Some(0.4));
        assert_eq!(r.p99_ratio, Some(6.0));
        assert_eq!(
            r.line(),
            "server / relay: delivered_per_s 40,000 / 100,000 = 0.40 (40%); p99 12.0ms / 2.00ms = 6.0x"
        );
    }

    #[test]
    fn logins_compare_by_logins_and_a_zero_baseline_has_no_ratio() {
        let r = Ratio::of(
            &summary(&["login"], 50_000.0, 1_000),
            &summary(&["login"], 20_000.0, 4_000),
        );
        assert_eq!((r.figure, r.ratio), ("logins_per_s", Some(0.4)));
        assert_eq!(r.p99_ratio, Some(4.0));
        let r = Ratio::of(
            &summary(&["one-to-one"], 0.0, 0),
            &summary(&["one-to-one"], 10.0, 5),
        );
        assert_eq!((r.ratio, r.p99_ratio), (None, None));
        assert!(r.line().ends_with("10 / 0; p99 5us / 0us"), "{}", r.line());
    }
}
