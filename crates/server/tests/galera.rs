//! The cluster store on a three-node MariaDB Galera cluster on loopback
//! (`chat_testkit::galera`, one cluster shared by every test here, each
//! test on databases of its own).
//!
//! - The store conformance suite (the same suite functions as
//!   `store_conformance`, included from its folder), each run on a store
//!   opened on one Galera node, the nodes taken in turn.
//! - Races across Galera nodes, on the store: nodes migrating one fresh
//!   database at once; joins through two nodes racing the group's
//!   deletion through the third; crossing friend requests through two
//!   nodes. Galera certifies only written rows, so these pass only because
//!   the store's locks are writes and lost certifications are retried.
//! - Chat clusters: three chat nodes, each on a different Galera node,
//!   sharing Redis (`CHAT_TEST_REDIS_URL`): friends on different nodes
//!   chat, an offline inbox filled through one node is read through
//!   another, a group spans the three, and every acknowledged message of
//!   many concurrent senders is in history and reached its recipient.
//!
//! Skipped (saying so) when Galera is not installed and `CI` is not set.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_proto::Visibility;
use chat_testkit::fixture;
use chat_testkit::galera::{self, GaleraCluster};
use chat_testkit::{TestClient, TestServer, cluster_config};
use chatserver::store::{AccountStore, FriendStore, GroupStore, Join, SqlStore, StoreOptions};
use serde_json::json;

#[path = "store_conformance/helpers.rs"]
mod helpers;
use helpers::*;

/// The Galera node the next store opens on: each in turn.
fn next_node() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed) % galera::NODES
}

/// Runs `suite` (a conformance suite) on a store opened on one node of
/// the shared Galera cluster, on a fresh database.
macro_rules! conformance {
    ($name:ident, $suite:ident) => {
        conformance!($name, $suite, StoreOptions::default());
    };
    ($name:ident, $suite:ident, $opts:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn galera_backend() {
                let Some(cluster) = galera::shared().await else {
                    return;
                };
                let db = galera::fresh_db(cluster).await.unwrap();
                let url = cluster.url(crate::next_node(), &db);
                let store = SqlStore::open(&url, &$opts).await.unwrap();
                $suite(&store).await;
                store.close().await;
                chat_testkit::drop_mysql_db(&url).await.unwrap();
            }
        }
    };
}

#[path = "store_conformance/accounts.rs"]
mod accounts;
#[path = "store_conformance/deletion.rs"]
mod deletion;
#[path = "store_conformance/friends.rs"]
mod friends;
#[path = "store_conformance/groups.rs"]
mod groups;
#[path = "store_conformance/messages.rs"]
mod messages;
#[path = "store_conformance/races.rs"]
mod races;
#[path = "store_conformance/slots.rs"]
mod slots;

/// One store on each Galera node, all on one fresh database (opened at
/// the same moment: their migrations race).
async fn stores_on_every_node(cluster: &GaleraCluster) -> (Vec<SqlStore>, String) {
    let db = galera::fresh_db(cluster).await.unwrap();
    let opts = StoreOptions {
        verify_at_commit: true,
        ..StoreOptions::default()
    };
    let urls: Vec<String> = (0..galera::NODES).map(|i| cluster.url(i, &db)).collect();
    let opened = futures::future::join_all(urls.iter().map(|u| SqlStore::open(u, &opts))).await;
    let stores = opened.into_iter().map(|s| s.unwrap()).collect();
    (stores, urls[0].clone())
}

