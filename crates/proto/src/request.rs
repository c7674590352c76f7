//! Client-to-server requests.
//!
//! Decoding happens in two steps so that the server can apply its rules in
//! the contract's order: [`Frame::parse`] reads the envelope (`op`, `id`)
//! and keeps the other fields raw; the server then checks the op and the
//! login state, and only then [`Frame::request`] decodes and validates the
//! op's fields, naming the first field that is wrong.
//!
//! Over 500 lines: thirty ops, each with its variant, its name and its
//! field decoding; one table read top to bottom is easier to check against
//! the contract than the same split across files.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::types::{Role, Visibility};
use crate::validate::{self, FieldError};

/// Every operation of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Ping,
    Register,
    Login,
    Logout,
    Whoami,
    Sync,
    AddFriend,
    AcceptFriend,
    DeclineFriend,
    CancelFriend,
    Block,
    Unblock,
    ChangePassword,
    DeleteAccount,
    RemoveFriend,
    Chat,
    CreateGroup,
    UpdateGroup,
    JoinGroup,
    Invite,
    DeclineInvite,
    Kick,
    SetRole,
    TransferGroup,
    QuitGroup,
    DeleteGroup,
    GroupMembers,
    GroupChat,
    History,
    Ack,
}

impl Op {
    pub const ALL: [Op; 30] = [
        Op::Ping,
        Op::Register,
        Op::Login,
        Op::Logout,
        Op::Whoami,
        Op::Sync,
        Op::AddFriend,
        Op::AcceptFriend,
        Op::DeclineFriend,
        Op::CancelFriend,
        Op::Block,
        Op::Unblock,
        Op::ChangePassword,
        Op::DeleteAccount,
        Op::RemoveFriend,
        Op::Chat,
        Op::CreateGroup,
        Op::UpdateGroup,
        Op::JoinGroup,
        Op::Invite,
        Op::DeclineInvite,
        Op::Kick,
        Op::SetRole,
        Op::TransferGroup,
        Op::QuitGroup,
        Op::DeleteGroup,
        Op::GroupMembers,
        Op::GroupChat,
        Op::History,
        Op::Ack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Ping => "ping",
            Op::Register => "register",
            Op::Login => "login",
            Op::Logout => "logout",
            Op::Whoami => "whoami",
            Op::Sync => "sync",
            Op::AddFriend => "add_friend",
            Op::AcceptFriend => "accept_friend",
            Op::DeclineFriend => "decline_friend",
            Op::CancelFriend => "cancel_friend",
            Op::Block => "block",
            Op::Unblock => "unblock",
            Op::ChangePassword => "change_password",
            Op::DeleteAccount => "delete_account",
            Op::RemoveFriend => "remove_friend",
            Op::Chat => "chat",
            Op::CreateGroup => "create_group",
            Op::UpdateGroup => "update_group",
            Op::JoinGroup => "join_group",
            Op::Invite => "invite",
            Op::DeclineInvite => "decline_invite",
            Op::Kick => "kick",
            Op::SetRole => "set_role",
            Op::TransferGroup => "transfer_group",
            Op::QuitGroup => "quit_group",
            Op::DeleteGroup => "delete_group",
            Op::GroupMembers => "group_members",
            Op::GroupChat => "group_chat",
            Op::History => "history",
            Op::Ack => "ack",
        }
    }

    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// Whether the op may be used before `login`.
    pub fn allowed_before_login(self) -> bool {
        matches!(self, Op::Ping | Op::Register | Op::Login)
    }
}

/// How a `login` proves who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    Password(String),
    Token(String),
}

/// Whose history a `history` request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryTarget {
    /// The one-to-one conversation with this user.
    With(u64),
    /// This group's conversation.
    Group(u64),
}

