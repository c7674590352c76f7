//! Groups in protocol version 2: visibility (public, private), invites
//! (`invite`, `group_invite`, `invites` in `login`/`sync`,
//! `decline_invite`), roles (creator, admin, member) and what each may do
//! (`kick`, `set_role`, `transfer_group`, `update_group`, `quit_group`,
//! `delete_group`), the events each causes, and history read only from a
//! member's last join. The full role-by-op table is in `v2_roles_matrix.rs`.

use chat_testkit::fixture::*;
use chat_testkit::{TestClient, TestServer};
use serde_json::{Value, json};

/// A group with one of each role: alice the creator (two sessions), dave
/// an admin, mona a plain member. Every set-up event has been consumed.
struct Club {
    a: TestClient,
    a2: TestClient,
    ad: TestClient,
    m: TestClient,
    ida: u64,
    idad: u64,
    idm: u64,
    gid: u64,
}

impl Club {
    async fn new(server: &TestServer, visibility: &str) -> anyhow::Result<Club> {
        let (mut a, ida) = user(server, "alice").await?;
        let a2 = session(server, ida).await?;
        let (mut ad, idad) = user(server, "dave").await?;
        let (mut m, idm) = user(server, "mona").await?;
        let r = a
            .ok(json!({"op": "create_group", "name": "club", "desc": "about", "visibility": visibility}))
            .await?;
        let gid = r["group"]["id"].as_u64().expect("group id");
        for (c, id) in [(&mut ad, idad), (&mut m, idm)] {
            if visibility == "private" {
                a.ok(json!({"op": "invite", "group": gid, "user": id}))
                    .await?;
                c.event_of("group_invite").await?;
            }
            c.ok(json!({"op": "join_group", "group": gid})).await?;
        }
        a.ok(json!({"op": "set_role", "group": gid, "user": idad, "role": "admin"}))
            .await?;
        let mut club = Club {
            a,
            a2,
            ad,
            m,
            ida,
            idad,
            idm,
            gid,
        };
        club.settle("set-up done").await?;
        Ok(club)
    }

    /// Reads every session's events up to a marker; returns them in the
    /// order a, a2, ad, m.
    async fn settle(&mut self, marker: &str) -> anyhow::Result<[Vec<Value>; 4]> {
        let gid = self.gid;
        group_chat(&mut self.m, gid, marker).await?;
        let sa = events_before(&mut self.a, marker).await?;
        let sa2 = events_before(&mut self.a2, marker).await?;
        let sad = events_before(&mut self.ad, marker).await?;
        // Mona's own message does not come back to her; alice's does.
        group_chat(&mut self.a, gid, marker).await?;
        let sm = events_before(&mut self.m, marker).await?;
        // ... and reaches the others a second time: skip it there.
        events_before(&mut self.a2, marker).await?;
        events_before(&mut self.ad, marker).await?;
        Ok([sa, sa2, sad, sm])
    }
}

/// The group object of `gid` in a `login`/`sync` reply.
fn group_in(reply: &Value, gid: u64) -> Option<Value> {
    reply["groups"]
        .as_array()?
        .iter()
        .find(|g| g["id"] == json!(gid))
        .cloned()
}

