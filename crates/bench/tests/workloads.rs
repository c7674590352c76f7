//! Runs short workloads through the bench's own code against a real
//! server started in this process, and checks what a bench user relies
//! on: messages were delivered, none lost, none twice.

mod common;

use chat_testkit::TestServer;
use chatbench::Summary;
use common::assert_clean;

async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.rate = 1_000_000;
        c.burst = 1_000_000;
    })
    .await
    .expect("server starts")
}

async fn bench(server: &TestServer, args: &[&str]) -> Summary {
    common::bench_at(&server.addr.to_string(), args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_one_and_group_deliver_every_message_once() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.json");
    let users = users.to_str().unwrap();

    let s = bench(
        &server,
        &["one-to-one", "--pairs", "4", "--users-file", users],
    )
    .await;
    assert_clean(&s);
    assert_eq!((s.connections, s.senders, s.mode), (8, 8, "closed"));
    // Every message goes to exactly one recipient.
    assert_eq!(s.total_delivered, s.total_ok);
    assert!(s.reply_latency_us.contains_key("chat"));

    // The group reuses the saved users (no registration) and fans out:
    // each message reaches the 4 other members.
    let s = bench(
        &server,
        &[
            "group",
            "--group-size",
            "5",
            "--window",
            "2",
            "--users-file",
            users,
        ],
    )
    .await;
    assert_clean(&s);
    assert_eq!(s.total_delivered, s.total_ok * 4);
    assert!(s.reply_latency_us.contains_key("group_chat"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_and_mixed() {
    let server = server().await;
    let s = bench(&server, &["one-to-one", "--pairs", "3", "--rate", "600"]).await;
    assert_clean(&s);
    assert_eq!(s.mode, "open");
    // About 600 a second were scheduled; allow for timer slack.
    assert!(
        (400.0..=800.0).contains(&s.sent_per_s),
        "sent {}/s",
        s.sent_per_s
    );

    let s = bench(&server, &["mixed", "--pairs", "3", "--group-size", "3"]).await;
    assert_clean(&s);
    for op in ["chat", "group_chat", "history", "sync"] {
        assert!(s.reply_latency_us.contains_key(op), "no {op}: {s:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_login() {
    let server = server().await;
    let s = bench(&server, &["idle", "--connections", "20"]).await;
    assert_eq!(s.connections, 20);
    assert!(s.errors.is_empty(), "{s:#?}");

    let s = bench(&server, &["login", "--connections", "4"]).await;
    assert!(s.logins.unwrap() > 0, "{s:#?}");
    assert!(s.errors.is_empty(), "{s:#?}");
    assert!(s.reply_latency_us.contains_key("login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_logins_and_the_servers_memory_and_disk() {
    let server = server().await;
    // The server runs in this process, so its readings are this process's.
    let pid = std::process::id().to_string();
    let s = bench(
        &server,
        &[
            "login",
            "--password",
            "--users",
            "6",
            "--connections",
            "3",
            "--settle",
            "0.1",
            "--server-pid",
            &pid,
        ],
    )
    .await;
    assert_eq!(s.logins, Some(6), "{s:#?}");
    assert!(s.errors.is_empty(), "{s:#?}");
    assert_eq!((s.login_by, s.connections), (Some("password"), 3));
    assert_eq!(s.reply_latency_us["login"].count, 6);
    let u = s.server.expect("server readings");
    assert!(
        u.rss_start_kib.is_some() && u.rss_end_kib.is_some(),
        "{u:?}"
    );
    assert_eq!(u.rss_after_s, Some(0.1));
    assert!(
        u.rss_after_kib.is_some() && u.rss_peak_kib.is_some(),
        "{u:?}"
    );

    let s = bench(
        &server,
        &["one-to-one", "--pairs", "2", "--server-pid", &pid],
    )
    .await;
    assert_clean(&s);
    let u = s.server.expect("server readings");
    assert!(u.rss_end_kib.is_some(), "{u:?}");
    // Every message was stored before its ok: the SQLite file grew.
    assert!(u.disk_write_bytes.unwrap() > 0, "{u:?}");
    assert!(u.disk_bytes_per_delivery.unwrap() > 0.0, "{u:?}");
}