/// A decoded, validated request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Ping,
    Register {
        name: String,
        password: String,
    },
    Login {
        user: u64,
        #[serde(flatten)]
        credential: Credential,
        /// This server's extension: the client promises to send something
        /// at least every this many seconds, so the server may end a
        /// silent session sooner than the idle timeout.
        #[serde(skip_serializing_if = "Option::is_none")]
        heartbeat: Option<u32>,
    },
    Logout {
        revoke: bool,
        everywhere: bool,
    },
    Whoami,
    Sync,
    AddFriend {
        user: u64,
    },
    AcceptFriend {
        user: u64,
    },
    DeclineFriend {
        user: u64,
    },
    CancelFriend {
        user: u64,
    },
    Block {
        user: u64,
    },
    Unblock {
        user: u64,
    },
    ChangePassword {
        old: String,
        new: String,
    },
    DeleteAccount {
        password: String,
    },
    RemoveFriend {
        user: u64,
    },
    Chat {
        to: u64,
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
    CreateGroup {
        name: String,
        desc: String,
        visibility: Visibility,
    },
    /// At least one of the three is present.
    UpdateGroup {
        group: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        desc: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        visibility: Option<Visibility>,
    },
    JoinGroup {
        group: u64,
    },
    Invite {
        group: u64,
        user: u64,
    },
    DeclineInvite {
        group: u64,
    },
    Kick {
        group: u64,
        user: u64,
    },
    /// `role` is `admin` or `member`.
    SetRole {
        group: u64,
        user: u64,
        role: Role,
    },
    TransferGroup {
        group: u64,
        user: u64,
    },
    QuitGroup {
        group: u64,
    },
    DeleteGroup {
        group: u64,
    },
    GroupMembers {
        group: u64,
    },
    GroupChat {
        group: u64,
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
    History {
        #[serde(flatten)]
        target: HistoryTarget,
        #[serde(skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        limit: u32,
    },
    Ack {
        ids: Vec<u64>,
    },
}

/// A request with its id, as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestFrame {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(flatten)]
    pub request: Request,
}

impl RequestFrame {
    /// The frame as one line, ready to write.
    pub fn to_line(&self) -> Vec<u8> {
        crate::codec::encode_line(self)
    }
}

/// Why a line could not be turned into a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not a JSON object (`bad_json`).
    #[error("{0}")]
    BadJson(String),
    /// A JSON object whose envelope is wrong (`bad_request`).
    #[error("{error}")]
    BadRequest { id: Option<u64>, error: String },
    /// An op that is not in the contract (`unknown_op`).
    #[error("unknown op `{op}`")]
    UnknownOp { id: Option<u64>, op: String },
}

impl DecodeError {
    /// The request id to echo as `re`, when one could be read.
    pub fn id(&self) -> Option<u64> {
        match self {
            DecodeError::BadJson(_) => None,
            DecodeError::BadRequest { id, .. } | DecodeError::UnknownOp { id, .. } => *id,
        }
    }
}

/// Every field any request may carry, kept as raw JSON until the op is known.
/// Fields the contract does not name are ignored, so newer clients can send
/// optional extras to older servers.
#[derive(Deserialize, Default)]
struct Fields<'a> {
    #[serde(borrow, default)]
    op: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    password: Option<&'a RawValue>,
    #[serde(borrow, default)]
    token: Option<&'a RawValue>,
    #[serde(borrow, default)]
    user: Option<&'a RawValue>,
    #[serde(borrow, default)]
    revoke: Option<&'a RawValue>,
    #[serde(borrow, default)]
    to: Option<&'a RawValue>,
    #[serde(borrow, default)]
    text: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cid: Option<&'a RawValue>,
    #[serde(borrow, default)]
    desc: Option<&'a RawValue>,
    #[serde(borrow, default)]
    group: Option<&'a RawValue>,
    #[serde(borrow, default)]
    with: Option<&'a RawValue>,
    #[serde(borrow, default)]
    before: Option<&'a RawValue>,
    #[serde(borrow, default)]
    limit: Option<&'a RawValue>,
    #[serde(borrow, default)]
    ids: Option<&'a RawValue>,
    #[serde(borrow, default)]
    everywhere: Option<&'a RawValue>,
    #[serde(borrow, default)]
    old: Option<&'a RawValue>,
    #[serde(borrow, default)]
    new: Option<&'a RawValue>,
    #[serde(borrow, default)]
    visibility: Option<&'a RawValue>,
    #[serde(borrow, default)]
    role: Option<&'a RawValue>,
    #[serde(borrow, default)]
    heartbeat: Option<&'a RawValue>,
}

