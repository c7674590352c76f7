//! Setup: the bench's own users (registered, or reused from
//! `--users-file`), the friendships and groups a workload needs, and their
//! removal afterwards.
//!
//! Registration logs each new user in once with its password to get a
//! token; everything after that logs in by token, which is cheap. Setup
//! work is spread over `--setup-connections` connections, each pipelining
//! many requests per write, switching users with `login`/`logout`.
//!
//! Friendships are made in a way that works with both protocol versions:
//! `add_friend` from one side; a version 1 server answers with the
//! `friend` (done), a version 2 server with `"status":"requested"`, after
//! which the other side sends `accept_friend`.

use std::path::Path;

use anyhow::{Context, bail};
use chat_proto::reply::{GroupReply, Registered, Reply, ReplyError};
use chat_proto::{Credential, ErrorCode, Request};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::conn::{Conn, Dialer, LoginReply, UserId};
use crate::wire::{Outgoing, V2Request};

/// A registered user the bench can log in as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRec {
    pub id: u64,
    pub name: String,
    pub token: String,
}

/// The `--users-file` contents.
#[derive(Debug, Serialize, Deserialize)]
struct UsersFile {
    version: u32,
    users: Vec<UserRec>,
}

/// Jobs pipelined in one write by a setup connection.
const JOBS_PER_WRITE: usize = 32;

/// `need` users: those saved in `file` that still log in, plus new ones.
pub async fn users(
    dialer: &Dialer,
    file: Option<&Path>,
    need: usize,
    password: &str,
    conns: usize,
    quiet: bool,
) -> anyhow::Result<Vec<UserRec>> {
    let mut users = match file {
        Some(path) if path.exists() => load(path)?,
        _ => Vec::new(),
    };
    if let Some(first) = users.first() {
        let mut conn = Conn::open(dialer, 0).await?;
        let reply = conn
            .request(Request::Login {
                heartbeat: None,
                user: first.id,
                credential: Credential::Token(first.token.clone()),
            })
            .await?;
        match reply.body::<LoginReply>() {
            Ok(_) => {}
            Err(ReplyError::Failed(e)) if e.code == ErrorCode::BadCredentials => {
                eprintln!(
                    "chatbench: the users in the users file do not log in on this server \
                     (another database?); registering new ones"
                );
                users.clear();
            }
            Err(e) => bail!("checking the users file: {e}"),
        }
    }
    if users.len() < need {
        let missing = need - users.len();
        if !quiet {
            eprintln!(
                "chatbench: registering {missing} users (password hashing is slow by design)"
            );
        }
        let first = users.len();
        let names: Vec<String> = (first..need).map(|i| format!("bench-{i}")).collect();
        let new = register(dialer, names, password, conns).await?;
        users.extend(new);
        if let Some(path) = file {
            save(path, &users)?;
        }
    }
    users.truncate(need);
    Ok(users)
}

fn load(path: &Path) -> anyhow::Result<Vec<UserRec>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: UsersFile =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    if file.version != 1 {
        bail!("{}: unknown version {}", path.display(), file.version);
    }
    Ok(file.users)
}

