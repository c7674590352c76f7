//! `chatbench storm` on a real cluster: three `chatserver` processes on
//! MariaDB and Redis behind nginx (the shipped config). The storm kills
//! one node with SIGKILL under load; every victim must log in again
//! through nginx, and every message the cluster acknowledged must reach
//! its recipient. Run once with the new backoff, then, the node restarted,
//! with the old one. Skipped (saying so) without CHAT_TEST_MYSQL_URL,
//! CHAT_TEST_REDIS_URL and CHAT_TEST_NGINX, as the other cluster suites.

use std::path::PathBuf;

use chat_testkit::chaos::{NodeProc, NodeSpec};
use chatbench::Opts;
use clap::Parser;

/// The `chatserver` binary of this build (built here if need be: it is
/// another package's binary).
fn chatserver_bin() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-q", "-p", "chatserver", "--bin", "chatserver"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cannot build chatserver");
    // target/debug/deps/storm-HASH -> target/debug/chatserver
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("chatserver");
    assert!(bin.exists(), "no {}", bin.display());
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_dies_every_victim_logs_in_again_and_nothing_acked_is_lost() {
    let (Some(mysql), Some(redis), Some(nginx)) = (
        chat_testkit::mysql_url(),
        chat_testkit::redis_url(),
        chat_testkit::nginx_path(),
    ) else {
        return;
    };
    let bin = chatserver_bin();
    let db = chat_testkit::fresh_mysql_db(&mysql).await.unwrap();
    let prefix = chat_testkit::unique_name("storm");
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for k in 0..3 {
        let spec = NodeSpec {
            bin: bin.clone(),
            port: chat_testkit::free_port().unwrap(),
            db: db.clone(),
            redis: redis.clone(),
            prefix: prefix.clone(),
            log: dir.path().join(format!("node-{k}.log")),
            extra: ["--rate", "1000000", "--burst", "1000000"]
                .iter()
                .chain(&["--max-logins-in-flight", "16"])
                .map(|s| s.to_string())
                .collect(),
        };
        nodes.push(NodeProc::start(spec).await.unwrap());
    }
    let lb = chat_testkit::free_port().unwrap();
    let ports: Vec<u16> = nodes.iter().map(NodeProc::port).collect();
    let _nginx = chat_testkit::spawn_nginx(&nginx, dir.path(), lb, &ports)
        .await
        .unwrap();
    let users = dir.path().join("users.json");

    for backoff in ["new", "old"] {
        let pid = nodes[0].pid().unwrap().to_string();
        let lb = format!("127.0.0.1:{lb}");
        let args = [
            "chatbench",
            "--addr",
            &lb,
            "--quiet",
            "--warmup",
            "1",
            "--duration",
            "1",
            "--drain",
            "20",
            "--setup-connections",
            "4",
            "--users-file",
            users.to_str().unwrap(),
            "storm",
            "--connections",
            "200",
            "--rate",
            "400",
            "--kill-pid",
            &pid,
            "--backoff",
            backoff,
            "--storm-timeout",
            "60",
        ];
        let s = chatbench::run(Opts::try_parse_from(args).unwrap())
            .await
            .unwrap();
        let r = s.storm.expect("the storm's figures");
        eprintln!("{}", r.human());
        assert_eq!(r.sessions, 200);
        // nginx spreads the sessions over the three nodes.
        assert!(r.victims > 0 && r.victims < 200, "{r:#?}");
        assert_eq!(r.back, r.victims, "{r:#?}");
        assert!(r.last_login_s.is_some(), "{r:#?}");
        assert_eq!(r.lost_before_kill, 0, "{r:#?}");
        assert!(r.acked > 0, "{r:#?}");
        assert_eq!(r.acked_not_delivered, 0, "{r:#?}");
        assert_eq!(r.unanswered, 0, "{r:#?}");
        assert!(r.attempts >= r.victims as u64, "{r:#?}");
        // The killed node's process is gone: reap it, start it again for
        // the next run (nginx takes it back after its fail_timeout).
        nodes[0].kill9();
        nodes[0].restart().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    }
    drop(nodes);
    let _ = chat_testkit::drop_mysql_db(&db).await;
}
