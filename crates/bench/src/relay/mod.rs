//! `chatbench relay [HOST] [PORT]`: the chat path with nothing behind it,
//! to measure what this machine can do with the same driver, so that the
//! server can be quoted as a ratio of it.
//!
//! It speaks the subset of the protocol (version 2) that the `one-to-one`,
//! `idle` and `login` workloads use: `register`, `login` (password or
//! token), `logout`, `add_friend`/`accept_friend`, `chat` with live `msg`
//! events to the recipient's sessions and the sender's other ones, `ack`
//! and `ping`; the same framing (newline-delimited JSON, one reply per
//! request, in order). Everything lives in memory ([`world`], with
//! friendship in `world/friends.rs` and the JSON output in `json.rs`);
//! nothing is stored, so nothing waits for a disk.
//!
//! It is built the way a real server would be, so the ratio is fair: a
//! multi-threaded tokio runtime, one reader and one writer task per
//! connection, the reader answering a whole read's worth of requests in
//! one batch, the writer coalescing everything queued into one write, and
//! each message encoded once for all its recipients. Each connection's
//! queue is bounded: a reader that falls behind is dropped.

mod json;
pub mod world;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use chat_proto::LineDecoder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use json::err_reply;
use world::{Outbox, Req, Session, World};

/// Longest request line, as the server's default.
const MAX_FRAME: usize = chat_proto::DEFAULT_MAX_FRAME;
/// Chunks (a batch of replies, or one event) queued per connection before
/// it counts as a reader that fell behind.
const QUEUE: usize = 8192;
/// Bytes gathered into one write.
const WRITE_BATCH: usize = 256 * 1024;
/// Bytes read per read call.
const READ_CHUNK: usize = 16 * 1024;

/// Serves on `listener` until `shutdown` completes; then stops accepting
/// and drops every connection.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    let world = Arc::new(World::default());
    let conns = Arc::new(AtomicU64::new(1));
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let conn = conns.fetch_add(1, Relaxed);
                    tasks.spawn(connection(world.clone(), stream, conn));
                }
                // Out of file descriptors, or a connection reset before
                // it was accepted: wait a little and go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// One connection: reads requests and answers them in order; a writer
/// task sends the replies and the events queued by other sessions.
async fn connection(world: Arc<World>, stream: TcpStream, conn: u64) {
    let _ = stream.set_nodelay(true);
    let (mut rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel(QUEUE);
    let overflowed = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_loop(wr, rx, overflowed.clone()));
    let mut session = Session {
        outbox: Outbox::new(conn, tx.clone(), overflowed),
        user: None,
    };
    let mut dec = LineDecoder::new(MAX_FRAME, 0);
    let mut replies = Vec::new();
    'read: loop {
        dec.buffer().reserve(READ_CHUNK);
        match rd.read_buf(dec.buffer()).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let mut close = false;
        loop {
            match dec.next_frame() {
                Ok(Some(line)) => match serde_json::from_slice::<Req>(&line) {
                    Ok(req) => world.handle(&mut session, &req, &mut replies),
                    Err(e) => err_reply(&mut replies, None, "bad_json", &e.to_string()),
                },
                Ok(None) => break,
                Err(e) => {
                    err_reply(&mut replies, None, "frame_too_large", &e.to_string());
                    close = true;
                    break;
                }
            }
        }
        if !replies.is_empty() {
            let batch = Bytes::from(std::mem::take(&mut replies));
            if tx.send(batch).await.is_err() {
                break 'read;
            }
        }
        if close {
            break;
        }
        dec.shrink(4 * READ_CHUNK, 0);
    }
    if let Some(user) = session.user {
        world.leave(user, conn);
    }
    // The writer ends once every queue handle is gone: it sends what is
    // left, then closes the connection.
    drop(session);
    drop(tx);
    let _ = writer.await;
}

/// Writes whatever is queued, as few writes as possible; stops when the
/// queue closes, the peer is gone, or the queue overflowed.
async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Bytes>,
    overflowed: Arc<AtomicBool>,
) {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(first) = rx.recv().await {
        let result = match rx.try_recv() {
            // The common case at low load: one chunk, written as it is.
            Err(_) => wr.write_all(&first).await,
            Ok(second) => {
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&second);
                while buf.len() < WRITE_BATCH {
                    match rx.try_recv() {
                        Ok(more) => buf.extend_from_slice(&more),
                        Err(_) => break,
                    }
                }
                let r = wr.write_all(&buf).await;
                buf.clear();
                if buf.capacity() > 4 * WRITE_BATCH {
                    buf = Vec::new();
                }
                r
            }
        };
        if result.is_err() || overflowed.load(Relaxed) {
            break;
        }
    }
    let _ = wr.shutdown().await;
}

/// `chatbench relay [HOST] [PORT]`: binds, says where on stdout (one
/// line, which `--baseline relay` reads), and serves until Ctrl-C or
/// SIGTERM.
pub async fn main(host: &str, port: u16) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = TcpListener::bind((host, port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    crate::sys::raise_fd_limit(1 << 20);
    println!("chatbench relay: listening on {}", listener.local_addr()?);
    serve(listener, stop_signal()).await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// The address a relay printed on its first line of output.
pub fn parse_listening(line: &str) -> Option<std::net::SocketAddr> {
    line.trim()
        .strip_prefix("chatbench relay: listening on ")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader};

    #[test]
    fn the_listening_line_reads_back() {
        assert_eq!(
            parse_listening("chatbench relay: listening on 127.0.0.1:6100\n"),
            Some("127.0.0.1:6100".parse().unwrap())
        );
        assert_eq!(parse_listening("something else"), None);
    }

    #[tokio::test]
    async fn answers_in_order_over_tcp_and_survives_bad_lines() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, async {
            let _ = stopped.await;
        }));
        let stream = TcpStream::connect(addr).await.unwrap();
        let (rd, mut wr) = stream.into_split();
        // Pipelined in one write, with a bad line and a blank one between.
        wr.write_all(
            b"{\"op\":\"ping\",\"id\":1}\nnot json\n\n{\"op\":\"register\",\"id\":2,\"name\":\"a\",\"password\":\"pw1234\"}\r\n{\"op\":\"chat\",\"id\":3,\"to\":1,\"text\":\"x\"}\n",
        )
        .await
        .unwrap();
        let mut lines = BufReader::new(rd).lines();
        let mut got = Vec::new();
        for _ in 0..4 {
            let line = lines.next_line().await.unwrap().unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            got.push((v["re"].clone(), v["code"].clone()));
        }
        use serde_json::{Value, json};
        assert_eq!(
            got,
            vec![
                (json!(1), Value::Null),
                (Value::Null, json!("bad_json")),
                (json!(2), Value::Null),
                (json!(3), json!("not_logged_in")),
            ]
        );
        // A line over the limit: frame_too_large, then the relay closes.
        wr.write_all(&vec![b'x'; MAX_FRAME + 10]).await.unwrap();
        let line = lines.next_line().await.unwrap().unwrap();
        assert!(line.contains("frame_too_large"), "{line}");
        assert_eq!(lines.next_line().await.unwrap(), None);
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}
