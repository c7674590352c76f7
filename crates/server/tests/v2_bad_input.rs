//! Bad input to the ops that protocol version 2 adds or extends: a field
//! that is missing, of the wrong type or out of range gets `bad_request`
//! whose `error` names the field, and changes nothing. Before login, each
//! of these ops is `not_logged_in`, whatever its fields.
//!
//! Each case has exactly one thing wrong, so the field to name is
//! unambiguous.

use chat_testkit::TestServer;
use chat_testkit::fixture::*;
use serde_json::{Value, json};

/// Everything alice and bob can see of their state, for before/after
/// comparisons: their lists and the group's members and roles.
async fn snapshot(
    a: &mut chat_testkit::TestClient,
    b: &mut chat_testkit::TestClient,
    gid: u64,
) -> anyhow::Result<Value> {
    let mut sa = a.ok(json!({"op": "sync"})).await?;
    let mut sb = b.ok(json!({"op": "sync"})).await?;
    sa["re"] = Value::Null;
    sb["re"] = Value::Null;
    let members = roles(a, gid).await?;
    let who = a.ok(json!({"op": "whoami"})).await?;
    Ok(json!({"a": sa, "b": sb, "members": members, "whoami": who["user"]}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_field_of_a_new_op_is_named_and_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (mut c, idc) = user(&server, "carol").await?;
    let gid = private_group(&mut a, "club").await?;
    a.ok(json!({"op": "invite", "group": gid, "user": idb}))
        .await?;
    b.event_of("group_invite").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    // A pending request carol -> alice, for the request ops to act on.
    request_friend(&mut c, &mut a).await?;
    let long_name = "n".repeat(65);
    let long_desc = "d".repeat(257);
    let long_password = "p".repeat(129);

    let mut cases: Vec<(Value, &str)> = Vec::new();
    for op in [
        "add_friend",
        "accept_friend",
        "decline_friend",
        "cancel_friend",
        "block",
        "unblock",
    ] {
        cases.push((json!({"op": op}), "user"));
        cases.push((json!({"op": op, "user": idc.to_string()}), "user"));
        cases.push((json!({"op": op, "user": -1}), "user"));
        cases.push((json!({"op": op, "user": 1.5}), "user"));
        cases.push((json!({"op": op, "user": null}), "user"));
        cases.push((json!({"op": op, "user": [idc]}), "user"));
    }
    cases.extend([
        (json!({"op": "change_password", "new": "password2"}), "old"),
        (
            json!({"op": "change_password", "old": 12345678, "new": "password2"}),
            "old",
        ),
        (json!({"op": "change_password", "old": PASSWORD}), "new"),
        (
            json!({"op": "change_password", "old": PASSWORD, "new": 12345678}),
            "new",
        ),
        (
            json!({"op": "change_password", "old": PASSWORD, "new": "short"}),
            "new",
        ),
        (
            json!({"op": "change_password", "old": PASSWORD, "new": long_password}),
            "new",
        ),
        (json!({"op": "delete_account"}), "password"),
        (
            json!({"op": "delete_account", "password": 12345678}),
            "password",
        ),
        (json!({"op": "logout", "everywhere": "yes"}), "everywhere"),
        (json!({"op": "logout", "everywhere": 1}), "everywhere"),
        (
            json!({"op": "logout", "everywhere": true, "revoke": "no"}),
            "revoke",
        ),
        (
            json!({"op": "create_group", "name": "x", "visibility": "secret"}),
            "visibility",
        ),
        (
            json!({"op": "create_group", "name": "x", "visibility": "PUBLIC"}),
            "visibility",
        ),
        (
            json!({"op": "create_group", "name": "x", "visibility": 1}),
            "visibility",
        ),
        (json!({"op": "update_group", "name": "x"}), "group"),
        (
            json!({"op": "update_group", "group": gid.to_string(), "name": "x"}),
            "group",
        ),
        (
            json!({"op": "update_group", "group": gid, "name": ""}),
            "name",
        ),
        (
            json!({"op": "update_group", "group": gid, "name": "   "}),
            "name",
        ),
        (
            json!({"op": "update_group", "group": gid, "name": 5}),
            "name",
        ),
        (
            json!({"op": "update_group", "group": gid, "name": long_name}),
            "name",
        ),
        (
            json!({"op": "update_group", "group": gid, "name": "a\u{7}b"}),
            "name",
        ),
        (
            json!({"op": "update_group", "group": gid, "desc": long_desc}),
            "desc",
        ),
        (
            json!({"op": "update_group", "group": gid, "desc": 5}),
            "desc",
        ),
        (
            json!({"op": "update_group", "group": gid, "visibility": "secret"}),
            "visibility",
        ),
        (
            json!({"op": "update_group", "group": gid, "visibility": true}),
            "visibility",
        ),
        (json!({"op": "join_group"}), "group"),
        (json!({"op": "join_group", "group": "club"}), "group"),
        (json!({"op": "invite", "user": idc}), "group"),
        (json!({"op": "invite", "group": gid}), "user"),
        (
            json!({"op": "invite", "group": gid, "user": "carol"}),
            "user",
        ),
        (json!({"op": "invite", "group": -1, "user": idc}), "group"),
        (json!({"op": "decline_invite"}), "group"),
        (json!({"op": "decline_invite", "group": -5}), "group"),
        (json!({"op": "kick", "user": idb}), "group"),
        (json!({"op": "kick", "group": gid}), "user"),
        (json!({"op": "kick", "group": gid, "user": 1.5}), "user"),
        (json!({"op": "set_role", "group": gid, "user": idb}), "role"),
        (
            json!({"op": "set_role", "group": gid, "user": idb, "role": "creator"}),
            "role",
        ),
        (
            json!({"op": "set_role", "group": gid, "user": idb, "role": "owner"}),
            "role",
        ),
        (
            json!({"op": "set_role", "group": gid, "user": idb, "role": ""}),
            "role",
        ),
        (
            json!({"op": "set_role", "group": gid, "user": idb, "role": 1}),
            "role",
        ),
        (
            json!({"op": "set_role", "group": gid, "role": "admin"}),
            "user",
        ),
        (
            json!({"op": "set_role", "user": idb, "role": "admin"}),
            "group",
        ),
        (json!({"op": "transfer_group", "group": gid}), "user"),
        (json!({"op": "transfer_group", "user": idb}), "group"),
        (
            json!({"op": "transfer_group", "group": gid, "user": -2}),
            "user",
        ),
        (json!({"op": "quit_group"}), "group"),
        (json!({"op": "quit_group", "group": [gid]}), "group"),
        (json!({"op": "delete_group"}), "group"),
        (json!({"op": "delete_group", "group": true}), "group"),
    ]);

    let before = snapshot(&mut a, &mut b, gid).await?;
    let mut wrong = Vec::new();
    for (req, field) in &cases {
        let r = a.request(req.clone()).await?;
        let named = r["error"].as_str().unwrap_or("").contains(field);
        if r["ok"] != json!(false) || r["code"] != json!("bad_request") || !named {
            wrong.push(format!(
                "{req}: expected bad_request naming `{field}`, got {r}"
            ));
        }
    }
    // update_group without any field to change: names one of them.
    let r = a
        .request(json!({"op": "update_group", "group": gid}))
        .await?;
    let error = r["error"].as_str().unwrap_or("");
    if r["code"] != json!("bad_request")
        || !["name", "desc", "visibility"]
            .iter()
            .any(|f| error.contains(f))
    {
        wrong.push(format!(
            "update_group without a field: expected bad_request naming name, desc or visibility, got {r}"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Nothing changed: lists, members and roles, the session, the
    // password.
    let after = snapshot(&mut a, &mut b, gid).await?;
    assert_eq!(after, before);
    let mut a2 = server.client().await?;
    a2.login(ida, PASSWORD).await?;
    // And nobody was told anything: bob's next event is a marker.
    group_chat(&mut a, gid, "marker").await?;
    let seen = events_before(&mut b, "marker").await?;
    assert_eq!(seen, Vec::<Value>::new());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_ops_need_a_login_whatever_their_fields() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    let frames = [
        json!({"op": "accept_friend", "user": 1}),
        json!({"op": "decline_friend", "user": 1}),
        json!({"op": "cancel_friend", "user": 1}),
        json!({"op": "block", "user": 1}),
        json!({"op": "unblock", "user": 1}),
        json!({"op": "change_password", "old": PASSWORD, "new": "password2"}),
        json!({"op": "delete_account", "password": PASSWORD}),
        json!({"op": "update_group", "group": 1, "name": "x"}),
        json!({"op": "invite", "group": 1, "user": 1}),
        json!({"op": "decline_invite", "group": 1}),
        json!({"op": "kick", "group": 1, "user": 1}),
        json!({"op": "set_role", "group": 1, "user": 1, "role": "admin"}),
        json!({"op": "transfer_group", "group": 1, "user": 1}),
        // Bad fields too: the login state comes first.
        json!({"op": "set_role", "group": 1, "user": 1, "role": "owner"}),
        json!({"op": "update_group", "group": 1}),
        json!({"op": "block"}),
        json!({"op": "change_password"}),
        json!({"op": "logout", "everywhere": "yes"}),
    ];
    for f in frames {
        c.fails(f, "not_logged_in").await?;
    }
    // Whereas a name that is no op stays unknown_op.
    c.fails(json!({"op": "befriend", "user": 1}), "unknown_op")
        .await?;
    c.fails(json!({"op": "unfriend", "user": 1}), "unknown_op")
        .await?;
    Ok(())
}
