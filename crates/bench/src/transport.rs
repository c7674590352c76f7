//! Transports: how a connection's frames travel. Plain TCP (lines), TLS
//! over TCP (the same lines encrypted), a WebSocket to the web listener's
//! `/ws` (one frame a text message), or a WebSocket inside TLS (wss).
//!
//! Every transport is driven the same way, without blocking, by whoever
//! owns the connection (the setup exchange in [`crate::conn`], the load in
//! [`crate::traffic`]): frames are appended as lines to [`Transport::out`],
//! [`Transport::flush`] writes what the socket takes now, and
//! [`Transport::read_into`] reads once and appends whatever whole frames
//! arrived, as lines, to a [`LineDecoder`], so the code above never knows
//! which transport it runs on.
//!
//! The layers are synchronous state machines over byte buffers: rustls's
//! `ClientConnection` for TLS and tungstenite's `WebSocket` over an
//! in-memory [`Pipe`] for the WebSocket framing, both fed from and
//! emptied into the non-blocking socket. Only the handshakes (TLS through
//! tokio-rustls, the HTTP upgrade) are awaited, when the connection opens.
//! Plain TCP has no layer: frames are encoded straight into the socket's
//! buffer, as before this module existed.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::BufMut;
use chat_proto::LineDecoder;
use clap::ValueEnum;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{Interest, Ready};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, ClientConnection, RootCertStore};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// What carries the frames (`--transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Kind {
    /// Lines over TCP (the server's main port).
    #[default]
    Tcp,
    /// A WebSocket to `/ws` of the server's web listener.
    Ws,
}

/// Capacity kept for the socket's buffer between bursts.
const KEEP_OUT: usize = 1 << 20;
/// The WebSocket library's read buffer (its default is 128 KiB).
const WS_READ_BUFFER: usize = 8 * 1024;
/// Plaintext taken from rustls per read call.
const TLS_CHUNK: usize = 16 * 1024;

/// How to open a connection on top of TCP: TLS or not, WebSocket or not.
#[derive(Clone)]
pub struct Layers {
    tls: Option<(TlsConnector, ServerName<'static>)>,
    ws: Option<WsTarget>,
}

#[derive(Clone)]
struct WsTarget {
    url: String,
    origin: Option<String>,
}

impl std::fmt::Debug for Layers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Layers {
    /// Plain TCP lines.
    pub fn plain() -> Layers {
        Layers {
            tls: None,
            ws: None,
        }
    }

    /// The layers for a server at `addr` (HOST:PORT as given): TLS when
    /// `tls` (trusting only `ca`, PEM, or the system's authorities; the
    /// certificate must name `server_name`, or the host of `addr`), and a
    /// WebSocket for [`Kind::Ws`], sending `origin` (default: the
    /// listener's own, `http(s)://addr`).
    pub fn new(
        kind: Kind,
        addr: &str,
        tls: bool,
        ca: Option<&Path>,
        server_name: Option<&str>,
        origin: Option<&str>,
    ) -> anyhow::Result<Layers> {
        let tls = if tls {
            let host = server_name.unwrap_or_else(|| host_of(addr));
            let name = ServerName::try_from(host.to_owned())
                .with_context(|| format!("`{host}` is no server name"))?;
            Some((TlsConnector::from(client_config(ca)?), name))
        } else {
            None
        };
        let ws = match kind {
            Kind::Tcp => None,
            Kind::Ws => {
                let secure = if tls.is_some() { "s" } else { "" };
                Some(WsTarget {
                    url: format!("ws{secure}://{addr}/ws"),
                    origin: Some(
                        origin.map_or_else(|| format!("http{secure}://{addr}"), str::to_owned),
                    ),
                })
            }
        };
        Ok(Layers { tls, ws })
    }

    /// `tcp`, `tls`, `ws` or `wss`.
    pub fn name(&self) -> &'static str {
        match (self.tls.is_some(), self.ws.is_some()) {
            (false, false) => "tcp",
            (true, false) => "tls",
            (false, true) => "ws",
            (true, true) => "wss",
        }
    }

