//! Friendship: `add_friend` and `remove_friend`. A friendship is mutual;
//! the other side hears of each change as an event.

use chat_proto::reply::FriendAdded;
use chat_proto::{ErrorCode, Event, User};

use super::{Answer, Caller, Failure, OpResult};
use crate::ids::now_ms;
use crate::node::Node;
use crate::store::AddFriend;

pub async fn add(node: &Node, caller: &Caller, other: u64) -> OpResult {
    let me = &caller.user;
    if other == me.id {
        return Err(Failure::new(
            ErrorCode::BadRequest,
            "field `user` must not be yourself",
        ));
    }
    match node.store.add_friend(me.id, other, now_ms()).await? {
        AddFriend::Added(friend) => {
            node.router.friendship_changed(me.id, other);
            tracing::info!(user = me.id, friend = other, "friends");
            node.router.send(
                &[other],
                &Event::FriendAdded {
                    user: User {
                        id: me.id,
                        name: me.name.clone(),
                        online: Some(true),
                    },
                },
            );
            let online = node.router.is_online(friend.id).await;
            Ok(Answer::new(FriendAdded {
                friend: User {
                    online: Some(online),
                    id: friend.id,
                    name: friend.name,
                },
            }))
        }
        AddFriend::NoSuchUser => Err(Failure::new(
            ErrorCode::NoSuchUser,
            format!("there is no user {other}"),
        )),
        AddFriend::AlreadyFriends => Err(Failure::new(
            ErrorCode::AlreadyFriends,
            format!("user {other} is already your friend"),
        )),
    }
}

pub async fn remove(node: &Node, caller: &Caller, other: u64) -> OpResult {
    let me = caller.user.id;
    if !node.store.remove_friend(me, other).await? {
        return Err(Failure::new(
            ErrorCode::NotFriend,
            format!("user {other} is not your friend"),
        ));
    }
    node.router.friendship_changed(me, other);
    tracing::info!(user = me, friend = other, "unfriended");
    node.router
        .send(&[other], &Event::FriendRemoved { user: me });
    Ok(Answer::empty())
}
