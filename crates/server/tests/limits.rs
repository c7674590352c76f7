//! The bounds a server needs to survive bad clients: frame size, slow
//! readers, request rate, idle connections, password guessing, and the
//! number of connections. Each limit is set small so the test is quick.

use std::time::Duration;

use chat_testkit::fixture::*;
use chat_testkit::{TestClient, TestServer, WAIT};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_is_answered_then_the_connection_closes() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.max_frame = 1024).await?;
    let mut c = server.client().await?;
    // A request before it is answered normally.
    let mut bytes = b"{\"op\":\"ping\",\"id\":1}\n".to_vec();
    let big = json!({"op": "ping", "id": 2, "pad": "x".repeat(2000)});
    bytes.extend_from_slice(&serde_json::to_vec(&big)?);
    bytes.push(b'\n');
    c.send_raw(&bytes).await?;
    let r = c.recv_frame().await?.expect("ping reply");
    assert_eq!(r, json!({"re": 1, "ok": true}));
    let r = c.recv_frame().await?.expect("frame_too_large reply");
    assert_eq!(r["ok"], json!(false));
    assert_eq!(r["code"], json!("frame_too_large"));
    assert_eq!(r.get("re"), Some(&Value::Null), "{r}");
    assert_eq!(c.until_closed().await?, Vec::<Value>::new());
    // The server still serves others.
    let mut d = server.client().await?;
    d.ok(json!({"op": "ping"})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_at_the_limit_passes() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.max_frame = 1024).await?;
    let mut c = server.client().await?;
    let mut line = br#"{"op":"ping","id":7,"pad":""#.to_vec();
    let closing = br#""}"#;
    line.resize(1024 - closing.len(), b'x');
    line.extend_from_slice(closing);
    assert_eq!(line.len(), 1024);
    line.extend_from_slice(b"\r\n");
    c.send_raw(&line).await?;
    let r = c.recv_frame().await?.expect("reply");
    assert_eq!(r, json!({"re": 7, "ok": true}));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_line_is_cut_off_without_waiting_for_its_end() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.max_frame = 1024).await?;
    let mut c = server.client().await?;
    // No newline ever comes.
    c.send_raw(&[b'{'; 4096]).await?;
    let seen = c.until_closed().await?;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["code"], json!("frame_too_large"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_frame_limit_is_64_kib() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    // Just under the limit: an ordinary bad_request (text too long).
    let (mut b, idb) = user(&server, "bob").await?;
    let ida = c.signup("alice").await?;
    befriend(&mut c, &mut b).await?;
    let r = c
        .fails(
            json!({"op": "chat", "to": idb, "text": "x".repeat(60_000)}),
            "bad_request",
        )
        .await?;
    assert!(r["error"].as_str().unwrap_or("").contains("text"));
    let big = json!({"op": "chat", "to": idb, "text": "x".repeat(70_000)});
    let mut line = serde_json::to_vec(&big)?;
    line.push(b'\n');
    c.send_raw(&line).await?;
    let seen = c.until_closed().await?;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["code"], json!("frame_too_large"));
    // Nothing was sent to bob; closing the connection logged alice out.
    let ev = b.event_of("presence").await?;
    assert_eq!(ev, json!({"ev": "presence", "user": ida, "online": false}));
    let r = b.ok(json!({"op": "history", "with": ida})).await?;
    assert_eq!(r["messages"], json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_falls_behind_is_disconnected_and_others_carry_on() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.outbox_bytes = 64 * 1024;
        c.rate = 1_000_000;
        c.burst = 1_000_000;
    })
    .await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    drop(b);
    a.event_of("presence").await?;

    // Bob logs in on a socket with a tiny receive buffer and never reads.
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.set_recv_buffer_size(4096)?;
    let mut slow = sock.connect(server.addr).await?;
    {
        use tokio::io::AsyncWriteExt;
        let login = json!({"op": "login", "id": 1, "user": idb, "password": PASSWORD});
        let mut line = serde_json::to_vec(&login)?;
        line.push(b'\n');
        slow.write_all(&line).await?;
    }
    wait_presence(&mut a, idb, true).await?;

    // Alice floods bob with big messages, reading her own replies, until
    // the server gives up on bob: his friends see him go offline.
    let text = "x".repeat(4000);
    let batch: Vec<Value> = (0..100)
        .map(|_| json!({"op": "chat", "to": idb, "text": text}))
        .collect();
    let mut next_id = 1000;
    let mut offline = false;
    for _ in 0..100 {
        pipeline(&mut a, &batch, next_id).await?;
        for r in replies(&mut a, batch.len(), next_id).await? {
            assert_eq!(r["ok"], json!(true), "{r}");
        }
        next_id += batch.len() as u64;
        if a.kept_events()
            .iter()
            .any(|e| *e == json!({"ev": "presence", "user": idb, "online": false}))
        {
            offline = true;
            break;
        }
    }
    assert!(offline, "bob was never disconnected for not reading");
    // His socket ends after what was already in flight.
    let mut sink = vec![0u8; 64 * 1024];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match slow.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "bob's connection was not closed");

    // The server carries on, and nothing alice sent was lost: bob gets
    // it all on his next login.
    a.ok(json!({"op": "ping"})).await?;
    let mut d = server.client().await?;
    d.ok(json!({"op": "ping"})).await?;
    let mut b = server.client().await?;
    let r = b.login(idb, PASSWORD).await?;
    assert_eq!(r["unread"], json!(next_id - 1000));
    Ok(())
}

