//! The operations of the protocol. [`handle`] is the one entry point: it
//! takes a decoded request and the connection it came on, and each op, in
//! the file of its concern, owns everything from the rules to the reply:
//! store reads and writes, the writer for messages and acks, the events it
//! causes. Nothing here knows about sockets; the session hands each
//! request in and queues what comes out.
//!
//! - [`login`]: `login` (the whole sequence: credentials, joining the hub,
//!   the snapshot, the reply, the inbox replay, presence) and `logout`;
//! - [`accounts`]: `register`, `whoami`, `sync`, `change_password`,
//!   `delete_account`;
//! - [`friends`]: friends by consent, and blocking;
//! - [`groups`]: groups, invitations and roles;
//! - [`messages`]: `chat`, `group_chat`, `ack`, `history`;
//! - [`replay`]: the inbox replay loop, after a login and after a bus
//!   outage;
//! - [`presence`]: telling friends who came and went;
//! - [`relations`]: the cached "may these two talk" checks;
//! - [`outcome`]: what an op answers, and failures as wire codes;
//! - [`wire`]: store rows as the wire shows them.

pub mod accounts;
pub mod friends;
pub mod groups;
pub mod login;
pub mod messages;
pub mod outcome;
pub mod presence;
pub mod relations;
pub mod replay;
pub mod wire;

use std::net::IpAddr;
use std::sync::Arc;

use chat_proto::{ErrorCode, Op, Request};

pub use outcome::{Answer, Failure, OpResult, Outcome};

use crate::cluster::ClusterEvent;
use crate::node::Node;
use crate::outbox::Outbox;
use crate::store::UserRow;

/// The logged-in user a request acts as. Requests never name the acting
/// user: it is always the session's.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRow,
    /// The session, unique on this node (a sender's own session does not
    /// get its message back as an event).
    pub sid: u64,
}

/// A session's login: who, and the token it logged in with.
#[derive(Debug)]
pub struct Login {
    pub caller: Caller,
    pub token_hash: [u8; 32],
}

/// A connection as the ops see it. Owned by the session; the ops read and
/// change it, and never touch the socket.
#[derive(Debug)]
pub struct Conn {
    /// Unique on this node.
    pub sid: u64,
    /// The client's address (failed-login limits).
    pub peer: IpAddr,
    /// The connection's outgoing queue: the login sequence holds events
    /// on it and replays the inbox into it.
    pub outbox: Arc<Outbox>,
    /// Set by `login`, cleared by `logout` and when the connection ends.
    pub login: Option<Login>,
    /// Failed logins on this connection.
    pub failed_logins: u32,
    /// How often the client promised to send something (`login`'s
    /// `heartbeat`): a session silent for much longer has a dead peer.
    pub heartbeat: Option<std::time::Duration>,
    /// Set by an op when the connection must close once its reply is out.
    pub closing: bool,
}

impl Conn {
    pub fn new(sid: u64, peer: IpAddr, outbox: Arc<Outbox>) -> Conn {
        Conn {
            sid,
            peer,
            outbox,
            login: None,
            failed_logins: 0,
            heartbeat: None,
            closing: false,
        }
    }
}

fn not_logged_in() -> Failure {
    Failure::new(ErrorCode::NotLoggedIn, "log in first")
}

/// The logged-in user of `conn`.
pub(crate) fn caller(conn: &Conn) -> Result<&Caller, Failure> {
    conn.login
        .as_ref()
        .map(|l| &l.caller)
        .ok_or_else(not_logged_in)
}

/// Whether `op` may run on `conn` at all. Checked before the request's
/// fields are decoded, so a stranger learns nothing from field errors.
pub fn admit(conn: &Conn, op: Op) -> Result<(), Failure> {
    if conn.login.is_none() && !op.allowed_before_login() {
        return Err(not_logged_in());
    }
    Ok(())
}

/// Whether the request goes through the batching writer. Its reply comes
/// when the commit does, and the session reads on meanwhile; every other
/// request first waits for those in flight, so its effects follow theirs.
pub fn pipelined(request: &Request) -> bool {
    matches!(
        request,
        Request::Chat { .. } | Request::GroupChat { .. } | Request::Ack { .. }
    )
}

