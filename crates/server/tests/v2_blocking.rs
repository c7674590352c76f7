//! Blocking (protocol version 2): `block` ends a friendship and drops
//! requests both ways; from then on the blocked user learns nothing (their
//! `add_friend` says `requested` as usual) and neither their requests nor
//! their invites reach the blocker; `unblock` lifts it without bringing a
//! friendship back; both are idempotent; a user never sees who blocked
//! them.
//!
//! A blocked user's actions must leave the blocker untouched, so the
//! marker that bounds the wait comes from a third user, a friend of the
//! blocker, after the blocked user's reply: on one node the server has
//! handed out whatever that action caused before it replied.

use chat_testkit::TestServer;
use chat_testkit::fixture::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_ends_a_friendship() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b1, idb) = user(&server, "bob").await?;
    let mut b2 = session(&server, idb).await?;
    befriend(&mut a, &mut b1).await?;

    let r = a.ok(json!({"op": "block", "user": idb})).await?;
    assert_eq!(r, json!({"re": r["re"], "ok": true}), "no result fields");
    for b in [&mut b1, &mut b2] {
        let ev = b.event_of("friend_removed").await?;
        assert_eq!(ev, json!({"ev": "friend_removed", "user": ida}));
    }
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(friend_ids(&s), Vec::<u64>::new(), "{s}");
    assert_eq!(
        s["blocked"],
        json!([{"id": idb, "name": "bob"}]),
        "the blocked list shows bob: {s}"
    );
    let s = b1.ok(json!({"op": "sync"})).await?;
    assert_eq!(friend_ids(&s), Vec::<u64>::new(), "{s}");
    a.fails(json!({"op": "chat", "to": idb, "text": "x"}), "not_friend")
        .await?;
    b1.fails(json!({"op": "chat", "to": ida, "text": "x"}), "not_friend")
        .await?;

    // No presence flows any more, either way.
    let (mut w, _) = user(&server, "walter").await?;
    befriend(&mut w, &mut a).await?;
    b1.ok(json!({"op": "logout"})).await?;
    b2.ok(json!({"op": "logout"})).await?;
    b1.login(idb, PASSWORD).await?;
    chat(&mut w, ida, "marker").await?;
    let seen = events_before(&mut a, "marker").await?;
    assert!(of_kind(&seen, "presence").is_empty(), "{seen:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_drops_pending_requests_both_ways() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (mut c, idc) = user(&server, "carol").await?;
    // bob -> alice (incoming for alice), alice -> carol (outgoing).
    request_friend(&mut b, &mut a).await?;
    request_friend(&mut a, &mut c).await?;

    a.ok(json!({"op": "block", "user": idb})).await?;
    a.ok(json!({"op": "block", "user": idc})).await?;
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
    assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new(), "{s}");
    let mut blocked = vec![idb, idc];
    blocked.sort_unstable();
    assert_eq!(user_ids(&s, "blocked"), blocked, "{s}");
    let s = c.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
    // Alice can no longer accept bob's request: it is gone.
    a.fails(
        json!({"op": "accept_friend", "user": idb}),
        "no_such_request",
    )
    .await?;
    // Nor can carol accept alice's.
    c.fails(
        json!({"op": "accept_friend", "user": ida}),
        "no_such_request",
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_users_request_looks_normal_but_never_arrives() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (mut w, _) = user(&server, "walter").await?;
    befriend(&mut w, &mut a).await?;
    a.ok(json!({"op": "block", "user": idb})).await?;

    let r = b.ok(json!({"op": "add_friend", "user": ida})).await?;
    assert_eq!(
        r,
        json!({"re": r["re"], "ok": true, "status": "requested"}),
        "as if all were normal"
    );
    // Again: still as normal (a repeated request changes nothing).
    let r = b.ok(json!({"op": "add_friend", "user": ida})).await?;
    assert_eq!(r["status"], json!("requested"), "{r}");
    chat(&mut w, ida, "marker").await?;
    let seen = events_before(&mut a, "marker").await?;
    assert!(
        of_kind(&seen, "friend_request").is_empty(),
        "the blocker hears nothing: {seen:?}"
    );
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
    a.fails(
        json!({"op": "accept_friend", "user": idb}),
        "no_such_request",
    )
    .await?;
    // Reading: "the blocked user learns nothing", so bob's own lists look
    // as after any request: alice in requests_out, no `blocked` entry.
    let s = b.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_out"), vec![ida], "{s}");
    assert_eq!(user_ids(&s, "blocked"), Vec::<u64>::new(), "{s}");

    // The contract is silent on what becomes of it; docs/protocol.md: "it
    // is dropped when they unblock you". So no friendship, no request.
    a.ok(json!({"op": "unblock", "user": idb})).await?;
    let s = b.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new(), "{s}");
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
    b.fails(json!({"op": "chat", "to": ida, "text": "x"}), "not_friend")
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_from_a_blocked_user_never_arrive() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (mut w, _) = user(&server, "walter").await?;
    befriend(&mut w, &mut a).await?;
    let private = private_group(&mut b, "bobs private").await?;
    let public = group(&mut b, "bobs public").await?;
    a.ok(json!({"op": "block", "user": idb})).await?;

    // Reading: like add_friend, the invite replies as if all were normal
    // (the blocked user learns nothing).
    for gid in [private, public] {
        b.ok(json!({"op": "invite", "group": gid, "user": ida}))
            .await?;
    }
    chat(&mut w, ida, "marker").await?;
    let seen = events_before(&mut a, "marker").await?;
    assert!(of_kind(&seen, "group_invite").is_empty(), "{seen:?}");
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(invite_ids(&s), Vec::<u64>::new(), "{s}");
    // The private group stays invisible: no invite to consume.
    a.fails(
        json!({"op": "join_group", "group": private}),
        "no_such_group",
    )
    .await?;
    a.fails(
        json!({"op": "decline_invite", "group": public}),
        "no_such_request",
    )
    .await?;

    // An invite sent before the block does not survive it either?
    // The contract says only that invites *from* the blocked user never
    // reach the blocker; an earlier one was already delivered, so it is
    // left alone here.
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_drops_the_blocked_users_pending_invites() -> anyhow::Result<()> {
    // The contract says only that invites from a blocked user never reach
    // the blocker; docs/protocol.md adds that a block "drops ... the
    // blocked user's invites to you" that were already pending.
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let gid = private_group(&mut b, "bobs").await?;
    b.ok(json!({"op": "invite", "group": gid, "user": ida}))
        .await?;
    a.event_of("group_invite").await?;
    a.ok(json!({"op": "block", "user": idb})).await?;
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(invite_ids(&s), Vec::<u64>::new(), "{s}");
    a.fails(json!({"op": "join_group", "group": gid}), "no_such_group")
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_friend_of_someone_you_block_is_a_bad_request() -> anyhow::Result<()> {
    // Silent in the contract; docs/protocol.md: "add_friend of someone you
    // block is a bad_request (unblock them first)".
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (mut w, _) = user(&server, "walter").await?;
    befriend(&mut w, &mut b).await?;
    a.ok(json!({"op": "block", "user": idb})).await?;
    let r = a
        .fails(json!({"op": "add_friend", "user": idb}), "bad_request")
        .await?;
    assert!(r["error"].as_str().unwrap_or("").contains("user"), "{r}");
    chat(&mut w, idb, "marker").await?;
    let seen = events_before(&mut b, "marker").await?;
    assert!(of_kind(&seen, "friend_request").is_empty(), "{seen:?}");
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new(), "{s}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_list_in_login_and_sync() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (_b, idb) = user(&server, "bob").await?;
    let (_c, idc) = user(&server, "carol").await?;
    a.ok(json!({"op": "block", "user": idb})).await?;
    a.ok(json!({"op": "block", "user": idc})).await?;
    let mut want = vec![
        json!({"id": idb, "name": "bob"}),
        json!({"id": idc, "name": "carol"}),
    ];
    want.sort_by_key(|u| u["id"].as_u64());
    let sorted = |r: &Value| {
        let mut v = r["blocked"].as_array().cloned().unwrap_or_default();
        v.sort_by_key(|u| u["id"].as_u64());
        v
    };
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(sorted(&s), want, "{s}");
    let mut a2 = server.client().await?;
    let r = a2.login(ida, PASSWORD).await?;
    assert_eq!(sorted(&r), want, "{r}");

    a.ok(json!({"op": "unblock", "user": idb})).await?;
    let s = a2.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "blocked"), vec![idc], "{s}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unblock_lifts_the_block_but_brings_no_friendship_back() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    a.ok(json!({"op": "block", "user": idb})).await?;
    b.event_of("friend_removed").await?;
    let r = a.ok(json!({"op": "unblock", "user": idb})).await?;
    assert_eq!(r, json!({"re": r["re"], "ok": true}), "no result fields");

    for c in [&mut a, &mut b] {
        let s = c.ok(json!({"op": "sync"})).await?;
        assert_eq!(friend_ids(&s), Vec::<u64>::new(), "{s}");
        assert_eq!(user_ids(&s, "blocked"), Vec::<u64>::new(), "{s}");
        assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
        assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new(), "{s}");
    }
    b.fails(json!({"op": "chat", "to": ida, "text": "x"}), "not_friend")
        .await?;
    // Bob's requests reach alice again.
    request_friend(&mut b, &mut a).await?;
    let r = a.ok(json!({"op": "accept_friend", "user": idb})).await?;
    assert_eq!(r["friend"]["id"], json!(idb));
    chat(&mut b, ida, "friends again").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_and_unblock_are_idempotent() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (mut w, idw) = user(&server, "walter").await?;
    let ida = a.user.expect("id");
    befriend(&mut a, &mut b).await?;
    befriend(&mut w, &mut b).await?;
    a.ok(json!({"op": "block", "user": idb})).await?;
    b.event_of("friend_removed").await?;
    a.ok(json!({"op": "block", "user": idb})).await?;
    // The second block tells bob nothing more.
    chat(&mut w, idb, "marker").await?;
    let seen = events_before(&mut b, "marker").await?;
    assert!(of_kind(&seen, "friend_removed").is_empty(), "{seen:?}");
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "blocked"), vec![idb], "one entry: {s}");

    a.ok(json!({"op": "unblock", "user": idb})).await?;
    a.ok(json!({"op": "unblock", "user": idb})).await?;
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "blocked"), Vec::<u64>::new(), "{s}");
    // Unblocking someone never blocked is fine too. Reading: `unblock`
    // lists no error of its own, so an id that is nobody is also just
    // "nothing to lift"; unblocking yourself is refused like blocking
    // yourself (`bad_request` naming `user`), the one reading that keeps
    // the pair symmetric.
    a.ok(json!({"op": "unblock", "user": idw})).await?;
    a.ok(json!({"op": "unblock", "user": 999_999_999})).await?;
    let r = a
        .fails(json!({"op": "unblock", "user": ida}), "bad_request")
        .await?;
    assert!(r["error"].as_str().unwrap_or("").contains("user"), "{r}");
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "blocked"), Vec::<u64>::new(), "{s}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_errors_change_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    a.fails(json!({"op": "block", "user": 999_999_999}), "no_such_user")
        .await?;
    let r = a
        .fails(json!({"op": "block", "user": ida}), "bad_request")
        .await?;
    assert!(
        r["error"].as_str().unwrap_or("").contains("user"),
        "the error names the field: {r}"
    );
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(s["blocked"], json!([]), "{s}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_never_sees_who_blocked_them() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (mut w, idw) = user(&server, "walter").await?;
    befriend(&mut a, &mut b).await?;
    befriend(&mut w, &mut b).await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    a.event_of("member_joined").await?;

    a.ok(json!({"op": "block", "user": idb})).await?;
    chat(&mut w, idb, "marker").await?;
    let seen = events_before(&mut b, "marker").await?;
    // The end of the friendship is all bob hears, exactly as after a
    // remove_friend.
    let kinds: Vec<&str> = seen
        .iter()
        .filter(|e| e["ev"] != json!("presence"))
        .map(|e| e["ev"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, vec!["friend_removed"], "{seen:?}");
    assert_eq!(
        seen.iter().find(|e| e["ev"] == json!("friend_removed")),
        Some(&json!({"ev": "friend_removed", "user": ida}))
    );

    // Nothing in bob's lists names alice as his blocker, in sync or in a
    // new login.
    let s = b.ok(json!({"op": "sync"})).await?;
    assert_eq!(s["blocked"], json!([]), "{s}");
    for key in ["friends", "requests_in", "requests_out", "blocked"] {
        assert!(!user_ids(&s, key).contains(&ida), "{key}: {s}");
    }
    assert_eq!(group_ids(&s), vec![gid], "{s}");
    let mut b3 = server.client().await?;
    let s = b3.login(idb, PASSWORD).await?;
    assert_eq!(s["blocked"], json!([]), "{s}");
    assert_eq!(friend_ids(&s), vec![idw], "walter only: {s}");
    assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
    assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new(), "{s}");

    // To bob, alice answers exactly as any stranger: add_friend says
    // requested, chat and history say not_friend; the group they share is
    // untouched (the contract ties blocking to friendship, requests and
    // invites only).
    let (_sam, ids) = user(&server, "sam").await?;
    for target in [ida, ids] {
        let r = b.ok(json!({"op": "add_friend", "user": target})).await?;
        assert_eq!(r, json!({"re": r["re"], "ok": true, "status": "requested"}));
        b.fails(
            json!({"op": "chat", "to": target, "text": "x"}),
            "not_friend",
        )
        .await?;
        b.fails(json!({"op": "history", "with": target}), "not_friend")
            .await?;
    }
    let m = roles(&mut b, gid).await?;
    assert_eq!(m.len(), 2, "{m:?}");
    Ok(())
}
