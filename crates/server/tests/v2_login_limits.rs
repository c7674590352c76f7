//! Failed password logins are limited per account and per source address,
//! across connections: past the limit, password logins get `rate_limited`
//! with a positive `retry_after` (seconds), whatever the password, until
//! the window passes; token logins are not affected.
//!
//! The limits are the server's to choose. One test finds the default
//! per-account limit by trying; the others set small limits through the
//! server's settings (`--login-failures-per-account`,
//! `--login-failures-per-address`, `--login-failure-window`), whose doc
//! says that N failures are allowed and the next attempt is refused.
//! Every attempt uses a new connection, so the older per-connection limit
//! (`--max-failed-logins`, which closes a connection) never interferes.

use std::time::Duration;

use chat_testkit::fixture::*;
use chat_testkit::{TestClient, TestServer};
use serde_json::{Value, json};

/// One password login on a new connection; returns the reply.
async fn try_password(server: &TestServer, user: u64, password: &str) -> anyhow::Result<Value> {
    let mut c = server.client().await?;
    c.request(json!({"op": "login", "user": user, "password": password}))
        .await
}

/// Checks a `rate_limited` reply: a positive integer `retry_after`, at
/// most `window` seconds.
fn assert_limited(r: &Value, window: u64) {
    assert_eq!(r["ok"], json!(false), "{r}");
    assert_eq!(r["code"], json!("rate_limited"), "{r}");
    let after = r["retry_after"].as_u64();
    assert!(
        after.is_some_and(|s| s >= 1 && s <= window),
        "retry_after must be a positive integer of seconds within the window: {r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_per_account_limit_is_reached_across_connections() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (a, ida) = user(&server, "alice").await?;
    let token = a.token.clone().expect("token");
    let mut failures = 0;
    let limited = loop {
        let r = try_password(&server, ida, "wrong-password").await?;
        if r["code"] == json!("rate_limited") {
            break r;
        }
        assert_eq!(r["code"], json!("bad_credentials"), "{r}");
        failures += 1;
        assert!(failures <= 100, "no limit after {failures} failed logins");
    };
    assert!(failures >= 1, "limited before any failure");
    assert_limited(&limited, 24 * 3600);
    // The right password is refused too.
    let r = try_password(&server, ida, PASSWORD).await?;
    assert_limited(&r, 24 * 3600);
    // A token login still works.
    token_session(&server, ida, &token).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_account_limit_even_the_right_password_is_refused() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.login_failures_per_account = 3;
        c.login_failures_per_address = 1000;
        c.login_failure_window = 600;
    })
    .await?;
    let (a, ida) = user(&server, "alice").await?;
    let token = a.token.clone().expect("token");
    let (_b, idb) = user(&server, "bob").await?;

    for _ in 0..3 {
        let r = try_password(&server, ida, "wrong-password").await?;
        assert_eq!(r["code"], json!("bad_credentials"), "{r}");
    }
    for password in ["wrong-password", PASSWORD] {
        let r = try_password(&server, ida, password).await?;
        assert_limited(&r, 600);
        assert_eq!(r.get("re"), Some(&json!(1)), "a reply like any: {r}");
    }
    // Tokens are not affected: a new session, and the one already open.
    let mut s = token_session(&server, ida, &token).await?;
    s.ok(json!({"op": "whoami"})).await?;
    // Another account from the same address is not affected.
    let mut c = server.client().await?;
    c.login(idb, PASSWORD).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_lifts_when_the_window_passes() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.login_failures_per_account = 2;
        c.login_failures_per_address = 1000;
        c.login_failure_window = 2;
    })
    .await?;
    let (_a, ida) = user(&server, "alice").await?;
    for _ in 0..2 {
        try_password(&server, ida, "wrong-password").await?;
    }
    let r = try_password(&server, ida, PASSWORD).await?;
    assert_limited(&r, 2);
    let wait = r["retry_after"].as_u64().unwrap_or(2);
    // The wait is the point of this test: the window is two seconds.
    tokio::time::sleep(Duration::from_millis(wait * 1000 + 300)).await;
    let r = try_password(&server, ida, PASSWORD).await?;
    assert_eq!(r["ok"], json!(true), "after retry_after: {r}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_for_many_accounts_limit_the_address() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.login_failures_per_account = 1000;
        c.login_failures_per_address = 5;
        c.login_failure_window = 600;
    })
    .await?;
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..8 {
        let (c, id) = user(&server, &format!("user{i}")).await?;
        tokens.push(c.token.clone().expect("token"));
        ids.push(id);
    }
    // One wrong password for each of five accounts.
    for &id in &ids[..5] {
        let r = try_password(&server, id, "wrong-password").await?;
        assert_eq!(r["code"], json!("bad_credentials"), "{r}");
    }
    // Now every password login from this address is refused, for an
    // account that never failed too, and for an unknown id.
    let r = try_password(&server, ids[6], "wrong-password").await?;
    assert_limited(&r, 600);
    let r = try_password(&server, ids[7], PASSWORD).await?;
    assert_limited(&r, 600);
    let r = try_password(&server, 999_999_999, PASSWORD).await?;
    assert_limited(&r, 600);
    // Token logins still work.
    token_session(&server, ids[7], &tokens[7]).await?;
    token_session(&server, ids[0], &tokens[0]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_token_logins_do_not_count_against_the_password() -> anyhow::Result<()> {
    // Reading: the limit is on failed *password* logins; a bogus token is
    // `bad_credentials` and leaves the password counter alone.
    let server = TestServer::start_with(|c| {
        c.login_failures_per_account = 2;
        c.login_failures_per_address = 1000;
    })
    .await?;
    let (_a, ida) = user(&server, "alice").await?;
    for _ in 0..5 {
        let mut c = server.client().await?;
        c.fails(
            json!({"op": "login", "user": ida, "token": "bogus-token"}),
            "bad_credentials",
        )
        .await?;
    }
    let r = try_password(&server, ida, PASSWORD).await?;
    assert_eq!(r["ok"], json!(true), "{r}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_guesses_gets_no_more_than_the_limit() -> anyhow::Result<()> {
    // Thirty guesses sent at once on thirty connections: the limit is on
    // failed logins, so at most three may be checked (bad_credentials);
    // the rest are rate_limited.
    let server = TestServer::start_with(|c| {
        c.login_failures_per_account = 3;
        c.login_failures_per_address = 1000;
        c.login_failure_window = 600;
    })
    .await?;
    let (_a, ida) = user(&server, "alice").await?;
    let mut conns: Vec<TestClient> = Vec::new();
    for _ in 0..30 {
        conns.push(server.client().await?);
    }
    for (i, c) in conns.iter_mut().enumerate() {
        c.send(&json!({"op": "login", "id": 1, "user": ida, "password": format!("guess-{i}")}))
            .await?;
    }
    let mut checked = 0;
    for c in conns.iter_mut() {
        let r = c.recv_reply().await?;
        match r["code"].as_str() {
            Some("bad_credentials") => checked += 1,
            Some("rate_limited") => {}
            _ => panic!("unexpected reply to a guess: {r}"),
        }
    }
    assert!(
        checked <= 3,
        "{checked} of 30 concurrent guesses were checked, with a limit of 3"
    );
    Ok(())
}
