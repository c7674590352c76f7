//! What the bench reads and writes on the hot path, kept cheap.
//!
//! Requests are the proto crate's [`RequestFrame`]s serialised straight into
//! a connection's write buffer. Incoming frames are read into [`Incoming`],
//! a light struct of borrowed fields that skips everything the bench does
//! not look at (texts, friend lists), instead of the full
//! [`chat_proto::ServerFrame`].
//!
//! The proto crate speaks protocol version 1; [`Outgoing`] adds the few
//! version 2 requests setup needs (`accept_friend`), so the bench drives
//! servers of either version.
//!
//! Each message carries its own measurement in its `cid`:
//! `RUN.SENDER.SEQ.MICROS` in hex, where RUN tells this run's messages from
//! leftovers of earlier runs, SENDER and SEQ identify the message for loss
//! and duplicate accounting, and MICROS is the (intended) send time since
//! the run's epoch, for end-to-end latency at each recipient.

use std::borrow::Cow;
use std::fmt::Write as _;

use chat_proto::{ErrorCode, Request};
use serde::{Deserialize, Serialize};

/// One frame from the server, as far as the bench cares.
#[derive(Debug, Deserialize)]
pub struct Incoming<'a> {
    /// Set on events.
    #[serde(default, borrow)]
    pub ev: Option<Cow<'a, str>>,
    /// The request id a reply answers.
    #[serde(default)]
    pub re: Option<u64>,
    #[serde(default)]
    pub ok: Option<bool>,
    #[serde(default)]
    pub code: Option<ErrorCode>,
    #[serde(default, borrow)]
    pub error: Option<Cow<'a, str>>,
    /// `msg` of a `msg` event, or the `{id, ts}` of a `chat` reply.
    #[serde(default, borrow)]
    pub msg: Option<MsgLite<'a>>,
}

/// The parts of a message the bench uses.
#[derive(Debug, Deserialize)]
pub struct MsgLite<'a> {
    pub id: u64,
    #[serde(default, borrow)]
    pub cid: Option<Cow<'a, str>>,
}

impl<'a> Incoming<'a> {
    pub fn parse(line: &'a [u8]) -> Result<Incoming<'a>, serde_json::Error> {
        serde_json::from_slice(line)
    }

    pub fn is_event(&self) -> bool {
        self.ev.is_some()
    }
}

/// A request setup sends: one of the proto crate's, or one that only
/// protocol version 2 has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Outgoing {
    Proto(Request),
    V2(V2Request),
}

/// Requests of protocol version 2 that the proto crate does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum V2Request {
    /// Accepts `user`'s pending friend request.
    AcceptFriend { user: u64 },
}

impl From<Request> for Outgoing {
    fn from(r: Request) -> Outgoing {
        Outgoing::Proto(r)
    }
}

impl From<V2Request> for Outgoing {
    fn from(r: V2Request) -> Outgoing {
        Outgoing::V2(r)
    }
}

/// An [`Outgoing`] request with its id.
#[derive(Debug, Serialize)]
pub struct OutgoingFrame<'a> {
    pub id: u64,
    #[serde(flatten)]
    pub request: &'a Outgoing,
}

/// Appends `frame` (a request frame) as one line to `out`.
pub fn encode_into(out: &mut Vec<u8>, frame: &impl Serialize) {
    // Writing our own request types to a Vec cannot fail: no maps with
    // non-string keys, and Vec writes are infallible.
    serde_json::to_writer(&mut *out, frame).expect("requests always serialise");
    out.push(b'\n');
}

/// What a message's `cid` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub run: u32,
    pub sender: u32,
    pub seq: u64,
    /// Microseconds since the run's epoch when the message was (meant to
    /// be) sent.
    pub micros: u64,
}

