//! Server-to-client replies, and the client's view of everything the server
//! sends.
//!
//! A reply is `{"re": id, "ok": true, ...body}` or
//! `{"re": id, "ok": false, "code": ..., "error": ...}`. The body types
//! below are the success fields of each op.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::event::Event;
use crate::types::{Group, Invite, Member, Msg, MsgRef, User};

/// The body of a reply without result fields (`ping`, `logout`, `ack`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `register`: the new account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub user: User,
}

/// What `login` and `sync` list: friends (with presence), groups (with
/// your role), friend requests both ways, whom you block, and your
/// pending group invites.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lists {
    pub friends: Vec<User>,
    pub groups: Vec<Group>,
    #[serde(default)]
    pub requests_in: Vec<User>,
    #[serde(default)]
    pub requests_out: Vec<User>,
    #[serde(default)]
    pub blocked: Vec<User>,
    #[serde(default)]
    pub invites: Vec<Invite>,
}

/// `login`: who you are, your token, your lists and how many unacked
/// messages follow as `msg` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedIn {
    pub user: User,
    pub token: String,
    #[serde(flatten)]
    pub lists: Lists,
    pub unread: u64,
}

/// `whoami`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whoami {
    pub user: User,
}

/// `sync`: the lists again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synced {
    #[serde(flatten)]
    pub lists: Lists,
}

/// What `add_friend` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FriendStatus {
    /// The other side had asked already: you are friends now.
    Friends,
    /// A request was sent (or was pending already).
    Requested,
}

/// `add_friend`: `friend` is present when the status is `friends`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequested {
    pub status: FriendStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friend: Option<User>,
}

/// `accept_friend`: the new friend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendAdded {
    pub friend: User,
}

/// `change_password`: the session's new token (every other one is
/// revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub token: String,
}

/// `chat` and `group_chat`: the stored message's id and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub msg: MsgRef,
}

/// `create_group`, `join_group` and `update_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReply {
    pub group: Group,
}

/// `group_members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    pub members: Vec<Member>,
}

/// `history`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub messages: Vec<Msg>,
}

/// The fields of a failed reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub error: String,
    /// With `rate_limited` for password logins: seconds until a try may
    /// pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct OkReply<'a, T: Serialize> {
    re: Option<u64>,
    ok: bool,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Serialize)]
struct ErrReply<'a> {
    re: Option<u64>,
    ok: bool,
    code: ErrorCode,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

/// Encodes a successful reply as one line.
pub fn ok_line<T: Serialize>(re: Option<u64>, body: &T) -> Vec<u8> {
    crate::codec::encode_line(&OkReply { re, ok: true, body })
}

/// Encodes a failed reply as one line.
pub fn err_line(re: Option<u64>, code: ErrorCode, error: &str) -> Vec<u8> {
    err_line_retry(re, code, error, None)
}

/// Encodes a failed reply as one line, with `retry_after` when given.
pub fn err_line_retry(
    re: Option<u64>,
    code: ErrorCode,
    error: &str,
    retry_after: Option<u64>,
) -> Vec<u8> {
    crate::codec::encode_line(&ErrReply {
        re,
        ok: false,
        code,
        error,
        retry_after,
    })
}

/// A reply as a client receives it; the body is decoded on demand, since
/// only the client knows which op it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub re: Option<u64>,
    /// `Ok` holds the whole line, to decode with [`Reply::body`].
    pub result: Result<String, ErrorBody>,
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// Decodes the success fields as `T`.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, ReplyError> {
        match &self.result {
            Ok(line) => {
                serde_json::from_str(line).map_err(|e| ReplyError::Malformed(e.to_string()))
            }
            Err(e) => Err(ReplyError::Failed(e.clone())),
        }
    }
}

/// Why a reply's body could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("{}: {}", .0.code, .0.error)]
    Failed(ErrorBody),
    #[error("malformed reply: {0}")]
    Malformed(String),
}

/// Anything the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    Reply(Reply),
    Event(Event),
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    ev: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    re: Option<u64>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    code: Option<ErrorCode>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    retry_after: Option<u64>,
}

impl ServerFrame {
    /// Decodes one line sent by the server.
    pub fn parse(line: &str) -> Result<ServerFrame, serde_json::Error> {
        let probe: Probe = serde_json::from_str(line)?;
        if probe.ev.is_some() {
            return Ok(ServerFrame::Event(serde_json::from_str(line)?));
        }
        let result = match probe.ok {
            Some(true) => Ok(line.to_owned()),
            _ => Err(ErrorBody {
                code: probe.code.unwrap_or(ErrorCode::Internal),
                error: probe.error.unwrap_or_default(),
                retry_after: probe.retry_after,
            }),
        };
        Ok(ServerFrame::Reply(Reply {
            re: probe.re,
            result,
        }))
    }
}
