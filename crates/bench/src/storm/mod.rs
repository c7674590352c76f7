//! `chatbench storm`: the reconnect storm after a node dies.
//!
//! `--connections` sessions (pairs of friends) log in through the load
//! balancer at `--addr` (nginx in front of a cluster) and each sends to
//! its friend, `--rate` messages a second in all, every message with a
//! `cid`. After `--warmup` seconds the bench kills one node's process
//! with SIGKILL (`--kill-pid`: the bench does not start the cluster, so
//! the same command works on `scripts/cluster` or any other). The sessions
//! that were on it lose their connection: these are the victims. Each
//! reconnects through the balancer after a wait drawn by `--backoff`
//! (`new`: the terminal client's full-jitter exponential backoff; `old`:
//! about one second, ±20%), waiting instead `retry_after` seconds when a
//! login is answered `unavailable` (the server's `--max-logins-in-flight`),
//! logs in by token and sends again the messages it had no answer for,
//! with the same `cid`. Their friends on the surviving nodes keep sending
//! to them all along. Once every victim is back (or `--storm-timeout`),
//! the load goes on for `--duration` seconds, then stops, and the bench
//! waits up to `--drain` seconds for the deliveries still on their way.
//!
//! What it reports: the victims, the time from the kill to the last
//! victim's login reply (and the spread of the victims' times), login
//! attempts, `unavailable` replies and failed attempts, the presence
//! flaps friends saw (`online: false`, then `true` again), messages
//! acknowledged (`ok` with an id) and, of those, any never delivered to
//! the friend (by message id; must be 0), and the duplicates the
//! receivers dropped (replays of messages they had received but not yet
//! acked when the node died).
//!
//! Each session is one task that awaits its (small) writes: the load is
//! light, and the subject is the reconnections, not throughput.
//!
//! Files: [`backoff`] (the two backoffs), [`session`] (one session's
//! life); here, the run and its report.

mod backoff;
mod session;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};

pub use backoff::{BASE, Backoff, BackoffKind, CAP};
use session::{Phase, Plan, Session, Shared, Tally};

use crate::cli::Opts;
use crate::conn::Dialer;
use crate::report::Summary;
use crate::setup::{self, UserRec};

/// The storm's figures.
#[derive(Debug, Clone, Serialize)]
pub struct StormReport {
    pub sessions: usize,
    pub backoff: BackoffKind,
    pub killed_pid: u32,
    /// Sessions whose connection dropped when the node died.
    pub victims: usize,
    /// Of those, logged in again by the end.
    pub back: usize,
    /// From the kill to the last victim's login reply.
    pub last_login_s: Option<f64>,
    /// From the kill to a victim's login reply: median and 99th percentile.
    pub login_p50_s: Option<f64>,
    pub login_p99_s: Option<f64>,
    /// Login attempts of the victims (connect + login).
    pub attempts: u64,
    /// `unavailable` replies to the victims' logins.
    pub unavailable: u64,
    /// `unavailable` replies to the first logins, before the kill.
    pub unavailable_at_start: u64,
    /// Attempts that failed otherwise (refused connection, timeout...).
    pub failed_attempts: u64,
    /// The same, by why: `connect` (refused, or the layers' handshake),
    /// `closed before the reply` (e.g. the balancer had no node to give),
    /// `no reply in 10 s`, `refused` (another error code), `unreadable reply`.
    pub failures: BTreeMap<&'static str, u64>,
    /// Friends who saw their friend go offline, and come back.
    pub presence_offline_seen: u64,
    pub presence_flaps: u64,
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    /// Acknowledged, and never delivered to the friend: must be 0.
    pub acked_not_delivered: u64,
    pub duplicates_dropped: u64,
    /// Chats never answered (their sender's connection kept failing).
    pub unanswered: u64,
    /// Connections lost before the kill (none expected).
    pub lost_before_kill: u64,
    /// Error replies to chats, by code.
    pub errors: BTreeMap<String, u64>,
}