impl Stamp {
    /// The `cid` text, at most 4 * 16 + 3 = 67 characters in theory and
    /// about 25 in practice (the protocol allows 64).
    pub fn cid(&self) -> String {
        let mut s = String::with_capacity(32);
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "{:x}.{:x}.{:x}.{:x}",
            self.run, self.sender, self.seq, self.micros
        );
        s
    }

    /// Reads a `cid`; `None` when it is not one of the bench's.
    pub fn parse(cid: &str) -> Option<Stamp> {
        let mut parts = cid.split('.');
        let mut next = || u64::from_str_radix(parts.next()?, 16).ok();
        let run = u32::try_from(next()?).ok()?;
        let sender = u32::try_from(next()?).ok()?;
        let seq = next()?;
        let micros = next()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Stamp {
            run,
            sender,
            seq,
            micros,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::RequestFrame;

    #[test]
    fn stamp_round_trips_and_fits_a_cid() {
        let s = Stamp {
            run: 0xdead_beef,
            sender: 99_999,
            seq: 12_345_678,
            micros: 3_600_000_000,
        };
        let cid = s.cid();
        assert!(cid.len() <= 64);
        assert_eq!(Stamp::parse(&cid), Some(s));
        assert_eq!(Stamp::parse("hello"), None);
        assert_eq!(Stamp::parse("1.2.3"), None);
        assert_eq!(Stamp::parse("1.2.3.4.5"), None);
        assert_eq!(Stamp::parse("1.2.3.zz"), None);
        assert_eq!(Stamp::parse("100000000.2.3.4"), None);
    }

    #[test]
    fn reads_events_and_replies() {
        let ev = br#"{"ev":"msg","msg":{"id":90211,"from":2019,"to":2001,"text":"he said \"hi\"","ts":1764190800123,"cid":"a.b.c.d"}}"#;
        let f = Incoming::parse(ev).unwrap();
        assert!(f.is_event());
        assert_eq!(f.ev.as_deref(), Some("msg"));
        let msg = f.msg.unwrap();
        assert_eq!(msg.id, 90211);
        assert_eq!(msg.cid.as_deref(), Some("a.b.c.d"));

        let ok = br#"{"re":17,"ok":true,"msg":{"id":90211,"ts":1764190800123}}"#;
        let f = Incoming::parse(ok).unwrap();
        assert!(!f.is_event());
        assert_eq!((f.re, f.ok), (Some(17), Some(true)));
        assert_eq!(f.msg.unwrap().id, 90211);

        let err =
            br#"{"re":18,"ok":false,"code":"not_friend","error":"user 2002 is not your friend"}"#;
        let f = Incoming::parse(err).unwrap();
        assert_eq!(f.code, Some(ErrorCode::NotFriend));
        assert_eq!(f.ok, Some(false));

        let login = br#"{"re":1,"ok":true,"user":{"id":1,"name":"a"},"token":"t","friends":[{"id":2,"name":"b","online":true}],"groups":[],"unread":0}"#;
        let f = Incoming::parse(login).unwrap();
        assert_eq!(f.re, Some(1));

        let presence = br#"{"ev":"presence","user":3,"online":false}"#;
        assert_eq!(
            Incoming::parse(presence).unwrap().ev.as_deref(),
            Some("presence")
        );
    }

    #[test]
    fn encodes_requests_as_lines() {
        let mut out = Vec::new();
        encode_into(
            &mut out,
            &RequestFrame {
                id: Some(7),
                request: Request::Chat {
                    to: 2,
                    text: "x".into(),
                    cid: Some("1.2.3.4".into()),
                },
            },
        );
        encode_into(
            &mut out,
            &RequestFrame {
                id: Some(8),
                request: Request::Ack { ids: vec![1, 2] },
            },
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"op":"chat","id":7,"to":2,"text":"x","cid":"1.2.3.4"})
        );
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v, serde_json::json!({"op":"ack","id":8,"ids":[1,2]}));
    }

    #[test]
    fn encodes_version_2_requests_beside_version_1() {
        let mut out = Vec::new();
        for (id, request) in [
            (1, Outgoing::from(Request::AddFriend { user: 5 })),
            (2, Outgoing::from(V2Request::AcceptFriend { user: 4 })),
            (3, Outgoing::from(Request::Ping)),
        ] {
            encode_into(
                &mut out,
                &OutgoingFrame {
                    id,
                    request: &request,
                },
            );
        }
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            vec![
                serde_json::json!({"op":"add_friend","id":1,"user":5}),
                serde_json::json!({"op":"accept_friend","id":2,"user":4}),
                serde_json::json!({"op":"ping","id":3}),
            ]
        );
    }
}
