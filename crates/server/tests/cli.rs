//! The `chatserver` binary as an operator runs it: flags and environment,
//! the default data folder, a readable error for a bad store URL, and a
//! clean exit on SIGTERM with the data on disk.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use chat_testkit::fixture::*;
use chat_testkit::{Child, TestClient};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_chatserver");

/// A `chatserver` command with none of the caller's `CHAT_*` settings.
fn command(cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CHAT_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env("CHAT_ARGON2_MEMORY_KIB", "1024")
        .env("CHAT_ARGON2_PASSES", "1")
        // Tests run side by side: each web listener on a port of its own.
        .env("CHAT_WEB", "127.0.0.1:0")
        .current_dir(cwd)
        .stdin(Stdio::null());
    cmd
}

/// Starts the command with output to files in `dir`; waits until it
/// accepts connections on `port`.
async fn spawn(mut cmd: Command, dir: &Path, port: u16) -> anyhow::Result<Child> {
    let out = std::fs::File::create(dir.join("stdout.log"))?;
    let err = std::fs::File::create(dir.join("stderr.log"))?;
    let child = Child(cmd.stdout(out).stderr(err).spawn()?);
    chat_testkit::wait_port(port, Duration::from_secs(20)).await?;
    Ok(child)
}

fn logs(dir: &Path) -> String {
    let out = std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
    let err = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
    format!("{out}{err}")
}

fn addr(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_and_stops_cleanly_on_sigterm() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("chat.db");
    let db = format!("sqlite://{}", db_path.display());
    let port = chat_testkit::free_port()?;
    let mut cmd = command(dir.path());
    cmd.args(["127.0.0.1", &port.to_string(), "--db", &db]);
    let mut child = spawn(cmd, dir.path(), port).await?;

    let mut a = TestClient::connect(addr(port)).await?;
    let mut b = TestClient::connect(addr(port)).await?;
    let ida = a.signup("alice").await?;
    let idb = b.signup("bob").await?;
    befriend(&mut a, &mut b).await?;
    let id = chat(&mut a, idb, "through the binary").await?;
    let ev = b.event_of("msg").await?;
    assert_eq!(ev["msg"]["id"], json!(id));
    let token = b.token.clone().expect("token");

    let status = child.terminate()?;
    assert!(
        status.success(),
        "exit status {status:?}: {}",
        logs(dir.path())
    );
    assert!(db_path.exists(), "the database file is on disk");
    // The clients see the close.
    a.until_closed().await?;
    b.until_closed().await?;
    let log = logs(dir.path());
    assert!(
        log.contains(&port.to_string()),
        "it says where it listens: {log}"
    );

    // Started again on the same file, everything is there.
    let mut cmd = command(dir.path());
    cmd.args(["127.0.0.1", &port.to_string(), "--db", &db]);
    let mut child = spawn(cmd, dir.path(), port).await?;
    let mut b = TestClient::connect(addr(port)).await?;
    let r = b
        .ok(json!({"op": "login", "user": idb, "token": token}))
        .await?;
    assert_eq!(friend_ids(&r), vec![ida]);
    let r = b.ok(json!({"op": "history", "with": ida})).await?;
    assert_eq!(history_texts(&r), vec!["through the binary"]);
    let status = child.terminate()?;
    assert!(
        status.success(),
        "exit status {status:?}: {}",
        logs(dir.path())
    );
    Ok(())
}

#[test]
fn help_names_the_flags_and_environment_variables() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let out = command(dir.path()).arg("--help").output()?;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--db",
        "--redis",
        "CHAT_DB",
        "CHAT_REDIS",
        "CHAT_HOST",
        "CHAT_PORT",
        "sqlite://",
        "mysql://",
    ] {
        assert!(
            text.contains(needle),
            "--help should mention {needle}:\n{text}"
        );
    }
    Ok(())
}

#[test]
fn a_bad_store_url_fails_with_a_readable_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for url in ["bogus://x", "sqlite:///proc/no/such/dir/chat.db"] {
        let port = chat_testkit::free_port()?;
        let out = command(dir.path())
            .args(["127.0.0.1", &port.to_string(), "--db", url])
            .output()?;
        assert!(!out.status.success(), "{url} must not start a server");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(url), "the error names the URL {url}:\n{err}");
        assert!(!err.contains("panicked"), "an error, not a panic:\n{err}");
        assert!(
            err.lines().count() < 20,
            "a short message, not a backtrace:\n{err}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_db_the_data_folder_is_created_in_the_working_directory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = chat_testkit::free_port()?;
    let mut cmd = command(dir.path());
    cmd.args(["127.0.0.1", &port.to_string()]);
    let mut child = spawn(cmd, dir.path(), port).await?;
    let mut c = TestClient::connect(addr(port)).await?;
    c.signup("alice").await?;
    let status = child.terminate()?;
    assert!(status.success(), "{}", logs(dir.path()));
    assert!(
        dir.path().join("data").join("chat.db").exists(),
        "data/chat.db under the working directory"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_come_from_the_environment_too() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("from-env.db");
    let port = chat_testkit::free_port()?;
    let mut cmd = command(dir.path());
    cmd.env("CHAT_PORT", port.to_string())
        .env("CHAT_DB", format!("sqlite://{}", db_path.display()))
        .env("CHAT_MAX_FRAME", "512");
    let mut child = spawn(cmd, dir.path(), port).await?;
    let mut c = TestClient::connect(addr(port)).await?;
    c.ok(json!({"op": "ping"})).await?;
    c.send_raw(format!("{}\n", "x".repeat(600)).as_bytes())
        .await?;
    let seen = c.until_closed().await?;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["code"], json!("frame_too_large"));
    let status = child.terminate()?;
    assert!(status.success(), "{}", logs(dir.path()));
    assert!(db_path.exists(), "CHAT_DB chose the file");
    assert!(!dir.path().join("data").exists(), "not the default folder");
    Ok(())
}

