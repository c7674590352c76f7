//! Connections: dialing (spread over loopback source addresses) and the
//! simple request/reply exchange used during setup.
//!
//! The workloads take the socket and decoder out of a [`Conn`] once it is
//! logged in and drive them themselves, without waiting on each reply.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use chat_proto::reply::{LoggedIn, Reply};
use chat_proto::{Credential, LineDecoder, Request, RequestFrame, ServerFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Largest frame the bench accepts from the server (login replies with
/// long friend lists can be big).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Opens connections to one server.
#[derive(Debug, Clone)]
pub struct Dialer {
    pub target: SocketAddr,
    /// How many loopback source addresses to spread over (0: let the
    /// kernel pick). Each source address has its own ~28k ephemeral ports,
    /// which is what lets one machine hold more than 64k connections.
    sources: u8,
}

impl Dialer {
    pub async fn new(addr: &str, sources: u8) -> anyhow::Result<Dialer> {
        let target = tokio::net::lookup_host(addr)
            .await
            .with_context(|| format!("cannot resolve {addr}"))?
            .next()
            .with_context(|| format!("{addr} resolves to nothing"))?;
        let sources = match target.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => sources,
            _ => 0,
        };
        Ok(Dialer { target, sources })
    }

    /// The source address of connection `i`.
    fn source(&self, i: usize) -> Option<SocketAddr> {
        if self.sources == 0 {
            return None;
        }
        // The modulo keeps the last octet within 1..=254.
        let last = 1 + (i % usize::from(self.sources)) as u8;
        Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
            0,
        ))
    }

    /// A new TCP connection, the `i`th of its kind.
    pub async fn connect(&self, i: usize) -> anyhow::Result<TcpStream> {
        let socket = match self.target {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(src) = self.source(i) {
            socket
                .bind(src)
                .with_context(|| format!("cannot bind to {src}"))?;
        }
        let stream = socket
            .connect(self.target)
            .await
            .with_context(|| format!("cannot connect to {}", self.target))?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// A connection used one request at a time (or a few pipelined), for setup.
pub struct Conn {
    pub stream: TcpStream,
    pub dec: LineDecoder,
    /// The id of the next request.
    pub next_id: u64,
}

impl Conn {
    pub async fn open(dialer: &Dialer, i: usize) -> anyhow::Result<Conn> {
        Ok(Conn {
            stream: dialer.connect(i).await?,
            dec: LineDecoder::new(MAX_FRAME, 0),
            next_id: 1,
        })
    }

    /// Sends `requests` in one write and returns their replies, in order.
    /// Events that arrive meanwhile are dropped: setup does not need them,
    /// and messages among them stay unacked, so the server delivers them
    /// again at the next login.
    pub async fn pipeline(&mut self, requests: Vec<Request>) -> anyhow::Result<Vec<Reply>> {
        let mut out = Vec::with_capacity(requests.len() * 96);
        let first = self.next_id;
        for request in requests {
            let frame = RequestFrame {
                id: Some(self.next_id),
                request,
            };
            self.next_id += 1;
            crate::wire::encode_into(&mut out, &frame);
        }
        self.stream.write_all(&out).await?;
        let mut replies = Vec::with_capacity((self.next_id - first) as usize);
        while replies.len() < (self.next_id - first) as usize {
            let reply = self.next_reply().await?;
            let want = first + replies.len() as u64;
            if reply.re != Some(want) {
                bail!("reply out of order: expected re {want}, got {:?}", reply.re);
            }
            replies.push(reply);
        }
        Ok(replies)
    }

    /// One request, one reply.
    pub async fn request(&mut self, request: Request) -> anyhow::Result<Reply> {
        let mut replies = self.pipeline(vec![request]).await?;
        replies.pop().context("no reply")
    }

    /// Logs in by token.
    pub async fn login(&mut self, user: u64, token: &str) -> anyhow::Result<LoggedIn> {
        let reply = self
            .request(Request::Login {
                heartbeat: None,
                user,
                credential: Credential::Token(token.to_owned()),
            })
            .await?;
        reply
            .body::<LoggedIn>()
            .with_context(|| format!("login of user {user} by token"))
    }

    async fn next_reply(&mut self) -> anyhow::Result<Reply> {
        loop {
            while let Some(line) = self.dec.next_frame()? {
                let text = std::str::from_utf8(&line).context("server sent invalid UTF-8")?;
                match ServerFrame::parse(text)
                    .with_context(|| format!("server sent an unreadable frame: {text}"))?
                {
                    ServerFrame::Reply(r) => return Ok(r),
                    ServerFrame::Event(_) => {}
                }
            }
            let buf = self.dec.buffer();
            buf.reserve(16 * 1024);
            if self.stream.read_buf(buf).await? == 0 {
                bail!("the server closed the connection");
            }
        }
    }
}
