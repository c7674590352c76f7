//! Events pushed between replies: presence to friends, `msg` fan-out to
//! every session of the recipient and the sender's other sessions, and the
//! friendship events on every session of the other side.

use chat_testkit::TestServer;
use chat_testkit::fixture::*;
use serde_json::{Value, json};

/// Waits for a presence event saying `user` is `online`; skips presence
/// events of the opposite state that were true when sent.
async fn wait_presence(
    c: &mut chat_testkit::TestClient,
    user: u64,
    online: bool,
) -> anyhow::Result<()> {
    loop {
        let ev = c.event_of("presence").await?;
        if ev == json!({"ev": "presence", "user": user, "online": online}) {
            return Ok(());
        }
    }
}

fn presence(events: &[Value], user: u64) -> Vec<bool> {
    events
        .iter()
        .filter(|e| e["ev"] == json!("presence") && e["user"] == json!(user))
        .map(|e| e["online"].as_bool().unwrap_or(false))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_on_first_login_and_last_logout_only() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    b.ok(json!({"op": "logout"})).await?;
    // (A presence saying bob is online may come first: bob's login may
    // announce itself after the friendship was made. It is true, and
    // harmless.)
    wait_presence(&mut a, idb, false).await?;

    // First session: online.
    b.login(idb, PASSWORD).await?;
    let ev = a.event_of("presence").await?;
    assert_eq!(ev, json!({"ev": "presence", "user": idb, "online": true}));
    // A second session and its logout change nothing for friends.
    let mut b2 = session(&server, idb).await?;
    b2.ok(json!({"op": "logout"})).await?;
    chat(&mut b, ida, "marker").await?;
    let seen = events_before(&mut a, "marker").await?;
    assert_eq!(presence(&seen, idb), Vec::<bool>::new(), "{seen:?}");

    // Last session ends: offline.
    b.ok(json!({"op": "logout"})).await?;
    let ev = a.event_of("presence").await?;
    assert_eq!(ev, json!({"ev": "presence", "user": idb, "online": false}));
    let r = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(r["friends"][0]["online"], json!(false));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_offline_when_the_last_connection_drops() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b1, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b1).await?;
    let b2 = session(&server, idb).await?;
    drop(b1);
    // One session left: still online; the marker comes first.
    let mut b2 = b2;
    chat(&mut b2, a.user.expect("id"), "marker").await?;
    let seen = events_before(&mut a, "marker").await?;
    assert!(!presence(&seen, idb).contains(&false), "{seen:?}");
    drop(b2);
    let ev = a.event_of("presence").await?;
    assert_eq!(ev, json!({"ev": "presence", "user": idb, "online": false}));
    let r = a.ok(json!({"op": "sync"})).await?;
    assert_eq!(r["friends"][0]["online"], json!(false));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_goes_only_to_friends() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut stranger, _) = user(&server, "eve").await?;
    let mut b = server.client().await?;
    let idb = b.register("bob", PASSWORD).await?;
    // The stranger learns nothing of bob coming and going.
    b.login(idb, PASSWORD).await?;
    b.ok(json!({"op": "logout"})).await?;
    befriend(&mut stranger, &mut a).await?;
    chat(&mut a, stranger.user.expect("id"), "marker").await?;
    let seen = events_before(&mut stranger, "marker").await?;
    assert_eq!(presence(&seen, idb), Vec::<bool>::new(), "{seen:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msg_reaches_every_recipient_session_and_the_senders_others() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a1, ida) = user(&server, "alice").await?;
    let mut a2 = session(&server, ida).await?;
    let (mut b1, idb) = user(&server, "bob").await?;
    let mut b2 = session(&server, idb).await?;
    befriend(&mut a1, &mut b1).await?;
    let r = a1
        .ok(json!({"op": "chat", "to": idb, "text": "to all of bob"}))
        .await?;
    let id = r["msg"]["id"].clone();
    for s in [&mut b1, &mut b2, &mut a2] {
        let ev = s.event_of("msg").await?;
        assert_eq!(ev["msg"]["id"], id);
        assert_eq!(ev["msg"]["from"], json!(ida));
        assert_eq!(ev["msg"]["to"], json!(idb));
        assert_eq!(ev["msg"]["text"], json!("to all of bob"));
    }
    // The sending session does not get it back.
    chat(&mut b1, ida, "marker").await?;
    let seen = events_before(&mut a1, "marker").await?;
    assert!(texts(&seen).is_empty(), "sending session got {seen:?}");
    // Bob's sending session likewise; his other session sees his reply.
    let ev = b2.event_of("msg").await?;
    assert_eq!(ev["msg"]["text"], json!("marker"));
    assert_eq!(ev["msg"]["from"], json!(idb));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friendship_events_reach_every_session_of_the_other_side() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let mut a2 = session(&server, ida).await?;
    let (mut b1, idb) = user(&server, "bob").await?;
    let mut b2 = session(&server, idb).await?;
    // The request reaches every session of the target...
    a.ok(json!({"op": "add_friend", "user": idb})).await?;
    for s in [&mut b1, &mut b2] {
        let ev = s.event_of("friend_request").await?;
        assert_eq!(ev["user"]["id"], json!(ida));
        assert_eq!(ev["user"]["name"], json!("alice"));
    }
    // ...and the acceptance every session of the requester.
    b1.ok(json!({"op": "accept_friend", "user": ida})).await?;
    for s in [&mut a, &mut a2] {
        let ev = s.event_of("friend_added").await?;
        assert_eq!(ev["user"]["id"], json!(idb));
        assert_eq!(ev["user"]["name"], json!("bob"));
    }
    a.ok(json!({"op": "remove_friend", "user": idb})).await?;
    for s in [&mut b1, &mut b2] {
        let ev = s.event_of("friend_removed").await?;
        assert_eq!(ev, json!({"ev": "friend_removed", "user": ida}));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_valid_frames_without_re() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    chat(&mut b, ida, "hi").await?;
    b.ok(json!({"op": "quit_group", "group": gid})).await?;
    b.ok(json!({"op": "logout"})).await?;
    let mut kinds = Vec::new();
    while kinds.len() < 4 {
        let ev = a.next_event().await?;
        assert!(ev.get("re").is_none(), "an event carries no re: {ev}");
        assert!(ev.get("ok").is_none(), "an event is not a reply: {ev}");
        // Bob's login may announce him online after the friendship was
        // made; that one is true and beside the point here.
        if ev == json!({"ev": "presence", "user": idb, "online": true}) {
            continue;
        }
        kinds.push(ev["ev"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(
        kinds,
        vec!["member_joined", "msg", "member_left", "presence"]
    );
    Ok(())
}
