//! Offline delivery and the at-least-once guarantee: unacked messages are
//! pushed after every login until acked, oldest first; `cid` retries are
//! idempotent; one sender's messages arrive in order.

use chat_testkit::fixture::*;
use chat_testkit::{TestClient, TestServer};
use serde_json::{Value, json};

/// Logs in `id` on a new connection and reads the login reply followed by
/// exactly the `unread` messages it announces, checking that the reply
/// comes first.
async fn login_and_replay(
    server: &TestServer,
    id: u64,
) -> anyhow::Result<(TestClient, Value, Vec<Value>)> {
    let mut c = server.client().await?;
    c.send(&json!({"op": "login", "id": 1, "user": id, "password": PASSWORD}))
        .await?;
    let reply = c.recv_frame().await?.expect("login reply");
    assert_eq!(
        reply["re"],
        json!(1),
        "the login reply comes first: {reply}"
    );
    assert_eq!(reply["ok"], json!(true), "{reply}");
    c.user = Some(id);
    let unread = reply["unread"].as_u64().expect("unread") as usize;
    let mut replayed = Vec::new();
    while replayed.len() < unread {
        let ev = c.next_event().await?;
        if ev["ev"] == json!("msg") {
            replayed.push(ev["msg"].clone());
        }
    }
    Ok((c, reply, replayed))
}

fn texts_of(msgs: &[Value]) -> Vec<&str> {
    msgs.iter()
        .map(|m| m["text"].as_str().unwrap_or(""))
        .collect()
}

fn ids_of(msgs: &[Value]) -> Vec<u64> {
    msgs.iter().filter_map(|m| m["id"].as_u64()).collect()
}

