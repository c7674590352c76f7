//! The authorization matrix of the group ops of protocol version 2: for
//! each op, each kind of caller (creator, admin, plain member, non-member,
//! invited non-member, a member the creator has blocked) and each
//! visibility, exactly the documented answer; then the targets that are not
//! members (a stranger, an invitee, a deleted account) and a deleted
//! account as a caller.
//!
//! Every row runs on a fresh group, so a row that succeeds cannot disturb
//! the next. A row that fails must change nothing: the member list and
//! roles, as the creator sees them, are compared before and after.
//!
//! Readings where the contract is silent:
//! - "blocked" is a plain member whom the creator has blocked. The contract
//!   ties blocking to friendship, friend requests and invites only, so in a
//!   group they answer exactly as a plain member.
//! - The order of the checks is docs/protocol.md's: the caller's standing
//!   (`no_such_group`/`not_member`), then `bad_request` (yourself), then
//!   `forbidden` (the caller's role), then the target (`not_member`). So
//!   a plain member's kick of themselves is `bad_request`.
//! - `decline_invite` by a member, or by a non-member of a public group,
//!   with no invite is `no_such_request`. For a private group and a caller
//!   without an invite the contract gives two answers (`no_such_request`
//!   of the op, `no_such_group` of the private rule); that cell is checked
//!   in `v2_groups.rs` (the answer must not tell a private group from no
//!   group).
//! - A target that is not a member (stranger, invitee, deleted account) of
//!   `kick`, `set_role` and `transfer_group` is `not_member` ("you or
//!   they"); `invite` of a deleted account is `no_such_user` (stated).

use chat_testkit::fixture::*;
use chat_testkit::{TestClient, TestServer};
use serde_json::{Value, json};

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Creator,
    Admin,
    Member,
    NonMember,
    Invited,
    Blocked,
}

const CALLERS: [Caller; 6] = [
    Caller::Creator,
    Caller::Admin,
    Caller::Member,
    Caller::NonMember,
    Caller::Invited,
    Caller::Blocked,
];

// Indexes into `People`.
const C: usize = 0; // creator
const A: usize = 1; // admin
const A2: usize = 2; // another admin, a target
const M: usize = 3; // plain member
const T: usize = 4; // plain member, a target
const N: usize = 5; // non-member
const I: usize = 6; // invited non-member
const B: usize = 7; // plain member blocked by the creator
const O: usize = 8; // outsider, a target of invite
const NAMES: [&str; 9] = [
    "creator", "admin", "admin2", "member", "target", "stranger", "invitee", "blocked", "outsider",
];

impl Caller {
    fn index(self) -> usize {
        match self {
            Caller::Creator => C,
            Caller::Admin => A,
            Caller::Member => M,
            Caller::NonMember => N,
            Caller::Invited => I,
            Caller::Blocked => B,
        }
    }

    fn is_member(self) -> bool {
        !matches!(self, Caller::NonMember | Caller::Invited)
    }
}

/// The ops of the matrix, with their target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    UpdateGroup,
    JoinGroup,
    InviteOutsider,
    DeclineInvite,
    KickMember,
    KickAdmin,
    KickCreator,
    SetRoleMember,
    SetRoleAdmin,
    TransferToMember,
    KickSelf,
    SetRoleSelf,
    TransferToSelf,
    QuitGroup,
    DeleteGroup,
    GroupMembers,
    GroupChat,
    History,
}

const OPS: [Op; 18] = [
    Op::UpdateGroup,
    Op::JoinGroup,
    Op::InviteOutsider,
    Op::DeclineInvite,
    Op::KickMember,
    Op::KickAdmin,
    Op::KickCreator,
    Op::SetRoleMember,
    Op::SetRoleAdmin,
    Op::TransferToMember,
    Op::KickSelf,
    Op::SetRoleSelf,
    Op::TransferToSelf,
    Op::QuitGroup,
    Op::DeleteGroup,
    Op::GroupMembers,
    Op::GroupChat,
    Op::History,
];

fn frame(op: Op, gid: u64, ids: &[u64], me: u64) -> Value {
    match op {
        Op::KickSelf => json!({"op": "kick", "group": gid, "user": me}),
        Op::SetRoleSelf => json!({"op": "set_role", "group": gid, "user": me, "role": "admin"}),
        Op::TransferToSelf => json!({"op": "transfer_group", "group": gid, "user": me}),
        Op::UpdateGroup => json!({"op": "update_group", "group": gid, "name": "renamed"}),
        Op::JoinGroup => json!({"op": "join_group", "group": gid}),
        Op::InviteOutsider => json!({"op": "invite", "group": gid, "user": ids[O]}),
        Op::DeclineInvite => json!({"op": "decline_invite", "group": gid}),
        Op::KickMember => json!({"op": "kick", "group": gid, "user": ids[T]}),
        Op::KickAdmin => json!({"op": "kick", "group": gid, "user": ids[A2]}),
        Op::KickCreator => json!({"op": "kick", "group": gid, "user": ids[C]}),
        Op::SetRoleMember => {
            json!({"op": "set_role", "group": gid, "user": ids[T], "role": "admin"})
        }
        Op::SetRoleAdmin => {
            json!({"op": "set_role", "group": gid, "user": ids[A2], "role": "member"})
        }
        Op::TransferToMember => json!({"op": "transfer_group", "group": gid, "user": ids[T]}),
        Op::QuitGroup => json!({"op": "quit_group", "group": gid}),
        Op::DeleteGroup => json!({"op": "delete_group", "group": gid}),
        Op::GroupMembers => json!({"op": "group_members", "group": gid}),
        Op::GroupChat => json!({"op": "group_chat", "group": gid, "text": "hello"}),
        Op::History => json!({"op": "history", "group": gid}),
    }
}

