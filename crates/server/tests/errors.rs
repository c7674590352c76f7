//! Every error code of the contract, triggered the way a new user would
//! trigger it, and each failed request checked to have changed nothing.

use chat_testkit::TestServer;
use chat_testkit::fixture::*;
use serde_json::{Value, json};

/// Checks a failure reply: `ok: false`, the code, and an error text.
fn assert_failure(r: &Value, code: &str) {
    assert_eq!(r["ok"], json!(false), "{r}");
    assert_eq!(r["code"], json!(code), "{r}");
    let text = r["error"].as_str().unwrap_or_default();
    assert!(!text.is_empty(), "a failure says what went wrong: {r}");
}

/// A `bad_request` whose error names `field`.
async fn bad_field(
    c: &mut chat_testkit::TestClient,
    req: Value,
    field: &str,
) -> anyhow::Result<()> {
    let r = c.fails(req.clone(), "bad_request").await?;
    let text = r["error"].as_str().unwrap_or_default();
    assert!(
        text.contains(field),
        "the error for {req} should name `{field}`: {r}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_json_keeps_the_connection_open() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    c.send_raw(b"{\"op\": \"ping\", \"id\": 1\n").await?;
    let r = c.recv_reply().await?;
    assert_failure(&r, "bad_json");
    assert_eq!(r.get("re"), Some(&Value::Null), "{r}");
    let r = c.ok(json!({"op": "ping"})).await?;
    assert_eq!(r["ok"], json!(true));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_op_before_and_after_login() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    for op in ["shout", "Ping", "LOGIN", "", "drop_table"] {
        let r = c.fails(json!({"op": op}), "unknown_op").await?;
        assert_failure(&r, "unknown_op");
    }
    c.signup("alice").await?;
    for op in ["shout", "chat_all", "add_friends"] {
        c.fails(json!({"op": op, "to": 1, "text": "x"}), "unknown_op")
            .await?;
    }
    // Still logged in and working.
    c.ok(json!({"op": "whoami"})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_names_the_missing_field() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    bad_field(&mut c, json!({"id": 5}), "op").await?;
    bad_field(
        &mut c,
        json!({"op": "register", "password": "secret-1"}),
        "name",
    )
    .await?;
    bad_field(&mut c, json!({"op": "register", "name": "al"}), "password").await?;
    bad_field(
        &mut c,
        json!({"op": "login", "password": "secret-1"}),
        "user",
    )
    .await?;
    c.signup("alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut c, &mut b).await?;
    let gid = group(&mut c, "club").await?;
    bad_field(&mut c, json!({"op": "add_friend"}), "user").await?;
    bad_field(&mut c, json!({"op": "remove_friend"}), "user").await?;
    bad_field(&mut c, json!({"op": "chat", "text": "hi"}), "to").await?;
    bad_field(&mut c, json!({"op": "chat", "to": idb}), "text").await?;
    bad_field(&mut c, json!({"op": "create_group"}), "name").await?;
    for op in ["join_group", "quit_group", "delete_group", "group_members"] {
        bad_field(&mut c, json!({"op": op}), "group").await?;
    }
    bad_field(&mut c, json!({"op": "group_chat", "text": "hi"}), "group").await?;
    bad_field(&mut c, json!({"op": "group_chat", "group": gid}), "text").await?;
    bad_field(&mut c, json!({"op": "ack"}), "ids").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_names_the_field_of_the_wrong_type() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    bad_field(&mut c, json!({"op": 7}), "op").await?;
    bad_field(
        &mut c,
        json!({"op": "register", "name": 42, "password": "secret-1"}),
        "name",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "register", "name": "al", "password": 123456}),
        "password",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "login", "user": "1", "password": "secret-1"}),
        "user",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "login", "user": 1, "token": 5}),
        "token",
    )
    .await?;
    c.signup("alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut c, &mut b).await?;
    let gid = group(&mut c, "club").await?;
    bad_field(
        &mut c,
        json!({"op": "chat", "to": idb.to_string(), "text": "hi"}),
        "to",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "chat", "to": idb, "text": ["hi"]}),
        "text",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "chat", "to": idb, "text": "hi", "cid": 9}),
        "cid",
    )
    .await?;
    bad_field(&mut c, json!({"op": "chat", "to": 1.5, "text": "hi"}), "to").await?;
    bad_field(&mut c, json!({"op": "add_friend", "user": null}), "user").await?;
    bad_field(&mut c, json!({"op": "logout", "revoke": "yes"}), "revoke").await?;
    bad_field(
        &mut c,
        json!({"op": "create_group", "name": "x", "desc": 1}),
        "desc",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "join_group", "group": {"id": gid}}),
        "group",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "group_chat", "group": gid, "text": true}),
        "text",
    )
    .await?;
    bad_field(&mut c, json!({"op": "history", "with": "bob"}), "with").await?;
    bad_field(
        &mut c,
        json!({"op": "history", "with": idb, "before": "x"}),
        "before",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "history", "with": idb, "limit": "10"}),
        "limit",
    )
    .await?;
    bad_field(&mut c, json!({"op": "ack", "ids": "1,2"}), "ids").await?;
    bad_field(&mut c, json!({"op": "ack", "ids": [1, "2"]}), "ids").await?;
    // Still logged in: a bad request does not end the session.
    c.ok(json!({"op": "whoami"})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_names_the_field_out_of_range() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    bad_field(
        &mut c,
        json!({"op": "register", "name": "", "password": "secret-1"}),
        "name",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "register", "name": "   ", "password": "secret-1"}),
        "name",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "register", "name": "x".repeat(33), "password": "secret-1"}),
        "name",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "register", "name": "a\u{7}b", "password": "secret-1"}),
        "name",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "register", "name": "al", "password": "12345"}),
        "password",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "register", "name": "al", "password": "p".repeat(129)}),
        "password",
    )
    .await?;
    // The limits themselves are allowed.
    c.ok(json!({"op": "register", "name": "x".repeat(32), "password": "123456"}))
        .await?;
    c.ok(json!({"op": "register", "name": "  padded  ", "password": "p".repeat(128)}))
        .await?;

    c.signup("alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut c, &mut b).await?;
    let gid = group(&mut c, "club").await?;
    for text in [String::new(), " \t\n ".into(), "x".repeat(4097)] {
        bad_field(
            &mut c,
            json!({"op": "chat", "to": idb, "text": text}),
            "text",
        )
        .await?;
        bad_field(
            &mut c,
            json!({"op": "group_chat", "group": gid, "text": text}),
            "text",
        )
        .await?;
    }
    // 4096 bytes of text is allowed, counted in bytes: 1024 four-byte
    // emoji pass, one more byte does not.
    c.ok(json!({"op": "chat", "to": idb, "text": "x".repeat(4096)}))
        .await?;
    c.ok(json!({"op": "chat", "to": idb, "text": "🦀".repeat(1024)}))
        .await?;
    bad_field(
        &mut c,
        json!({"op": "chat", "to": idb, "text": format!("{}x", "🦀".repeat(1024))}),
        "text",
    )
    .await?;
    for cid in [String::new(), "c".repeat(65)] {
        bad_field(
            &mut c,
            json!({"op": "chat", "to": idb, "text": "hi", "cid": cid}),
            "cid",
        )
        .await?;
    }
    c.ok(json!({"op": "chat", "to": idb, "text": "hi", "cid": "c".repeat(64)}))
        .await?;
    bad_field(&mut c, json!({"op": "create_group", "name": ""}), "name").await?;
    bad_field(
        &mut c,
        json!({"op": "create_group", "name": "g".repeat(65)}),
        "name",
    )
    .await?;
    bad_field(
        &mut c,
        json!({"op": "create_group", "name": "g", "desc": "d".repeat(257)}),
        "desc",
    )
    .await?;
    c.ok(json!({"op": "create_group", "name": "g".repeat(64), "desc": "d".repeat(256)}))
        .await?;
    for limit in [0, 101] {
        bad_field(
            &mut c,
            json!({"op": "history", "with": idb, "limit": limit}),
            "limit",
        )
        .await?;
    }
    c.ok(json!({"op": "history", "with": idb, "limit": 100}))
        .await?;
    bad_field(&mut c, json!({"op": "ack", "ids": []}), "ids").await?;
    let many: Vec<u64> = (1..=1001).collect();
    bad_field(&mut c, json!({"op": "ack", "ids": many}), "ids").await?;
    let max: Vec<u64> = (1..=1000).collect();
    c.ok(json!({"op": "ack", "ids": max})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_for_history_with_both_or_neither_target() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let gid = group(&mut a, "club").await?;
    for req in [
        json!({"op": "history"}),
        json!({"op": "history", "limit": 5}),
        json!({"op": "history", "with": idb, "group": gid}),
    ] {
        let r = a.fails(req.clone(), "bad_request").await?;
        let text = r["error"].as_str().unwrap_or_default();
        assert!(
            text.contains("with") || text.contains("group"),
            "the error for {req} should name `with` or `group`: {r}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_to_befriend_yourself() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    bad_field(&mut a, json!({"op": "add_friend", "user": ida}), "user").await?;
    let r = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(r["friends"], json!([]), "nothing changed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_logged_in_for_every_op_but_register_login_ping() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let gid = group(&mut a, "club").await?;
    let mut c = server.client().await?;
    let ops = [
        json!({"op": "logout"}),
        json!({"op": "whoami"}),
        json!({"op": "sync"}),
        json!({"op": "add_friend", "user": ida}),
        json!({"op": "remove_friend", "user": ida}),
        json!({"op": "chat", "to": ida, "text": "hi"}),
        json!({"op": "create_group", "name": "g"}),
        json!({"op": "join_group", "group": gid}),
        json!({"op": "quit_group", "group": gid}),
        json!({"op": "delete_group", "group": gid}),
        json!({"op": "group_members", "group": gid}),
        json!({"op": "group_chat", "group": gid, "text": "hi"}),
        json!({"op": "history", "with": ida}),
        json!({"op": "ack", "ids": [1]}),
    ];
    for op in &ops {
        c.fails(op.clone(), "not_logged_in").await?;
    }
    // The same after a logout.
    c.signup("bob").await?;
    c.ok(json!({"op": "logout"})).await?;
    for op in &ops {
        c.fails(op.clone(), "not_logged_in").await?;
    }
    // None of it happened.
    let m = a.ok(json!({"op": "group_members", "group": gid})).await?;
    assert_eq!(m["members"].as_array().map(Vec::len), Some(1));
    assert_eq!(a.ok(json!({"op": "sync"})).await?["friends"], json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_for_unknown_id_wrong_password_and_bogus_token() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.max_failed_logins = 100).await?;
    let mut c = server.client().await?;
    let ida = c.register("alice", "secret-1").await?;
    let idb = c.register("bob", "secret-2").await?;
    let mut b = server.client().await?;
    b.login(idb, "secret-2").await?;
    let bob_token = b.token.clone().expect("token");
    for req in [
        json!({"op": "login", "user": 999_999_999u64, "password": "secret-1"}),
        json!({"op": "login", "user": ida, "password": "secret-2"}),
        json!({"op": "login", "user": ida, "password": "Secret-1"}),
        json!({"op": "login", "user": ida, "token": "bogus"}),
        json!({"op": "login", "user": ida, "token": bob_token}),
        json!({"op": "login", "user": 999_999_999u64, "token": bob_token}),
    ] {
        let r = c.fails(req, "bad_credentials").await?;
        assert_failure(&r, "bad_credentials");
    }
    // Not logged in after all that, and the right password still works.
    c.fails(json!({"op": "whoami"}), "not_logged_in").await?;
    c.login(ida, "secret-1").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_logged_in_on_this_connection() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    let ida = c.signup("alice").await?;
    let idb = c.register("bob", PASSWORD).await?;
    let token = c.token.clone().expect("token");
    c.fails(
        json!({"op": "login", "user": idb, "password": PASSWORD}),
        "already_logged_in",
    )
    .await?;
    c.fails(
        json!({"op": "login", "user": ida, "token": token}),
        "already_logged_in",
    )
    .await?;
    let r = c.ok(json!({"op": "whoami"})).await?;
    assert_eq!(r["user"]["id"], json!(ida), "still alice");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_such_user_for_add_friend_and_chat() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    a.fails(
        json!({"op": "add_friend", "user": 999_999_999u64}),
        "no_such_user",
    )
    .await?;
    a.fails(
        json!({"op": "chat", "to": 999_999_999u64, "text": "anyone?"}),
        "no_such_user",
    )
    .await?;
    assert_eq!(a.ok(json!({"op": "sync"})).await?["friends"], json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_such_group_for_every_group_op() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let g = 999_999_999u64;
    for req in [
        json!({"op": "join_group", "group": g}),
        json!({"op": "quit_group", "group": g}),
        json!({"op": "delete_group", "group": g}),
        json!({"op": "group_members", "group": g}),
        json!({"op": "group_chat", "group": g, "text": "hi"}),
        json!({"op": "history", "group": g}),
    ] {
        a.fails(req, "no_such_group").await?;
    }
    assert_eq!(a.ok(json!({"op": "sync"})).await?["groups"], json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_friends_from_either_side_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    a.fails(json!({"op": "add_friend", "user": idb}), "already_friends")
        .await?;
    b.fails(json!({"op": "add_friend", "user": ida}), "already_friends")
        .await?;
    assert_eq!(friend_ids(&a.ok(json!({"op": "sync"})).await?), vec![idb]);
    assert_eq!(friend_ids(&b.ok(json!({"op": "sync"})).await?), vec![ida]);
    // No second friend_added: bob's next event is the marker.
    chat(&mut a, idb, "marker").await?;
    let seen = events_before(&mut b, "marker").await?;
    assert!(of_kind(&seen, "friend_added").is_empty(), "{seen:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_friend_for_chat_history_and_remove_friend() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    a.fails(
        json!({"op": "chat", "to": idb, "text": "psst"}),
        "not_friend",
    )
    .await?;
    a.fails(json!({"op": "history", "with": idb}), "not_friend")
        .await?;
    a.fails(json!({"op": "remove_friend", "user": idb}), "not_friend")
        .await?;
    // Chatting with yourself is not chatting with a friend either.
    a.fails(json!({"op": "chat", "to": ida, "text": "me"}), "not_friend")
        .await?;
    // The refused message was never stored nor delivered: once friends,
    // the history is empty and bob's first message is the marker.
    befriend(&mut a, &mut b).await?;
    let r = a.ok(json!({"op": "history", "with": idb})).await?;
    assert_eq!(r["messages"], json!([]));
    chat(&mut a, idb, "marker").await?;
    let seen = events_before(&mut b, "marker").await?;
    assert!(texts(&seen).is_empty(), "{seen:?}");
    let mut b2 = server.client().await?;
    let r = b2.login(idb, PASSWORD).await?;
    assert_eq!(r["unread"], json!(1), "only the marker is unacked");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_member_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, _) = user(&server, "bob").await?;
    let gid = group(&mut a, "club").await?;
    a.fails(json!({"op": "join_group", "group": gid}), "already_member")
        .await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    a.event_of("member_joined").await?;
    b.fails(json!({"op": "join_group", "group": gid}), "already_member")
        .await?;
    let m = a.ok(json!({"op": "group_members", "group": gid})).await?;
    let roles: Vec<_> = m["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["role"].clone())
        .collect();
    assert_eq!(roles.len(), 2);
    assert!(
        roles.contains(&json!("creator")),
        "alice stays creator: {m}"
    );
    // No second member_joined.
    group_chat(&mut b, gid, "marker").await?;
    let seen = events_before(&mut a, "marker").await?;
    assert!(of_kind(&seen, "member_joined").is_empty(), "{seen:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_member_for_group_ops_of_an_outsider() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, _) = user(&server, "bob").await?;
    let gid = group(&mut a, "club").await?;
    group_chat(&mut a, gid, "members only").await?;
    for req in [
        json!({"op": "quit_group", "group": gid}),
        json!({"op": "delete_group", "group": gid}),
        json!({"op": "group_members", "group": gid}),
        json!({"op": "group_chat", "group": gid, "text": "let me in"}),
        json!({"op": "history", "group": gid}),
    ] {
        b.fails(req, "not_member").await?;
    }
    // The group is intact and got no message from the outsider.
    let r = a.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(history_texts(&r), vec!["members only"]);
    let m = a.ok(json!({"op": "group_members", "group": gid})).await?;
    assert_eq!(m["members"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_for_creator_quitting_and_member_deleting() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    a.fails(json!({"op": "quit_group", "group": gid}), "forbidden")
        .await?;
    b.fails(json!({"op": "delete_group", "group": gid}), "forbidden")
        .await?;
    // Both are still members, in their roles, and the group still works.
    let m = b.ok(json!({"op": "group_members", "group": gid})).await?;
    let mut members: Vec<(u64, String)> = m["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["id"].as_u64().unwrap_or(0),
                m["role"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    members.sort();
    let mut want = vec![(ida, "creator".to_owned()), (idb, "member".to_owned())];
    want.sort();
    assert_eq!(members, want);
    group_chat(&mut b, gid, "still here").await?;
    let ev = a.event_of("msg").await?;
    assert_eq!(ev["msg"]["text"], json!("still here"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_register_or_login_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    c.fails(
        json!({"op": "register", "name": "", "password": "secret-1"}),
        "bad_request",
    )
    .await?;
    let id = c.register("alice", "secret-1").await?;
    c.fails(
        json!({"op": "login", "user": id, "password": "wrong-one"}),
        "bad_credentials",
    )
    .await?;
    // The failed login did not change the password nor log in.
    c.fails(json!({"op": "whoami"}), "not_logged_in").await?;
    let r = c.login(id, "secret-1").await?;
    assert_eq!(r["user"]["name"], json!("alice"));
    Ok(())
}
