//! Several nodes sharing MariaDB/MySQL and Redis, in this process: users on
//! different nodes talk as if on one. Each test has its own database and
//! Redis key prefix, so the suites run in parallel.

use std::time::Duration;

use chat_testkit::fixture::befriend;
use chat_testkit::{TestClient, TestServer, cluster_config};
use serde_json::json;

/// Two or more nodes on a fresh database; dropped with the test.
struct Cluster {
    nodes: Vec<TestServer>,
    db: String,
}

impl Cluster {
    async fn start(n: usize) -> Option<Cluster> {
        let mysql = chat_testkit::mysql_url()?;
        let redis = chat_testkit::redis_url()?;
        let db = chat_testkit::fresh_mysql_db(&mysql).await.unwrap();
        let prefix = chat_testkit::unique_name("chat_t");
        let mut nodes = Vec::new();
        for _ in 0..n {
            nodes.push(
                TestServer::start_config(cluster_config(&db, &redis, &prefix))
                    .await
                    .unwrap(),
            );
        }
        Some(Cluster { nodes, db })
    }

    async fn client(&self, node: usize) -> TestClient {
        self.nodes[node].client().await.unwrap()
    }

    /// alice on node 0 and bob on node 1, logged in and friends (alice
    /// asked, bob accepted).
    async fn friends_across(&self) -> (TestClient, u64, TestClient, u64) {
        let mut a = self.client(0).await;
        let mut b = self.client(1).await;
        let ida = a.signup("alice").await.unwrap();
        let idb = b.signup("bob").await.unwrap();
        befriend(&mut a, &mut b).await.unwrap();
        (a, ida, b, idb)
    }

