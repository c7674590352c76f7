//! Groups: create, update, join, invite, decline an invite, kick, set a
//! role, transfer, quit, delete, list members.
//!
//! Roles: the creator (exactly one) may do everything; an admin may
//! invite, kick plain members and update the group; a member may chat,
//! list members and read history. A private group is `no_such_group` to
//! every non-member, except to `join_group` with a pending invite. Every
//! change of members or roles is known on every node before the reply.

use chat_proto::reply::{GroupReply, Members};
use chat_proto::{ErrorCode, Event, Member, Role, User, Visibility};

use super::relations::{no_such_group, not_member, require, role_at_least, role_in};
use super::{Answer, Caller, Failure, OpResult, wire};
use crate::ids::{first_id_at, now_ms};
use crate::node::Node;
use crate::store::{GroupRow, Invited, Join};

fn me_as_user(caller: &Caller) -> User {
    wire::user(caller.user.clone(), Some(true))
}

fn not_yourself() -> Failure {
    Failure::new(ErrorCode::BadRequest, "field `user` must not be yourself")
}

/// The group's row, which exists (the caller's role was just read).
async fn row(node: &Node, group: u64) -> Result<GroupRow, Failure> {
    node.store
        .group(group)
        .await?
        .ok_or_else(|| no_such_group(group))
}

/// The members of `group` but `except`.
async fn others(node: &Node, group: u64, except: u64) -> Result<Vec<u64>, Failure> {
    let mut ids = node.store.member_ids(group).await?;
    ids.retain(|&u| u != except);
    Ok(ids)
}

fn they_are_not_member(user: u64, group: u64) -> Failure {
    Failure::new(
        ErrorCode::NotMember,
        format!("user {user} is not a member of group {group}"),
    )
}

/// The role of `user`, who must be a member of `group`.
async fn their_role(node: &Node, group: u64, user: u64) -> Result<Role, Failure> {
    node.store
        .role(group, user)
        .await?
        .ok_or_else(|| they_are_not_member(user, group))
}

pub async fn create(
    node: &Node,
    caller: &Caller,
    name: String,
    desc: String,
    visibility: Visibility,
) -> OpResult {
    let id = node
        .store
        .create_group(caller.user.id, &name, &desc, visibility, now_ms())
        .await?;
    // A lookup of this id before it existed may be cached as empty.
    node.router.group_changed(id).await;
    tracing::info!(user = caller.user.id, group = id, "group created");
    let row = GroupRow {
        id,
        name,
        desc,
        creator: caller.user.id,
        visibility,
    };
    Ok(Answer::new(GroupReply {
        group: wire::group(row, Some(Role::Creator)),
    }))
}

pub async fn update(
    node: &Node,
    caller: &Caller,
    group: u64,
    name: Option<String>,
    desc: Option<String>,
    visibility: Option<Visibility>,
) -> OpResult {
    let role = role_at_least(node, group, caller.user.id, Role::Admin, "update it").await?;
    let row = node
        .store
        .update_group(group, name.as_deref(), desc.as_deref(), visibility)
        .await?
        .ok_or_else(|| no_such_group(group))?;
    tracing::info!(user = caller.user.id, group, "group updated");
    let members = node.store.member_ids(group).await?;
    node.router.send_except(
        &members,
        &Event::GroupUpdated {
            group: wire::group(row.clone(), None),
        },
        caller.sid,
    );
    Ok(Answer::new(GroupReply {
        group: wire::group(row, Some(role)),
    }))
}

pub async fn join(node: &Node, caller: &Caller, group: u64) -> OpResult {
    let me = caller.user.id;
    let now = now_ms();
    match node
        .store
        .join_group(group, me, now, first_id_at(now))
        .await?
    {
        Join::Joined(row) => {
            node.router.group_changed(group).await;
            tracing::info!(user = me, group, "joined");
            let others = others(node, group, me).await?;
            node.router.send(
                &others,
                &Event::MemberJoined {
                    group,
                    user: me_as_user(caller),
                },
            );
            Ok(Answer::new(GroupReply {
                group: wire::group(row, Some(Role::Member)),
            }))
        }
        Join::NoSuchGroup => Err(no_such_group(group)),
        Join::AlreadyMember => Err(Failure::new(
            ErrorCode::AlreadyMember,
            format!("you are already a member of group {group}"),
        )),
    }
}

pub async fn invite(node: &Node, caller: &Caller, group: u64, user: u64) -> OpResult {
    let me = caller.user.id;
    role_at_least(node, group, me, Role::Admin, "invite").await?;
    let Some(target) = node.store.user(user).await? else {
        return Err(Failure::new(
            ErrorCode::NoSuchUser,
            format!("there is no user {user}"),
        ));
    };
    // An invite from someone the invitee blocks never arrives.
    if node.store.blocks(user, me).await? {
        if node.store.role(group, user).await?.is_some() {
            return Err(already_member(user, group));
        }
        return Ok(Answer::empty());
    }
    match node.store.invite(group, user, me, now_ms()).await? {
        Invited::AlreadyMember => Err(already_member(user, group)),
        Invited::Invited => {
            tracing::info!(user = me, group, invitee = target.id, "invited");
            let row = row(node, group).await?;
            node.router.send(
                &[user],
                &Event::GroupInvite {
                    group: wire::group(row, None),
                    by: wire::user(caller.user.clone(), None),
                },
            );
            Ok(Answer::empty())
        }
    }
}

