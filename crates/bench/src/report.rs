//! The run's results: the [`Summary`] (printed for people, or as one JSON
//! object with `--json`) and the live progress line.
//!
//! It runs past 500 lines because every field of the summary says what it
//! means, and the human rendering and its tests must follow each field:
//! they change together.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::Opts;
use crate::pacing::Window;
use crate::stats::{Counts, Kind, Percentiles, Phase, Shared, human_micros};
use crate::sys::ServerUse;

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub workload: &'static str,
    pub addr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr2: Option<String>,
    /// `tcp`, `tls`, `ws` or `wss`.
    pub transport: &'static str,
    /// `storm`: its own figures (the rest of the summary is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storm: Option<crate::storm::StormReport>,
    /// Connections driven by the workload (setup connections not counted).
    pub connections: usize,
    /// Of those, the ones that send.
    pub senders: usize,
    /// `closed`, `open`, or `none` (idle, login).
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// Open loop: messages per second asked for, in total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    pub text_bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_size: Option<usize>,
    pub warmup_s: f64,
    pub measured_s: f64,
    /// Messages sent during the measured window.
    pub sent: u64,
    pub sent_per_s: f64,
    /// Deliveries (message x recipient) that arrived during the window.
    pub delivered: u64,
    pub delivered_per_s: f64,
    /// Send (scheduled send, in open loop) to arrival at each recipient,
    /// during the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<Percentiles>,
    /// Open loop: how late each message was written after its scheduled
    /// time (already part of the latencies): timer slack and a busy bench,
    /// or, past the server's capacity, requests held back because the
    /// server stopped reading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_lag_us: Option<Percentiles>,
    /// Request to reply, by op, during the window.
    pub reply_latency_us: BTreeMap<&'static str, Percentiles>,
    /// Failures by code, over the whole run.
    pub errors: BTreeMap<&'static str, u64>,
    /// The first few distinct error messages.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_samples: Vec<String>,
    /// Messages answered `ok` that some recipient never got (counted per
    /// recipient), by the end of the drain.
    pub lost: u64,
    /// Deliveries of a message a recipient already had.
    pub duplicates: u64,
    /// Deliveries of messages whose reply was not `ok` (or never came).
    pub unconfirmed: u64,
    /// Deliveries of earlier runs' messages (unacked leftovers).
    pub stale: u64,
    /// Whole run, warmup and drain included.
    pub total_sent: u64,
    pub total_ok: u64,
    pub total_delivered: u64,
    /// Seconds the drain took; `drain_complete` is false when it timed out
    /// with replies or deliveries missing.
    pub drain_s: f64,
    pub drain_complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logins: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logins_per_s: Option<f64>,
    /// Idle: the server's VmRSS before the sessions logged in and while
    /// they are held (the highest reading), and the difference per session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_before_kib: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_after_kib: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_per_session_bytes: Option<u64>,
    /// CPU cores used during the measured window (user + system).
    pub bench_cpu_cores: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_cores: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench_peak_rss_kib: Option<u64>,
    /// `login`: `token` or `password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_by: Option<&'static str>,
    /// With `--server-pid`: the server's memory and disk writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerUse>,
}

/// 1234567 as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn line_of(p: &Percentiles) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (n={})",
        human_micros(p.p50),
        human_micros(p.p90),
        human_micros(p.p99),
        human_micros(p.p999),
        human_micros(p.max),
        thousands(p.count)
    )
}

