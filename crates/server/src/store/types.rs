//! The rows the store returns and the outcomes of its writes: plain data,
//! no SQL.

use chat_proto::{Msg, Role, Visibility};

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: u64,
    pub name: String,
}

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: u64,
    pub name: String,
    pub desc: String,
    pub creator: u64,
    pub visibility: Visibility,
}

/// A group the user is in, and the user's role there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub group: GroupRow,
    pub role: Role,
}

/// A pending invitation to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRow {
    pub group: GroupRow,
    pub by: UserRow,
}

/// Where a user's unacked messages end when a login reads them: the
/// highest unacked id, and how many are at or below it. Messages committed
/// later reach the session live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InboxMark {
    pub upto: u64,
    pub count: u64,
}

/// What a login (and `sync`) shows: friends, groups with the user's role,
/// friend requests both ways (incoming ones from users the user blocks are
/// left out), whom the user blocks, pending invites, and the inbox mark.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub friends: Vec<UserRow>,
    pub groups: Vec<Membership>,
    pub requests_in: Vec<UserRow>,
    pub requests_out: Vec<UserRow>,
    pub blocked: Vec<UserRow>,
    pub invites: Vec<InviteRow>,
    pub inbox: InboxMark,
}

/// Outcome of `add_friend` (a request, or the acceptance of a crossing
/// one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddFriend {
    /// The target had asked already: they are friends now.
    Accepted(UserRow),
    /// A request from `a` to `b` is pending. `new` is false when it was
    /// pending already; `hidden` when `b` blocks `a` (nothing may reach
    /// `b`).
    Requested {
        target: UserRow,
        new: bool,
        hidden: bool,
    },
    /// `a` blocks `b`.
    YouBlock,
    NoSuchUser,
    AlreadyFriends,
}

/// Outcome of `block`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Done (or was already); `was_friend` when a friendship ended.
    Done {
        was_friend: bool,
    },
    NoSuchUser,
}

/// Outcome of joining a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Join {
    /// Joined (consuming the invite, if any).
    Joined(GroupRow),
    /// No such group, or a private one and no invite.
    NoSuchGroup,
    AlreadyMember,
}

/// Outcome of an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invited {
    /// Stored (or refreshed); the invitee may join.
    Invited,
    AlreadyMember,
}

/// What became of a group its creator left by deleting their account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupFate {
    /// The user was a plain member or an admin: they just left.
    Left,
    /// The user created it: it passed to this member (now its creator).
    PassedTo(u64),
    /// The user created it and nobody else was in it: it is gone.
    Deleted,
}

/// A group a deleted account was in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupExit {
    pub group: u64,
    /// The members left in it.
    pub members: Vec<u64>,
    pub fate: GroupFate,
}

/// What deleting an account touched, so everyone concerned can be told.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeletedAccount {
    /// Former friends (`friend_removed`).
    pub friends: Vec<u64>,
    /// Users the account had a pending, visible request to
    /// (`friend_request_cancelled`).
    pub requested: Vec<u64>,
    pub groups: Vec<GroupExit>,
}

/// Where a new message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    User(u64),
    Group(u64),
}

/// A message to store, with the id and time the writer gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMsg {
    pub id: u64,
    pub ts: u64,
    pub from: u64,
    pub target: Target,
    pub text: String,
    pub cid: Option<String>,
}

impl NewMsg {
    /// The message as the wire shows it.
    pub fn to_wire(&self) -> Msg {
        let (to, group) = match self.target {
            Target::User(u) => (Some(u), None),
            Target::Group(g) => (None, Some(g)),
        };
        Msg {
            id: self.id,
            from: self.from,
            to,
            group,
            text: self.text.clone(),
            ts: self.ts,
            cid: self.cid.clone(),
        }
    }
}

/// Why a message was not stored: the rule checked when it was accepted no
/// longer held when it was committed (a block, unfriend or kick made on
/// another node a moment before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFriend,
    NotMember,
}

/// What storing one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Not stored (see [`Refusal`]).
    Refused(Refusal),
    /// Stored, with an inbox row for each of these recipients.
    New { recipients: Vec<u64> },
    /// The sender had already sent this `cid`: the original's id and time,
    /// and, when it was stored by an earlier transaction, the original
    /// itself with its recipients: the first attempt's delivery may have
    /// been lost with its node, so a retry delivers again (clients drop
    /// duplicates by id).
    Duplicate {
        id: u64,
        ts: u64,
        again: Option<Box<Redeliver>>,
    },
}

/// A stored message to deliver again, and to whom (those who have not
/// acked it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeliver {
    pub msg: NewMsg,
    pub recipients: Vec<u64>,
}

/// One item of a batched write transaction.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Msg(NewMsg),
    /// Removes these messages from the user's inbox.
    Ack {
        user: u64,
        ids: Vec<u64>,
    },
}

/// Result of one [`WriteOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Msg(Stored),
    Acked,
}
