//! The `login` workload: a reconnect storm. Each of `--connections`
//! workers, over and over: connects, logs in by token, waits for the
//! reply, and drops the connection (with a reset, so neither side keeps
//! the socket in TIME_WAIT and the storm can run for as long as needed).
//!
//! `login --password` is a burst instead: the workers share a list of
//! users and log each in once by password (the deliberately slow argon2
//! check), then stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Context;
use chat_proto::{Credential, ErrorCode, LineDecoder, Request, RequestFrame};

use crate::cli::Opts;
use crate::conn::Dialer;
use crate::fleet::{FINISH_GRACE, collect, spawn_all};
use crate::pacing::{self, CpuMark, Window};
use crate::setup::UserRec;
use crate::stats::{Failure, Kind, Phase, Shared, Tally};
use crate::wire::{Incoming, encode_into};

/// Longest a single connect + login by token may take before it counts
/// as failed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The same by password: hashes queue behind each other on a busy server.
const PASSWORD_TIMEOUT: Duration = Duration::from_secs(60);

/// A `login` request with id 1, as one line.
fn login_line(user: u64, credential: Credential) -> Vec<u8> {
    let mut line = Vec::with_capacity(256);
    encode_into(
        &mut line,
        &RequestFrame {
            id: Some(1),
            request: Request::Login {
                user,
                credential,
                heartbeat: None,
            },
        },
    );
    line
}

/// Logs `user` in again and again until the phase reaches
/// [`Phase::Drain`].
pub async fn worker(
    worker: usize,
    workers: usize,
    user: UserRec,
    dialer: Arc<Dialer>,
    shared: Arc<Shared>,
) {
    let mut phase_rx = shared.subscribe();
    if phase_rx.wait_for(|p| *p >= Phase::Warmup).await.is_err() {
        return;
    }
    let line = login_line(user.id, Credential::Token(user.token.clone()));
    let mut tally = Tally::new(shared.phase());
    let mut attempt: usize = 0;
    loop {
        let phase = shared.phase();
        if phase >= Phase::Drain {
            break;
        }
        if phase != tally.phase {
            tally.switch(&shared, phase);
        }
        // Successive attempts rotate over the source addresses.
        let conn_no = worker + attempt * workers;
        attempt += 1;
        let at = Attempt {
            dialer: &dialer,
            conn_no,
            line: &line,
            timeout: ATTEMPT_TIMEOUT,
        };
        at.run(&mut tally, &shared, phase).await;
        if tally.has_samples() && attempt.is_multiple_of(64) {
            tally.flush_samples(&shared);
        }
    }
    tally.switch(&shared, Phase::Done);
}

/// The workers of a `login` run.
pub struct Logins<'a> {
    pub opts: &'a Opts,
    pub dialer: Arc<Dialer>,
    pub users: Vec<UserRec>,
    pub shared: &'a Arc<Shared>,
}

/// How a `login` run went.
pub struct Ran {
    pub workers: usize,
    pub window: Window,
    /// Seconds the workers took to stop after the window.
    pub drain_s: f64,
}

impl Logins<'_> {
    /// The storm, or with `--password` the burst.
    pub async fn run(self) -> Ran {
        if self.opts.password {
            self.burst().await
        } else {
            self.storm().await
        }
    }

    /// The reconnect storm: every user logs in by token again and again
    /// through warmup and the measured window.
    async fn storm(self) -> Ran {
        let (dialer, shared) = (self.dialer, self.shared);
        let workers = self.users.len();
        let tasks = spawn_all(
            self.users
                .into_iter()
                .enumerate()
                .map(|(i, u)| worker(i, workers, u, dialer.clone(), shared.clone())),
        );
        let window = pacing::warmup_and_measure(shared, self.opts, None).await;
        let drain_start = Instant::now();
        collect(tasks, FINISH_GRACE).await;
        Ran {
            workers,
            window,
            drain_s: drain_start.elapsed().as_secs_f64(),
        }
    }

    /// The password burst: each user logs in once by password,
    /// `--connections` at a time; the measured window is the whole burst.
    async fn burst(self) -> Ran {
        let opts = self.opts;
        let workers = opts.connection_count().min(self.users.len());
        let users = Arc::new(self.users);
        let next = Arc::new(AtomicUsize::new(0));
        let password: Arc<str> = opts.user_password.as_str().into();
        self.shared.set_phase(Phase::Measure);
        let mark = CpuMark::now(opts.server_pid);
        let tasks = spawn_all((0..workers).map(|_| {
            password_worker(
                next.clone(),
                users.clone(),
                password.clone(),
                self.dialer.clone(),
                self.shared.clone(),
            )
        }));
        // Each attempt has its own time limit, so the burst ends by itself.
        collect(tasks, Duration::from_secs(86_400)).await;
        self.shared.set_phase(Phase::Drain);
        Ran {
            workers,
            window: mark.window_until(&CpuMark::now(opts.server_pid)),
            drain_s: 0.0,
        }
    }
}

