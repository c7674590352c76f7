//! The connection to the server: one task owns the TCP stream, numbers the
//! requests, matches replies to their callers and forwards events; when
//! the connection drops it reconnects (exponential backoff with full
//! jitter, [`crate::backoff`]) and logs in again with the session's token.
//!
//! The rest of the client holds a cheap [`Conn`] handle and receives
//! [`Notice`]s (events and connection news) on one channel: one notice
//! when the connection drops, one when it is back, none per attempt.
//!
//! While the connection is down, only requests that are harmless to send
//! late wait for it ([`waits_for_reconnect`]: messages, which carry a
//! `cid` the server deduplicates, and acks); anything else fails at once
//! with [`ConnError::NotConnected`], so nobody waits on an outage. A
//! request that was sent but not answered when the connection dropped is
//! sent again only if it is one of those; the others fail with
//! [`ConnError::Lost`], since they may or may not have taken effect.
//!
//! A session can also end from elsewhere: a `session_ended` event (the
//! password was changed, the account deleted, or the user logged out
//! everywhere, on another device) means the token is dead and the server
//! closes the connection next; the task forgets the session, so it never
//! logs in again with the old token, and connects again at once, quietly,
//! for the next login from the menu. A password change made here brings
//! a new token, which replaces the old one for reconnecting.
//!
//! Liveness: after `keepalive` without sending anything the task sends a
//! `ping` (whose reply it drops), and it promises the server as much with
//! the login's `heartbeat` field; a connection on which nothing at all is
//! heard for three keepalives (the pings go unanswered) is given up as
//! dead and replaced.
//!
//! Over 500 lines: the task is one state machine (serve, drop, wait,
//! connect, log in again) that reads best in one place; the wire format
//! lives in [`crate::wire`] and the retry timing in [`crate::backoff`].

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io;
use std::time::Duration;

use chat_proto::reply::{LoggedIn, NewToken};
use chat_proto::{Credential, ErrorCode, Event, LineDecoder, Request, validate};
use tokio::io::{AsyncRead, AsyncWrite, WriteHalf};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::tls::Tls;

/// A connection to the server: plain TCP, or TLS over it.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}
type Boxed = Box<dyn Stream>;
type OwnedWriteHalf = WriteHalf<Boxed>;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::wire::{self, Failure, Incoming, Reply};

/// The longest frame the client accepts from the server.
pub const MAX_FRAME: usize = 1024 * 1024;
/// How many bytes one read asks for, at least.
const READ_CHUNK: usize = 8 * 1024;
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests waiting for the connection to come back, at most.
const MAX_QUEUED: usize = 256;
/// Requests from the app to the connection task, in flight.
const CMD_CAPACITY: usize = 64;
/// After this long without sending anything the task sends a `ping`; the
/// login promises the server this much (`heartbeat`), so a session that
/// goes silent (a frozen client, a sleeping laptop) can be closed soon.
pub const KEEPALIVE: Duration = Duration::from_secs(20);
/// A connection silent for this many keepalives is given up as dead.
const DEAD_AFTER_KEEPALIVES: u32 = 3;

/// Why a request got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    /// The connection dropped after the request was sent; it may or may
    /// not have taken effect.
    #[error("the connection dropped before the server answered")]
    Lost,
    /// The connection is down; the request was not sent.
    #[error("not connected to the server (reconnecting)")]
    NotConnected,
    /// The connection is down and too many requests are already waiting.
    #[error("too many messages are already waiting for the connection")]
    QueueFull,
    /// The session's token was refused after a reconnect, or the user
    /// logged out, before the request could be sent.
    #[error("the session has ended")]
    SessionEnded,
    /// The connection task has stopped.
    #[error("the connection has been closed")]
    Closed,
}

/// What the connection tells the app besides replies.
#[derive(Debug)]
pub enum Notice {
    /// An event pushed by the server.
    Event(Event),
    /// An event this client cannot read, by name.
    UnknownEvent(String),
    /// The connection dropped (said once per outage); reconnecting.
    Lost { error: String },
    /// Connected again after `down_for`; logged in again when there was
    /// a session.
    Reconnected {
        login: Option<Box<LoggedIn>>,
        down_for: Duration,
    },
    /// The token was refused after a reconnect: the session is over.
    SessionRejected(Failure),
    /// Something the server sent that the client could not use.
    Garbled(String),
}

