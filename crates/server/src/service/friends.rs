//! Friendship by consent: `add_friend` (a request, or the acceptance of a
//! crossing one), `accept_friend`, `decline_friend`, `cancel_friend`,
//! `remove_friend`, and blocking: `block`, `unblock`.
//!
//! A blocked user learns nothing: their requests look sent, and nothing
//! of theirs reaches the blocker. Every change of a friendship is known on
//! every node (the relation cache is invalidated) before the reply.

use chat_proto::reply::{FriendAdded, FriendRequested, FriendStatus};
use chat_proto::{ErrorCode, Event};

use super::{Answer, Caller, Failure, OpResult, wire};
use crate::ids::now_ms;
use crate::node::Node;
use crate::store::{AddFriend, Block, UserRow};

fn not_yourself() -> Failure {
    Failure::new(ErrorCode::BadRequest, "field `user` must not be yourself")
}

fn no_such_user(user: u64) -> Failure {
    Failure::new(ErrorCode::NoSuchUser, format!("there is no user {user}"))
}

fn no_such_request(what: String) -> Failure {
    Failure::new(ErrorCode::NoSuchRequest, what)
}

/// The caller as the other side of a new friendship sees them.
fn me(caller: &Caller) -> UserRow {
    caller.user.clone()
}

/// A new friendship of the caller and `friend`: known everywhere, the
/// other side told, and the caller's other sessions too; returns the
/// friend with their presence.
async fn befriended(node: &Node, caller: &Caller, friend: UserRow) -> chat_proto::User {
    node.router
        .friendship_changed(caller.user.id, friend.id)
        .await;
    tracing::info!(user = caller.user.id, friend = friend.id, "friends");
    node.router.send(
        &[friend.id],
        &Event::FriendAdded {
            user: wire::user(me(caller), Some(true)),
        },
    );
    let online = node.router.is_online(friend.id).await;
    let friend = wire::user(friend, Some(online));
    // The caller's other sessions learn of it too.
    node.router.send_except(
        &[caller.user.id],
        &Event::FriendAdded {
            user: friend.clone(),
        },
        caller.sid,
    );
    friend
}

/// `add_friend`: sends a request, or accepts the target's pending one.
pub async fn add(node: &Node, caller: &Caller, other: u64) -> OpResult {
    let my = caller.user.id;
    if other == my {
        return Err(not_yourself());
    }
    match node.store.add_friend(my, other, now_ms()).await? {
        AddFriend::Accepted(friend) => {
            let friend = befriended(node, caller, friend).await;
            Ok(Answer::new(FriendRequested {
                status: FriendStatus::Friends,
                friend: Some(friend),
            }))
        }
        AddFriend::Requested { new, hidden, .. } => {
            // A blocked user's request looks sent and reaches no one.
            if new && !hidden {
                node.router.send(
                    &[other],
                    &Event::FriendRequest {
                        user: wire::user(me(caller), None),
                    },
                );
            }
            Ok(Answer::new(FriendRequested {
                status: FriendStatus::Requested,
                friend: None,
            }))
        }
        AddFriend::YouBlock => Err(Failure::new(
            ErrorCode::BadRequest,
            format!("you block user {other}; unblock them first"),
        )),
        AddFriend::NoSuchUser => Err(no_such_user(other)),
        AddFriend::AlreadyFriends => Err(Failure::new(
            ErrorCode::AlreadyFriends,
            format!("user {other} is already your friend"),
        )),
    }
}

/// `accept_friend`: makes the friendship the other side asked for.
pub async fn accept(node: &Node, caller: &Caller, from: u64) -> OpResult {
    match node
        .store
        .accept_friend(caller.user.id, from, now_ms())
        .await?
    {
        Some(friend) => {
            let friend = befriended(node, caller, friend).await;
            Ok(Answer::new(FriendAdded { friend }))
        }
        None => Err(no_such_request(format!(
            "user {from} has not asked to be your friend"
        ))),
    }
}

/// `decline_friend`: drops a request without telling the requester.
pub async fn decline(node: &Node, caller: &Caller, from: u64) -> OpResult {
    if !node.store.decline_friend(caller.user.id, from).await? {
        return Err(no_such_request(format!(
            "user {from} has not asked to be your friend"
        )));
    }
    Ok(Answer::empty())
}

/// `cancel_friend`: withdraws the caller's request.
pub async fn cancel(node: &Node, caller: &Caller, to: u64) -> OpResult {
    let my = caller.user.id;
    match node.store.cancel_friend(my, to).await? {
        None => Err(no_such_request(format!(
            "you have not asked user {to} to be your friend"
        ))),
        Some(hidden) => {
            if !hidden {
                node.router
                    .send(&[to], &Event::FriendRequestCancelled { user: my });
            }
            Ok(Answer::empty())
        }
    }
}

/// `remove_friend`: ends a friendship; the other side hears of it.
pub async fn remove(node: &Node, caller: &Caller, other: u64) -> OpResult {
    let my = caller.user.id;
    if !node.store.remove_friend(my, other).await? {
        return Err(Failure::new(
            ErrorCode::NotFriend,
            format!("user {other} is not your friend"),
        ));
    }
    unfriended(node, my, other).await;
    Ok(Answer::empty())
}

/// A friendship of `me` and `other` ended: known everywhere, `other` told.
pub(super) async fn unfriended(node: &Node, me: u64, other: u64) {
    node.router.friendship_changed(me, other).await;
    tracing::info!(user = me, friend = other, "unfriended");
    node.router
        .send(&[other], &Event::FriendRemoved { user: me });
}

/// `block`: ends the friendship and the requests, and from now on nothing
/// of the other user's reaches the caller. Idempotent.
pub async fn block(node: &Node, caller: &Caller, other: u64) -> OpResult {
    let my = caller.user.id;
    if other == my {
        return Err(not_yourself());
    }
    match node.store.block(my, other, now_ms()).await? {
        Block::NoSuchUser => Err(no_such_user(other)),
        Block::Done { was_friend } => {
            if was_friend {
                unfriended(node, my, other).await;
            }
            tracing::info!(user = my, blocked = other, "blocked");
            Ok(Answer::empty())
        }
    }
}

/// `unblock`: lifts a block (no friendship comes back). Idempotent.
pub async fn unblock(node: &Node, caller: &Caller, other: u64) -> OpResult {
    let my = caller.user.id;
    if other == my {
        return Err(not_yourself());
    }
    node.store.unblock(my, other).await?;
    Ok(Answer::empty())
}
