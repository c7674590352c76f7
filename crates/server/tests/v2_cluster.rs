//! Protocol version 2 across a cluster: two nodes in this process sharing
//! a fresh MariaDB/MySQL database and a Redis key prefix. Every new event
//! reaches sessions on the other node; a block, a kick or a role change on
//! one node holds on the other as soon as the reply is in; `session_ended`
//! reaches and closes sessions on the other node; failed logins are
//! counted across nodes.
//!
//! Skipped (with a note) when `CHAT_TEST_MYSQL_URL` / `CHAT_TEST_REDIS_URL`
//! are not set, like `cluster.rs`.

use chat_testkit::fixture::*;
use chat_testkit::{TestClient, TestServer, cluster_config};
use chatserver::Config;
use serde_json::json;

/// Two or more nodes on a fresh database; dropped with the test.
struct Cluster {
    nodes: Vec<TestServer>,
    db: String,
}

impl Cluster {
    async fn start(n: usize) -> Option<Cluster> {
        Cluster::start_with(n, |_| {}).await
    }

    async fn start_with(n: usize, tweak: impl Fn(&mut Config)) -> Option<Cluster> {
        let mysql = chat_testkit::mysql_url()?;
        let redis = chat_testkit::redis_url()?;
        let db = chat_testkit::fresh_mysql_db(&mysql).await.unwrap();
        let prefix = chat_testkit::unique_name("chat_t");
        let mut nodes = Vec::new();
        for _ in 0..n {
            let mut config = cluster_config(&db, &redis, &prefix);
            tweak(&mut config);
            nodes.push(TestServer::start_config(config).await.unwrap());
        }
        Some(Cluster { nodes, db })
    }

    /// A user signed up on `node`.
    async fn user(&self, node: usize, name: &str) -> anyhow::Result<(TestClient, u64)> {
        user(&self.nodes[node], name).await
    }

    /// Another session of `id` on `node`.
    async fn session(&self, node: usize, id: u64) -> anyhow::Result<TestClient> {
        session(&self.nodes[node], id).await
    }

