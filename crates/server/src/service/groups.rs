//! Groups: create, join, quit, delete, list members. Only the creator may
//! delete a group, and the creator cannot quit it (they delete it).

use chat_proto::reply::{GroupReply, Members};
use chat_proto::{ErrorCode, Event, Group, Member, Role, User};

use super::relations::{no_such_group, not_member, role_in};
use super::{Answer, Caller, Failure, OpResult};
use crate::ids::now_ms;
use crate::node::Node;
use crate::store::{GroupRow, Join};

fn me_as_user(caller: &Caller) -> User {
    User {
        id: caller.user.id,
        name: caller.user.name.clone(),
        online: Some(true),
    }
}

fn wire_group(g: GroupRow, role: Role) -> Group {
    Group {
        id: g.id,
        name: g.name,
        desc: g.desc,
        role,
    }
}

pub async fn create(node: &Node, caller: &Caller, name: String, desc: String) -> OpResult {
    let id = node
        .store
        .create_group(caller.user.id, &name, &desc, now_ms())
        .await?;
    // A lookup of this id before it existed may be cached as empty.
    node.router.group_changed(id);
    tracing::info!(user = caller.user.id, group = id, "group created");
    Ok(Answer::new(GroupReply {
        group: Group {
            id,
            name,
            desc,
            role: Role::Creator,
        },
    }))
}

pub async fn join(node: &Node, caller: &Caller, group: u64) -> OpResult {
    let me = caller.user.id;
    match node.store.join_group(group, me, now_ms()).await? {
        Join::Joined(row) => {
            node.router.group_changed(group);
            tracing::info!(user = me, group, "joined");
            let others: Vec<u64> = node
                .store
                .member_ids(group)
                .await?
                .into_iter()
                .filter(|&u| u != me)
                .collect();
            node.router.send(
                &others,
                &Event::MemberJoined {
                    group,
                    user: me_as_user(caller),
                },
            );
            Ok(Answer::new(GroupReply {
                group: wire_group(row, Role::Member),
            }))
        }
        Join::NoSuchGroup => Err(no_such_group(group)),
        Join::AlreadyMember => Err(Failure::new(
            ErrorCode::AlreadyMember,
            format!("you are already a member of group {group}"),
        )),
    }
}

pub async fn quit(node: &Node, caller: &Caller, group: u64) -> OpResult {
    let me = caller.user.id;
    if role_in(node, group, me).await? == Role::Creator {
        return Err(Failure::new(
            ErrorCode::Forbidden,
            "the creator cannot quit a group; delete it instead",
        ));
    }
    if !node.store.leave_group(group, me).await? {
        return Err(not_member(group));
    }
    node.router.group_changed(group);
    tracing::info!(user = me, group, "quit group");
    let others = node.store.member_ids(group).await?;
    let mut user = me_as_user(caller);
    user.online = Some(node.router.is_online(me).await);
    node.router
        .send(&others, &Event::MemberLeft { group, user });
    Ok(Answer::empty())
}

pub async fn delete(node: &Node, caller: &Caller, group: u64) -> OpResult {
    let me = caller.user.id;
    if role_in(node, group, me).await? != Role::Creator {
        return Err(Failure::new(
            ErrorCode::Forbidden,
            "only the group's creator can delete it",
        ));
    }
    let former: Vec<u64> = node
        .store
        .delete_group(group)
        .await?
        .into_iter()
        .filter(|&u| u != me)
        .collect();
    node.router.group_changed(group);
    tracing::info!(user = me, group, "group deleted");
    node.router.send(&former, &Event::GroupDeleted { group });
    Ok(Answer::empty())
}

pub async fn members(node: &Node, caller: &Caller, group: u64) -> OpResult {
    role_in(node, group, caller.user.id).await?;
    let rows = node.store.members(group).await?;
    let ids: Vec<u64> = rows.iter().map(|(u, _)| u.id).collect();
    let online = node.router.online(&ids).await;
    let members = rows
        .into_iter()
        .zip(online)
        .map(|((u, role), online)| Member {
            online,
            id: u.id,
            name: u.name,
            role,
        })
        .collect();
    Ok(Answer::new(Members { members }))
}