impl Summary {
    /// A run of `opts` that sent nothing: what every workload reports
    /// (errors, reply latencies, CPU), the rest zero or absent.
    pub fn new(opts: &Opts, shared: &Shared, window: &Window) -> Summary {
        Summary {
            workload: opts.workload.name(),
            addr: opts.addr().to_owned(),
            transport: opts.transport_name(),
            storm: None,
            addr2: None,
            connections: 0,
            senders: 0,
            mode: "none",
            window: None,
            rate: None,
            text_bytes: opts.text_bytes,
            group_size: None,
            warmup_s: opts.warmup,
            measured_s: window.measured_s,
            sent: 0,
            sent_per_s: 0.0,
            delivered: 0,
            delivered_per_s: 0.0,
            latency_us: None,
            send_lag_us: None,
            reply_latency_us: reply_percentiles(shared, Phase::Measure),
            errors: shared.failures().into_iter().collect(),
            error_samples: shared.error_samples(),
            lost: 0,
            duplicates: 0,
            unconfirmed: 0,
            stale: 0,
            total_sent: 0,
            total_ok: 0,
            total_delivered: 0,
            drain_s: 0.0,
            drain_complete: true,
            logins: None,
            logins_per_s: None,
            server_rss_before_kib: None,
            server_rss_after_kib: None,
            server_rss_per_session_bytes: None,
            bench_cpu_cores: window.bench_cpu,
            server_cpu_cores: window.server_cpu,
            bench_peak_rss_kib: crate::sys::own_peak_rss_kib(),
            login_by: None,
            server: None,
        }
    }

