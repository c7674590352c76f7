//! One chat connection under load: the task behind every session of the
//! `one-to-one`, `group`, `cross-node`, `mixed` and `idle` workloads.
//!
//! Each connection is one task owning its socket: it never blocks on a
//! write (bytes wait in its own buffer until the socket is writable), so
//! it always keeps reading and the server never sees a slow reader. Per
//! wakeup it reads everything available, handles every frame (replies in
//! request order, `msg` events as deliveries), tops up what it sends, acks
//! what it received in batches, and writes all of it in one go.
//!
//! Sending is either closed loop (keep `window` requests outstanding) or
//! open loop (one message every `interval`, stamped with its scheduled
//! time, so a server that falls behind shows as latency instead of as a
//! slower sender: no coordinated omission).
//!
//! It runs past 500 lines because a connection's whole life (reading,
//! replies, deliveries, pacing, acks, writing) is one state machine over
//! one struct whose fields every step shares.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_proto::{ErrorCode, HistoryTarget, LineDecoder, Request, RequestFrame};
use tokio::io::Interest;
use tokio::sync::{Semaphore, mpsc};

use crate::cli::Mix;
use crate::conn::{Conn, Dialer};
use crate::ledger::{Outbound, Received};
use crate::setup::UserRec;
use crate::stats::{Failure, Kind, Phase, Shared, Tally};
use crate::transport::Transport;
use crate::wire::{Incoming, Stamp, encode_into};

/// What one connection does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// This connection's number: the SENDER of its messages' stamps.
    pub index: u32,
    pub user: UserRec,
    /// Which server: 0 for `--addr`, 1 for `--addr2`.
    pub server: usize,
    /// The friend it chats with: (user id, connection index).
    pub friend: Option<(u64, u32)>,
    /// Its group: (group id, connection indices of the other members).
    pub group: Option<(u64, Vec<u32>)>,
    /// What it sends; all zero for a connection that only receives.
    pub mix: Mix,
    /// The open-loop schedule's phase, in 0..1 of an interval, so senders
    /// do not all fire at once.
    pub offset: f64,
}

impl Plan {
    pub fn sends(&self) -> bool {
        self.mix.total() > 0
    }
}

/// How connections send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Keep this many requests outstanding.
    Closed { window: usize },
    /// One request per interval.
    Open { interval: Duration },
}

/// Settings every connection of a run shares.
#[derive(Debug)]
pub struct Settings {
    pub pace: Pace,
    pub text: String,
    /// Keep no read buffer between reads (idle: many quiet connections).
    pub lean: bool,
}

/// What a connection hands back at the end, for loss accounting.
#[derive(Debug)]
pub struct Report {
    pub index: u32,
    /// Its one-to-one messages answered `ok`, and its group's.
    pub targets: Vec<Outbound>,
    pub received: Received,
}

/// Acks are sent after this many received ids...
const ACK_BATCH: usize = 100;
/// ...or this long after the first unacked one.
const ACK_DELAY: Duration = Duration::from_millis(50);
/// Latency samples are recorded at least this often.
const SAMPLE_FLUSH: Duration = Duration::from_millis(250);
/// Open loop: most requests in flight before the sender holds off (the
/// server pipelines 1024 per connection). Held-off messages keep their
/// scheduled time, so the wait shows in their latency.
const OPEN_MAX_IN_FLIGHT: usize = 1024;
/// Bytes waiting to be written before a sender holds off.
const MAX_UNSENT: usize = 1 << 20;
/// A connection that sent nothing this long pings, so the server's idle
/// timeout (300 s by default) does not close it.
const KEEPALIVE: Duration = Duration::from_secs(120);
/// Bytes read per wakeup before the task yields to others.
const READ_BUDGET: usize = 256 * 1024;
/// History page size in `mixed`.
const HISTORY_LIMIT: u32 = 20;

struct Pending {
    id: u64,
    kind: Kind,
    /// When it was (meant to be) sent, in microseconds since the epoch.
    micros: u64,
    seq: u64,
}