    async fn stop(self) {
        for n in self.nodes {
            n.stop().await.unwrap();
        }
        chat_testkit::drop_mysql_db(&self.db).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_events_reach_the_other_node() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start(2).await else {
        return Ok(());
    };
    let (mut a, ida) = cl.user(0, "alice").await?;
    let (mut b1, idb) = cl.user(1, "bob").await?;
    let mut b2 = cl.session(0, idb).await?;

    let r = a.ok(json!({"op": "add_friend", "user": idb})).await?;
    assert_eq!(r["status"], json!("requested"));
    for b in [&mut b1, &mut b2] {
        let ev = b.event_of("friend_request").await?;
        assert_eq!(
            ev,
            json!({"ev": "friend_request", "user": {"id": ida, "name": "alice"}})
        );
    }
    let s = b1.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_in"), vec![ida]);

    a.ok(json!({"op": "cancel_friend", "user": idb})).await?;
    for b in [&mut b1, &mut b2] {
        let ev = b.event_of("friend_request_cancelled").await?;
        assert_eq!(ev, json!({"ev": "friend_request_cancelled", "user": ida}));
    }

    request_friend(&mut a, &mut b1).await?;
    let r = b1.ok(json!({"op": "accept_friend", "user": ida})).await?;
    assert_eq!(r["friend"]["online"], json!(true), "alice is on node 0");
    let ev = a.event_of("friend_added").await?;
    assert_eq!(
        ev,
        json!({"ev": "friend_added", "user": {"id": idb, "name": "bob", "online": true}})
    );
    // Chat right away, both ways.
    chat(&mut a, idb, "hi across").await?;
    assert_eq!(b1.event_of("msg").await?["msg"]["text"], json!("hi across"));
    chat(&mut b1, ida, "hi back").await?;

    // Presence across nodes now that they are friends.
    b1.ok(json!({"op": "logout"})).await?;
    b2.ok(json!({"op": "logout"})).await?;
    let ev = event_where(&mut a, "presence", |e| e["online"] == json!(false)).await?;
    assert_eq!(ev["user"], json!(idb));
    b1.login(idb, PASSWORD).await?;
    let ev = a.event_of("presence").await?;
    assert_eq!(ev, json!({"ev": "presence", "user": idb, "online": true}));

    b1.ok(json!({"op": "remove_friend", "user": ida})).await?;
    let ev = a.event_of("friend_removed").await?;
    assert_eq!(ev, json!({"ev": "friend_removed", "user": idb}));
    cl.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_on_one_node_holds_on_the_other_at_once() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start(2).await else {
        return Ok(());
    };
    let (mut a, ida) = cl.user(0, "alice").await?;
    let (mut b, idb) = cl.user(1, "bob").await?;
    let (mut w, _) = cl.user(1, "walter").await?;
    befriend(&mut w, &mut a).await?;
    for round in 0..5 {
        befriend(&mut a, &mut b).await?;
        // Bob's node has just seen them chat: whatever it keeps is warm.
        chat(&mut b, ida, &format!("round {round}")).await?;
        a.ok(json!({"op": "block", "user": idb})).await?;
        b.fails(
            json!({"op": "chat", "to": ida, "text": "after the block"}),
            "not_friend",
        )
        .await?;
        b.fails(json!({"op": "history", "with": ida}), "not_friend")
            .await?;
        let ev = b.event_of("friend_removed").await?;
        assert_eq!(ev, json!({"ev": "friend_removed", "user": ida}));
        // Bob's request looks normal and never reaches alice.
        let r = b.ok(json!({"op": "add_friend", "user": ida})).await?;
        assert_eq!(r["status"], json!("requested"));
        chat(&mut w, ida, &format!("marker {round}")).await?;
        let seen = events_before(&mut a, &format!("marker {round}")).await?;
        assert!(of_kind(&seen, "friend_request").is_empty(), "{seen:?}");
        a.ok(json!({"op": "unblock", "user": idb})).await?;
        // Bob's (invisible) request must not turn into a friendship.
        b.fails(
            json!({"op": "chat", "to": ida, "text": "after the unblock"}),
            "not_friend",
        )
        .await?;
        // Whether the invisible request outlives the block is not said;
        // withdraw it if it does, so the next round starts clean.
        let _ = b
            .request(json!({"op": "cancel_friend", "user": ida}))
            .await?;
    }
    cl.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_or_role_change_on_one_node_holds_on_the_other_at_once() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start(2).await else {
        return Ok(());
    };
    let (mut a, ida) = cl.user(0, "alice").await?;
    let (mut m, idm) = cl.user(1, "mona").await?;
    let (mut x, idx) = cl.user(1, "xena").await?;
    let (mut o, ido) = cl.user(1, "otto").await?;
    let gid = group(&mut a, "club").await?;
    x.ok(json!({"op": "join_group", "group": gid})).await?;
    for round in 0..5 {
        m.ok(json!({"op": "join_group", "group": gid})).await?;
        group_chat(&mut m, gid, &format!("round {round}")).await?;
        m.ok(json!({"op": "group_members", "group": gid})).await?;
        a.ok(json!({"op": "kick", "group": gid, "user": idm}))
            .await?;
        m.fails(
            json!({"op": "group_chat", "group": gid, "text": "after the kick"}),
            "not_member",
        )
        .await?;
        m.fails(json!({"op": "history", "group": gid}), "not_member")
            .await?;
        let ev = m.event_of("removed_from_group").await?;
        assert_eq!(
            ev,
            json!({"ev": "removed_from_group", "group": gid, "by": ida})
        );
        let ev = event_where(&mut x, "member_left", |e| e["user"]["id"] == json!(idm)).await?;
        assert_eq!(ev["by"], json!(ida));
    }

    // Promoted on node 0: may kick on node 1 at once; demoted: may not.
    o.ok(json!({"op": "join_group", "group": gid})).await?;
    for _ in 0..3 {
        a.ok(json!({"op": "set_role", "group": gid, "user": idx, "role": "admin"}))
            .await?;
        x.ok(json!({"op": "update_group", "group": gid, "desc": "by xena"}))
            .await?;
        a.ok(json!({"op": "set_role", "group": gid, "user": idx, "role": "member"}))
            .await?;
        x.fails(
            json!({"op": "update_group", "group": gid, "desc": "not any more"}),
            "forbidden",
        )
        .await?;
        x.fails(
            json!({"op": "kick", "group": gid, "user": ido}),
            "forbidden",
        )
        .await?;
    }

    // Made private on node 0: a stranger on node 1 no longer sees it.
    let (mut s, _) = cl.user(1, "sam").await?;
    s.fails(json!({"op": "group_members", "group": gid}), "not_member")
        .await?;
    a.ok(json!({"op": "update_group", "group": gid, "visibility": "private"}))
        .await?;
    s.fails(json!({"op": "join_group", "group": gid}), "no_such_group")
        .await?;
    cl.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_events_reach_the_other_node() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start(2).await else {
        return Ok(());
    };
    let (mut a, ida) = cl.user(0, "alice").await?;
    let mut a2 = cl.session(1, ida).await?;
    let (mut m, idm) = cl.user(1, "mona").await?;
    let (mut d, idd) = cl.user(1, "dora").await?;
    let gid = private_group(&mut a, "secret").await?;

    a.ok(json!({"op": "invite", "group": gid, "user": idm}))
        .await?;
    let ev = m.event_of("group_invite").await?;
    assert_eq!(
        ev["group"],
        json!({"id": gid, "name": "secret", "desc": "about", "visibility": "private"})
    );
    assert_eq!(ev["by"]["id"], json!(ida));
    let s = m.ok(json!({"op": "sync"})).await?;
    assert_eq!(invite_ids(&s), vec![gid]);
    m.ok(json!({"op": "join_group", "group": gid})).await?;
    for c in [&mut a, &mut a2] {
        let ev = c.event_of("member_joined").await?;
        assert_eq!(ev["user"]["id"], json!(idm));
    }

    a.ok(json!({"op": "update_group", "group": gid, "name": "renamed"}))
        .await?;
    for c in [&mut a2, &mut m] {
        let ev = c.event_of("group_updated").await?;
        assert_eq!(
            ev,
            json!({"ev": "group_updated", "group": {"id": gid, "name": "renamed", "desc": "about", "visibility": "private"}})
        );
    }

    a.ok(json!({"op": "set_role", "group": gid, "user": idm, "role": "admin"}))
        .await?;
    for c in [&mut a2, &mut m] {
        let ev = c.event_of("member_role").await?;
        assert_eq!(
            ev,
            json!({"ev": "member_role", "group": gid, "user": idm, "role": "admin"})
        );
    }

    // The admin on node 1 invites dora; dora joins; alice kicks her.
    m.ok(json!({"op": "invite", "group": gid, "user": idd}))
        .await?;
    d.event_of("group_invite").await?;
    d.ok(json!({"op": "join_group", "group": gid})).await?;
    a.ok(json!({"op": "kick", "group": gid, "user": idd}))
        .await?;
    let ev = d.event_of("removed_from_group").await?;
    assert_eq!(
        ev,
        json!({"ev": "removed_from_group", "group": gid, "by": ida})
    );
    for c in [&mut a2, &mut m] {
        let ev = event_where(c, "member_left", |e| e["user"]["id"] == json!(idd)).await?;
        assert_eq!(ev["group"], json!(gid));
        assert_eq!(ev["by"], json!(ida));
    }

    // Transfer, then the new creator on node 1 deletes; alice hears it on
    // both nodes.
    a.ok(json!({"op": "transfer_group", "group": gid, "user": idm}))
        .await?;
    m.ok(json!({"op": "delete_group", "group": gid})).await?;
    for c in [&mut a, &mut a2] {
        let ev = c.event_of("group_deleted").await?;
        assert_eq!(ev, json!({"ev": "group_deleted", "group": gid}));
    }
    cl.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_password_ends_sessions_on_the_other_node() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start(2).await else {
        return Ok(());
    };
    let (mut a1, ida) = cl.user(0, "alice").await?;
    let t1 = a1.token.clone().expect("token");
    let mut a2 = cl.session(1, ida).await?;
    let t2 = a2.token.clone().expect("token");
    let mut a3 = token_session(&cl.nodes[1], ida, &t1).await?;

    let r = a1
        .ok(json!({"op": "change_password", "old": PASSWORD, "new": "password2"}))
        .await?;
    let t3 = r["token"].as_str().expect("token").to_owned();
    ended_with(&mut a2, "password_changed").await?;
    ended_with(&mut a3, "password_changed").await?;
    a1.ok(json!({"op": "whoami"})).await?;
    // On the other node at once: old credentials dead, new ones good.
    for login in [
        json!({"op": "login", "user": ida, "token": t1}),
        json!({"op": "login", "user": ida, "token": t2}),
        json!({"op": "login", "user": ida, "password": PASSWORD}),
    ] {
        let mut c = cl.nodes[1].client().await?;
        c.fails(login, "bad_credentials").await?;
    }
    token_session(&cl.nodes[1], ida, &t3).await?;
    let mut c = cl.nodes[1].client().await?;
    c.login(ida, "password2").await?;
    cl.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_everywhere_ends_sessions_on_the_other_node() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start(2).await else {
        return Ok(());
    };
    let (mut a1, ida) = cl.user(1, "alice").await?;
    let t1 = a1.token.clone().expect("token");
    let mut a2 = cl.session(0, ida).await?;
    let mut a3 = cl.session(0, ida).await?;
    a1.ok(json!({"op": "logout", "everywhere": true})).await?;
    ended_with(&mut a2, "logged_out").await?;
    ended_with(&mut a3, "logged_out").await?;
    a1.fails(json!({"op": "whoami"}), "not_logged_in").await?;
    let mut c = cl.nodes[0].client().await?;
    c.fails(
        json!({"op": "login", "user": ida, "token": t1}),
        "bad_credentials",
    )
    .await?;
    a1.login(ida, PASSWORD).await?;
    cl.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_account_reaches_the_other_node() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start(2).await else {
        return Ok(());
    };
    let (mut a1, ida) = cl.user(0, "alice").await?;
    let mut a2 = cl.session(1, ida).await?;
    let (mut f, _) = cl.user(1, "frank").await?;
    let (mut m, idm) = cl.user(1, "mona").await?;
    befriend(&mut f, &mut a1).await?;
    let gid = group(&mut a1, "club").await?;
    m.ok(json!({"op": "join_group", "group": gid})).await?;
    group_chat(&mut a1, gid, "from alice").await?;

    a1.ok(json!({"op": "delete_account", "password": PASSWORD}))
        .await?;
    ended_with(&mut a2, "account_deleted").await?;
    let ev = f.event_of("friend_removed").await?;
    assert_eq!(ev, json!({"ev": "friend_removed", "user": ida}));
    let ev = event_where(&mut m, "member_left", |e| e["user"]["id"] == json!(ida)).await?;
    assert_eq!(ev["group"], json!(gid));
    // The group passed to mona, its only other member.
    assert_eq!(roles(&mut m, gid).await?, vec![(idm, "creator".to_owned())]);
    let r = m.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(history_texts(&r), vec!["from alice"]);
    // Dead on the other node at once.
    f.fails(json!({"op": "add_friend", "user": ida}), "no_such_user")
        .await?;
    let mut c = cl.nodes[1].client().await?;
    c.fails(
        json!({"op": "login", "user": ida, "password": PASSWORD}),
        "bad_credentials",
    )
    .await?;
    cl.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_count_across_nodes() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start_with(2, |c| {
        c.login_failures_per_account = 4;
        c.login_failures_per_address = 1000;
        c.login_failure_window = 600;
    })
    .await
    else {
        return Ok(());
    };
    let (a, ida) = cl.user(0, "alice").await?;
    let token = a.token.clone().expect("token");
    // Two failures on each node: four in all, two per node.
    for node in [0, 1, 0, 1] {
        let mut c = cl.nodes[node].client().await?;
        c.fails(
            json!({"op": "login", "user": ida, "password": "wrong-password"}),
            "bad_credentials",
        )
        .await?;
    }
    for node in [0, 1] {
        let mut c = cl.nodes[node].client().await?;
        let r = c
            .fails(
                json!({"op": "login", "user": ida, "password": PASSWORD}),
                "rate_limited",
            )
            .await?;
        assert!(r["retry_after"].as_u64().is_some_and(|s| s >= 1), "{r}");
    }
    token_session(&cl.nodes[1], ida, &token).await?;
    cl.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_per_address_count_across_nodes() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start_with(2, |c| {
        c.login_failures_per_account = 1000;
        c.login_failures_per_address = 4;
        c.login_failure_window = 600;
    })
    .await
    else {
        return Ok(());
    };
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(cl.user(i % 2, &format!("user{i}")).await?.1);
    }
    for (i, node) in [0, 1, 0, 1].into_iter().enumerate() {
        let mut c = cl.nodes[node].client().await?;
        c.fails(
            json!({"op": "login", "user": ids[i], "password": "wrong-password"}),
            "bad_credentials",
        )
        .await?;
    }
    for node in [0, 1] {
        let mut c = cl.nodes[node].client().await?;
        c.fails(
            json!({"op": "login", "user": ids[4], "password": PASSWORD}),
            "rate_limited",
        )
        .await?;
    }
    cl.stop().await;
    Ok(())
}