    async fn stop(self) {
        for n in self.nodes {
            n.stop().await.unwrap();
        }
        chat_testkit::drop_mysql_db(&self.db).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_different_nodes_chat_and_see_presence() {
    let Some(c) = Cluster::start(2).await else {
        return;
    };
    let mut a = c.client(0).await;
    let mut b = c.client(1).await;
    let ida = a.signup("alice").await.unwrap();
    let idb = b.signup("bob").await.unwrap();

    // Friendship across nodes: bob's node hears of the request, alice's
    // of the acceptance, and each side sees the other online.
    let r = a
        .ok(json!({"op": "add_friend", "user": idb}))
        .await
        .unwrap();
    assert_eq!(r["status"], json!("requested"));
    let ev = b.event_of("friend_request").await.unwrap();
    assert_eq!(ev["user"]["id"], json!(ida));
    let r = b
        .ok(json!({"op": "accept_friend", "user": ida}))
        .await
        .unwrap();
    assert_eq!(
        r["friend"],
        json!({"id": ida, "name": "alice", "online": true}),
        "alice is online on the other node"
    );
    let ev = a.event_of("friend_added").await.unwrap();
    assert_eq!(ev["user"]["id"], json!(idb));
    assert_eq!(
        ev["user"]["online"],
        json!(true),
        "bob is online on the other node"
    );

    // One-to-one, both ways.
    let sent = a
        .ok(json!({"op": "chat", "to": idb, "text": "hi from node 0"}))
        .await
        .unwrap();
    let ev = b.event_of("msg").await.unwrap();
    assert_eq!(ev["msg"]["text"], json!("hi from node 0"));
    assert_eq!(ev["msg"]["id"], sent["msg"]["id"]);
    assert_eq!(ev["msg"]["from"], json!(ida));
    b.ok(json!({"op": "chat", "to": ida, "text": "hi back"}))
        .await
        .unwrap();
    assert_eq!(
        a.event_of("msg").await.unwrap()["msg"]["text"],
        json!("hi back")
    );

    // Presence across nodes: bob leaves, alice hears; bob returns.
    b.ok(json!({"op": "logout"})).await.unwrap();
    let ev = a.event_of("presence").await.unwrap();
    assert_eq!(
        (ev["user"].clone(), ev["online"].clone()),
        (json!(idb), json!(false))
    );
    let synced = a.ok(json!({"op": "sync"})).await.unwrap();
    assert_eq!(synced["friends"][0]["online"], json!(false));

    // Offline message stored by node 0, delivered by node 1 at login.
    let off = a
        .ok(json!({"op": "chat", "to": idb, "text": "while you were away"}))
        .await
        .unwrap();
    let r = b.login(idb, "password1").await.unwrap();
    assert!(r["unread"].as_u64().unwrap() >= 1);
    let mut texts = Vec::new();
    loop {
        let ev = b.event_of("msg").await.unwrap();
        texts.push(ev["msg"]["text"].as_str().unwrap().to_owned());
        if ev["msg"]["id"] == off["msg"]["id"] {
            break;
        }
    }
    assert!(texts.contains(&"while you were away".to_owned()));
    let ev = a.event_of("presence").await.unwrap();
    assert_eq!(ev["online"], json!(true));

    // The sender's other session, on the other node, sees the sent message.
    let mut a2 = c.client(1).await;
    a2.login(ida, "password1").await.unwrap();
    let mine = a
        .ok(json!({"op": "chat", "to": idb, "text": "copy to my other device"}))
        .await
        .unwrap();
    // a2's login replayed alice's unacked inbox ("hi back") first.
    let ev = loop {
        let ev = a2.event_of("msg").await.unwrap();
        if ev["msg"]["from"] == json!(ida) {
            break ev;
        }
    };
    assert_eq!(ev["msg"]["id"], mine["msg"]["id"]);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_chat_spans_nodes() {
    let Some(c) = Cluster::start(2).await else {
        return;
    };
    let mut a = c.client(0).await;
    let mut b = c.client(1).await;
    let mut d = c.client(1).await;
    let ida = a.signup("alice").await.unwrap();
    let idb = b.signup("bob").await.unwrap();
    let idd = d.signup("dora").await.unwrap();
    let g = a
        .ok(json!({"op": "create_group", "name": "cross", "desc": "two nodes"}))
        .await
        .unwrap();
    let gid = g["group"]["id"].as_u64().unwrap();
    b.ok(json!({"op": "join_group", "group": gid}))
        .await
        .unwrap();
    let ev = a.event_of("member_joined").await.unwrap();
    assert_eq!(ev["user"]["id"], json!(idb));
    d.ok(json!({"op": "join_group", "group": gid}))
        .await
        .unwrap();
    let members = a
        .ok(json!({"op": "group_members", "group": gid}))
        .await
        .unwrap();
    let online: Vec<bool> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["online"].as_bool().unwrap())
        .collect();
    assert_eq!(
        online,
        vec![true, true, true],
        "members on the other node are online"
    );

    let sent = a
        .ok(json!({"op": "group_chat", "group": gid, "text": "hello group"}))
        .await
        .unwrap();
    for cl in [&mut b, &mut d] {
        let ev = cl.event_of("msg").await.unwrap();
        assert_eq!(ev["msg"]["group"], json!(gid));
        assert_eq!(ev["msg"]["id"], sent["msg"]["id"]);
    }
    d.ok(json!({"op": "group_chat", "group": gid, "text": "from node 1"}))
        .await
        .unwrap();
    assert_eq!(a.event_of("msg").await.unwrap()["msg"]["from"], json!(idd));

    a.ok(json!({"op": "delete_group", "group": gid}))
        .await
        .unwrap();
    assert_eq!(
        b.event_of("group_deleted").await.unwrap()["group"],
        json!(gid)
    );
    assert_eq!(
        d.event_of("group_deleted").await.unwrap()["group"],
        json!(gid)
    );
    let _ = ida;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_ids_are_unique_and_ordered_across_nodes() {
    let Some(c) = Cluster::start(2).await else {
        return;
    };
    let (mut a, ida, mut b, idb) = c.friends_across().await;
    let mut ids = std::collections::HashSet::new();
    for i in 0..50 {
        let r = a
            .ok(json!({"op": "chat", "to": idb, "text": format!("a{i}")}))
            .await
            .unwrap();
        assert!(ids.insert(r["msg"]["id"].as_u64().unwrap()));
        let r = b
            .ok(json!({"op": "chat", "to": ida, "text": format!("b{i}")}))
            .await
            .unwrap();
        assert!(ids.insert(r["msg"]["id"].as_u64().unwrap()));
    }
    assert!(ids.iter().all(|&id| id < 1u64 << 53));
    // bob received alice's 50 in order.
    let mut got = Vec::new();
    while got.len() < 50 {
        let ev = b.event_of("msg").await.unwrap();
        if ev["msg"]["from"] == json!(ida) {
            got.push(ev["msg"]["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(got, (0..50).map(|i| format!("a{i}")).collect::<Vec<_>>());
    let _ = tokio::time::timeout(Duration::from_millis(10), async {}).await;
    c.stop().await;
}

/// Retries `frame` until it fails with `code` (an invalidation crosses the
/// bus in milliseconds; this bounds the wait).
async fn until_fails(c: &mut TestClient, frame: serde_json::Value, code: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = c.request(frame.clone()).await.unwrap();
        if r["code"] == json!(code) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{frame} still gives {r}, not {code}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_node_take_effect_on_the_others() {
    let Some(c) = Cluster::start(2).await else {
        return;
    };
    let (mut a, ida, mut b, idb) = c.friends_across().await;
    // bob's node now knows the friendship (and caches it).
    b.ok(json!({"op": "chat", "to": ida, "text": "hi"}))
        .await
        .unwrap();
    a.ok(json!({"op": "remove_friend", "user": idb}))
        .await
        .unwrap();
    until_fails(
        &mut b,
        json!({"op": "chat", "to": ida, "text": "still?"}),
        "not_friend",
    )
    .await;
    b.fails(json!({"op": "history", "with": ida}), "not_friend")
        .await
        .unwrap();

    // Groups: a member on node 1 loses access when node 0 changes things.
    let g = a
        .ok(json!({"op": "create_group", "name": "g", "desc": ""}))
        .await
        .unwrap()["group"]["id"]
        .as_u64()
        .unwrap();
    b.ok(json!({"op": "join_group", "group": g})).await.unwrap();
    b.ok(json!({"op": "group_chat", "group": g, "text": "in"}))
        .await
        .unwrap();
    a.ok(json!({"op": "delete_group", "group": g}))
        .await
        .unwrap();
    until_fails(
        &mut b,
        json!({"op": "group_chat", "group": g, "text": "gone?"}),
        "no_such_group",
    )
    .await;
    // A group made after a failed lookup of its id is usable at once.
    let mut d = c.client(1).await;
    d.signup("dora").await.unwrap();
    let g2 = d
        .ok(json!({"op": "create_group", "name": "g2", "desc": ""}))
        .await
        .unwrap()["group"]["id"]
        .as_u64()
        .unwrap();
    d.ok(json!({"op": "group_chat", "group": g2, "text": "mine"}))
        .await
        .unwrap();
    b.ok(json!({"op": "join_group", "group": g2}))
        .await
        .unwrap();
    b.ok(json!({"op": "group_chat", "group": g2, "text": "joined"}))
        .await
        .unwrap();
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_marks_its_users_offline_at_once() {
    let Some(mut c) = Cluster::start(2).await else {
        return;
    };
    // alice stays connected: her node's shutdown, not her leaving, must tell bob.
    let (_alice, ida, mut b, _) = c.friends_across().await;
    let node0 = c.nodes.remove(0);
    let started = std::time::Instant::now();
    node0.stop().await.unwrap();
    let ev = b.event_of("presence").await.unwrap();
    assert_eq!(ev, json!({"ev": "presence", "user": ida, "online": false}));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let friends = b.ok(json!({"op": "sync"})).await.unwrap()["friends"].clone();
    assert_eq!(friends[0]["online"], json!(false));
    c.stop().await;
}
