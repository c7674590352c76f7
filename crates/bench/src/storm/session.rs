//! One storm session: logs in, chats with its friend, acks what it
//! receives, and when its connection drops (its node died) reconnects
//! with the backoff, honouring `retry_after`, and sends again what was
//! left unanswered, with the same `cid`s.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use chat_proto::{Credential, LineDecoder, Request, RequestFrame};
use serde::Deserialize;
use tokio::sync::{Semaphore, mpsc, watch};

use super::backoff::{Backoff, next_random};
use crate::conn::{Dialer, MAX_FRAME};
use crate::setup::UserRec;
use crate::transport::Transport;
use crate::wire::encode_into;

/// Where the run is; sessions watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Phase {
    /// Logging in; nothing sent yet.
    Login,
    /// Sending (before, during and after the kill).
    Load,
    /// Sending stopped: replies and deliveries still come in.
    Quiet,
    /// Over: every session closes and reports.
    Done,
}

/// What the sessions share: the phase, the kill's instant, and the
/// counters the coordinator watches.
pub(super) struct Shared {
    pub(super) phase: watch::Sender<Phase>,
    pub(super) started: Instant,
    /// Microseconds after `started` the node was killed (0: not yet).
    pub(super) killed_us: AtomicU64,
    /// Sessions whose connection is down now.
    pub(super) down: AtomicUsize,
    /// Sessions that lost their connection after the kill.
    pub(super) victims: AtomicUsize,
    pub(super) acked: AtomicU64,
    pub(super) delivered: AtomicU64,
    /// Chat requests without an answer yet (in flight or to resend).
    pub(super) unanswered: AtomicU64,
    /// Prefix of this run's `cid`s.
    pub(super) run: String,
}

impl Shared {
    fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    fn killed(&self) -> Option<Instant> {
        match self.killed_us.load(Relaxed) {
            0 => None,
            us => Some(self.started + Duration::from_micros(us)),
        }
    }
}

/// One session's fixed part.
pub(super) struct Plan {
    pub(super) index: usize,
    pub(super) user: UserRec,
    pub(super) friend: u64,
    /// Time between two of its messages.
    pub(super) interval: Duration,
}

/// What one session saw, handed back at the end.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) sent: u64,
    /// Ids of its messages the server acknowledged.
    pub(super) acked: Vec<u64>,
    /// Ids of the messages it received (this run's).
    pub(super) received: HashSet<u64>,
    pub(super) duplicates: u64,
    /// Login attempts after losing the connection.
    pub(super) attempts: u64,
    pub(super) unavailable: u64,
    /// `unavailable` to the first login, before the kill.
    pub(super) unavailable_at_start: u64,
    /// Attempts that failed otherwise, by why.
    pub(super) failures: BTreeMap<&'static str, u64>,
    /// Its friend went offline, then online again (after the kill).
    pub(super) flaps: u64,
    pub(super) offline_seen: u64,
    /// Error replies to chats, by code.
    pub(super) errors: BTreeMap<String, u64>,
    /// Lost the connection before the kill (counts as an error).
    pub(super) lost_before_kill: u64,
    /// Connection lost after the kill, and the login reply after it.
    pub(super) lost_at: Option<Instant>,
    pub(super) back_at: Option<Instant>,
    /// Chats still unanswered at the end.
    pub(super) unanswered: u64,
}

/// A frame from the server, as far as the storm cares.
#[derive(Debug, Deserialize)]
struct Frame<'a> {
    #[serde(default, borrow)]
    ev: Option<Cow<'a, str>>,
    #[serde(default)]
    re: Option<u64>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default, borrow)]
    msg: Option<Msg<'a>>,
    #[serde(default)]
    online: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Msg<'a> {
    id: u64,
    #[serde(default, borrow)]
    cid: Option<Cow<'a, str>>,
}

/// Why a login attempt did not work.
enum Refused {
    /// `unavailable`, to be retried after this many seconds.
    Busy(u64),
    /// Anything else, named for the report.
    Failed(&'static str),
}

/// A logged-in connection: its transport and what followed the reply.
type Link = (Transport, LineDecoder);

/// Longest a connect + login may take before it counts as failed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Session {
    pub(super) plan: Plan,
    pub(super) dialer: Arc<Dialer>,
    pub(super) shared: Arc<Shared>,
    pub(super) tally: Tally,
    pub(super) rng: u64,
    pub(super) backoff: Backoff,
    pub(super) next_seq: u64,
    /// Chats that were in flight when a connection dropped: sent again,
    /// with the same `cid`, after the next login.
    pub(super) resend: Vec<u64>,
    /// Its friend was seen going offline (after the kill).
    pub(super) friend_offline: bool,
}

