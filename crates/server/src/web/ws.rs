//! The WebSocket transport: each text message is one frame, both ways. The
//! read half feeds a [`session`](crate::session) like any other transport;
//! the write half drains the connection's outbox, one message a frame,
//! and pings a quiet peer.
//!
//! Close codes: 1009 after `frame_too_large`, 1008 for a reader that fell
//! too far behind, 1000 otherwise. A peer that answers nothing (not even a
//! pong) for two ping intervals is gone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::{Bytes, BytesMut};
use chat_proto::ErrorCode;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::node::Node;
use crate::outbox::{Next, Outbox, OutboxReceiver};
use crate::service::Failure;
use crate::session::{self, Incoming, Input};

/// Most bytes of frames handed to the socket in one flush.
const WRITE_CHUNK: usize = 64 * 1024;
/// How long a closing connection reads on, for the peer's close frame.
const LINGER: Duration = Duration::from_secs(2);
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;

/// Frames from a WebSocket.
struct WsInput {
    rd: SplitStream<WebSocket>,
    max_frame: usize,
    /// When the peer must have sent something by (any message, a pong).
    alive_until: Instant,
    ping: Duration,
    /// The close code the writer sends.
    close: Arc<AtomicU16>,
}

impl WsInput {
    fn too_large(&self) -> Incoming {
        self.close.store(CLOSE_TOO_BIG, Ordering::Relaxed);
        Incoming::TooLarge(format!("frame longer than {} bytes", self.max_frame))
    }
}

impl Input for WsInput {
    fn ready(&mut self) -> Option<Incoming> {
        None
    }

    async fn next(&mut self) -> Incoming {
        loop {
            let msg = match tokio::time::timeout_at(self.alive_until, self.rd.next()).await {
                Err(_) => {
                    tracing::debug!("websocket peer stopped answering pings");
                    return Incoming::Closed;
                }
                Ok(None) => return Incoming::Closed,
                Ok(Some(Err(e))) => {
                    // A message past the library's own limit (set well
                    // above ours) is refused like any frame too large.
                    let too_big = e
                        .into_inner()
                        .downcast::<tungstenite::Error>()
                        .is_ok_and(|e| matches!(*e, tungstenite::Error::Capacity(_)));
                    return if too_big {
                        self.too_large()
                    } else {
                        Incoming::Closed
                    };
                }
                Ok(Some(Ok(m))) => m,
            };
            self.alive_until = Instant::now() + self.ping * 2;
            match msg {
                Message::Text(text) => {
                    let mut line = text.as_str().as_bytes();
                    if let Some(l) = line.strip_suffix(b"\n") {
                        line = l.strip_suffix(b"\r").unwrap_or(l);
                    }
                    if line.len() > self.max_frame {
                        return self.too_large();
                    }
                    return Incoming::Frame(BytesMut::from(line));
                }
                Message::Binary(_) => {
                    return Incoming::Refused(Failure::new(
                        ErrorCode::BadJson,
                        "a frame must be a text message holding a JSON object",
                    ));
                }
                Message::Close(_) => return Incoming::Closed,
                // Pings are answered by the library; both are signs of life.
                Message::Ping(_) | Message::Pong(_) => continue,
            }
        }
    }

    fn partial(&self) -> bool {
        false
    }
}

/// Drains the outbox into the socket, one text message a frame, and pings
/// the peer when nothing was sent for a while.
async fn write_loop(
    mut wr: SplitSink<WebSocket, Message>,
    mut rx: OutboxReceiver,
    outbox: Arc<Outbox>,
    ping: Duration,
    close: Arc<AtomicU16>,
) {
    let mut frames: Vec<Bytes> = Vec::new();
    let code = loop {
        let next = tokio::select! {
            n = rx.next_frames(&outbox, &mut frames, WRITE_CHUNK) => n,
            _ = tokio::time::sleep(ping) => {
                if wr.send(Message::Ping(Bytes::new())).await.is_err() {
                    break CLOSE_NORMAL;
                }
                continue;
            }
        };
        match next {
            Next::Write => {
                let n: usize = frames.iter().map(Bytes::len).sum();
                let mut ok = true;
                for f in frames.drain(..) {
                    let text = f
                        .strip_suffix(b"\n")
                        .map_or(f.clone(), |t| f.slice(..t.len()));
                    // Our frames are JSON we encoded: always UTF-8.
                    let Ok(text) = Utf8Bytes::try_from(text) else {
                        continue;
                    };
                    if wr.feed(Message::Text(text)).await.is_err() {
                        ok = false;
                        break;
                    }
                }
                let flushed = ok
                    && tokio::select! {
                        r = wr.flush() => r.is_ok(),
                        _ = outbox.wait_overflow() => false,
                    };
                if !flushed {
                    break CLOSE_NORMAL;
                }
                rx.ack_written(&outbox, n);
            }
            Next::Closed => break close.load(Ordering::Relaxed),
            Next::Overflowed => break CLOSE_POLICY,
        }
    };
    let reason = match code {
        CLOSE_TOO_BIG => "frame too large",
        CLOSE_POLICY => "too far behind",
        _ => "",
    };
    let _ = wr
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
    outbox.close();
}

/// Serves one WebSocket until it closes or `shutdown` fires.
pub async fn serve(node: Node, socket: WebSocket, peer: SocketAddr, shutdown: CancellationToken) {
    let (wr, rd) = socket.split();
    let (outbox, orx) = Outbox::new(node.config.outbox_bytes);
    let ping = node.config.ws_ping();
    let close = Arc::new(AtomicU16::new(CLOSE_NORMAL));
    let writer = tokio::spawn(write_loop(wr, orx, outbox.clone(), ping, close.clone()));
    let mut input = WsInput {
        rd,
        max_frame: node.config.max_frame,
        alive_until: Instant::now() + ping * 2,
        ping,
        close,
    };
    session::run(node, peer, outbox, &mut input, &shutdown).await;
    // Read on (discarding) while the writer sends the close frame and the
    // peer answers it: closing a socket with unread bytes resets it, and
    // the peer would lose the close frame and the last replies.
    let mut rd = input.rd;
    let linger = async { while let Some(Ok(_)) = rd.next().await {} };
    let (_, _) = tokio::join!(writer, tokio::time::timeout(LINGER, linger));
}
