//! Connections: dialing (spread over loopback source addresses, then the
//! transport's layers: TLS, WebSocket) and the simple request/reply
//! exchange used during setup.
//!
//! The workloads take the transport and decoder out of a [`Conn`] once it
//! is logged in and drive them themselves, without waiting on each reply.
//!
//! Setup reads replies leniently, so it works with servers of protocol
//! version 1 and 2 alike: events are skipped unread (version 2 has more of
//! them), and an error code this build does not know is kept in the error
//! text (with the code `internal`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use std::borrow::Cow;

use anyhow::{Context, bail};
use chat_proto::reply::Reply;
use chat_proto::{Credential, ErrorBody, ErrorCode, LineDecoder, Request};
use serde::Deserialize;
use tokio::net::TcpSocket;

use crate::transport::{Layers, Transport};
use crate::wire::{Outgoing, OutgoingFrame};

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
    /// TLS, WebSocket, or neither.
    pub layers: Layers,
}

impl Dialer {
    /// Plain TCP to `addr`.
    pub async fn new(addr: &str, sources: u8) -> anyhow::Result<Dialer> {
        Dialer::with(addr, sources, Layers::plain()).await
    }

    /// `addr` through `layers`.
    pub async fn with(addr: &str, sources: u8, layers: Layers) -> anyhow::Result<Dialer> {
        let target = tokio::net::lookup_host(addr)
            .await
            .with_context(|| format!("cannot resolve {addr}"))?
            .next()
            .with_context(|| format!("{addr} resolves to nothing"))?;
        let sources = match target.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => sources,
            _ => 0,
        };
        Ok(Dialer {
            target,
            sources,
            layers,
        })
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

    /// A new connection, the `i`th of its kind, with its layers open.
    pub async fn connect(&self, i: usize) -> anyhow::Result<Transport> {
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
        self.layers.open(stream).await
    }
}

/// A connection used one request at a time (or a few pipelined), for setup.
pub struct Conn {
    pub transport: Transport,
    pub dec: LineDecoder,
    /// The id of the next request.
    pub next_id: u64,
}

impl Conn {
    pub async fn open(dialer: &Dialer, i: usize) -> anyhow::Result<Conn> {
        Ok(Conn {
            transport: dialer.connect(i).await?,
            dec: LineDecoder::new(MAX_FRAME, 0),
            next_id: 1,
        })
    }

    /// Sends `requests` in one write and returns their replies, in order.
    /// Events that arrive meanwhile are dropped: setup does not need them,
    /// and messages among them stay unacked, so the server delivers them
    /// again at the next login.
    pub async fn pipeline<R: Into<Outgoing>>(
        &mut self,
        requests: impl IntoIterator<Item = R>,
    ) -> anyhow::Result<Vec<Reply>> {
        let out = self.transport.out();
        let first = self.next_id;
        for request in requests {
            let frame = OutgoingFrame {
                id: self.next_id,
                request: &request.into(),
            };
            self.next_id += 1;
            crate::wire::encode_into(out, &frame);
        }
        self.transport.write_all().await?;
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
    pub async fn login(&mut self, user: u64, token: &str) -> anyhow::Result<LoginReply> {
        let reply = self
            .request(Request::Login {
                heartbeat: None,
                user,
                credential: Credential::Token(token.to_owned()),
            })
            .await?;
        reply
            .body::<LoginReply>()
            .with_context(|| format!("login of user {user} by token"))
    }

    async fn next_reply(&mut self) -> anyhow::Result<Reply> {
        loop {
            while let Some(line) = self.dec.next_frame()? {
                let text = std::str::from_utf8(&line).context("server sent invalid UTF-8")?;
                if let Some(r) = parse_reply(text)
                    .with_context(|| format!("server sent an unreadable frame: {text}"))?
                {
                    return Ok(r);
                }
            }
            if self.transport.read_frames(&mut self.dec).await? == 0 {
                bail!("the server closed the connection");
            }
        }
    }
}

/// The parts of a `login` reply setup uses, in both protocol versions.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginReply {
    pub user: UserId,
    pub token: String,
}

/// A user object, of which only the id matters here.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct UserId {
    pub id: u64,
}

/// What tells a reply from an event, and a success from a failure.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Probe<'a> {
    ev: Option<serde::de::IgnoredAny>,
    re: Option<u64>,
    ok: Option<bool>,
    #[serde(borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
}

/// A reply, or `None` for an event (of any kind, known or not).
fn parse_reply(text: &str) -> Result<Option<Reply>, serde_json::Error> {
    let probe: Probe = serde_json::from_str(text)?;
    if probe.ev.is_some() {
        return Ok(None);
    }
    let result = match probe.ok {
        Some(true) => Ok(text.to_owned()),
        _ => {
            let name = probe.code.as_deref().unwrap_or("");
            let error = probe.error.as_deref().unwrap_or("");
            Err(match ErrorCode::ALL.iter().find(|c| c.as_str() == name) {
                Some(&code) => ErrorBody {
                    code,
                    error: error.to_owned(),
                    retry_after: None,
                },
                None => ErrorBody {
                    code: ErrorCode::Internal,
                    error: format!("{name}: {error}"),
                    retry_after: None,
                },
            })
        }
    };
    Ok(Some(Reply {
        re: probe.re,
        result,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_of_either_version_read_and_events_are_skipped() {
        let ok = r#"{"re":3,"ok":true,"status":"requested"}"#;
        let r = parse_reply(ok).unwrap().unwrap();
        assert_eq!(r.re, Some(3));
        assert_eq!(r.result.as_deref(), Ok(ok));

        let known = r#"{"re":4,"ok":false,"code":"already_friends","error":"so you are"}"#;
        let e = parse_reply(known).unwrap().unwrap().result.unwrap_err();
        assert_eq!(e.code, ErrorCode::AlreadyFriends);
        assert_eq!(e.error, "so you are");

        // A code this build does not know (a newer server's).
        let newer = r#"{"re":5,"ok":false,"code":"not_yet_invented","error":"none pending"}"#;
        let e = parse_reply(newer).unwrap().unwrap().result.unwrap_err();
        assert_eq!(e.code, ErrorCode::Internal);
        assert_eq!(e.error, "not_yet_invented: none pending");

        // Events of either version, known or not, are no replies.
        for ev in [
            r#"{"ev":"friend_request","user":{"id":1,"name":"a"}}"#,
            r#"{"ev":"presence","user":1,"online":true}"#,
        ] {
            assert!(parse_reply(ev).unwrap().is_none());
        }
        assert!(parse_reply("not json").is_err());

        let login = r#"{"re":1,"ok":true,"user":{"id":7,"name":"a"},"token":"t","friends":[],"groups":[{"id":1,"name":"g","desc":"","visibility":"private","role":"admin"}],"requests_in":[],"unread":0}"#;
        let body: LoginReply = parse_reply(login).unwrap().unwrap().body().unwrap();
        assert_eq!((body.user.id, body.token.as_str()), (7, "t"));
    }
}
