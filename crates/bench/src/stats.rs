//! Shared measurement state: the run's phase, counters, latency histograms
//! and error counts, and the per-connection [`Tally`] that feeds them.
//!
//! Connections never touch shared state per message: a [`Tally`] collects
//! counts and latency samples locally and publishes them in one go per
//! batch of frames (counters, a few relaxed atomic adds) or every few
//! hundred milliseconds (samples, recorded into the phase's histograms
//! under one lock).
//!
//! It runs past 500 lines because phases, counters, histograms and the
//! tally are one contract between the connections and the report; split
//! over files, that contract would be harder to check.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use chat_proto::ErrorCode;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::watch;

/// Where the run is. Tasks watch it through [`Shared::subscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Connecting and logging in; nothing is sent yet.
    Setup,
    /// Load on, not measured.
    Warmup,
    /// Load on, measured.
    Measure,
    /// Sending stopped; replies and deliveries still arrive.
    Drain,
    /// Tasks ack what they got and finish.
    Done,
}

impl Phase {
    pub const COUNT: usize = 5;

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Warmup => "warmup",
            Phase::Measure => "measure",
            Phase::Drain => "drain",
            Phase::Done => "done",
        }
    }
}

/// Request kinds whose reply latency is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    GroupChat,
    History,
    Sync,
    Ack,
    Login,
    Ping,
}

impl Kind {
    pub const COUNT: usize = 7;
    pub const ALL: [Kind; Kind::COUNT] = [
        Kind::Chat,
        Kind::GroupChat,
        Kind::History,
        Kind::Sync,
        Kind::Ack,
        Kind::Login,
        Kind::Ping,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::GroupChat => "group_chat",
            Kind::History => "history",
            Kind::Sync => "sync",
            Kind::Ack => "ack",
            Kind::Login => "login",
            Kind::Ping => "ping",
        }
    }

    /// Whether this kind sends a message (counted as sent, expecting
    /// deliveries).
    pub fn is_message(self) -> bool {
        matches!(self, Kind::Chat | Kind::GroupChat)
    }
}

/// Failures the bench itself sees besides the server's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A reply with this code.
    Code(ErrorCode),
    /// The server closed a connection the bench was still using.
    Closed,
    /// A frame the bench could not read.
    Unreadable,
    /// A reply whose `re` was not the oldest request in flight.
    OutOfOrder,
    /// Connecting or logging in failed (login workload).
    Connect,
}

const FAILURE_SLOTS: usize = ErrorCode::ALL.len() + 4;

impl Failure {
    fn slot(self) -> usize {
        let n = ErrorCode::ALL.len();
        match self {
            Failure::Code(c) => ErrorCode::ALL.iter().position(|&x| x == c).unwrap_or(0),
            Failure::Closed => n,
            Failure::Unreadable => n + 1,
            Failure::OutOfOrder => n + 2,
            Failure::Connect => n + 3,
        }
    }

    fn slot_name(slot: usize) -> &'static str {
        let n = ErrorCode::ALL.len();
        match slot {
            s if s < n => ErrorCode::ALL[s].as_str(),
            s if s == n => "connection_closed",
            s if s == n + 1 => "unreadable_frame",
            s if s == n + 2 => "reply_out_of_order",
            _ => "connect_failed",
        }
    }
}

/// Counts of one phase.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages (chat, group_chat) written.
    pub sent: AtomicU64,
    /// Messages answered `ok`.
    pub ok: AtomicU64,
    /// Deliveries owed for the messages answered `ok` (recipients each).
    pub expected: AtomicU64,
    /// First deliveries of this run's messages.
    pub delivered: AtomicU64,
    /// Deliveries of a message a recipient already had.
    pub duplicates: AtomicU64,
    /// Messages of earlier runs (unacked leftovers redelivered at login).
    pub stale: AtomicU64,
    /// Other requests answered (history, sync, ack).
    pub other: AtomicU64,
    /// Successful logins (login workload).
    pub logins: AtomicU64,
    /// Failures of any kind.
    pub errors: AtomicU64,
}