    /// The summary for people.
    pub fn human(&self) -> String {
        if let Some(storm) = &self.storm {
            return format!("{} over {}\n{}", self.addr, self.transport, storm.human());
        }
        let mut s = String::new();
        let target = match &self.addr2 {
            Some(a2) => format!("{} and {a2} over {}", self.addr, self.transport),
            None => format!("{} over {}", self.addr, self.transport),
        };
        let mode = match (self.mode, self.window, self.rate) {
            ("closed", Some(w), _) => {
                format!("closed loop, window {w}, {}-byte texts", self.text_bytes)
            }
            ("open", _, Some(r)) => format!(
                "open loop, {} msgs/s, {}-byte texts",
                thousands(r as u64),
                self.text_bytes
            ),
            _ => "no messages".to_owned(),
        };
        let _ = writeln!(
            s,
            "chatbench {} against {target}: {} connections, {} senders, {mode}{}",
            self.workload,
            thousands(self.connections as u64),
            thousands(self.senders as u64),
            self.group_size
                .map(|g| format!(", groups of {g}"))
                .unwrap_or_default(),
        );
        let _ = writeln!(
            s,
            "  measured {:.1} s after {:.1} s of warmup",
            self.measured_s, self.warmup_s
        );
        if let Some(n) = self.logins {
            let _ = writeln!(
                s,
                "  logins      {:>12}   {:>10}/s{}",
                thousands(n),
                thousands(self.logins_per_s.unwrap_or(0.0) as u64),
                self.login_by
                    .map(|by| format!("   by {by}"))
                    .unwrap_or_default()
            );
            if let Some(p) = self.reply_latency_us.get("login") {
                let _ = writeln!(s, "  connect+login latency  {}", line_of(p));
            }
        }
        if self.mode != "none" {
            let _ = writeln!(
                s,
                "  sent        {:>12}   {:>10}/s",
                thousands(self.sent),
                thousands(self.sent_per_s as u64)
            );
            let _ = writeln!(
                s,
                "  delivered   {:>12}   {:>10}/s",
                thousands(self.delivered),
                thousands(self.delivered_per_s as u64)
            );
            match &self.latency_us {
                Some(p) => {
                    let _ = writeln!(s, "  end-to-end  {}", line_of(p));
                }
                None => {
                    let _ = writeln!(s, "  end-to-end  no deliveries measured");
                }
            }
            if let Some(p) = &self.send_lag_us {
                let _ = writeln!(
                    s,
                    "  send lag    {}  (scheduled -> written; part of end-to-end)",
                    line_of(p)
                );
            }
            for (op, p) in &self.reply_latency_us {
                if *op != "login" {
                    let _ = writeln!(s, "  reply {op:<11} {}", line_of(p));
                }
            }
        }
        if let (Some(b), Some(a)) = (self.server_rss_before_kib, self.server_rss_after_kib) {
            let _ = writeln!(
                s,
                "  server RSS  {:.1} MiB before, {:.1} MiB with the sessions: {} bytes per session",
                b as f64 / 1024.0,
                a as f64 / 1024.0,
                thousands(self.server_rss_per_session_bytes.unwrap_or(0))
            );
        }
        if let Some(u) = &self.server {
            let _ = writeln!(s, "  server      {}", server_use_line(u));
        }
        if self.errors.is_empty() {
            let _ = writeln!(s, "  errors      none");
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k} {}", thousands(*v)))
                .collect();
            let _ = writeln!(s, "  errors      {}", list.join(", "));
            for e in &self.error_samples {
                let _ = writeln!(s, "    e.g. {e}");
            }
        }
        if self.mode != "none" {
            let _ = writeln!(
                s,
                "  lost {}  duplicates {}  unconfirmed {}  stale {}  (whole run: {} sent, {} ok, {} delivered; drain {:.1} s{})",
                thousands(self.lost),
                thousands(self.duplicates),
                thousands(self.unconfirmed),
                thousands(self.stale),
                thousands(self.total_sent),
                thousands(self.total_ok),
                thousands(self.total_delivered),
                self.drain_s,
                if self.drain_complete {
                    ""
                } else {
                    ", timed out"
                },
            );
        }
        let server = self
            .server_cpu_cores
            .map(|c| format!(", server {c:.2} cores"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  cpu         bench {:.2} cores{server}{}",
            self.bench_cpu_cores,
            self.bench_peak_rss_kib
                .map(|k| format!("; bench peak RSS {:.0} MiB", k as f64 / 1024.0))
                .unwrap_or_default()
        );
        s
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The server's memory and disk writes, in a line.
fn server_use_line(u: &ServerUse) -> String {
    let mut parts = Vec::new();
    let rss: Vec<String> = [
        (u.rss_start_kib, "at start".to_owned()),
        (u.rss_end_kib, "at end".to_owned()),
        (
            u.rss_after_kib,
            format!("{:.0} s after", u.rss_after_s.unwrap_or(0.0)),
        ),
        (u.rss_peak_kib, "peak (VmHWM)".to_owned()),
    ]
    .into_iter()
    .filter_map(|(k, when)| k.map(|k| format!("{} {when}", mib(k))))
    .collect();
    if !rss.is_empty() {
        parts.push(format!("RSS {}", rss.join(", ")));
    }
    if let Some(w) = u.disk_write_bytes {
        let per = u
            .disk_bytes_per_delivery
            .map(|p| format!(": {} bytes per delivery", thousands(p.round() as u64)))
            .unwrap_or_default();
        parts.push(format!("wrote {} to disk{per}", mib(w / 1024)));
    }
    parts.join("; ")
}

/// Reply latencies of one phase that have samples.
pub fn reply_percentiles(shared: &Shared, phase: Phase) -> BTreeMap<&'static str, Percentiles> {
    let h = shared.hists(phase);
    Kind::ALL
        .iter()
        .filter_map(|k| Percentiles::of(&h.reply[*k as usize]).map(|p| (k.name(), p)))
        .collect()
}

/// What the progress line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Messages sent and delivered per second.
    Messages,
    /// Logins per second.
    Logins,
    /// Sessions held.
    Sessions(usize),
}

