//! kill -9 of a single node under full load, on the embedded store (its
//! message log): after the restart every message that got `ok` is there
//! exactly once, in order, with its inbox state (acks that got `ok` hold);
//! a torn record at the end of the log is cut off, never served.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_testkit::fixture::{befriend, login_token};
use chat_testkit::{Child, TestClient};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_chatserver");
const SENDERS: usize = 4;
/// Requests in flight per sender.
const WINDOW: usize = 16;

async fn spawn(dir: &Path, db: &str, port: u16, log: &str) -> Child {
    let args = [
        "--db", db, "--rate", "1000000", "--burst", "1000000", "--log", "info",
    ];
    chat_testkit::spawn_chatserver(BIN, port, &args, &dir.join(log))
        .await
        .unwrap()
}

async fn connect(port: u16) -> TestClient {
    TestClient::connect(([127, 0, 0, 1], port).into())
        .await
        .unwrap()
}

/// What the load saw: per sender, the (cid, id) of each `ok`, in order.
type Acked = Arc<Mutex<Vec<Vec<(String, u64)>>>>;

/// Sends chats with cids, `WINDOW` in flight, until the connection dies.
async fn load(mut c: TestClient, me: usize, to: u64, acked: Acked) {
    let mut n = 0u64;
    let mut in_flight: HashMap<u64, String> = HashMap::new();
    loop {
        while in_flight.len() < WINDOW {
            n += 1;
            let cid = format!("s{me}.{n}");
            let frame = json!({"op": "chat", "id": n, "to": to, "text": cid, "cid": cid});
            if c.send(&frame).await.is_err() {
                return;
            }
            in_flight.insert(n, cid);
        }
        let Ok(Some(v)) = c.recv_frame().await else {
            return;
        };
        let (Some(re), true) = (v["re"].as_u64(), v["ok"] == json!(true)) else {
            continue;
        };
        if let Some(cid) = in_flight.remove(&re) {
            let id = v["msg"]["id"].as_u64().unwrap();
            acked.lock().unwrap()[me].push((cid, id));
        }
    }
}

/// Reads messages and acks each; records the ids it sent an ack for,
/// and those whose ack got `ok`.
async fn ack_all(
    mut c: TestClient,
    sent: Arc<Mutex<HashSet<u64>>>,
    acked: Arc<Mutex<HashSet<u64>>>,
) {
    let mut next = 1_000_000u64;
    let mut pending: HashMap<u64, Vec<u64>> = HashMap::new();
    while let Ok(Some(v)) = c.recv_frame().await {
        if v["ev"] == json!("msg") {
            let id = v["msg"]["id"].as_u64().unwrap();
            next += 1;
            pending.insert(next, vec![id]);
            sent.lock().unwrap().insert(id);
            let frame = json!({"op": "ack", "id": next, "ids": [id]});
            if c.send(&frame).await.is_err() {
                return;
            }
        } else if let Some(re) = v["re"].as_u64()
            && v["ok"] == json!(true)
            && let Some(ids) = pending.remove(&re)
        {
            acked.lock().unwrap().extend(ids);
        }
    }
}

/// The msg events a fresh login of `user` replays: (reply, events).
async fn replay(port: u16, user: u64, token: &str) -> (Value, Vec<Value>) {
    let mut c = connect(port).await;
    let r = login_token(&mut c, user, token).await.unwrap();
    let n = r["unread"].as_u64().unwrap();
    let mut events = Vec::new();
    for _ in 0..n {
        events.push(c.event_of("msg").await.unwrap());
    }
    // Nothing more follows.
    let more = c.events_within(Duration::from_millis(300)).await.unwrap();
    assert!(
        more.iter().all(|e| e["ev"] != json!("msg")),
        "more than `unread`"
    );
    (r, events)
}

