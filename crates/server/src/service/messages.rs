//! Messages: the checks before `chat` and `group_chat` (the writer stores
//! and delivers), `history`, and turning writer results into replies.

use chat_proto::reply::{History, Sent};
use chat_proto::{ErrorCode, HistoryTarget, MsgRef};

use super::groups::role_in;
use super::{Caller, Failure, OpResult, Reply};
use crate::node::Node;
use crate::store::{StoreError, Target};
use crate::writer::{Done, Draft};

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
