//! Events: frames the server pushes at any time, marked by `ev`.

use serde::{Deserialize, Serialize};

use crate::types::{Msg, User};

/// Every event of protocol version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// A message for you, or one you sent from another session.
    Msg { msg: Msg },
    /// A friend's first session started or last session ended.
    Presence { user: u64, online: bool },
    /// Someone made friends with you.
    FriendAdded { user: User },
    /// Someone ended your friendship.
    FriendRemoved { user: u64 },
    /// A group you were in was deleted by its creator.
    GroupDeleted { group: u64 },
    /// Someone joined a group you are in.
    MemberJoined { group: u64, user: User },
    /// Someone left a group you are in.
    MemberLeft { group: u64, user: User },
}

impl Event {
    /// The event as one line, ready to write.
    pub fn to_line(&self) -> Vec<u8> {
        crate::codec::encode_line(self)
    }
}
