//! Messages: `chat`, `group_chat`, `ack` and `history`.
//!
//! `chat` and `group_chat` check the rules here, then hand a draft to the
//! batching writer, which stores it (assigning its id), delivers it, and
//! answers; the reply is shaped here when the commit is done. `ack` goes
//! through the same writer, so acks and messages commit in order.

use chat_proto::reply::{History, Sent};
use chat_proto::{ErrorCode, HistoryTarget, MsgRef};

use super::relations::{are_friends, refusal, role_in};
use super::{Answer, Caller, Failure, OpResult, Outcome};
use crate::node::Node;
use crate::store::{Refusal, StoreError, Target};
use crate::writer::{Done, Draft, Pending};

/// `chat`: to a friend.
pub async fn chat(
    node: &Node,
    caller: &Caller,
    to: u64,
    text: String,
    cid: Option<String>,
) -> Result<Outcome, Failure> {
    let me = caller.user.id;
    if !are_friends(node, me, to).await? {
        return Err(if to != me && node.store.user(to).await?.is_none() {
            Failure::new(ErrorCode::NoSuchUser, format!("there is no user {to}"))
        } else {
            Failure::new(
                ErrorCode::NotFriend,
                format!("user {to} is not your friend"),
            )
        });
    }
    submit(node, caller, Target::User(to), text, cid).await
}

/// `group_chat`: to a group the caller is a member of.
pub async fn group_chat(
    node: &Node,
    caller: &Caller,
    group: u64,
    text: String,
    cid: Option<String>,
) -> Result<Outcome, Failure> {
    role_in(node, group, caller.user.id).await?;
    submit(node, caller, Target::Group(group), text, cid).await
}

/// Hands a checked message to the writer; the reply comes with the commit.
async fn submit(
    node: &Node,
    caller: &Caller,
    target: Target,
    text: String,
    cid: Option<String>,
) -> Result<Outcome, Failure> {
    let draft = Draft {
        from: caller.user.id,
        target,
        text,
        cid,
        origin_sid: caller.sid,
    };
    Ok(later(node.writer.send(draft).await?))
}

/// `ack`: drops the ids from the caller's inbox (unknown ids are ignored).
pub async fn ack(node: &Node, caller: &Caller, ids: Vec<u64>) -> Result<Outcome, Failure> {
    Ok(later(node.writer.ack(caller.user.id, ids).await?))
}

/// The reply to a writer job, once it is done.
fn later(pending: Pending) -> Outcome {
    Outcome::Later(Box::pin(async move { written(pending.await) }))
}

fn written(
    result: Result<Result<Done, StoreError>, tokio::sync::oneshot::error::RecvError>,
) -> OpResult {
    match result {
        Ok(Ok(Done::Msg { id, ts })) => Ok(Answer::new(Sent {
            msg: MsgRef { id, ts },
        })),
        Ok(Ok(Done::Acked)) => Ok(Answer::empty()),
        Ok(Ok(Done::Refused(Refusal::NotFriend))) => Err(Failure::new(
            ErrorCode::NotFriend,
            "this user is no longer your friend",
        )),
        Ok(Ok(Done::Refused(Refusal::NotMember))) => Err(Failure::new(
            ErrorCode::NotMember,
            "you are no longer a member of this group",
        )),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(Failure::new(
            ErrorCode::Unavailable,
            "server is shutting down",
        )),
    }
}

/// `history`: a conversation the caller is part of, newest first.
pub async fn history(
    node: &Node,
    caller: &Caller,
    target: HistoryTarget,
    before: Option<u64>,
    limit: u32,
) -> OpResult {
    let me = caller.user.id;
    // Not the hot path: the database's word, not the cache's, so a block
    // or a kick made on another node a moment ago holds here at once.
    let messages = match target {
        HistoryTarget::With(other) => {
            // A deleted account's messages stay in its friends' history
            // (for an id that never was, the history is simply empty).
            if !node.store.are_friends(me, other).await? && node.store.user(other).await?.is_some()
            {
                return Err(Failure::new(
                    ErrorCode::NotFriend,
                    format!("user {other} is not your friend"),
                ));
            }
            node.store.history_with(me, other, before, limit).await?
        }
        HistoryTarget::Group(group) => {
            // A member reads only from their last join.
            let Some(since) = node.store.member_since(group, me).await? else {
                return Err(refusal(node, group).await);
            };
            node.store
                .history_group(group, since, before, limit)
                .await?
        }
    };
    Ok(Answer::new(History { messages }))
}