/// The documented answer: "ok", an error code, or `None` where this
/// matrix does not decide (see the module doc).
fn expected(op: Op, who: Caller, private: bool) -> Option<&'static str> {
    use Caller::*;
    // A non-member (invited or not) of a private group sees no group,
    // except join_group with an invite.
    let outsider = if private {
        "no_such_group"
    } else {
        "not_member"
    };
    Some(match op {
        Op::JoinGroup => match who {
            Invited => "ok",
            NonMember if private => "no_such_group",
            NonMember => "ok",
            _ => "already_member",
        },
        Op::DeclineInvite => match who {
            Invited => "ok",
            NonMember if private => return None,
            _ => "no_such_request",
        },
        _ if !who.is_member() => outsider,
        Op::UpdateGroup | Op::InviteOutsider | Op::KickMember => match who {
            Creator | Admin => "ok",
            _ => "forbidden",
        },
        Op::KickAdmin => match who {
            Creator => "ok",
            _ => "forbidden",
        },
        Op::KickCreator => match who {
            Creator => "bad_request",
            _ => "forbidden",
        },
        Op::SetRoleMember | Op::SetRoleAdmin | Op::TransferToMember | Op::DeleteGroup => {
            match who {
                Creator => "ok",
                _ => "forbidden",
            }
        }
        Op::KickSelf | Op::SetRoleSelf | Op::TransferToSelf => "bad_request",
        Op::QuitGroup => match who {
            Creator => "forbidden",
            _ => "ok",
        },
        Op::GroupMembers | Op::GroupChat | Op::History => "ok",
    })
}

/// Everyone of the matrix, logged in.
struct People {
    c: Vec<TestClient>,
    ids: Vec<u64>,
}

impl People {
    async fn new(server: &TestServer) -> anyhow::Result<People> {
        let mut c = Vec::new();
        let mut ids = Vec::new();
        for name in NAMES {
            let (client, id) = user(server, name).await?;
            c.push(client);
            ids.push(id);
        }
        c[C].ok(json!({"op": "block", "user": ids[B]})).await?;
        Ok(People { c, ids })
    }

    /// A fresh group with every role in place; returns its id.
    async fn group(&mut self, private: bool) -> anyhow::Result<u64> {
        let vis = if private { "private" } else { "public" };
        let r = self.c[C]
            .ok(json!({"op": "create_group", "name": "matrix", "visibility": vis}))
            .await?;
        let gid = r["group"]["id"].as_u64().expect("group id");
        for x in [A, A2, M, T, B] {
            if private {
                self.c[C]
                    .ok(json!({"op": "invite", "group": gid, "user": self.ids[x]}))
                    .await?;
            }
            self.c[x]
                .ok(json!({"op": "join_group", "group": gid}))
                .await?;
        }
        for x in [A, A2] {
            self.c[C]
                .ok(json!({"op": "set_role", "group": gid, "user": self.ids[x], "role": "admin"}))
                .await?;
        }
        self.c[C]
            .ok(json!({"op": "invite", "group": gid, "user": self.ids[I]}))
            .await?;
        Ok(gid)
    }

    /// Drops the events everyone has collected so far.
    async fn drain(&mut self) -> anyhow::Result<()> {
        for c in self.c.iter_mut() {
            c.ok(json!({"op": "ping"})).await?;
            c.kept_events();
        }
        Ok(())
    }
}