fn save(path: &Path, users: &[UserRec]) -> anyhow::Result<()> {
    let file = UsersFile {
        version: 1,
        users: users.to_vec(),
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&file)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Registers users with these names; returns them with their tokens, in
/// the order of `names`.
async fn register(
    dialer: &Dialer,
    names: Vec<String>,
    password: &str,
    conns: usize,
) -> anyhow::Result<Vec<UserRec>> {
    let total = names.len();
    let per = total.div_ceil(conns.max(1)).max(1);
    let mut tasks = JoinSet::new();
    for (c, chunk) in names.chunks(per).enumerate() {
        let chunk = chunk.to_vec();
        let dialer = dialer.clone();
        let password = password.to_owned();
        tasks.spawn(async move {
            let mut conn = Conn::open(&dialer, c).await?;
            let mut out = Vec::with_capacity(chunk.len());
            for batch in chunk.chunks(JOBS_PER_WRITE) {
                let regs: Vec<Request> = batch
                    .iter()
                    .map(|name| Request::Register {
                        name: name.clone(),
                        password: password.clone(),
                    })
                    .collect();
                let mut ids = Vec::with_capacity(batch.len());
                for reply in conn.pipeline(regs).await? {
                    ids.push(reply.body::<Registered>().context("register")?.user.id);
                }
                let logins: Vec<Request> = ids
                    .iter()
                    .flat_map(|&user| {
                        [
                            Request::Login {
                                heartbeat: None,
                                user,
                                credential: Credential::Password(password.clone()),
                            },
                            Request::Logout {
                                revoke: false,
                                everywhere: false,
                            },
                        ]
                    })
                    .collect();
                let replies = conn.pipeline(logins).await?;
                for (name, pair) in batch.iter().zip(replies.chunks(2)) {
                    let login = pair[0].body::<LoginReply>().context("login by password")?;
                    out.push(UserRec {
                        id: login.user.id,
                        name: name.clone(),
                        token: login.token,
                    });
                }
            }
            anyhow::Ok((c, out))
        });
    }
    let mut parts = Vec::new();
    while let Some(done) = tasks.join_next().await {
        parts.push(done??);
    }
    parts.sort_by_key(|(c, _)| *c);
    let users: Vec<UserRec> = parts.into_iter().flat_map(|(_, u)| u).collect();
    debug_assert_eq!(users.len(), total);
    Ok(users)
}

/// Runs each job's requests logged in as the job's user; returns each
/// job's replies (without those of `login` and `logout`), in job order.
pub async fn as_users(
    dialer: &Dialer,
    jobs: Vec<(UserRec, Vec<Outgoing>)>,
    conns: usize,
) -> anyhow::Result<Vec<Vec<Reply>>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let per = jobs.len().div_ceil(conns.max(1)).max(1);
    let mut tasks = JoinSet::new();
    let mut jobs = jobs.into_iter();
    let mut c = 0;
    loop {
        let chunk: Vec<_> = jobs.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        let dialer = dialer.clone();
        tasks.spawn(async move {
            let mut conn = Conn::open(&dialer, c).await?;
            let mut out = Vec::with_capacity(chunk.len());
            for batch in chunk.chunks(JOBS_PER_WRITE) {
                let mut requests = Vec::new();
                for (user, ops) in batch {
                    requests.push(Outgoing::from(Request::Login {
                        heartbeat: None,
                        user: user.id,
                        credential: Credential::Token(user.token.clone()),
                    }));
                    requests.extend(ops.iter().cloned());
                    requests.push(
                        Request::Logout {
                            revoke: false,
                            everywhere: false,
                        }
                        .into(),
                    );
                }
                let mut replies = conn.pipeline(requests).await?.into_iter();
                for (user, ops) in batch {
                    let login = replies.next().context("missing login reply")?;
                    login
                        .body::<LoginReply>()
                        .with_context(|| format!("login of user {} by token", user.id))?;
                    out.push(replies.by_ref().take(ops.len()).collect::<Vec<_>>());
                    replies.next().context("missing logout reply")?;
                }
            }
            anyhow::Ok((c, out))
        });
        c += 1;
    }
    let mut parts = Vec::new();
    while let Some(done) = tasks.join_next().await {
        parts.push(done??);
    }
    parts.sort_by_key(|(c, _)| *c);
    Ok(parts.into_iter().flat_map(|(_, r)| r).collect())
}

/// A reply that must be `ok`, or fail with `allowed` (already done).
fn ok_or(reply: &Reply, allowed: ErrorCode, what: &str) -> anyhow::Result<()> {
    match &reply.result {
        Ok(_) => Ok(()),
        Err(e) if e.code == allowed => Ok(()),
        Err(e) => bail!("{what}: {}: {}", e.code, e.error),
    }
}

