//! One connection's session, whatever carries it: read frames from an
//! [`Input`], check them against the connection's limits, hand each request
//! to [`service::handle`], and queue the replies, in request order, on the
//! connection's [`Outbox`].
//!
//! Requests that go through the batching writer (`chat`, `group_chat`,
//! `ack`) are pipelined: the session reads on while they commit, and their
//! replies wait in `pending`, in request order. Any other request first
//! waits for the pending ones, so its effects follow theirs. The session
//! never looks at which op a request is: that is the service's.
//!
//! Idle time counts complete frames only: bytes that never finish a frame
//! do not keep a connection open, and a frame must finish within the frame
//! timeout of its first byte.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::BytesMut;
use chat_proto::{DecodeError, ErrorCode, Frame};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::limits::{RateLimiter, Verdict};
use crate::node::Node;
use crate::outbox::Outbox;
use crate::service::{self, Conn, Failure, OpResult, Outcome};

/// Replies that wait for the writer, in request order.
type PendingReply = Pin<Box<dyn Future<Output = Vec<u8>> + Send>>;

/// Most pipelined requests one connection may have in flight.
const MAX_PIPELINE: usize = 1024;

/// What a transport yields.
pub enum Incoming {
    /// One complete frame.
    Frame(BytesMut),
    /// A frame that can never be a request (e.g. a binary WebSocket
    /// message): answered with this failure, the connection goes on.
    Refused(Failure),
    /// A frame past the limit: answered, then the connection closes.
    TooLarge(String),
    /// Bytes arrived that do not finish a frame yet.
    Partial,
    /// The peer closed, or the transport failed.
    Closed,
}

/// A connection's incoming side.
pub trait Input: Send {
    /// A frame already read, without waiting.
    fn ready(&mut self) -> Option<Incoming>;
    /// Waits for the next frame. Must be cancel-safe: the session drops it
    /// when a reply or a deadline comes first, and nothing read may be
    /// lost.
    fn next(&mut self) -> impl Future<Output = Incoming> + Send;
    /// Whether bytes of an unfinished frame are waiting.
    fn partial(&self) -> bool;
    /// Gives back buffer memory while the connection rests.
    fn rest(&mut self) {}
}

