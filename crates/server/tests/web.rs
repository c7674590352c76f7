//! The web listener and the other transports: the web client at `/`,
//! WebSocket sessions that behave like TCP ones (and talk with them, on one
//! node and across nodes), the origin check, and TLS on both listeners,
//! with a certificate reloaded without dropping sessions. Certificates are
//! made by the test (rcgen), never fetched.

use std::net::SocketAddr;

use chat_testkit::fixture::*;
use chat_testkit::{TestClient, TestServer, cluster_config, http_get};
use serde_json::json;

fn web(server: &TestServer) -> SocketAddr {
    server.web.expect("the web listener is on by default")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_and_health_are_served() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (status, body) = http_get(web(&server), "/").await?;
    assert_eq!(status, 200);
    assert!(body.to_lowercase().contains("<!doctype html"), "{body}");
    let (status, _) = http_get(web(&server), "/no/such/file").await?;
    assert_eq!(status, 404);
    let (status, body) = http_get(web(&server), "/healthz").await?;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(health["store"], json!("ok"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_tcp_users_chat_both_ways() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut w = TestClient::connect_ws(web(&server), None).await?;
    let idw = w.signup("wendy").await?;
    let (mut t, idt) = user(&server, "tom").await?;
    befriend(&mut w, &mut t).await?;
    let id = chat(&mut w, idt, "from the browser").await?;
    let ev = t.event_of("msg").await?;
    assert_eq!(
        (ev["msg"]["id"].as_u64(), &ev["msg"]["text"]),
        (Some(id), &json!("from the browser"))
    );
    chat(&mut t, idw, "from the terminal").await?;
    let ev = w.event_of("msg").await?;
    assert_eq!(ev["msg"]["text"], json!("from the terminal"));
    assert_eq!(ev["msg"]["from"], json!(idt));
    // Pipelined requests over a WebSocket keep their order too.
    let frames: Vec<_> = (0..50)
        .map(|i| json!({"op": "chat", "to": idt, "text": format!("n{i}")}))
        .collect();
    pipeline(&mut w, &frames, 100).await?;
    replies(&mut w, 50, 100).await?;
    let got = msgs(&mut t, 50).await?;
    let want: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
    assert_eq!(texts_of_msgs(&got), want);
    Ok(())
}

fn texts_of_msgs(msgs: &[serde_json::Value]) -> Vec<String> {
    msgs.iter()
        .map(|m| m["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_message_is_bad_json_and_the_session_goes_on() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut w = TestClient::connect_ws(web(&server), None).await?;
    w.send_binary(br#"{"op":"ping","id":1}"#).await?;
    let r = w.recv_reply().await?;
    assert_eq!((&r["ok"], &r["code"]), (&json!(false), &json!("bad_json")));
    assert_eq!(r["re"], json!(null));
    // A trailing newline is fine; the next message is read normally.
    w.send_raw(b"{\"op\":\"ping\",\"id\":2}\n").await?;
    assert_eq!(w.recv_reply().await?, json!({"re": 2, "ok": true}));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_past_the_frame_limit_is_refused_and_closed_with_1009() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.max_frame = 1024).await?;
    let mut w = TestClient::connect_ws(web(&server), None).await?;
    w.ok(json!({"op": "ping"})).await?;
    let big = json!({"op": "ping", "id": 9, "pad": "x".repeat(2000)});
    w.send(&big).await?;
    let (seen, closed) = w.closed().await?;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["code"], json!("frame_too_large"));
    assert_eq!(seen[0]["re"], json!(null));
    assert_eq!(closed.code, Some(1009));
    // Far past the library's own limit too.
    let mut w = TestClient::connect_ws(web(&server), None).await?;
    w.send_raw("y".repeat(64 * 1024).as_bytes()).await?;
    let (seen, closed) = w.closed().await?;
    assert_eq!(seen[0]["code"], json!("frame_too_large"), "{seen:?}");
    assert_eq!(closed.code, Some(1009));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_from_other_origins_are_refused() -> anyhow::Result<()> {
    let server =
        TestServer::start_with(|c| c.web_origin = vec!["https://chat.example.com".into()]).await?;
    let addr = web(&server);
    // The listener's own origin and a configured one pass.
    let own = format!("http://{addr}");
    TestClient::connect_ws(addr, Some(&own))
        .await?
        .ok(json!({"op": "ping"}))
        .await?;
    TestClient::connect_ws(addr, Some("https://chat.example.com"))
        .await?
        .ok(json!({"op": "ping"}))
        .await?;
    // Another site's page does not.
    let refused = TestClient::connect_ws(addr, Some("http://evil.example")).await;
    let err = refused.err().expect("a foreign origin is refused");
    assert!(format!("{err:#}").contains("403"), "{err:#}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_sessions_have_the_same_limits() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.idle_timeout = 1;
        c.rate = 5;
        c.burst = 5;
    })
    .await?;
    let mut w = TestClient::connect_ws(web(&server), None).await?;
    let frames: Vec<_> = (0..20).map(|_| json!({"op": "ping"})).collect();
    pipeline(&mut w, &frames, 1).await?;
    let rs = replies(&mut w, 20, 1).await?;
    assert!(
        rs.iter().any(|r| r["code"] == json!("rate_limited")),
        "{rs:?}"
    );
    // Silent for longer than the idle timeout: closed.
    let started = std::time::Instant::now();
    w.closed().await?;
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_tcp_users_on_different_nodes_chat() {
    let (Some(mysql), Some(redis)) = (chat_testkit::mysql_url(), chat_testkit::redis_url()) else {
        return;
    };
    let db = chat_testkit::fresh_mysql_db(&mysql).await.unwrap();
    let prefix = chat_testkit::unique_name("chat_web");
    let n1 = TestServer::start_config(cluster_config(&db, &redis, &prefix))
        .await
        .unwrap();
    let n2 = TestServer::start_config(cluster_config(&db, &redis, &prefix))
        .await
        .unwrap();
    let mut w = TestClient::connect_ws(web(&n1), None).await.unwrap();
    let idw = w.signup("wendy").await.unwrap();
    let (mut t, idt) = user(&n2, "tom").await.unwrap();
    befriend(&mut w, &mut t).await.unwrap();
    chat(&mut w, idt, "across").await.unwrap();
    assert_eq!(
        t.event_of("msg").await.unwrap()["msg"]["text"],
        json!("across")
    );
    chat(&mut t, idw, "and back").await.unwrap();
    assert_eq!(
        w.event_of("msg").await.unwrap()["msg"]["text"],
        json!("and back")
    );
    n1.stop().await.unwrap();
    n2.stop().await.unwrap();
    chat_testkit::drop_mysql_db(&db).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_both_listeners_and_a_renewed_certificate_keeps_sessions() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ca = chat_testkit::certificates(dir.path(), 1)?;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let server = TestServer::start_with(|c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
    })
    .await?;
    let trust = chat_testkit::tls_client(ca.as_bytes())?;

    // TLS over TCP: the same protocol inside.
    let mut a = TestClient::connect_tls(server.addr, trust.clone(), "localhost").await?;
    let ida = a.signup("alice").await?;
    // WSS on the web listener.
    let mut b = TestClient::connect_wss(web(&server), trust.clone(), "localhost").await?;
    let idb = b.signup("bob").await?;
    befriend(&mut a, &mut b).await?;
    chat(&mut a, idb, "over tls").await?;
    assert_eq!(b.event_of("msg").await?["msg"]["text"], json!("over tls"));
    // A client that does not speak TLS gets nowhere.
    let mut plain = server.client().await?;
    let _ = plain.send(&json!({"op": "ping", "id": 1})).await;
    assert!(plain.recv_frame().await.map_or(true, |f| f.is_none()));

    // A renewed certificate (another CA even): new connections get it,
    // open sessions carry on.
    let ca2 = chat_testkit::certificates(dir.path(), 2)?;
    server.reload_tls()?;
    let trust2 = chat_testkit::tls_client(ca2.as_bytes())?;
    let stream = chat_testkit::tls_stream(server.addr, trust2.clone(), "localhost").await?;
    let served = stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("a certificate")[0]
        .clone();
    let pem = std::fs::read(&cert)?;
    let on_disk = rustls_pem_first(&pem);
    assert_eq!(served.as_ref(), on_disk.as_slice());
    assert!(
        chat_testkit::tls_stream(server.addr, trust, "localhost")
            .await
            .is_err(),
        "the old certificate is no longer served"
    );
    chat(&mut b, ida, "still here").await?;
    assert_eq!(a.event_of("msg").await?["msg"]["text"], json!("still here"));
    let mut c = TestClient::connect_wss(web(&server), trust2, "localhost").await?;
    c.ok(json!({"op": "ping"})).await?;
    Ok(())
}

/// The DER of the first certificate in a PEM file.
fn rustls_pem_first(pem: &[u8]) -> Vec<u8> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .next()
        .expect("a certificate")
        .expect("PEM")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_reach_the_cluster_through_nginx() {
    let (Some(mysql), Some(redis), Some(nginx)) = (
        chat_testkit::mysql_url(),
        chat_testkit::redis_url(),
        chat_testkit::nginx_path(),
    ) else {
        return;
    };
    let db = chat_testkit::fresh_mysql_db(&mysql).await.unwrap();
    let prefix = chat_testkit::unique_name("chat_lbweb");
    let n1 = TestServer::start_config(cluster_config(&db, &redis, &prefix))
        .await
        .unwrap();
    let n2 = TestServer::start_config(cluster_config(&db, &redis, &prefix))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ports = chat_testkit::NginxPorts {
        listen: chat_testkit::free_port().unwrap(),
        nodes: vec![n1.addr.port(), n2.addr.port()],
        web_listen: chat_testkit::free_port().unwrap(),
        web_nodes: vec![web(&n1).port(), web(&n2).port()],
    };
    let _lb = chat_testkit::spawn_nginx_with(&nginx, dir.path(), &ports)
        .await
        .unwrap();
    let front: SocketAddr = format!("127.0.0.1:{}", ports.web_listen).parse().unwrap();
    let (status, body) = http_get(front, "/").await.unwrap();
    assert_eq!(status, 200, "{body}");
    // Two browser pages (nginx's own origin) and a terminal client through
    // the TCP balancer, wherever each lands.
    let origin = format!("http://{front}");
    let mut a = TestClient::connect_ws(front, Some(&origin)).await.unwrap();
    let mut b = TestClient::connect_ws(front, Some(&origin)).await.unwrap();
    let front_tcp: SocketAddr = format!("127.0.0.1:{}", ports.listen).parse().unwrap();
    let mut c = TestClient::connect(front_tcp).await.unwrap();
    let ida = a.signup("ann").await.unwrap();
    let idb = b.signup("ben").await.unwrap();
    c.signup("cat").await.unwrap();
    befriend(&mut a, &mut b).await.unwrap();
    befriend(&mut c, &mut a).await.unwrap();
    chat(&mut a, idb, "through nginx").await.unwrap();
    assert_eq!(
        b.event_of("msg").await.unwrap()["msg"]["text"],
        json!("through nginx")
    );
    chat(&mut c, ida, "from the terminal").await.unwrap();
    assert_eq!(
        a.event_of("msg").await.unwrap()["msg"]["text"],
        json!("from the terminal")
    );
    n1.stop().await.unwrap();
    n2.stop().await.unwrap();
    chat_testkit::drop_mysql_db(&db).await.unwrap();
}