/// A plain copy of [`Counters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub sent: u64,
    pub ok: u64,
    pub expected: u64,
    pub delivered: u64,
    pub duplicates: u64,
    pub stale: u64,
    pub other: u64,
    pub logins: u64,
    pub errors: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.sent += o.sent;
        self.ok += o.ok;
        self.expected += o.expected;
        self.delivered += o.delivered;
        self.duplicates += o.duplicates;
        self.stale += o.stale;
        self.other += o.other;
        self.logins += o.logins;
        self.errors += o.errors;
    }
}

impl Counters {
    fn add(&self, d: &Counts) {
        let pairs = [
            (&self.sent, d.sent),
            (&self.ok, d.ok),
            (&self.expected, d.expected),
            (&self.delivered, d.delivered),
            (&self.duplicates, d.duplicates),
            (&self.stale, d.stale),
            (&self.other, d.other),
            (&self.logins, d.logins),
            (&self.errors, d.errors),
        ];
        for (a, v) in pairs {
            if v != 0 {
                a.fetch_add(v, Relaxed);
            }
        }
    }

    pub fn get(&self) -> Counts {
        Counts {
            sent: self.sent.load(Relaxed),
            ok: self.ok.load(Relaxed),
            expected: self.expected.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            stale: self.stale.load(Relaxed),
            other: self.other.load(Relaxed),
            logins: self.logins.load(Relaxed),
            errors: self.errors.load(Relaxed),
        }
    }
}

/// Latency histograms of one phase, in microseconds.
pub struct Hists {
    /// Send (or scheduled send) to arrival at a recipient.
    pub delivery: Histogram<u64>,
    /// Request to reply, by [`Kind`].
    pub reply: [Histogram<u64>; Kind::COUNT],
    /// Open loop: how late each message was written after its scheduled
    /// time (timer resolution, a busy bench, a server that stopped
    /// reading). Already part of the latencies above; shown so the bench's
    /// share can be told apart.
    pub lag: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    // Three significant digits, growing as needed: exact enough for
    // percentiles and cheap while latencies stay small.
    Histogram::new(3).expect("3 significant digits is a valid histogram")
}

impl Hists {
    fn new() -> Hists {
        Hists {
            delivery: histogram(),
            reply: std::array::from_fn(|_| histogram()),
            lag: histogram(),
        }
    }
}

/// State shared by every task of a run.
pub struct Shared {
    /// Time zero of the run; message stamps count microseconds from here.
    pub epoch: Instant,
    /// Tells this run's messages from leftovers of earlier runs.
    pub run: u32,
    phase: watch::Sender<Phase>,
    counters: [Counters; Phase::COUNT],
    hists: [Mutex<Hists>; Phase::COUNT],
    failures: [AtomicU64; FAILURE_SLOTS],
    /// Messages written and not yet answered, across all connections: the
    /// drain waits for this to reach 0.
    pub outstanding: AtomicI64,
    /// The first few distinct error messages, to say what went wrong.
    samples: Mutex<Vec<String>>,
}

impl Shared {
    pub fn new() -> Shared {
        let epoch = Instant::now();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        // Only needs to differ between runs against the same users.
        let run = ((nanos ^ (nanos >> 32) ^ u64::from(std::process::id()) << 16) as u32).max(1);
        Shared {
            epoch,
            run,
            phase: watch::Sender::new(Phase::Setup),
            counters: std::array::from_fn(|_| Counters::default()),
            hists: std::array::from_fn(|_| Mutex::new(Hists::new())),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
            outstanding: AtomicI64::new(0),
            samples: Mutex::new(Vec::new()),
        }
    }

