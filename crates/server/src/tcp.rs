//! The plain TCP transport: newline-delimited frames on a socket. The read
//! half feeds a [`session`](crate::session); the write half drains the
//! connection's outbox.

use std::net::SocketAddr;

use bytes::BytesMut;
use chat_proto::LineDecoder;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::node::Node;
use crate::outbox::{Outbox, write_stream};
use crate::session::{self, Incoming, Input};
use crate::tls::Tls;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 4 * 1024;

/// A read half that can wait for bytes without a buffer, so an idle
/// connection holds none (a read buffer is reserved only once the socket
/// has something to read).
pub trait WaitReadable {
    /// Resolves when a read would not wait (bytes, the end, or an error).
    fn wait_readable(&self) -> impl Future<Output = ()> + Send;
}

impl WaitReadable for tokio::net::tcp::OwnedReadHalf {
    async fn wait_readable(&self) {
        let _ = self.readable().await;
    }
}

/// Over TLS the bytes wait inside rustls's own buffers: the read itself
/// waits, with the decoder's buffer reserved.
impl<S: Send + Sync> WaitReadable for tokio::io::ReadHalf<S> {
    async fn wait_readable(&self) {}
}

/// Newline-delimited frames from a byte stream.
pub struct LineInput<R> {
    rd: R,
    dec: LineDecoder,
}

impl<R: AsyncRead + WaitReadable + Unpin + Send> LineInput<R> {
    pub fn new(rd: R, max_frame: usize) -> Self {
        LineInput {
            rd,
            dec: LineDecoder::new(max_frame, 0),
        }
    }
}

impl<R: AsyncRead + WaitReadable + Unpin + Send> Input for LineInput<R> {
    fn ready(&mut self) -> Option<Incoming> {
        match self.dec.next_frame() {
            Ok(Some(line)) => Some(Incoming::Frame(line)),
            Ok(None) => None,
            Err(too_large) => {
                self.dec.clear();
                Some(Incoming::TooLarge(too_large.to_string()))
            }
        }
    }

    async fn next(&mut self) -> Incoming {
        if let Some(incoming) = self.ready() {
            return incoming;
        }
        if self.dec.pending() == 0 {
            // Cancel-safe too: nothing is read while waiting.
            self.rd.wait_readable().await;
        }
        let buf: &mut BytesMut = self.dec.buffer();
        buf.reserve(READ_CHUNK);
        // Cancel-safe: a read either completes (its bytes are in the
        // decoder's buffer) or reads nothing.
        match self.rd.read_buf(buf).await {
            Ok(0) | Err(_) => Incoming::Closed,
            Ok(_) => self.ready().unwrap_or(Incoming::Partial),
        }
    }

    fn partial(&self) -> bool {
        self.dec.pending() > 0
    }

    fn rest(&mut self) {
        self.dec.shrink(0, 0);
    }
}

/// Sets up an accepted socket: no Nagle delay, and keepalive probes so a
/// peer that vanished (a sleeping laptop, a lost network) is noticed.
fn tune(stream: &TcpStream, keepalive: u64) {
    let _ = stream.set_nodelay(true);
    if keepalive > 0 {
        let probes = socket2::TcpKeepalive::new()
            .with_time(std::time::Duration::from_secs(keepalive))
            .with_interval(KEEPALIVE_INTERVAL)
            .with_retries(KEEPALIVE_PROBES);
        let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&probes);
    }
}

/// Seconds between two keepalive probes, and how many go unanswered
/// before the kernel drops the connection.
const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
const KEEPALIVE_PROBES: u32 = 3;

/// Serves one plain TCP connection until it closes or `shutdown` fires.
pub async fn serve(node: Node, stream: TcpStream, peer: SocketAddr, shutdown: CancellationToken) {
    tune(&stream, node.config.tcp_keepalive);
    let (rd, wr) = stream.into_split();
    serve_halves(node, rd, wr, peer, shutdown).await
}

/// Serves one TLS connection: the handshake (bounded in time), then the
/// same line transport inside it.
pub async fn serve_tls(
    node: Node,
    stream: TcpStream,
    peer: SocketAddr,
    tls: &Tls,
    shutdown: CancellationToken,
) {
    tune(&stream, node.config.tcp_keepalive);
    let handshake = tls.acceptor().accept(stream);
    let stream = match tokio::time::timeout(node.config.frame_timeout(), handshake).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let (rd, wr) = tokio::io::split(stream);
    serve_halves(node, rd, wr, peer, shutdown).await
}

/// Serves one byte-stream connection (plain TCP, or TLS over it), given as
/// its two halves, until it closes or `shutdown` fires.
pub async fn serve_halves<R, W>(
    node: Node,
    rd: R,
    wr: W,
    peer: SocketAddr,
    shutdown: CancellationToken,
) where
    R: AsyncRead + WaitReadable + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (outbox, orx) = Outbox::new(node.config.outbox_bytes);
    let writer = tokio::spawn(write_stream(wr, orx, outbox.clone()));
    let mut input = LineInput::new(rd, node.config.max_frame);
    session::run(node, peer, outbox, &mut input, &shutdown).await;
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_of_future<A, B, C, D, F: std::future::Future>(_: fn(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    fn size_of_future3<A, B, C, F: std::future::Future>(_: fn(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// What one connection costs at rest: its two tasks' futures. 100k idle
    /// sessions must fit in well under a gigabyte.
    #[test]
    fn connection_futures_stay_small() {
        let reader = size_of_future(serve);
        let writer = size_of_future3(write_stream::<tokio::net::tcp::OwnedWriteHalf>);
        eprintln!("session future {reader} bytes, writer future {writer} bytes");
        assert!(reader + writer < 2048, "{reader} + {writer}");
    }
}
