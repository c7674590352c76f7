//! The cluster under failure, against the real services: a node killed
//! with SIGKILL behind nginx, Redis restarted during traffic, the database
//! unreachable. In every case no message that got `ok` is lost.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use chat_testkit::fixture::{befriend, receive_all};
use chat_testkit::{Child, TcpProxy, TestClient, TestServer, cluster_config};
use serde_json::json;

/// Starts the `chatserver` binary as a cluster node on `port`.
async fn spawn_node(dir: &Path, port: u16, db: &str, redis: &str, prefix: &str) -> Child {
    let args = ["--db", db, "--redis", redis, "--redis-prefix", prefix];
    let log = dir.join(format!("node-{port}.log"));
    chat_testkit::spawn_chatserver(env!("CARGO_BIN_EXE_chatserver"), port, &args, &log)
        .await
        .unwrap()
}

/// A redis-server of the test's own (which it may kill) and two nodes on
/// it, sharing a fresh database: (redis port, redis, database, nodes).
async fn two_nodes_on_private_redis(mysql: &str) -> (u16, Child, String, TestServer, TestServer) {
    let port = chat_testkit::free_port().unwrap();
    let redis = chat_testkit::spawn_redis(port).await.unwrap();
    let redis_url = format!("redis://127.0.0.1:{port}");
    let db = chat_testkit::fresh_mysql_db(mysql).await.unwrap();
    let prefix = chat_testkit::unique_name("chat_t");
    let n0 = TestServer::start_config(cluster_config(&db, &redis_url, &prefix))
        .await
        .unwrap();
    let n1 = TestServer::start_config(cluster_config(&db, &redis_url, &prefix))
        .await
        .unwrap();
    (port, redis, db, n0, n1)
}