    /// Opens the layers on a connected socket: the TLS handshake, then the
    /// WebSocket upgrade.
    pub async fn open(&self, tcp: TcpStream) -> anyhow::Result<Transport> {
        let (tcp, tls) = match &self.tls {
            None => (tcp, None),
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .context("TLS handshake")?;
                let (tcp, mut conn) = stream.into_inner();
                // Frames are queued whole; the caller bounds what waits.
                conn.set_buffer_limit(None);
                (tcp, Some(Box::new(conn)))
            }
        };
        self.upgrade(tcp, tls).await
    }

    async fn upgrade(
        &self,
        tcp: TcpStream,
        tls: Option<Box<ClientConnection>>,
    ) -> anyhow::Result<Transport> {
        let mut t = Transport {
            wire: Wire {
                tcp,
                tls,
                out: Vec::new(),
                written: 0,
            },
            ws: None,
            staged: Vec::new(),
        };
        if let Some(target) = &self.ws {
            t.ws = Some(Box::new(t.wire.handshake(target).await?));
        }
        Ok(t)
    }
}

/// The host part of HOST:PORT (`[::1]:80` gives `::1`).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Trusts the authorities in `ca` (PEM), or the system's without it;
/// rustls with the ring provider, as the terminal client.
fn client_config(ca: Option<&Path>) -> anyhow::Result<Arc<ClientConfig>> {
    let path = ca.unwrap_or(Path::new("/etc/ssl/certs/ca-certificates.crt"));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        roots
            .add(cert.with_context(|| path.display().to_string())?)
            .with_context(|| path.display().to_string())?;
    }
    if roots.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One open connection, whatever carries its frames.
pub struct Transport {
    wire: Wire,
    ws: Option<Box<WebSocket<Pipe>>>,
    /// Lines queued by the caller that a layer has yet to frame or
    /// encrypt (without layers they go straight into `wire.out`).
    staged: Vec<u8>,
}

/// The socket and, over TLS, the session: bytes in, bytes out.
struct Wire {
    tcp: TcpStream,
    tls: Option<Box<ClientConnection>>,
    /// Bytes for the socket; `out[written..]` are unsent.
    out: Vec<u8>,
    written: usize,
}

/// The WebSocket's byte stream: what came from the peer, what goes to it.
/// It never blocks: reading an empty pipe says `WouldBlock`.
#[derive(Default)]
pub struct Pipe {
    rx: Vec<u8>,
    rx_pos: usize,
    tx: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = &self.rx[self.rx_pos..];
        if left.is_empty() {
            self.rx.clear();
            self.rx_pos = 0;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = left.len().min(buf.len());
        buf[..n].copy_from_slice(&left[..n]);
        self.rx_pos += n;
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `read` for rustls, on a non-blocking socket.
struct TryRead<'a>(&'a TcpStream);

impl Read for TryRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

fn ws_error(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::ErrorKind::ConnectionReset.into()
        }
        e => io::Error::new(io::ErrorKind::InvalidData, e),
    }
}