/// Whether `request` waits for the connection to come back when it is
/// down, and is sent again when the connection dropped before its reply.
/// True only where a late or repeated send does no harm.
pub fn waits_for_reconnect(request: &Request) -> bool {
    match request {
        Request::Chat { cid, .. } | Request::GroupChat { cid, .. } => cid.is_some(),
        Request::Ack { .. } => true,
        _ => false,
    }
}

/// What the login promises for `keepalive`: the whole seconds, rounded
/// up, raised to the least the server takes (pinging more often than
/// promised does no harm); no promise past the most it takes.
pub fn heartbeat(keepalive: Duration) -> Option<u32> {
    let secs = keepalive.as_secs_f64().ceil() as u64;
    if secs > validate::HEARTBEAT_MAX_SECS {
        return None;
    }
    u32::try_from(secs.max(validate::HEARTBEAT_MIN_SECS)).ok()
}

/// The user's session, to log in again after a reconnect.
#[derive(Debug, Clone)]
struct Session {
    user: u64,
    token: String,
}

type ReplyTx = oneshot::Sender<Result<Reply, ConnError>>;

/// A request and the caller waiting for its reply.
struct Waiter {
    request: Request,
    tx: ReplyTx,
}

/// A handle to the connection task; clones share the connection. The task
/// stops when the last handle is dropped.
#[derive(Clone)]
pub struct Conn {
    cmds: mpsc::Sender<Waiter>,
}

impl Conn {
    /// Connects to `host:port` and starts the connection task. The first
    /// connection must succeed; later drops are handled by reconnecting.
    /// `keepalive` is how long the connection may stay silent before a
    /// `ping` is sent (see [`KEEPALIVE`]).
    pub async fn connect(
        host: &str,
        port: u16,
        tls: Option<Tls>,
        keepalive: Duration,
        notices: mpsc::Sender<Notice>,
    ) -> io::Result<Conn> {
        let stream = connect(host, port, tls.as_ref()).await?;
        let (cmds, rx) = mpsc::channel(CMD_CAPACITY);
        let keepalive = keepalive.max(Duration::from_millis(10));
        let now = Instant::now();
        let task = Task {
            host: host.to_owned(),
            port,
            tls,
            keepalive,
            heartbeat: heartbeat(keepalive),
            cmds: rx,
            notices,
            next_id: 1,
            pending: BTreeMap::new(),
            pings: HashSet::new(),
            queue: VecDeque::new(),
            session: None,
            relogin: None,
            last_sent: now,
            last_heard: now,
            down_since: None,
            ending: false,
        };
        tokio::spawn(task.run(stream));
        Ok(Conn { cmds })
    }

    /// Sends `request` and waits for its reply.
    pub async fn request(&self, request: Request) -> Result<Reply, ConnError> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(Waiter { request, tx })
            .await
            .map_err(|_| ConnError::Closed)?;
        rx.await.map_err(|_| ConnError::Closed)?
    }
}

