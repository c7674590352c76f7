//! Accounts: `register`, the checks behind `login`, `whoami`, `sync`, the
//! lists a login returns, and presence announcements to friends.

use chat_proto::reply::{Registered, Synced, Whoami};
use chat_proto::{Credential, ErrorCode, Event, Group, User};

use super::{Caller, Failure, OpResult, Reply};
use crate::auth::{new_token, token_hash};
use crate::ids::now_ms;
use crate::node::Node;
use crate::store::UserRow;

pub async fn register(node: &Node, name: String, password: String) -> OpResult {
    let hash = node.passwords.hash(password).await?;
    let id = node.store.create_user(&name, &hash, now_ms()).await?;
    tracing::info!(user = id, "registered");
    Ok(Reply::Registered(Registered {
        user: User {
            id,
            name,
            online: None,
        },
    }))
}

/// A proven identity: the user, the token to hand back, and its hash.
pub struct Authenticated {
    pub user: UserRow,
    pub token: String,
    pub token_hash: [u8; 32],
}

fn bad_credentials() -> Failure {
    Failure::new(
        ErrorCode::BadCredentials,
        "wrong user id, password or token",
    )
}

/// Checks a password or a token. A password login issues a new token; a
/// token login hands back the same token.
pub async fn authenticate(
    node: &Node,
    user: u64,
    credential: Credential,
) -> Result<Authenticated, Failure> {
    match credential {
        Credential::Password(password) => {
            let (row, phc) = match node.store.user_secret(user).await? {
                Some(found) => found,
                None => {
                    // Spend the same time as a real check.
                    let _ = node
                        .passwords
                        .verify(password, node.dummy_hash.clone())
                        .await;
                    return Err(bad_credentials());
                }
            };
            if !node.passwords.verify(password, phc).await? {
                return Err(bad_credentials());
            }
            let token = new_token();
            let hash = token_hash(&token);
            let expires = now_ms() + node.config.token_ttl().as_millis() as u64;
            node.store.insert_token(&hash, row.id, expires).await?;
            Ok(Authenticated {
                user: row,
                token,
                token_hash: hash,
            })
        }
        Credential::Token(token) => {
            let hash = token_hash(&token);
            let row = match node.store.token_user(&hash, now_ms()).await? {
                Some(row) if row.id == user => row,
                _ => return Err(bad_credentials()),
            };
            Ok(Authenticated {
                user: row,
                token,
                token_hash: hash,
            })
        }
    }
}

/// The user's friends with their presence, groups with the user's role,
/// and the inbox mark (highest unacked id, how many).
pub async fn lists(node: &Node, user: u64) -> Result<(Vec<User>, Vec<Group>, (u64, u64)), Failure> {
    let snap = node.store.snapshot(user).await?;
    let ids: Vec<u64> = snap.friends.iter().map(|f| f.id).collect();
    let online = node.router.online(&ids).await;
    let friends = snap
        .friends
        .into_iter()
        .zip(online)
        .map(|(f, online)| User {
            online: Some(online),
            id: f.id,
            name: f.name,
        })
        .collect();
    let groups = snap
        .groups
        .into_iter()
        .map(|(g, role)| Group {
            id: g.id,
            name: g.name,
            desc: g.desc,
            role,
        })
        .collect();
    Ok((friends, groups, snap.inbox))
}

pub fn whoami(caller: &Caller) -> OpResult {
    Ok(Reply::Whoami(Whoami {
        user: User {
            id: caller.user.id,
            name: caller.user.name.clone(),
            online: Some(true),
        },
    }))
}

pub async fn sync(node: &Node, caller: &Caller) -> OpResult {
    let (friends, groups, _) = lists(node, caller.user.id).await?;
    Ok(Reply::Synced(Synced { friends, groups }))
}

/// Tells the user's friends whether the user is online now. The state sent
/// is read when sending, so racing logins and logouts cannot leave friends
/// with a stale state: the last event each friend gets is the truth.
pub async fn announce_presence(node: &Node, user: u64) {
    match super::friend_ids(node, user).await {
        Ok(friends) => {
            let online = node.router.is_online(user).await;
            node.router
                .send(&friends, &Event::Presence { user, online });
        }
        Err(e) => tracing::warn!(user, error = %e, "presence not announced"),
    }
}

/// Revokes a session's token (`logout` with `revoke`).
pub async fn revoke(node: &Node, token_hash: &[u8; 32]) -> Result<(), Failure> {
    node.store.delete_token(token_hash).await?;
    Ok(())
}
