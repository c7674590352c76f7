//! Runs short workloads through the bench's own code against the relay,
//! started in this process: the driver gets every message once from it,
//! as from the server, and sets up friendships the version 2 way
//! (`add_friend`, then `accept_friend`), which the relay speaks. Then
//! `--baseline`: the relay and a real server back to back, in this
//! process and through the binary, which starts a relay of its own.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_runs_the_relay_then_the_server() {
    let (relay_addr, _stop) = relay().await;
    let server = chat_testkit::TestServer::start_with(|c| {
        c.rate = 1_000_000;
        c.burst = 1_000_000;
    })
    .await
    .unwrap();
    let opts = short_opts(
        &server.addr.to_string(),
        &["--baseline", &relay_addr, "one-to-one", "--pairs", "3"],
    );
    let both = chatbench::compare::compare(opts).await.unwrap();
    assert_eq!(both.relay.addr, relay_addr);
    assert_eq!(both.server.addr, server.addr.to_string());
    assert_clean(&both.relay);
    assert_clean(&both.server);
    let r = both.ratio;
    assert_eq!(r.figure, "delivered_per_s");
    assert_eq!(
        (r.relay, r.server),
        (both.relay.delivered_per_s, both.server.delivered_per_s)
    );
    assert_eq!(r.ratio, Some(r.server / r.relay));
    assert!(both.human().contains("server / relay: delivered_per_s"));
}

#[test]
fn the_binary_starts_its_own_relay_for_the_baseline() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime
        .block_on(chat_testkit::TestServer::start_with(|c| {
            c.rate = 1_000_000;
            c.burst = 1_000_000;
        }))
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatbench"))
        .args(["--addr", &server.addr.to_string()])
        .args(["--quiet", "--json", "--warmup", "0.2", "--duration", "0.5"])
        .args(["--baseline", "relay", "login", "--connections", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ratio"]["figure"], "logins_per_s");
    assert!(v["relay"]["logins"].as_u64().unwrap() > 0, "{v}");
    assert!(v["server"]["logins"].as_u64().unwrap() > 0, "{v}");
    // The relay was its own process: the bench read its memory.
    assert!(
        v["relay"]["server"]["rss_end_kib"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_ne!(v["relay"]["addr"], v["server"]["addr"]);
}
