//! Durable state: accounts, tokens, friendships, groups, messages and each
//! user's inbox of unacked messages.
//!
//! [`Store`] is the interface the services use, made of one narrow trait per
//! concern; [`SqlStore`] implements them for SQLite (embedded, the default)
//! and MySQL/MariaDB (the cluster). The rows and outcomes they exchange are
//! in [`types`]. Only this module contains SQL, and every value reaches the
//! database as a bound parameter.

mod sql;
mod types;

/// The embedded store's message log: where it lives (for backups).
pub(crate) use sql::journal as sql_journal;
pub use sql::{SqlStore, SqliteSync, StoreOptions, redact, sqlite_path};
pub use types::*;

use async_trait::async_trait;
use chat_proto::{Msg, Role, Visibility};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (down, restarting, pool exhausted):
    /// nothing was changed and the request can be retried.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The transaction lost a race (deadlock, lock timeout, a Galera
    /// certification conflict) and was rolled back: nothing was changed
    /// and it can be retried at once. The SQL store retries its own calls
    /// a few times before it reports this.
    #[error("database conflict: {0}")]
    Conflict(String),
    /// The database was told to commit, and its answer was lost (the
    /// connection broke): the transaction may or may not have happened.
    /// Only [`BatchStore::resolve`] can tell.
    #[error("commit outcome unknown: {0}")]
    CommitUnknown(String),
    /// Anything else: a bug, a schema problem, a constraint we did not
    /// expect.
    #[error("database error: {0}")]
    Internal(String),
}

impl StoreError {
    /// The error of a COMMIT: a broken connection leaves its outcome
    /// unknown; any other error means it did not happen.
    pub fn at_commit(e: sqlx::Error) -> StoreError {
        match StoreError::from(e) {
            StoreError::Unavailable(detail) => StoreError::CommitUnknown(detail),
            other => other,
        }
    }
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
            // Deadlock (on Galera also a certification conflict with
            // another node's commit, or a transaction aborted for one),
            // lock wait timeout, an error during COMMIT (rolled back).
            1213 | 1205 | 1180 => Kind::Conflict,
            // Server shutdown, gone away, lost connection, too many
            // connections, read only, server closing; a Galera node that
            // is not part of the primary component ("WSREP has not yet
            // prepared node for application use").
            1053 | 2006 | 2013 | 1040 | 1290 | 1836 | 1927 | 1047 => Kind::Transient,
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

/// Accounts, tokens, and what a login reads. Deleted accounts are never
/// found: their rows stay only so their ids are never reused.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_user(&self, name: &str, pw_hash: &str, now_ms: u64) -> Result<u64>;
    async fn user(&self, id: u64) -> Result<Option<UserRow>>;
    /// The user and their password hash.
    async fn user_secret(&self, id: u64) -> Result<Option<(UserRow, String)>>;
    /// Replaces the password hash and revokes every token of the user.
    async fn set_password(&self, user: u64, pw_hash: &str) -> Result<()>;
    async fn insert_token(&self, hash: &[u8], user: u64, expires_ms: u64) -> Result<()>;
    /// The user a live token belongs to.
    async fn token_user(&self, hash: &[u8], now_ms: u64) -> Result<Option<UserRow>>;
    async fn delete_token(&self, hash: &[u8]) -> Result<()>;
    /// Revokes every token of the user.
    async fn delete_tokens(&self, user: u64) -> Result<()>;
    /// Drops expired tokens; returns how many.
    async fn purge_tokens(&self, now_ms: u64) -> Result<u64>;
    /// Everything a login lists, in one round trip.
    async fn snapshot(&self, user: u64) -> Result<Snapshot>;
    /// Deletes the account in one transaction: tokens, friendships,
    /// requests, invites, blocks both ways, memberships (a group it
    /// created passes to its longest-standing admin, else its
    /// longest-standing member, else is deleted) and its inbox. Messages it
    /// sent stay. `None` when there is no such (live) account.
    async fn delete_account(&self, user: u64, now_ms: u64) -> Result<Option<DeletedAccount>>;
}