async fn close_all(stores: Vec<SqlStore>, url: &str) {
    for s in stores {
        s.close().await;
    }
    chat_testkit::drop_mysql_db(url).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_migrating_at_once_through_different_galera_nodes_migrate_once() {
    let Some(cluster) = galera::shared().await else {
        return;
    };
    // Three rounds: each time three stores open a fresh database at once,
    // each through its own Galera node (GET_LOCK would not span them).
    for _ in 0..3 {
        let (stores, url) = stores_on_every_node(cluster).await;
        use sqlx::Connection;
        let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
        let rows: Vec<(i64, bool)> =
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert_eq!(
            rows,
            vec![(1, true), (2, true), (3, true), (4, true)],
            "each migration once, finished"
        );
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _chat_migration_lock")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(held, 0, "the migration lock is released");
        let _ = conn.close().await;
        for s in &stores {
            s.ping().await.unwrap();
        }
        close_all(stores, &url).await;
    }
}

/// Joins through two Galera nodes race the group's deletion through the
/// third. Each join ends before the deletion (the deletion names the
/// joiner among the former members) or after it (`NoSuchGroup`); no
/// membership outlives the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_racing_a_delete_across_galera_nodes_serialise() {
    let Some(cluster) = galera::shared().await else {
        return;
    };
    let (stores, url) = stores_on_every_node(cluster).await;
    let owner = user(&stores[0], "owner").await;
    let mut joiners = Vec::new();
    for i in 0..6 {
        joiners.push(user(&stores[i % 3], &format!("j{i}")).await);
    }
    let (mut before, mut after) = (0, 0);
    for round in 0..20u64 {
        let g = stores[0]
            .create_group(owner, "race", "", Visibility::Public, round)
            .await
            .unwrap();
        // Each join through node 1 or 2, the deletion through node 0, at once.
        let joins = futures::future::join_all(joiners.iter().enumerate().map(|(i, &u)| {
            let s = &stores[1 + i % 2];
            async move { (u, s.join_group(g, u, round, 0).await.unwrap()) }
        }));
        let delete = async {
            tokio::time::sleep(Duration::from_millis(round % 4)).await;
            stores[0].delete_group(g).await.unwrap()
        };
        let (joined, former) = futures::join!(joins, delete);
        let former: HashSet<u64> = former.into_iter().collect();
        assert!(former.contains(&owner));
        for (u, outcome) in joined {
            match outcome {
                Join::Joined(_) => {
                    before += 1;
                    assert!(
                        former.contains(&u),
                        "round {round}: {u} joined, but the deletion did not see the member"
                    );
                }
                Join::NoSuchGroup => after += 1,
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        for s in &stores {
            assert!(s.group(g).await.unwrap().is_none());
            assert_eq!(
                s.member_ids(g).await.unwrap(),
                Vec::<u64>::new(),
                "round {round}: a membership outlived its group"
            );
        }
    }
    eprintln!("joins before the deletion: {before}, after: {after}");
    close_all(stores, &url).await;
}

/// Crossing friend requests through two Galera nodes: however they
/// interleave, the two end as friends with no request pending (one asked,
/// the other's request accepted it), never with both requests pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_friend_requests_across_galera_nodes_make_friends() {
    let Some(cluster) = galera::shared().await else {
        return;
    };
    let (stores, url) = stores_on_every_node(cluster).await;
    for round in 0..20u64 {
        let a = user(&stores[0], "a").await;
        let b = user(&stores[1], "b").await;
        let (x, y) = futures::join!(
            stores[0].add_friend(a, b, round),
            stores[1].add_friend(b, a, round)
        );
        let accepted = [x.unwrap(), y.unwrap()]
            .iter()
            .filter(|r| matches!(r, AddFriend::Accepted(_)))
            .count();
        assert_eq!(accepted, 1, "round {round}: one request accepts the other");
        for s in &stores {
            assert!(s.are_friends(a, b).await.unwrap() && s.are_friends(b, a).await.unwrap());
            for u in [a, b] {
                let snap = s.snapshot(u).await.unwrap();
                assert!(
                    snap.requests_in.is_empty() && snap.requests_out.is_empty(),
                    "round {round}: a request stayed pending"
                );
            }
        }
    }
    close_all(stores, &url).await;
}

/// Three chat nodes on a fresh database, node `i` on Galera node `i`,
/// sharing Redis.
struct ChatCluster {
    nodes: Vec<TestServer>,
    url: String,
}

impl ChatCluster {
    async fn start() -> Option<ChatCluster> {
        let cluster = galera::shared().await?;
        let redis = chat_testkit::redis_url()?;
        let db = galera::fresh_db(cluster).await.unwrap();
        let prefix = chat_testkit::unique_name("chat_g");
        let mut nodes = Vec::new();
        for i in 0..galera::NODES {
            nodes.push(
                TestServer::start_config(cluster_config(&cluster.url(i, &db), &redis, &prefix))
                    .await
                    .unwrap(),
            );
        }
        Some(ChatCluster {
            nodes,
            url: cluster.url(0, &db),
        })
    }

    async fn client(&self, node: usize) -> TestClient {
        self.nodes[node].client().await.unwrap()
    }

    async fn stop(self) {
        for n in self.nodes {
            n.stop().await.unwrap();
        }
        chat_testkit::drop_mysql_db(&self.url).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_on_different_galera_nodes_chat_and_read_their_inbox_anywhere() {
    let Some(c) = ChatCluster::start().await else {
        return;
    };
    // Registered through node 0 and node 1; each found at once through
    // the other (reads wait for the cluster's earlier commits).
    let mut a = c.client(0).await;
    let mut b = c.client(1).await;
    let ida = a.signup("alice").await.unwrap();
    let idb = b.signup("bob").await.unwrap();
    fixture::befriend(&mut a, &mut b).await.unwrap();
    let sent = a
        .ok(json!({"op": "chat", "to": idb, "text": "hi from node 0"}))
        .await
        .unwrap();
    let ev = b.event_of("msg").await.unwrap();
    assert_eq!(ev["msg"]["id"], sent["msg"]["id"]);
    b.ok(json!({"op": "chat", "to": ida, "text": "hi back"}))
        .await
        .unwrap();
    assert_eq!(
        a.event_of("msg").await.unwrap()["msg"]["text"],
        json!("hi back")
    );

    // Offline: stored through Galera node 0, read at login through node 2.
    b.ok(json!({"op": "logout"})).await.unwrap();
    let mut offline = Vec::new();
    for i in 0..5 {
        let r = a
            .ok(json!({"op": "chat", "to": idb, "text": format!("away {i}")}))
            .await
            .unwrap();
        offline.push(r["msg"]["id"].clone());
    }
    let mut b2 = c.client(2).await;
    let r = b2.login(idb, "password1").await.unwrap();
    assert!(r["unread"].as_u64().unwrap() >= 5, "{r}");
    let mut got = Vec::new();
    while got.len() < offline.len() {
        let ev = b2.event_of("msg").await.unwrap();
        if ev["msg"]["from"] == json!(ida) && offline.contains(&ev["msg"]["id"]) {
            got.push(ev["msg"]["id"].clone());
        }
    }
    assert_eq!(got, offline, "the inbox replays in order");
    let h = b2
        .ok(json!({"op": "history", "with": ida, "limit": 100}))
        .await
        .unwrap();
    assert_eq!(h["messages"].as_array().unwrap().len(), 7);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_spans_three_galera_nodes() {
    let Some(c) = ChatCluster::start().await else {
        return;
    };
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut cl = c.client(i).await;
        ids.push(cl.signup(&format!("m{i}")).await.unwrap());
        clients.push(cl);
    }
    let g = clients[0]
        .ok(json!({"op": "create_group", "name": "three", "desc": "galera"}))
        .await
        .unwrap();
    let gid = g["group"]["id"].as_u64().unwrap();
    for cl in &mut clients[1..] {
        cl.ok(json!({"op": "join_group", "group": gid}))
            .await
            .unwrap();
    }
    for i in 0..3 {
        let sent = clients[i]
            .ok(json!({"op": "group_chat", "group": gid, "text": format!("from {i}")}))
            .await
            .unwrap();
        for (j, cl) in clients.iter_mut().enumerate() {
            if j == i {
                continue;
            }
            let ev = loop {
                let ev = cl.event_of("msg").await.unwrap();
                if ev["msg"]["id"] == sent["msg"]["id"] {
                    break ev;
                }
            };
            assert_eq!(ev["msg"]["from"], json!(ids[i]));
            assert_eq!(ev["msg"]["group"], json!(gid));
        }
    }
    let h = clients[2]
        .ok(json!({"op": "history", "group": gid}))
        .await
        .unwrap();
    assert_eq!(h["messages"].as_array().unwrap().len(), 3);
    clients[0]
        .ok(json!({"op": "delete_group", "group": gid}))
        .await
        .unwrap();
    for cl in &mut clients[1..] {
        assert_eq!(
            cl.event_of("group_deleted").await.unwrap()["group"],
            json!(gid)
        );
    }
    c.stop().await;
}

/// Six users, two on each chat node, each sending to the user after them
/// in the ring (always on another node) at the same time, with `cid`s:
/// every message answered `ok` is in history, once, and reached its
/// recipient live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_message_is_lost_across_galera_nodes() {
    let Some(c) = ChatCluster::start().await else {
        return;
    };
    const USERS: usize = 6;
    const EACH: usize = 40;
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for i in 0..USERS {
        let mut cl = c.client(i % 3).await;
        ids.push(cl.signup(&format!("u{i}")).await.unwrap());
        clients.push(cl);
    }
    for i in 0..USERS {
        let j = (i + 1) % USERS;
        let (x, y) = two_mut(&mut clients, i, j);
        fixture::befriend(x, y).await.unwrap();
    }
    // Everyone sends at once; each collects what it is sent meanwhile.
    let results = futures::future::join_all(clients.iter_mut().enumerate().map(|(i, cl)| {
        let to = ids[(i + 1) % USERS];
        async move {
            let mut acked = Vec::new();
            for k in 0..EACH {
                let frame = json!({"op": "chat", "to": to, "text": format!("{i}:{k}"),
                    "cid": format!("c{i}-{k}")});
                // As a client does: `unavailable` is retried with the cid.
                let mut tries = 0;
                loop {
                    let r = cl.request(frame.clone()).await.unwrap();
                    if r["ok"] == json!(true) {
                        acked.push(r["msg"]["id"].as_u64().unwrap());
                        break;
                    }
                    tries += 1;
                    assert!(
                        r["code"] == json!("unavailable") && tries < 10,
                        "a chat was refused: {r}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            acked
        }
    }))
    .await;
    for (i, acked) in results.iter().enumerate() {
        assert_eq!(acked.len(), EACH);
        let r = (i + 1) % USERS;
        // Live: every acked message reached the recipient.
        let mut seen = HashSet::new();
        let wanted: HashSet<u64> = acked.iter().copied().collect();
        while !wanted.is_subset(&seen) {
            let ev = clients[r].event_of("msg").await.unwrap();
            if ev["msg"]["from"] == json!(ids[i]) {
                seen.insert(ev["msg"]["id"].as_u64().unwrap());
            }
        }
        // Stored: history through the recipient's node has each one once.
        let h = clients[r]
            .ok(json!({"op": "history", "with": ids[i], "limit": 100}))
            .await
            .unwrap();
        let stored: Vec<u64> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["from"] == json!(ids[i]))
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        let unique: HashSet<u64> = stored.iter().copied().collect();
        assert_eq!(unique.len(), stored.len(), "a message stored twice");
        assert_eq!(unique, wanted, "history holds exactly the acked messages");
    }
    c.stop().await;
}

/// Two distinct elements of a slice, mutably.
fn two_mut<T>(v: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    assert_ne!(i, j);
    if i < j {
        let (l, r) = v.split_at_mut(j);
        (&mut l[i], &mut r[0])
    } else {
        let (l, r) = v.split_at_mut(i);
        (&mut r[0], &mut l[j])
    }
}
