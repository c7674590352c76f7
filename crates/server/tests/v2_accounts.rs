//! Accounts in protocol version 2: `change_password` (a new token, every
//! other token and session ended), `delete_account` (sessions ended,
//! friendships, requests, blocks and memberships removed, created groups
//! handed on, the id dead for good, sent messages kept) and `logout` with
//! `everywhere`.

use chat_testkit::TestServer;
use chat_testkit::fixture::*;
use serde_json::{Value, json};

/// A login that must fail with `bad_credentials`.
async fn refused(server: &TestServer, login: Value) -> anyhow::Result<()> {
    let mut c = server.client().await?;
    c.fails(login, "bad_credentials").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_password_gives_a_new_token_and_ends_every_other_session() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a1, ida) = user(&server, "alice").await?;
    let t1 = a1.token.clone().expect("token");
    let mut a2 = session(&server, ida).await?;
    let t2 = a2.token.clone().expect("token");
    let mut a3 = token_session(&server, ida, &t1).await?;
    let (mut f, idf) = user(&server, "frank").await?;
    befriend(&mut f, &mut a1).await?;

    let r = a1
        .ok(json!({"op": "change_password", "old": PASSWORD, "new": "password2"}))
        .await?;
    let t3 = r["token"].as_str().expect("a new token").to_owned();
    assert!(!t3.is_empty());
    assert_ne!(t3, t1);
    assert_ne!(t3, t2);

    // The other sessions are told, then closed.
    ended_with(&mut a2, "password_changed").await?;
    ended_with(&mut a3, "password_changed").await?;

    // The calling session stays, logged in, and is told nothing.
    let r = a1.ok(json!({"op": "whoami"})).await?;
    assert_eq!(r["user"]["id"], json!(ida));
    chat(&mut f, ida, "marker").await?;
    let seen = events_before(&mut a1, "marker").await?;
    assert!(of_kind(&seen, "session_ended").is_empty(), "{seen:?}");
    chat(&mut a1, idf, "still here").await?;

    // The old password and every old token are dead; the new ones work.
    refused(
        &server,
        json!({"op": "login", "user": ida, "password": PASSWORD}),
    )
    .await?;
    for t in [&t1, &t2] {
        refused(&server, json!({"op": "login", "user": ida, "token": t})).await?;
    }
    let mut a4 = server.client().await?;
    a4.login(ida, "password2").await?;
    let mut a5 = server.client().await?;
    let r = login_token(&mut a5, ida, &t3).await?;
    assert_eq!(r["token"], json!(t3), "a token login returns that token");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_password_with_a_wrong_old_one_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a1, ida) = user(&server, "alice").await?;
    let t1 = a1.token.clone().expect("token");
    let mut a2 = session(&server, ida).await?;
    let (mut f, _) = user(&server, "frank").await?;
    befriend(&mut f, &mut a2).await?;

    a1.fails(
        json!({"op": "change_password", "old": "wrong-password", "new": "password2"}),
        "bad_credentials",
    )
    .await?;
    // Out-of-range new passwords are bad requests naming `new`.
    for new in ["short", "x".repeat(129).as_str()] {
        let r = a1
            .fails(
                json!({"op": "change_password", "old": PASSWORD, "new": new}),
                "bad_request",
            )
            .await?;
        assert!(r["error"].as_str().unwrap_or("").contains("new"), "{r}");
    }
    // The other session was not ended.
    chat(&mut f, ida, "marker").await?;
    let seen = events_before(&mut a2, "marker").await?;
    assert!(of_kind(&seen, "session_ended").is_empty(), "{seen:?}");
    a2.ok(json!({"op": "whoami"})).await?;
    // Old password and token still work; the new one does not.
    let mut c = server.client().await?;
    c.login(ida, PASSWORD).await?;
    token_session(&server, ida, &t1).await?;
    refused(
        &server,
        json!({"op": "login", "user": ida, "password": "password2"}),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_everywhere_ends_every_session_and_keeps_this_connection() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a1, ida) = user(&server, "alice").await?;
    let t1 = a1.token.clone().expect("token");
    let mut a2 = session(&server, ida).await?;
    let t2 = a2.token.clone().expect("token");
    let mut a3 = token_session(&server, ida, &t1).await?;
    let (mut f, _) = user(&server, "frank").await?;
    befriend(&mut f, &mut a1).await?;

    let r = a1.ok(json!({"op": "logout", "everywhere": true})).await?;
    assert_eq!(r, json!({"re": r["re"], "ok": true}), "no result fields");
    ended_with(&mut a2, "logged_out").await?;
    ended_with(&mut a3, "logged_out").await?;
    // This session is logged out, its connection open.
    a1.fails(json!({"op": "whoami"}), "not_logged_in").await?;
    a1.ok(json!({"op": "ping"})).await?;
    // Every token is revoked; the password is unchanged.
    for t in [&t1, &t2] {
        refused(&server, json!({"op": "login", "user": ida, "token": t})).await?;
    }
    let r = a1.login(ida, PASSWORD).await?;
    assert_ne!(r["token"], json!(t1));
    // Friends saw alice go and come back.
    let ev = event_where(&mut f, "presence", |e| e["online"] == json!(false)).await?;
    assert_eq!(ev, json!({"ev": "presence", "user": ida, "online": false}));
    let ev = f.event_of("presence").await?;
    assert_eq!(ev, json!({"ev": "presence", "user": ida, "online": true}));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_without_everywhere_ends_only_this_session() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a1, ida) = user(&server, "alice").await?;
    let mut a2 = session(&server, ida).await?;
    let t2 = a2.token.clone().expect("token");
    let (mut f, _) = user(&server, "frank").await?;
    befriend(&mut f, &mut a2).await?;
    a1.ok(json!({"op": "logout", "everywhere": false})).await?;
    chat(&mut f, ida, "marker").await?;
    let seen = events_before(&mut a2, "marker").await?;
    assert!(of_kind(&seen, "session_ended").is_empty(), "{seen:?}");
    a2.ok(json!({"op": "whoami"})).await?;
    token_session(&server, ida, &t2).await?;
    Ok(())
}

