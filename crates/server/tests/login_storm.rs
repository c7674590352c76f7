//! The server's side of a reconnect storm: logins in flight are bounded
//! (`--max-logins-in-flight`); past the bound a login is answered at once
//! with `unavailable` and a `retry_after` of 1 to 5 seconds, and the
//! connection stays usable.

use std::time::Duration;

use chat_testkit::{TestClient, TestServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_past_the_bound_are_told_to_retry_later() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.max_logins_in_flight = 2;
        // Each password check takes a while, so logins overlap.
        c.argon2_memory_kib = 16 * 1024;
        c.argon2_passes = 3;
    })
    .await?;
    const N: usize = 16;
    let mut ids = Vec::new();
    let mut r = server.client().await?;
    for i in 0..N {
        ids.push(r.register(&format!("user{i}"), "password1").await?);
    }

    // Everyone logs in at once.
    let mut clients = Vec::new();
    for _ in 0..N {
        clients.push(server.client().await?);
    }
    for (c, id) in clients.iter_mut().zip(&ids) {
        c.send(&json!({"op": "login", "id": 1, "user": id, "password": "password1"}))
            .await?;
    }
    let mut refused = Vec::new();
    let mut admitted = 0;
    for (i, c) in clients.iter_mut().enumerate() {
        let reply = c.recv_reply().await?;
        if reply["ok"] == json!(true) {
            admitted += 1;
            continue;
        }
        assert_eq!(reply["code"], json!("unavailable"), "{reply}");
        let wait = reply["retry_after"].as_u64().expect("retry_after");
        assert!((1..=5).contains(&wait), "{reply}");
        refused.push(i);
    }
    assert!(admitted >= 2, "the first ones get in: {admitted}");
    assert!(!refused.is_empty(), "some of {N} at once are refused");

    // A refused connection is still open and not logged in; once the
    // storm is over its retry gets in (a refusal is not a failed login).
    for &i in &refused {
        let c: &mut TestClient = &mut clients[i];
        c.fails(json!({"op": "whoami"}), "not_logged_in").await?;
    }
    for &i in &refused {
        let c = &mut clients[i];
        let mut tries = 0;
        loop {
            let r = c
                .request(json!({"op": "login", "user": ids[i], "password": "password1"}))
                .await?;
            if r["ok"] == json!(true) {
                break;
            }
            assert_eq!(r["code"], json!("unavailable"), "{r}");
            tries += 1;
            assert!(tries < 50, "never admitted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    server.stop().await?;
    Ok(())
}

#[test]
fn the_bound_is_configurable_with_a_default() {
    let c = chatserver::Config::defaults();
    assert_eq!(c.max_logins_in_flight, 512);
    let c = chatserver::Config::from_args(["chatserver", "--max-logins-in-flight", "64"]).unwrap();
    assert_eq!(c.max_logins_in_flight, 64);
}