/// Logs in by password, once each, the users of `users` that no other
/// worker took yet (`next` counts them out); counts under the current
/// phase.
pub async fn password_worker(
    next: Arc<AtomicUsize>,
    users: Arc<Vec<UserRec>>,
    password: Arc<str>,
    dialer: Arc<Dialer>,
    shared: Arc<Shared>,
) {
    let mut tally = Tally::new(shared.phase());
    loop {
        let i = next.fetch_add(1, Relaxed);
        let Some(user) = users.get(i) else { break };
        let line = login_line(user.id, Credential::Password(password.to_string()));
        let at = Attempt {
            dialer: &dialer,
            conn_no: i,
            line: &line,
            timeout: PASSWORD_TIMEOUT,
        };
        let phase = tally.phase;
        at.run(&mut tally, &shared, phase).await;
        tally.flush_samples(&shared);
    }
    tally.switch(&shared, Phase::Done);
}

/// One connect + login + disconnect.
struct Attempt<'a> {
    dialer: &'a Dialer,
    conn_no: usize,
    line: &'a [u8],
    timeout: Duration,
}

impl Attempt<'_> {
    /// Makes the attempt and counts it in `tally` (published before it
    /// returns); after a failure, pauses a little.
    async fn run(&self, tally: &mut Tally, shared: &Shared, phase: Phase) {
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            self.timeout,
            login_once(self.dialer, self.conn_no, self.line),
        )
        .await;
        let failed = match outcome {
            Ok(Ok(())) => {
                tally.counts.logins += 1;
                let micros = started.elapsed().as_micros() as u64;
                tally.reply(shared, Kind::Login, micros);
                false
            }
            Ok(Err(LoginError::Refused(code))) => {
                shared.fail(Failure::Code(code), phase);
                shared.note_error(|| format!("login refused: {code}"));
                true
            }
            Ok(Err(LoginError::Io(e))) => {
                shared.fail(Failure::Connect, phase);
                shared.note_error(|| format!("connect and login: {e:#}"));
                true
            }
            Err(_) => {
                shared.fail(Failure::Connect, phase);
                let limit = self.timeout;
                shared.note_error(|| format!("connect and login took over {limit:?}"));
                true
            }
        };
        tally.publish(shared);
        if failed {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

enum LoginError {
    Refused(ErrorCode),
    Io(anyhow::Error),
}

impl From<anyhow::Error> for LoginError {
    fn from(e: anyhow::Error) -> LoginError {
        LoginError::Io(e)
    }
}

impl From<std::io::Error> for LoginError {
    fn from(e: std::io::Error) -> LoginError {
        LoginError::Io(e.into())
    }
}

async fn login_once(dialer: &Dialer, conn_no: usize, line: &[u8]) -> Result<(), LoginError> {
    let mut stream = dialer.connect(conn_no).await?;
    stream.out().extend_from_slice(line);
    stream.write_all().await?;
    let mut dec = LineDecoder::new(crate::conn::MAX_FRAME, 0);
    let result = loop {
        if let Some(frame) = dec.next_frame().map_err(anyhow::Error::from)? {
            let f = Incoming::parse(&frame)
                .context("unreadable frame")
                .map_err(LoginError::Io)?;
            if f.is_event() {
                continue;
            }
            break if f.ok == Some(true) && f.re == Some(1) {
                Ok(())
            } else {
                Err(LoginError::Refused(f.code.unwrap_or(ErrorCode::Internal)))
            };
        }
        if stream.read_frames(&mut dec).await? == 0 {
            return Err(LoginError::Io(anyhow::anyhow!(
                "the server closed the connection"
            )));
        }
    };
    // Reset instead of a graceful close: no TIME_WAIT left behind.
    let _ = stream.tcp().set_zero_linger();
    drop(stream);
    result
}
