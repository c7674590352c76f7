//! What one durable commit of a batch of chat messages costs, for the
//! candidate designs of the embedded store (docs/bench.md, "Issue 10").
//!
//! `cargo run --release --example commit_cost -- DIR [BATCH] [SECONDS]`
//!
//! Each candidate gets a fresh directory, the same messages (100 pairs,
//! 40-byte texts, cids shaped like chatbench's), batches of BATCH messages
//! (one commit each, fsynced), and every message acked one batch later.
//! It prints commits/s, commit latency and the bytes the process wrote
//! (`write_bytes` of /proc/self/io: page-cache pages dirtied) per message.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

const PAIRS: u64 = 100;
const SCHEMA: &str = include_str!("../migrations/sqlite/0001_init.sql");
const SCHEMA2: &str = include_str!("../migrations/sqlite/0003_consent.sql");

fn write_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

struct Msg {
    id: i64,
    from: i64,
    to: i64,
    text: String,
    cid: String,
    ts: i64,
}

fn batch(next: &mut i64, n: usize) -> Vec<Msg> {
    (0..n)
        .map(|_| {
            *next += 1;
            let i = *next as u64;
            let pair = i % PAIRS;
            let (from, to) = if i.is_multiple_of(2) {
                (1 + 2 * pair, 2 + 2 * pair)
            } else {
                (2 + 2 * pair, 1 + 2 * pair)
            };
            Msg {
                id: *next,
                from: from as i64,
                to: to as i64,
                text: format!("{:040}", i),
                cid: format!("1.{from:x}.{:x}.{:x}", i / PAIRS, i * 7),
                ts: 1_764_000_000_000 + *next,
            }
        })
        .collect()
}

struct Report {
    name: &'static str,
    msgs: u64,
    commits: u64,
    elapsed: Duration,
    lat: Vec<Duration>,
    bytes: u64,
}

