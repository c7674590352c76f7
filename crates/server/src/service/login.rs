//! `login` and `logout`, and the end of a session.
//!
//! The login sequence, in order: check the credential; hold live events on
//! the connection's outbox; join the hub (and the bus); read the snapshot
//! (friends, groups, inbox mark); reply; replay the inbox up to the mark;
//! release the held events minus those the replay carried; tell friends
//! if this is the user's first session anywhere. Reading the snapshot
//! after joining means a message committed from then on is either in the
//! snapshot's inbox or held for this session: none falls between.

use chat_proto::reply::LoggedIn;
use chat_proto::{Credential, ErrorCode, Group, User};

use super::{Answer, Caller, Conn, Failure, Login, OpResult, Outcome, presence, replay};
use crate::auth::{new_token, token_hash};
use crate::hub::SessionRef;
use crate::ids::now_ms;
use crate::node::Node;
use crate::store::{Snapshot, UserRow};

/// A proven identity: the user, the token to hand back, and its hash.
struct Authenticated {
    user: UserRow,
    token: String,
    token_hash: [u8; 32],
}

fn bad_credentials() -> Failure {
    Failure::new(
        ErrorCode::BadCredentials,
        "wrong user id, password or token",
    )
}

/// Checks a password or a token. A password login issues a new token; a
/// token login hands back the same token.
async fn authenticate(
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

/// The friends (with presence) and groups (with the user's role) of a
/// snapshot, as the wire shows them.
pub(super) async fn lists(node: &Node, snap: Snapshot) -> (Vec<User>, Vec<Group>) {
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
        .map(|m| Group {
            id: m.group.id,
            name: m.group.name,
            desc: m.group.desc,
            role: m.role,
        })
        .collect();
    (friends, groups)
}

/// `login`: the whole sequence (see the module's doc).
pub async fn login(node: &Node, conn: &mut Conn, user: u64, credential: Credential) -> Outcome {
    if conn.login.is_some() {
        return Outcome::Reply(Err(Failure::new(
            ErrorCode::AlreadyLoggedIn,
            "this connection is already logged in; log out first",
        )));
    }
    let auth = match authenticate(node, user, credential).await {
        Ok(a) => a,
        Err(f) => {
            if f.code == ErrorCode::BadCredentials {
                conn.failed_logins += 1;
                if conn.failed_logins >= node.config.max_failed_logins {
                    tracing::info!(sid = conn.sid, "too many failed logins; closing");
                    conn.closing = true;
                }
            }
            return Outcome::Reply(Err(f));
        }
    };
    let uid = auth.user.id;
    let outbox = conn.outbox.clone();
    outbox.hold();
    let session = SessionRef {
        sid: conn.sid,
        outbox: outbox.clone(),
    };
    let first = node.router.attach(uid, session).await;
    crate::metrics::session_started();
    let login = Login {
        caller: Caller {
            user: auth.user.clone(),
            sid: conn.sid,
        },
        token_hash: auth.token_hash,
    };
    let snap = match node.store.snapshot(uid).await {
        Ok(s) => s,
        Err(e) => {
            end_session(node, conn.sid, login).await;
            outbox.release(&Default::default());
            return Outcome::Reply(Err(e.into()));
        }
    };
    conn.login = Some(login);
    let mark = snap.inbox;
    tracing::info!(user = uid, sid = conn.sid, unread = mark.count, "logged in");
    let (friends, groups) = lists(node, snap).await;
    let reply = Answer::new(LoggedIn {
        user: User {
            id: uid,
            name: auth.user.name,
            online: None,
        },
        token: auth.token,
        friends,
        groups,
        unread: mark.count,
    });
    let node = node.clone();
    Outcome::ReplyThen(
        Ok(reply),
        Box::pin(async move {
            let sent = replay::to_session(&node, &outbox, uid, mark.upto).await;
            outbox.release(&sent);
            if first {
                presence::announce(&node, uid).await;
            }
        }),
    )
}

/// `logout`: ends the session, keeps the connection; with `revoke`, the
/// token it logged in with stops working.
pub async fn logout(node: &Node, conn: &mut Conn, revoke: bool) -> OpResult {
    let Some(login) = conn.login.take() else {
        return Err(super::not_logged_in());
    };
    if revoke && let Err(e) = node.store.delete_token(&login.token_hash).await {
        conn.login = Some(login);
        return Err(e.into());
    }
    end_session(node, conn.sid, login).await;
    Ok(Answer::empty())
}

/// Leaves the hub and, when this was the user's last session anywhere,
/// tells the friends.
pub async fn end_session(node: &Node, sid: u64, login: Login) {
    let uid = login.caller.user.id;
    crate::metrics::session_ended();
    if node.router.detach(uid, sid).await {
        presence::announce(node, uid).await;
    }
    tracing::info!(user = uid, sid, "session ended");
}
