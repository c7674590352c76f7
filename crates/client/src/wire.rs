//! The client's side of the wire format: requests encoded as lines (a
//! `login` carries the `heartbeat` promise), and server frames decoded
//! leniently, so that a newer server never leaves the client hanging: a
//! reply with an error code this client does not know still answers its
//! request, and an event it does not know is reported as such.
//!
//! `chat-proto`'s types are used for everything they cover (requests,
//! events, [`ErrorBody`] with its [`ErrorCode`] and `retry_after`); only
//! the envelope of what the server sends is read here, because
//! `chat_proto::ServerFrame::parse` rejects a whole frame whose `code` or
//! `ev` it does not know, which would leave the request unanswered.

use chat_proto::{ErrorBody, ErrorCode, Event, Request, RequestFrame};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A failed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A code of the contract, with the server's words and `retry_after`.
    Known(ErrorBody),
    /// A code this client does not know (a newer server), as sent.
    Unknown { code: String, error: String },
}

impl Failure {
    /// The code, when this client knows it.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Failure::Known(b) => Some(b.code),
            Failure::Unknown { .. } => None,
        }
    }

    /// The code as sent.
    pub fn code_name(&self) -> &str {
        match self {
            Failure::Known(b) => b.code.as_str(),
            Failure::Unknown { code, .. } => code,
        }
    }

    /// The server's own words.
    pub fn error(&self) -> &str {
        match self {
            Failure::Known(b) => &b.error,
            Failure::Unknown { error, .. } => error,
        }
    }

    /// Seconds until a try may pass (`rate_limited` password logins).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Failure::Known(b) => b.retry_after,
            Failure::Unknown { .. } => None,
        }
    }
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
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

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
        _ => {
            let name = env.code.unwrap_or_else(|| "internal".into());
            let error = env.error.unwrap_or_default();
            Err(
                match serde_json::from_value::<ErrorCode>(name.clone().into()) {
                    Ok(code) => Failure::Known(ErrorBody {
                        code,
                        error,
                        retry_after: env.retry_after,
                    }),
                    Err(_) => Failure::Unknown { code: name, error },
                },
            )
        }
    };
    Ok(Incoming::Reply(Reply { re: env.re, result }))
}

/// A request as one line. A `login` carries `heartbeat` when given and
/// the login does not set one: the promise to send something at least
/// every that many seconds, so that the server may close a silent session
/// sooner than its idle timeout.
pub fn request_line(id: u64, request: &Request, heartbeat: Option<u32>) -> Vec<u8> {
    let mut request = request.clone();
    if let Request::Login { heartbeat: h, .. } = &mut request
        && h.is_none()
    {
        *h = heartbeat;
    }
    RequestFrame {
        id: Some(id),
        request,
    }
    .to_line()
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
                result: Err(Failure::Known(ErrorBody {
                    code: ErrorCode::NoSuchRequest,
                    error: "no request from 9".into(),
                    retry_after: None
                }))
            })
        );
        let limited =
            parse(r#"{"re":5,"ok":false,"code":"rate_limited","error":"x","retry_after":30}"#)
                .unwrap();
        let Incoming::Reply(Reply { result: Err(f), .. }) = limited else {
            panic!("{limited:?}")
        };
        assert_eq!(f.code(), Some(ErrorCode::RateLimited));
        assert_eq!(f.retry_after(), Some(30));

        // A code from a newer server still answers the request.
        let newer = parse(r#"{"re":6,"ok":false,"code":"brand_new","error":"words"}"#).unwrap();
        let Incoming::Reply(Reply {
            re: Some(6),
            result: Err(f),
        }) = newer
        else {
            panic!("{newer:?}")
        };
        assert_eq!(f.code(), None);
        assert_eq!(f.code_name(), "brand_new");
        assert_eq!(f.error(), "words");
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
        assert_eq!(
            v2,
            Incoming::Event(Event::FriendRequest {
                user: chat_proto::User {
                    id: 2,
                    name: "b".into(),
                    online: None
                }
            })
        );
        let newer = parse(r#"{"ev":"typing","user":2}"#).unwrap();
        assert_eq!(newer, Incoming::UnknownEvent("typing".into()));
        assert!(parse("not json").is_err());
        assert!(parse("[1,2]").is_err());
    }

    #[test]
    fn login_carries_the_heartbeat_and_nothing_else_does() {
        let login = Request::Login {
            user: 7,
            credential: Credential::Token("t".into()),
            heartbeat: None,
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
        let none: Value = serde_json::from_slice(&request_line(3, &login, None)).unwrap();
        assert_eq!(
            none,
            json!({"id": 3, "op": "login", "user": 7, "token": "t"})
        );
    }
}