/// Alice, about to delete her account, and everyone around her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_account_ends_sessions_and_removes_every_trace_but_messages() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a1, ida) = user(&server, "alice").await?;
    let token = a1.token.clone().expect("token");
    let mut a2 = session(&server, ida).await?;
    let (mut f, _) = user(&server, "frank").await?; // a friend
    let (mut b, _) = user(&server, "bob").await?; // alice asked him
    let (mut c, _) = user(&server, "carol").await?; // she asked alice
    let (mut k, _) = user(&server, "kim").await?; // kim blocked alice
    let (mut m1, idm1) = user(&server, "mia").await?;
    let (mut ad1, idad1) = user(&server, "adam").await?;
    let (mut ad2, idad2) = user(&server, "ada").await?;
    let (mut m2, idm2) = user(&server, "max").await?;
    let (mut m3, idm3) = user(&server, "moe").await?;
    befriend(&mut f, &mut a1).await?;
    request_friend(&mut a1, &mut b).await?;
    request_friend(&mut c, &mut a1).await?;
    k.ok(json!({"op": "block", "user": ida})).await?;

    // g1: public; mia joined first, then adam and ada, both made admins,
    // adam first: adam is the longest-standing admin by either measure.
    let g1 = group(&mut a1, "g1").await?;
    for x in [&mut m1, &mut ad1, &mut ad2] {
        x.ok(json!({"op": "join_group", "group": g1})).await?;
    }
    for id in [idad1, idad2] {
        a1.ok(json!({"op": "set_role", "group": g1, "user": id, "role": "admin"}))
            .await?;
    }
    // g2: private, no admin; max joined before moe.
    let g2 = private_group(&mut a1, "g2").await?;
    for (x, id) in [(&mut m2, idm2), (&mut m3, idm3)] {
        a1.ok(json!({"op": "invite", "group": g2, "user": id}))
            .await?;
        x.ok(json!({"op": "join_group", "group": g2})).await?;
    }
    // g3: alice alone. g4: frank's, alice a member.
    let g3 = group(&mut a1, "g3").await?;
    let g4 = group(&mut f, "g4").await?;
    a1.ok(json!({"op": "join_group", "group": g4})).await?;
    group_chat(&mut a1, g1, "alice in g1").await?;
    chat(&mut a1, f.user.expect("id"), "alice to frank").await?;

    // A wrong password changes nothing.
    a1.fails(
        json!({"op": "delete_account", "password": "wrong-password"}),
        "bad_credentials",
    )
    .await?;
    a2.ok(json!({"op": "whoami"})).await?;

    let r = a1
        .ok(json!({"op": "delete_account", "password": PASSWORD}))
        .await?;
    assert_eq!(r["ok"], json!(true));
    ended_with(&mut a2, "account_deleted").await?;
    // The contract leaves the calling session open to reading; this
    // server documents that it is ended too, with session_ended.
    ended_with(&mut a1, "account_deleted").await?;

    // Friends and members are told.
    let ev = f.event_of("friend_removed").await?;
    assert_eq!(ev, json!({"ev": "friend_removed", "user": ida}));
    // Members are told she left (no `by`), and of the new creators:
    // docs/protocol.md says member_role goes to the members, as the
    // contract's member_role does when "a member's role changed". Read up
    // to a marker from the new creator, as the two may come in any order.
    let left_by_alice =
        |g: u64| move |e: &&Value| e["group"] == json!(g) && e["user"]["id"] == json!(ida);
    let new_creator =
        |g: u64, id: u64| json!({"ev": "member_role", "group": g, "user": id, "role": "creator"});
    group_chat(&mut ad1, g1, "g1 marker").await?;
    for x in [&mut m1, &mut ad2] {
        let seen = events_before(x, "g1 marker").await?;
        let left: Vec<&Value> = of_kind(&seen, "member_left")
            .into_iter()
            .filter(left_by_alice(g1))
            .collect();
        assert_eq!(left.len(), 1, "{seen:?}");
        assert!(left[0].get("by").is_none(), "nobody kicked alice: {seen:?}");
        assert!(seen.contains(&new_creator(g1, idad1)), "{seen:?}");
    }
    event_where(&mut ad1, "member_left", |e| left_by_alice(g1)(&e)).await?;
    group_chat(&mut m2, g2, "g2 marker").await?;
    let seen = events_before(&mut m3, "g2 marker").await?;
    assert_eq!(
        of_kind(&seen, "member_left")
            .into_iter()
            .filter(left_by_alice(g2))
            .count(),
        1,
        "{seen:?}"
    );
    assert!(seen.contains(&new_creator(g2, idm2)), "{seen:?}");
    event_where(&mut m2, "member_left", |e| left_by_alice(g2)(&e)).await?;
    event_where(&mut f, "member_left", |e| left_by_alice(g4)(&e)).await?;

    // Requests and blocks are gone from the others' lists.
    let s = b.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
    let s = c.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new(), "{s}");
    let s = k.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "blocked"), Vec::<u64>::new(), "{s}");
    let s = f.ok(json!({"op": "sync"})).await?;
    assert_eq!(friend_ids(&s), Vec::<u64>::new(), "{s}");

    // Her groups passed on: g1 to adam, g2 to max; g3 is gone.
    let mut want = vec![
        (idm1, "member".to_owned()),
        (idad1, "creator".to_owned()),
        (idad2, "admin".to_owned()),
    ];
    want.sort();
    assert_eq!(roles(&mut m1, g1).await?, want);
    let mut want = vec![(idm2, "creator".to_owned()), (idm3, "member".to_owned())];
    want.sort();
    assert_eq!(roles(&mut m3, g2).await?, want);
    let s = ad1.ok(json!({"op": "sync"})).await?;
    assert_eq!(
        s["groups"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["id"] == json!(g1)))
            .map(|g| g["role"].clone()),
        Some(json!("creator"))
    );
    b.fails(json!({"op": "join_group", "group": g3}), "no_such_group")
        .await?;
    // The new creator has the creator's rights.
    ad1.ok(json!({"op": "set_role", "group": g1, "user": idm1, "role": "admin"}))
        .await?;
    m2.ok(json!({"op": "update_group", "group": g2, "desc": "mine now"}))
        .await?;

    // Her messages stay in the recipients' history.
    let r = m1.ok(json!({"op": "history", "group": g1})).await?;
    assert!(history_texts(&r).contains(&"alice in g1".to_owned()), "{r}");
    let msg = r["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["text"] == json!("alice in g1")))
        .cloned()
        .expect("kept");
    assert_eq!(msg["from"], json!(ida));

    // The id is dead for good.
    b.fails(json!({"op": "add_friend", "user": ida}), "no_such_user")
        .await?;
    b.fails(json!({"op": "block", "user": ida}), "no_such_user")
        .await?;
    m2.fails(
        json!({"op": "invite", "group": g2, "user": ida}),
        "no_such_user",
    )
    .await?;
    refused(
        &server,
        json!({"op": "login", "user": ida, "password": PASSWORD}),
    )
    .await?;
    refused(&server, json!({"op": "login", "user": ida, "token": token})).await?;
    // A new account gets a new id.
    let mut n = server.client().await?;
    let idn = n.register("alice", PASSWORD).await?;
    assert_ne!(idn, ida);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_senders_unacked_messages_are_still_delivered() -> anyhow::Result<()> {
    // "A message that got ok is never lost": the recipient's inbox is
    // theirs, not the deleted sender's.
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut f, idf) = user(&server, "frank").await?;
    befriend(&mut a, &mut f).await?;
    f.ok(json!({"op": "logout"})).await?;
    let sent = chat(&mut a, idf, "while you were away").await?;
    a.ok(json!({"op": "delete_account", "password": PASSWORD}))
        .await?;
    let r = f.login(idf, PASSWORD).await?;
    assert_eq!(r["unread"], json!(1), "{r}");
    let m = msgs(&mut f, 1).await?;
    assert_eq!(m[0]["id"], json!(sent));
    assert_eq!(m[0]["from"], json!(ida));
    assert_eq!(m[0]["text"], json!("while you were away"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_friends_messages_stay_in_the_one_to_one_history() -> anyhow::Result<()> {
    // Reading: "Messages they sent stay in the recipients' history" covers
    // one-to-one messages too, so `history` with the deleted id still
    // returns the conversation (there is no friendship left to check, and
    // the id is not reused, so nobody else's conversation can show).
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut f, idf) = user(&server, "frank").await?;
    befriend(&mut a, &mut f).await?;
    chat(&mut a, idf, "one").await?;
    chat(&mut f, ida, "two").await?;
    a.ok(json!({"op": "delete_account", "password": PASSWORD}))
        .await?;
    f.event_of("friend_removed").await?;
    let r = f.ok(json!({"op": "history", "with": ida})).await?;
    assert_eq!(history_texts(&r), vec!["two", "one"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_invite_from_or_to_a_deleted_account_goes() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut d, idd) = user(&server, "dora").await?;
    let (mut o, _) = user(&server, "olga").await?;
    // olga invites alice to her private group; alice deletes her account.
    let g = private_group(&mut o, "olgas").await?;
    o.ok(json!({"op": "invite", "group": g, "user": ida}))
        .await?;
    a.event_of("group_invite").await?;
    // And alice, admin of a group, had invited dora.
    let h = private_group(&mut a, "alices").await?;
    a.ok(json!({"op": "invite", "group": h, "user": idd}))
        .await?;
    d.event_of("group_invite").await?;
    a.ok(json!({"op": "delete_account", "password": PASSWORD}))
        .await?;
    // Alice's group had no other member: it is deleted, and the invite to
    // it with it.
    let s = d.ok(json!({"op": "sync"})).await?;
    assert_eq!(invite_ids(&s), Vec::<u64>::new(), "{s}");
    d.fails(json!({"op": "join_group", "group": h}), "no_such_group")
        .await?;
    Ok(())
}
