//! The chaos soak (issue 14): a cluster of real `chatserver` processes on
//! MariaDB (each node through its own [`FaultProxy`]) and a Redis of the
//! test's own, users chatting in friend pairs and in a group with `cid`s,
//! acking and reconnecting by token, while faults come one after another:
//!
//! - `node_kill`: kill -9 of a node, restarted on its port a few seconds
//!   later;
//! - `node_pause`: SIGSTOP of a node, SIGCONT 2 to 5 s later, or 11 to
//!   14 s later (past the reaper's window: the node is declared dead, then
//!   comes back with the sessions of the clients that waited);
//! - `redis_kill`: kill -9 of Redis, restarted empty;
//! - `db_cut`: one node's database link (or every node's) cut, then
//!   restored;
//! - `db_stall`: the same link stalled: nothing forwarded, nothing closed.
//!
//! Every message sent is in a ledger (sender, recipient or group, cid, and
//! each attempt's outcome: the acked id, `unavailable`, another error, or
//! no answer), and every message received, per recipient. A client whose
//! request got no answer retries the same `cid` (on whichever node
//! answers) until it gets one, and only then sends its next message, so
//! each sender's ledger order is the order of acceptance. Most clients
//! give up on a node after 3 s; a quarter wait 25 s, riding out pauses and
//! stalls on the same connection.
//!
//! Once the faults stop, the run passes when nothing acked is lost (every
//! recipient got it, without logging in again for it), each
//! sender-to-recipient (or group) pair arrived in order once duplicates
//! are dropped by id, each `cid` has one id (answered, delivered and
//! stored), nothing refused (`unavailable` or another error) was stored,
//! and presence is right: everyone connected is online to their friends,
//! and once half of them leave, those are offline.
//!
//! Settings (environment): `CHAOS_SECS` (faults for this long, default
//! 45), `CHAOS_SEED` (the schedule's seed; printed, default from the
//! clock), `CHAOS_USERS` (even, default 8), `CHAOS_NODES` (default 3).
//! `scripts/test` runs the default; docs/operations.md ("Chaos soak") has
//! the long run and its figures.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_testkit::chaos::{
    Attempt, Conn, Delivery, FaultProxy, Ledger, NodeProc, NodeSpec, Outcome, Rng, Sent, Stored,
    Tally, To, clock_seed, private_copy,
};
use chat_testkit::fixture::befriend;
use chat_testkit::{TestClient, url_addr, url_via};
use serde_json::{Value, json};

/// How long a client waits for a reply before it gives up on the node.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a login may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a patient client waits (a quarter of the users): past any
/// pause or stall, so it rides them out on the same connection, as an idle
/// client would.
const PATIENCE: Duration = Duration::from_secs(25);
/// How long the cluster has, once the faults stop, to deliver everything.
const SETTLE: Duration = Duration::from_secs(45);
/// How long presence has to be right once everything settled.
const PRESENCE: Duration = Duration::from_secs(25);

const CHAOS: u8 = 0;
const SETTLING: u8 = 1;
const QUIT: u8 = 2;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the clients share: the ledger, the phase, the nodes' ports.
struct Shared {
    ledger: Mutex<Ledger>,
    phase: AtomicU8,
    ports: Vec<u16>,
    /// Client-side counts (reconnects, timeouts, ...).
    tally: Mutex<Tally>,
    /// Per user: settled (connected, nothing in flight) while settling.
    settled: Vec<AtomicBool>,
    started: Instant,
}

impl Shared {
    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Acquire)
    }

    /// Milliseconds since the run began.
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn count(&self, what: &str) {
        self.tally.lock().unwrap().add(what);
    }
}

/// One simulated user: one connection at a time, to any node.
struct Sim {
    index: usize,
    me: u64,
    token: String,
    friends: Vec<u64>,
    group: u64,
    shared: Arc<Shared>,
    rng: Rng,
    conn: Option<Conn>,
    serial: u64,
    unacked: Vec<u64>,
    sent: u64,
    /// How long this client waits for a reply.
    patience: Duration,
}