impl Report {
    fn print(&mut self) {
        self.lat.sort();
        let p = |q: f64| {
            self.lat
                .get(((self.lat.len() as f64 * q) as usize).min(self.lat.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        println!(
            "{:<34} {:>8.0} msg/s {:>7.0} commits/s  commit p50 {:>6.2} ms p99 {:>6.2} ms  {:>6.0} B/msg",
            self.name,
            self.msgs as f64 / self.elapsed.as_secs_f64(),
            self.commits as f64 / self.elapsed.as_secs_f64(),
            p(0.5).as_secs_f64() * 1e3,
            p(0.99).as_secs_f64() * 1e3,
            self.bytes as f64 / self.msgs as f64,
        );
    }
}

fn open(path: &Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;")
        .unwrap();
    c
}

/// Inserts a batch as the store did before issue 10: the message row,
/// three indexes, an inbox row each, and the previous batch's acks.
fn apply(tx: &rusqlite::Transaction, msgs: &[Msg], acks: &[(i64, i64)]) {
    let mut ins = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO messages (id, sender_id, recipient_id, group_id, text, cid, ts) \
             VALUES (?, ?, ?, NULL, ?, ?, ?)",
        )
        .unwrap();
    let mut inbox = tx
        .prepare_cached("INSERT OR IGNORE INTO inbox (user_id, msg_id) VALUES (?, ?)")
        .unwrap();
    for m in msgs {
        ins.execute(params![m.id, m.from, m.to, m.text, m.cid, m.ts])
            .unwrap();
        inbox.execute(params![m.to, m.id]).unwrap();
    }
    let mut del = tx
        .prepare_cached("DELETE FROM inbox WHERE user_id = ? AND msg_id = ?")
        .unwrap();
    for (u, id) in acks {
        del.execute(params![u, id]).unwrap();
    }
}

/// A: one SQLite transaction per batch, the pre-issue-10 schema.
fn sqlite_per_commit(dir: &Path, b: usize, secs: f64) -> Report {
    let mut c = open(&dir.join("a.db"));
    c.execute_batch(SCHEMA).unwrap();
    c.execute_batch(SCHEMA2).unwrap();
    let (mut next, mut lat, mut acks) = (0i64, Vec::new(), Vec::new());
    let (w0, t0) = (write_bytes(), Instant::now());
    while t0.elapsed().as_secs_f64() < secs {
        let msgs = batch(&mut next, b);
        let t = Instant::now();
        let tx = c.transaction().unwrap();
        apply(&tx, &msgs, &acks);
        tx.commit().unwrap();
        lat.push(t.elapsed());
        acks = msgs.iter().map(|m| (m.to, m.id)).collect();
    }
    Report {
        name: "A  SQLite, 4 B-trees, per commit",
        msgs: next as u64,
        commits: lat.len() as u64,
        elapsed: t0.elapsed(),
        lat,
        bytes: write_bytes() - w0,
    }
}

/// B: the least any SQLite-per-commit design writes: the message row alone
/// (no secondary index, no inbox row, no ack).
fn sqlite_rows_only(dir: &Path, b: usize, secs: f64) -> Report {
    let mut c = open(&dir.join("b.db"));
    c.execute_batch(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, sender_id INTEGER, recipient_id INTEGER, \
         text TEXT, cid TEXT, ts INTEGER)",
    )
    .unwrap();
    let (mut next, mut lat) = (0i64, Vec::new());
    let (w0, t0) = (write_bytes(), Instant::now());
    while t0.elapsed().as_secs_f64() < secs {
        let msgs = batch(&mut next, b);
        let t = Instant::now();
        let tx = c.transaction().unwrap();
        {
            let mut ins = tx
                .prepare_cached("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)")
                .unwrap();
            for m in &msgs {
                ins.execute(params![m.id, m.from, m.to, m.text, m.cid, m.ts])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        lat.push(t.elapsed());
    }
    Report {
        name: "B  SQLite, message row only",
        msgs: next as u64,
        commits: lat.len() as u64,
        elapsed: t0.elapsed(),
        lat,
        bytes: write_bytes() - w0,
    }
}

fn encode(out: &mut Vec<u8>, msgs: &[Msg], acks: &[(i64, i64)]) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    for m in msgs {
        for v in [m.id, m.ts, m.from, m.to] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(m.text.len() as u32).to_le_bytes());
        out.extend_from_slice(m.text.as_bytes());
        out.extend_from_slice(&(m.cid.len() as u16).to_le_bytes());
        out.extend_from_slice(m.cid.as_bytes());
    }
    for (u, id) in acks {
        out.extend_from_slice(&u.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    let len = (out.len() - start - 8) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// C: an append-only log, fdatasync per batch; every `every` the
/// messages logged meanwhile are applied to SQLite (schema A) in one
/// transaction, minus the inbox rows already acked (they never reach it).
fn log_then_sqlite(dir: &Path, b: usize, secs: f64, every: Duration) -> Report {
    let mut c = open(&dir.join("c.db"));
    c.execute_batch(SCHEMA).unwrap();
    c.execute_batch(SCHEMA2).unwrap();
    let mut log: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("c.log"))
        .unwrap();
    let (mut next, mut lat, mut acks) = (0i64, Vec::new(), Vec::<(i64, i64)>::new());
    let mut pending: Vec<Msg> = Vec::new();
    let mut buf = Vec::new();
    let (w0, t0) = (write_bytes(), Instant::now());
    let mut last = Instant::now();
    while t0.elapsed().as_secs_f64() < secs {
        let msgs = batch(&mut next, b);
        let t = Instant::now();
        buf.clear();
        encode(&mut buf, &msgs, &acks);
        log.write_all(&buf).unwrap();
        log.sync_data().unwrap();
        lat.push(t.elapsed());
        acks = msgs.iter().map(|m| (m.to, m.id)).collect();
        pending.extend(msgs);
        if last.elapsed() >= every {
            // Every message but the last batch was acked: no inbox rows.
            let tx = c.transaction().unwrap();
            apply(&tx, &pending, &[]);
            tx.commit().unwrap();
            pending.clear();
            last = Instant::now();
        }
    }
    Report {
        name: "C  log + SQLite every 1 s",
        msgs: next as u64,
        commits: lat.len() as u64,
        elapsed: t0.elapsed(),
        lat,
        bytes: write_bytes() - w0,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).map_or("/tmp/commit_cost", String::as_str)).to_owned();
    let b: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(100);
    let secs: f64 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(5.0);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    println!("batch of {b} messages, {secs} s each");
    sqlite_per_commit(&dir, b, secs).print();
    sqlite_rows_only(&dir, b, secs).print();
    log_then_sqlite(&dir, b, secs, Duration::from_secs(1)).print();
    let _ = std::fs::remove_dir_all(&dir);
}