/// The ids of `group_members`.
async fn member_ids(c: &mut TestClient, gid: u64) -> anyhow::Result<Vec<u64>> {
    Ok(roles(c, gid).await?.into_iter().map(|(id, _)| id).collect())
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_group_sets_visibility_and_the_group_object_shows_it() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;

    let r = a
        .ok(json!({"op": "create_group", "name": "open", "desc": "d"}))
        .await?;
    let public = r["group"]["id"].as_u64().expect("id");
    assert_eq!(
        r["group"],
        json!({"id": public, "name": "open", "desc": "d", "visibility": "public", "role": "creator"}),
        "public by default"
    );
    let r = a
        .ok(json!({"op": "create_group", "name": "closed", "visibility": "private"}))
        .await?;
    let private = r["group"]["id"].as_u64().expect("id");
    assert_eq!(
        r["group"],
        json!({"id": private, "name": "closed", "desc": "", "visibility": "private", "role": "creator"})
    );
    let r = a
        .ok(json!({"op": "create_group", "name": "explicit", "visibility": "public"}))
        .await?;
    assert_eq!(r["group"]["visibility"], json!("public"));

    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(
        group_in(&s, private),
        Some(
            json!({"id": private, "name": "closed", "desc": "", "visibility": "private", "role": "creator"})
        )
    );
    assert_eq!(
        group_in(&s, public).expect("listed")["visibility"],
        json!("public")
    );

    let r = b.ok(json!({"op": "join_group", "group": public})).await?;
    assert_eq!(
        r["group"],
        json!({"id": public, "name": "open", "desc": "d", "visibility": "public", "role": "member"})
    );
    let mut b2 = server.client().await?;
    let r = b2.login(idb, PASSWORD).await?;
    assert_eq!(group_ids(&r), vec![public], "only groups bob is in: {r}");
    assert_eq!(
        group_in(&r, public).expect("listed"),
        json!({"id": public, "name": "open", "desc": "d", "visibility": "public", "role": "member"})
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_group_is_no_such_group_to_non_members() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Club {
        mut a, idm, gid, ..
    } = Club::new(&server, "private").await?;
    let (mut x, _) = user(&server, "xavier").await?;
    let (_y, idy) = user(&server, "yvonne").await?;
    let (mut inv, idinv) = user(&server, "ivan").await?;
    a.ok(json!({"op": "invite", "group": gid, "user": idinv}))
        .await?;
    inv.event_of("group_invite").await?;

    let ops = |g: u64| {
        vec![
            json!({"op": "update_group", "group": g, "name": "mine"}),
            json!({"op": "invite", "group": g, "user": idy}),
            json!({"op": "kick", "group": g, "user": idm}),
            json!({"op": "set_role", "group": g, "user": idm, "role": "admin"}),
            json!({"op": "transfer_group", "group": g, "user": idm}),
            json!({"op": "quit_group", "group": g}),
            json!({"op": "delete_group", "group": g}),
            json!({"op": "group_members", "group": g}),
            json!({"op": "group_chat", "group": g, "text": "hello?"}),
            json!({"op": "history", "group": g}),
        ]
    };
    // A stranger, and an invitee who has not joined yet: every op but
    // join_group (with the invite) answers as if the group did not exist.
    for c in [&mut x, &mut inv] {
        for op in ops(gid) {
            c.fails(op, "no_such_group").await?;
        }
    }
    x.fails(json!({"op": "join_group", "group": gid}), "no_such_group")
        .await?;
    // The same answers as for an id that is no group at all.
    for op in ops(999_999_999) {
        x.fails(op, "no_such_group").await?;
    }
    // decline_invite by someone without an invite. The contract gives it
    // only `no_such_request` while a private group answers `no_such_group`
    // to every op of a non-member; either way the answer must not tell a
    // private group from no group at all. Reading: whatever the answer,
    // it is the same for both.
    let hidden = x
        .request(json!({"op": "decline_invite", "group": gid}))
        .await?;
    let absent = x
        .request(json!({"op": "decline_invite", "group": 999_999_999}))
        .await?;
    assert_eq!(hidden["ok"], json!(false), "{hidden}");
    assert_eq!(hidden["code"], absent["code"], "{hidden} vs {absent}");
    assert!(
        hidden["code"] == json!("no_such_request") || hidden["code"] == json!("no_such_group"),
        "{hidden}"
    );

    // Nothing changed.
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(group_in(&s, gid).expect("listed")["name"], json!("club"));
    assert_eq!(member_ids(&mut a, gid).await?.len(), 3);
    let r = a.ok(json!({"op": "history", "group": gid})).await?;
    assert!(!history_texts(&r).contains(&"hello?".to_owned()), "{r}");
    // The invite still works for the invitee.
    let r = inv.ok(json!({"op": "join_group", "group": gid})).await?;
    assert_eq!(r["group"]["role"], json!("member"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_to_a_private_group_is_told_listed_and_consumed_by_joining() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut d1, idd) = user(&server, "dora").await?;
    let mut d2 = session(&server, idd).await?;
    let (mut e, _) = user(&server, "eve").await?;
    let gid = private_group(&mut a, "secret").await?;
    let shown = json!({"id": gid, "name": "secret", "desc": "about", "visibility": "private"});

    let r = a
        .ok(json!({"op": "invite", "group": gid, "user": idd}))
        .await?;
    assert_eq!(r, json!({"re": r["re"], "ok": true}), "no result fields");
    for d in [&mut d1, &mut d2] {
        let ev = d.event_of("group_invite").await?;
        assert_eq!(ev["group"], shown, "the group without a role: {ev}");
        assert_eq!(ev["by"]["id"], json!(ida), "{ev}");
        assert_eq!(ev["by"]["name"], json!("alice"), "{ev}");
    }
    // Listed in sync and in a new login until joined.
    let mut d3 = server.client().await?;
    for r in [
        d1.ok(json!({"op": "sync"})).await?,
        d3.login(idd, PASSWORD).await?,
    ] {
        let invites = r["invites"].as_array().expect("invites");
        assert_eq!(invites.len(), 1, "{r}");
        assert_eq!(invites[0]["group"], shown, "{r}");
        assert_eq!(
            invites[0]["by"],
            json!({"id": ida, "name": "alice"}),
            "no presence in invites (docs/protocol.md): {r}"
        );
        assert_eq!(group_ids(&r), Vec::<u64>::new(), "not a member yet");
    }
    // The invite is dora's alone.
    e.fails(json!({"op": "join_group", "group": gid}), "no_such_group")
        .await?;

    let r = d1.ok(json!({"op": "join_group", "group": gid})).await?;
    assert_eq!(
        r["group"],
        json!({"id": gid, "name": "secret", "desc": "about", "visibility": "private", "role": "member"})
    );
    let ev = a.event_of("member_joined").await?;
    assert_eq!(ev["group"], json!(gid));
    assert_eq!(ev["user"]["id"], json!(idd));
    let s = d1.ok(json!({"op": "sync"})).await?;
    assert_eq!(s["invites"], json!([]), "consumed: {s}");
    assert_eq!(group_ids(&s), vec![gid]);
    d1.fails(json!({"op": "join_group", "group": gid}), "already_member")
        .await?;

    // Consumed: after quitting, dora cannot come back without a new one.
    d1.ok(json!({"op": "quit_group", "group": gid})).await?;
    d1.fails(json!({"op": "join_group", "group": gid}), "no_such_group")
        .await?;
    a.ok(json!({"op": "invite", "group": gid, "user": idd}))
        .await?;
    d1.event_of("group_invite").await?;
    d1.ok(json!({"op": "join_group", "group": gid})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_to_a_public_group_is_listed_until_joined() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut d, idd) = user(&server, "dora").await?;
    let gid = group(&mut a, "open").await?;
    a.ok(json!({"op": "invite", "group": gid, "user": idd}))
        .await?;
    let ev = d.event_of("group_invite").await?;
    assert_eq!(
        ev["group"],
        json!({"id": gid, "name": "open", "desc": "about", "visibility": "public"})
    );
    let s = d.ok(json!({"op": "sync"})).await?;
    assert_eq!(invite_ids(&s), vec![gid]);
    d.ok(json!({"op": "join_group", "group": gid})).await?;
    let s = d.ok(json!({"op": "sync"})).await?;
    assert_eq!(invite_ids(&s), Vec::<u64>::new(), "{s}");
    d.fails(
        json!({"op": "decline_invite", "group": gid}),
        "no_such_request",
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_invite_drops_the_invite() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut d, idd) = user(&server, "dora").await?;
    let private = private_group(&mut a, "secret").await?;
    let public = group(&mut a, "open").await?;
    for gid in [private, public] {
        a.ok(json!({"op": "invite", "group": gid, "user": idd}))
            .await?;
        d.event_of("group_invite").await?;
    }
    let s = d.ok(json!({"op": "sync"})).await?;
    assert_eq!(invite_ids(&s), sorted(vec![private, public]));

    let r = d
        .ok(json!({"op": "decline_invite", "group": private}))
        .await?;
    assert_eq!(r, json!({"re": r["re"], "ok": true}), "no result fields");
    let s = d.ok(json!({"op": "sync"})).await?;
    assert_eq!(invite_ids(&s), vec![public], "{s}");
    d.fails(
        json!({"op": "join_group", "group": private}),
        "no_such_group",
    )
    .await?;
    d.ok(json!({"op": "decline_invite", "group": public}))
        .await?;
    d.fails(
        json!({"op": "decline_invite", "group": public}),
        "no_such_request",
    )
    .await?;
    let s = d.ok(json!({"op": "sync"})).await?;
    assert_eq!(s["invites"], json!([]), "{s}");
    assert_eq!(group_ids(&s), Vec::<u64>::new(), "declining joins nothing");
    // A public group can still be joined by its id.
    d.ok(json!({"op": "join_group", "group": public})).await?;

    // A new invite after a decline arrives and counts.
    a.ok(json!({"op": "invite", "group": private, "user": idd}))
        .await?;
    d.event_of("group_invite").await?;
    d.ok(json!({"op": "join_group", "group": private})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_errors_change_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Club {
        mut a,
        mut ad,
        mut m,
        idm,
        gid,
        ..
    } = Club::new(&server, "public").await?;
    let (mut x, idx) = user(&server, "xavier").await?;
    let (_y, idy) = user(&server, "yvonne").await?;

    m.fails(
        json!({"op": "invite", "group": gid, "user": idx}),
        "forbidden",
    )
    .await?;
    a.fails(
        json!({"op": "invite", "group": gid, "user": 999_999_999}),
        "no_such_user",
    )
    .await?;
    a.fails(
        json!({"op": "invite", "group": gid, "user": idm}),
        "already_member",
    )
    .await?;
    a.fails(
        json!({"op": "invite", "group": 999_999_999, "user": idx}),
        "no_such_group",
    )
    .await?;
    // An outsider of a public group.
    x.fails(
        json!({"op": "invite", "group": gid, "user": idy}),
        "not_member",
    )
    .await?;
    let s = x.ok(json!({"op": "sync"})).await?;
    assert_eq!(s["invites"], json!([]), "{s}");

    // An admin may invite.
    ad.ok(json!({"op": "invite", "group": gid, "user": idx}))
        .await?;
    let ev = x.event_of("group_invite").await?;
    assert_eq!(ev["group"]["id"], json!(gid));
    assert_eq!(ev["by"]["name"], json!("dave"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_follows_the_roles_and_tells_everyone() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut club = Club::new(&server, "public").await?;
    let gid = club.gid;
    let (ida, idad, idm) = (club.ida, club.idad, club.idm);
    let (mut ad2, idad2) = user(&server, "adam").await?;
    let (mut m2, idm2) = user(&server, "milo").await?;
    for c in [&mut ad2, &mut m2] {
        c.ok(json!({"op": "join_group", "group": gid})).await?;
    }
    club.a
        .ok(json!({"op": "set_role", "group": gid, "user": idad2, "role": "admin"}))
        .await?;
    let mut m_b = session(&server, idm).await?;
    club.settle("kick set-up").await?;
    let Club {
        mut a,
        mut a2,
        mut ad,
        mut m,
        ..
    } = club;

    // Refused: a plain member kicks; an admin kicks an admin or the
    // creator; anyone kicks themselves.
    m.fails(
        json!({"op": "kick", "group": gid, "user": idm2}),
        "forbidden",
    )
    .await?;
    ad.fails(
        json!({"op": "kick", "group": gid, "user": idad2}),
        "forbidden",
    )
    .await?;
    ad.fails(
        json!({"op": "kick", "group": gid, "user": ida}),
        "forbidden",
    )
    .await?;
    // Kicking yourself is a bad_request, for a plain member too: the
    // contract does not rank `bad_request` (yourself) against `forbidden`;
    // docs/protocol.md does ("caller's standing first, then bad_request
    // (yourself), then forbidden (your role), then the target").
    for (c, me) in [(&mut a, ida), (&mut ad, idad), (&mut m, idm)] {
        let r = c
            .fails(
                json!({"op": "kick", "group": gid, "user": me}),
                "bad_request",
            )
            .await?;
        assert!(r["error"].as_str().unwrap_or("").contains("user"), "{r}");
    }
    assert_eq!(member_ids(&mut a, gid).await?.len(), 5, "nothing changed");

    // An admin kicks a plain member.
    let r = ad
        .ok(json!({"op": "kick", "group": gid, "user": idm}))
        .await?;
    assert_eq!(r, json!({"re": r["re"], "ok": true}), "no result fields");
    for c in [&mut m, &mut m_b] {
        let ev = c.event_of("removed_from_group").await?;
        assert_eq!(
            ev,
            json!({"ev": "removed_from_group", "group": gid, "by": idad})
        );
    }
    // The others hear member_left with `by`. Reading: "the group's other
    // members" are the members other than the one who left, the kicker
    // among them; the kicking session itself is not checked.
    for c in [&mut a, &mut a2, &mut ad2, &mut m2] {
        let ev = c.event_of("member_left").await?;
        assert_eq!(ev["group"], json!(gid), "{ev}");
        assert_eq!(ev["user"]["id"], json!(idm), "{ev}");
        assert_eq!(ev["user"]["name"], json!("mona"), "{ev}");
        assert_eq!(ev["by"], json!(idad), "{ev}");
    }
    m.fails(
        json!({"op": "group_chat", "group": gid, "text": "still here?"}),
        "not_member",
    )
    .await?;
    m.fails(json!({"op": "group_members", "group": gid}), "not_member")
        .await?;
    let s = m.ok(json!({"op": "sync"})).await?;
    assert_eq!(group_ids(&s), Vec::<u64>::new(), "{s}");
    // They are not members any more: kicking again is not_member.
    a.fails(
        json!({"op": "kick", "group": gid, "user": idm}),
        "not_member",
    )
    .await?;

    // The creator kicks an admin.
    a.ok(json!({"op": "kick", "group": gid, "user": idad2}))
        .await?;
    let ev = ad2.event_of("removed_from_group").await?;
    assert_eq!(
        ev,
        json!({"ev": "removed_from_group", "group": gid, "by": ida})
    );
    assert_eq!(
        member_ids(&mut a, gid).await?,
        sorted(vec![ida, idad, idm2])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_kicked_from_a_private_group_no_longer_sees_it() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Club {
        mut a,
        mut m,
        idm,
        gid,
        ..
    } = Club::new(&server, "private").await?;
    a.ok(json!({"op": "kick", "group": gid, "user": idm}))
        .await?;
    m.event_of("removed_from_group").await?;
    for op in [
        json!({"op": "group_chat", "group": gid, "text": "hi"}),
        json!({"op": "group_members", "group": gid}),
        json!({"op": "history", "group": gid}),
        json!({"op": "join_group", "group": gid}),
        json!({"op": "quit_group", "group": gid}),
    ] {
        m.fails(op, "no_such_group").await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_role_is_for_the_creator_and_tells_every_member() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Club {
        mut a,
        mut a2,
        mut ad,
        mut m,
        ida,
        idad,
        idm,
        gid,
    } = Club::new(&server, "public").await?;
    let (_x, idx) = user(&server, "xavier").await?;

    let r = a
        .ok(json!({"op": "set_role", "group": gid, "user": idm, "role": "admin"}))
        .await?;
    assert_eq!(r, json!({"re": r["re"], "ok": true}), "no result fields");
    // Every member, the target and the creator's other session included.
    for c in [&mut a2, &mut ad, &mut m] {
        let ev = c.event_of("member_role").await?;
        assert_eq!(
            ev,
            json!({"ev": "member_role", "group": gid, "user": idm, "role": "admin"})
        );
    }
    assert_eq!(roles(&mut m, gid).await?, {
        let mut v = vec![
            (ida, "creator".to_owned()),
            (idad, "admin".to_owned()),
            (idm, "admin".to_owned()),
        ];
        v.sort();
        v
    });
    let s = m.ok(json!({"op": "sync"})).await?;
    assert_eq!(group_in(&s, gid).expect("listed")["role"], json!("admin"));

    // Back to member.
    a.ok(json!({"op": "set_role", "group": gid, "user": idm, "role": "member"}))
        .await?;
    for c in [&mut a2, &mut ad, &mut m] {
        let ev = c.event_of("member_role").await?;
        assert_eq!(
            ev,
            json!({"ev": "member_role", "group": gid, "user": idm, "role": "member"})
        );
    }

    // Only the creator may.
    ad.fails(
        json!({"op": "set_role", "group": gid, "user": idm, "role": "admin"}),
        "forbidden",
    )
    .await?;
    m.fails(
        json!({"op": "set_role", "group": gid, "user": idad, "role": "member"}),
        "forbidden",
    )
    .await?;
    let r = a
        .fails(
            json!({"op": "set_role", "group": gid, "user": ida, "role": "member"}),
            "bad_request",
        )
        .await?;
    assert!(r["error"].as_str().unwrap_or("").contains("user"), "{r}");
    a.fails(
        json!({"op": "set_role", "group": gid, "user": idx, "role": "admin"}),
        "not_member",
    )
    .await?;
    for role in ["creator", "owner", "Admin", ""] {
        let r = a
            .fails(
                json!({"op": "set_role", "group": gid, "user": idm, "role": role}),
                "bad_request",
            )
            .await?;
        assert!(r["error"].as_str().unwrap_or("").contains("role"), "{r}");
    }
    let mut want = vec![
        (ida, "creator".to_owned()),
        (idad, "admin".to_owned()),
        (idm, "member".to_owned()),
    ];
    want.sort();
    assert_eq!(roles(&mut a, gid).await?, want, "nothing changed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_role_to_the_same_role_changes_nothing_and_tells_nobody() -> anyhow::Result<()> {
    // The contract is silent; docs/protocol.md: "set_role to the role a
    // member already has changes nothing and sends no event".
    let server = TestServer::start().await?;
    let Club {
        mut a,
        mut m,
        idad,
        idm,
        gid,
        ..
    } = Club::new(&server, "public").await?;
    a.ok(json!({"op": "set_role", "group": gid, "user": idm, "role": "member"}))
        .await?;
    a.ok(json!({"op": "set_role", "group": gid, "user": idad, "role": "admin"}))
        .await?;
    group_chat(&mut a, gid, "marker").await?;
    let seen = events_before(&mut m, "marker").await?;
    assert!(of_kind(&seen, "member_role").is_empty(), "{seen:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_group_makes_a_new_creator_and_the_old_one_an_admin() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Club {
        mut a,
        mut a2,
        mut ad,
        mut m,
        ida,
        idad,
        idm,
        gid,
    } = Club::new(&server, "public").await?;
    let (_x, idx) = user(&server, "xavier").await?;

    ad.fails(
        json!({"op": "transfer_group", "group": gid, "user": idm}),
        "forbidden",
    )
    .await?;
    m.fails(
        json!({"op": "transfer_group", "group": gid, "user": idad}),
        "forbidden",
    )
    .await?;
    let r = a
        .fails(
            json!({"op": "transfer_group", "group": gid, "user": ida}),
            "bad_request",
        )
        .await?;
    assert!(r["error"].as_str().unwrap_or("").contains("user"), "{r}");
    a.fails(
        json!({"op": "transfer_group", "group": gid, "user": idx}),
        "not_member",
    )
    .await?;

    let r = a
        .ok(json!({"op": "transfer_group", "group": gid, "user": idm}))
        .await?;
    assert_eq!(r, json!({"re": r["re"], "ok": true}), "no result fields");
    let mut want = vec![
        (ida, "admin".to_owned()),
        (idad, "admin".to_owned()),
        (idm, "creator".to_owned()),
    ];
    want.sort();
    assert_eq!(roles(&mut ad, gid).await?, want);
    for (c, role) in [(&mut a, "admin"), (&mut m, "creator")] {
        let s = c.ok(json!({"op": "sync"})).await?;
        assert_eq!(group_in(&s, gid).expect("listed")["role"], json!(role));
    }
    // Reading: a transfer changes two roles, and member_role is "sent to
    // every member" when "a member's role changed": each member hears both.
    for c in [&mut a2, &mut ad] {
        let mut heard = Vec::new();
        for _ in 0..2 {
            let ev = c.event_of("member_role").await?;
            assert_eq!(ev["group"], json!(gid), "{ev}");
            heard.push((ev["user"].as_u64().unwrap_or(0), ev["role"].clone()));
        }
        heard.sort_by_key(|h| h.0);
        let mut want = vec![(ida, json!("admin")), (idm, json!("creator"))];
        want.sort_by_key(|h| h.0);
        assert_eq!(heard, want);
    }

    // The new creator has the creator's rights, the old one no longer.
    a.fails(
        json!({"op": "set_role", "group": gid, "user": idad, "role": "member"}),
        "forbidden",
    )
    .await?;
    a.fails(json!({"op": "delete_group", "group": gid}), "forbidden")
        .await?;
    m.fails(json!({"op": "quit_group", "group": gid}), "forbidden")
        .await?;
    m.ok(json!({"op": "set_role", "group": gid, "user": idad, "role": "member"}))
        .await?;
    // An admin may quit; the old creator now may.
    a.ok(json!({"op": "quit_group", "group": gid})).await?;
    m.ok(json!({"op": "delete_group", "group": gid})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_group_by_creator_or_admin_tells_every_member() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Club {
        mut a,
        mut a2,
        mut ad,
        mut m,
        gid,
        ..
    } = Club::new(&server, "public").await?;
    let (mut x, _) = user(&server, "xavier").await?;

    let r = a
        .ok(json!({"op": "update_group", "group": gid, "name": "new name"}))
        .await?;
    assert_eq!(
        r["group"],
        json!({"id": gid, "name": "new name", "desc": "about", "visibility": "public", "role": "creator"})
    );
    let shown = json!({"id": gid, "name": "new name", "desc": "about", "visibility": "public"});
    for c in [&mut a2, &mut ad, &mut m] {
        let ev = c.event_of("group_updated").await?;
        assert_eq!(ev, json!({"ev": "group_updated", "group": shown}));
    }

    let r = ad
        .ok(json!({"op": "update_group", "group": gid, "desc": "by the admin"}))
        .await?;
    assert_eq!(
        r["group"],
        json!({"id": gid, "name": "new name", "desc": "by the admin", "visibility": "public", "role": "admin"})
    );
    // (Alice's first session may have heard of her own update: skip it.)
    for c in [&mut a, &mut a2, &mut m] {
        let ev = event_where(c, "group_updated", |ev| {
            ev["group"]["desc"] == json!("by the admin")
        })
        .await?;
        assert_eq!(
            ev["group"],
            json!({"id": gid, "name": "new name", "desc": "by the admin", "visibility": "public"})
        );
    }

    m.fails(
        json!({"op": "update_group", "group": gid, "name": "mine"}),
        "forbidden",
    )
    .await?;
    x.fails(
        json!({"op": "update_group", "group": gid, "name": "mine"}),
        "not_member",
    )
    .await?;
    a.fails(
        json!({"op": "update_group", "group": 999_999_999, "name": "x"}),
        "no_such_group",
    )
    .await?;
    let s = m.ok(json!({"op": "sync"})).await?;
    assert_eq!(
        group_in(&s, gid),
        Some(
            json!({"id": gid, "name": "new name", "desc": "by the admin", "visibility": "public", "role": "member"})
        )
    );

    // All three fields at once; private from now on.
    let r = a
        .ok(json!({"op": "update_group", "group": gid, "name": "n3", "desc": "d3", "visibility": "private"}))
        .await?;
    assert_eq!(
        r["group"],
        json!({"id": gid, "name": "n3", "desc": "d3", "visibility": "private", "role": "creator"})
    );
    let ev = m.event_of("group_updated").await?;
    assert_eq!(
        ev["group"],
        json!({"id": gid, "name": "n3", "desc": "d3", "visibility": "private"})
    );
    x.fails(json!({"op": "join_group", "group": gid}), "no_such_group")
        .await?;
    // And back to public: joinable by id again.
    a.ok(json!({"op": "update_group", "group": gid, "visibility": "public"}))
        .await?;
    x.ok(json!({"op": "join_group", "group": gid})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_group_tells_the_others_without_by_and_the_creator_cannot() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Club {
        mut a,
        mut ad,
        mut m,
        idad,
        idm,
        gid,
        ..
    } = Club::new(&server, "public").await?;
    let (mut x, _) = user(&server, "xavier").await?;

    m.ok(json!({"op": "quit_group", "group": gid})).await?;
    for c in [&mut a, &mut ad] {
        let ev = c.event_of("member_left").await?;
        assert_eq!(ev["group"], json!(gid));
        assert_eq!(ev["user"]["id"], json!(idm));
        assert!(ev.get("by").is_none(), "nobody kicked: {ev}");
    }
    // An admin may quit too.
    ad.ok(json!({"op": "quit_group", "group": gid})).await?;
    let ev = a.event_of("member_left").await?;
    assert_eq!(ev["user"]["id"], json!(idad));
    a.fails(json!({"op": "quit_group", "group": gid}), "forbidden")
        .await?;
    x.fails(json!({"op": "quit_group", "group": gid}), "not_member")
        .await?;
    m.fails(json!({"op": "quit_group", "group": gid}), "not_member")
        .await?;
    assert_eq!(member_ids(&mut a, gid).await?, vec![a.user.expect("id")]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_group_is_for_the_creator_only() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Club {
        mut a,
        mut ad,
        mut m,
        gid,
        ..
    } = Club::new(&server, "private").await?;
    ad.fails(json!({"op": "delete_group", "group": gid}), "forbidden")
        .await?;
    m.fails(json!({"op": "delete_group", "group": gid}), "forbidden")
        .await?;
    assert_eq!(member_ids(&mut a, gid).await?.len(), 3, "nothing changed");

    a.ok(json!({"op": "delete_group", "group": gid})).await?;
    for c in [&mut ad, &mut m] {
        let ev = c.event_of("group_deleted").await?;
        assert_eq!(ev, json!({"ev": "group_deleted", "group": gid}));
    }
    // (Whether the deleter's other session hears of it is left open: "the
    // one who deleted it" may mean the user or the session.)
    for c in [&mut a, &mut ad, &mut m] {
        c.fails(
            json!({"op": "group_members", "group": gid}),
            "no_such_group",
        )
        .await?;
        let s = c.ok(json!({"op": "sync"})).await?;
        assert_eq!(group_ids(&s), Vec::<u64>::new(), "{s}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_lists_each_role() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    // Alice and dave stay logged in, so they show online.
    let Club {
        a: _a,
        ad: _ad,
        mut m,
        ida,
        idad,
        idm,
        gid,
        ..
    } = Club::new(&server, "private").await?;
    let r = m.ok(json!({"op": "group_members", "group": gid})).await?;
    // In the order docs/protocol.md gives: creator, admins, members (the
    // contract does not order the list).
    let members = r["members"].as_array().expect("members").clone();
    let want = vec![
        json!({"id": ida, "name": "alice", "online": true, "role": "creator"}),
        json!({"id": idad, "name": "dave", "online": true, "role": "admin"}),
        json!({"id": idm, "name": "mona", "online": true, "role": "member"}),
    ];
    assert_eq!(members, want);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_reads_history_only_from_their_last_join() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, _) = user(&server, "bob").await?;
    let gid = group(&mut a, "club").await?;
    group_chat(&mut a, gid, "before bob").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    group_chat(&mut a, gid, "while bob is in").await?;
    let r = b.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(history_texts(&r), vec!["while bob is in"]);

    b.ok(json!({"op": "quit_group", "group": gid})).await?;
    group_chat(&mut a, gid, "while bob is out").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    group_chat(&mut a, gid, "after bob is back").await?;
    let r = b.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(
        history_texts(&r),
        vec!["after bob is back"],
        "messages before the last join are not returned"
    );
    // Paging back past the join finds nothing more.
    let first = r["messages"][0]["id"].as_u64().expect("id");
    let r = b
        .ok(json!({"op": "history", "group": gid, "before": first}))
        .await?;
    assert_eq!(r["messages"], json!([]));
    // The creator reads everything since the group began.
    let r = a.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(
        history_texts(&r),
        vec![
            "after bob is back",
            "while bob is out",
            "while bob is in",
            "before bob"
        ]
    );
    // Bob's own messages after the join are his to read, too.
    group_chat(&mut b, gid, "bob speaks").await?;
    let r = b.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(history_texts(&r), vec!["bob speaks", "after bob is back"]);
    Ok(())
}

/// The join must bound history by message order, not by the clock: a
/// message stored just before the join, within the same millisecond, is
/// still "earlier". Many rounds make such a millisecond all but certain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_just_before_the_join_is_not_in_the_joiners_history() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, _) = user(&server, "bob").await?;
    let gid = group(&mut a, "club").await?;
    let mut leaked = Vec::new();
    for round in 0..40 {
        let text = format!("before join {round}");
        group_chat(&mut a, gid, &text).await?;
        b.ok(json!({"op": "join_group", "group": gid})).await?;
        let r = b.ok(json!({"op": "history", "group": gid})).await?;
        if !history_texts(&r).is_empty() {
            leaked.push(history_texts(&r));
        }
        b.ok(json!({"op": "quit_group", "group": gid})).await?;
    }
    assert_eq!(leaked, Vec::<Vec<String>>::new(), "history before the join");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kicked_and_reinvited_member_reads_only_from_the_new_join() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Club {
        mut a,
        mut m,
        idm,
        gid,
        ..
    } = Club::new(&server, "private").await?;
    group_chat(&mut a, gid, "one").await?;
    a.ok(json!({"op": "kick", "group": gid, "user": idm}))
        .await?;
    group_chat(&mut a, gid, "two").await?;
    a.ok(json!({"op": "invite", "group": gid, "user": idm}))
        .await?;
    group_chat(&mut a, gid, "three").await?;
    m.ok(json!({"op": "join_group", "group": gid})).await?;
    group_chat(&mut a, gid, "four").await?;
    let r = m.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(
        history_texts(&r),
        vec!["four"],
        "from the join, not from the invite"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_messages_reach_only_current_members() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Club {
        mut a,
        mut ad,
        mut m,
        idm,
        gid,
        ..
    } = Club::new(&server, "public").await?;
    befriend(&mut a, &mut m).await?;
    a.ok(json!({"op": "kick", "group": gid, "user": idm}))
        .await?;
    m.event_of("removed_from_group").await?;
    group_chat(&mut ad, gid, "not for mona").await?;
    chat(&mut a, idm, "marker").await?;
    let seen = events_before(&mut m, "marker").await?;
    assert!(texts(&seen).is_empty(), "{seen:?}");
    Ok(())
}