/// The ids of replayed `msg` events, checked to come once each and in
/// order (receiver `i`).
fn once_in_order(events: &[Value], i: usize) -> HashSet<u64> {
    let got: Vec<u64> = events
        .iter()
        .map(|e| e["msg"]["id"].as_u64().unwrap())
        .collect();
    let unique: HashSet<u64> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "receiver {i}: duplicates");
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "receiver {i}: out of order"
    );
    unique
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("chat.db");
    let db = format!("sqlite://{}", db_path.display());
    let port = chat_testkit::free_port().unwrap();
    let mut server = spawn(dir.path(), &db, port, "first.log").await;

    // Pairs: sender i -> receiver i. Receiver 0 stays online and acks
    // everything; the others are offline, so everything stays unacked.
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..SENDERS {
        let mut s = connect(port).await;
        let sid = s.signup(&format!("s{i}")).await.unwrap();
        let mut r = connect(port).await;
        let rid = r.signup(&format!("r{i}")).await.unwrap();
        befriend(&mut s, &mut r).await.unwrap();
        tokens.push((s.token.clone().unwrap(), r.token.clone().unwrap(), sid, rid));
        senders.push(s);
        receivers.push(r);
    }
    let acked: Acked = Arc::new(Mutex::new(vec![Vec::new(); SENDERS]));
    let acks = Arc::new(Mutex::new(HashSet::new()));
    let acks_sent = Arc::new(Mutex::new(HashSet::new()));
    let mut receivers = receivers.into_iter();
    let acker = tokio::spawn(ack_all(
        receivers.next().unwrap(),
        acks_sent.clone(),
        acks.clone(),
    ));
    drop(receivers.collect::<Vec<_>>());
    let mut tasks = Vec::new();
    for (i, s) in senders.into_iter().enumerate() {
        tasks.push(tokio::spawn(load(s, i, tokens[i].3, acked.clone())));
    }
    // Full load for a while, then kill -9 in the middle of it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    acker.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let acks = acks.lock().unwrap().clone();
    let acks_sent = acks_sent.lock().unwrap().clone();
    assert!(
        acked.iter().all(|v| v.len() > 10),
        "the load got too few oks to mean anything: {:?}",
        acked.iter().map(Vec::len).collect::<Vec<_>>()
    );

    // A crash in the middle of a write leaves part of a record: add one.
    let log = dir.path().join("chat.db-log");
    let mut segs: Vec<_> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let last = segs.last().expect("a log segment").clone();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    std::io::Write::write_all(&mut f, &[0x40, 0, 0, 0, 9, 9, 9, 9, 1, 3, 0, 0, 0]).unwrap();
    drop(f);

    let port = chat_testkit::free_port().unwrap();
    let mut server = spawn(dir.path(), &db, port, "second.log").await;
    for (i, sent) in acked.iter().enumerate() {
        let (stoken, rtoken, sid, rid) = &tokens[i];
        let (_, events) = replay(port, *rid, rtoken).await;
        // Exactly once, in order; only what senders sent.
        let unique = once_in_order(&events, i);
        for e in &events {
            let m = &e["msg"];
            assert_eq!(m["from"].as_u64(), Some(*sid));
            assert_eq!(m["text"], m["cid"], "receiver {i}: a damaged message");
        }
        // Every message that got ok, with its inbox state.
        for (cid, id) in sent {
            if i == 0 && acks.contains(id) {
                assert!(!unique.contains(id), "{cid}: acked, yet replayed");
            } else if i == 0 && acks_sent.contains(id) {
                // Acked, but the crash took the ack's ok: either way.
            } else {
                assert!(unique.contains(id), "{cid} ({id}) got ok and was lost");
            }
        }
        // History has each once; a retry of the last cid is the original.
        let mut s = connect(port).await;
        login_token(&mut s, *sid, stoken).await.unwrap();
        let (last_cid, last_id) = sent.last().unwrap();
        let r = s
            .ok(json!({"op": "chat", "to": rid, "text": last_cid, "cid": last_cid}))
            .await
            .unwrap();
        assert_eq!(r["msg"]["id"].as_u64(), Some(*last_id));
        let h = s
            .ok(json!({"op": "history", "with": rid, "limit": 100}))
            .await
            .unwrap();
        let hist: Vec<u64> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        assert!(hist.windows(2).all(|w| w[0] > w[1]));
        let newest: Vec<u64> = sent.iter().rev().take(50).map(|(_, id)| *id).collect();
        for id in newest {
            assert!(hist.contains(&id), "history lost {id}");
        }
    }
    let log_text = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
    assert!(
        log_text.contains("torn record"),
        "the torn tail was not reported: {log_text}"
    );
    server.terminate().unwrap();
}

/// `chatserver backup DIR` while senders keep the node busy: a node started
/// on the copy holds every message acknowledged before the backup began,
/// each once and in order, with its inbox state; the source keeps serving
/// meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_holds_what_was_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("chat.db").display());
    let port = chat_testkit::free_port().unwrap();
    let mut server = spawn(dir.path(), &db, port, "source.log").await;

    let mut tokens = Vec::new();
    let mut tasks = Vec::new();
    let acked: Acked = Arc::new(Mutex::new(vec![Vec::new(); 2]));
    for i in 0..2 {
        let mut s = connect(port).await;
        let sid = s.signup(&format!("s{i}")).await.unwrap();
        let mut r = connect(port).await;
        let rid = r.signup(&format!("r{i}")).await.unwrap();
        befriend(&mut s, &mut r).await.unwrap();
        // Receivers offline: every message stays in their inbox.
        tokens.push((r.token.clone().unwrap(), sid, rid));
        drop(r);
        tasks.push(tokio::spawn(load(s, i, rid, acked.clone())));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = acked.lock().unwrap().clone();
    let copy = dir.path().join("copy");
    let (out, copy) = tokio::task::spawn_blocking(move || {
        let out = Command::new(BIN)
            .arg("backup")
            .arg(&copy)
            .args(["--db", &db])
            .env_remove("CHAT_DB")
            .output()
            .unwrap();
        (out, copy)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The source served all along.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = acked.lock().unwrap().iter().map(Vec::len).sum::<usize>();
    assert!(
        during > before.iter().map(Vec::len).sum::<usize>(),
        "the node stopped acknowledging during the backup"
    );
    server.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(before.iter().all(|v| v.len() > 10), "too little load");

    let copy_db = format!("sqlite://{}", copy.join("chat.db").display());
    let port = chat_testkit::free_port().unwrap();
    let mut restored = spawn(dir.path(), &copy_db, port, "copy.log").await;
    for (i, sent) in before.iter().enumerate() {
        let (rtoken, sid, rid) = &tokens[i];
        let (_, events) = replay(port, *rid, rtoken).await;
        let unique = once_in_order(&events, i);
        assert!(
            events
                .iter()
                .all(|e| e["msg"]["from"].as_u64() == Some(*sid))
        );
        for (cid, id) in sent {
            assert!(
                unique.contains(id),
                "{cid} ({id}) was acknowledged before the backup and is not in it"
            );
        }
    }
    restored.terminate().unwrap();
}