impl Sim {
    /// Records what arrived on the current connection.
    fn record(&mut self, events: Vec<Value>) {
        let port = self.conn.as_ref().map_or(0, |c| c.port);
        self.record_from(port, events);
    }

    /// Records what arrived from the node on `port`: `msg` events go to
    /// the ledger.
    fn record_from(&mut self, port: u16, events: Vec<Value>) {
        if events.is_empty() {
            return;
        }
        let at = self.shared.now_ms();
        let mut ledger = self.shared.ledger.lock().unwrap();
        for ev in events {
            if let Some(d) = Delivery::of_event(&ev, self.serial, port, at) {
                if d.from != self.me {
                    self.unacked.push(d.id);
                }
                ledger.received.entry(self.me).or_default().push(d);
            }
        }
    }

    /// Gives up on the connection, keeping what it had received.
    fn drop_conn(&mut self, why: &str) {
        if let Some(mut c) = self.conn.take() {
            let mut evs = Vec::new();
            c.drain(&mut evs);
            self.record_from(c.port, evs);
            self.shared.count(why);
        }
    }

    /// The current connection, or a new one logged in by token on the
    /// first node that answers. None only when the run is over.
    async fn connect(&mut self) -> Option<&mut Conn> {
        let mut evs = Vec::new();
        let open = self.conn.as_mut().map(|c| c.drain(&mut evs));
        self.record(evs);
        match open {
            Some(true) => return self.conn.as_mut(),
            Some(false) => self.drop_conn("closed by the server"),
            None => {}
        }
        let n = self.shared.ports.len();
        loop {
            if self.shared.phase() == QUIT {
                return None;
            }
            let first = self.rng.below(n as u64) as usize;
            for k in 0..n {
                let port = self.shared.ports[(first + k) % n];
                let Ok(mut c) = Conn::connect(port, Duration::from_secs(1)).await else {
                    continue;
                };
                let mut evs = Vec::new();
                let login = json!({"op": "login", "user": self.me, "token": self.token});
                match c.request(login, self.patience, &mut evs).await {
                    Some(r) if r["ok"] == json!(true) => {
                        self.serial += 1;
                        self.conn = Some(c);
                        self.record(evs);
                        self.shared.count("logins");
                        return self.conn.as_mut();
                    }
                    Some(r) => self.shared.count(&format!(
                        "login refused: {}",
                        r["code"].as_str().unwrap_or("?")
                    )),
                    None => self.shared.count("login timed out"),
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Sends one message and settles it: retries its `cid` after no
    /// answer until some node answers.
    async fn send_one(&mut self) {
        let to = if self.rng.chance(0.3) {
            To::Group(self.group)
        } else {
            To::User(*self.rng.pick(&self.friends))
        };
        let cid = format!("{}-{}", self.me, self.sent);
        self.sent += 1;
        let frame = match to {
            To::User(u) => json!({"op": "chat", "to": u, "text": cid, "cid": cid}),
            To::Group(g) => json!({"op": "group_chat", "group": g, "text": cid, "cid": cid}),
        };
        let mut send = Sent {
            from: self.me,
            to,
            cid,
            attempts: Vec::new(),
        };
        while send.attempts.len() < 200 {
            let patience = self.patience;
            let Some(conn) = self.connect().await else {
                break;
            };
            let port = conn.port;
            let mut evs = Vec::new();
            let reply = conn.request(frame.clone(), patience, &mut evs).await;
            self.record(evs);
            let Some(reply) = reply else {
                send.attempts.push(Attempt {
                    port,
                    outcome: Outcome::NoAnswer,
                    at_ms: self.shared.now_ms(),
                });
                self.drop_conn("no answer to a message");
                continue;
            };
            let outcome = Outcome::of_reply(&reply);
            send.attempts.push(Attempt {
                port,
                outcome: outcome.clone(),
                at_ms: self.shared.now_ms(),
            });
            match outcome {
                Outcome::Ok(_) => break,
                // A refused new message is not retried (a client would
                // send it again as a new one); one in doubt is.
                _ if !send.in_doubt() => {
                    self.shared.count("messages refused");
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
        self.shared.ledger.lock().unwrap().sends.push(send);
    }

    /// Acks what arrived (or pings, to notice a dead node).
    async fn ack_or_ping(&mut self) {
        let ids: Vec<u64> = self.unacked.iter().copied().take(1000).collect();
        let frame = if ids.is_empty() {
            json!({"op": "ping"})
        } else {
            json!({"op": "ack", "ids": ids})
        };
        let patience = self.patience;
        let Some(conn) = self.connect().await else {
            return;
        };
        let mut evs = Vec::new();
        let reply = conn.request(frame, patience, &mut evs).await;
        self.record(evs);
        match reply {
            Some(r) if r["ok"] == json!(true) => {
                let done: HashSet<u64> = ids.into_iter().collect();
                self.unacked.retain(|id| !done.contains(id));
            }
            Some(_) => {}
            None => self.drop_conn("no answer to an ack or ping"),
        }
    }

    async fn run(mut self) -> (usize, u64, Option<Conn>) {
        loop {
            match self.shared.phase() {
                CHAOS => {
                    self.send_one().await;
                    if self.unacked.len() >= 8 || self.rng.chance(0.2) {
                        self.ack_or_ping().await;
                    }
                    let pause = self
                        .rng
                        .between(Duration::from_millis(40), Duration::from_millis(160));
                    tokio::time::sleep(pause).await;
                }
                SETTLING => {
                    self.ack_or_ping().await;
                    let ok = self.conn.as_ref().is_some_and(|c| !c.is_closed());
                    self.shared.settled[self.index].store(ok, Ordering::Release);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                _ => break,
            }
        }
        let mut evs = Vec::new();
        if let Some(c) = self.conn.as_mut() {
            c.drain(&mut evs);
        }
        self.record(evs);
        (self.index, self.me, self.conn)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    NodeKill,
    NodePause,
    RedisKill,
    DbCut,
    DbStall,
}

impl Fault {
    const ALL: [Fault; 5] = [
        Fault::NodeKill,
        Fault::NodePause,
        Fault::RedisKill,
        Fault::DbCut,
        Fault::DbStall,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::NodeKill => "node_kill",
            Fault::NodePause => "node_pause",
            Fault::RedisKill => "redis_kill",
            Fault::DbCut => "db_cut",
            Fault::DbStall => "db_stall",
        }
    }
}

/// The services the cluster runs on, and the nodes.
struct Cluster {
    redis_port: u16,
    redis: Option<chat_testkit::Child>,
    proxies: Vec<FaultProxy>,
    nodes: Vec<NodeProc>,
}

impl Cluster {
    /// One fault, held for a while (not much past `cap`), then healed.
    async fn inject(&mut self, fault: Fault, rng: &mut Rng, cap: Duration) -> String {
        let hold = |rng: &mut Rng, lo: Duration, hi: Duration| rng.between(lo, hi).min(cap.max(lo));
        let n = self.nodes.len();
        match fault {
            Fault::NodeKill => {
                let i = rng.below(n as u64) as usize;
                let hold = hold(rng, Duration::from_secs(1), Duration::from_secs(5));
                self.nodes[i].kill9();
                tokio::time::sleep(hold).await;
                if let Err(e) = self.nodes[i].restart().await {
                    panic!("node {i} does not come back: {e:#}");
                }
                format!(
                    "kill -9 node {i}, restarted after {:.1} s",
                    hold.as_secs_f64()
                )
            }
            Fault::NodePause => {
                let i = rng.below(n as u64) as usize;
                // Half the pauses outlast the reaper (a liveness key lives
                // 8 s, checked every 2 s): the node is declared dead, then
                // comes back with its sessions.
                let hold = if rng.chance(0.5) {
                    hold(rng, Duration::from_secs(2), Duration::from_secs(5))
                } else {
                    hold(rng, Duration::from_secs(11), Duration::from_secs(14))
                };
                self.nodes[i].pause().unwrap();
                tokio::time::sleep(hold).await;
                self.nodes[i].resume().unwrap();
                format!(
                    "SIGSTOP node {i}, SIGCONT after {:.1} s",
                    hold.as_secs_f64()
                )
            }
            Fault::RedisKill => {
                let hold = hold(rng, Duration::from_millis(500), Duration::from_secs(4));
                if let Some(mut r) = self.redis.take() {
                    r.kill9();
                }
                tokio::time::sleep(hold).await;
                self.redis = Some(
                    chat_testkit::spawn_redis(self.redis_port)
                        .await
                        .expect("redis restarts"),
                );
                format!("kill -9 redis, restarted after {:.1} s", hold.as_secs_f64())
            }
            Fault::DbCut | Fault::DbStall => {
                let all = rng.chance(0.25);
                let which: Vec<usize> = if all {
                    (0..n).collect()
                } else {
                    vec![rng.below(n as u64) as usize]
                };
                let (lo, hi) = if fault == Fault::DbCut {
                    (1, 5)
                } else {
                    (2, 8)
                };
                let hold = hold(rng, Duration::from_secs(lo), Duration::from_secs(hi));
                for &i in &which {
                    if fault == Fault::DbCut {
                        self.proxies[i].cut();
                    } else {
                        self.proxies[i].stall();
                    }
                }
                tokio::time::sleep(hold).await;
                for &i in &which {
                    self.proxies[i].restore();
                }
                let whose = if all {
                    "every node's".to_owned()
                } else {
                    format!("node {}'s", which[0])
                };
                let how = if fault == Fault::DbCut {
                    "cut"
                } else {
                    "stalled"
                };
                format!(
                    "{whose} database link {how} for {:.1} s",
                    hold.as_secs_f64()
                )
            }
        }
    }
}

/// Every message stored between `a` and `b` (or in the group), read back
/// with `history` a page at a time.
async fn read_history(conn: &mut Conn, target: Value, stored: &mut Stored) -> anyhow::Result<()> {
    let mut before: Option<u64> = None;
    loop {
        let mut req = json!({"op": "history", "limit": 100});
        for (k, v) in target.as_object().unwrap() {
            req[k] = v.clone();
        }
        if let Some(b) = before {
            req["before"] = json!(b);
        }
        let mut evs = Vec::new();
        let r = conn
            .request(req, Duration::from_secs(10), &mut evs)
            .await
            .ok_or_else(|| anyhow::anyhow!("history: no answer"))?;
        anyhow::ensure!(r["ok"] == json!(true), "history failed: {r}");
        stored.add_history(&r);
        let page = r["messages"].as_array().map_or(0, |m| m.len());
        if page < 100 {
            return Ok(());
        }
        before = r["messages"][page - 1]["id"].as_u64();
    }
}

/// Each user's friends and whether `sync` shows them online.
async fn presence_seen(conn: &mut Conn) -> Option<HashMap<u64, bool>> {
    let mut evs = Vec::new();
    let r = conn
        .request(json!({"op": "sync"}), Duration::from_secs(5), &mut evs)
        .await?;
    Some(
        r["friends"]
            .as_array()?
            .iter()
            .filter_map(|f| Some((f["id"].as_u64()?, f["online"].as_bool()?)))
            .collect(),
    )
}

/// Polls until each listed user sees each friend as `expected` says;
/// returns what is still wrong at the deadline.
async fn presence_converges(
    conns: &mut [(u64, Conn)],
    expected: &HashMap<u64, bool>,
    within: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let mut wrong = Vec::new();
        for (me, conn) in conns.iter_mut() {
            match presence_seen(conn).await {
                None => wrong.push(format!("{me}: sync got no answer")),
                Some(seen) => {
                    for (f, online) in seen {
                        if let Some(&want) = expected.get(&f)
                            && want != online
                        {
                            wrong.push(format!("{me} sees {f} online={online}, want {want}"));
                        }
                    }
                }
            }
        }
        if wrong.is_empty() || Instant::now() > deadline {
            return wrong;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_soak() {
    let (Some(mysql), Some(_)) = (chat_testkit::mysql_url(), chat_testkit::redis_url()) else {
        return;
    };
    let secs: u64 = env_or("CHAOS_SECS", 45);
    let seed: u64 = env_or("CHAOS_SEED", clock_seed());
    let users: usize = env_or("CHAOS_USERS", 8usize).max(4) / 2 * 2;
    let node_count: usize = env_or("CHAOS_NODES", 3usize).max(2);
    eprintln!(
        "chaos soak: {secs} s of faults, {users} users, {node_count} nodes; \
         CHAOS_SEED={seed} replays this schedule"
    );
    let started = Instant::now();
    let mut rng = Rng::new(seed);

    // The cluster: private Redis, a fresh database behind one proxy per
    // node, the nodes (the first one alone first: it migrates).
    let dir = tempfile::tempdir().unwrap();
    let redis_port = chat_testkit::free_port().unwrap();
    let redis = chat_testkit::spawn_redis(redis_port).await.unwrap();
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let db = chat_testkit::fresh_mysql_db(&mysql).await.unwrap();
    let prefix = chat_testkit::unique_name("chaos");
    let bin = private_copy(env!("CARGO_BIN_EXE_chatserver").as_ref(), dir.path()).unwrap();
    let mut cluster = Cluster {
        redis_port,
        redis: Some(redis),
        proxies: Vec::new(),
        nodes: Vec::new(),
    };
    for i in 0..node_count {
        let proxy = FaultProxy::start(url_addr(&db).unwrap()).await.unwrap();
        let spec = NodeSpec {
            bin: bin.clone(),
            port: chat_testkit::free_port().unwrap(),
            db: url_via(&db, proxy.addr).unwrap(),
            redis: redis_url.clone(),
            prefix: prefix.clone(),
            log: dir.path().join(format!("node-{i}.log")),
            extra: vec![],
        };
        cluster.proxies.push(proxy);
        cluster.nodes.push(NodeProc::start(spec).await.unwrap());
    }
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port()).collect();

    // Users spread over the nodes; a ring of friendships; one group of all.
    let mut setup = Vec::new();
    let mut ids = Vec::new();
    for i in 0..users {
        let port = ports[i % node_count];
        let mut c = TestClient::connect(([127, 0, 0, 1], port).into())
            .await
            .unwrap();
        ids.push(c.signup(&format!("u{i}")).await.unwrap());
        setup.push(c);
    }
    for i in 0..users {
        let j = (i + 1) % users;
        let (a, b) = if i < j {
            let (l, r) = setup.split_at_mut(j);
            (&mut l[i], &mut r[0])
        } else {
            let (l, r) = setup.split_at_mut(i);
            (&mut r[0], &mut l[j])
        };
        befriend(a, b).await.unwrap();
    }
    let gid = chat_testkit::fixture::group(&mut setup[0], "all")
        .await
        .unwrap();
    for c in setup.iter_mut().skip(1) {
        c.ok(json!({"op": "join_group", "group": gid}))
            .await
            .unwrap();
    }
    let tokens: Vec<String> = setup.iter().map(|c| c.token.clone().unwrap()).collect();
    drop(setup);

    let mut ledger = Ledger::default();
    ledger.members.insert(gid, ids.clone());
    let shared = Arc::new(Shared {
        ledger: Mutex::new(ledger),
        phase: AtomicU8::new(CHAOS),
        ports: ports.clone(),
        tally: Mutex::new(Tally::default()),
        settled: (0..users).map(|_| AtomicBool::new(false)).collect(),
        started: Instant::now(),
    });
    let mut tasks = Vec::new();
    for i in 0..users {
        let sim = Sim {
            index: i,
            me: ids[i],
            token: tokens[i].clone(),
            friends: vec![ids[(i + 1) % users], ids[(i + users - 1) % users]],
            group: gid,
            shared: shared.clone(),
            rng: Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9)),
            conn: None,
            serial: 0,
            unacked: Vec::new(),
            sent: 0,
            patience: if i % 4 == 3 {
                PATIENCE
            } else {
                REQUEST_TIMEOUT
            },
        };
        tasks.push(tokio::spawn(sim.run()));
    }
    eprintln!("set up in {:.1} s", started.elapsed().as_secs_f64());

    // Faults, one after another, each kind in turn (shuffled) so that a
    // short run sees every kind.
    let mut faults = Tally::default();
    let mut timeline = Vec::new();
    let mut bag: Vec<Fault> = Vec::new();
    tokio::time::sleep(Duration::from_secs(2)).await;
    while shared.started.elapsed() < Duration::from_secs(secs) {
        if bag.is_empty() {
            bag = Fault::ALL.to_vec();
            rng.shuffle(&mut bag);
        }
        let fault = bag.pop().unwrap();
        let at = shared.started.elapsed();
        let left = Duration::from_secs(secs).saturating_sub(at);
        let what = cluster.inject(fault, &mut rng, left).await;
        faults.add(fault.name());
        let line = format!("{:>7.1} s  {what}", at.as_secs_f64());
        eprintln!("{line}");
        timeline.push(line);
        let gap = rng.between(Duration::from_millis(1000), Duration::from_millis(3000));
        tokio::time::sleep(gap).await;
    }
    let chaos_for = shared.started.elapsed();

    // Settle: no new messages; everyone connected; every acked message
    // delivered (or the time is up).
    shared.phase.store(SETTLING, Ordering::Release);
    let settle_start = Instant::now();
    loop {
        let all_settled = shared.settled.iter().all(|s| s.load(Ordering::Acquire));
        let missing = shared.ledger.lock().unwrap().missing().len();
        if all_settled && missing == 0 {
            break;
        }
        if settle_start.elapsed() > SETTLE {
            eprintln!("settling timed out: {missing} deliveries missing");
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let settled_in = settle_start.elapsed();
    shared.phase.store(QUIT, Ordering::Release);
    let mut conns: Vec<(usize, u64, Conn)> = Vec::new();
    for t in tasks {
        let (i, me, conn) = t.await.unwrap();
        if let Some(c) = conn {
            conns.push((i, me, c));
        }
    }
    conns.sort_by_key(|c| c.0);
    let ledger = shared.ledger.lock().unwrap().clone();

    // What was stored, from history.
    let mut stored = Stored::default();
    {
        let mut reader = Conn::connect(ports[0], Duration::from_secs(2))
            .await
            .unwrap();
        let mut evs = Vec::new();
        for i in 0..users {
            let login = json!({"op": "login", "user": ids[i], "token": tokens[i]});
            let r = reader
                .request(login, LOGIN_TIMEOUT, &mut evs)
                .await
                .unwrap();
            assert_eq!(r["ok"], json!(true), "{r}");
            read_history(
                &mut reader,
                json!({"with": ids[(i + 1) % users]}),
                &mut stored,
            )
            .await
            .unwrap();
            if i == 0 {
                read_history(&mut reader, json!({"group": gid}), &mut stored)
                    .await
                    .unwrap();
            }
            let r = reader
                .request(json!({"op": "logout"}), REQUEST_TIMEOUT, &mut evs)
                .await
                .unwrap();
            assert_eq!(r["ok"], json!(true), "{r}");
        }
    }
    let verdict = ledger.check(Some(&stored));
    let mut problems = verdict.problems();

    // Missing deliveries: did a login bring them at least?
    if !verdict.missing.is_empty() {
        let who: HashSet<u64> = verdict.missing.iter().map(|m| m.0).collect();
        let mut at_login: HashSet<(u64, u64)> = HashSet::new();
        for u in who {
            let i = ids.iter().position(|&x| x == u).unwrap();
            let mut c = Conn::connect(ports[0], Duration::from_secs(2))
                .await
                .unwrap();
            let mut evs = Vec::new();
            let login = json!({"op": "login", "user": u, "token": tokens[i]});
            c.request(login, LOGIN_TIMEOUT, &mut evs).await;
            c.events_for(Duration::from_secs(3), &mut evs).await;
            for e in &evs {
                if let Some(id) = e["msg"]["id"].as_u64() {
                    at_login.insert((u, id));
                }
            }
        }
        let late = verdict
            .missing
            .iter()
            .filter(|m| at_login.contains(&(m.0, m.1)))
            .count();
        // First, so that it shows above the list of what is missing.
        problems.insert(
            0,
            format!(
                "{} acked deliveries never arrived live: {late} came at a new login, {} not even then",
                verdict.missing.len(),
                verdict.missing.len() - late
            ),
        );
    }

    // Presence: everyone connected sees every friend online; then half go
    // away and their friends see them offline.
    let mut live: Vec<(u64, Conn)> = conns.into_iter().map(|(_, me, c)| (me, c)).collect();
    let expected: HashMap<u64, bool> = ids.iter().map(|&u| (u, true)).collect();
    let presence_start = Instant::now();
    let mut wrong = presence_converges(&mut live, &expected, PRESENCE).await;
    if wrong.is_empty() {
        let (leave, mut stay): (Vec<_>, Vec<_>) = live
            .into_iter()
            .partition(|(me, _)| ids.iter().position(|x| x == me).unwrap() % 2 == 0);
        let gone: HashSet<u64> = leave.iter().map(|(me, _)| *me).collect();
        drop(leave);
        let expected: HashMap<u64, bool> = ids.iter().map(|&u| (u, !gone.contains(&u))).collect();
        wrong = presence_converges(&mut stay, &expected, PRESENCE).await;
    }
    let presence_in = presence_start.elapsed();
    problems.extend(wrong.iter().take(20).map(|w| format!("presence: {w}")));

    // The nodes never panicked.
    for (i, n) in cluster.nodes.iter().enumerate() {
        let log = std::fs::read_to_string(&n.spec.log).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains("panicked")) {
            problems.push(format!("node {i} panicked: {line}"));
        }
    }
    let client = shared.tally.lock().unwrap().clone();

    eprintln!("\n== chaos soak summary (CHAOS_SEED={seed})");
    eprintln!(
        "faults for {:.0} s: {} ({faults})",
        chaos_for.as_secs_f64(),
        faults.0.values().sum::<u64>()
    );
    eprintln!(
        "messages: {} sent ({} attempts), {} acked, {} refused unavailable, {} refused otherwise, {} in doubt and retried",
        verdict.messages,
        verdict.attempts,
        verdict.acked,
        verdict.refused_unavailable,
        verdict.refused_other,
        verdict.in_doubt
    );
    eprintln!(
        "deliveries: {} expected, {} received ({} unique, {} duplicates), {} missing; \
         {} own messages echoed to the sender's next session",
        verdict.expected_deliveries,
        verdict.deliveries,
        verdict.unique_deliveries,
        verdict.deliveries - verdict.unique_deliveries,
        verdict.missing.len(),
        verdict.echoes
    );
    eprintln!("stored (history): {} messages", stored.ids.len());
    eprintln!(
        "violations: {} lost, {} pairs out of order, {} cid, {} failed but stored, \
         {} acked but not in history, {} unexplained, {} presence",
        verdict.missing.len(),
        verdict.disorder.len(),
        verdict.cid_conflicts.len(),
        verdict.stored_after_failure.len(),
        verdict.not_in_history.len(),
        verdict.strangers.len(),
        wrong.len()
    );
    eprintln!("clients: {client}");
    eprintln!(
        "settled in {:.1} s; presence right in {:.1} s; whole run {:.0} s",
        settled_in.as_secs_f64(),
        presence_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    if !problems.is_empty() {
        let kept = dir.keep();
        let dump = serde_json::to_vec(&ledger.to_json()).unwrap();
        std::fs::write(kept.join("ledger.json"), dump).unwrap();
        eprintln!(
            "\n== {} problems (node logs and ledger.json kept in {}; the nodes' ports: {:?})",
            problems.len(),
            kept.display(),
            ports
        );
        for p in problems.iter().take(60) {
            eprintln!("  {p}");
        }
        eprintln!("== timeline");
        for t in &timeline {
            eprintln!("  {t}");
        }
        panic!(
            "the chaos soak found {} problems (CHAOS_SEED={seed}); first: {}",
            problems.len(),
            problems[0]
        );
    }
    assert!(verdict.acked > 0, "nothing was acked");
    if secs >= 40 {
        for f in Fault::ALL {
            assert!(faults.get(f.name()) > 0, "no {} in {secs} s", f.name());
        }
    }
    drop(cluster);
    chat_testkit::drop_mysql_db(&db).await.unwrap();
}