    /// Microseconds since the epoch.
    pub fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// The instant `micros` after the epoch.
    pub fn instant(&self, micros: u64) -> Instant {
        self.epoch + Duration::from_micros(micros)
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    pub fn subscribe(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    pub fn counts(&self, phase: Phase) -> Counts {
        self.counters[phase.index()].get()
    }

    /// Counts of all phases added up.
    pub fn total(&self) -> Counts {
        let mut t = Counts::default();
        for c in &self.counters {
            t.add(&c.get());
        }
        t
    }

    pub fn hists(&self, phase: Phase) -> std::sync::MutexGuard<'_, Hists> {
        // A panic while holding this lock would already have failed the
        // run; the data is plain counts, usable either way.
        self.hists[phase.index()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub fn fail(&self, f: Failure, phase: Phase) {
        self.failures[f.slot()].fetch_add(1, Relaxed);
        self.counters[phase.index()].errors.fetch_add(1, Relaxed);
    }

    /// Keeps `message` if it is one of the first few distinct ones.
    pub fn note_error(&self, message: impl FnOnce() -> String) {
        const KEEP: usize = 5;
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if s.len() < KEEP {
            let m = message();
            if !s.contains(&m) {
                s.push(m);
            }
        }
    }

    /// The error messages kept by [`Shared::note_error`].
    pub fn error_samples(&self) -> Vec<String> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Failures by name, those that happened.
    pub fn failures(&self) -> Vec<(&'static str, u64)> {
        self.failures
            .iter()
            .enumerate()
            .map(|(i, n)| (Failure::slot_name(i), n.load(Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

impl Default for Shared {
    fn default() -> Shared {
        Shared::new()
    }
}

/// One connection's measurements not yet published.
pub struct Tally {
    /// The phase the counts and samples belong to.
    pub phase: Phase,
    pub counts: Counts,
    pub outstanding: i64,
    delivery: Vec<u32>,
    reply: Vec<(Kind, u32)>,
    lag: Vec<u32>,
}

/// Samples kept before they are recorded anyway.
const MAX_SAMPLES: usize = 4096;

impl Tally {
    pub fn new(phase: Phase) -> Tally {
        Tally {
            phase,
            counts: Counts::default(),
            outstanding: 0,
            delivery: Vec::new(),
            reply: Vec::new(),
            lag: Vec::new(),
        }
    }

    pub fn lag(&mut self, shared: &Shared, micros: u64) {
        self.lag.push(micros.min(u64::from(u32::MAX)) as u32);
        if self.lag.len() >= MAX_SAMPLES {
            self.flush_samples(shared);
        }
    }

    pub fn delivery(&mut self, shared: &Shared, micros: u64) {
        self.delivery.push(micros.min(u64::from(u32::MAX)) as u32);
        if self.delivery.len() >= MAX_SAMPLES {
            self.flush_samples(shared);
        }
    }

    pub fn reply(&mut self, shared: &Shared, kind: Kind, micros: u64) {
        self.reply
            .push((kind, micros.min(u64::from(u32::MAX)) as u32));
        if self.reply.len() >= MAX_SAMPLES {
            self.flush_samples(shared);
        }
    }

    pub fn has_samples(&self) -> bool {
        !self.delivery.is_empty() || !self.reply.is_empty() || !self.lag.is_empty()
    }

    /// Adds the counts to the shared ones.
    pub fn publish(&mut self, shared: &Shared) {
        if self.counts != Counts::default() {
            shared.counters[self.phase.index()].add(&self.counts);
            self.counts = Counts::default();
        }
        if self.outstanding != 0 {
            shared.outstanding.fetch_add(self.outstanding, Relaxed);
            self.outstanding = 0;
        }
    }

    /// Records the samples into the shared histograms.
    pub fn flush_samples(&mut self, shared: &Shared) {
        if !self.has_samples() {
            return;
        }
        let mut h = shared.hists(self.phase);
        for &v in &self.delivery {
            let _ = h.delivery.record(u64::from(v));
        }
        for &(k, v) in &self.reply {
            let _ = h.reply[k as usize].record(u64::from(v));
        }
        for &v in &self.lag {
            let _ = h.lag.record(u64::from(v));
        }
        drop(h);
        self.delivery.clear();
        self.reply.clear();
        self.lag.clear();
        // Give back the memory of a burst.
        if self.delivery.capacity() > MAX_SAMPLES {
            self.delivery = Vec::new();
        }
    }

    /// Publishes everything, then counts under `phase`.
    pub fn switch(&mut self, shared: &Shared, phase: Phase) {
        self.publish(shared);
        self.flush_samples(shared);
        self.phase = phase;
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    /// `None` for an empty histogram.
    pub fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        Some(Percentiles {
            count: h.len(),
            mean: (h.mean() * 10.0).round() / 10.0,
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        })
    }
}

/// Microseconds as a short human string: `850us`, `1.25ms`, `3.2s`.
pub fn human_micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us}us")
    } else if us < 10_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = histogram();
        for v in 1..=10_000u64 {
            h.record(v).unwrap();
        }
        let p = Percentiles::of(&h).unwrap();
        assert_eq!(p.count, 10_000);
        // Three significant digits: within 0.1%.
        let near =
            |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 0.001 + 1.0;
        assert!(near(p.p50, 5_000), "p50 {}", p.p50);
        assert!(near(p.p90, 9_000), "p90 {}", p.p90);
        assert!(near(p.p99, 9_900), "p99 {}", p.p99);
        assert!(near(p.p999, 9_990), "p999 {}", p.p999);
        assert!(near(p.max, 10_000), "max {}", p.max);
        assert!((p.mean - 5_000.5).abs() < 10.0, "mean {}", p.mean);
        assert!(Percentiles::of(&histogram()).is_none());
    }

    #[test]
    fn percentiles_see_the_tail() {
        let mut h = histogram();
        for _ in 0..990 {
            h.record(100).unwrap();
        }
        for _ in 0..10 {
            h.record(50_000).unwrap();
        }
        let p = Percentiles::of(&h).unwrap();
        assert_eq!(p.p50, 100);
        assert_eq!(p.p90, 100);
        assert!(p.p999 >= 49_950, "p99.9 {}", p.p999);
        assert!(p.max >= 49_950);
    }

    #[test]
    fn tally_publishes_by_phase() {
        let shared = Shared::new();
        let mut t = Tally::new(Phase::Warmup);
        t.counts.sent = 3;
        t.counts.delivered = 2;
        t.delivery(&shared, 500);
        t.reply(&shared, Kind::Chat, 300);
        t.switch(&shared, Phase::Measure);
        t.counts.sent = 5;
        t.outstanding = 4;
        t.delivery(&shared, 1_000);
        t.delivery(&shared, 2_000);
        t.publish(&shared);
        t.flush_samples(&shared);
        assert_eq!(shared.counts(Phase::Warmup).sent, 3);
        assert_eq!(shared.counts(Phase::Warmup).delivered, 2);
        assert_eq!(shared.counts(Phase::Measure).sent, 5);
        assert_eq!(shared.total().sent, 8);
        assert_eq!(shared.outstanding.load(Relaxed), 4);
        assert_eq!(shared.hists(Phase::Warmup).delivery.len(), 1);
        assert_eq!(
            shared.hists(Phase::Warmup).reply[Kind::Chat as usize].len(),
            1
        );
        let m = Percentiles::of(&shared.hists(Phase::Measure).delivery).unwrap();
        assert_eq!(m.count, 2);
        assert_eq!(m.max, 2_000);
    }

    #[test]
    fn failures_are_named() {
        let shared = Shared::new();
        shared.fail(Failure::Code(ErrorCode::RateLimited), Phase::Measure);
        shared.fail(Failure::Code(ErrorCode::RateLimited), Phase::Measure);
        shared.fail(Failure::Closed, Phase::Drain);
        assert_eq!(
            shared.failures(),
            vec![("rate_limited", 2), ("connection_closed", 1)]
        );
        assert_eq!(shared.counts(Phase::Measure).errors, 2);
        assert_eq!(shared.total().errors, 3);
    }

    #[test]
    fn micros_read_well() {
        assert_eq!(human_micros(850), "850us");
        assert_eq!(human_micros(1_250), "1.25ms");
        assert_eq!(human_micros(25_000), "25.0ms");
        assert_eq!(human_micros(3_200_000), "3.20s");
    }
}
