//! Pacing a run: how each sender paces itself (open or closed loop), and
//! the run's clock, which steps every connection through warmup, the
//! measured window and the drain.
//!
//! The phases are all a connection sees of time: it sends while the phase
//! is warmup or measure, stops at drain, and finishes at done. CPU use is
//! read at both ends of the measured window, so it covers exactly what
//! the throughput figures cover.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::cli::Opts;
use crate::stats::{Phase, Shared};
use crate::sys;
use crate::traffic::Pace;

/// How each of `senders` paces itself: one message every interval, so
/// that together they send `--rate` a second (open loop), or `--window`
/// requests outstanding each (closed loop).
pub fn pace(opts: &Opts, senders: usize) -> Pace {
    match opts.rate {
        Some(rate) => Pace::Open {
            interval: Duration::from_secs_f64(senders.max(1) as f64 / rate),
        },
        None => Pace::Closed {
            window: opts.window,
        },
    }
}

/// CPU seconds of the bench and of the server at one moment.
pub struct CpuMark {
    pub at: Instant,
    bench: Option<f64>,
    server: Option<f64>,
}

impl CpuMark {
    pub fn now(server_pid: Option<u32>) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            bench: sys::cpu_seconds(None),
            server: server_pid.and_then(|p| sys::cpu_seconds(Some(p))),
        }
    }

    /// The window from `self` to `end`.
    pub fn window_until(&self, end: &CpuMark) -> Window {
        let (bench_cpu, server_cpu) = self.cores_until(end);
        Window {
            measured_s: end.at.duration_since(self.at).as_secs_f64(),
            bench_cpu,
            server_cpu,
        }
    }

    /// Cores used since `self`: (bench, server).
    pub fn cores_until(&self, end: &CpuMark) -> (f64, Option<f64>) {
        let wall = end.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let rate = |a: Option<f64>, b: Option<f64>| Some((b? - a?) / wall);
        (
            rate(self.bench, end.bench).unwrap_or(0.0),
            rate(self.server, end.server),
        )
    }
}

/// What the measured window took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Its length in seconds, as it happened.
    pub measured_s: f64,
    /// Cores the bench used during it.
    pub bench_cpu: f64,
    /// Cores the server used during it (with `--server-pid`).
    pub server_cpu: Option<f64>,
}

/// Warmup, then the measured window; returns in [`Phase::Drain`].
/// `every_second`, when given, runs about once a second while measuring
/// (and once at its end).
pub async fn warmup_and_measure(
    shared: &Shared,
    opts: &Opts,
    mut every_second: Option<&mut dyn FnMut()>,
) -> Window {
    shared.set_phase(Phase::Warmup);
    tokio::time::sleep(opts.warmup()).await;
    shared.set_phase(Phase::Measure);
    let mark = CpuMark::now(opts.server_pid);
    let measure_end = mark.at + opts.duration();
    match every_second.as_mut() {
        Some(tick) => {
            while Instant::now() < measure_end {
                let step = measure_end
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(1));
                tokio::time::sleep(step).await;
                tick();
            }
        }
        None => tokio::time::sleep_until(measure_end.into()).await,
    }
    shared.set_phase(Phase::Drain);
    mark.window_until(&CpuMark::now(opts.server_pid))
}

/// Whether every reply and every delivery owed so far has arrived.
pub fn all_in(shared: &Shared) -> bool {
    let t = shared.total();
    shared.outstanding.load(Relaxed) <= 0 && t.delivered >= t.expected
}

/// How the drain ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drained {
    pub seconds: f64,
    /// False when `limit` passed with replies or deliveries missing.
    pub complete: bool,
}

/// Waits for every reply and every delivery owed, or `limit`; then moves
/// the run to [`Phase::Done`].
pub async fn drain(shared: &Shared, limit: Duration) -> Drained {
    let start = Instant::now();
    let complete = loop {
        if all_in(shared) {
            break true;
        }
        if start.elapsed() >= limit {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let seconds = start.elapsed().as_secs_f64();
    shared.set_phase(Phase::Done);
    Drained { seconds, complete }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Tally;
    use clap::Parser;

    #[test]
    fn open_loop_spreads_the_rate_over_senders() {
        let o = Opts::parse_from(["chatbench", "one-to-one", "--rate", "1000"]);
        assert_eq!(
            pace(&o, 100),
            Pace::Open {
                interval: Duration::from_millis(100)
            }
        );
        assert_eq!(
            pace(&Opts::parse_from(["chatbench", "one-to-one"]), 100),
            Pace::Closed { window: 8 }
        );
    }

    #[test]
    fn all_in_waits_for_replies_and_deliveries() {
        let shared = Shared::new();
        assert!(all_in(&shared));
        let mut t = Tally::new(Phase::Measure);
        // Two messages written: neither answered.
        t.outstanding = 2;
        t.publish(&shared);
        assert!(!all_in(&shared));
        // Both answered ok, to one recipient each: two deliveries owed.
        t.outstanding = -2;
        t.counts.expected = 2;
        t.counts.delivered = 1;
        t.publish(&shared);
        assert!(!all_in(&shared));
        t.counts.delivered = 1;
        t.publish(&shared);
        assert!(all_in(&shared));
    }

    #[tokio::test]
    async fn drain_ends_done_whether_or_not_all_came_in() {
        let shared = Shared::new();
        let d = drain(&shared, Duration::from_secs(60)).await;
        assert!(d.complete);
        assert_eq!(shared.phase(), Phase::Done);

        let shared = Shared::new();
        let mut t = Tally::new(Phase::Drain);
        t.outstanding = 1;
        t.publish(&shared);
        let d = drain(&shared, Duration::ZERO).await;
        assert!(!d.complete);
        assert_eq!(shared.phase(), Phase::Done);
    }

    #[tokio::test]
    async fn the_window_runs_the_phases_and_ticks() {
        let shared = Shared::new();
        let o = Opts::parse_from([
            "chatbench",
            "one-to-one",
            "--warmup",
            "0",
            "--duration",
            "0.05",
        ]);
        let mut ticks = 0;
        let mut tick = || ticks += 1;
        let w = warmup_and_measure(&shared, &o, Some(&mut tick)).await;
        assert_eq!(shared.phase(), Phase::Drain);
        assert!(w.measured_s >= 0.05, "{w:?}");
        assert_eq!(w.server_cpu, None);
        assert!(ticks >= 1);
    }
}
