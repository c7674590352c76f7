//! Who may talk to whom, from the relation cache: friendships for `chat`
//! and `history`, memberships and roles for everything about groups.
//!
//! A "yes" from the cache is trusted (every change invalidates it, here and
//! on every node); a "no" is checked against the database before it is
//! believed, because a change made on another node a moment ago may not
//! have reached this node's cache yet. Refusals are rare, so the hot path
//! stays free.

use std::sync::Arc;

use chat_proto::{ErrorCode, Role, Visibility};

use super::Failure;
use crate::cache::Members;
use crate::node::Node;
use crate::store::StoreError;

pub(crate) fn no_such_group(group: u64) -> Failure {
    Failure::new(ErrorCode::NoSuchGroup, format!("there is no group {group}"))
}

pub(crate) fn not_member(group: u64) -> Failure {
    Failure::new(
        ErrorCode::NotMember,
        format!("you are not a member of group {group}"),
    )
}

/// The user's friend ids (sorted), from the cache.
pub(crate) async fn friend_ids(node: &Node, user: u64) -> Result<Arc<Vec<u64>>, StoreError> {
    node.router
        .cache()
        .friends(user, || node.store.friend_ids(user))
        .await
}

/// Whether `a` and `b` are friends.
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
async fn members_of(node: &Node, group: u64) -> Result<Arc<Members>, StoreError> {
    node.router
        .cache()
        .members(group, || async {
            let rows = node.store.members(group).await?;
            Ok(rows.into_iter().map(|(u, role)| (u.id, role)).collect())
        })
        .await
}

/// The user's role in an existing group, or the reason there is none: a
/// public group the user is not in is `not_member`, a private one (or none)
/// `no_such_group`.
pub(crate) async fn role_in(node: &Node, group: u64, user: u64) -> Result<Role, Failure> {
    if let Some(role) = members_of(node, group).await?.get(&user) {
        return Ok(*role);
    }
    if let Some(role) = node.store.role(group, user).await? {
        node.router.cache().group_changed(group);
        return Ok(role);
    }
    Err(refusal(node, group).await)
}

/// Why someone who is not a member of `group` is refused.
pub(crate) async fn refusal(node: &Node, group: u64) -> Failure {
    match node.store.group(group).await {
        Ok(Some(g)) if g.visibility == Visibility::Public => not_member(group),
        // A private group is invisible to non-members.
        Ok(_) => no_such_group(group),
        Err(e) => e.into(),
    }
}

/// `forbidden` unless `role` is at least `needed` (to do `what`).
pub(crate) fn require(role: Role, needed: Role, what: &str) -> Result<(), Failure> {
    if role >= needed {
        return Ok(());
    }
    let who = match needed {
        Role::Creator => "the group's creator",
        _ => "the group's creator or an admin",
    };
    Err(Failure::new(
        ErrorCode::Forbidden,
        format!("only {who} can {what}"),
    ))
}

/// The user's role, which must be at least `needed` (to do `what`).
pub(crate) async fn role_at_least(
    node: &Node,
    group: u64,
    user: u64,
    needed: Role,
    what: &str,
) -> Result<Role, Failure> {
    let role = role_in(node, group, user).await?;
    require(role, needed, what)?;
    Ok(role)
}