/// Connects, logs in, tells `ready`, waits for the load to start, then runs
/// until the phase is [`Phase::Done`] and everything in flight is answered.
/// Returns `None` when it never got logged in (the error went to `ready`).
pub async fn run(
    plan: Plan,
    settings: Arc<Settings>,
    dialer: Arc<Dialer>,
    shared: Arc<Shared>,
    logins: Arc<Semaphore>,
    ready: mpsc::Sender<anyhow::Result<()>>,
) -> Option<Report> {
    let conn = {
        let _permit = logins.acquire().await.ok()?;
        let attempt = async {
            let mut conn = Conn::open(&dialer, plan.index as usize).await?;
            conn.login(plan.user.id, &plan.user.token).await?;
            anyhow::Ok(conn)
        };
        match attempt.await {
            Ok(conn) => {
                let _ = ready.send(Ok(())).await;
                conn
            }
            Err(e) => {
                let _ = ready.send(Err(e)).await;
                return None;
            }
        }
    };
    drop(ready);
    let mut phase_rx = shared.subscribe();
    let phase = match phase_rx.wait_for(|p| *p >= Phase::Warmup).await {
        Ok(p) => *p,
        Err(_) => return None,
    };
    let mut client = Client::new(plan, settings, shared, conn, phase);
    client.drive(phase_rx).await;
    Some(client.report())
}

struct Client {
    plan: Plan,
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    /// The socket and its layers; frames are queued in its `out()`.
    transport: Transport,
    dec: LineDecoder,
    next_id: u64,
    /// Requests in flight, oldest first: replies come in this order.
    pending: VecDeque<Pending>,
    /// Of `pending`, those that are not acks (the window counts these).
    in_flight: usize,
    phase: Phase,
    tally: Tally,
    seq: u64,
    chat: Outbound,
    group: Outbound,
    received: Received,
    acks: Vec<u64>,
    ack_due: Option<Instant>,
    samples_due: Option<Instant>,
    /// Open loop: when the next message is due.
    next_send: Option<Instant>,
    last_request: Instant,
    rng: u64,
    closed: bool,
}

impl Client {
    fn new(
        plan: Plan,
        settings: Arc<Settings>,
        shared: Arc<Shared>,
        conn: Conn,
        phase: Phase,
    ) -> Client {
        let now = Instant::now();
        let next_send = match settings.pace {
            Pace::Open { interval } if plan.sends() => {
                Some(now + interval.mul_f64(plan.offset.clamp(0.0, 1.0)))
            }
            _ => None,
        };
        let chat = Outbound {
            recipients: plan.friend.map(|(_, c)| vec![c]).unwrap_or_default(),
            ..Default::default()
        };
        let group = Outbound {
            recipients: plan
                .group
                .as_ref()
                .map(|(_, r)| r.clone())
                .unwrap_or_default(),
            ..Default::default()
        };
        let rng = (u64::from(plan.index) << 32 | u64::from(shared.run)) | 1;
        Client {
            transport: conn.transport,
            dec: conn.dec,
            next_id: conn.next_id,
            plan,
            settings,
            shared,
            pending: VecDeque::new(),
            in_flight: 0,
            phase,
            tally: Tally::new(phase),
            seq: 0,
            chat,
            group,
            received: Received::default(),
            acks: Vec::new(),
            ack_due: None,
            samples_due: None,
            next_send,
            last_request: now,
            rng,
            closed: false,
        }
    }

    fn report(self) -> Report {
        Report {
            index: self.plan.index,
            targets: vec![self.chat, self.group],
            received: self.received,
        }
    }

    fn sending(&self) -> bool {
        matches!(self.phase, Phase::Warmup | Phase::Measure) && !self.closed
    }