/// Bob, registered and befriended by alice, then logged out.
async fn alice_and_offline_bob(server: &TestServer) -> anyhow::Result<(TestClient, u64, u64)> {
    let (mut a, ida) = user(server, "alice").await?;
    let (mut b, idb) = user(server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    b.ok(json!({"op": "logout"})).await?;
    Ok((a, ida, idb))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_messages_follow_the_login_reply_oldest_first() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida, idb) = alice_and_offline_bob(&server).await?;
    let mut sent = Vec::new();
    for t in ["one", "two", "three"] {
        sent.push(chat(&mut a, idb, t).await?);
    }
    let (_b, reply, got) = login_and_replay(&server, idb).await?;
    assert_eq!(reply["unread"], json!(3));
    assert_eq!(texts_of(&got), vec!["one", "two", "three"]);
    assert_eq!(ids_of(&got), sent);
    assert_eq!(got[0]["from"], json!(ida));
    assert_eq!(got[0]["to"], json!(idb));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_messages_come_back_on_every_login_until_acked() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _, idb) = alice_and_offline_bob(&server).await?;
    for t in ["one", "two", "three"] {
        chat(&mut a, idb, t).await?;
    }
    // Two logins without acks: the same three each time.
    for _ in 0..2 {
        let (b, reply, got) = login_and_replay(&server, idb).await?;
        assert_eq!(reply["unread"], json!(3));
        assert_eq!(texts_of(&got), vec!["one", "two", "three"]);
        drop(b);
    }
    // Ack the first one: the other two remain.
    let (mut b, _, got) = login_and_replay(&server, idb).await?;
    b.ok(json!({"op": "ack", "ids": [got[0]["id"]]})).await?;
    let (mut b, reply, got) = login_and_replay(&server, idb).await?;
    assert_eq!(reply["unread"], json!(2));
    assert_eq!(texts_of(&got), vec!["two", "three"]);
    // Ack the rest: nothing comes back.
    b.ok(json!({"op": "ack", "ids": ids_of(&got)})).await?;
    let (_b, reply, got) = login_and_replay(&server, idb).await?;
    assert_eq!(reply["unread"], json!(0));
    assert!(got.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_received_live_but_not_acked_are_redelivered() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let id = chat(&mut a, idb, "live").await?;
    let ev = b.event_of("msg").await?;
    assert_eq!(ev["msg"]["id"], json!(id));
    drop(b);
    let (_b, reply, got) = login_and_replay(&server, idb).await?;
    assert_eq!(reply["unread"], json!(1));
    assert_eq!(ids_of(&got), vec![id]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_drops_mid_replay_gets_everything_next_time() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _, idb) = alice_and_offline_bob(&server).await?;
    let frames: Vec<Value> = (0..300)
        .map(|i| json!({"op": "chat", "to": idb, "text": format!("m{i}")}))
        .collect();
    pipeline(&mut a, &frames, 1000).await?;
    replies(&mut a, 300, 1000).await?;
    // Read the reply and a few messages, then drop the connection.
    let mut b = server.client().await?;
    b.send(&json!({"op": "login", "id": 1, "user": idb, "password": PASSWORD}))
        .await?;
    let reply = b.recv_frame().await?.expect("login reply");
    assert_eq!(reply["unread"], json!(300));
    for _ in 0..5 {
        b.next_event().await?;
    }
    drop(b);
    let (_b, reply, got) = login_and_replay(&server, idb).await?;
    assert_eq!(reply["unread"], json!(300));
    let want: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    assert_eq!(texts_of(&got), want);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acking_unknown_or_foreign_ids_is_ignored() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let Trio {
        mut a,
        mut b,
        mut c,
        idb,
        ..
    } = Trio::new(&server).await?;
    b.ok(json!({"op": "logout"})).await?;
    let to_bob = chat(&mut a, idb, "for bob").await?;
    // Carol acks bob's message and ids that do not exist; alice (the
    // sender) acks it too: all ignored, all ok.
    let r = c
        .ok(json!({"op": "ack", "ids": [to_bob, 999_999_999_999u64, 0]}))
        .await?;
    assert_eq!(r["ok"], json!(true));
    a.ok(json!({"op": "ack", "ids": [to_bob]})).await?;
    let (_b, reply, got) = login_and_replay(&server, idb).await?;
    assert_eq!(reply["unread"], json!(1), "bob's message is still unacked");
    assert_eq!(ids_of(&got), vec![to_bob]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_senders_own_messages_are_not_redelivered_to_the_sender() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    chat(&mut a, idb, "mine").await?;
    group_chat(&mut a, gid, "mine too").await?;
    drop(a);
    let (mut a2, reply, got) = login_and_replay(&server, ida).await?;
    assert_eq!(reply["unread"], json!(0), "{reply}");
    assert!(got.is_empty());
    // Nothing follows the reply but the marker; history has both.
    chat(&mut b, ida, "marker").await?;
    let seen = events_before(&mut a2, "marker").await?;
    assert!(texts(&seen).is_empty(), "{seen:?}");
    let r = a2.ok(json!({"op": "history", "with": idb})).await?;
    assert_eq!(history_texts(&r), vec!["marker", "mine"]);
    let r = a2.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(history_texts(&r), vec!["mine too"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_messages_wait_for_offline_members() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    b.ok(json!({"op": "logout"})).await?;
    let id1 = group_chat(&mut a, gid, "first").await?;
    let id2 = group_chat(&mut a, gid, "second").await?;
    let (_b, reply, got) = login_and_replay(&server, idb).await?;
    assert_eq!(reply["unread"], json!(2));
    assert_eq!(ids_of(&got), vec![id1, id2]);
    assert_eq!(got[0]["group"], json!(gid));
    assert_eq!(got[0]["from"], json!(ida));
    assert!(got[0].get("to").is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_from_one_session_counts_for_all() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b1, idb) = user(&server, "bob").await?;
    let mut b2 = session(&server, idb).await?;
    befriend(&mut a, &mut b1).await?;
    b2.event_of("friend_request").await?;
    let id = chat(&mut a, idb, "both see this").await?;
    for s in [&mut b1, &mut b2] {
        let ev = s.event_of("msg").await?;
        assert_eq!(ev["msg"]["id"], json!(id));
    }
    b1.ok(json!({"op": "ack", "ids": [id]})).await?;
    let (_b3, reply, _) = login_and_replay(&server, idb).await?;
    assert_eq!(reply["unread"], json!(0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_message_during_login_is_not_lost() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _, idb) = alice_and_offline_bob(&server).await?;
    let frames: Vec<Value> = (0..200)
        .map(|i| json!({"op": "chat", "to": idb, "text": format!("m{i}")}))
        .collect();
    pipeline(&mut a, &frames[..100], 1000).await?;
    replies(&mut a, 100, 1000).await?;
    // Bob logs in while alice keeps sending.
    let mut b = server.client().await?;
    b.send(&json!({"op": "login", "id": 1, "user": idb, "password": PASSWORD}))
        .await?;
    pipeline(&mut a, &frames[100..], 2000).await?;
    replies(&mut a, 100, 2000).await?;
    let reply = b.recv_frame().await?.expect("login reply");
    assert_eq!(reply["re"], json!(1));
    // Every message arrives (duplicates allowed, the client drops them by
    // id), and in order once duplicates are dropped.
    let mut seen = std::collections::HashSet::new();
    let mut order = Vec::new();
    while order.len() < 200 {
        let ev = b.next_event().await?;
        if ev["ev"] == json!("msg") && seen.insert(ev["msg"]["id"].as_u64()) {
            order.push(ev["msg"]["text"].as_str().unwrap_or("").to_owned());
        }
    }
    let want: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    assert_eq!(order, want);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cid_retry_returns_the_original_and_stores_nothing_new() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let first = a
        .ok(json!({"op": "chat", "to": idb, "text": "once", "cid": "retry-1"}))
        .await?;
    let again = a
        .ok(json!({"op": "chat", "to": idb, "text": "once", "cid": "retry-1"}))
        .await?;
    assert_eq!(again["msg"]["id"], first["msg"]["id"]);
    // Even with another text, the retry is the original.
    let third = a
        .ok(json!({"op": "chat", "to": idb, "text": "changed", "cid": "retry-1"}))
        .await?;
    assert_eq!(third["msg"]["id"], first["msg"]["id"]);

    chat(&mut a, idb, "marker").await?;
    let seen = events_before(&mut b, "marker").await?;
    // A retry may deliver the original again (its first delivery could
    // have died with a node), never anything new: one message by id, as
    // a client that drops duplicates by id shows it.
    assert!(
        seen.iter()
            .all(|e| e["ev"] != json!("msg") || e["msg"]["id"] == first["msg"]["id"]),
        "only the original: {seen:?}"
    );
    let mut ids = std::collections::HashSet::new();
    let shown: Vec<&Value> = seen
        .iter()
        .filter(|e| e["ev"] == json!("msg") && ids.insert(e["msg"]["id"].clone()))
        .collect();
    assert_eq!(shown.len(), 1, "one copy by id: {seen:?}");
    assert_eq!(shown[0]["msg"]["text"], json!("once"));
    let r = b.ok(json!({"op": "history", "with": ida})).await?;
    assert_eq!(history_texts(&r), vec!["marker", "once"]);
    drop(b);
    let (_b, reply, got) = login_and_replay(&server, idb).await?;
    assert_eq!(reply["unread"], json!(2));
    assert_eq!(texts_of(&got), vec!["once", "marker"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cid_is_per_sender_and_works_for_groups() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    // The same cid from two senders is two messages.
    let m1 = a
        .ok(json!({"op": "chat", "to": idb, "text": "from alice", "cid": "same"}))
        .await?;
    let m2 = b
        .ok(json!({"op": "chat", "to": ida, "text": "from bob", "cid": "same"}))
        .await?;
    assert_ne!(m1["msg"]["id"], m2["msg"]["id"]);
    // A group retry is idempotent too.
    let g1 = a
        .ok(json!({"op": "group_chat", "group": gid, "text": "hello", "cid": "g"}))
        .await?;
    let g2 = a
        .ok(json!({"op": "group_chat", "group": gid, "text": "hello", "cid": "g"}))
        .await?;
    assert_eq!(g1["msg"]["id"], g2["msg"]["id"]);
    let r = b.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(history_texts(&r), vec!["hello"]);
    let r = b.ok(json!({"op": "history", "with": ida})).await?;
    assert_eq!(history_texts(&r), vec!["from bob", "from alice"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_cid_retries_in_one_write_store_one_message() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let frames: Vec<Value> = (0..10)
        .map(|_| json!({"op": "chat", "to": idb, "text": "dup", "cid": "burst"}))
        .collect();
    pipeline(&mut a, &frames, 1000).await?;
    let rs = replies(&mut a, 10, 1000).await?;
    for r in &rs {
        assert_eq!(r["ok"], json!(true), "{r}");
        assert_eq!(r["msg"]["id"], rs[0]["msg"]["id"], "{r}");
    }
    let r = b.ok(json!({"op": "history", "with": ida})).await?;
    assert_eq!(history_texts(&r), vec!["dup"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pipelined_messages_arrive_in_order() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (mut c, _) = user(&server, "carol").await?;
    befriend(&mut a, &mut b).await?;
    befriend(&mut a, &mut c).await?;
    let gid = group(&mut a, "club").await?;
    c.ok(json!({"op": "join_group", "group": gid})).await?;
    // 500 messages to bob interleaved with 500 to the group, in one write.
    let mut frames = Vec::new();
    for i in 0..500 {
        frames.push(json!({"op": "chat", "to": idb, "text": format!("b{i}")}));
        frames.push(json!({"op": "group_chat", "group": gid, "text": format!("g{i}")}));
    }
    pipeline(&mut a, &frames, 1).await?;
    let rs = replies(&mut a, 1000, 1).await?;
    let sent_to_bob: Vec<Value> = rs
        .iter()
        .step_by(2)
        .map(|r| r["msg"]["id"].clone())
        .collect();
    for r in &rs {
        assert_eq!(r["ok"], json!(true), "{r}");
    }
    let got = msgs(&mut b, 500).await?;
    let want: Vec<String> = (0..500).map(|i| format!("b{i}")).collect();
    assert_eq!(texts_of(&got), want);
    let got_ids: Vec<Value> = got.iter().map(|m| m["id"].clone()).collect();
    assert_eq!(
        got_ids, sent_to_bob,
        "events carry the ids the replies gave"
    );
    let got = msgs(&mut c, 500).await?;
    let want: Vec<String> = (0..500).map(|i| format!("g{i}")).collect();
    assert_eq!(texts_of(&got), want);
    Ok(())
}