/// Waits for a presence event saying `user` is `online`.
async fn wait_presence(c: &mut TestClient, user: u64, online: bool) -> anyhow::Result<()> {
    loop {
        let ev = c.event_of("presence").await?;
        if ev == json!({"ev": "presence", "user": user, "online": online}) {
            return Ok(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_rate_are_refused_then_allowed_again() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.rate = 5;
        c.burst = 5;
    })
    .await?;
    let mut c = server.client().await?;
    let frames: Vec<Value> = (0..8).map(|_| json!({"op": "ping"})).collect();
    pipeline(&mut c, &frames, 1).await?;
    let rs = replies(&mut c, 8, 1).await?;
    let codes: Vec<Value> = rs.iter().map(|r| r["code"].clone()).collect();
    assert_eq!(
        &codes[..5],
        &[
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    for r in &rs[5..] {
        assert_eq!(r["ok"], json!(false), "{r}");
        assert_eq!(r["code"], json!("rate_limited"), "{r}");
    }
    // After a while the budget refills (5 per second): waiting is the
    // point here, so this test sleeps.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = c.ok(json!({"op": "ping"})).await?;
    assert_eq!(r["ok"], json!(true));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_request_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.rate = 1;
        c.burst = 8;
    })
    .await?;
    let (mut a, ida) = user(&server, "alice").await?;
    // Alice's connection has used 2 of 8 (register, login).
    let frames: Vec<Value> = (0..8)
        .map(|i| json!({"op": "create_group", "name": format!("g{i}")}))
        .collect();
    pipeline(&mut a, &frames, 100).await?;
    let rs = replies(&mut a, 8, 100).await?;
    let created = rs.iter().filter(|r| r["ok"] == json!(true)).count();
    let limited = rs
        .iter()
        .filter(|r| r["code"] == json!("rate_limited"))
        .count();
    assert_eq!(created + limited, 8, "{rs:?}");
    assert!(limited >= 1, "{rs:?}");
    // Only the accepted ones exist (seen from another connection).
    let mut a2 = server.client().await?;
    let r = a2.login(ida, PASSWORD).await?;
    assert_eq!(r["groups"].as_array().map(Vec::len), Some(created));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_far_past_its_rate_is_disconnected() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.rate = 1;
        c.burst = 5;
    })
    .await?;
    let mut c = server.client().await?;
    let frames: Vec<Value> = (0..500).map(|_| json!({"op": "ping"})).collect();
    pipeline(&mut c, &frames, 1).await?;
    let seen = c.until_closed().await?;
    assert!(seen.len() < 500, "the server stopped answering and closed");
    let ok = seen.iter().filter(|r| r["ok"] == json!(true)).count();
    assert!((5..=6).contains(&ok), "the burst was served: {ok}");
    assert!(
        seen[ok..]
            .iter()
            .all(|r| r["code"] == json!("rate_limited")),
        "the rest were refused: {seen:?}"
    );
    // Others are unaffected.
    let mut d = server.client().await?;
    d.ok(json!({"op": "ping"})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.idle_timeout = 1).await?;
    // A silent connection is closed.
    let mut silent = server.client().await?;
    let started = std::time::Instant::now();
    assert_eq!(silent.until_closed().await?, Vec::<Value>::new());
    assert!(started.elapsed() >= Duration::from_millis(900));

    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    // Bob stops talking: his session ends and alice sees him go, while
    // alice, who keeps pinging, stays connected.
    let wait = async {
        loop {
            let ev = b.next_event().await;
            if ev.is_err() {
                return;
            }
        }
    };
    let keep_alive = async {
        let mut seen = Vec::new();
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            a.ok(json!({"op": "ping"})).await?;
            seen.extend(a.kept_events());
        }
        anyhow::Ok(seen)
    };
    let ((), seen) = tokio::join!(wait, keep_alive);
    let seen = seen?;
    assert!(
        seen.contains(&json!({"ev": "presence", "user": idb, "online": false})),
        "{seen:?}"
    );
    a.ok(json!({"op": "whoami"})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_failed_logins_close_the_connection() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.max_failed_logins = 3).await?;
    let mut c = server.client().await?;
    let id = c.register("alice", "secret-1").await?;
    c.fails(
        json!({"op": "login", "user": id, "password": "guess-1"}),
        "bad_credentials",
    )
    .await?;
    c.fails(
        json!({"op": "login", "user": id, "token": "guess"}),
        "bad_credentials",
    )
    .await?;
    c.send(&json!({"op": "login", "id": 99, "user": id, "password": "guess-3"}))
        .await?;
    let seen = c.until_closed().await?;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["re"], json!(99));
    assert_eq!(seen[0]["code"], json!("bad_credentials"));
    // The account is not locked: a new connection logs in.
    let mut d = server.client().await?;
    d.login(id, "secret-1").await?;
    // Fewer failures than the limit, then success, keep the connection.
    let mut e = server.client().await?;
    e.fails(
        json!({"op": "login", "user": id, "password": "guess-1"}),
        "bad_credentials",
    )
    .await?;
    e.fails(
        json!({"op": "login", "user": id, "password": "guess-2"}),
        "bad_credentials",
    )
    .await?;
    e.login(id, "secret-1").await?;
    e.ok(json!({"op": "whoami"})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_told_unavailable() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.max_connections = 2).await?;
    let mut c1 = server.client().await?;
    let mut c2 = server.client().await?;
    c1.ok(json!({"op": "ping"})).await?;
    c2.ok(json!({"op": "ping"})).await?;
    let mut extra = server.client().await?;
    let seen = extra.until_closed().await?;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["ok"], json!(false));
    assert_eq!(seen[0]["code"], json!("unavailable"));
    assert_eq!(seen[0].get("re"), Some(&Value::Null));
    assert!(seen[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    // The two are served as before.
    c1.ok(json!({"op": "ping"})).await?;
    c2.ok(json!({"op": "ping"})).await?;
    // Once one leaves, a newcomer gets in. The slot frees when the server
    // has noticed the close, so retry for a while.
    drop(c1);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut c = server.client().await?;
        c.send(&json!({"op": "ping", "id": 1})).await?;
        let r = c.recv_frame().await?;
        if r == Some(json!({"re": 1, "ok": true})) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no slot after a client left: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Writes `bytes` one at a time, one a `gap`, until the server closes the
/// connection or `limit` passes; returns how long the server kept it.
async fn trickle(c: &mut TestClient, bytes: &[u8], gap: Duration, limit: Duration) -> Duration {
    let started = std::time::Instant::now();
    for b in bytes.iter().cycle() {
        if started.elapsed() > limit || c.send_raw(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(gap).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_never_finish_a_frame_do_not_keep_a_connection() -> anyhow::Result<()> {
    // The probe's case: the idle timeout counts complete frames only.
    let server = TestServer::start_with(|c| c.idle_timeout = 3).await?;
    let mut c = server.client().await?;
    c.send_raw(br#"{"op":"ping","id":5"#).await?;
    let kept = trickle(&mut c, b" ", Duration::from_millis(250), WAIT).await;
    assert!(
        kept < Duration::from_secs(6),
        "a trickled frame kept the connection {kept:?} past a 3 s idle timeout"
    );
    assert!(c.until_closed().await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_must_finish_within_the_frame_timeout() -> anyhow::Result<()> {
    // A long idle timeout, a short frame timeout: a client that keeps
    // sending complete frames stays; one that trickles a frame goes.
    let server = TestServer::start_with(|c| {
        c.idle_timeout = 300;
        c.frame_timeout = 2;
    })
    .await?;
    let mut slow = server.client().await?;
    let mut fine = server.client().await?;
    let trickled = async {
        slow.send_raw(br#"{"op":"ping","id":1,"pad":""#).await?;
        let kept = trickle(&mut slow, b"x", Duration::from_millis(200), WAIT).await;
        anyhow::Ok(kept)
    };
    let steady = async {
        for _ in 0..12 {
            fine.ok(json!({"op": "ping"})).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        anyhow::Ok(())
    };
    let (kept, steady) = tokio::join!(trickled, steady);
    steady?;
    let kept = kept?;
    assert!(
        kept < Duration::from_secs(4),
        "a frame trickled for {kept:?} past a 2 s frame timeout"
    );
    Ok(())
}