/// The reply to `add_friend`: version 2 says `status` (`requested`, or
/// `friends` when it accepted the other side's request); version 1 has
/// only `friend`.
#[derive(Debug, Deserialize)]
struct AddFriendReply {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    friend: Option<UserId>,
}

/// Whether `add_friend` left a request for the other side to accept
/// (version 2), rather than a friendship (version 1, or an accepted
/// request, or friends already).
fn needs_accept(reply: &Reply) -> anyhow::Result<bool> {
    match &reply.result {
        Err(e) if e.code == ErrorCode::AlreadyFriends => Ok(false),
        Err(e) => bail!("add_friend: {}: {}", e.code, e.error),
        Ok(_) => {
            let body = reply.body::<AddFriendReply>().context("add_friend")?;
            match (body.status.as_deref(), body.friend) {
                (Some("requested"), _) => Ok(true),
                (Some("friends") | None, Some(_)) => Ok(false),
                (status, _) => bail!("add_friend: unexpected reply (status {status:?}, no friend)"),
            }
        }
    }
}

/// Makes each pair of users friends, with either protocol version.
pub async fn befriend(
    dialer: &Dialer,
    pairs: &[(UserRec, UserRec)],
    conns: usize,
) -> anyhow::Result<()> {
    let jobs = pairs
        .iter()
        .map(|(a, b)| (a.clone(), vec![Request::AddFriend { user: b.id }.into()]))
        .collect();
    let mut accepts = Vec::new();
    for ((a, b), replies) in pairs.iter().zip(as_users(dialer, jobs, conns).await?) {
        if needs_accept(&replies[0])? {
            accepts.push((
                b.clone(),
                vec![V2Request::AcceptFriend { user: a.id }.into()],
            ));
        }
    }
    for replies in as_users(dialer, accepts, conns).await? {
        ok_or(&replies[0], ErrorCode::AlreadyFriends, "accept_friend")?;
    }
    Ok(())
}

/// Creates one group per member list (the first member creates it, the
/// others join); returns the group ids.
pub async fn make_groups(
    dialer: &Dialer,
    groups: &[Vec<UserRec>],
    conns: usize,
) -> anyhow::Result<Vec<u64>> {
    let creators = groups
        .iter()
        .enumerate()
        .map(|(i, members)| {
            (
                members[0].clone(),
                vec![
                    Request::CreateGroup {
                        visibility: Default::default(),
                        name: format!("bench-group-{i}"),
                        desc: "chatbench".into(),
                    }
                    .into(),
                ],
            )
        })
        .collect();
    let mut ids = Vec::with_capacity(groups.len());
    for replies in as_users(dialer, creators, conns).await? {
        ids.push(
            replies[0]
                .body::<GroupReply>()
                .context("create_group")?
                .group
                .id,
        );
    }
    let mut joins = Vec::new();
    for (members, &group) in groups.iter().zip(&ids) {
        for m in &members[1..] {
            joins.push((m.clone(), vec![Request::JoinGroup { group }.into()]));
        }
    }
    for replies in as_users(dialer, joins, conns).await? {
        ok_or(&replies[0], ErrorCode::AlreadyMember, "join_group")?;
    }
    Ok(ids)
}

/// Deletes the groups made by [`make_groups`], so repeated runs do not
/// pile up groups in every bench user's lists.
pub async fn delete_groups(
    dialer: &Dialer,
    groups: &[(UserRec, u64)],
    conns: usize,
) -> anyhow::Result<()> {
    let jobs = groups
        .iter()
        .map(|(creator, group)| {
            (
                creator.clone(),
                vec![Request::DeleteGroup { group: *group }.into()],
            )
        })
        .collect();
    for replies in as_users(dialer, jobs, conns).await? {
        ok_or(&replies[0], ErrorCode::NoSuchGroup, "delete_group")?;
    }
    Ok(())
}
