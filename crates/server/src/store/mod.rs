//! Durable state: accounts, tokens, friendships, groups, messages and each
//! user's inbox of unacked messages.
//!
//! [`Store`] is the narrow interface the services use; [`SqlStore`]
//! implements it for SQLite (embedded, the default) and MySQL/MariaDB (the
//! cluster). Only this module contains SQL, and every value reaches the
//! database as a bound parameter.

mod sql;

pub use sql::{SqlStore, SqliteSync, StoreOptions};

use async_trait::async_trait;
use chat_proto::{Msg, Role};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (down, restarting, pool exhausted):
    /// nothing was changed and the request can be retried.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The transaction lost a race (deadlock, lock timeout) and was rolled
    /// back: nothing was changed and it can be retried at once.
    #[error("database conflict: {0}")]
    Conflict(String),
    /// Anything else: a bug, a schema problem, a constraint we did not
    /// expect.
    #[error("database error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::Tls(_) | E::WorkerCrashed => {
                StoreError::Unavailable(e.to_string())
            }
            E::Database(ref db) => match classify(db.as_ref()) {
                Kind::Conflict => StoreError::Conflict(e.to_string()),
                Kind::Transient => StoreError::Unavailable(e.to_string()),
                Kind::Other => StoreError::Internal(e.to_string()),
            },
            other => StoreError::Internal(other.to_string()),
        }
    }
}

enum Kind {
    /// Lost a race with another transaction: retry it.
    Conflict,
    /// The database is going away or overloaded.
    Transient,
    Other,
}

fn classify(db: &dyn sqlx::error::DatabaseError) -> Kind {
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return match my.number() {
            // Deadlock, lock wait timeout.
            1213 | 1205 => Kind::Conflict,
            // Server shutdown, gone away, lost connection, too many
            // connections, read only, server closing.
            1053 | 2006 | 2013 | 1040 | 1290 | 1836 | 1927 => Kind::Transient,
            _ => Kind::Other,
        };
    }
    match db.code().as_deref() {
        // SQLite: SQLITE_BUSY, SQLITE_LOCKED.
        Some("5" | "6") => Kind::Conflict,
        // SQLite: SQLITE_IOERR, SQLITE_FULL.
        Some("10" | "13") => Kind::Transient,
        _ => Kind::Other,
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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
}

/// A group the user is in, and the user's role there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub group: GroupRow,
    pub role: Role,
}

/// Where a user's unacked messages end when a login reads them: the
/// highest unacked id, and how many are at or below it. Messages committed
/// later reach the session live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InboxMark {
    pub upto: u64,
    pub count: u64,
}

/// What a login shows: friends, groups with the user's role, and the
/// inbox mark.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub friends: Vec<UserRow>,
    pub groups: Vec<Membership>,
    pub inbox: InboxMark,
}

/// Outcome of adding a friendship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddFriend {
    /// Both rows were written; here is the new friend.
    Added(UserRow),
    NoSuchUser,
    AlreadyFriends,
}

/// Outcome of joining a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Join {
    Joined(GroupRow),
    NoSuchGroup,
    AlreadyMember,
}

/// Where a new message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    User(u64),
    Group(u64),
}

/// A message to store, with the id and time the writer gave it.
#[derive(Debug, Clone)]
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

/// What storing one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Stored, with an inbox row for each of these recipients.
    New { recipients: Vec<u64> },
    /// The sender had already sent this `cid`: the original's id and time.
    Duplicate { id: u64, ts: u64 },
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

/// The storage the services need: one narrow trait per concern, each
/// implemented by every backend. Implementations must be safe to share
/// between all sessions of a node, and between nodes (MySQL).
#[async_trait]
pub trait Store:
    AccountStore + FriendStore + GroupStore + MessageStore + BatchStore + SlotStore + 'static
{
    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;
}

/// Accounts, tokens, and what a login reads.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_user(&self, name: &str, pw_hash: &str, now_ms: u64) -> Result<u64>;
    async fn user(&self, id: u64) -> Result<Option<UserRow>>;
    /// The user and their password hash.
    async fn user_secret(&self, id: u64) -> Result<Option<(UserRow, String)>>;
    async fn insert_token(&self, hash: &[u8], user: u64, expires_ms: u64) -> Result<()>;
    /// The user a live token belongs to.
    async fn token_user(&self, hash: &[u8], now_ms: u64) -> Result<Option<UserRow>>;
    async fn delete_token(&self, hash: &[u8]) -> Result<()>;
    /// Drops expired tokens; returns how many.
    async fn purge_tokens(&self, now_ms: u64) -> Result<u64>;
    /// Friends, groups and inbox mark at once (a login needs all three;
    /// one round trip instead of three).
    async fn snapshot(&self, user: u64) -> Result<Snapshot>;
}

/// Friendships.
#[async_trait]
pub trait FriendStore: Send + Sync {
    async fn friend_ids(&self, user: u64) -> Result<Vec<u64>>;
    async fn are_friends(&self, a: u64, b: u64) -> Result<bool>;
    async fn add_friend(&self, a: u64, b: u64, now_ms: u64) -> Result<AddFriend>;
    /// Returns false when they were not friends.
    async fn remove_friend(&self, a: u64, b: u64) -> Result<bool>;
}

/// Groups and memberships.
#[async_trait]
pub trait GroupStore: Send + Sync {
    async fn create_group(&self, creator: u64, name: &str, desc: &str, now_ms: u64) -> Result<u64>;
    async fn group(&self, id: u64) -> Result<Option<GroupRow>>;
    async fn join_group(&self, group: u64, user: u64, now_ms: u64) -> Result<Join>;
    async fn role(&self, group: u64, user: u64) -> Result<Option<Role>>;
    /// Returns false when the user was not a member.
    async fn leave_group(&self, group: u64, user: u64) -> Result<bool>;
    /// Deletes the group and its memberships; returns the former members.
    async fn delete_group(&self, group: u64) -> Result<Vec<u64>>;
    async fn members(&self, group: u64) -> Result<Vec<(UserRow, Role)>>;
    async fn member_ids(&self, group: u64) -> Result<Vec<u64>>;
}

/// Messages, inboxes and history.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// The highest message id stored, so a restarted node never reuses one.
    async fn max_message_id(&self) -> Result<u64>;
    /// One-to-one messages between `a` and `b`, newest first.
    async fn history_with(
        &self,
        a: u64,
        b: u64,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Msg>>;
    /// A group's messages, newest first.
    async fn history_group(&self, group: u64, before: Option<u64>, limit: u32) -> Result<Vec<Msg>>;
    /// Inbox messages with `after < id <= upto`, oldest first.
    async fn inbox_page(&self, user: u64, after: u64, upto: u64, limit: u32) -> Result<Vec<Msg>>;
}

/// The batching writer's one transaction.
#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Applies a batch in one transaction; on success every op has an
    /// outcome, in order.
    async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>>;
}

/// Node slots (see ids.rs).
#[async_trait]
pub trait SlotStore: Send + Sync {
    /// Takes a free (or expired, or already ours) slot until
    /// `now_ms + lease_ms`; `None` when all are held.
    async fn claim_slot(&self, owner: &str, now_ms: u64, lease_ms: u64) -> Result<Option<u16>>;
    /// Extends our lease; false when the slot is no longer ours.
    async fn renew_slot(&self, slot: u16, owner: &str, now_ms: u64, lease_ms: u64) -> Result<bool>;
    /// Gives the slot back (clean shutdown).
    async fn release_slot(&self, slot: u16, owner: &str) -> Result<()>;
}
