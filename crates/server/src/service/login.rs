//! `login` and `logout`, and the end of a session.
//!
//! The login sequence, in order: check the credential; hold live events on
//! the connection's outbox; join the hub (and the bus); read the snapshot
//! (friends, groups, inbox mark); reply; replay the inbox up to the mark;
//! release the held events minus those the replay carried; tell friends
//! if this is the user's first session anywhere. Reading the snapshot
//! after joining means a message committed from then on is either in the
//! snapshot's inbox or held for this session: none falls between.

use std::net::IpAddr;
use std::time::Duration;

use chat_proto::reply::LoggedIn;
use chat_proto::{Credential, EndReason, ErrorCode, User};

use super::{Answer, Caller, Conn, Failure, Login, OpResult, Outcome, presence, replay};
use crate::auth::{new_token, token_hash};
use crate::hub::SessionRef;
use crate::ids::now_ms;
use crate::node::Node;
use crate::store::UserRow;

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

/// Password logins, counted per account and per address on the bus (so
/// across connections and nodes). Each attempt is counted before the
/// password is checked, atomically, so a burst of guesses at once gets no
/// more tries than one after the other; a success takes its count back.
/// Past a limit, password logins are refused before any hashing until
/// the window passes; token logins are not counted.
struct Failures {
    keys: [String; 2],
}

impl Failures {
    fn new(user: u64, peer: IpAddr) -> Failures {
        Failures {
            keys: [format!("lf:u:{user}"), format!("lf:a:{peer}")],
        }
    }

    /// Counts this attempt; `rate_limited`, with the seconds to wait, when
    /// it goes past a limit. When the bus cannot be asked, logins go on
    /// (failing open).
    async fn admit(&self, node: &Node) -> Result<(), Failure> {
        let limits = [
            node.config.login_failures_per_account,
            node.config.login_failures_per_address,
        ];
        let window = Duration::from_secs(node.config.login_failure_window.max(1));
        let mut wait: Option<Duration> = None;
        for (key, limit) in self.keys.iter().zip(limits) {
            match node.router.bus().count(key, window).await {
                Ok((n, left)) if n > limit => wait = Some(wait.unwrap_or_default().max(left)),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "login counters unavailable; not limiting"),
            }
        }
        match wait {
            None => Ok(()),
            Some(left) => Err(Failure::new(
                ErrorCode::RateLimited,
                "too many failed logins; wait before trying again",
            )
            .retry_after(left.as_secs() + u64::from(left.subsec_nanos() > 0))),
        }
    }

    /// The password was right: the account starts afresh, and the
    /// address gets its try back.
    async fn succeeded(&self, node: &Node) {
        let _ = node.router.bus().reset(&self.keys[0]).await;
        let _ = node.router.bus().uncount(&self.keys[1]).await;
    }
}

/// Longest `retry_after` given to a login refused for being one too many
/// at once; each refusal draws 1 to this many seconds at random, so the
/// clients of a reconnect storm come back spread out, not together.
const BUSY_RETRY_MAX_SECS: u64 = 5;

/// The refusal of a login past `--max-logins-in-flight`.
fn too_many_logins() -> Failure {
    let mut raw = [0u8; 1];
    let _ = getrandom::fill(&mut raw);
    Failure::new(
        ErrorCode::Unavailable,
        "too many logins at once; retry after the time given",
    )
    .retry_after(1 + u64::from(raw[0]) % BUSY_RETRY_MAX_SECS)
}

/// `login`: the whole sequence (see the module's doc).
pub async fn login(
    node: &Node,
    conn: &mut Conn,
    user: u64,
    credential: Credential,
    heartbeat: Option<u32>,
) -> Outcome {
    if conn.login.is_some() {
        return Outcome::Reply(Err(Failure::new(
            ErrorCode::AlreadyLoggedIn,
            "this connection is already logged in; log out first",
        )));
    }
    // Bounded from the credential check to the reply (the inbox replay
    // after it is paced by the client): past the bound, refused before
    // any work, not counted as a failed login.
    let Ok(_in_flight) = node.logins.try_acquire() else {
        return Outcome::Reply(Err(too_many_logins()));
    };
    let failures = match &credential {
        Credential::Password(_) => {
            let f = Failures::new(user, conn.peer);
            if let Err(limited) = f.admit(node).await {
                return Outcome::Reply(Err(limited));
            }
            Some(f)
        }
        Credential::Token(_) => None,
    };
    let auth = match authenticate(node, user, credential).await {
        Ok(a) => {
            if let Some(f) = &failures {
                f.succeeded(node).await;
            }
            a
        }
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
    conn.heartbeat = heartbeat.map(|s| Duration::from_secs(u64::from(s)));
    let mark = snap.inbox;
    tracing::info!(user = uid, sid = conn.sid, unread = mark.count, "logged in");
    let lists = super::accounts::lists(node, snap).await;
    let reply = Answer::new(LoggedIn {
        user: User {
            id: uid,
            name: auth.user.name,
            online: None,
        },
        token: auth.token,
        lists,
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
/// token it logged in with stops working; with `everywhere`, every token
/// of the user does, and every other session of the user ends.
pub async fn logout(node: &Node, conn: &mut Conn, revoke: bool, everywhere: bool) -> OpResult {
    let Some(login) = conn.login.take() else {
        return Err(super::not_logged_in());
    };
    let user = login.caller.user.id;
    let revoked = if everywhere {
        node.store.delete_tokens(user).await
    } else if revoke {
        node.store.delete_token(&login.token_hash).await
    } else {
        Ok(())
    };
    if let Err(e) = revoked {
        conn.login = Some(login);
        return Err(e.into());
    }
    if everywhere {
        node.router
            .end_sessions(user, Some(conn.sid), EndReason::LoggedOut);
    }
    conn.heartbeat = None;
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