/// A request line whose envelope has been read.
pub struct Frame<'a> {
    /// The client's request id, echoed as `re`.
    pub id: Option<u64>,
    /// The operation named by `op`.
    pub op: Op,
    fields: Fields<'a>,
}

fn is_json_object(line: &[u8]) -> bool {
    line.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

impl<'a> Frame<'a> {
    /// Reads the envelope of one line: it must be a JSON object with a
    /// string `op` naming an op of the contract and, if present, an
    /// unsigned integer `id`.
    pub fn parse(line: &'a [u8]) -> Result<Frame<'a>, DecodeError> {
        let Ok(text) = std::str::from_utf8(line) else {
            // serde_json does not check the UTF-8 of fields it skips.
            return Err(DecodeError::BadJson("a frame must be valid UTF-8".into()));
        };
        if !is_json_object(line) {
            return Err(DecodeError::BadJson("a frame must be a JSON object".into()));
        }
        let fields: Fields<'a> = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) if e.is_data() => {
                // Valid JSON, but with a repeated key.
                return Err(DecodeError::BadRequest {
                    id: None,
                    error: strip_position(&e),
                });
            }
            Err(e) => return Err(DecodeError::BadJson(format!("invalid JSON: {e}"))),
        };
        let id = opt_u64(fields.id, "id").map_err(|e| DecodeError::BadRequest {
            id: None,
            error: e.to_string(),
        })?;
        let op_name: String = match fields.op {
            None => {
                return Err(DecodeError::BadRequest {
                    id,
                    error: "field `op` is missing".into(),
                });
            }
            Some(raw) => serde_json::from_str(raw.get()).map_err(|_| DecodeError::BadRequest {
                id,
                error: "field `op` must be a string".into(),
            })?,
        };
        let Some(op) = Op::from_name(&op_name) else {
            let mut shown = op_name;
            if shown.len() > 64 {
                let mut cut = 64;
                while !shown.is_char_boundary(cut) {
                    cut -= 1;
                }
                shown.truncate(cut);
            }
            return Err(DecodeError::UnknownOp { id, op: shown });
        };
        Ok(Frame { id, op, fields })
    }

    /// Decodes and validates the op's fields.
    pub fn request(&self) -> Result<Request, FieldError> {
        let f = &self.fields;
        Ok(match self.op {
            Op::Ping => Request::Ping,
            Op::Register => {
                let name = validate::user_name(&req_str(f.name, "name")?)?;
                let password = req_str(f.password, "password")?;
                validate::password(&password)?;
                Request::Register { name, password }
            }
            Op::Login => {
                let user = req_u64(f.user, "user")?;
                let password = opt_str(f.password, "password")?;
                let token = opt_str(f.token, "token")?;
                let credential = match (password, token) {
                    (Some(p), None) => {
                        validate::password(&p)?;
                        Credential::Password(p)
                    }
                    (None, Some(t)) => {
                        validate::token(&t)?;
                        Credential::Token(t)
                    }
                    (None, None) => {
                        return Err(FieldError::new(
                            "password",
                            "is missing (give `password` or `token`)",
                        ));
                    }
                    (Some(_), Some(_)) => {
                        return Err(FieldError::new(
                            "token",
                            "must not be given together with `password`",
                        ));
                    }
                };
                let heartbeat = match opt_u64(f.heartbeat, "heartbeat")? {
                    Some(n) => Some(validate::heartbeat(n)?),
                    None => None,
                };
                Request::Login {
                    user,
                    credential,
                    heartbeat,
                }
            }
            Op::Logout => Request::Logout {
                revoke: opt_bool(f.revoke, "revoke")?.unwrap_or(false),
                everywhere: opt_bool(f.everywhere, "everywhere")?.unwrap_or(false),
            },
            Op::Whoami => Request::Whoami,
            Op::Sync => Request::Sync,
            Op::AddFriend => Request::AddFriend {
                user: req_u64(f.user, "user")?,
            },
            Op::AcceptFriend => Request::AcceptFriend {
                user: req_u64(f.user, "user")?,
            },
            Op::DeclineFriend => Request::DeclineFriend {
                user: req_u64(f.user, "user")?,
            },
            Op::CancelFriend => Request::CancelFriend {
                user: req_u64(f.user, "user")?,
            },
            Op::Block => Request::Block {
                user: req_u64(f.user, "user")?,
            },
            Op::Unblock => Request::Unblock {
                user: req_u64(f.user, "user")?,
            },
            Op::ChangePassword => {
                let old = req_str(f.old, "old")?;
                let new = req_str(f.new, "new")?;
                validate::new_password(&new)?;
                Request::ChangePassword { old, new }
            }
            Op::DeleteAccount => {
                let password = req_str(f.password, "password")?;
                validate::password(&password)?;
                Request::DeleteAccount { password }
            }
            Op::RemoveFriend => Request::RemoveFriend {
                user: req_u64(f.user, "user")?,
            },
            Op::Chat => {
                let to = req_u64(f.to, "to")?;
                let (text, cid) = text_and_cid(f)?;
                Request::Chat { to, text, cid }
            }
            Op::CreateGroup => {
                let name = validate::group_name(&req_str(f.name, "name")?)?;
                let desc = opt_str(f.desc, "desc")?.unwrap_or_default();
                validate::group_desc(&desc)?;
                let visibility = opt_visibility(f.visibility)?.unwrap_or_default();
                Request::CreateGroup {
                    name,
                    desc,
                    visibility,
                }
            }
            Op::UpdateGroup => {
                let group = req_u64(f.group, "group")?;
                let name = match opt_str(f.name, "name")? {
                    Some(n) => Some(validate::group_name(&n)?),
                    None => None,
                };
                let desc = opt_str(f.desc, "desc")?;
                if let Some(d) = &desc {
                    validate::group_desc(d)?;
                }
                let visibility = opt_visibility(f.visibility)?;
                if name.is_none() && desc.is_none() && visibility.is_none() {
                    return Err(FieldError::new(
                        "name",
                        "is missing (give at least one of `name`, `desc`, `visibility`)",
                    ));
                }
                Request::UpdateGroup {
                    group,
                    name,
                    desc,
                    visibility,
                }
            }
            Op::JoinGroup => Request::JoinGroup {
                group: req_u64(f.group, "group")?,
            },
            Op::Invite => Request::Invite {
                group: req_u64(f.group, "group")?,
                user: req_u64(f.user, "user")?,
            },
            Op::DeclineInvite => Request::DeclineInvite {
                group: req_u64(f.group, "group")?,
            },
            Op::Kick => Request::Kick {
                group: req_u64(f.group, "group")?,
                user: req_u64(f.user, "user")?,
            },
            Op::SetRole => {
                let group = req_u64(f.group, "group")?;
                let user = req_u64(f.user, "user")?;
                let role = match req_str(f.role, "role")?.as_str() {
                    "admin" => Role::Admin,
                    "member" => Role::Member,
                    _ => return Err(FieldError::new("role", "must be `admin` or `member`")),
                };
                Request::SetRole { group, user, role }
            }
            Op::TransferGroup => Request::TransferGroup {
                group: req_u64(f.group, "group")?,
                user: req_u64(f.user, "user")?,
            },
            Op::QuitGroup => Request::QuitGroup {
                group: req_u64(f.group, "group")?,
            },
            Op::DeleteGroup => Request::DeleteGroup {
                group: req_u64(f.group, "group")?,
            },
            Op::GroupMembers => Request::GroupMembers {
                group: req_u64(f.group, "group")?,
            },
            Op::GroupChat => {
                let group = req_u64(f.group, "group")?;
                let (text, cid) = text_and_cid(f)?;
                Request::GroupChat { group, text, cid }
            }
            Op::History => {
                let with = opt_u64(f.with, "with")?;
                let group = opt_u64(f.group, "group")?;
                let target = match (with, group) {
                    (Some(u), None) => HistoryTarget::With(u),
                    (None, Some(g)) => HistoryTarget::Group(g),
                    (None, None) => {
                        return Err(FieldError::new(
                            "with",
                            "is missing (give `with` or `group`)",
                        ));
                    }
                    (Some(_), Some(_)) => {
                        return Err(FieldError::new(
                            "group",
                            "must not be given together with `with`",
                        ));
                    }
                };
                let before = opt_u64(f.before, "before")?;
                let limit = match opt_u64(f.limit, "limit")? {
                    Some(n) => validate::limit(n)?,
                    None => validate::HISTORY_LIMIT_DEFAULT,
                };
                Request::History {
                    target,
                    before,
                    limit,
                }
            }
            Op::Ack => {
                let raw = f.ids.ok_or_else(|| FieldError::new("ids", "is missing"))?;
                let ids: Vec<u64> = serde_json::from_str(raw.get())
                    .map_err(|_| FieldError::new("ids", "must be an array of unsigned integers"))?;
                validate::ack_ids(&ids)?;
                Request::Ack { ids }
            }
        })
    }
}