impl StormReport {
    pub fn human(&self) -> String {
        let mut s = String::new();
        let secs = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}s"));
        let _ = writeln!(
            s,
            "storm: {} sessions, backoff {:?}, killed pid {}",
            self.sessions, self.backoff, self.killed_pid
        );
        let _ = writeln!(
            s,
            "  victims       {} (back: {}); last login reply {} after the kill (p50 {}, p99 {})",
            self.victims,
            self.back,
            secs(self.last_login_s),
            secs(self.login_p50_s),
            secs(self.login_p99_s)
        );
        let _ = writeln!(
            s,
            "  attempts      {} by the victims ({} unavailable, {} failed); {} unavailable to the first logins",
            self.attempts, self.unavailable, self.failed_attempts, self.unavailable_at_start
        );
        if !self.failures.is_empty() {
            let _ = writeln!(s, "  failed        {:?}", self.failures);
        }
        let _ = writeln!(
            s,
            "  presence      {} offline seen by friends, {} flaps (offline then online)",
            self.presence_offline_seen, self.presence_flaps
        );
        let _ = writeln!(
            s,
            "  messages      {} sent, {} acked, {} delivered, {} acked but not delivered, {} duplicates dropped, {} unanswered",
            self.sent,
            self.acked,
            self.delivered,
            self.acked_not_delivered,
            self.duplicates_dropped,
            self.unanswered
        );
        if self.lost_before_kill > 0 || !self.errors.is_empty() {
            let _ = writeln!(
                s,
                "  errors        {} lost before the kill; replies {:?}",
                self.lost_before_kill, self.errors
            );
        }
        s
    }
}

/// The `q` quantile of sorted `v`.
fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    Some(v[i])
}

/// Sends SIGKILL to `pid`.
fn kill9(pid: u32) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("kill -KILL {pid} failed");
    }
    Ok(())
}

/// Waits until `done` holds or `limit` passes, saying `what` once a
/// second unless quiet; whether it held.
async fn until(limit: Duration, quiet: bool, what: impl Fn() -> (bool, String)) -> bool {
    let deadline = Instant::now() + limit;
    let mut last = Instant::now();
    loop {
        let (done, line) = what();
        if done {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        if !quiet && last.elapsed() >= Duration::from_secs(1) {
            eprintln!("chatbench: {line}");
            last = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the storm `opts` describes.
pub async fn run(opts: &Opts, dialer: Arc<Dialer>) -> anyhow::Result<Summary> {
    let Some(pid) = opts.kill_pid else {
        bail!("storm needs --kill-pid (the node to kill)");
    };
    let n = opts.connection_count().div_ceil(2) * 2;
    let users = setup::users(
        &dialer,
        opts.users_file.as_deref(),
        n,
        &opts.user_password,
        opts.setup_connections,
        opts.quiet,
    )
    .await
    .context("setting up users")?;
    let pairs: Vec<(UserRec, UserRec)> = users
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    setup::befriend(&dialer, &pairs, opts.setup_connections)
        .await
        .context("making friends")?;
    let rate = opts.rate.unwrap_or(1000.0);
    let interval = Duration::from_secs_f64(n as f64 / rate);
    let started = Instant::now();
    let run_tag = format!(
        "s{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    );
    let shared = Arc::new(Shared {
        phase: watch::channel(Phase::Login).0,
        started,
        killed_us: AtomicU64::new(0),
        down: AtomicUsize::new(0),
        victims: AtomicUsize::new(0),
        acked: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        unanswered: AtomicU64::new(0),
        run: run_tag,
    });
    let logins = Arc::new(Semaphore::new(opts.login_concurrency));
    let (ready_tx, mut ready) = mpsc::channel(1024);
    let tasks: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let friend = users[i ^ 1].id;
            let session = Session {
                plan: Plan {
                    index: i,
                    user: user.clone(),
                    friend,
                    interval,
                },
                dialer: dialer.clone(),
                shared: shared.clone(),
                tally: Tally::default(),
                rng: (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    ^ started.elapsed().as_nanos() as u64
                    | 1,
                backoff: Backoff::new(opts.backoff),
                next_seq: 0,
                resend: Vec::new(),
                friend_offline: false,
            };
            tokio::spawn(session.run(logins.clone(), ready_tx.clone()))
        })
        .collect();
    drop(ready_tx);
    let mut count = 0;
    let login_deadline = Instant::now() + opts.storm_timeout();
    while count < n {
        match tokio::time::timeout_at(login_deadline.into(), ready.recv()).await {
            Ok(Some(())) => count += 1,
            _ => {
                let _ = shared.phase.send(Phase::Done);
                bail!("only {count} of {n} sessions logged in");
            }
        }
        if !opts.quiet && count % 1000 == 0 {
            eprintln!("chatbench: {count}/{n} sessions logged in");
        }
    }
    let _ = shared.phase.send(Phase::Load);
    tokio::time::sleep(opts.warmup()).await;

    // Marked before the signal: on a multi-threaded runtime the victims
    // may see their connections drop before `kill` returns.
    let killed = Instant::now();
    shared
        .killed_us
        .store((killed - started).as_micros().max(1) as u64, Relaxed);
    kill9(pid)?;
    if !opts.quiet {
        eprintln!("chatbench: killed {pid}");
    }
    // The victims' connections drop within moments; then wait for them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let back = until(opts.storm_timeout(), opts.quiet, || {
        let down = shared.down.load(Relaxed);
        let victims = shared.victims.load(Relaxed);
        (
            down == 0,
            format!(
                "{} of {victims} victims logged in again",
                victims - down.min(victims)
            ),
        )
    })
    .await;
    if !back && !opts.quiet {
        eprintln!("chatbench: not every victim was back after the storm timeout");
    }
    tokio::time::sleep(opts.duration()).await;
    let _ = shared.phase.send(Phase::Quiet);
    until(opts.drain(), opts.quiet, || {
        let (acked, delivered) = (shared.acked.load(Relaxed), shared.delivered.load(Relaxed));
        let unanswered = shared.unanswered.load(Relaxed);
        (
            unanswered == 0 && delivered >= acked,
            format!("draining: {delivered}/{acked} delivered, {unanswered} unanswered"),
        )
    })
    .await;
    let _ = shared.phase.send(Phase::Done);
    let mut tallies = Vec::with_capacity(n);
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(15), t).await {
            Ok(Ok(t)) => tallies.push(t),
            _ => bail!("a session did not finish"),
        }
    }
    Ok(Summary {
        storm: Some(settle(opts, pid, killed, &tallies)),
        ..Summary::new(
            opts,
            &crate::stats::Shared::new(),
            &crate::pacing::Window {
                measured_s: started.elapsed().as_secs_f64(),
                bench_cpu: 0.0,
                server_cpu: None,
            },
        )
    })
}