/// One connection's session.
pub struct Session {
    node: Node,
    conn: Conn,
    limiter: RateLimiter,
    pending: FuturesOrdered<PendingReply>,
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

/// Runs a session over `input` until the connection ends or `shutdown`
/// fires; its replies and events go to `outbox`, which the transport
/// drains.
pub async fn run(
    node: Node,
    peer: SocketAddr,
    outbox: Arc<Outbox>,
    input: &mut impl Input,
    shutdown: &CancellationToken,
) {
    let sid = node.next_sid();
    let limiter = RateLimiter::new(
        node.config.rate,
        node.config.burst,
        std::time::Instant::now(),
    );
    let mut session = Session {
        conn: Conn::new(sid, peer.ip(), outbox),
        node,
        limiter,
        pending: FuturesOrdered::new(),
    };
    tracing::debug!(%peer, sid, "connected");
    session.read_loop(input, shutdown).await;
    session.finish().await;
    tracing::debug!(%peer, sid, "closed");
}

impl Session {
    async fn read_loop(&mut self, input: &mut impl Input, shutdown: &CancellationToken) {
        let idle = self.node.config.idle_timeout();
        let frame_timeout = self.node.config.frame_timeout();
        let mut last_frame = Instant::now();
        let mut partial_since: Option<Instant> = None;
        loop {
            // Everything already read first: one wake-up, many frames.
            while let Some(incoming) = input.ready() {
                // Boxed, like the ops below it: a resting connection should
                // not carry the size of a request's state.
                if !Box::pin(self.on_incoming(incoming, &mut last_frame)).await {
                    return;
                }
            }
            partial_since = match (input.partial(), partial_since) {
                (false, _) => None,
                (true, None) => Some(Instant::now()),
                (true, since) => since,
            };
            // A client that promised a heartbeat and went silent for much
            // longer is gone (a frozen client, a sleeping laptop).
            let idle = match self.conn.heartbeat {
                Some(beat) => idle.min(beat * 5 / 2),
                None => idle,
            };
            let mut deadline = last_frame + idle;
            if let Some(since) = partial_since {
                deadline = deadline.min(since + frame_timeout);
            }
            if partial_since.is_none() && self.pending.is_empty() {
                input.rest();
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = self.conn.outbox.wait_closed() => return,
                Some(line) = self.pending.next(), if !self.pending.is_empty() => {
                    self.conn.outbox.push(line.into());
                }
                incoming = input.next() => {
                    if !Box::pin(self.on_incoming(incoming, &mut last_frame)).await {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::debug!(sid = self.conn.sid, "idle timeout");
                    return;
                }
            }
        }
    }

    /// Acts on what the transport yielded; false when the connection must
    /// close.
    async fn on_incoming(&mut self, incoming: Incoming, last_frame: &mut Instant) -> bool {
        match incoming {
            Incoming::Frame(line) => {
                *last_frame = Instant::now();
                self.on_frame(&line).await;
                !self.conn.closing
            }
            Incoming::Refused(f) => {
                *last_frame = Instant::now();
                self.reply(None, Err(f));
                true
            }
            Incoming::TooLarge(what) => {
                self.drain_pending().await;
                let f = Failure::new(
                    ErrorCode::FrameTooLarge,
                    format!("{what}; closing the connection"),
                );
                self.conn.outbox.push(f.encode(None).into());
                false
            }
            Incoming::Partial => true,
            Incoming::Closed => false,
        }
    }

    /// Answers everything in flight, ends the session, and lets the writer
    /// flush and close.
    async fn finish(&mut self) {
        self.drain_pending().await;
        service::disconnect(&self.node, &mut self.conn).await;
        self.conn.outbox.close();
    }

    async fn drain_pending(&mut self) {
        while let Some(line) = self.pending.next().await {
            self.conn.outbox.push(line.into());
        }
    }

    /// Queues a reply after those in flight.
    fn reply(&mut self, re: Option<u64>, result: OpResult) {
        let line = service::outcome::encode(re, &result);
        if self.pending.is_empty() {
            self.conn.outbox.push(line.into());
        } else {
            self.pending.push_back(Box::pin(std::future::ready(line)));
        }
    }

    /// Queues a reply that comes when `later` resolves.
    async fn reply_later(
        &mut self,
        re: Option<u64>,
        later: Pin<Box<dyn Future<Output = OpResult> + Send>>,
    ) {
        if self.pending.len() >= MAX_PIPELINE
            && let Some(line) = self.pending.next().await
        {
            self.conn.outbox.push(line.into());
        }
        self.pending.push_back(Box::pin(async move {
            service::outcome::encode(re, &later.await)
        }));
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
                self.reply(re, Err(f));
                if verdict == Verdict::Kick {
                    tracing::info!(
                        sid = self.conn.sid,
                        "closing a connection that ignores rate limits"
                    );
                    self.conn.closing = true;
                }
                return;
            }
        }
        let frame = match parsed {
            Ok(f) => f,
            Err(e) => return self.reply(re, Err(decode_failure(&e))),
        };
        crate::metrics::request(frame.op.as_str());
        if let Err(f) = service::admit(&self.conn, frame.op) {
            return self.reply(re, Err(f));
        }
        let request = match frame.request() {
            Ok(r) => r,
            Err(e) => return self.reply(re, Err(e.into())),
        };
        if !service::pipelined(&request) {
            self.drain_pending().await;
        }
        let outcome = service::handle(&self.node, &mut self.conn, request).await;
        match outcome {
            Outcome::Reply(result) => self.reply(re, result),
            Outcome::Later(later) => self.reply_later(re, later).await,
            Outcome::ReplyThen(result, then) => {
                self.reply(re, result);
                then.await;
            }
        }
    }
}