impl Wire {
    /// One read from the socket; plaintext goes to `into`. `Ok(0)`: the
    /// peer closed (or sent TLS close_notify).
    fn read_plain<B: BufMut>(&mut self, into: &mut B) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else {
            return self.tcp.try_read_buf(into);
        };
        let n = tls.read_tls(&mut TryRead(&self.tcp))?;
        if n == 0 {
            return Ok(0);
        }
        let state = tls
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut left = state.plaintext_bytes_to_read();
        let mut chunk = [0u8; TLS_CHUNK];
        while left > 0 {
            let k = tls.reader().read(&mut chunk[..left.min(TLS_CHUNK)])?;
            if k == 0 {
                break;
            }
            into.put_slice(&chunk[..k]);
            left -= k;
        }
        // Alerts, key updates: whatever the session must answer.
        while tls.wants_write() {
            tls.write_tls(&mut self.out)?;
        }
        Ok(n)
    }

    /// Queues plaintext for the socket, encrypted when over TLS.
    fn push(&mut self, plain: &[u8]) -> io::Result<()> {
        match self.tls.as_mut() {
            None => self.out.extend_from_slice(plain),
            Some(tls) => {
                tls.writer().write_all(plain)?;
                while tls.wants_write() {
                    tls.write_tls(&mut self.out)?;
                }
            }
        }
        Ok(())
    }

    fn unsent(&self) -> usize {
        self.out.len() - self.written
    }

    /// Writes what the socket takes now.
    fn flush(&mut self) -> io::Result<()> {
        while self.written < self.out.len() {
            match self.tcp.try_write(&self.out[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.written = 0;
        if self.out.capacity() > KEEP_OUT {
            self.out = Vec::new();
        }
        Ok(())
    }

    async fn write_all(&mut self) -> io::Result<()> {
        loop {
            self.flush()?;
            if self.unsent() == 0 {
                return Ok(());
            }
            self.tcp.writable().await?;
        }
    }

    /// Waits for and reads some plaintext into `into`; `Ok(0)`: closed.
    async fn read_some<B: BufMut>(&mut self, into: &mut B) -> io::Result<usize> {
        loop {
            self.tcp.readable().await?;
            match self.read_plain(into) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => {
                    // Answers the session owed the peer, if any.
                    self.write_all().await?;
                    return other;
                }
            }
        }
    }

    /// The WebSocket upgrade over this wire (TLS or not).
    async fn handshake(&mut self, target: &WsTarget) -> anyhow::Result<WebSocket<Pipe>> {
        let mut request = target.url.as_str().into_client_request()?;
        if let Some(origin) = &target.origin {
            request
                .headers_mut()
                .insert("Origin", HeaderValue::from_str(origin)?);
        }
        // The server's frames are at most its --max-frame; the library's
        // default limits (64 MiB) are far above. The read buffer is kept
        // small: the library zero-fills up to this much before each read,
        // and a read here brings a few hundred bytes.
        let config = WebSocketConfig::default().read_buffer_size(WS_READ_BUFFER);
        let mut mid = ClientHandshake::start(Pipe::default(), request, Some(config))
            .context("websocket request")?;
        loop {
            match mid.handshake() {
                Ok((ws, _response)) => return Ok(ws),
                Err(HandshakeError::Failure(e)) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "websocket handshake with {} (is it the web listener?)",
                        target.url
                    )));
                }
                Err(HandshakeError::Interrupted(m)) => {
                    mid = m;
                    let pipe = mid.get_mut().get_mut();
                    if !pipe.tx.is_empty() {
                        let tx = std::mem::take(&mut pipe.tx);
                        self.push(&tx)?;
                        self.write_all().await?;
                    }
                    let pipe = mid.get_mut().get_mut();
                    if self.read_some(&mut pipe.rx).await? == 0 {
                        bail!("{} closed during the websocket handshake", target.url);
                    }
                }
            }
        }
    }
}

impl Transport {
    /// Where the caller appends frames, each a line ending in `\n`.
    pub fn out(&mut self) -> &mut Vec<u8> {
        if self.ws.is_none() && self.wire.tls.is_none() {
            &mut self.wire.out
        } else {
            &mut self.staged
        }
    }

    /// Bytes queued and not yet taken by the socket.
    pub fn unsent(&self) -> usize {
        self.staged.len() + self.wire.unsent()
    }