/// Prints one line a second on stderr until `stop` is dropped or sends.
pub async fn progress(
    shared: Arc<Shared>,
    show: Show,
    server_pid: Option<u32>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let start = Instant::now();
    let mut last = shared.total();
    let mut last_t = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => return,
        }
        let now = Instant::now();
        let dt = now.duration_since(last_t).as_secs_f64().max(1e-3);
        let t = shared.total();
        let d = |f: fn(&Counts) -> u64| (f(&t).saturating_sub(f(&last))) as f64 / dt;
        let phase = shared.phase();
        let h = shared.hists(phase);
        let p99 = if show == Show::Logins {
            &h.reply[Kind::Login as usize]
        } else {
            &h.delivery
        };
        let p99 = if p99.is_empty() {
            "-".to_owned()
        } else {
            human_micros(p99.value_at_quantile(0.99))
        };
        drop(h);
        let rss = server_pid
            .and_then(crate::sys::rss_kib)
            .map(|k| format!("  server RSS {:.0} MiB", k as f64 / 1024.0))
            .unwrap_or_default();
        let body = match show {
            Show::Logins => format!("logins {:>8.0}/s  p99 {p99}", d(|c| c.logins)),
            Show::Sessions(n) => format!("sessions {n}"),
            Show::Messages => format!(
                "sent {:>8.0}/s  delivered {:>8.0}/s  p99 {p99}  in flight {}",
                d(|c| c.sent),
                d(|c| c.delivered),
                shared
                    .outstanding
                    .load(std::sync::atomic::Ordering::Relaxed)
            ),
        };
        eprintln!(
            "[{:>4.0}s {:<7}] {body}  errors {}{rss}",
            now.duration_since(start).as_secs_f64(),
            phase.name(),
            t.errors
        );
        last = t;
        last_t = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        use clap::Parser;
        let opts = Opts::parse_from(["chatbench", "one-to-one", "--addr", "127.0.0.1:6000"]);
        let window = Window {
            measured_s: 10.0,
            bench_cpu: 0.5,
            server_cpu: Some(1.4),
        };
        Summary {
            connections: 200,
            senders: 200,
            mode: "closed",
            window: Some(8),
            sent: 1_000_000,
            sent_per_s: 100_000.0,
            delivered: 999_000,
            delivered_per_s: 99_900.0,
            latency_us: Some(Percentiles {
                count: 999_000,
                mean: 900.0,
                p50: 800,
                p90: 1_500,
                p99: 4_000,
                p999: 9_000,
                max: 20_000,
            }),
            errors: BTreeMap::from([("rate_limited", 3)]),
            error_samples: vec!["chat failed: rate_limited: slow down".into()],
            total_sent: 1_200_000,
            total_ok: 1_200_000,
            total_delivered: 1_200_000,
            drain_s: 0.1,
            bench_peak_rss_kib: None,
            ..Summary::new(&opts, &Shared::new(), &window)
        }
    }

    #[test]
    fn human_summary_names_the_figures() {
        let text = summary().human();
        assert!(text.contains("closed loop, window 8"), "{text}");
        assert!(text.contains("99,900/s"), "{text}");
        assert!(text.contains("p99 4.00ms"), "{text}");
        assert!(text.contains("rate_limited 3"), "{text}");
        assert!(text.contains("lost 0  duplicates 0"), "{text}");
        assert!(text.contains("server 1.40 cores"), "{text}");
    }

    #[test]
    fn server_use_reads_in_one_line() {
        let mut s = summary();
        s.server = Some(ServerUse {
            rss_start_kib: Some(10 * 1024),
            rss_end_kib: Some(20 * 1024),
            rss_after_kib: Some(15 * 1024),
            rss_after_s: Some(10.0),
            rss_peak_kib: Some(30 * 1024),
            disk_write_bytes: Some(5 << 20),
            disk_bytes_per_delivery: Some(5_734.4),
        });
        let text = s.human();
        assert!(
            text.contains(
                "server      RSS 10.0 MiB at start, 20.0 MiB at end, 15.0 MiB 10 s after, \
                 30.0 MiB peak (VmHWM); wrote 5.0 MiB to disk: 5,734 bytes per delivery"
            ),
            "{text}"
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["server"]["disk_write_bytes"], 5 << 20);
        assert!(
            serde_json::to_value(summary())
                .unwrap()
                .get("server")
                .is_none()
        );
    }

    #[test]
    fn json_summary_is_one_object() {
        let v = serde_json::to_value(summary()).unwrap();
        assert_eq!(v["delivered_per_s"], 99_900.0);
        assert_eq!(v["latency_us"]["p99"], 4_000);
        assert_eq!(v["errors"]["rate_limited"], 3);
        assert_eq!(v["lost"], 0);
        assert!(v.get("logins").is_none());
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
