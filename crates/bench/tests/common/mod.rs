//! What the integration tests share: running the bench's own code with
//! short phases, what a clean run looks like, and a relay in this process.

// Each test file uses only some of these helpers.
#![allow(dead_code)]

use chatbench::{Opts, Summary, run};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Parses the bench's options for a short run against `addr`: 0.2 s of
/// warmup, 1 s measured, 2 setup connections, quiet; `args` come after.
pub fn short_opts(addr: &str, args: &[&str]) -> Opts {
    let mut all = vec![
        "chatbench",
        "--addr",
        addr,
        "--quiet",
        "--warmup",
        "0.2",
        "--duration",
        "1",
        "--setup-connections",
        "2",
    ];
    all.extend_from_slice(args);
    Opts::try_parse_from(all).expect("arguments parse")
}

/// Runs a short workload against `addr`; it must run to the end.
pub async fn bench_at(addr: &str, args: &[&str]) -> Summary {
    run(short_opts(addr, args))
        .await
        .expect("the workload runs")
}

/// Messages were delivered, each `ok` one exactly once, without errors.
pub fn assert_clean(s: &Summary) {
    assert!(s.delivered > 0, "nothing delivered: {s:#?}");
    assert_eq!(s.lost, 0, "{s:#?}");
    assert_eq!(s.duplicates, 0, "{s:#?}");
    assert_eq!(s.unconfirmed, 0, "{s:#?}");
    assert!(s.errors.is_empty(), "{s:#?}");
    assert!(s.drain_complete, "{s:#?}");
    assert_eq!(s.total_ok, s.total_sent, "{s:#?}");
    let p = s.latency_us.expect("latency measured");
    assert!(p.count > 0 && p.p50 <= p.p99 && p.p99 <= p.max, "{p:?}");
}

/// A relay on 127.0.0.1:0; it stops when the sender is dropped.
pub async fn relay() -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(chatbench::relay::serve(listener, async {
        let _ = rx.await;
    }));
    (addr, tx)
}