    async fn drive(&mut self, mut phase_rx: tokio::sync::watch::Receiver<Phase>) {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let sleep = tokio::time::sleep_until(far.into());
        tokio::pin!(sleep);
        let mut armed = far;
        // Frames that came right behind the login reply.
        self.on_frames(Instant::now());
        loop {
            let now = Instant::now();
            self.act(now);
            self.flush();
            self.tally.publish(&self.shared);
            if self.closed
                || (self.phase == Phase::Done
                    && self.pending.is_empty()
                    && self.acks.is_empty()
                    && self.transport.unsent() == 0)
            {
                break;
            }
            let deadline = self.deadline().unwrap_or(far);
            if deadline != armed {
                sleep.as_mut().reset(deadline.into());
                armed = deadline;
            }
            let interest = if self.transport.unsent() > 0 {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            enum Wake {
                Phase(bool),
                Io(io::Result<tokio::io::Ready>),
                Timer,
            }
            let wake = tokio::select! {
                biased;
                changed = phase_rx.changed() => Wake::Phase(changed.is_ok()),
                ready = self.transport.ready(interest) => Wake::Io(ready),
                _ = &mut sleep => Wake::Timer,
            };
            match wake {
                Wake::Phase(true) => {
                    let phase = *phase_rx.borrow_and_update();
                    self.set_phase(phase);
                }
                // The run was dropped: stop.
                Wake::Phase(false) => self.set_phase(Phase::Done),
                Wake::Io(Ok(ready)) => {
                    if ready.is_readable() || ready.is_read_closed() {
                        self.read();
                    }
                }
                Wake::Io(Err(_)) => self.lost_connection(),
                Wake::Timer => {}
            }
        }
        self.tally.switch(&self.shared, self.phase);
    }

    fn set_phase(&mut self, phase: Phase) {
        if phase == self.phase {
            return;
        }
        self.tally.switch(&self.shared, phase);
        self.phase = phase;
        if phase >= Phase::Drain {
            self.next_send = None;
        }
        if phase == Phase::Done && !self.acks.is_empty() {
            self.queue_acks(Instant::now());
        }
    }

    /// The earliest time something must happen without I/O.
    fn deadline(&self) -> Option<Instant> {
        let mut d = self.ack_due;
        let mut take = |t: Option<Instant>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |x: Instant| x.min(t)));
            }
        };
        take(self.samples_due);
        if self.can_send(OPEN_MAX_IN_FLIGHT) {
            take(self.next_send);
        }
        if self.phase < Phase::Done {
            take(Some(self.last_request + KEEPALIVE));
        }
        d
    }

    fn can_send(&self, max_in_flight: usize) -> bool {
        self.sending() && self.in_flight < max_in_flight && self.transport.unsent() < MAX_UNSENT
    }

    /// Timed work: messages due, acks due, samples due.
    fn act(&mut self, now: Instant) {
        if self.plan.sends() {
            match self.settings.pace {
                Pace::Closed { window } => {
                    let micros = self.shared.micros(now);
                    while self.can_send(window) {
                        self.send_one(micros, now);
                    }
                }
                Pace::Open { interval } => {
                    while let Some(due) = self.next_send {
                        if due > now || !self.can_send(OPEN_MAX_IN_FLIGHT) {
                            break;
                        }
                        let micros = self.shared.micros(due);
                        self.send_one(micros, now);
                        let lag = now.saturating_duration_since(due).as_micros() as u64;
                        self.tally.lag(&self.shared, lag);
                        self.note_samples(now);
                        self.next_send = Some(due + interval);
                    }
                }
            }
        }
        if self.ack_due.is_some_and(|t| t <= now) {
            self.queue_acks(now);
        }
        if self.samples_due.is_some_and(|t| t <= now) {
            self.tally.flush_samples(&self.shared);
            self.samples_due = None;
        }
        if self.phase < Phase::Done && now >= self.last_request + KEEPALIVE {
            self.queue(Request::Ping, Kind::Ping, self.shared.micros(now), 0, now);
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: plenty for picking request kinds.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick(&mut self) -> Kind {
        let m = self.plan.mix;
        let total = u64::from(m.total());
        let r = if m.chat == m.total() || m.group == m.total() {
            0
        } else {
            self.next_random() % total
        };
        let (chat, group, history) = (
            u64::from(m.chat),
            u64::from(m.chat + m.group),
            u64::from(m.chat + m.group + m.history),
        );
        if r < chat {
            Kind::Chat
        } else if r < group {
            Kind::GroupChat
        } else if r < history {
            Kind::History
        } else {
            Kind::Sync
        }
    }

    fn send_one(&mut self, micros: u64, now: Instant) {
        let friend = self.plan.friend.map(|(user, _)| user);
        let group = self.plan.group.as_ref().map(|(group, _)| *group);
        let (kind, request) = match (self.pick(), friend, group) {
            (Kind::Chat, Some(to), _) | (Kind::GroupChat, Some(to), None) => {
                return self.send_message(Kind::Chat, to, micros, now);
            }
            (Kind::Chat | Kind::GroupChat, _, Some(group)) => {
                return self.send_message(Kind::GroupChat, group, micros, now);
            }
            (Kind::History, friend, group) => {
                // Alternate between the friend's and the group's history.
                let target = match (friend, group) {
                    (Some(f), Some(_)) if self.next_random() & 1 == 0 => HistoryTarget::With(f),
                    (_, Some(g)) => HistoryTarget::Group(g),
                    (Some(f), None) => HistoryTarget::With(f),
                    (None, None) => return self.queue(Request::Sync, Kind::Sync, micros, 0, now),
                };
                (
                    Kind::History,
                    Request::History {
                        target,
                        before: None,
                        limit: HISTORY_LIMIT,
                    },
                )
            }
            _ => (Kind::Sync, Request::Sync),
        };
        self.queue(request, kind, micros, 0, now);
    }

    fn send_message(&mut self, kind: Kind, target: u64, micros: u64, now: Instant) {
        let seq = self.seq;
        self.seq += 1;
        let cid = Some(
            Stamp {
                run: self.shared.run,
                sender: self.plan.index,
                seq,
                micros,
            }
            .cid(),
        );
        let text = self.settings.text.clone();
        let request = match kind {
            Kind::Chat => Request::Chat {
                to: target,
                text,
                cid,
            },
            _ => Request::GroupChat {
                group: target,
                text,
                cid,
            },
        };
        self.tally.counts.sent += 1;
        self.tally.outstanding += 1;
        self.queue(request, kind, micros, seq, now);
    }

    fn queue(&mut self, request: Request, kind: Kind, micros: u64, seq: u64, now: Instant) {
        let id = self.next_id;
        self.next_id += 1;
        encode_into(
            self.transport.out(),
            &RequestFrame {
                id: Some(id),
                request,
            },
        );
        if kind != Kind::Ack {
            self.in_flight += 1;
        }
        self.pending.push_back(Pending {
            id,
            kind,
            micros,
            seq,
        });
        self.last_request = now;
    }

    fn queue_acks(&mut self, now: Instant) {
        self.ack_due = None;
        let micros = self.shared.micros(now);
        while !self.acks.is_empty() {
            let n = self.acks.len().min(1000);
            let ids: Vec<u64> = self.acks.drain(..n).collect();
            self.queue(Request::Ack { ids }, Kind::Ack, micros, 0, now);
        }
    }

    /// Writes as much as the socket takes now.
    fn flush(&mut self) {
        if self.transport.flush().is_err() {
            self.lost_connection();
        }
    }

    /// Reads what is there and handles it.
    fn read(&mut self) {
        let chunk = if self.settings.lean { 4096 } else { 64 * 1024 };
        let mut total = 0;
        while total < READ_BUDGET {
            match self.transport.read_into(&mut self.dec, chunk) {
                Ok(0) => return self.lost_connection(),
                Ok(n) => {
                    total += n;
                    self.on_frames(Instant::now());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.lost_connection(),
            }
        }
        if self.settings.lean {
            self.dec.shrink(0, 0);
        } else {
            self.dec.shrink(4 << 20, 0);
        }
    }

    fn on_frames(&mut self, now: Instant) {
        let now_us = self.shared.micros(now);
        loop {
            let line = match self.dec.next_frame() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(_) => {
                    self.shared.fail(Failure::Unreadable, self.phase);
                    return self.lost_connection();
                }
            };
            match Incoming::parse(&line) {
                Ok(f) if f.is_event() => {
                    if f.ev.as_deref() == Some("msg")
                        && let Some(msg) = f.msg
                    {
                        self.on_msg(msg.id, msg.cid.as_deref(), now, now_us);
                    }
                }
                Ok(f) => self.on_reply(&f, now_us),
                Err(_) => self.shared.fail(Failure::Unreadable, self.phase),
            }
        }
    }

    fn on_msg(&mut self, id: u64, cid: Option<&str>, now: Instant, now_us: u64) {
        self.acks.push(id);
        if self.acks.len() >= ACK_BATCH {
            self.queue_acks(now);
        } else if self.ack_due.is_none() {
            self.ack_due = Some(now + ACK_DELAY);
        }
        match cid.and_then(Stamp::parse) {
            Some(s) if s.run == self.shared.run => {
                if self.received.note(s.sender, s.seq) {
                    self.tally.counts.delivered += 1;
                    self.tally
                        .delivery(&self.shared, now_us.saturating_sub(s.micros));
                    self.note_samples(now);
                } else {
                    self.tally.counts.duplicates += 1;
                }
            }
            _ => self.tally.counts.stale += 1,
        }
    }

    fn note_samples(&mut self, now: Instant) {
        if self.samples_due.is_none() {
            self.samples_due = Some(now + SAMPLE_FLUSH);
        }
    }

    fn on_reply(&mut self, f: &Incoming<'_>, now_us: u64) {
        let Some(p) = self.pending.pop_front() else {
            // A reply to nothing: only `bad_json` and friends have no
            // request, and the bench sends none of those.
            self.shared.fail(Failure::OutOfOrder, self.phase);
            return;
        };
        if f.re != Some(p.id) {
            self.shared.fail(Failure::OutOfOrder, self.phase);
        }
        if p.kind != Kind::Ack {
            self.in_flight -= 1;
        }
        if p.kind.is_message() {
            self.tally.outstanding -= 1;
        }
        if f.ok != Some(true) {
            let code = f.code.unwrap_or(ErrorCode::Internal);
            self.shared.fail(Failure::Code(code), self.phase);
            self.shared.note_error(|| {
                format!(
                    "{} failed: {code}: {}",
                    p.kind.name(),
                    f.error.as_deref().unwrap_or("")
                )
            });
            return;
        }
        self.tally
            .reply(&self.shared, p.kind, now_us.saturating_sub(p.micros));
        self.note_samples(Instant::now());
        match p.kind {
            Kind::Chat => {
                self.chat.ok.insert(p.seq);
                self.tally.counts.ok += 1;
                self.tally.counts.expected += self.chat.recipients.len() as u64;
            }
            Kind::GroupChat => {
                self.group.ok.insert(p.seq);
                self.tally.counts.ok += 1;
                self.tally.counts.expected += self.group.recipients.len() as u64;
            }
            _ => self.tally.counts.other += 1,
        }
    }

    /// The connection is gone: nothing in flight will be answered.
    fn lost_connection(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        if self.phase < Phase::Done {
            self.shared.fail(Failure::Closed, self.phase);
            let user = self.plan.user.id;
            self.shared
                .note_error(|| format!("the server closed the connection of user {user}"));
        }
        let messages = self.pending.iter().filter(|p| p.kind.is_message()).count();
        self.tally.outstanding -= messages as i64;
        self.pending.clear();
        self.in_flight = 0;
        self.acks.clear();
    }
}
