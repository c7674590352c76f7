//! One connection: read frames, check them, dispatch them to the services,
//! and queue the replies, in order, on the connection's [`Outbox`].
//!
//! A connection has two tasks: this one reads and dispatches; a writer task
//! drains the outbox to the socket, many frames per write. `chat`,
//! `group_chat` and `ack` are pipelined: once checked they go to the
//! batching writer and the session reads on while the commit happens;
//! their replies wait in `pending`, in request order. Any other op first
//! waits for the pending ones, so its effects follow theirs.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use chat_proto::reply::LoggedIn;
use chat_proto::{Credential, DecodeError, ErrorCode, Event, Frame, LineDecoder, Request, User};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::hub::SessionRef;
use crate::limits::{RateLimiter, Verdict};
use crate::node::Node;
use crate::outbox::{Next, Outbox, OutboxReceiver};
use crate::service::{Caller, Failure, OpResult, Reply, accounts, friends, groups, messages};

/// Replies that wait for the writer, in request order.
type PendingReply = Pin<Box<dyn Future<Output = Vec<u8>> + Send>>;

/// Most pipelined requests one connection may have in flight.
const MAX_PIPELINE: usize = 1024;
/// Most bytes the writer puts in one socket write.
const WRITE_CHUNK: usize = 64 * 1024;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 4 * 1024;

struct LoggedInState {
    caller: Caller,
    token_hash: [u8; 32],
}

struct Session {
    node: Node,
    sid: u64,
    outbox: Arc<Outbox>,
    login: Option<LoggedInState>,
    failed_logins: u32,
    limiter: RateLimiter,
    pending: FuturesOrdered<PendingReply>,
    /// Set when the connection must close once the replies so far are out.
    closing: bool,
}

/// Serves one accepted connection until it closes or `shutdown` fires.
pub async fn serve(node: Node, stream: TcpStream, peer: SocketAddr, shutdown: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (outbox, orx) = Outbox::new(node.config.outbox_bytes);
    let writer = tokio::spawn(write_loop(wr, orx, outbox.clone()));
    let sid = node.next_sid();
    let limiter = RateLimiter::new(
        node.config.rate,
        node.config.burst,
        std::time::Instant::now(),
    );
    let mut session = Session {
        node,
        sid,
        outbox,
        login: None,
        failed_logins: 0,
        limiter,
        pending: FuturesOrdered::new(),
        closing: false,
    };
    tracing::debug!(%peer, sid, "connected");
    session.read_loop(rd, &shutdown).await;
    session.finish().await;
    let _ = writer.await;
    tracing::debug!(%peer, sid, "closed");
}

/// Drains the outbox to the socket until it is closed, or the reader fell
/// too far behind.
async fn write_loop(mut wr: OwnedWriteHalf, mut rx: OutboxReceiver, outbox: Arc<Outbox>) {
    let mut buf = Vec::new();
    loop {
        match rx.next_batch(&outbox, &mut buf, WRITE_CHUNK).await {
            Next::Write => {
                let n = buf.len();
                let written = tokio::select! {
                    r = wr.write_all(&buf) => r.is_ok(),
                    _ = outbox.wait_overflow() => false,
                };
                if !written {
                    break;
                }
                rx.ack_written(&outbox, n);
                buf.clear();
            }
            Next::Closed => {
                let _ = wr.shutdown().await;
                break;
            }
            Next::Overflowed => break,
        }
        // Keep no buffer while idle: thousands of quiet connections should
        // cost almost nothing.
        if buf.capacity() > 0 && outbox.queued_bytes() == 0 {
            buf = Vec::new();
        }
    }
    // Readers blocked on this connection must notice it is gone.
    outbox.close();
}

fn decode_failure(e: &DecodeError) -> Failure {
    match e {
        DecodeError::BadJson(m) => Failure::new(ErrorCode::BadJson, m.clone()),
        DecodeError::BadRequest { error, .. } => Failure::new(ErrorCode::BadRequest, error.clone()),
        DecodeError::UnknownOp { op, .. } => {
            Failure::new(ErrorCode::UnknownOp, format!("unknown op `{op}`"))
        }
    }
}

