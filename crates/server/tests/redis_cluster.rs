//! Nodes whose bus is a Redis Cluster (`--redis-cluster`): three primaries
//! with a replica each, created by each test on free loopback ports
//! (`chat_testkit::redis_cluster`), and MariaDB/MySQL for the data.
//!
//! The cluster suites' scenarios across nodes (chat, presence, group chat,
//! invalidations, session_ended), publishing shard-local (Redis's own
//! counters), and the cluster's own failures: a slot moved to another
//! primary mid-traffic, and a primary killed with SIGKILL. In each, no
//! message that got `ok` is lost and presence is right within 15 s.
//!
//! Skipped (with a note) without `CHAT_TEST_MYSQL_URL` or without
//! redis-server and redis-cli.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use chat_testkit::fixture::*;
use chat_testkit::redis_cluster::{RedisCluster, node_config};
use chat_testkit::{Child, TestClient, TestServer};
use chatserver::cluster::redis::{meta_slot, user_slot};
use serde_json::{Value, json};

/// A Redis Cluster, a fresh database and chat nodes on them.
struct Cluster {
    redis: RedisCluster,
    nodes: Vec<TestServer>,
    db: String,
    prefix: String,
}

impl Cluster {
    async fn start(n: usize) -> Option<Cluster> {
        Cluster::start_with(n, |_| {}).await
    }

    async fn start_with(n: usize, tweak: impl Fn(&mut chatserver::Config)) -> Option<Cluster> {
        if let Ok(filter) = std::env::var("CHAT_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let mysql = chat_testkit::mysql_url()?;
        if !chat_testkit::redis_cluster::available() {
            return None;
        }
        let redis = RedisCluster::start().await.unwrap();
        let db = chat_testkit::fresh_mysql_db(&mysql).await.unwrap();
        let prefix = chat_testkit::unique_name("chat_t");
        let mut c = Cluster {
            redis,
            nodes: Vec::new(),
            db,
            prefix,
        };
        for _ in 0..n {
            let mut config = node_config(&c.db, &c.redis.seeds(), &c.prefix);
            tweak(&mut config);
            c.nodes
                .push(TestServer::start_config(config).await.unwrap());
        }
        Some(c)
    }

    async fn user(&self, node: usize, name: &str) -> anyhow::Result<(TestClient, u64)> {
        user(&self.nodes[node], name).await
    }

    async fn stop(self) {
        for n in self.nodes {
            n.stop().await.unwrap();
        }
        chat_testkit::drop_mysql_db(&self.db).await.unwrap();
    }
}

/// Waits for the presence event `user` `online`, skipping others.
async fn presence(c: &mut TestClient, user: u64, online: bool) -> anyhow::Result<()> {
    event_where(c, "presence", |ev| {
        ev["user"] == json!(user) && ev["online"] == json!(online)
    })
    .await?;
    Ok(())
}

/// Sends `n` messages from `from` to `to`, one every `gap`, from another
/// task; returns the client and the ids that got `ok`.
fn send_steadily(
    mut from: TestClient,
    to: u64,
    n: usize,
    gap: Duration,
) -> tokio::task::JoinHandle<(TestClient, Vec<u64>)> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        for i in 0..n {
            let r = from
                .request(json!({"op": "chat", "to": to, "text": format!("t{i}")}))
                .await
                .unwrap();
            if r["ok"] == json!(true) {
                acked.push(r["msg"]["id"].as_u64().unwrap());
            }
            tokio::time::sleep(gap).await;
        }
        (from, acked)
    })
}