impl Session {
    pub(super) async fn run(mut self, logins: Arc<Semaphore>, ready: mpsc::Sender<()>) -> Tally {
        let mut link = {
            let _permit = logins.acquire().await;
            match self.connect(true).await {
                Some(l) => l,
                None => return self.tally,
            }
        };
        let _ = ready.send(()).await;
        drop(ready);
        loop {
            if !self.serve(&mut link).await {
                break;
            }
            // The connection dropped.
            let now = Instant::now();
            match self.shared.killed() {
                Some(k) if now >= k && self.tally.lost_at.is_none() => {
                    self.tally.lost_at = Some(now);
                    self.shared.victims.fetch_add(1, Relaxed);
                }
                Some(_) => {}
                None => self.tally.lost_before_kill += 1,
            }
            self.shared.down.fetch_add(1, Relaxed);
            let got = self.connect(false).await;
            self.shared.down.fetch_sub(1, Relaxed);
            match got {
                Some(l) => {
                    link = l;
                    if self.tally.lost_at.is_some() {
                        self.tally.back_at = Some(Instant::now());
                    }
                }
                None => break,
            }
        }
        self.tally.unanswered = self.resend.len() as u64;
        self.tally
    }

    /// Connects and logs in, again and again, until it works or the run
    /// is over. The first login of the run goes at once; a reconnection
    /// waits the backoff first, as the client does.
    async fn connect(&mut self, first: bool) -> Option<Link> {
        let mut wait = if first {
            None
        } else {
            Some(self.backoff.next_with(next_random(&mut self.rng)))
        };
        loop {
            if let Some(w) = wait.take() {
                tokio::time::sleep(w).await;
            }
            if self.shared.phase() == Phase::Done {
                return None;
            }
            if !first {
                self.tally.attempts += 1;
            }
            match tokio::time::timeout(ATTEMPT_TIMEOUT, self.login()).await {
                Ok(Ok(link)) => {
                    self.backoff.reset();
                    return Some(link);
                }
                Ok(Err(Refused::Busy(secs))) => {
                    if first {
                        self.tally.unavailable_at_start += 1;
                    } else {
                        self.tally.unavailable += 1;
                    }
                    // Honour the server's word; it spreads it itself.
                    wait = Some(Duration::from_secs(secs.max(1)));
                }
                Ok(Err(Refused::Failed(why))) => {
                    *self.tally.failures.entry(why).or_default() += 1;
                    wait = Some(self.backoff.next_with(next_random(&mut self.rng)));
                }
                Err(_) => {
                    *self.tally.failures.entry("no reply in 10 s").or_default() += 1;
                    wait = Some(self.backoff.next_with(next_random(&mut self.rng)));
                }
            }
        }
    }

    /// One connect + login by token.
    async fn login(&self) -> Result<Link, Refused> {
        let mut t = self
            .dialer
            .connect(self.plan.index)
            .await
            .map_err(|_| Refused::Failed("connect"))?;
        encode_into(
            t.out(),
            &RequestFrame {
                id: Some(1),
                request: Request::Login {
                    heartbeat: None,
                    user: self.plan.user.id,
                    credential: Credential::Token(self.plan.user.token.clone()),
                },
            },
        );
        t.write_all()
            .await
            .map_err(|_| Refused::Failed("closed before the reply"))?;
        let mut dec = LineDecoder::new(MAX_FRAME, 0);
        loop {
            // Only the reply is read here: what follows it (the inbox
            // replayed) stays in `dec` for `serve`.
            match dec.next_frame() {
                Ok(Some(line)) => {
                    let f: Frame = serde_json::from_slice(&line)
                        .map_err(|_| Refused::Failed("unreadable reply"))?;
                    if f.ev.is_some() {
                        continue;
                    }
                    return match (f.ok, f.code.as_deref()) {
                        (Some(true), _) => Ok((t, dec)),
                        (_, Some("unavailable")) => Err(Refused::Busy(f.retry_after.unwrap_or(1))),
                        _ => Err(Refused::Failed("refused")),
                    };
                }
                Ok(None) => {}
                Err(_) => return Err(Refused::Failed("unreadable reply")),
            }
            match t.read_frames(&mut dec).await {
                Ok(0) | Err(_) => return Err(Refused::Failed("closed before the reply")),
                Ok(_) => {}
            }
        }
    }

    fn cid(&self, seq: u64) -> String {
        format!("{}.{:x}.{seq:x}", self.shared.run, self.plan.index)
    }

    fn chat(&self, t: &mut Transport, id: u64, seq: u64) {
        encode_into(
            t.out(),
            &RequestFrame {
                id: Some(id),
                request: Request::Chat {
                    to: self.plan.friend,
                    text: "storm".into(),
                    cid: Some(self.cid(seq)),
                },
            },
        );
    }