impl Session {
    async fn read_loop(&mut self, rd: OwnedReadHalf, shutdown: &CancellationToken) {
        let mut dec = LineDecoder::new(self.node.config.max_frame, 0);
        let idle = self.node.config.idle_timeout();
        let mut deadline = Instant::now() + idle;
        loop {
            loop {
                match dec.next_frame() {
                    Ok(Some(line)) => {
                        self.on_frame(&line).await;
                        if self.closing {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(too_large) => {
                        self.drain_pending().await;
                        let f = Failure::new(
                            ErrorCode::FrameTooLarge,
                            format!("{too_large}; closing the connection"),
                        );
                        self.outbox.push(f.encode(None).into());
                        return;
                    }
                }
            }
            // Keep no buffer while idle.
            dec.shrink(0, 0);
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = self.outbox.wait_closed() => return,
                Some(line) = self.pending.next(), if !self.pending.is_empty() => {
                    self.outbox.push(line.into());
                }
                ready = rd.readable() => {
                    if ready.is_err() {
                        return;
                    }
                    let buf = dec.buffer();
                    buf.reserve(READ_CHUNK);
                    match rd.try_read_buf(buf) {
                        Ok(0) => return,
                        Ok(_) => deadline = Instant::now() + idle,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::debug!(sid = self.sid, "idle timeout");
                    return;
                }
            }
        }
    }

    /// Answers everything in flight, ends the session, and lets the writer
    /// flush and close.
    async fn finish(&mut self) {
        self.drain_pending().await;
        if let Some(state) = self.login.take() {
            self.end_session(state).await;
        }
        self.outbox.close();
    }

    async fn drain_pending(&mut self) {
        while let Some(line) = self.pending.next().await {
            self.outbox.push(line.into());
        }
    }

    /// Queues a reply after those in flight.
    fn reply_later(&mut self, line: Vec<u8>) {
        if self.pending.is_empty() {
            self.outbox.push(line.into());
        } else {
            self.pending.push_back(Box::pin(std::future::ready(line)));
        }
    }

    fn encode(re: Option<u64>, result: OpResult) -> Vec<u8> {
        match result {
            Ok(reply) => reply.encode(re),
            Err(f) => f.encode(re),
        }
    }

    async fn on_frame(&mut self, line: &[u8]) {
        let parsed = Frame::parse(line);
        let re = match &parsed {
            Ok(f) => f.id,
            Err(e) => e.id(),
        };
        match self.limiter.check(std::time::Instant::now()) {
            Verdict::Allow => {}
            verdict => {
                let f = Failure::new(ErrorCode::RateLimited, "too many requests; slow down");
                self.reply_later(f.encode(re));
                if verdict == Verdict::Kick {
                    tracing::info!(
                        sid = self.sid,
                        "closing a connection that ignores rate limits"
                    );
                    self.closing = true;
                }
                return;
            }
        }
        let frame = match parsed {
            Ok(f) => f,
            Err(e) => {
                self.reply_later(decode_failure(&e).encode(re));
                return;
            }
        };
        crate::metrics::request(frame.op.as_str());
        if self.login.is_none() && !frame.op.allowed_before_login() {
            let f = Failure::new(ErrorCode::NotLoggedIn, "log in first");
            self.reply_later(f.encode(re));
            return;
        }
        let request = match frame.request() {
            Ok(r) => r,
            Err(e) => {
                self.reply_later(Failure::from(e).encode(re));
                return;
            }
        };
        // Boxed: the ops' states are large and short-lived; a resting
        // connection should not carry their size.
        Box::pin(self.dispatch(re, request)).await;
    }

    fn caller(&self) -> Option<Caller> {
        self.login.as_ref().map(|l| l.caller.clone())
    }

    async fn dispatch(&mut self, re: Option<u64>, request: Request) {
        // Pipelined ops: checked now, answered when the writer commits.
        let submitted = match request {
            Request::Chat { to, text, cid } => {
                let Some(caller) = self.caller() else { return };
                match messages::check_chat(&self.node, &caller, to, text, cid).await {
                    Ok(draft) => Some(self.node.writer.send(draft).await),
                    Err(f) => {
                        self.reply_later(f.encode(re));
                        return;
                    }
                }
            }
            Request::GroupChat { group, text, cid } => {
                let Some(caller) = self.caller() else { return };
                match messages::check_group_chat(&self.node, &caller, group, text, cid).await {
                    Ok(draft) => Some(self.node.writer.send(draft).await),
                    Err(f) => {
                        self.reply_later(f.encode(re));
                        return;
                    }
                }
            }
            Request::Ack { ids } => {
                let Some(caller) = self.caller() else { return };
                Some(self.node.writer.ack(caller.user.id, ids).await)
            }
            other => {
                self.drain_pending().await;
                let result = self.execute(re, other).await;
                if let Some(result) = result {
                    self.outbox.push(Self::encode(re, result).into());
                }
                None
            }
        };
        if let Some(submitted) = submitted {
            match submitted {
                Ok(rx) => {
                    if self.pending.len() >= MAX_PIPELINE
                        && let Some(line) = self.pending.next().await
                    {
                        self.outbox.push(line.into());
                    }
                    self.pending.push_back(Box::pin(async move {
                        Self::encode(re, messages::written(rx.await))
                    }));
                }
                Err(e) => self.reply_later(Failure::from(e).encode(re)),
            }
        }
    }

    /// Runs a non-pipelined op. Returns `None` when the op queued its own
    /// reply (`login`, which must put its reply before the replay).
    async fn execute(&mut self, re: Option<u64>, request: Request) -> Option<OpResult> {
        let node = self.node.clone();
        let caller = match request {
            Request::Ping => return Some(Ok(Reply::Empty)),
            Request::Register { name, password } => {
                return Some(accounts::register(&node, name, password).await);
            }
            Request::Login { user, credential } => {
                return match self.login(re, user, credential).await {
                    Ok(()) => None,
                    Err(f) => Some(Err(f)),
                };
            }
            Request::Logout { revoke } => return Some(self.logout(revoke).await),
            // on_frame lets only the ops above through before login.
            _ => match self.caller() {
                Some(c) => c,
                None => return Some(Err(Failure::new(ErrorCode::NotLoggedIn, "log in first"))),
            },
        };
        let c = &caller;
        Some(match request {
            Request::Whoami => accounts::whoami(c),
            Request::Sync => accounts::sync(&node, c).await,
            Request::AddFriend { user } => friends::add(&node, c, user).await,
            Request::RemoveFriend { user } => friends::remove(&node, c, user).await,
            Request::CreateGroup { name, desc } => groups::create(&node, c, name, desc).await,
            Request::JoinGroup { group } => groups::join(&node, c, group).await,
            Request::QuitGroup { group } => groups::quit(&node, c, group).await,
            Request::DeleteGroup { group } => groups::delete(&node, c, group).await,
            Request::GroupMembers { group } => groups::members(&node, c, group).await,
            Request::History {
                target,
                before,
                limit,
            } => messages::history(&node, c, target, before, limit).await,
            // Handled above, or pipelined in dispatch.
            Request::Ping
            | Request::Register { .. }
            | Request::Login { .. }
            | Request::Logout { .. }
            | Request::Chat { .. }
            | Request::GroupChat { .. }
            | Request::Ack { .. } => Err(Failure::new(ErrorCode::Internal, "internal error")),
        })
    }

    /// `login`: checks the credential, joins the hub, replies, then replays
    /// the unacked inbox, then lets live events through.
    async fn login(
        &mut self,
        re: Option<u64>,
        user: u64,
        credential: Credential,
    ) -> Result<(), Failure> {
        if self.login.is_some() {
            return Err(Failure::new(
                ErrorCode::AlreadyLoggedIn,
                "this connection is already logged in; log out first",
            ));
        }
        let auth = match accounts::authenticate(&self.node, user, credential).await {
            Ok(a) => a,
            Err(f) => {
                if f.code == ErrorCode::BadCredentials {
                    self.failed_logins += 1;
                    if self.failed_logins >= self.node.config.max_failed_logins {
                        tracing::info!(sid = self.sid, "too many failed logins; closing");
                        self.closing = true;
                    }
                }
                return Err(f);
            }
        };
        let uid = auth.user.id;
        self.outbox.hold();
        let first = self
            .node
            .router
            .attach(
                uid,
                SessionRef {
                    sid: self.sid,
                    outbox: self.outbox.clone(),
                },
            )
            .await;
        crate::metrics::session_started();
        let state = LoggedInState {
            caller: Caller {
                user: auth.user.clone(),
                sid: self.sid,
            },
            token_hash: auth.token_hash,
        };
        // Read after joining the hub: a message committed from now on is
        // either in this snapshot's inbox or held for this session.
        let (friends, groups, (mark, unread)) = match accounts::lists(&self.node, uid).await {
            Ok(l) => l,
            Err(f) => {
                self.end_session(state).await;
                self.outbox.release(&HashSet::new());
                return Err(f);
            }
        };
        self.login = Some(state);
        tracing::info!(user = uid, sid = self.sid, unread, "logged in");
        let reply = Reply::LoggedIn(LoggedIn {
            user: User {
                id: uid,
                name: auth.user.name,
                online: None,
            },
            token: auth.token,
            friends,
            groups,
            unread,
        });
        self.outbox.push(reply.encode(re).into());
        let sent = self.replay(uid, mark).await;
        self.outbox.release(&sent);
        if first {
            accounts::announce_presence(&self.node, uid).await;
        }
        Ok(())
    }

    /// Pushes the inbox up to `mark`, oldest first, paced by how fast the
    /// client reads. Returns the ids sent.
    async fn replay(&mut self, user: u64, mark: u64) -> HashSet<u64> {
        let mut sent = HashSet::new();
        let mut inbox = messages::InboxCursor::new(user, 0, mark);
        let pace = self.node.config.outbox_bytes / 2;
        loop {
            let page = match inbox.next_page(&*self.node.store).await {
                Ok(p) if p.is_empty() => break,
                Ok(p) => p,
                Err(e) => {
                    // What was not replayed stays in the inbox for the next
                    // login.
                    tracing::warn!(user, error = %e, "inbox replay cut short");
                    break;
                }
            };
            for msg in page {
                sent.insert(msg.id);
                self.outbox.push(Bytes::from(Event::Msg { msg }.to_line()));
            }
            // A client that stops reading mid-replay is dropped after the
            // idle timeout, like any silent client.
            let idle = self.node.config.idle_timeout();
            if tokio::time::timeout(idle, self.outbox.wait_below(pace))
                .await
                .is_err()
            {
                tracing::info!(
                    user,
                    sid = self.sid,
                    "client stopped reading during the replay"
                );
                self.outbox.close();
            }
            if self.outbox.is_closed() {
                break;
            }
        }
        sent
    }

    async fn logout(&mut self, revoke: bool) -> OpResult {
        let Some(state) = self.login.as_ref() else {
            return Err(Failure::new(ErrorCode::NotLoggedIn, "log in first"));
        };
        if revoke {
            accounts::revoke(&self.node, &state.token_hash).await?;
        }
        if let Some(state) = self.login.take() {
            self.end_session(state).await;
        }
        Ok(Reply::Empty)
    }

    /// Leaves the hub and, when this was the user's last session, tells
    /// the friends.
    async fn end_session(&mut self, state: LoggedInState) {
        let uid = state.caller.user.id;
        crate::metrics::session_ended();
        if self.node.router.detach(uid, self.sid).await {
            accounts::announce_presence(&self.node, uid).await;
        }
        tracing::info!(user = uid, sid = self.sid, "session ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_of_future<A, B, C, D, F: Future>(_: fn(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    fn size_of_future3<A, B, C, F: Future>(_: fn(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// What one connection costs at rest: its two tasks' futures. 100k idle
    /// sessions must fit in well under a gigabyte.
    #[test]
    fn connection_futures_stay_small() {
        let reader = size_of_future(serve);
        let writer = size_of_future3(write_loop);
        eprintln!("session future {reader} bytes, writer future {writer} bytes");
        assert!(reader + writer < 2048, "{reader} + {writer}");
    }
}
