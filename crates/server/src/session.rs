//! One connection: read frames, check them against the connection's
//! limits, hand each request to [`service::handle`], and queue the
//! replies, in request order, on the connection's [`Outbox`].
//!
//! A connection has two tasks: this one reads and hands requests in; a
//! writer task drains the outbox to the socket, many frames per write.
//! Requests that go through the batching writer (`chat`, `group_chat`,
//! `ack`) are pipelined: the session reads on while they commit, and
//! their replies wait in `pending`, in request order. Any other request
//! first waits for the pending ones, so its effects follow theirs. The
//! session never looks at which op a request is: that is the service's.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use chat_proto::{DecodeError, ErrorCode, Frame, LineDecoder};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::limits::{RateLimiter, Verdict};
use crate::node::Node;
use crate::outbox::{Next, Outbox, OutboxReceiver};
use crate::service::{self, Conn, Failure, OpResult, Outcome};

/// Replies that wait for the writer, in request order.
type PendingReply = Pin<Box<dyn Future<Output = Vec<u8>> + Send>>;

/// Most pipelined requests one connection may have in flight.
const MAX_PIPELINE: usize = 1024;
/// Most bytes the writer puts in one socket write.
const WRITE_CHUNK: usize = 64 * 1024;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 4 * 1024;

struct Session {
    node: Node,
    conn: Conn,
    limiter: RateLimiter,
    pending: FuturesOrdered<PendingReply>,
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
        conn: Conn::new(sid, peer.ip(), outbox),
        node,
        limiter,
        pending: FuturesOrdered::new(),
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
                        if self.conn.closing {
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
                        self.conn.outbox.push(f.encode(None).into());
                        return;
                    }
                }
            }
            // Keep no buffer while idle.
            dec.shrink(0, 0);
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = self.conn.outbox.wait_closed() => return,
                Some(line) = self.pending.next(), if !self.pending.is_empty() => {
                    self.conn.outbox.push(line.into());
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
                    tracing::debug!(sid = self.conn.sid, "idle timeout");
                    return;
                }
            }
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
        // Boxed: the ops' states are large and short-lived; a resting
        // connection should not carry their size.
        let outcome = Box::pin(service::handle(&self.node, &mut self.conn, request)).await;
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