fn already_member(user: u64, group: u64) -> Failure {
    Failure::new(
        ErrorCode::AlreadyMember,
        format!("user {user} is already a member of group {group}"),
    )
}

pub async fn decline_invite(node: &Node, caller: &Caller, group: u64) -> OpResult {
    if !node.store.decline_invite(group, caller.user.id).await? {
        return Err(Failure::new(
            ErrorCode::NoSuchRequest,
            format!("you have no invitation to group {group}"),
        ));
    }
    Ok(Answer::empty())
}

pub async fn kick(node: &Node, caller: &Caller, group: u64, user: u64) -> OpResult {
    let me = caller.user.id;
    let mine = role_in(node, group, me).await?;
    if user == me {
        return Err(not_yourself());
    }
    require(mine, Role::Admin, "kick members")?;
    let theirs = their_role(node, group, user).await?;
    // The creator may kick anyone; an admin only plain members.
    if mine != Role::Creator && theirs != Role::Member {
        return Err(Failure::new(
            ErrorCode::Forbidden,
            "only the group's creator can kick an admin",
        ));
    }
    if !node.store.leave_group(group, user).await? {
        return Err(not_member(group));
    }
    node.router.group_changed(group).await;
    tracing::info!(user = me, group, kicked = user, "kicked");
    node.router
        .send(&[user], &Event::RemovedFromGroup { group, by: me });
    let name = node.store.user(user).await?.map(|u| u.name);
    let online = node.router.is_online(user).await;
    let others = node.store.member_ids(group).await?;
    node.router.send(
        &others,
        &Event::MemberLeft {
            group,
            user: User {
                id: user,
                name: name.unwrap_or_default(),
                online: Some(online),
            },
            by: Some(me),
        },
    );
    Ok(Answer::empty())
}

pub async fn set_role(node: &Node, caller: &Caller, group: u64, user: u64, role: Role) -> OpResult {
    let me = caller.user.id;
    let mine = role_in(node, group, me).await?;
    if user == me {
        return Err(not_yourself());
    }
    require(mine, Role::Creator, "change roles")?;
    let before = their_role(node, group, user).await?;
    if before != role {
        if !node.store.set_role(group, user, role).await? {
            return Err(they_are_not_member(user, group));
        }
        node.router.group_changed(group).await;
        tracing::info!(
            user = me,
            group,
            member = user,
            role = role.as_str(),
            "role set"
        );
        let members = node.store.member_ids(group).await?;
        node.router
            .send(&members, &Event::MemberRole { group, user, role });
    }
    Ok(Answer::empty())
}

pub async fn transfer(node: &Node, caller: &Caller, group: u64, user: u64) -> OpResult {
    let me = caller.user.id;
    let mine = role_in(node, group, me).await?;
    if user == me {
        return Err(not_yourself());
    }
    require(mine, Role::Creator, "transfer it")?;
    if !node.store.transfer_group(group, me, user).await? {
        return Err(they_are_not_member(user, group));
    }
    node.router.group_changed(group).await;
    tracing::info!(user = me, group, to = user, "group transferred");
    let members = node.store.member_ids(group).await?;
    for (who, role) in [(user, Role::Creator), (me, Role::Admin)] {
        node.router.send(
            &members,
            &Event::MemberRole {
                group,
                user: who,
                role,
            },
        );
    }
    Ok(Answer::empty())
}

pub async fn quit(node: &Node, caller: &Caller, group: u64) -> OpResult {
    let me = caller.user.id;
    if role_in(node, group, me).await? == Role::Creator {
        return Err(Failure::new(
            ErrorCode::Forbidden,
            "the creator cannot quit a group; transfer or delete it instead",
        ));
    }
    if !node.store.leave_group(group, me).await? {
        return Err(not_member(group));
    }
    node.router.group_changed(group).await;
    tracing::info!(user = me, group, "quit group");
    let others = node.store.member_ids(group).await?;
    let mut user = me_as_user(caller);
    user.online = Some(node.router.is_online(me).await);
    node.router.send(
        &others,
        &Event::MemberLeft {
            group,
            user,
            by: None,
        },
    );
    Ok(Answer::empty())
}

pub async fn delete(node: &Node, caller: &Caller, group: u64) -> OpResult {
    let me = caller.user.id;
    role_at_least(node, group, me, Role::Creator, "delete it").await?;
    let mut former = node.store.delete_group(group).await?;
    former.retain(|&u| u != me);
    node.router.group_changed(group).await;
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