/// Runs the binary on `url` (it must fail to start); returns stderr.
fn failed_start(dir: &Path, url: &str, env: &[(&str, &str)]) -> anyhow::Result<String> {
    let port = chat_testkit::free_port()?;
    let mut cmd = command(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["127.0.0.1", &port.to_string(), "--db", url])
        .output()?;
    assert!(!out.status.success(), "{url} must not start a server");
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn start_up_errors_hide_passwords_and_name_the_cause() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A database password is never printed, even in an error.
    let closed = chat_testkit::free_port()?;
    let url = format!("mysql://root:WrongPw@127.0.0.1:{closed}/chat");
    let err = failed_start(dir.path(), &url, &[("RUST_BACKTRACE", "1")])?;
    assert!(!err.contains("WrongPw"), "{err}");
    assert!(err.contains("***"), "{err}");
    // An unreachable database says so, with its address and the cause.
    assert!(
        err.contains(&format!("cannot reach MySQL at 127.0.0.1:{closed}"))
            && err.to_lowercase().contains("refused"),
        "{err}"
    );
    // No backtrace, even with RUST_BACKTRACE set.
    assert!(
        !err.contains("backtrace") && err.lines().count() <= 3,
        "{err}"
    );
    // An SQLite file that cannot be opened (its "folder" is a file: no
    // user, root included, can create it): the path and the cause.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"")?;
    let path = file.join("chat.db");
    let err = failed_start(dir.path(), &format!("sqlite://{}", path.display()), &[])?;
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(
        err.contains("os error"),
        "the operating system's reason:\n{err}"
    );
    assert!(
        !err.contains("code: 14"),
        "SQLite's code says nothing:\n{err}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_complete_from_the_start_and_the_log_is_plain() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = chat_testkit::free_port()?;
    let admin = chat_testkit::free_port()?;
    let mut cmd = command(dir.path());
    cmd.args(["127.0.0.1", &port.to_string()])
        .args(["--http", &format!("127.0.0.1:{admin}")]);
    let mut child = spawn(cmd, dir.path(), port).await?;
    chat_testkit::wait_port(admin, Duration::from_secs(10)).await?;
    // Before any connection, every gauge and counter is there.
    let (status, body) = chat_testkit::http_get(addr(admin), "/metrics").await?;
    assert_eq!(status, 200);
    for name in [
        "chat_connections ",
        "chat_sessions ",
        "chat_connections_total ",
        "chat_messages_stored_total ",
    ] {
        assert!(body.contains(name), "{name} missing from:\n{body}");
    }
    child.terminate()?;
    let log = logs(dir.path());
    assert!(
        !log.contains("None") && !log.contains("Some("),
        "the start-up line shows values, not Rust options:\n{log}"
    );
    assert!(log.contains("web client: http://127.0.0.1:"), "{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_serves_a_renewed_certificate_and_keeps_sessions() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ca = chat_testkit::certificates(dir.path(), 1)?;
    let port = chat_testkit::free_port()?;
    let mut cmd = command(dir.path());
    cmd.args(["127.0.0.1", &port.to_string()]).args([
        "--tls-cert",
        "cert.pem",
        "--tls-key",
        "key.pem",
    ]);
    let mut child = spawn(cmd, dir.path(), port).await?;
    let trust = chat_testkit::tls_client(ca.as_bytes())?;
    let mut a = TestClient::connect_tls(addr(port), trust.clone(), "localhost").await?;
    a.signup("alice").await?;

    // The certificate is renewed on disk (by another CA, even), then
    // SIGHUP: new connections get the new one, the open session stays.
    let ca2 = chat_testkit::certificates(dir.path(), 2)?;
    let pid = child.0.id().to_string();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()?;
    let trust2 = chat_testkit::tls_client(ca2.as_bytes())?;
    let mut renewed = None;
    for _ in 0..50 {
        if let Ok(c) = TestClient::connect_tls(addr(port), trust2.clone(), "localhost").await {
            renewed = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut b = renewed.context("the renewed certificate is never served")?;
    b.ok(json!({"op": "ping"})).await?;
    a.ok(json!({"op": "whoami"})).await?;
    assert!(
        TestClient::connect_tls(addr(port), trust, "localhost")
            .await
            .is_err(),
        "the old certificate is no longer served"
    );
    let status = child.terminate()?;
    assert!(status.success(), "{}", logs(dir.path()));
    assert!(
        logs(dir.path()).contains("TLS certificate reloaded"),
        "{}",
        logs(dir.path())
    );
    Ok(())
}