/// serde_json appends "at line 1 column 7"; for one-line frames that adds
/// nothing a client can use.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

fn text_and_cid(f: &Fields<'_>) -> Result<(String, Option<String>), FieldError> {
    let text = req_str(f.text, "text")?;
    validate::text(&text)?;
    let cid = opt_str(f.cid, "cid")?;
    if let Some(c) = &cid {
        validate::cid(c)?;
    }
    Ok((text, cid))
}

fn opt_u64(raw: Option<&RawValue>, field: &'static str) -> Result<Option<u64>, FieldError> {
    raw.map(|r| {
        serde_json::from_str::<u64>(r.get())
            .map_err(|_| FieldError::new(field, "must be an unsigned integer"))
    })
    .transpose()
}

fn req_u64(raw: Option<&RawValue>, field: &'static str) -> Result<u64, FieldError> {
    opt_u64(raw, field)?.ok_or_else(|| FieldError::new(field, "is missing"))
}

fn opt_str(raw: Option<&RawValue>, field: &'static str) -> Result<Option<String>, FieldError> {
    raw.map(|r| {
        serde_json::from_str::<String>(r.get())
            .map_err(|_| FieldError::new(field, "must be a string"))
    })
    .transpose()
}

fn req_str(raw: Option<&RawValue>, field: &'static str) -> Result<String, FieldError> {
    opt_str(raw, field)?.ok_or_else(|| FieldError::new(field, "is missing"))
}

fn opt_visibility(raw: Option<&RawValue>) -> Result<Option<Visibility>, FieldError> {
    Ok(match opt_str(raw, "visibility")?.as_deref() {
        None => None,
        Some("public") => Some(Visibility::Public),
        Some("private") => Some(Visibility::Private),
        Some(_) => {
            return Err(FieldError::new(
                "visibility",
                "must be `public` or `private`",
            ));
        }
    })
}

fn opt_bool(raw: Option<&RawValue>, field: &'static str) -> Result<Option<bool>, FieldError> {
    raw.map(|r| {
        serde_json::from_str::<bool>(r.get())
            .map_err(|_| FieldError::new(field, "must be true or false"))
    })
    .transpose()
}