/// Runs one request of `conn`.
pub async fn handle(node: &Node, conn: &mut Conn, request: Request) -> Outcome {
    dispatch(node, conn, request)
        .await
        .unwrap_or_else(|f| Outcome::Reply(Err(f)))
}

async fn dispatch(node: &Node, conn: &mut Conn, request: Request) -> Result<Outcome, Failure> {
    use Outcome::Reply as now;
    Ok(match request {
        Request::Ping => now(Ok(Answer::empty())),
        Request::Register { name, password } => now(accounts::register(node, name, password).await),
        Request::Login {
            user,
            credential,
            heartbeat,
        } => login::login(node, conn, user, credential, heartbeat).await,
        Request::Logout { revoke, everywhere } => {
            now(login::logout(node, conn, revoke, everywhere).await)
        }
        Request::Whoami => now(accounts::whoami(caller(conn)?)),
        Request::Sync => now(accounts::sync(node, caller(conn)?).await),
        Request::ChangePassword { old, new } => {
            now(accounts::change_password(node, conn, old, new).await)
        }
        Request::DeleteAccount { password } => accounts::delete_account(node, conn, password).await,
        Request::AddFriend { user } => now(friends::add(node, caller(conn)?, user).await),
        Request::AcceptFriend { user } => now(friends::accept(node, caller(conn)?, user).await),
        Request::DeclineFriend { user } => now(friends::decline(node, caller(conn)?, user).await),
        Request::CancelFriend { user } => now(friends::cancel(node, caller(conn)?, user).await),
        Request::RemoveFriend { user } => now(friends::remove(node, caller(conn)?, user).await),
        Request::Block { user } => now(friends::block(node, caller(conn)?, user).await),
        Request::Unblock { user } => now(friends::unblock(node, caller(conn)?, user).await),
        Request::CreateGroup {
            name,
            desc,
            visibility,
        } => now(groups::create(node, caller(conn)?, name, desc, visibility).await),
        Request::UpdateGroup {
            group,
            name,
            desc,
            visibility,
        } => now(groups::update(node, caller(conn)?, group, name, desc, visibility).await),
        Request::JoinGroup { group } => now(groups::join(node, caller(conn)?, group).await),
        Request::Invite { group, user } => {
            now(groups::invite(node, caller(conn)?, group, user).await)
        }
        Request::DeclineInvite { group } => {
            now(groups::decline_invite(node, caller(conn)?, group).await)
        }
        Request::Kick { group, user } => now(groups::kick(node, caller(conn)?, group, user).await),
        Request::SetRole { group, user, role } => {
            now(groups::set_role(node, caller(conn)?, group, user, role).await)
        }
        Request::TransferGroup { group, user } => {
            now(groups::transfer(node, caller(conn)?, group, user).await)
        }
        Request::QuitGroup { group } => now(groups::quit(node, caller(conn)?, group).await),
        Request::DeleteGroup { group } => now(groups::delete(node, caller(conn)?, group).await),
        Request::GroupMembers { group } => now(groups::members(node, caller(conn)?, group).await),
        Request::Chat { to, text, cid } => {
            messages::chat(node, caller(conn)?, to, text, cid).await?
        }
        Request::GroupChat { group, text, cid } => {
            messages::group_chat(node, caller(conn)?, group, text, cid).await?
        }
        Request::Ack { ids } => messages::ack(node, caller(conn)?, ids).await?,
        Request::History {
            target,
            before,
            limit,
        } => now(messages::history(node, caller(conn)?, target, before, limit).await),
    })
}

/// The connection is gone: its session ends (friends hear of it when it
/// was the user's last).
pub async fn disconnect(node: &Node, conn: &mut Conn) {
    if let Some(login) = conn.login.take() {
        login::end_session(node, conn.sid, login).await;
    }
}

/// Acts on what the cluster reports: friends of users whose node died hear
/// they are offline; after a bus outage, local sessions get again the
/// unacked messages that may have been published while it was down.
pub async fn cluster_event(node: &Node, event: ClusterEvent) {
    match event {
        ClusterEvent::Announce(users) => {
            for user in users {
                presence::announce(node, user).await;
            }
        }
        ClusterEvent::Recovered { since_ms } => {
            replay::after_outage(node, crate::ids::first_id_at(since_ms)).await
        }
        ClusterEvent::Replay { held, since } => replay::lost(node, held, since).await,
    }
}