async fn connect(host: &str, port: u16, tls: Option<&Tls>) -> io::Result<Boxed> {
    let attempt = async {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok::<Boxed, io::Error>(match tls {
            None => Box::new(stream),
            Some(tls) => Box::new(tls.wrap(host, stream).await?),
        })
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection attempt timed out"))?
}

/// How a connection ended.
enum End {
    /// Every [`Conn`] handle is gone, or the app stopped listening.
    Stopped,
    /// The connection dropped, for this reason.
    Lost(String),
}

struct Task {
    host: String,
    port: u16,
    /// TLS to the server, when asked for.
    tls: Option<Tls>,
    keepalive: Duration,
    /// The login's promise, from `keepalive` (see [`heartbeat`]).
    heartbeat: Option<u32>,
    cmds: mpsc::Receiver<Waiter>,
    notices: mpsc::Sender<Notice>,
    /// The id of the next request; ids only grow, so `pending` in id order
    /// is send order.
    next_id: u64,
    /// Sent requests waiting for their reply, by request id.
    pending: BTreeMap<u64, Waiter>,
    /// Ids of our own keepalive pings; their replies are dropped.
    pings: HashSet<u64>,
    /// Requests not sent yet: the connection is down or logging in again.
    queue: VecDeque<Waiter>,
    /// Set by a successful `login`, cleared by `logout` or a refused token.
    session: Option<Session>,
    /// The id of the token login sent after a reconnect, until its reply.
    relogin: Option<u64>,
    last_sent: Instant,
    last_heard: Instant,
    /// When the connection dropped, while it is down (and until the app
    /// has been told it is back).
    down_since: Option<Instant>,
    /// The server ended the session (`session_ended`) and is about to
    /// close the connection: that close is no outage to announce.
    ending: bool,
}

impl Task {
    async fn run(mut self, stream: Boxed) {
        let mut stream = stream;
        let mut backoff = Backoff::new();
        let mut reconnected = false;
        loop {
            let error = match self.serve(stream, reconnected, &mut backoff).await {
                End::Stopped => return,
                End::Lost(e) => e,
            };
            self.requeue_or_fail();
            // After an ended session the first attempt is made at once
            // and said nothing of; only if it fails is it an outage.
            let mut quiet = std::mem::take(&mut self.ending);
            if !quiet && !self.lost(&error).await {
                return;
            }
            stream = loop {
                if !quiet && !self.pause(backoff.next()).await {
                    return;
                }
                match self.attempt().await {
                    None => return,
                    Some(Ok(s)) => break s,
                    Some(Err(e)) if quiet => {
                        quiet = false;
                        if !self.lost(&e.to_string()).await {
                            return;
                        }
                    }
                    Some(Err(_)) => {}
                }
            };
            reconnected = true;
        }
    }

    /// Tells the app the connection is down, once per outage; false when
    /// the app is gone.
    async fn lost(&mut self, error: &str) -> bool {
        if self.down_since.is_some() {
            return true;
        }
        self.down_since = Some(Instant::now());
        self.notify(Notice::Lost {
            error: error.to_owned(),
        })
        .await
    }

    /// Serves one connection until it drops. After a reconnect it first
    /// logs in again (or announces the reconnection when there is no
    /// session); the backoff starts over once that has worked.
    async fn serve(&mut self, stream: Boxed, reconnected: bool, backoff: &mut Backoff) -> End {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut dec = LineDecoder::new(MAX_FRAME, READ_CHUNK);
        self.last_heard = Instant::now();
        if reconnected {
            if let Some(s) = self.session.clone() {
                let id = self.take_id();
                let login = Request::Login {
                    user: s.user,
                    credential: Credential::Token(s.token),
                    heartbeat: None,
                };
                self.relogin = Some(id);
                if let Err(e) = self.write(&mut wr, id, &login).await {
                    return e;
                }
            } else {
                backoff.reset();
                // A quiet reconnect (after an ended session) had no
                // outage to end.
                if self.down_since.is_some() && !self.back(None).await {
                    return End::Stopped;
                }
            }
        }
        if let Err(end) = self.flush_queue(&mut wr).await {
            return end;
        }
        let dead_after = self.keepalive * DEAD_AFTER_KEEPALIVES;
        loop {
            // Room for a good read; a no-op when there is room already.
            dec.buffer().reserve(READ_CHUNK);
            tokio::select! {
                _ = tokio::time::sleep_until(self.last_heard + dead_after) => {
                    return End::Lost(format!(
                        "no answer from the server for {} s",
                        dead_after.as_secs()
                    ));
                }
                _ = tokio::time::sleep_until(self.last_sent + self.keepalive) => {
                    let id = self.take_id();
                    self.pings.insert(id);
                    if let Err(e) = self.write(&mut wr, id, &Request::Ping).await {
                        return e;
                    }
                }
                cmd = self.cmds.recv() => {
                    let Some(w) = cmd else { return End::Stopped };
                    if self.relogin.is_some() {
                        self.enqueue(w);
                    } else if let Err(end) = self.send(&mut wr, w).await {
                        return end;
                    }
                }
                read = rd.read_buf(dec.buffer()) => {
                    match read {
                        Ok(0) => return End::Lost("the server closed the connection".into()),
                        Err(e) => return End::Lost(e.to_string()),
                        Ok(_) => {}
                    }
                    self.last_heard = Instant::now();
                    loop {
                        let frame = match dec.next_frame() {
                            Ok(Some(f)) => f,
                            Ok(None) => break,
                            Err(e) => return End::Lost(format!("the server sent a {e}")),
                        };
                        if let Err(end) = self.on_frame(&frame, &mut wr, backoff).await {
                            return end;
                        }
                    }
                    dec.shrink(64 * 1024, READ_CHUNK);
                }
            }
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Writes one request line.
    async fn write(
        &mut self,
        wr: &mut OwnedWriteHalf,
        id: u64,
        request: &Request,
    ) -> Result<(), End> {
        let line = wire::request_line(id, request, self.heartbeat);
        wr.write_all(&line)
            .await
            .map_err(|e| End::Lost(e.to_string()))?;
        self.last_sent = Instant::now();
        Ok(())
    }

    /// Forwards a notice; false when the app has stopped listening.
    async fn notify(&self, notice: Notice) -> bool {
        self.notices.send(notice).await.is_ok()
    }

    /// Tells the app the connection is back; false when it is gone.
    async fn back(&mut self, login: Option<Box<LoggedIn>>) -> bool {
        let down_for = self
            .down_since
            .take()
            .map(|t| t.elapsed())
            .unwrap_or_default();
        self.notify(Notice::Reconnected { login, down_for }).await
    }

    /// A request while connected but logging in again: it waits.
    fn enqueue(&mut self, w: Waiter) {
        if self.queue.len() >= MAX_QUEUED {
            let _ = w.tx.send(Err(ConnError::QueueFull));
        } else {
            self.queue.push_back(w);
        }
    }

    /// A request while the connection is down: it waits if that is
    /// harmless, else it fails at once.
    fn while_down(&mut self, w: Waiter) {
        if matches!(w.request, Request::Logout { .. }) {
            self.logged_out();
            let _ = w.tx.send(Err(ConnError::NotConnected));
        } else if waits_for_reconnect(&w.request) {
            self.enqueue(w);
        } else {
            let _ = w.tx.send(Err(ConnError::NotConnected));
        }
    }

    /// The user logged out: no login again after a reconnect, and what
    /// waited for the session will not be sent.
    fn logged_out(&mut self) {
        self.session = None;
        for w in self.queue.drain(..) {
            let _ = w.tx.send(Err(ConnError::SessionEnded));
        }
    }

    /// Waits `d` while taking requests; false when the app is gone.
    async fn pause(&mut self, d: Duration) -> bool {
        let sleep = tokio::time::sleep(d);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                cmd = self.cmds.recv() => match cmd {
                    Some(w) => self.while_down(w),
                    None => return false,
                },
            }
        }
    }

    /// One connection attempt, taking requests meanwhile; `None` when the
    /// app is gone.
    async fn attempt(&mut self) -> Option<io::Result<Boxed>> {
        let host = self.host.clone();
        let port = self.port;
        let tls = self.tls.clone();
        let attempt = connect(&host, port, tls.as_ref());
        tokio::pin!(attempt);
        loop {
            tokio::select! {
                r = &mut attempt => return Some(r),
                cmd = self.cmds.recv() => match cmd {
                    Some(w) => self.while_down(w),
                    None => return None,
                },
            }
        }
    }

    /// Writes one request and records it as pending.
    async fn send(&mut self, wr: &mut OwnedWriteHalf, w: Waiter) -> Result<(), End> {
        if w.tx.is_closed() {
            // The caller gave up waiting while it was queued.
            return Ok(());
        }
        let id = self.take_id();
        if matches!(w.request, Request::Logout { .. }) {
            // From now on a reconnect must not log this user in again.
            self.logged_out();
        }
        let request = w.request.clone();
        self.pending.insert(id, w);
        self.write(wr, id, &request).await
    }

    async fn flush_queue(&mut self, wr: &mut OwnedWriteHalf) -> Result<(), End> {
        if self.relogin.is_some() {
            return Ok(());
        }
        while let Some(w) = self.queue.pop_front() {
            self.send(wr, w).await?;
        }
        Ok(())
    }

    /// After a drop: sent requests that are safe to repeat go back to the
    /// front of the queue, in their order; the others fail.
    fn requeue_or_fail(&mut self) {
        self.relogin = None;
        self.pings.clear();
        let pending = std::mem::take(&mut self.pending);
        let mut again = VecDeque::new();
        for (_, w) in pending {
            if waits_for_reconnect(&w.request) && !w.tx.is_closed() {
                again.push_back(w);
            } else {
                let _ = w.tx.send(Err(ConnError::Lost));
            }
        }
        // Requests queued during a login again that may not wait fail now.
        for w in self.queue.drain(..) {
            if waits_for_reconnect(&w.request) {
                again.push_back(w);
            } else {
                let _ = w.tx.send(Err(ConnError::NotConnected));
            }
        }
        while again.len() > MAX_QUEUED {
            if let Some(w) = again.pop_back() {
                let _ = w.tx.send(Err(ConnError::QueueFull));
            }
        }
        self.queue = again;
    }

    async fn on_frame(
        &mut self,
        frame: &[u8],
        wr: &mut OwnedWriteHalf,
        backoff: &mut Backoff,
    ) -> Result<(), End> {
        let Ok(text) = std::str::from_utf8(frame) else {
            return self.garbled("a frame that is not UTF-8".into()).await;
        };
        let reply = match wire::parse(text) {
            Err(e) => return self.garbled(format!("an unreadable frame ({e})")).await,
            Ok(Incoming::Event(ev)) => {
                if matches!(ev, Event::SessionEnded { .. }) {
                    // The token is dead and the connection closes next.
                    self.logged_out();
                    self.ending = true;
                }
                return self.forward(Notice::Event(ev)).await;
            }
            Ok(Incoming::UnknownEvent(name)) => {
                return self.forward(Notice::UnknownEvent(name)).await;
            }
            Ok(Incoming::Reply(r)) => r,
        };
        let Some(re) = reply.re else {
            let what = match &reply.result {
                Err(f) => format!("{}: {}", f.code_name(), f.error()),
                Ok(_) => "a reply to no request".into(),
            };
            return self.garbled(what).await;
        };
        if self.pings.remove(&re) {
            return Ok(());
        }
        if self.relogin == Some(re) {
            self.relogin = None;
            return self.on_relogin(reply, wr, backoff).await;
        }
        let Some(w) = self.pending.remove(&re) else {
            return self
                .garbled(format!("a reply to unknown request {re}"))
                .await;
        };
        match &w.request {
            Request::Login { user, .. } => {
                if let Ok(li) = reply.body::<LoggedIn>() {
                    self.session = Some(Session {
                        user: *user,
                        token: li.token,
                    });
                    self.ending = false;
                }
            }
            // Every other token was revoked: reconnect with this one.
            Request::ChangePassword { .. } => {
                if let (Ok(t), Some(s)) = (reply.body::<NewToken>(), self.session.as_mut()) {
                    s.token = t.token;
                }
            }
            Request::DeleteAccount { .. } if reply.is_ok() => self.logged_out(),
            _ => {}
        }
        // The caller may have given up waiting; that is fine.
        let _ = w.tx.send(Ok(reply));
        Ok(())
    }

    async fn on_relogin(
        &mut self,
        reply: Reply,
        wr: &mut OwnedWriteHalf,
        backoff: &mut Backoff,
    ) -> Result<(), End> {
        match &reply.result {
            Ok(_) => {
                let li = match reply.body::<LoggedIn>() {
                    Ok(li) => li,
                    Err(e) => return Err(End::Lost(format!("logging in again failed: {e:?}"))),
                };
                backoff.reset();
                if !self.back(Some(Box::new(li))).await {
                    return Err(End::Stopped);
                }
                self.flush_queue(wr).await
            }
            Err(f) if f.code() == Some(ErrorCode::BadCredentials) => {
                // The token is no good any more: the session is over, and
                // what was waiting for it with it.
                self.logged_out();
                self.down_since = None;
                self.forward(Notice::SessionRejected(f.clone())).await
            }
            Err(f) => Err(End::Lost(format!(
                "logging in again failed: {}: {}",
                f.code_name(),
                f.error()
            ))),
        }
    }

    async fn forward(&self, notice: Notice) -> Result<(), End> {
        match self.notify(notice).await {
            true => Ok(()),
            false => Err(End::Stopped),
        }
    }

    async fn garbled(&self, what: String) -> Result<(), End> {
        self.forward(Notice::Garbled(what)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heartbeat_promise_stays_in_the_servers_range() {
        assert_eq!(heartbeat(KEEPALIVE), Some(20));
        assert_eq!(heartbeat(Duration::from_millis(300)), Some(5));
        assert_eq!(heartbeat(Duration::from_secs_f64(7.2)), Some(8));
        assert_eq!(heartbeat(Duration::from_secs(3600)), Some(3600));
        assert_eq!(heartbeat(Duration::from_secs(3601)), None);
    }

    #[test]
    fn only_harmless_requests_wait_for_a_reconnect() {
        assert!(waits_for_reconnect(&Request::Ack { ids: vec![1] }));
        assert!(waits_for_reconnect(&Request::Chat {
            to: 1,
            text: "x".into(),
            cid: Some("c1".into())
        }));
        assert!(!waits_for_reconnect(&Request::Chat {
            to: 1,
            text: "x".into(),
            cid: None
        }));
        assert!(!waits_for_reconnect(&Request::Sync));
        assert!(!waits_for_reconnect(&Request::CreateGroup {
            name: "g".into(),
            desc: String::new(),
            visibility: chat_proto::Visibility::Public,
        }));
        assert!(!waits_for_reconnect(&Request::AddFriend { user: 1 }));
    }
}
