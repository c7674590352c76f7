//! Every operation of the contract, done the way a client does it, with
//! the reply fields the contract documents and the events others see.

use chat_testkit::TestServer;
use chat_testkit::fixture::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_works_before_and_after_login() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    let r = c.ok(json!({"op": "ping"})).await?;
    assert_eq!(r["ok"], json!(true));
    assert!(r.get("code").is_none(), "a success has no code: {r}");
    c.signup("pinger").await?;
    c.ok(json!({"op": "ping"})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_returns_the_new_user() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    let r = c
        .ok(json!({"op": "register", "name": "alice", "password": "secret-1"}))
        .await?;
    let id = r["user"]["id"].as_u64().expect("user.id is a u64");
    assert_eq!(r["user"]["name"], json!("alice"));
    // Names need not be unique: a second alice is another account.
    let r2 = c
        .ok(json!({"op": "register", "name": "alice", "password": "secret-2"}))
        .await?;
    let id2 = r2["user"]["id"].as_u64().expect("user.id is a u64");
    assert_ne!(id, id2, "each registration is a new account");
    // Each logs in with its own password only.
    c.login(id, "secret-1").await?;
    let mut d = server.client().await?;
    d.fails(
        json!({"op": "login", "user": id2, "password": "secret-1"}),
        "bad_credentials",
    )
    .await?;
    d.login(id2, "secret-2").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_by_password_returns_user_token_and_empty_lists() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    let id = c.register("alice", "secret-1").await?;
    let r = c
        .ok(json!({"op": "login", "user": id, "password": "secret-1"}))
        .await?;
    assert_eq!(r["user"]["id"], json!(id));
    assert_eq!(r["user"]["name"], json!("alice"));
    let token = r["token"].as_str().expect("token is a string");
    assert!(!token.is_empty());
    assert_eq!(r["friends"], json!([]));
    assert_eq!(r["groups"], json!([]));
    assert_eq!(r["requests_in"], json!([]));
    assert_eq!(r["requests_out"], json!([]));
    assert_eq!(r["blocked"], json!([]));
    assert_eq!(r["invites"], json!([]));
    assert_eq!(r["unread"], json!(0));

    // A second password login issues a token too, and both work.
    let mut d = server.client().await?;
    let r2 = d
        .ok(json!({"op": "login", "user": id, "password": "secret-1"}))
        .await?;
    let token2 = r2["token"].as_str().expect("token is a string").to_owned();
    for t in [token.to_owned(), token2] {
        let mut e = server.client().await?;
        let r = e.ok(json!({"op": "login", "user": id, "token": t})).await?;
        assert_eq!(r["token"], json!(t));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_by_token_returns_same_token_friends_groups_and_unread() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    let token = b.token.clone().expect("bob has a token");
    b.ok(json!({"op": "logout"})).await?;
    chat(&mut a, idb, "while you were away").await?;

    let mut b2 = server.client().await?;
    let r = b2
        .ok(json!({"op": "login", "user": idb, "token": token}))
        .await?;
    assert_eq!(r["token"], json!(token), "a token login returns that token");
    assert_eq!(r["user"]["id"], json!(idb));
    assert_eq!(r["user"]["name"], json!("bob"));
    assert_eq!(
        r["friends"],
        json!([{"id": ida, "name": "alice", "online": true}])
    );
    assert_eq!(
        r["groups"],
        json!([{"id": gid, "name": "club", "desc": "about", "visibility": "public", "role": "member"}])
    );
    // The request was answered: nothing pending either way.
    assert_eq!(r["requests_in"], json!([]));
    assert_eq!(r["requests_out"], json!([]));
    assert_eq!(r["blocked"], json!([]));
    assert_eq!(r["invites"], json!([]));
    assert_eq!(r["unread"], json!(1));
    let m = b2.event_of("msg").await?;
    assert_eq!(m["msg"]["text"], json!("while you were away"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_keeps_the_connection_for_another_login() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    let id = c.signup("alice").await?;
    let r = c.ok(json!({"op": "logout"})).await?;
    assert_eq!(r["ok"], json!(true));
    c.fails(json!({"op": "whoami"}), "not_logged_in").await?;
    // The same connection logs in again, with the token this time.
    let token = c.token.clone().expect("token");
    c.ok(json!({"op": "login", "user": id, "token": token}))
        .await?;
    let r = c.ok(json!({"op": "whoami"})).await?;
    assert_eq!(r["user"]["id"], json!(id));
    // The token survived a logout without revoke.
    let mut d = server.client().await?;
    d.ok(json!({"op": "login", "user": id, "token": token}))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_with_revoke_invalidates_only_that_sessions_token() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c1 = server.client().await?;
    let id = c1.signup("alice").await?;
    let revoked = c1.token.clone().expect("token");
    let mut c2 = session(&server, id).await?;
    let kept = c2.token.clone().expect("token");
    assert_ne!(revoked, kept, "each password login has its own token");

    c1.ok(json!({"op": "logout", "revoke": true})).await?;
    let mut d = server.client().await?;
    d.fails(
        json!({"op": "login", "user": id, "token": revoked}),
        "bad_credentials",
    )
    .await?;
    d.ok(json!({"op": "login", "user": id, "token": kept}))
        .await?;
    // The other session is still logged in.
    let r = c2.ok(json!({"op": "whoami"})).await?;
    assert_eq!(r["user"]["id"], json!(id));
    // `revoke: false` revokes nothing.
    c2.ok(json!({"op": "logout", "revoke": false})).await?;
    let mut e = server.client().await?;
    e.ok(json!({"op": "login", "user": id, "token": kept}))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_names_the_logged_in_user() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let r = a.ok(json!({"op": "whoami"})).await?;
    assert_eq!(r["user"]["id"], json!(ida));
    assert_eq!(r["user"]["name"], json!("alice"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_lists_friends_with_presence_and_groups_with_roles() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (mut c, idc) = user(&server, "carol").await?;
    befriend(&mut a, &mut b).await?;
    befriend(&mut a, &mut c).await?;
    c.ok(json!({"op": "logout"})).await?;
    let mine = group(&mut a, "mine").await?;
    let theirs = group(&mut b, "theirs").await?;
    a.ok(json!({"op": "join_group", "group": theirs})).await?;

    let r = a.ok(json!({"op": "sync"})).await?;
    let mut friends = r["friends"].as_array().expect("friends").clone();
    friends.sort_by_key(|f| f["id"].as_u64());
    assert_eq!(
        friends,
        vec![
            json!({"id": idb, "name": "bob", "online": true}),
            json!({"id": idc, "name": "carol", "online": false}),
        ]
    );
    let mut groups = r["groups"].as_array().expect("groups").clone();
    groups.sort_by_key(|g| g["id"].as_u64());
    let mut want = vec![
        json!({"id": mine, "name": "mine", "desc": "about", "visibility": "public", "role": "creator"}),
        json!({"id": theirs, "name": "theirs", "desc": "about", "visibility": "public", "role": "member"}),
    ];
    want.sort_by_key(|g| g["id"].as_u64());
    assert_eq!(groups, want);
    // Both requests were accepted: nothing pending, nobody blocked.
    assert_eq!(r["requests_in"], json!([]));
    assert_eq!(r["requests_out"], json!([]));
    assert_eq!(r["blocked"], json!([]));
    assert_eq!(r["invites"], json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_friend_and_accept_friend_make_it_mutual_and_tell_the_other_side() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    // alice asks; bob is told who asks (no presence before friendship).
    let r = a.ok(json!({"op": "add_friend", "user": idb})).await?;
    assert_eq!(r["status"], json!("requested"));
    assert!(r.get("friend").is_none(), "a request is no friendship: {r}");
    let ev = b.event_of("friend_request").await?;
    assert_eq!(
        ev,
        json!({"ev": "friend_request", "user": {"id": ida, "name": "alice"}})
    );
    // bob accepts: his reply is the new friend, alice is told of bob.
    let r = b.ok(json!({"op": "accept_friend", "user": ida})).await?;
    assert_eq!(
        r["friend"],
        json!({"id": ida, "name": "alice", "online": true})
    );
    let ev = a.event_of("friend_added").await?;
    assert_eq!(ev["user"]["id"], json!(idb));
    assert_eq!(ev["user"]["name"], json!("bob"));
    assert_eq!(ev["user"]["online"], json!(true));
    assert!(ev.get("re").is_none(), "events carry no re: {ev}");

    let synced = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(friend_ids(&synced), vec![idb]);
    assert_eq!(synced["requests_out"], json!([]), "answered: {synced}");
    let synced = b.ok(json!({"op": "sync"})).await?;
    assert_eq!(friend_ids(&synced), vec![ida]);
    assert_eq!(synced["requests_in"], json!([]), "answered: {synced}");
    // Friends may chat both ways now.
    chat(&mut a, idb, "hi bob").await?;
    chat(&mut b, ida, "hi alice").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn befriending_an_offline_user_shows_them_offline() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let mut b = server.client().await?;
    let idb = b.register("bob", PASSWORD).await?;
    // alice asks bob while he is offline; the request waits for him.
    let r = a.ok(json!({"op": "add_friend", "user": idb})).await?;
    assert_eq!(r["status"], json!("requested"));
    let r = b.login(idb, PASSWORD).await?;
    assert_eq!(r["requests_in"], json!([{"id": ida, "name": "alice"}]));
    assert_eq!(r["friends"], json!([]));
    // alice goes offline; bob accepts and sees her offline.
    a.ok(json!({"op": "logout"})).await?;
    let r = b.ok(json!({"op": "accept_friend", "user": ida})).await?;
    assert_eq!(
        r["friend"],
        json!({"id": ida, "name": "alice", "online": false})
    );
    // alice sees bob as a friend when she logs in.
    let r = a.login(ida, PASSWORD).await?;
    assert_eq!(r["friends"][0]["name"], json!("bob"));
    assert_eq!(r["friends"][0]["online"], json!(true));
    assert_eq!(r["requests_out"], json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_friend_ends_it_for_both_sides() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let r = a.ok(json!({"op": "remove_friend", "user": idb})).await?;
    assert_eq!(r["ok"], json!(true));
    let ev = b.event_of("friend_removed").await?;
    assert_eq!(ev["user"], json!(ida), "friend_removed carries the id");
    assert_eq!(
        friend_ids(&a.ok(json!({"op": "sync"})).await?),
        Vec::<u64>::new()
    );
    assert_eq!(
        friend_ids(&b.ok(json!({"op": "sync"})).await?),
        Vec::<u64>::new()
    );
    b.fails(
        json!({"op": "chat", "to": ida, "text": "still there?"}),
        "not_friend",
    )
    .await?;
    // They can become friends again.
    befriend(&mut b, &mut a).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_returns_id_and_ts_and_delivers_the_message() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let before = now_ms();
    let r = a
        .ok(json!({"op": "chat", "to": idb, "text": "hello"}))
        .await?;
    let after = now_ms();
    let id = r["msg"]["id"].as_u64().expect("msg.id");
    let ts = r["msg"]["ts"].as_u64().expect("msg.ts");
    assert!(
        before.saturating_sub(5_000) <= ts && ts <= after + 5_000,
        "ts {ts} is the server's time in ms (now {before}..{after})"
    );
    let ev = b.event_of("msg").await?;
    assert_eq!(
        ev["msg"],
        json!({"id": id, "from": ida, "to": idb, "text": "hello", "ts": ts})
    );
    // A second message has another id.
    let id2 = chat(&mut a, idb, "again").await?;
    assert_ne!(id, id2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_group_makes_the_creator() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let r = a
        .ok(json!({"op": "create_group", "name": "rustaceans", "desc": "crabs only"}))
        .await?;
    let gid = r["group"]["id"].as_u64().expect("group.id");
    assert_eq!(
        r["group"],
        json!({"id": gid, "name": "rustaceans", "desc": "crabs only", "visibility": "public", "role": "creator"})
    );
    // Without desc: an empty description.
    let r = a.ok(json!({"op": "create_group", "name": "plain"})).await?;
    assert_eq!(r["group"]["desc"], json!(""));
    assert_eq!(r["group"]["role"], json!("creator"));
    assert_ne!(r["group"]["id"], json!(gid));
    let m = a.ok(json!({"op": "group_members", "group": gid})).await?;
    assert_eq!(
        m["members"],
        json!([{"id": ida, "name": "alice", "online": true, "role": "creator"}])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_group_makes_a_member_and_tells_the_others() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (mut c, idc) = user(&server, "carol").await?;
    let gid = group(&mut a, "club").await?;
    let r = b.ok(json!({"op": "join_group", "group": gid})).await?;
    assert_eq!(
        r["group"],
        json!({"id": gid, "name": "club", "desc": "about", "visibility": "public", "role": "member"})
    );
    let ev = a.event_of("member_joined").await?;
    assert_eq!(ev["group"], json!(gid));
    assert_eq!(ev["user"]["id"], json!(idb));
    assert_eq!(ev["user"]["name"], json!("bob"));

    c.ok(json!({"op": "join_group", "group": gid})).await?;
    for observer in [&mut a, &mut b] {
        let ev = observer.event_of("member_joined").await?;
        assert_eq!(ev["user"]["id"], json!(idc));
        assert_eq!(ev["group"], json!(gid));
    }
    // The joiner is not told of their own join: carol's next event is
    // the marker group message.
    group_chat(&mut a, gid, "marker").await?;
    let seen = events_before(&mut c, "marker").await?;
    assert!(of_kind(&seen, "member_joined").is_empty(), "{seen:?}");
    assert_eq!(group_ids(&b.ok(json!({"op": "sync"})).await?), vec![gid]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_group_removes_the_member_and_tells_the_others() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    a.event_of("member_joined").await?;
    let r = b.ok(json!({"op": "quit_group", "group": gid})).await?;
    assert_eq!(r["ok"], json!(true));
    let ev = a.event_of("member_left").await?;
    assert_eq!(ev["group"], json!(gid));
    assert_eq!(ev["user"]["id"], json!(idb));
    assert_eq!(ev["user"]["name"], json!("bob"));
    let m = a.ok(json!({"op": "group_members", "group": gid})).await?;
    let ids: Vec<_> = m["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(ida)]);
    assert_eq!(
        group_ids(&b.ok(json!({"op": "sync"})).await?),
        Vec::<u64>::new()
    );
    b.fails(
        json!({"op": "group_chat", "group": gid, "text": "hi"}),
        "not_member",
    )
    .await?;
    // A former member may join again.
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_group_tells_members_but_not_the_deleter() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, _) = user(&server, "bob").await?;
    let (mut c, _) = user(&server, "carol").await?;
    let (mut outsider, _) = user(&server, "dave").await?;
    befriend(&mut b, &mut a).await?;
    befriend(&mut outsider, &mut a).await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    c.ok(json!({"op": "join_group", "group": gid})).await?;

    let r = a.ok(json!({"op": "delete_group", "group": gid})).await?;
    assert_eq!(r["ok"], json!(true));
    for member in [&mut b, &mut c] {
        let ev = member.event_of("group_deleted").await?;
        assert_eq!(ev["group"], json!(gid));
    }
    // Neither the deleter nor a non-member hears of it: each one's next
    // event is a marker message sent afterwards.
    let ida = a.user.expect("id");
    chat(&mut b, ida, "marker").await?;
    let seen = events_before(&mut a, "marker").await?;
    assert!(of_kind(&seen, "group_deleted").is_empty(), "{seen:?}");
    chat(&mut a, outsider.user.expect("id"), "marker").await?;
    let seen = events_before(&mut outsider, "marker").await?;
    assert!(of_kind(&seen, "group_deleted").is_empty(), "{seen:?}");

    // The group is gone for everyone.
    assert_eq!(
        group_ids(&a.ok(json!({"op": "sync"})).await?),
        Vec::<u64>::new()
    );
    assert_eq!(
        group_ids(&b.ok(json!({"op": "sync"})).await?),
        Vec::<u64>::new()
    );
    b.fails(json!({"op": "join_group", "group": gid}), "no_such_group")
        .await?;
    a.fails(
        json!({"op": "group_members", "group": gid}),
        "no_such_group",
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_lists_roles_and_presence() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Trio {
        a: _alice_stays_online,
        mut b,
        mut c,
        ida,
        idb,
        idc,
        gid,
        ..
    } = Trio::new(&server).await?;
    c.ok(json!({"op": "logout"})).await?;

    let r = b.ok(json!({"op": "group_members", "group": gid})).await?;
    let mut members = r["members"].as_array().expect("members").clone();
    members.sort_by_key(|m| m["id"].as_u64());
    let mut want = vec![
        json!({"id": ida, "name": "alice", "online": true, "role": "creator"}),
        json!({"id": idb, "name": "bob", "online": true, "role": "member"}),
        json!({"id": idc, "name": "carol", "online": false, "role": "member"}),
    ];
    want.sort_by_key(|m| m["id"].as_u64());
    assert_eq!(members, want);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_chat_reaches_every_member_session_but_the_sending_one() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a1, ida) = user(&server, "alice").await?;
    let mut a2 = session(&server, ida).await?;
    let (mut b, _) = user(&server, "bob").await?;
    let (mut c, _) = user(&server, "carol").await?;
    let (mut outsider, _) = user(&server, "dave").await?;
    let gid = group(&mut a1, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    c.ok(json!({"op": "join_group", "group": gid})).await?;

    let r = a1
        .ok(json!({"op": "group_chat", "group": gid, "text": "hello club"}))
        .await?;
    let id = r["msg"]["id"].as_u64().expect("msg.id");
    let ts = r["msg"]["ts"].as_u64().expect("msg.ts");
    let want = json!({"id": id, "from": ida, "group": gid, "text": "hello club", "ts": ts});
    for s in [&mut a2, &mut b, &mut c] {
        let ev = s.event_of("msg").await?;
        assert_eq!(ev["msg"], want);
        assert!(ev["msg"].get("to").is_none(), "a group msg has no `to`");
    }
    // The sending session does not get its own message; the outsider
    // gets nothing. Markers bound the wait.
    group_chat(&mut b, gid, "marker").await?;
    let seen = events_before(&mut a1, "marker").await?;
    assert!(texts(&seen).is_empty(), "sending session got {seen:?}");
    befriend(&mut b, &mut outsider).await?;
    chat(&mut b, outsider.user.expect("id"), "marker").await?;
    let seen = events_before(&mut outsider, "marker").await?;
    assert!(texts(&seen).is_empty(), "outsider got {seen:?}");
    Ok(())
}

/// Sends `n` numbered messages from `from` to a friend or group.
async fn send_numbered(
    c: &mut chat_testkit::TestClient,
    target: Value,
    n: usize,
) -> anyhow::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for i in 0..n {
        let mut req = target.clone();
        req["text"] = json!(format!("m{i}"));
        let r = c.ok(req).await?;
        ids.push(r["msg"]["id"].as_u64().expect("msg.id"));
    }
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_a_conversation_is_newest_first_with_paging() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let ids = send_numbered(&mut a, json!({"op": "chat", "to": idb}), 5).await?;
    let reply_id = chat(&mut b, ida, "reply").await?;

    // Both sides see both directions, newest first.
    for (c, with) in [(&mut a, idb), (&mut b, ida)] {
        let r = c.ok(json!({"op": "history", "with": with})).await?;
        assert_eq!(
            history_texts(&r),
            vec!["reply", "m4", "m3", "m2", "m1", "m0"]
        );
        let first = &r["messages"][0];
        assert_eq!(first["id"], json!(reply_id));
        assert_eq!(first["from"], json!(idb));
        assert_eq!(first["to"], json!(ida));
        assert!(first["ts"].as_u64().is_some());
        assert!(first.get("cid").is_none(), "no cid given, none echoed");
    }

    // `limit` and `before` page backwards without gaps or repeats.
    let r = a
        .ok(json!({"op": "history", "with": idb, "limit": 2}))
        .await?;
    assert_eq!(history_texts(&r), vec!["reply", "m4"]);
    let r = a
        .ok(json!({"op": "history", "with": idb, "limit": 2, "before": ids[4]}))
        .await?;
    assert_eq!(history_texts(&r), vec!["m3", "m2"]);
    let r = a
        .ok(json!({"op": "history", "with": idb, "limit": 2, "before": ids[2]}))
        .await?;
    assert_eq!(history_texts(&r), vec!["m1", "m0"]);
    let r = a
        .ok(json!({"op": "history", "with": idb, "before": ids[0]}))
        .await?;
    assert_eq!(r["messages"], json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_a_group_and_default_limit_of_50() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, _) = user(&server, "bob").await?;
    let (mut c, idc) = user(&server, "carol").await?;
    befriend(&mut a, &mut c).await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    // 55 group messages, pipelined, and one private message that must not
    // show in the group's history.
    let frames: Vec<Value> = (0..55)
        .map(|i| json!({"op": "group_chat", "group": gid, "text": format!("g{i}")}))
        .collect();
    pipeline(&mut a, &frames, 1000).await?;
    replies(&mut a, 55, 1000).await?;
    chat(&mut a, idc, "private").await?;

    let r = b.ok(json!({"op": "history", "group": gid})).await?;
    let got = history_texts(&r);
    let want: Vec<String> = (5..55).rev().map(|i| format!("g{i}")).collect();
    assert_eq!(got, want, "default limit is 50, newest first");
    let m = &r["messages"][0];
    assert_eq!(m["group"], json!(gid));
    assert_eq!(m["from"], json!(ida));
    assert!(m.get("to").is_none());

    let r = b
        .ok(json!({"op": "history", "group": gid, "limit": 100}))
        .await?;
    assert_eq!(history_texts(&r).len(), 55);
    let r = b
        .ok(json!({"op": "history", "group": gid, "limit": 1}))
        .await?;
    assert_eq!(history_texts(&r), vec!["g54"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cid_is_echoed_only_when_given() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    a.ok(json!({"op": "chat", "to": idb, "text": "with cid", "cid": "c-1"}))
        .await?;
    a.ok(json!({"op": "chat", "to": idb, "text": "without"}))
        .await?;
    a.ok(json!({"op": "group_chat", "group": gid, "text": "group cid", "cid": "g-1"}))
        .await?;
    let got = msgs(&mut b, 3).await?;
    assert_eq!(got[0]["cid"], json!("c-1"));
    assert!(got[1].get("cid").is_none(), "{}", got[1]);
    assert_eq!(got[2]["cid"], json!("g-1"));

    let r = b.ok(json!({"op": "history", "with": ida})).await?;
    assert_eq!(history_texts(&r), vec!["without", "with cid"]);
    assert!(r["messages"][0].get("cid").is_none());
    assert_eq!(r["messages"][1]["cid"], json!("c-1"));
    let r = b.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(r["messages"][0]["cid"], json!("g-1"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_succeeds_and_stops_redelivery() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let id = chat(&mut a, idb, "ack me").await?;
    b.event_of("msg").await?;
    let r = b.ok(json!({"op": "ack", "ids": [id]})).await?;
    assert_eq!(r["ok"], json!(true));
    let mut b2 = server.client().await?;
    let r = b2.login(idb, PASSWORD).await?;
    assert_eq!(r["unread"], json!(0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_before_a_huge_id_clamps_instead_of_wrapping() -> anyhow::Result<()> {
    // Ids up to 2^64-1 are valid `before` values; every message is older
    // than 2^63, so each returns the whole (short) history.
    let server = TestServer::start().await?;
    let Trio {
        mut a, idb, gid, ..
    } = Trio::new(&server).await?;
    chat(&mut a, idb, "one").await?;
    group_chat(&mut a, gid, "two").await?;
    for before in [1u64 << 63, (1u64 << 63) + 1, u64::MAX] {
        let r = a
            .ok(json!({"op": "history", "with": idb, "before": before}))
            .await?;
        assert_eq!(history_texts(&r), vec!["one"], "before {before}");
        let r = a
            .ok(json!({"op": "history", "group": gid, "before": before}))
            .await?;
        assert_eq!(history_texts(&r), vec!["two"], "before {before}");
    }
    Ok(())
}
