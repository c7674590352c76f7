//! Durability across a graceful restart on the same SQLite file, and what
//! clients see while the server shuts down.

use chat_testkit::fixture::*;
use chat_testkit::{TestClient, TestServer};
use serde_json::{Value, json};

/// Stops `server` gracefully and starts a new one on the same file.
async fn restart(server: TestServer) -> anyhow::Result<(TestServer, tempfile::TempDir)> {
    let db = server.db.clone();
    let dir = server
        .stop()
        .await?
        .expect("the test server owns its folder");
    let server = TestServer::start_config(chat_testkit::test_config(db)).await?;
    Ok((server, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_a_restart() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    let (mut c, idc) = user(&server, "carol").await?;
    befriend(&mut a, &mut b).await?;
    let gid = group(&mut a, "club").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    c.ok(json!({"op": "join_group", "group": gid})).await?;
    // Bob reads and acks one message, then goes offline; more arrive.
    let seen = chat(&mut a, idb, "seen").await?;
    b.event_of("msg").await?;
    b.ok(json!({"op": "ack", "ids": [seen]})).await?;
    let b_token = b.token.clone().expect("token");
    b.ok(json!({"op": "logout"})).await?;
    let mut unacked = vec![chat(&mut a, idb, "unseen 1").await?];
    unacked.push(group_chat(&mut a, gid, "group while away").await?);
    unacked.push(
        a.ok(json!({"op": "chat", "to": idb, "text": "unseen 2", "cid": "k"}))
            .await?["msg"]["id"]
            .as_u64()
            .expect("id"),
    );
    // Carol asks bob to be friends; he has not answered yet.
    let r = c.ok(json!({"op": "add_friend", "user": idb})).await?;
    assert_eq!(r["status"], json!("requested"));
    // Carol revokes her token; alice's stays.
    let c_token = c.token.clone().expect("token");
    c.ok(json!({"op": "logout", "revoke": true})).await?;
    let a_token = a.token.clone().expect("token");
    drop((a, b, c));

    let (server, _dir) = restart(server).await?;

    // Bob logs in with his old token and gets exactly the unacked ones.
    let mut b = server.client().await?;
    let r = b
        .ok(json!({"op": "login", "user": idb, "token": b_token}))
        .await?;
    assert_eq!(r["token"], json!(b_token));
    assert_eq!(r["user"]["name"], json!("bob"));
    assert_eq!(friend_ids(&r), vec![ida]);
    assert_eq!(
        r["groups"],
        json!([{"id": gid, "name": "club", "desc": "about", "visibility": "public", "role": "member"}])
    );
    // The pending request survives too.
    assert_eq!(r["requests_in"], json!([{"id": idc, "name": "carol"}]));
    assert_eq!(r["requests_out"], json!([]));
    assert_eq!(r["blocked"], json!([]));
    assert_eq!(r["invites"], json!([]));
    assert_eq!(r["unread"], json!(3));
    let got = msgs(&mut b, 3).await?;
    let ids: Vec<u64> = got.iter().filter_map(|m| m["id"].as_u64()).collect();
    assert_eq!(ids, unacked);
    assert_eq!(got[1]["group"], json!(gid));
    assert_eq!(got[2]["cid"], json!("k"));

    // Alice's token and password work; her group is still hers.
    let mut a = server.client().await?;
    let r = a
        .ok(json!({"op": "login", "user": ida, "token": a_token}))
        .await?;
    assert_eq!(r["groups"][0]["role"], json!("creator"));
    let mut a2 = server.client().await?;
    a2.login(ida, PASSWORD).await?;
    // Carol's revoked token stays revoked; her password works.
    let mut c = server.client().await?;
    c.fails(
        json!({"op": "login", "user": idc, "token": c_token}),
        "bad_credentials",
    )
    .await?;
    let r = c.login(idc, PASSWORD).await?;
    assert_eq!(r["requests_out"], json!([{"id": idb, "name": "bob"}]));

    // History is intact.
    let r = b.ok(json!({"op": "history", "with": ida})).await?;
    assert_eq!(history_texts(&r), vec!["unseen 2", "unseen 1", "seen"]);
    let r = c.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(history_texts(&r), vec!["group while away"]);
    let m = c.ok(json!({"op": "group_members", "group": gid})).await?;
    assert_eq!(m["members"].as_array().map(Vec::len), Some(3));

    // A cid retry after the restart is still recognised.
    let r = a
        .ok(json!({"op": "chat", "to": idb, "text": "unseen 2", "cid": "k"}))
        .await?;
    assert_eq!(r["msg"]["id"], json!(unacked[2]));
    // New messages get new ids: a client dropping duplicates by id must
    // not drop them.
    let fresh = chat(&mut a, idb, "after restart").await?;
    assert!(!unacked.contains(&fresh) && fresh != seen);
    // (The retry may deliver its original again: bob has it unacked.)
    let ev = loop {
        let ev = b.event_of("msg").await?;
        if ev["msg"]["id"] != json!(unacked[2]) {
            break ev;
        }
    };
    assert_eq!(ev["msg"]["id"], json!(fresh));
    // New accounts and groups do not reuse ids either.
    let (_d, idd) = user(&server, "dave").await?;
    assert!(![ida, idb, idc].contains(&idd));
    let g2 = group(&mut a, "second").await?;
    assert_ne!(g2, gid);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_that_got_ok_survives_an_immediate_stop() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    drop(b);
    let frames: Vec<Value> = (0..300)
        .map(|i| json!({"op": "chat", "to": idb, "text": format!("m{i}")}))
        .collect();
    pipeline(&mut a, &frames, 1).await?;
    let rs = replies(&mut a, 300, 1).await?;
    assert!(rs.iter().all(|r| r["ok"] == json!(true)));
    // Stop right after the last ok.
    let (server, _dir) = restart(server).await?;
    let mut b = server.client().await?;
    let r = b.login(idb, PASSWORD).await?;
    assert_eq!(r["unread"], json!(300));
    let got = msgs(&mut b, 300).await?;
    let want: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let got: Vec<String> = got
        .iter()
        .map(|m| m["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(got, want);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_at_shutdown_get_replies_and_oks_are_kept() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    drop(b);
    let frames: Vec<Value> = (0..500)
        .map(|i| json!({"op": "chat", "to": idb, "text": format!("m{i}")}))
        .collect();
    pipeline(&mut a, &frames, 1).await?;
    // Once the server is working on them, stop it; the client reads on.
    let first = a.recv_reply().await?;
    assert_eq!(first["re"], json!(1));
    let db = server.db.clone();
    let stopping = tokio::spawn(server.stop());
    let mut seen = vec![first];
    seen.extend(a.until_closed().await?);
    let dir = stopping.await??.expect("folder");
    // The replies are a prefix of the requests, in order; every one that
    // was accepted is ok or says the server is unavailable.
    let replies: Vec<&Value> = seen.iter().filter(|f| f.get("ev").is_none()).collect();
    let mut oks = Vec::new();
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r["re"], json!(i + 1), "replies in order: {r}");
        if r["ok"] == json!(true) {
            oks.push(format!("m{i}"));
        } else {
            assert_eq!(r["code"], json!("unavailable"), "{r}");
        }
    }
    // Everything that got ok is there after a restart.
    let server = TestServer::start_config(chat_testkit::test_config(db)).await?;
    let mut b = server.client().await?;
    let r = b.login(idb, PASSWORD).await?;
    let unread = r["unread"].as_u64().expect("unread") as usize;
    let got = msgs(&mut b, unread).await?;
    let got: Vec<String> = got
        .iter()
        .map(|m| m["text"].as_str().unwrap_or("").to_owned())
        .collect();
    for text in &oks {
        assert!(got.contains(text), "{text} got ok but was lost");
    }
    drop(dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_stop_connections_are_closed_and_new_ones_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let addr = server.addr;
    let (mut a, _) = user(&server, "alice").await?;
    let mut idle = server.client().await?;
    let _dir = server.stop().await?;
    // Logged in or not, each connection is closed.
    assert_eq!(a.until_closed().await?, Vec::<Value>::new());
    assert_eq!(idle.until_closed().await?, Vec::<Value>::new());
    assert!(
        TestClient::connect(addr).await.is_err(),
        "nothing listens after stop"
    );
    Ok(())
}
