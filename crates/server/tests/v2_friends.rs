//! Friendship by consent (protocol version 2): `add_friend` sends a request
//! the target must accept; crossing requests make a friendship at once;
//! `accept_friend`, `decline_friend` and `cancel_friend` answer or withdraw
//! a request; the requests show in `requests_in` / `requests_out` of
//! `login` and `sync`; presence flows only between friends.
//!
//! Events that must *not* come are bounded by a marker message sent by the
//! actor afterwards, through a group both sides are in (they are not
//! friends, so `chat` is not available).

use chat_testkit::fixture::*;
use chat_testkit::{TestClient, TestServer};
use serde_json::{Value, json};

/// The user objects of list `key` in `reply`, as they are.
fn list(reply: &Value, key: &str) -> Vec<Value> {
    reply[key].as_array().cloned().unwrap_or_default()
}

/// A fresh session of `id` and its `login` reply.
async fn login_reply(server: &TestServer, id: u64) -> anyhow::Result<(TestClient, Value)> {
    let mut c = server.client().await?;
    let r = c.login(id, PASSWORD).await?;
    Ok((c, r))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_friend_sends_a_request_listed_on_both_sides() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b1, idb) = user(&server, "bob").await?;
    let mut b2 = session(&server, idb).await?;

    let r = a.ok(json!({"op": "add_friend", "user": idb})).await?;
    assert_eq!(r["status"], json!("requested"), "{r}");
    assert!(r.get("friend").is_none(), "no friend yet: {r}");

    // Every session of the target hears of it; the user has no `online`.
    for b in [&mut b1, &mut b2] {
        let ev = b.event_of("friend_request").await?;
        assert_eq!(
            ev,
            json!({"ev": "friend_request", "user": {"id": ida, "name": "alice"}})
        );
    }

    // Listed on both sides, in sync and in a new login, and not as friends.
    // Reading: a request list is not a friend list, and a pending request
    // gives no presence, so its users carry no `online`.
    let want_in = vec![json!({"id": ida, "name": "alice"})];
    let want_out = vec![json!({"id": idb, "name": "bob"})];
    for r in [
        b1.ok(json!({"op": "sync"})).await?,
        login_reply(&server, idb).await?.1,
    ] {
        assert_eq!(list(&r, "requests_in"), want_in, "{r}");
        assert_eq!(list(&r, "requests_out"), Vec::<Value>::new(), "{r}");
        assert_eq!(friend_ids(&r), Vec::<u64>::new(), "{r}");
    }
    for r in [
        a.ok(json!({"op": "sync"})).await?,
        login_reply(&server, ida).await?.1,
    ] {
        assert_eq!(list(&r, "requests_out"), want_out, "{r}");
        assert_eq!(list(&r, "requests_in"), Vec::<Value>::new(), "{r}");
        assert_eq!(friend_ids(&r), Vec::<u64>::new(), "{r}");
    }

    // A request is not a friendship: no chat yet.
    a.fails(
        json!({"op": "chat", "to": idb, "text": "hi?"}),
        "not_friend",
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_sync_carry_every_list_even_when_empty() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    let id = c.register("alice", PASSWORD).await?;
    let r = c.login(id, PASSWORD).await?;
    let s = c.ok(json!({"op": "sync"})).await?;
    for reply in [&r, &s] {
        for key in [
            "friends",
            "groups",
            "requests_in",
            "requests_out",
            "blocked",
            "invites",
        ] {
            assert_eq!(reply[key], json!([]), "{key} in {reply}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_a_request_again_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let gid = marker_group(&mut a, &mut [&mut b]).await?;

    request_friend(&mut a, &mut b).await?;
    let r = a.ok(json!({"op": "add_friend", "user": idb})).await?;
    assert_eq!(r["status"], json!("requested"), "{r}");
    assert!(r.get("friend").is_none(), "{r}");
    group_chat(&mut a, gid, "marker").await?;
    let seen = events_before(&mut b, "marker").await?;
    assert!(
        of_kind(&seen, "friend_request").is_empty(),
        "no second friend_request: {seen:?}"
    );

    let s = b.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_in"), vec![ida]);
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_out"), vec![idb]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crossing_request_makes_friends_at_once() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a1, ida) = user(&server, "alice").await?;
    let mut a2 = session(&server, ida).await?;
    let (mut b, idb) = user(&server, "bob").await?;
    request_friend(&mut a1, &mut b).await?;

    // Bob asks alice in turn: that accepts her request.
    let r = b.ok(json!({"op": "add_friend", "user": ida})).await?;
    assert_eq!(r["status"], json!("friends"), "{r}");
    assert_eq!(
        r["friend"],
        json!({"id": ida, "name": "alice", "online": true})
    );
    // Alice, the requester, hears of it on every session.
    for a in [&mut a1, &mut a2] {
        let ev = a.event_of("friend_added").await?;
        assert_eq!(
            ev,
            json!({"ev": "friend_added", "user": {"id": idb, "name": "bob", "online": true}})
        );
    }
    for (c, other) in [(&mut a1, idb), (&mut b, ida)] {
        let s = c.ok(json!({"op": "sync"})).await?;
        assert_eq!(friend_ids(&s), vec![other], "{s}");
        assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
        assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new(), "{s}");
    }
    chat(&mut a1, idb, "friends now").await?;
    chat(&mut b, ida, "yes").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_friend_makes_friends_and_tells_the_requester() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a1, ida) = user(&server, "alice").await?;
    let mut a2 = session(&server, ida).await?;
    let (mut b, idb) = user(&server, "bob").await?;
    request_friend(&mut a1, &mut b).await?;

    let r = b.ok(json!({"op": "accept_friend", "user": ida})).await?;
    assert_eq!(
        r["friend"],
        json!({"id": ida, "name": "alice", "online": true})
    );
    for a in [&mut a1, &mut a2] {
        let ev = a.event_of("friend_added").await?;
        assert_eq!(
            ev,
            json!({"ev": "friend_added", "user": {"id": idb, "name": "bob", "online": true}})
        );
    }
    // Both see each other in friends, with presence; the request is gone.
    let s = a1.ok(json!({"op": "sync"})).await?;
    assert_eq!(
        list(&s, "friends"),
        vec![json!({"id": idb, "name": "bob", "online": true})]
    );
    assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new());
    let s = b.ok(json!({"op": "sync"})).await?;
    assert_eq!(
        list(&s, "friends"),
        vec![json!({"id": ida, "name": "alice", "online": true})]
    );
    assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new());

    // Answering again: the request is gone, and they are friends.
    b.fails(
        json!({"op": "accept_friend", "user": ida}),
        "no_such_request",
    )
    .await?;
    b.fails(json!({"op": "add_friend", "user": ida}), "already_friends")
        .await?;
    a1.fails(json!({"op": "add_friend", "user": idb}), "already_friends")
        .await?;

    // Chat works both ways.
    chat(&mut a1, idb, "hello bob").await?;
    assert_eq!(b.event_of("msg").await?["msg"]["text"], json!("hello bob"));
    chat(&mut b, ida, "hello alice").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_friend_of_an_offline_requester_shows_them_offline() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, _) = user(&server, "bob").await?;
    request_friend(&mut a, &mut b).await?;
    a.ok(json!({"op": "logout"})).await?;
    let r = b.ok(json!({"op": "accept_friend", "user": ida})).await?;
    assert_eq!(
        r["friend"],
        json!({"id": ida, "name": "alice", "online": false})
    );
    // Alice learns of it at her next login.
    let r = a.login(ida, PASSWORD).await?;
    assert_eq!(friend_ids(&r), vec![b.user.expect("id")]);
    assert_eq!(r["friends"][0]["online"], json!(true));
    assert_eq!(user_ids(&r, "requests_out"), Vec::<u64>::new());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_friend_drops_the_request_without_telling_the_requester() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let gid = marker_group(&mut b, &mut [&mut a]).await?;
    request_friend(&mut a, &mut b).await?;

    let r = b.ok(json!({"op": "decline_friend", "user": ida})).await?;
    assert_eq!(r, json!({"re": r["re"], "ok": true}), "no result fields");
    group_chat(&mut b, gid, "marker").await?;
    let seen = events_before(&mut a, "marker").await?;
    assert_eq!(seen, Vec::<Value>::new(), "the requester hears nothing");

    // Gone from both lists; no friendship.
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new(), "{s}");
    assert_eq!(friend_ids(&s), Vec::<u64>::new());
    let s = b.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
    assert_eq!(friend_ids(&s), Vec::<u64>::new());
    b.fails(
        json!({"op": "accept_friend", "user": ida}),
        "no_such_request",
    )
    .await?;
    b.fails(
        json!({"op": "decline_friend", "user": ida}),
        "no_such_request",
    )
    .await?;
    a.fails(json!({"op": "chat", "to": idb, "text": "?"}), "not_friend")
        .await?;

    // Alice may ask again; bob hears of the new request.
    request_friend(&mut a, &mut b).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_friend_withdraws_and_tells_the_target() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b1, idb) = user(&server, "bob").await?;
    let mut b2 = session(&server, idb).await?;
    request_friend(&mut a, &mut b1).await?;
    b2.event_of("friend_request").await?;

    let r = a.ok(json!({"op": "cancel_friend", "user": idb})).await?;
    assert_eq!(r, json!({"re": r["re"], "ok": true}), "no result fields");
    for b in [&mut b1, &mut b2] {
        let ev = b.event_of("friend_request_cancelled").await?;
        assert_eq!(ev, json!({"ev": "friend_request_cancelled", "user": ida}));
    }
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new(), "{s}");
    let s = b1.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
    b1.fails(
        json!({"op": "accept_friend", "user": ida}),
        "no_such_request",
    )
    .await?;
    a.fails(
        json!({"op": "cancel_friend", "user": idb}),
        "no_such_request",
    )
    .await?;
    // Bob may now ask alice; it is a fresh request, not a friendship.
    let r = b1.ok(json!({"op": "add_friend", "user": ida})).await?;
    assert_eq!(r["status"], json!("requested"), "{r}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_such_request_when_there_is_none() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (_c, idc) = user(&server, "carol").await?;
    let (mut d, idd) = user(&server, "dave").await?;

    // Nothing pending at all, and an id that is nobody: no request either.
    // Reading: these ops list only `no_such_request`, so an unknown id, or
    // yourself, is simply a request that does not exist.
    for op in ["accept_friend", "decline_friend", "cancel_friend"] {
        for who in [idb, 999_999_999, ida] {
            a.fails(json!({"op": op, "user": who}), "no_such_request")
                .await?;
        }
    }

    // A pending request alice -> carol is outgoing for alice: she cannot
    // accept or decline it, and carol cannot cancel it.
    a.ok(json!({"op": "add_friend", "user": idc})).await?;
    a.fails(
        json!({"op": "accept_friend", "user": idc}),
        "no_such_request",
    )
    .await?;
    a.fails(
        json!({"op": "decline_friend", "user": idc}),
        "no_such_request",
    )
    .await?;
    let mut c = session(&server, idc).await?;
    c.fails(
        json!({"op": "cancel_friend", "user": ida}),
        "no_such_request",
    )
    .await?;
    // The failures changed nothing: the request is still there.
    let s = c.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_in"), vec![ida]);

    // Between friends there is no request to answer.
    befriend(&mut b, &mut d).await?;
    for (x, other) in [(&mut b, idd), (&mut d, idb)] {
        for op in ["accept_friend", "decline_friend", "cancel_friend"] {
            x.fails(json!({"op": op, "user": other}), "no_such_request")
                .await?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_friend_errors_change_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;

    a.fails(
        json!({"op": "add_friend", "user": 999_999_999}),
        "no_such_user",
    )
    .await?;
    let r = a
        .fails(json!({"op": "add_friend", "user": ida}), "bad_request")
        .await?;
    assert!(
        r["error"].as_str().unwrap_or("").contains("user"),
        "the error names the field: {r}"
    );
    let s = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new(), "{s}");
    assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
    assert_eq!(friend_ids(&s), Vec::<u64>::new(), "{s}");

    befriend(&mut a, &mut b).await?;
    a.fails(json!({"op": "add_friend", "user": idb}), "already_friends")
        .await?;
    b.fails(json!({"op": "add_friend", "user": ida}), "already_friends")
        .await?;
    // Still friends, and no request was left behind.
    for c in [&mut a, &mut b] {
        let s = c.ok(json!({"op": "sync"})).await?;
        assert_eq!(friend_ids(&s).len(), 1, "{s}");
        assert_eq!(user_ids(&s, "requests_out"), Vec::<u64>::new(), "{s}");
        assert_eq!(user_ids(&s, "requests_in"), Vec::<u64>::new(), "{s}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_friend_needs_a_new_request_to_be_friends_again() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    a.ok(json!({"op": "remove_friend", "user": idb})).await?;
    let ev = b.event_of("friend_removed").await?;
    assert_eq!(ev, json!({"ev": "friend_removed", "user": ida}));
    // No friendship and no request comes back on its own.
    let r = b.ok(json!({"op": "add_friend", "user": ida})).await?;
    assert_eq!(r["status"], json!("requested"), "{r}");
    let ev = a.event_of("friend_request").await?;
    assert_eq!(ev["user"]["id"], json!(idb));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_request_gives_no_presence() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let gid = marker_group(&mut b, &mut [&mut a]).await?;
    request_friend(&mut a, &mut b).await?;

    // Bob comes and goes on another session, then leaves entirely and
    // returns: alice, who only asked, hears nothing of it.
    let mut b2 = session(&server, idb).await?;
    b2.ok(json!({"op": "logout"})).await?;
    b.ok(json!({"op": "logout"})).await?;
    b.login(idb, PASSWORD).await?;
    group_chat(&mut b, gid, "marker 1").await?;
    let seen = events_before(&mut a, "marker 1").await?;
    assert!(of_kind(&seen, "presence").is_empty(), "{seen:?}");
    // Likewise bob hears nothing of alice.
    a.ok(json!({"op": "logout"})).await?;
    a.login(ida, PASSWORD).await?;
    group_chat(&mut a, gid, "marker 2").await?;
    let seen = events_before(&mut b, "marker 2").await?;
    assert!(of_kind(&seen, "presence").is_empty(), "{seen:?}");

    // Once accepted, presence flows both ways.
    b.ok(json!({"op": "accept_friend", "user": ida})).await?;
    a.event_of("friend_added").await?;
    b.ok(json!({"op": "logout"})).await?;
    let ev = a.event_of("presence").await?;
    assert_eq!(ev, json!({"ev": "presence", "user": idb, "online": false}));
    b.login(idb, PASSWORD).await?;
    let ev = a.event_of("presence").await?;
    assert_eq!(ev, json!({"ev": "presence", "user": idb, "online": true}));
    a.ok(json!({"op": "logout"})).await?;
    let ev = b.event_of("presence").await?;
    assert_eq!(ev, json!({"ev": "presence", "user": ida, "online": false}));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_an_offline_user_is_listed_at_their_login() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let mut b = server.client().await?;
    let idb = b.register("bob", PASSWORD).await?;
    let r = a.ok(json!({"op": "add_friend", "user": idb})).await?;
    assert_eq!(r["status"], json!("requested"));
    let r = b.login(idb, PASSWORD).await?;
    assert_eq!(
        list(&r, "requests_in"),
        vec![json!({"id": ida, "name": "alice"})]
    );
    // Accepting after the login works as well.
    let r = b.ok(json!({"op": "accept_friend", "user": ida})).await?;
    assert_eq!(r["friend"]["id"], json!(ida));
    a.event_of("friend_added").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accepters_other_sessions_learn_of_the_new_friend() -> anyhow::Result<()> {
    // Reading: the events table sends `friend_added` to "the other side";
    // the proto crate documents it also as "you accepted theirs on another
    // session", and a device that did not accept must learn that its
    // friend list changed without polling `sync`.
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b1, idb) = user(&server, "bob").await?;
    let mut b2 = session(&server, idb).await?;
    request_friend(&mut a, &mut b1).await?;
    b2.event_of("friend_request").await?;
    b1.ok(json!({"op": "accept_friend", "user": ida})).await?;
    let ev = b2.event_of("friend_added").await?;
    assert_eq!(
        ev,
        json!({"ev": "friend_added", "user": {"id": ida, "name": "alice", "online": true}})
    );
    Ok(())
}
