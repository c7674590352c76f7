//! The connection to the server: one task owns the TCP stream, numbers the
//! requests, matches replies to their callers and forwards events; when
//! the connection drops it reconnects with backoff and logs in again with
//! the session's token.
//!
//! The rest of the client holds a cheap [`Conn`] handle and receives
//! [`Notice`]s (events and connection news) on one channel.
//!
//! Requests made while the connection is down wait in a bounded queue and
//! go out once it is back (after the re-login). A request that was sent but
//! not answered when the connection dropped is sent again only when that is
//! harmless: reads, `login`, `ack`, and messages carrying a `cid` (which the
//! server deduplicates); anything else fails with [`ConnError::Lost`],
//! since it may or may not have taken effect.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher as _, RandomState};
use std::io;
use std::time::Duration;

use chat_proto::reply::{ErrorBody, LoggedIn, Reply};
use chat_proto::{Credential, ErrorCode, Event, LineDecoder, Request, RequestFrame, ServerFrame};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};

/// The longest frame the client accepts from the server.
pub const MAX_FRAME: usize = 1024 * 1024;
/// The first wait before reconnecting; it doubles after each failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// The longest wait between two reconnection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How many bytes one read asks for, at least.
const READ_CHUNK: usize = 8 * 1024;
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests waiting for the connection to come back, at most.
const MAX_QUEUED: usize = 256;
/// Requests from the app to the connection task, in flight.
const CMD_CAPACITY: usize = 64;
/// After this long without sending anything the task sends a `ping`, so
/// that the server's idle timeout (300 s by default) does not close the
/// connection of a user who is only reading.
pub const KEEPALIVE: Duration = Duration::from_secs(60);