    /// Serves one logged-in connection; false when the run is over, true
    /// when the connection dropped.
    async fn serve(&mut self, (t, dec): &mut Link) -> bool {
        let mut phase_rx = self.shared.phase.subscribe();
        // Request ids in flight, oldest first, with the chat's number
        // (None: an ack).
        let mut pending: VecDeque<(u64, Option<u64>)> = VecDeque::new();
        let mut next_id = 2;
        let mut resend = std::mem::take(&mut self.resend);
        resend.sort_unstable();
        for seq in resend {
            self.chat(t, next_id, seq);
            pending.push_back((next_id, Some(seq)));
            next_id += 1;
        }
        let offset = self
            .plan
            .interval
            .mul_f64((next_random(&mut self.rng) % 1000) as f64 / 1000.0);
        let mut tick =
            tokio::time::interval_at((Instant::now() + offset).into(), self.plan.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lost = loop {
            let acks = self.on_frames(dec, &mut pending);
            if !acks.is_empty() {
                encode_into(
                    t.out(),
                    &RequestFrame {
                        id: Some(next_id),
                        request: Request::Ack { ids: acks },
                    },
                );
                pending.push_back((next_id, None));
                next_id += 1;
            }
            if t.unsent() > 0 && t.write_all().await.is_err() {
                break true;
            }
            let phase = *phase_rx.borrow_and_update();
            if phase == Phase::Done {
                break false;
            }
            // A phase change goes first: nothing is sent once the load
            // stopped (the drain counts on it).
            tokio::select! {
                biased;
                changed = phase_rx.changed() => {
                    if changed.is_err() {
                        break false;
                    }
                }
                read = t.read_frames(dec) => {
                    if !matches!(read, Ok(n) if n > 0) {
                        break true;
                    }
                }
                _ = tick.tick(), if phase == Phase::Load => {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    self.tally.sent += 1;
                    self.shared.unanswered.fetch_add(1, Relaxed);
                    self.chat(t, next_id, seq);
                    pending.push_back((next_id, Some(seq)));
                    next_id += 1;
                }
            }
        };
        // Chats without an answer go again, with their cids, next time.
        self.resend
            .extend(pending.iter().filter_map(|&(_, seq)| seq));
        if lost {
            let _ = t.tcp().set_zero_linger();
        }
        lost
    }

    /// Handles the frames read so far; returns the ids to ack.
    fn on_frames(
        &mut self,
        dec: &mut LineDecoder,
        pending: &mut VecDeque<(u64, Option<u64>)>,
    ) -> Vec<u64> {
        let mut acks = Vec::new();
        while let Ok(Some(line)) = dec.next_frame() {
            let Ok(f) = serde_json::from_slice::<Frame>(&line) else {
                *self.tally.errors.entry("unreadable".into()).or_default() += 1;
                continue;
            };
            match f.ev.as_deref() {
                Some("msg") => {
                    let Some(m) = f.msg else { continue };
                    acks.push(m.id);
                    let ours = m
                        .cid
                        .as_deref()
                        .is_some_and(|c| c.starts_with(&self.shared.run));
                    if !ours {
                        continue;
                    }
                    if self.tally.received.insert(m.id) {
                        self.shared.delivered.fetch_add(1, Relaxed);
                    } else {
                        self.tally.duplicates += 1;
                    }
                }
                // From the kill until the run ends (when sessions close,
                // their friends see them go, which is no flap).
                Some("presence")
                    if self.shared.killed().is_some() && self.shared.phase() < Phase::Done =>
                {
                    match f.online {
                        Some(false) => {
                            self.tally.offline_seen += 1;
                            self.friend_offline = true;
                        }
                        Some(true) if self.friend_offline => {
                            self.tally.flaps += 1;
                            self.friend_offline = false;
                        }
                        _ => {}
                    }
                }
                Some(_) => {}
                None => {
                    let Some((id, seq)) = pending.pop_front() else {
                        continue;
                    };
                    if f.re != Some(id) {
                        *self.tally.errors.entry("out_of_order".into()).or_default() += 1;
                    }
                    let Some(_seq) = seq else { continue };
                    self.shared.unanswered.fetch_sub(1, Relaxed);
                    match (f.ok, f.msg) {
                        (Some(true), Some(m)) => {
                            self.tally.acked.push(m.id);
                            self.shared.acked.fetch_add(1, Relaxed);
                        }
                        _ => {
                            let code = f.code.as_deref().unwrap_or("no code");
                            *self.tally.errors.entry(code.to_owned()).or_default() += 1;
                        }
                    }
                }
            }
        }
        acks
    }
}