async fn connect(port: u16) -> TestClient {
    TestClient::connect(([127, 0, 0, 1], port).into())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_heals_presence_and_its_clients_resume_through_nginx() {
    let (Some(mysql), Some(redis), Some(nginx)) = (
        chat_testkit::mysql_url(),
        chat_testkit::redis_url(),
        chat_testkit::nginx_path(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = chat_testkit::fresh_mysql_db(&mysql).await.unwrap();
    let prefix = chat_testkit::unique_name("chat_t");
    let (p1, p2, lb) = (
        chat_testkit::free_port().unwrap(),
        chat_testkit::free_port().unwrap(),
        chat_testkit::free_port().unwrap(),
    );
    let mut victim = spawn_node(dir.path(), p1, &db, &redis, &prefix).await;
    let _survivor = spawn_node(dir.path(), p2, &db, &redis, &prefix).await;
    let _lb = chat_testkit::spawn_nginx(&nginx, dir.path(), lb, &[p1, p2])
        .await
        .unwrap();

    // Two users on the doomed node, one on the survivor; all friends.
    let mut a = connect(p1).await;
    let ida = a.signup("alice").await.unwrap();
    let mut c = connect(p1).await;
    let idc = c.signup("carol").await.unwrap();
    let mut b = connect(p2).await;
    let idb = b.signup("bob").await.unwrap();
    befriend(&mut a, &mut b).await.unwrap();
    befriend(&mut c, &mut b).await.unwrap();
    let token_a = a.token.clone().unwrap();

    // bob writes; alice reads everything live but acks only the first two.
    let mut sent = Vec::new();
    for i in 0..5 {
        let r = b
            .ok(json!({"op": "chat", "to": ida, "text": format!("m{i}")}))
            .await
            .unwrap();
        sent.push(r["msg"]["id"].as_u64().unwrap());
    }
    receive_all(
        &mut a,
        &sent.iter().copied().collect(),
        Duration::from_secs(10),
    )
    .await;
    a.ok(json!({"op": "ack", "ids": [sent[0], sent[1]]}))
        .await
        .unwrap();

    // kill -9 the node holding alice and carol.
    let killed_at = Instant::now();
    victim.kill9();
    assert!(
        a.until_closed().await.is_ok(),
        "alice's connection dies with the node"
    );

    // bob keeps writing to alice while she is gone.
    for i in 5..7 {
        let r = b
            .ok(json!({"op": "chat", "to": ida, "text": format!("m{i}")}))
            .await
            .unwrap();
        sent.push(r["msg"]["id"].as_u64().unwrap());
    }

    // The survivor reports both gone within 15 s, without anyone logging out.
    let mut offline = HashSet::new();
    while offline.len() < 2 {
        let ev = b.event_of("presence").await.unwrap();
        if ev["online"] == json!(false) {
            offline.insert(ev["user"].as_u64().unwrap());
        }
    }
    let healed = killed_at.elapsed();
    assert_eq!(offline, HashSet::from([ida, idc]));
    assert!(
        healed < Duration::from_secs(15),
        "presence healed in {healed:?}"
    );
    let friends = b.ok(json!({"op": "sync"})).await.unwrap()["friends"].clone();
    assert!(
        friends
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["online"] == json!(false))
    );

    // alice reconnects through nginx (the dead node refuses; nginx moves on)
    // with her token, and gets every message she had not acked, in order.
    let mut a2 = connect(lb).await;
    let r = a2
        .ok(json!({"op": "login", "user": ida, "token": token_a}))
        .await
        .unwrap();
    assert_eq!(r["token"], json!(token_a));
    assert_eq!(r["unread"], json!(5));
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(
            a2.event_of("msg").await.unwrap()["msg"]["id"]
                .as_u64()
                .unwrap(),
        );
    }
    assert_eq!(got, sent[2..].to_vec());
    assert_eq!(
        b.event_of("presence").await.unwrap(),
        json!({"ev": "presence", "user": ida, "online": true})
    );

    // And the conversation goes on through nginx.
    a2.ok(json!({"op": "chat", "to": idb, "text": "back"}))
        .await
        .unwrap();
    assert_eq!(
        b.event_of("msg").await.unwrap()["msg"]["text"],
        json!("back")
    );
    chat_testkit::drop_mysql_db(&db).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_during_traffic_loses_nothing() {
    let (Some(mysql), Some(_)) = (chat_testkit::mysql_url(), chat_testkit::redis_url()) else {
        return;
    };
    let (port, mut redis, db, n0, n1) = two_nodes_on_private_redis(&mysql).await;
    let mut a = n0.client().await.unwrap();
    let mut b = n1.client().await.unwrap();
    let ida = a.signup("alice").await.unwrap();
    let idb = b.signup("bob").await.unwrap();
    befriend(&mut a, &mut b).await.unwrap();

    // alice sends steadily from another task while Redis goes away and
    // comes back; every id that got ok is recorded.
    let sender = tokio::spawn(async move {
        let mut acked = Vec::new();
        for i in 0..60 {
            let r = a
                .request(json!({"op": "chat", "to": idb, "text": format!("t{i}")}))
                .await
                .unwrap();
            if r["ok"] == json!(true) {
                acked.push(r["msg"]["id"].as_u64().unwrap());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (a, acked)
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    redis.kill9();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _redis = chat_testkit::spawn_redis(port).await.unwrap();
    let (mut a, acked) = sender.await.unwrap();
    assert!(
        acked.len() >= 55,
        "the store keeps accepting while Redis is down: {} of 60",
        acked.len()
    );

    // bob, still on his first connection, gets every acked message.
    let want: HashSet<u64> = acked.iter().copied().collect();
    receive_all(&mut b, &want, Duration::from_secs(20)).await;

    // Routing and presence work again after recovery.
    let r = a
        .ok(json!({"op": "chat", "to": idb, "text": "after"}))
        .await
        .unwrap();
    let id = r["msg"]["id"].as_u64().unwrap();
    receive_all(&mut b, &HashSet::from([id]), Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let f = a.ok(json!({"op": "sync"})).await.unwrap();
        if f["friends"][0]["online"] == json!(true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob's presence was not registered again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = ida;
    n0.stop().await.unwrap();
    n1.stop().await.unwrap();
    chat_testkit::drop_mysql_db(&db).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_gives_unavailable_and_heals() {
    let (Some(mysql), Some(redis)) = (chat_testkit::mysql_url(), chat_testkit::redis_url()) else {
        return;
    };
    let db = chat_testkit::fresh_mysql_db(&mysql).await.unwrap();
    let proxy = TcpProxy::start(chat_testkit::url_addr(&db).unwrap())
        .await
        .unwrap();
    let via = chat_testkit::url_via(&db, proxy.addr).unwrap();
    let prefix = chat_testkit::unique_name("chat_t");
    let mut config = cluster_config(&via, &redis, &prefix);
    config.http = Some("127.0.0.1:0".into());
    let node = TestServer::start_config(config).await.unwrap();
    let http = node.http.unwrap();
    let (status, body) = chat_testkit::http_get(http, "/healthz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"store\":\"ok\"") && body.contains("\"bus\":\"ok\""),
        "{body}"
    );
    let mut a = node.client().await.unwrap();
    let mut b = node.client().await.unwrap();
    let ida = a.signup("alice").await.unwrap();
    let idb = b.signup("bob").await.unwrap();
    befriend(&mut a, &mut b).await.unwrap();

    proxy.cut();
    let (status, body) = chat_testkit::http_get(http, "/healthz").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"store\":\"down\""), "{body}");
    let started = Instant::now();
    a.fails(
        json!({"op": "chat", "to": idb, "text": "lost?"}),
        "unavailable",
    )
    .await
    .unwrap();
    a.fails(json!({"op": "history", "with": idb}), "unavailable")
        .await
        .unwrap();
    let mut c = node.client().await.unwrap();
    c.fails(
        json!({"op": "login", "user": ida, "password": "password1"}),
        "unavailable",
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "answers come, slowly at worst"
    );
    a.ok(json!({"op": "ping"})).await.unwrap();

    proxy.restore();
    // Service resumes by itself; the failed message was never stored.
    let r = a
        .ok(json!({"op": "chat", "to": idb, "text": "after the outage"}))
        .await
        .unwrap();
    let ev = b.event_of("msg").await.unwrap();
    assert_eq!(ev["msg"]["id"], r["msg"]["id"]);
    let h = b.ok(json!({"op": "history", "with": ida})).await.unwrap();
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["after the outage"]);
    c.login(ida, "password1").await.unwrap();
    let (status, _) = chat_testkit::http_get(http, "/healthz").await.unwrap();
    assert_eq!(status, 200, "healthy again");
    let (status, metrics) = chat_testkit::http_get(http, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    for name in [
        "chat_connections",
        "chat_sessions",
        "chat_requests_total{op=\"chat\"}",
        "chat_errors_total{code=\"unavailable\"}",
        "chat_messages_stored_total",
        "chat_messages_delivered_total",
        "chat_store_write_seconds_bucket",
        "chat_bus_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }
    assert_eq!(chat_testkit::http_get(http, "/nope").await.unwrap().0, 404);
    node.stop().await.unwrap();
    chat_testkit::drop_mysql_db(&db).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_missed_during_a_redis_outage_is_announced_after() {
    let (Some(mysql), Some(_)) = (chat_testkit::mysql_url(), chat_testkit::redis_url()) else {
        return;
    };
    let (port, mut redis, db, n0, n1) = two_nodes_on_private_redis(&mysql).await;
    let mut a = n0.client().await.unwrap();
    a.signup("alice").await.unwrap();
    let mut c = n1.client().await.unwrap();
    let idc = c.signup("carol").await.unwrap();
    // Friendship needs carol's consent, so she is online for it; then she
    // logs out, and alice hears it before Redis goes.
    befriend(&mut a, &mut c).await.unwrap();
    c.ok(json!({"op": "logout"})).await.unwrap();
    loop {
        let ev = a.event_of("presence").await.unwrap();
        if ev == json!({"ev": "presence", "user": idc, "online": false}) {
            break;
        }
    }

    redis.kill9();
    // carol logs in on the other node while Redis is away.
    c.login(idc, "password1").await.unwrap();
    let _redis = chat_testkit::spawn_redis(port).await.unwrap();

    // Once the nodes recover, alice hears that carol is online.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ev = a.event_of("presence").await.unwrap();
        if ev == json!({"ev": "presence", "user": idc, "online": true}) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no presence for carol after recovery"
        );
    }
    let f = a.ok(json!({"op": "sync"})).await.unwrap();
    assert_eq!(f["friends"][0]["online"], json!(true));
    n0.stop().await.unwrap();
    n1.stop().await.unwrap();
    chat_testkit::drop_mysql_db(&db).await.unwrap();
}