/// Why a request got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    /// The connection dropped after the request was sent; it may or may
    /// not have taken effect.
    #[error("connection lost before the reply (reconnecting)")]
    Lost,
    /// The connection is down and too many requests are already waiting.
    #[error("not connected to the server (reconnecting)")]
    NotConnected,
    /// The session's token was refused after a reconnect.
    #[error("the session has ended; please log in again")]
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
    /// The connection dropped; the next attempt is in `retry_in`.
    Lost { error: String, retry_in: Duration },
    /// A reconnection attempt failed; the next is in `retry_in`.
    RetryFailed { error: String, retry_in: Duration },
    /// Connected again; logged in again when there was a session.
    Reconnected { login: Option<Box<LoggedIn>> },
    /// The token was refused after a reconnect: the session is over.
    SessionRejected(ErrorBody),
    /// Something the server sent that the client could not use.
    Garbled(String),
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
        keepalive: Duration,
        notices: mpsc::Sender<Notice>,
    ) -> io::Result<Conn> {
        let stream = connect(host, port).await?;
        let (cmds, rx) = mpsc::channel(CMD_CAPACITY);
        let task = Task {
            host: host.to_owned(),
            port,
            keepalive: keepalive.max(Duration::from_millis(10)),
            cmds: rx,
            notices,
            next_id: 1,
            pending: BTreeMap::new(),
            queue: VecDeque::new(),
            session: None,
            relogin: None,
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

async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection attempt timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Whether a request that may have reached the server can be sent again
/// without doing twice what it does.
fn retryable(request: &Request) -> bool {
    match request {
        Request::Ping
        | Request::Login { .. }
        | Request::Whoami
        | Request::Sync
        | Request::GroupMembers { .. }
        | Request::History { .. }
        | Request::Ack { .. } => true,
        Request::Chat { cid, .. } | Request::GroupChat { cid, .. } => cid.is_some(),
        Request::Register { .. }
        | Request::Logout { .. }
        | Request::AddFriend { .. }
        | Request::RemoveFriend { .. }
        | Request::CreateGroup { .. }
        | Request::JoinGroup { .. }
        | Request::QuitGroup { .. }
        | Request::DeleteGroup { .. } => false,
    }
}

/// `d` give or take a fifth, so that many clients dropped at once do not
/// come back in lockstep.
fn jitter(d: Duration) -> Duration {
    let r = RandomState::new().hash_one(std::time::SystemTime::now());
    // r % 41 is 0..=40: a factor of 0.80 to 1.20.
    d.mul_f64(0.8 + (r % 41) as f64 / 100.0)
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
    keepalive: Duration,
    cmds: mpsc::Receiver<Waiter>,
    notices: mpsc::Sender<Notice>,
    /// The id of the next request; ids only grow, so `pending` in id order
    /// is send order.
    next_id: u64,
    /// Sent requests waiting for their reply, by request id.
    pending: BTreeMap<u64, Waiter>,
    /// Requests not sent yet: the connection is down or logging in again.
    queue: VecDeque<Waiter>,
    /// Set by a successful `login`, cleared by `logout` or a refused token.
    session: Option<Session>,
    /// The id of the token login sent after a reconnect, until its reply.
    relogin: Option<u64>,
}

impl Task {
    async fn run(mut self, stream: TcpStream) {
        let mut stream = stream;
        let mut delay = BACKOFF_MIN;
        let mut reconnected = false;
        loop {
            let error = match self.serve(stream, reconnected, &mut delay).await {
                End::Stopped => return,
                End::Lost(e) => e,
            };
            self.requeue_or_fail();
            let mut wait = jitter(delay);
            if !self
                .notify(Notice::Lost {
                    error,
                    retry_in: wait,
                })
                .await
            {
                return;
            }
            stream = loop {
                if !self.pause(wait).await {
                    return;
                }
                match connect(&self.host, self.port).await {
                    Ok(s) => break s,
                    Err(e) => {
                        delay = (delay * 2).min(BACKOFF_MAX);
                        wait = jitter(delay);
                        let notice = Notice::RetryFailed {
                            error: e.to_string(),
                            retry_in: wait,
                        };
                        if !self.notify(notice).await {
                            return;
                        }
                    }
                }
            };
            reconnected = true;
        }
    }

    /// Serves one connection until it drops. After a reconnect it first
    /// logs in again (or announces the reconnection when there is no
    /// session); `delay` goes back to the minimum once that has worked.
    async fn serve(&mut self, stream: TcpStream, reconnected: bool, delay: &mut Duration) -> End {
        let (mut rd, mut wr) = stream.into_split();
        let mut dec = LineDecoder::new(MAX_FRAME, READ_CHUNK);
        if reconnected {
            if let Some(s) = self.session.clone() {
                let id = self.take_id();
                let frame = RequestFrame {
                    id: Some(id),
                    request: Request::Login {
                        user: s.user,
                        credential: Credential::Token(s.token),
                    },
                };
                self.relogin = Some(id);
                if let Err(e) = wr.write_all(&frame.to_line()).await {
                    return End::Lost(e.to_string());
                }
            } else {
                *delay = BACKOFF_MIN;
                if !self.notify(Notice::Reconnected { login: None }).await {
                    return End::Stopped;
                }
            }
        }
        if let Err(end) = self.flush_queue(&mut wr).await {
            return end;
        }
        let keepalive = tokio::time::sleep(self.keepalive);
        tokio::pin!(keepalive);
        loop {
            // Room for a good read; a no-op when there is room already.
            dec.buffer().reserve(READ_CHUNK);
            tokio::select! {
                _ = &mut keepalive => {
                    // Its reply matches no waiter and is dropped.
                    let id = self.take_id();
                    let ping = RequestFrame { id: Some(id), request: Request::Ping };
                    if let Err(e) = wr.write_all(&ping.to_line()).await {
                        return End::Lost(e.to_string());
                    }
                    keepalive.as_mut().reset(tokio::time::Instant::now() + self.keepalive);
                }
                cmd = self.cmds.recv() => {
                    let Some(w) = cmd else { return End::Stopped };
                    keepalive.as_mut().reset(tokio::time::Instant::now() + self.keepalive);
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
                    loop {
                        let frame = match dec.next_frame() {
                            Ok(Some(f)) => f,
                            Ok(None) => break,
                            Err(e) => return End::Lost(format!("the server sent a {e}")),
                        };
                        if let Err(end) = self.on_frame(&frame, &mut wr, delay).await {
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

    /// Forwards a notice; false when the app has stopped listening.
    async fn notify(&self, notice: Notice) -> bool {
        self.notices.send(notice).await.is_ok()
    }

    /// Queues a request for when the connection is back.
    fn enqueue(&mut self, w: Waiter) {
        if self.queue.len() >= MAX_QUEUED {
            let _ = w.tx.send(Err(ConnError::NotConnected));
        } else {
            self.queue.push_back(w);
        }
    }

    /// Waits `d` while queueing requests; false when the app is gone.
    async fn pause(&mut self, d: Duration) -> bool {
        let sleep = tokio::time::sleep(d);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                cmd = self.cmds.recv() => match cmd {
                    Some(w) => self.enqueue(w),
                    None => return false,
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
        let line = RequestFrame {
            id: Some(id),
            request: w.request.clone(),
        }
        .to_line();
        if matches!(w.request, Request::Logout { .. }) {
            // From now on a reconnect must not log this user in again.
            self.session = None;
        }
        self.pending.insert(id, w);
        wr.write_all(&line)
            .await
            .map_err(|e| End::Lost(e.to_string()))
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
        let pending = std::mem::take(&mut self.pending);
        let mut again = VecDeque::new();
        for (_, w) in pending {
            if retryable(&w.request) && !w.tx.is_closed() {
                again.push_back(w);
            } else {
                let _ = w.tx.send(Err(ConnError::Lost));
            }
        }
        again.append(&mut self.queue);
        self.queue = again;
        while self.queue.len() > MAX_QUEUED {
            if let Some(w) = self.queue.pop_back() {
                let _ = w.tx.send(Err(ConnError::NotConnected));
            }
        }
    }

    async fn on_frame(
        &mut self,
        frame: &[u8],
        wr: &mut OwnedWriteHalf,
        delay: &mut Duration,
    ) -> Result<(), End> {
        let Ok(text) = std::str::from_utf8(frame) else {
            return self.garbled("a frame that is not UTF-8".into()).await;
        };
        let reply = match ServerFrame::parse(text) {
            Err(e) => return self.garbled(format!("an unreadable frame ({e})")).await,
            Ok(ServerFrame::Event(ev)) => {
                return match self.notify(Notice::Event(ev)).await {
                    true => Ok(()),
                    false => Err(End::Stopped),
                };
            }
            Ok(ServerFrame::Reply(r)) => r,
        };
        let Some(re) = reply.re else {
            let what = match &reply.result {
                Err(e) => format!("{}: {}", e.code, e.error),
                Ok(_) => "a reply to no request".into(),
            };
            return self.garbled(what).await;
        };
        if self.relogin == Some(re) {
            self.relogin = None;
            return self.on_relogin(reply, wr, delay).await;
        }
        let Some(w) = self.pending.remove(&re) else {
            return self
                .garbled(format!("a reply to unknown request {re}"))
                .await;
        };
        if let Request::Login { user, .. } = &w.request
            && let Ok(li) = reply.body::<LoggedIn>()
        {
            self.session = Some(Session {
                user: *user,
                token: li.token,
            });
        }
        // The caller may have given up waiting; that is fine.
        let _ = w.tx.send(Ok(reply));
        Ok(())
    }

    async fn on_relogin(
        &mut self,
        reply: Reply,
        wr: &mut OwnedWriteHalf,
        delay: &mut Duration,
    ) -> Result<(), End> {
        match &reply.result {
            Ok(_) => {
                let li = match reply.body::<LoggedIn>() {
                    Ok(li) => li,
                    Err(e) => return Err(End::Lost(format!("logging in again failed: {e}"))),
                };
                *delay = BACKOFF_MIN;
                if !self
                    .notify(Notice::Reconnected {
                        login: Some(Box::new(li)),
                    })
                    .await
                {
                    return Err(End::Stopped);
                }
                self.flush_queue(wr).await
            }
            Err(e) if e.code == ErrorCode::BadCredentials => {
                // The token is no good any more: the session is over, and
                // what was waiting for it with it.
                self.session = None;
                for w in self.queue.drain(..) {
                    let _ = w.tx.send(Err(ConnError::SessionEnded));
                }
                if !self.notify(Notice::SessionRejected(e.clone())).await {
                    return Err(End::Stopped);
                }
                Ok(())
            }
            Err(e) => Err(End::Lost(format!(
                "logging in again failed: {}: {}",
                e.code, e.error
            ))),
        }
    }

    async fn garbled(&self, what: String) -> Result<(), End> {
        match self.notify(Notice::Garbled(what)).await {
            true => Ok(()),
            false => Err(End::Stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_harmless_requests_are_retried() {
        assert!(retryable(&Request::Sync));
        assert!(retryable(&Request::Ack { ids: vec![1] }));
        assert!(retryable(&Request::Chat {
            to: 1,
            text: "x".into(),
            cid: Some("c1".into())
        }));
        assert!(!retryable(&Request::Chat {
            to: 1,
            text: "x".into(),
            cid: None
        }));
        assert!(!retryable(&Request::CreateGroup {
            name: "g".into(),
            desc: String::new()
        }));
        assert!(!retryable(&Request::AddFriend { user: 1 }));
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }
}
