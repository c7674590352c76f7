//! Accounts: `register`, `whoami`, `sync`, `change_password`,
//! `delete_account`, and the lists a login and `sync` show.

use chat_proto::reply::{Lists, NewToken, Registered, Synced, Whoami};
use chat_proto::{EndReason, ErrorCode, Event, Role, User};

use super::{Answer, Caller, Conn, Failure, OpResult, Outcome, friends, wire};
use crate::auth::{new_token, token_hash};
use crate::ids::now_ms;
use crate::node::Node;
use crate::store::{GroupFate, Snapshot};

pub async fn register(node: &Node, name: String, password: String) -> OpResult {
    let hash = node.passwords.hash(password).await?;
    let id = node.store.create_user(&name, &hash, now_ms()).await?;
    tracing::info!(user = id, "registered");
    Ok(Answer::new(Registered {
        user: User {
            id,
            name,
            online: None,
        },
    }))
}

pub fn whoami(caller: &Caller) -> OpResult {
    Ok(Answer::new(Whoami {
        user: wire::user(caller.user.clone(), Some(true)),
    }))
}

/// A snapshot as the wire lists it: friends with their presence, groups
/// with the user's role, requests, blocked users and invites.
pub(super) async fn lists(node: &Node, snap: Snapshot) -> Lists {
    let ids: Vec<u64> = snap.friends.iter().map(|f| f.id).collect();
    let online = node.router.online(&ids).await;
    let users = |rows: Vec<crate::store::UserRow>| {
        rows.into_iter()
            .map(|u| wire::user(u, None))
            .collect::<Vec<_>>()
    };
    Lists {
        friends: snap
            .friends
            .into_iter()
            .zip(online)
            .map(|(f, online)| wire::user(f, Some(online)))
            .collect(),
        groups: snap
            .groups
            .into_iter()
            .map(|m| wire::group(m.group, Some(m.role)))
            .collect(),
        requests_in: users(snap.requests_in),
        requests_out: users(snap.requests_out),
        blocked: users(snap.blocked),
        invites: snap.invites.into_iter().map(wire::invite).collect(),
    }
}

pub async fn sync(node: &Node, caller: &Caller) -> OpResult {
    let snap = node.store.snapshot(caller.user.id).await?;
    Ok(Answer::new(Synced {
        lists: lists(node, snap).await,
    }))
}

fn bad_credentials() -> Failure {
    Failure::new(ErrorCode::BadCredentials, "wrong password")
}

/// Checks the caller's password.
async fn check_password(node: &Node, user: u64, password: String) -> Result<(), Failure> {
    let Some((_, phc)) = node.store.user_secret(user).await? else {
        return Err(bad_credentials());
    };
    if !node.passwords.verify(password, phc).await? {
        return Err(bad_credentials());
    }
    Ok(())
}

/// `change_password`: every token of the user is revoked, this session
/// gets a new one, and the user's other sessions are ended.
pub async fn change_password(node: &Node, conn: &mut Conn, old: String, new: String) -> OpResult {
    let (user, sid) = {
        let caller = super::caller(conn)?;
        (caller.user.id, caller.sid)
    };
    check_password(node, user, old).await?;
    let hash = node.passwords.hash(new).await?;
    node.store.set_password(user, &hash).await?;
    let token = new_token();
    let th = token_hash(&token);
    let expires = now_ms() + node.config.token_ttl().as_millis() as u64;
    node.store.insert_token(&th, user, expires).await?;
    if let Some(login) = conn.login.as_mut() {
        login.token_hash = th;
    }
    node.router
        .end_sessions(user, Some(sid), EndReason::PasswordChanged);
    tracing::info!(user, "password changed");
    Ok(Answer::new(NewToken { token }))
}

/// `delete_account`: everything of the user goes (see the store's
/// `delete_account`), everyone concerned is told, and every session of
/// the user ends, this one after its reply.
pub async fn delete_account(node: &Node, conn: &mut Conn, password: String) -> Outcome {
    let user = match super::caller(conn) {
        Ok(c) => c.user.clone(),
        Err(f) => return Outcome::Reply(Err(f)),
    };
    let deleted = match check_password(node, user.id, password).await {
        Ok(()) => node.store.delete_account(user.id, now_ms()).await,
        Err(f) => return Outcome::Reply(Err(f)),
    };
    let deleted = match deleted {
        Ok(Some(d)) => d,
        Ok(None) => return Outcome::Reply(Err(bad_credentials())),
        Err(e) => return Outcome::Reply(Err(e.into())),
    };
    tracing::info!(user = user.id, "account deleted");
    for friend in deleted.friends {
        friends::unfriended(node, user.id, friend).await;
    }
    node.router.send(
        &deleted.requested,
        &Event::FriendRequestCancelled { user: user.id },
    );
    for exit in deleted.groups {
        node.router.group_changed(exit.group).await;
        let gone = Event::MemberLeft {
            group: exit.group,
            user: wire::user(user.clone(), Some(false)),
            by: None,
        };
        node.router.send(&exit.members, &gone);
        if let GroupFate::PassedTo(heir) = exit.fate {
            node.router.send(
                &exit.members,
                &Event::MemberRole {
                    group: exit.group,
                    user: heir,
                    role: Role::Creator,
                },
            );
        }
    }
    let node = node.clone();
    Outcome::ReplyThen(
        Ok(Answer::empty()),
        Box::pin(async move {
            node.router
                .end_sessions(user.id, None, EndReason::AccountDeleted);
        }),
    )
}
