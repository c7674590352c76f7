//! Store rows as the wire shows them.

use chat_proto::{Group, Invite, Role, User};

use crate::store::{GroupRow, InviteRow, UserRow};

/// A user, with presence where the reader may see it.
pub fn user(row: UserRow, online: Option<bool>) -> User {
    User {
        id: row.id,
        name: row.name,
        online,
    }
}

/// A group, with the reader's role when they are a member.
pub fn group(row: GroupRow, role: Option<Role>) -> Group {
    Group {
        id: row.id,
        name: row.name,
        desc: row.desc,
        visibility: row.visibility,
        role,
    }
}

/// An invitation: the group (without a role) and who invited.
pub fn invite(row: InviteRow) -> Invite {
    Invite {
        group: group(row.group, None),
        by: user(row.by, None),
    }
}
