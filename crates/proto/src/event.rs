//! Events: frames the server pushes at any time, marked by `ev`.

use serde::{Deserialize, Serialize};

use crate::types::{Group, Msg, Role, User};

/// Why a session was ended by another session of the same user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    PasswordChanged,
    AccountDeleted,
    LoggedOut,
}

/// Every event of protocol version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// A message for you, or one you sent from another session.
    Msg { msg: Msg },
    /// A friend's first session started or last session ended.
    Presence { user: u64, online: bool },
    /// Someone asks to be your friend (`user` without `online`).
    FriendRequest { user: User },
    /// Someone withdrew their request to you.
    FriendRequestCancelled { user: u64 },
    /// A new friendship: the other side accepted your request, or you
    /// accepted theirs on another session.
    FriendAdded { user: User },
    /// Someone ended your friendship (also by blocking you, or by deleting
    /// their account).
    FriendRemoved { user: u64 },
    /// You were invited to a group (`group` without `role`).
    GroupInvite { group: Group, by: User },
    /// A group you are in changed its name, description or visibility.
    GroupUpdated { group: Group },
    /// A group you were in was deleted by its creator.
    GroupDeleted { group: u64 },
    /// Someone joined a group you are in.
    MemberJoined { group: u64, user: User },
    /// Someone left a group you are in; `by` is who kicked them.
    MemberLeft {
        group: u64,
        user: User,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<u64>,
    },
    /// You were kicked from a group.
    RemovedFromGroup { group: u64, by: u64 },
    /// A member's role changed.
    MemberRole { group: u64, user: u64, role: Role },
    /// This session was ended by another session of the same user; the
    /// connection closes next.
    SessionEnded { reason: EndReason },
}

impl Event {
    /// The event as one line, ready to write.
    pub fn to_line(&self) -> Vec<u8> {
        crate::codec::encode_line(self)
    }
}