    /// The socket, for readiness and socket options.
    pub fn tcp(&self) -> &TcpStream {
        &self.wire.tcp
    }

    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        self.wire.tcp.ready(interest).await
    }

    /// Frames the staged lines (one WebSocket message each) and encrypts
    /// them, into the socket's buffer.
    fn encode(&mut self) -> io::Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        match self.ws.as_mut() {
            None => self.wire.push(&self.staged)?,
            Some(ws) => {
                for line in self.staged.split(|&b| b == b'\n') {
                    if line.is_empty() {
                        continue;
                    }
                    let text = std::str::from_utf8(line)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                    ws.write(Message::text(text)).map_err(ws_error)?;
                }
                ws.flush().map_err(ws_error)?;
                let pipe = ws.get_mut();
                self.wire.push(&pipe.tx)?;
                pipe.tx.clear();
            }
        }
        self.staged.clear();
        if self.staged.capacity() > KEEP_OUT {
            self.staged = Vec::new();
        }
        Ok(())
    }

    /// Writes as much as the socket takes now; the rest stays queued.
    pub fn flush(&mut self) -> io::Result<()> {
        self.encode()?;
        self.wire.flush()
    }

    /// Writes everything queued, waiting for the socket as needed.
    pub async fn write_all(&mut self) -> io::Result<()> {
        self.encode()?;
        self.wire.write_all().await
    }

    /// Reads once from the socket (up to about `chunk` bytes) and appends
    /// every whole frame that came, as lines, to `dec`'s buffer. Returns
    /// the bytes read from the socket: `Ok(0)` when the peer closed,
    /// `WouldBlock` when nothing was there.
    pub fn read_into(&mut self, dec: &mut LineDecoder, chunk: usize) -> io::Result<usize> {
        let Some(ws) = self.ws.as_mut() else {
            let buf = dec.buffer();
            buf.reserve(chunk);
            return self.wire.read_plain(buf);
        };
        let rx = &mut ws.get_mut().rx;
        rx.reserve(chunk);
        let n = self.wire.read_plain(rx)?;
        if n == 0 {
            return Ok(0);
        }
        let buf = dec.buffer();
        let closed = loop {
            match ws.read() {
                Ok(Message::Text(text)) => put_line(buf, text.as_bytes()),
                Ok(Message::Binary(bytes)) => put_line(buf, &bytes),
                Ok(Message::Close(_)) => break true,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    break false;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    break true;
                }
                Err(e) => return Err(ws_error(e)),
            }
        };
        // Pongs to the server's pings (and the close reply) go out with
        // the next flush.
        ws.flush().map_err(ws_error)?;
        let pipe = ws.get_mut();
        if !pipe.tx.is_empty() {
            self.wire.push(&pipe.tx)?;
            pipe.tx.clear();
        }
        if closed { Ok(0) } else { Ok(n) }
    }

    /// Waits until something was read; appends the frames as
    /// [`read_into`](Transport::read_into) does. `Ok(0)`: closed.
    pub async fn read_frames(&mut self, dec: &mut LineDecoder) -> io::Result<usize> {
        loop {
            self.wire.tcp.readable().await?;
            match self.read_into(dec, 16 * 1024) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => {
                    if self.unsent() > 0 {
                        self.write_all().await?;
                    }
                    return other;
                }
            }
        }
    }
}

/// One frame as a line (the server may or may not end it with `\n`).
fn put_line(buf: &mut bytes::BytesMut, frame: &[u8]) {
    buf.extend_from_slice(frame);
    if frame.last() != Some(&b'\n') {
        buf.put_u8(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_names() {
        assert_eq!(host_of("127.0.0.1:6080"), "127.0.0.1");
        assert_eq!(host_of("localhost:1"), "localhost");
        assert_eq!(host_of("[::1]:6000"), "::1");
        let l = Layers::new(Kind::Ws, "127.0.0.1:6080", false, None, None, None).unwrap();
        assert_eq!(l.name(), "ws");
        let ws = l.ws.unwrap();
        assert_eq!(ws.url, "ws://127.0.0.1:6080/ws");
        assert_eq!(ws.origin.as_deref(), Some("http://127.0.0.1:6080"));
        assert_eq!(Layers::plain().name(), "tcp");
    }

    #[test]
    fn an_empty_pipe_would_block_and_then_reads_what_came() {
        let mut p = Pipe::default();
        let mut buf = [0u8; 4];
        assert_eq!(
            p.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        p.rx.extend_from_slice(b"abcdef");
        assert_eq!(p.read(&mut buf).unwrap(), 4);
        assert_eq!(p.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"ef");
        assert!(p.read(&mut buf).is_err());
        assert!(p.rx.is_empty());
        p.write_all(b"xy").unwrap();
        assert_eq!(p.tx, b"xy");
    }
}