/// Sums the sessions' tallies up; session `i`'s friend is `i ^ 1`.
fn settle(opts: &Opts, pid: u32, killed: Instant, tallies: &[Tally]) -> StormReport {
    let mut r = StormReport {
        sessions: tallies.len(),
        backoff: opts.backoff,
        killed_pid: pid,
        victims: 0,
        back: 0,
        last_login_s: None,
        login_p50_s: None,
        login_p99_s: None,
        attempts: 0,
        unavailable: 0,
        unavailable_at_start: 0,
        failed_attempts: 0,
        failures: BTreeMap::new(),
        presence_offline_seen: 0,
        presence_flaps: 0,
        sent: 0,
        acked: 0,
        delivered: 0,
        acked_not_delivered: 0,
        duplicates_dropped: 0,
        unanswered: 0,
        lost_before_kill: 0,
        errors: BTreeMap::new(),
    };
    let mut times = Vec::new();
    for (i, t) in tallies.iter().enumerate() {
        if t.lost_at.is_some() {
            r.victims += 1;
        }
        if let Some(b) = t.back_at {
            r.back += 1;
            times.push((b - killed).as_secs_f64());
        }
        r.attempts += t.attempts;
        r.unavailable += t.unavailable;
        r.unavailable_at_start += t.unavailable_at_start;
        for (why, n) in &t.failures {
            r.failed_attempts += n;
            *r.failures.entry(why).or_default() += n;
        }
        r.presence_offline_seen += t.offline_seen;
        r.presence_flaps += t.flaps;
        r.sent += t.sent;
        r.acked += t.acked.len() as u64;
        r.delivered += t.received.len() as u64;
        r.duplicates_dropped += t.duplicates;
        r.unanswered += t.unanswered;
        r.lost_before_kill += t.lost_before_kill;
        for (k, v) in &t.errors {
            *r.errors.entry(k.clone()).or_default() += v;
        }
        if let Some(friend) = tallies.get(i ^ 1) {
            r.acked_not_delivered += t
                .acked
                .iter()
                .filter(|id| !friend.received.contains(id))
                .count() as u64;
        }
    }
    times.sort_by(f64::total_cmp);
    r.last_login_s = times.last().copied();
    r.login_p50_s = quantile(&times, 0.5);
    r.login_p99_s = quantile(&times, 0.99);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(51.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
