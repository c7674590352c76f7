//! Messages: the checks before `chat` and `group_chat` (the writer stores
//! and delivers), `history`, and turning writer results into replies.

use chat_proto::reply::{History, Sent};
use chat_proto::{ErrorCode, HistoryTarget, Msg, MsgRef};

use super::groups::role_in;
use super::{Caller, Failure, OpResult, Reply};
use crate::node::Node;
use crate::store::{Store, StoreError, Target};
use crate::writer::{Done, Draft};

/// Walks a user's unacked messages in id order, a page at a time (the login
/// replay and the push after a Redis outage).
pub struct InboxCursor {
    user: u64,
    after: u64,
    upto: u64,
}

impl InboxCursor {
    /// Messages with `after < id <= upto`.
    pub fn new(user: u64, after: u64, upto: u64) -> InboxCursor {
        InboxCursor { user, after, upto }
    }

    /// The next page, oldest first; empty once the walk is over.
    pub async fn next_page(&mut self, store: &dyn Store) -> Result<Vec<Msg>, StoreError> {
        const PAGE: u32 = 256;
        if self.after >= self.upto {
            return Ok(Vec::new());
        }
        let page = store
            .inbox_page(self.user, self.after, self.upto, PAGE)
            .await?;
        self.after = page.last().map_or(self.upto, |m| m.id);
        Ok(page)
    }
}

/// Checks that the caller may write to `to`, and returns the draft.
pub async fn check_chat(
    node: &Node,
    caller: &Caller,
    to: u64,
    text: String,
    cid: Option<String>,
) -> Result<Draft, Failure> {
    let me = caller.user.id;
    if !super::are_friends(node, me, to).await? {
        return Err(if to != me && node.store.user(to).await?.is_none() {
            Failure::new(ErrorCode::NoSuchUser, format!("there is no user {to}"))
        } else {
            Failure::new(
                ErrorCode::NotFriend,
                format!("user {to} is not your friend"),
            )
        });
    }
    Ok(Draft {
        from: me,
        target: Target::User(to),
        text,
        cid,
        origin_sid: caller.sid,
    })
}

/// Checks that the caller is a member of `group`, and returns the draft.
pub async fn check_group_chat(
    node: &Node,
    caller: &Caller,
    group: u64,
    text: String,
    cid: Option<String>,
) -> Result<Draft, Failure> {
    role_in(node, group, caller.user.id).await?;
    Ok(Draft {
        from: caller.user.id,
        target: Target::Group(group),
        text,
        cid,
        origin_sid: caller.sid,
    })
}

/// The reply to a `chat`, `group_chat` or `ack` once the writer is done.
pub fn written(
    result: Result<Result<Done, StoreError>, tokio::sync::oneshot::error::RecvError>,
) -> OpResult {
    match result {
        Ok(Ok(Done::Msg { id, ts })) => Ok(Reply::Sent(Sent {
            msg: MsgRef { id, ts },
        })),
        Ok(Ok(Done::Acked)) => Ok(Reply::Empty),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(Failure::new(
            ErrorCode::Unavailable,
            "server is shutting down",
        )),
    }
}

pub async fn history(
    node: &Node,
    caller: &Caller,
    target: HistoryTarget,
    before: Option<u64>,
    limit: u32,
) -> OpResult {
    let me = caller.user.id;
    let messages = match target {
        HistoryTarget::With(other) => {
            if !super::are_friends(node, me, other).await? {
                return Err(Failure::new(
                    ErrorCode::NotFriend,
                    format!("user {other} is not your friend"),
                ));
            }
            node.store.history_with(me, other, before, limit).await?
        }
        HistoryTarget::Group(group) => {
            role_in(node, group, me).await?;
            node.store.history_group(group, before, limit).await?
        }
    };
    Ok(Reply::History(History { messages }))
}
