//! The client's side of the wire format: requests encoded as lines (with
//! the login's optional `heartbeat` extension), and server frames decoded
//! leniently, so that a newer server never leaves the client hanging: a
//! reply with an error code this client does not know still answers its
//! request, and an event it does not know is reported as such.
//!
//! `chat-proto`'s types are used for everything they cover; only the
//! envelope of what the server sends is read here.

use chat_proto::{Event, Request, RequestFrame};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A failed reply: its code as sent (known to this client or not), the
/// server's own words, and `retry_after` (seconds) when rate limited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub error: String,
    pub retry_after: Option<u64>,
}

/// A reply as the client receives it; the body is decoded on demand, since
/// only the caller knows which op it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub re: Option<u64>,
    /// `Ok` holds the whole line, to decode with [`Reply::body`].
    pub result: Result<String, Failure>,
}

/// Why a reply's body could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The server said no.
    Failed(Failure),
    /// The server said yes in a shape this client cannot read.
    Malformed(String),
}

impl Reply {
    /// Decodes the success fields as `T`.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, BodyError> {
        match &self.result {
            Ok(line) => serde_json::from_str(line).map_err(|e| BodyError::Malformed(e.to_string())),
            Err(f) => Err(BodyError::Failed(f.clone())),
        }
    }
}

/// Anything the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Reply(Reply),
    Event(Event),
    /// An event this client cannot read, by its `ev` name.
    UnknownEvent(String),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    ev: Option<String>,
    #[serde(default)]
    re: Option<u64>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    retry_after: Option<u64>,
}

/// Decodes one line sent by the server; `Err` says what is wrong with it.
pub fn parse(line: &str) -> Result<Incoming, String> {
    let env: Envelope = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if let Some(name) = env.ev {
        return Ok(match serde_json::from_str::<Event>(line) {
            Ok(ev) => Incoming::Event(ev),
            Err(_) => Incoming::UnknownEvent(name),
        });
    }
    let result = match env.ok {
        Some(true) => Ok(line.to_owned()),
        _ => Err(Failure {
            code: env.code.unwrap_or_else(|| "internal".into()),
            error: env.error.unwrap_or_default(),
            retry_after: env.retry_after,
        }),
    };
    Ok(Incoming::Reply(Reply { re: env.re, result }))
}

/// A request as one line. A `login` carries `heartbeat` when given: the
/// promise to send something at least every that many seconds, so that
/// the server may close the session after a silence of about 2.5 times
/// it (an extension; servers that do not know it ignore it).
pub fn request_line(id: u64, request: &Request, heartbeat: Option<u32>) -> Vec<u8> {
    let frame = RequestFrame {
        id: Some(id),
        request: request.clone(),
    };
    match (request, heartbeat) {
        (Request::Login { .. }, Some(secs)) => {
            let mut value = serde_json::to_value(&frame).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.insert("heartbeat".into(), secs.into());
            }
            chat_proto::encode_line(&value)
        }
        _ => frame.to_line(),
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::Credential;
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn replies_known_and_unknown() {
        let ok = parse(r#"{"re":3,"ok":true,"user":{"id":1,"name":"a"}}"#).unwrap();
        let Incoming::Reply(r) = ok else {
            panic!("{ok:?}")
        };
        assert_eq!(r.re, Some(3));
        assert!(r.result.is_ok());

        let v2 =
            parse(r#"{"re":4,"ok":false,"code":"no_such_request","error":"no request from 9"}"#)
                .unwrap();
        assert_eq!(
            v2,
            Incoming::Reply(Reply {
                re: Some(4),
                result: Err(Failure {
                    code: "no_such_request".into(),
                    error: "no request from 9".into(),
                    retry_after: None
                })
            })
        );
        let limited =
            parse(r#"{"re":5,"ok":false,"code":"rate_limited","error":"x","retry_after":30}"#)
                .unwrap();
        let Incoming::Reply(Reply { result: Err(f), .. }) = limited else {
            panic!("{limited:?}")
        };
        assert_eq!(f.retry_after, Some(30));
    }

    #[test]
    fn events_known_and_unknown() {
        let ev = parse(r#"{"ev":"presence","user":2,"online":true}"#).unwrap();
        assert_eq!(
            ev,
            Incoming::Event(Event::Presence {
                user: 2,
                online: true
            })
        );
        let v2 = parse(r#"{"ev":"friend_request","user":{"id":2,"name":"b"}}"#).unwrap();
        assert_eq!(v2, Incoming::UnknownEvent("friend_request".into()));
        assert!(parse("not json").is_err());
        assert!(parse("[1,2]").is_err());
    }

    #[test]
    fn login_carries_the_heartbeat_and_nothing_else_does() {
        let login = Request::Login {
            user: 7,
            credential: Credential::Token("t".into()),
        };
        let line = request_line(1, &login, Some(20));
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v,
            json!({"id": 1, "op": "login", "user": 7, "token": "t", "heartbeat": 20})
        );
        assert_eq!(line.last(), Some(&b'\n'));
        let ping: Value =
            serde_json::from_slice(&request_line(2, &Request::Ping, Some(20))).unwrap();
        assert_eq!(ping, json!({"id": 2, "op": "ping"}));
    }
}
