//! The same workloads over every transport the server speaks: a
//! WebSocket to its web listener's `/ws`, TLS over TCP and WebSocket
//! inside TLS (wss), against a server started in this process (for TLS,
//! with a certificate from a private CA made here by rcgen). Each run
//! must deliver, lose nothing and duplicate nothing, as over plain TCP.

mod common;

use chat_testkit::TestServer;
use common::{assert_clean, bench_at};

async fn server(tls: Option<&std::path::Path>) -> TestServer {
    TestServer::start_with(|c| {
        c.rate = 1_000_000;
        c.burst = 1_000_000;
        if let Some(dir) = tls {
            c.tls_cert = Some(dir.join("cert.pem"));
            c.tls_key = Some(dir.join("key.pem"));
        }
    })
    .await
    .expect("server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_one_over_a_websocket_delivers_every_message_once() {
    let server = server(None).await;
    let web = server.web.expect("web listener").to_string();
    let s = bench_at(&web, &["--transport", "ws", "one-to-one", "--pairs", "4"]).await;
    assert_clean(&s);
    assert_eq!(s.transport, "ws");
    assert_eq!(s.total_delivered, s.total_ok, "{s:#?}");
    // Token logins over the WebSocket too (each a new upgrade).
    let s = bench_at(&web, &["--transport", "ws", "login", "--connections", "2"]).await;
    assert!(s.logins.unwrap() > 0, "{s:#?}");
    assert!(s.errors.is_empty(), "{s:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_is_refused() {
    let server = server(None).await;
    let web = server.web.expect("web listener").to_string();
    let e = chatbench::run(common::short_opts(
        &web,
        &[
            "--transport",
            "ws",
            "--origin",
            "http://evil.example",
            "one-to-one",
            "--pairs",
            "1",
        ],
    ))
    .await
    .expect_err("the server refuses the origin");
    assert!(format!("{e:#}").contains("403"), "{e:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_one_over_tls_and_wss() {
    let dir = tempfile::tempdir().unwrap();
    let ca = chat_testkit::certificates(dir.path(), 1).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let ca_file = ca_file.to_str().unwrap();
    let server = server(Some(dir.path())).await;
    // The certificate names localhost; the address is 127.0.0.1.
    let tls = ["--tls", "--ca", ca_file, "--server-name", "localhost"];

    let mut args = tls.to_vec();
    args.extend(["one-to-one", "--pairs", "4"]);
    let s = bench_at(&server.addr.to_string(), &args).await;
    assert_clean(&s);
    assert_eq!(s.transport, "tls");
    assert_eq!(s.total_delivered, s.total_ok, "{s:#?}");

    let mut args = tls.to_vec();
    args.extend(["--transport", "ws", "one-to-one", "--pairs", "4"]);
    let s = bench_at(&server.web.unwrap().to_string(), &args).await;
    assert_clean(&s);
    assert_eq!(s.transport, "wss");
    assert_eq!(s.total_delivered, s.total_ok, "{s:#?}");

    // A certificate for another name is refused.
    let e = chatbench::run(common::short_opts(
        &server.addr.to_string(),
        &["--tls", "--ca", ca_file, "one-to-one", "--pairs", "1"],
    ))
    .await
    .expect_err("127.0.0.1 is not in the certificate");
    assert!(format!("{e:#}").contains("TLS handshake"), "{e:#}");
}
