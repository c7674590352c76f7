//! Runs short workloads through the bench's own code against the relay,
//! started in this process: the driver gets every message once from it,
//! as from the server, and sets up friendships the version 2 way
//! (`add_friend`, then `accept_friend`), which the relay speaks.

mod common;

use chatbench::run;
use common::{assert_clean, bench_at, relay, short_opts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_one_against_the_relay_delivers_every_message_once() {
    let (addr, _stop) = relay().await;
    for args in [
        &["one-to-one", "--pairs", "4"][..],
        &["one-to-one", "--pairs", "3", "--rate", "600"][..],
    ] {
        let s = bench_at(&addr, args).await;
        assert_clean(&s);
        // One recipient per message.
        assert_eq!(s.total_delivered, s.total_ok, "{s:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_idle_against_the_relay() {
    let (addr, _stop) = relay().await;
    let s = bench_at(&addr, &["login", "--connections", "4"]).await;
    assert!(s.logins.unwrap() > 0, "{s:#?}");
    assert!(s.errors.is_empty(), "{s:#?}");
    let s = bench_at(&addr, &["idle", "--connections", "10"]).await;
    assert_eq!(s.connections, 10);
    assert!(s.errors.is_empty(), "{s:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_the_relay_cannot_serve_fails_at_setup() {
    let (addr, _stop) = relay().await;
    // The relay has no groups: setup stops at the first create_group.
    let e = run(short_opts(&addr, &["group", "--group-size", "2"]))
        .await
        .expect_err("the relay has no groups");
    let text = format!("{e:#}");
    assert!(text.contains("unknown_op"), "{text}");
}
