//! Runs short workloads through the bench's own code against the relay,
//! started in this process: the driver gets every message once from it,
//! as from the server, and sets up friendships the version 2 way
//! (`add_friend`, then `accept_friend`), which the relay speaks.

use chatbench::{Opts, Summary, run};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A relay on 127.0.0.1:0; it stops when the sender is dropped.
async fn relay() -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(chatbench::relay::serve(listener, async {
        let _ = rx.await;
    }));
    (addr, tx)
}

async fn bench(addr: &str, args: &[&str]) -> Summary {
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
    run(Opts::try_parse_from(all).expect("arguments parse"))
        .await
        .expect("the workload runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_one_against_the_relay_delivers_every_message_once() {
    let (addr, _stop) = relay().await;
    for args in [
        &["one-to-one", "--pairs", "4"][..],
        &["one-to-one", "--pairs", "3", "--rate", "600"][..],
    ] {
        let s = bench(&addr, args).await;
        assert!(s.delivered > 0, "nothing delivered: {s:#?}");
        assert_eq!(s.lost, 0, "{s:#?}");
        assert_eq!(s.duplicates, 0, "{s:#?}");
        assert_eq!(s.unconfirmed, 0, "{s:#?}");
        assert!(s.errors.is_empty(), "{s:#?}");
        assert!(s.drain_complete, "{s:#?}");
        assert_eq!(s.total_ok, s.total_sent, "{s:#?}");
        assert_eq!(s.total_delivered, s.total_ok, "{s:#?}");
        assert!(s.latency_us.is_some(), "{s:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_idle_against_the_relay() {
    let (addr, _stop) = relay().await;
    let s = bench(&addr, &["login", "--connections", "4"]).await;
    assert!(s.logins.unwrap() > 0, "{s:#?}");
    assert!(s.errors.is_empty(), "{s:#?}");
    let s = bench(&addr, &["idle", "--connections", "10"]).await;
    assert_eq!(s.connections, 10);
    assert!(s.errors.is_empty(), "{s:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_the_relay_cannot_serve_fails_at_setup() {
    let (addr, _stop) = relay().await;
    let opts = Opts::try_parse_from([
        "chatbench",
        "--addr",
        &addr,
        "--quiet",
        "group",
        "--group-size",
        "2",
    ])
    .unwrap();
    // The relay has no groups: setup stops at the first create_group.
    let e = run(opts).await.expect_err("the relay has no groups");
    let text = format!("{e:#}");
    assert!(text.contains("unknown_op"), "{text}");
}