fn code_of(reply: &Value) -> String {
    if reply["ok"] == json!(true) {
        "ok".to_owned()
    } else {
        reply["code"].as_str().unwrap_or("?").to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_op_answers_each_caller_as_documented() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut p = People::new(&server).await?;
    let mut wrong = Vec::new();
    let mut checked = 0;
    for private in [false, true] {
        for op in OPS {
            for who in CALLERS {
                let Some(want) = expected(op, who, private) else {
                    continue;
                };
                let gid = p.group(private).await?;
                let before = roles(&mut p.c[C], gid).await?;
                let req = frame(op, gid, &p.ids, p.ids[who.index()]);
                let r = p.c[who.index()].request(req.clone()).await?;
                let got = code_of(&r);
                checked += 1;
                let vis = if private { "private" } else { "public" };
                if got != want {
                    wrong.push(format!(
                        "{vis} {op:?} by {who:?}: {req} expected {want}, got {r}"
                    ));
                } else if want != "ok" {
                    // A refusal changes nothing.
                    let after = roles(&mut p.c[C], gid).await?;
                    if after != before {
                        wrong.push(format!(
                            "{vis} {op:?} by {who:?}: refused but changed the members from {before:?} to {after:?}"
                        ));
                    }
                    if op == Op::UpdateGroup {
                        let s = p.c[C].ok(json!({"op": "sync"})).await?;
                        let name = s["groups"]
                            .as_array()
                            .and_then(|g| g.iter().find(|g| g["id"] == json!(gid)))
                            .map(|g| g["name"].clone());
                        if name != Some(json!("matrix")) {
                            wrong.push(format!("{vis} {op:?} by {who:?}: refused but renamed"));
                        }
                    }
                }
                p.drain().await?;
            }
        }
    }
    assert!(checked > 200, "only {checked} cells checked");
    assert!(
        wrong.is_empty(),
        "{} of {checked} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_that_are_not_members_and_deleted_accounts() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut p = People::new(&server).await?;
    // A deleted account: it was a member of a group of the creator once.
    let (mut d, idd) = user(&server, "deleted").await?;
    let token = d.token.clone().expect("token");
    let mut wrong = Vec::new();
    for private in [false, true] {
        let gid = p.group(private).await?;
        if private {
            p.c[C]
                .ok(json!({"op": "invite", "group": gid, "user": idd}))
                .await?;
        }
        d.ok(json!({"op": "join_group", "group": gid})).await?;
    }
    let r = d
        .ok(json!({"op": "delete_account", "password": PASSWORD}))
        .await?;
    assert_eq!(r["ok"], json!(true));
    drop(d);

    for private in [false, true] {
        let vis = if private { "private" } else { "public" };
        let gid = p.group(private).await?;
        let (n, i, t) = (p.ids[N], p.ids[I], p.ids[T]);
        let cases = [
            (json!({"op": "kick", "group": gid, "user": n}), "not_member"),
            (json!({"op": "kick", "group": gid, "user": i}), "not_member"),
            (
                json!({"op": "kick", "group": gid, "user": idd}),
                "not_member",
            ),
            (
                json!({"op": "set_role", "group": gid, "user": n, "role": "admin"}),
                "not_member",
            ),
            (
                json!({"op": "set_role", "group": gid, "user": i, "role": "admin"}),
                "not_member",
            ),
            (
                json!({"op": "set_role", "group": gid, "user": idd, "role": "admin"}),
                "not_member",
            ),
            (
                json!({"op": "transfer_group", "group": gid, "user": n}),
                "not_member",
            ),
            (
                json!({"op": "transfer_group", "group": gid, "user": i}),
                "not_member",
            ),
            (
                json!({"op": "transfer_group", "group": gid, "user": idd}),
                "not_member",
            ),
            (
                json!({"op": "invite", "group": gid, "user": idd}),
                "no_such_user",
            ),
            (
                json!({"op": "invite", "group": gid, "user": 999_999_999u64}),
                "no_such_user",
            ),
            (
                json!({"op": "invite", "group": gid, "user": t}),
                "already_member",
            ),
            (
                json!({"op": "invite", "group": gid, "user": p.ids[C]}),
                "already_member",
            ),
        ];
        for (admin_too, caller) in [(false, C), (true, A)] {
            for (req, want) in &cases {
                // The admin may not set roles nor transfer: only the kick
                // and invite rows apply to them.
                let op = req["op"].as_str().unwrap_or("");
                if admin_too && (op == "set_role" || op == "transfer_group") {
                    continue;
                }
                let r = p.c[caller].request(req.clone()).await?;
                if code_of(&r) != *want {
                    wrong.push(format!(
                        "{vis} by {}: {req} expected {want}, got {r}",
                        NAMES[caller]
                    ));
                }
            }
        }
        p.drain().await?;
    }

    // The deleted account as a caller: it cannot log in at all.
    let mut d2 = server.client().await?;
    for login in [
        json!({"op": "login", "user": idd, "password": PASSWORD}),
        json!({"op": "login", "user": idd, "token": token}),
    ] {
        let r = d2.request(login.clone()).await?;
        if code_of(&r) != "bad_credentials" {
            wrong.push(format!("{login}: expected bad_credentials, got {r}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_member_keeps_their_role_rights() -> anyhow::Result<()> {
    // The blocked caller as an admin: still may invite, kick members and
    // update, since blocking is about friendship, requests and invites.
    let server = TestServer::start().await?;
    let mut p = People::new(&server).await?;
    let gid = p.group(false).await?;
    let idb = p.ids[B];
    p.c[C]
        .ok(json!({"op": "set_role", "group": gid, "user": idb, "role": "admin"}))
        .await?;
    let (t, o) = (p.ids[T], p.ids[O]);
    p.c[B]
        .ok(json!({"op": "update_group", "group": gid, "desc": "by the blocked admin"}))
        .await?;
    p.c[B]
        .ok(json!({"op": "invite", "group": gid, "user": o}))
        .await?;
    p.c[B]
        .ok(json!({"op": "kick", "group": gid, "user": t}))
        .await?;
    p.c[B]
        .fails(
            json!({"op": "kick", "group": gid, "user": p.ids[C]}),
            "forbidden",
        )
        .await?;
    Ok(())
}