/// Friendships, friend requests and blocks.
#[async_trait]
pub trait FriendStore: Send + Sync {
    async fn friend_ids(&self, user: u64) -> Result<Vec<u64>>;
    async fn are_friends(&self, a: u64, b: u64) -> Result<bool>;
    /// `a` asks `b` (see [`AddFriend`]).
    async fn add_friend(&self, a: u64, b: u64, now_ms: u64) -> Result<AddFriend>;
    /// `a` accepts `from`'s visible request: they become friends, and the
    /// requests between them are gone. `None` when there is no such
    /// request.
    async fn accept_friend(&self, a: u64, from: u64, now_ms: u64) -> Result<Option<UserRow>>;
    /// `a` drops `from`'s visible request; false when there was none.
    async fn decline_friend(&self, a: u64, from: u64) -> Result<bool>;
    /// `a` withdraws its request to `to`: `None` when there was none, else
    /// whether it was hidden (`to` blocks `a`).
    async fn cancel_friend(&self, a: u64, to: u64) -> Result<Option<bool>>;
    /// Returns false when they were not friends.
    async fn remove_friend(&self, a: u64, b: u64) -> Result<bool>;
    /// `a` blocks `b`: ends their friendship, drops the requests between
    /// them and `b`'s invites to `a`. Idempotent.
    async fn block(&self, a: u64, b: u64, now_ms: u64) -> Result<Block>;
    /// `a` unblocks `b` (and requests `b` made meanwhile are dropped).
    /// Idempotent.
    async fn unblock(&self, a: u64, b: u64) -> Result<()>;
    /// Whether `a` blocks `b`.
    async fn blocks(&self, a: u64, b: u64) -> Result<bool>;
}

/// Groups, memberships, roles and invitations. A member's `since` is the
/// first message id of their history window (from their last join).
#[async_trait]
pub trait GroupStore: Send + Sync {
    async fn create_group(
        &self,
        creator: u64,
        name: &str,
        desc: &str,
        visibility: Visibility,
        now_ms: u64,
    ) -> Result<u64>;
    async fn group(&self, id: u64) -> Result<Option<GroupRow>>;
    /// Changes what is given; `None` when the group is gone.
    async fn update_group(
        &self,
        id: u64,
        name: Option<&str>,
        desc: Option<&str>,
        visibility: Option<Visibility>,
    ) -> Result<Option<GroupRow>>;
    /// Joins as a plain member whose window starts at `since`, or after
    /// the group's last message if that is later (a message stored before
    /// the join, even in the same millisecond, is never the joiner's); a
    /// private group needs (and consumes) a pending invite.
    async fn join_group(&self, group: u64, user: u64, now_ms: u64, since: u64) -> Result<Join>;
    /// Invites `user` on behalf of `by` (checked by the caller).
    async fn invite(&self, group: u64, user: u64, by: u64, now_ms: u64) -> Result<Invited>;
    /// Drops `user`'s invite; false when there was none.
    async fn decline_invite(&self, group: u64, user: u64) -> Result<bool>;
    async fn role(&self, group: u64, user: u64) -> Result<Option<Role>>;
    /// The first message id the member may read.
    async fn member_since(&self, group: u64, user: u64) -> Result<Option<u64>>;
    /// Sets a member's role (admin or member); false when not a member.
    async fn set_role(&self, group: u64, user: u64, role: Role) -> Result<bool>;
    /// Makes member `to` the creator and creator `from` an admin; false
    /// when `to` is not a member.
    async fn transfer_group(&self, group: u64, from: u64, to: u64) -> Result<bool>;
    /// Returns false when the user was not a member.
    async fn leave_group(&self, group: u64, user: u64) -> Result<bool>;
    /// Deletes the group, its memberships and invites; returns the former
    /// members.
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
    /// A group's messages with ids from `since`, newest first.
    async fn history_group(
        &self,
        group: u64,
        since: u64,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Msg>>;
    /// Inbox messages with `after < id <= upto`, oldest first.
    async fn inbox_page(&self, user: u64, after: u64, upto: u64, limit: u32) -> Result<Vec<Msg>>;
}

/// The batching writer's one transaction.
#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Applies a batch in one transaction; on success every op has an
    /// outcome, in order. [`StoreError::CommitUnknown`] when the commit's
    /// answer was lost.
    async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>>;

    /// After [`StoreError::CommitUnknown`]: whether the batch is in the
    /// database. `Some` with the outcomes read back when it is; `None` when
    /// it is not (running it again is then safe).
    async fn resolve(&self, ops: &[WriteOp]) -> Result<Option<Vec<WriteOutcome>>>;
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
