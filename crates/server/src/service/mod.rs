//! The operations of the protocol, grouped by concept. Each takes the node,
//! the caller and a typed request, applies the rules, changes the store,
//! sends the events it causes, and returns a typed reply or a [`Failure`].
//! Nothing here knows about sockets.

pub mod accounts;
pub mod friends;
pub mod groups;
pub mod messages;

use chat_proto::ErrorCode;
use chat_proto::reply::{self, Empty};
use chat_proto::validate::FieldError;

use std::sync::Arc;

use crate::auth::HashError;
use crate::cache::Members;
use crate::node::Node;
use crate::store::{StoreError, UserRow};

/// The user's friend ids (sorted), from the cache.
pub(crate) async fn friend_ids(node: &Node, user: u64) -> Result<Arc<Vec<u64>>, StoreError> {
    node.router
        .cache()
        .friends(user, || node.store.friend_ids(user))
        .await
}

/// Whether `a` and `b` are friends, from the cache.
///
/// A "no" is checked against the database before it is believed: a
/// friendship made on another node a moment ago may not have reached this
/// node's cache yet, and a user who acts on it at once must not be refused.
/// Refusals are rare, so the hot path ("yes") stays free.
pub(crate) async fn are_friends(node: &Node, a: u64, b: u64) -> Result<bool, StoreError> {
    if friend_ids(node, a).await?.binary_search(&b).is_ok() {
        return Ok(true);
    }
    let truth = node.store.are_friends(a, b).await?;
    if truth {
        node.router.cache().friendship_changed(a, b);
    }
    Ok(truth)
}

/// The group's members and roles, from the cache.
pub(crate) async fn members_of(node: &Node, group: u64) -> Result<Arc<Members>, StoreError> {
    node.router
        .cache()
        .members(group, || async {
            let rows = node.store.members(group).await?;
            Ok(rows.into_iter().map(|(u, role)| (u.id, role)).collect())
        })
        .await
}

/// A request that failed: the wire code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// The failed reply as one line.
    pub fn encode(&self, re: Option<u64>) -> Vec<u8> {
        crate::metrics::error(self.code);
        reply::err_line(re, self.code, &self.message)
    }
}

/// The one place where store errors become wire codes. Details of internal
/// errors are logged, not sent.
impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::Unavailable(detail) | StoreError::Conflict(detail) => {
                tracing::warn!(error = %detail, "store unavailable");
                Failure::new(
                    ErrorCode::Unavailable,
                    "the database is unavailable; nothing was changed, retry later",
                )
            }
            StoreError::Internal(detail) => {
                tracing::error!(error = %detail, "store error");
                Failure::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

impl From<FieldError> for Failure {
    fn from(e: FieldError) -> Failure {
        Failure::new(ErrorCode::BadRequest, e.to_string())
    }
}

impl From<HashError> for Failure {
    fn from(e: HashError) -> Failure {
        tracing::error!(error = %e, "password hashing failed");
        Failure::new(ErrorCode::Internal, "internal error")
    }
}

/// The success fields of each op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Empty,
    Registered(reply::Registered),
    LoggedIn(reply::LoggedIn),
    Whoami(reply::Whoami),
    Synced(reply::Synced),
    FriendAdded(reply::FriendAdded),
    Sent(reply::Sent),
    Group(reply::GroupReply),
    Members(reply::Members),
    History(reply::History),
}

impl Reply {
    /// The successful reply as one line.
    pub fn encode(&self, re: Option<u64>) -> Vec<u8> {
        match self {
            Reply::Empty => reply::ok_line(re, &Empty {}),
            Reply::Registered(b) => reply::ok_line(re, b),
            Reply::LoggedIn(b) => reply::ok_line(re, b),
            Reply::Whoami(b) => reply::ok_line(re, b),
            Reply::Synced(b) => reply::ok_line(re, b),
            Reply::FriendAdded(b) => reply::ok_line(re, b),
            Reply::Sent(b) => reply::ok_line(re, b),
            Reply::Group(b) => reply::ok_line(re, b),
            Reply::Members(b) => reply::ok_line(re, b),
            Reply::History(b) => reply::ok_line(re, b),
        }
    }
}

pub type OpResult = Result<Reply, Failure>;

/// The logged-in user a request acts as. Requests never name the acting
/// user: it is always the session's.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRow,
    pub sid: u64,
}