/// Retries `frame` until it fails with `code` (an invalidation crosses the
/// bus in milliseconds; this bounds the wait).
async fn until_fails(c: &mut TestClient, frame: Value, code: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = c.request(frame.clone()).await.unwrap();
        if r["code"] == json!(code) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{frame} still gives {r}, not {code}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `c`'s friend `friend` shows as `online` in `sync`.
async fn friend_shows(c: &mut TestClient, friend: u64, online: bool, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let s = c.ok(json!({"op": "sync"})).await.unwrap();
        let shown = s["friends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == json!(friend))
            .map(|f| f["online"].clone());
        if shown == Some(json!(online)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{friend} still shows {shown:?}, not online={online}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_presence_and_groups_across_nodes() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start(3).await else {
        return Ok(());
    };
    assert_eq!(cl.nodes.len(), 3);
    let (mut a, ida) = cl.user(0, "alice").await?;
    let (mut b, idb) = cl.user(1, "bob").await?;
    let (mut d, idd) = cl.user(2, "dora").await?;
    // Friendship across nodes: the request and the acceptance each cross.
    let r = befriend(&mut a, &mut b).await?;
    assert_eq!(
        r["friend"],
        json!({"id": ida, "name": "alice", "online": true})
    );
    befriend(&mut d, &mut a).await?;

    // One-to-one, both ways, ids and order kept.
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(chat(&mut a, idb, &format!("a{i}")).await?);
    }
    let got = receive_all(
        &mut b,
        &sent.iter().copied().collect(),
        Duration::from_secs(10),
    )
    .await;
    let order: Vec<u64> = got
        .iter()
        .map(|e| e["msg"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(order, sent, "in order");
    let back = chat(&mut b, ida, "hi back").await?;
    let ev = a.event_of("msg").await?;
    assert_eq!(ev["msg"]["id"], json!(back));

    // Presence: bob leaves and returns; alice, on another node, hears both.
    b.ok(json!({"op": "logout"})).await?;
    presence(&mut a, idb, false).await?;
    friend_shows(&mut a, idb, false, Duration::from_secs(1)).await;
    let off = chat(&mut a, idb, "while you were away").await?;
    let r = b.login(idb, PASSWORD).await?;
    assert!(r["unread"].as_u64().unwrap() >= 1);
    receive_all(&mut b, &HashSet::from([off]), Duration::from_secs(10)).await;
    presence(&mut a, idb, true).await?;

    // A group over three nodes: joins, member lists with presence, chat.
    let gid = group(&mut a, "three").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    event_where(&mut a, "member_joined", |ev| ev["user"]["id"] == json!(idb)).await?;
    d.ok(json!({"op": "join_group", "group": gid})).await?;
    let members = a.ok(json!({"op": "group_members", "group": gid})).await?;
    let online: Vec<bool> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["online"].as_bool().unwrap())
        .collect();
    assert_eq!(online, vec![true, true, true]);
    let m = group_chat(&mut a, gid, "hello group").await?;
    for c in [&mut b, &mut d] {
        let ev = event_where(c, "msg", |ev| ev["msg"]["group"] == json!(gid)).await?;
        assert_eq!(ev["msg"]["id"], json!(m));
    }
    group_chat(&mut d, gid, "from node 2").await?;
    let ev = event_where(&mut a, "msg", |ev| ev["msg"]["group"] == json!(gid)).await?;
    assert_eq!(ev["msg"]["from"], json!(idd));
    a.ok(json!({"op": "delete_group", "group": gid})).await?;
    for c in [&mut b, &mut d] {
        let ev = c.event_of("group_deleted").await?;
        assert_eq!(ev["group"], json!(gid));
    }
    cl.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_and_session_ends_cross_nodes_and_publishing_is_sharded() -> anyhow::Result<()>
{
    let Some(cl) = Cluster::start(2).await else {
        return Ok(());
    };
    let spublish_before = cl.redis.command_calls("spublish").await?;
    let (mut a, ida) = cl.user(0, "alice").await?;
    let (mut b, idb) = cl.user(1, "bob").await?;
    befriend(&mut a, &mut b).await?;

    // bob's node caches the friendship; alice's node ends it.
    chat(&mut b, ida, "hi").await?;
    a.ok(json!({"op": "remove_friend", "user": idb})).await?;
    until_fails(
        &mut b,
        json!({"op": "chat", "to": ida, "text": "still?"}),
        "not_friend",
    )
    .await;
    // Group membership: a kick on node 0 holds on node 1 at once.
    let gid = group(&mut a, "g").await?;
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    group_chat(&mut b, gid, "in").await?;
    a.ok(json!({"op": "kick", "group": gid, "user": idb}))
        .await?;
    b.fails(
        json!({"op": "group_chat", "group": gid, "text": "out?"}),
        "not_member",
    )
    .await?;

    // session_ended reaches sessions on the other node.
    let mut a2 = session(&cl.nodes[1], ida).await?;
    let mut a3 = session(&cl.nodes[1], ida).await?;
    a.ok(json!({"op": "logout", "everywhere": true})).await?;
    ended_with(&mut a2, "logged_out").await?;
    ended_with(&mut a3, "logged_out").await?;
    let (mut c1, idc) = cl.user(0, "carol").await?;
    let mut c2 = session(&cl.nodes[1], idc).await?;
    c1.ok(json!({"op": "change_password", "old": PASSWORD, "new": "password2"}))
        .await?;
    ended_with(&mut c2, "password_changed").await?;

    // Redis's own counters: every publication was shard-local.
    let spublished = cl.redis.command_calls("spublish").await? - spublish_before;
    assert!(spublished >= 5, "SPUBLISH calls grew by {spublished} only");
    assert_eq!(
        cl.redis.command_calls("publish").await?,
        0,
        "no plain PUBLISH on a cluster"
    );
    assert_eq!(cl.redis.command_calls("subscribe").await?, 0);
    assert!(cl.redis.command_calls("ssubscribe").await? > 0);
    cl.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_moved_mid_traffic_loses_nothing() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start(2).await else {
        return Ok(());
    };
    let (mut a, ida) = cl.user(0, "alice").await?;
    let (mut b, idb) = cl.user(1, "bob").await?;
    let (mut d, idd) = cl.user(0, "dora").await?;
    befriend(&mut a, &mut b).await?;
    befriend(&mut d, &mut b).await?;

    // alice writes to bob steadily while bob's slot (his channel and
    // presence) moves to another primary, and then the slot of the
    // invalidation channel and node keys too.
    let sender = send_steadily(a, idb, 80, Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let slot = user_slot(idb);
    let from = cl.redis.primary_of(slot).await?;
    let to = cl
        .redis
        .primaries()
        .await?
        .into_iter()
        .find(|p| p.port != from.port)
        .unwrap();
    cl.redis
        .migrate_slot(slot, to.port, Duration::from_millis(300))
        .await?;
    let meta = meta_slot();
    let meta_from = cl.redis.primary_of(meta).await?;
    let meta_to = cl
        .redis
        .primaries()
        .await?
        .into_iter()
        .find(|p| p.port != meta_from.port)
        .unwrap();
    cl.redis
        .migrate_slot(meta, meta_to.port, Duration::from_millis(300))
        .await?;
    assert_eq!(cl.redis.primary_of(slot).await?.port, to.port);
    let (mut a, acked) = sender.await.unwrap();
    assert_eq!(acked.len(), 80, "the store accepts throughout");

    // bob, on his first connection, gets every acked message.
    let want: HashSet<u64> = acked.iter().copied().collect();
    receive_all(&mut b, &want, Duration::from_secs(20)).await;

    // Live routing to bob's moved channel works again.
    let after = chat(&mut a, idb, "after the move").await?;
    receive_all(&mut b, &HashSet::from([after]), Duration::from_secs(10)).await;
    // Invalidations travel on the moved meta slot.
    chat(&mut b, idd, "cached").await?;
    d.ok(json!({"op": "remove_friend", "user": idb})).await?;
    until_fails(
        &mut b,
        json!({"op": "chat", "to": idd, "text": "still?"}),
        "not_friend",
    )
    .await;
    // Presence, its keys moved with the slot, stays right.
    friend_shows(&mut a, idb, true, Duration::from_secs(15)).await;
    let left = Instant::now();
    b.ok(json!({"op": "logout"})).await?;
    presence(&mut a, idb, false).await?;
    assert!(left.elapsed() < Duration::from_secs(15));
    friend_shows(&mut a, idb, false, Duration::from_secs(15)).await;
    let _ = ida;
    cl.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_fails_over_and_loses_nothing() -> anyhow::Result<()> {
    let Some(mut cl) = Cluster::start(2).await else {
        return Ok(());
    };
    let (a, ida) = cl.user(0, "alice").await?;
    let (mut b, idb) = cl.user(1, "bob").await?;
    let mut a = a;
    befriend(&mut a, &mut b).await?;
    let (mut watcher, _) = cl.user(0, "walt").await?;
    befriend(&mut watcher, &mut b).await?;

    let sender = send_steadily(a, idb, 120, Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Kill the primary serving bob's channel and presence.
    let victim = cl.redis.primary_of(user_slot(idb)).await?;
    let killed = Instant::now();
    cl.redis
        .kill_primary(victim.port, Duration::from_secs(30))
        .await?;
    let failover = killed.elapsed();
    let (mut a, acked) = sender.await.unwrap();
    assert!(
        acked.len() >= 110,
        "the store keeps accepting: {} of 120",
        acked.len()
    );

    // bob, still on his first connection, gets every acked message.
    let want: HashSet<u64> = acked.iter().copied().collect();
    receive_all(&mut b, &want, Duration::from_secs(30)).await;
    let after = chat(&mut a, idb, "after the failover").await?;
    receive_all(&mut b, &HashSet::from([after]), Duration::from_secs(10)).await;

    // Presence heals within 15 s of the failover: bob shows online, and
    // his leaving is heard.
    friend_shows(&mut watcher, idb, true, Duration::from_secs(15)).await;
    b.ok(json!({"op": "logout"})).await?;
    presence(&mut watcher, idb, false).await?;
    friend_shows(&mut watcher, idb, false, Duration::from_secs(15)).await;

    // And the bus keeps working well after (a cluster connection of
    // redis-rs 1.8 can get stuck after a failover; the node replaces it).
    b.login(idb, PASSWORD).await?;
    for i in 0..8 {
        let id = chat(&mut a, idb, &format!("later {i}")).await?;
        receive_all(&mut b, &HashSet::from([id]), Duration::from_secs(15)).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    eprintln!("failover took {failover:?}");
    let _ = ida;
    cl.stop().await;
    Ok(())
}

/// Starts the `chatserver` binary as a node on the Redis Cluster.
async fn spawn_node(dir: &Path, port: u16, db: &str, seeds: &str, prefix: &str) -> Child {
    let args = [
        "--db",
        db,
        "--redis-cluster",
        seeds,
        "--redis-prefix",
        prefix,
    ];
    let log = dir.join(format!("node-{port}.log"));
    chat_testkit::spawn_chatserver(env!("CARGO_BIN_EXE_chatserver"), port, &args, &log)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_chat_node_goes_offline_within_15_s() -> anyhow::Result<()> {
    let Some(cl) = Cluster::start_with(1, |c| c.http = Some("127.0.0.1:0".into())).await else {
        return Ok(());
    };
    let http = cl.nodes[0].http.unwrap();
    let (status, body) = chat_testkit::http_get(http, "/healthz").await?;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"bus\":\"ok\""), "{body}");
    let dir = tempfile::tempdir()?;
    let port = chat_testkit::free_port()?;
    let mut victim = spawn_node(dir.path(), port, &cl.db, &cl.redis.seeds(), &cl.prefix).await;
    let mut a = TestClient::connect(([127, 0, 0, 1], port).into()).await?;
    let ida = a.signup("alice").await?;
    let (mut b, _) = cl.user(0, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let killed = Instant::now();
    victim.kill9();
    presence(&mut b, ida, false).await?;
    assert!(
        killed.elapsed() < Duration::from_secs(15),
        "took {:?}",
        killed.elapsed()
    );
    friend_shows(&mut b, ida, false, Duration::from_secs(1)).await;
    cl.stop().await;
    Ok(())
}
