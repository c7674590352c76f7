//! Whatever bytes a client sends, the server answers each frame with the
//! right code and carries on; strings that look like SQL or use all of
//! Unicode are stored and returned exactly; framing edge cases work.

use std::time::Duration;

use chat_testkit::fixture::*;
use chat_testkit::{TestClient, TestServer};
use serde_json::{Value, json};

/// Sends `line` (a newline is added) and returns the one reply.
async fn reply_to(c: &mut TestClient, line: &[u8]) -> anyhow::Result<Value> {
    let mut bytes = line.to_vec();
    bytes.push(b'\n');
    c.send_raw(&bytes).await?;
    c.recv_reply().await
}

/// The connection still works: a ping with an id is answered.
async fn still_works(c: &mut TestClient) -> anyhow::Result<()> {
    let r = c.request(json!({"op": "ping"})).await?;
    assert_eq!(r["ok"], json!(true), "{r}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_that_are_not_json_objects_get_bad_json() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    let lines: &[&[u8]] = &[
        b"hello",
        b"{",
        b"{\"op\": \"ping\"",
        b"{\"op\": \"ping\",}",
        b"{'op': 'ping'}",
        b"{op: ping}",
        b"[]",
        b"[{\"op\": \"ping\"}]",
        b"42",
        b"-1",
        b"1e400",
        b"\"ping\"",
        b"null",
        b"true",
        b"{\"op\": \"ping\"} {\"op\": \"ping\"}",
        b"{\"op\": \"ping\"} trailing",
        b"\x00\x01\x02",
    ];
    for line in lines {
        let r = reply_to(&mut c, line).await?;
        assert_eq!(r["ok"], json!(false), "{line:?}: {r}");
        assert_eq!(r["code"], json!("bad_json"), "{line:?}: {r}");
        assert_eq!(r.get("re"), Some(&Value::Null), "{line:?}: {r}");
        assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
    }
    still_works(&mut c).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_gets_bad_json_wherever_it_is() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    let id = c.register("alice", PASSWORD).await?;
    let lines: Vec<Vec<u8>> = vec![
        b"\xff\xfe\xfd".to_vec(),
        b"{\"op\": \"p\xc3\"}".to_vec(),
        b"{\"op\": \"register\", \"name\": \"\xc3\x28\", \"password\": \"password1\"}".to_vec(),
        [
            format!(
                "{{\"op\": \"login\", \"user\": {id}, \"password\": \"{PASSWORD}\", \"note\": \""
            )
            .as_bytes(),
            b"\xff\"}",
        ]
        .concat(),
        // In a field the op does not use: still not a UTF-8 JSON text.
        b"{\"op\": \"ping\", \"x\": \"\xff\xfe\"}".to_vec(),
    ];
    for line in &lines {
        let r = reply_to(&mut c, line).await?;
        let shown = String::from_utf8_lossy(line);
        assert_eq!(r["code"], json!("bad_json"), "{shown}: {r}");
        assert_eq!(r.get("re"), Some(&Value::Null), "{shown}: {r}");
    }
    // None of them took effect: not logged in.
    c.fails(json!({"op": "whoami"}), "not_logged_in").await?;
    still_works(&mut c).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_json_while_logged_in_keeps_the_session() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let r = reply_to(&mut a, b"{\"op\": \"whoami\"").await?;
    assert_eq!(r["code"], json!("bad_json"));
    let r = reply_to(&mut a, b"\xc3\x28").await?;
    assert_eq!(r["code"], json!("bad_json"));
    let r = a.ok(json!({"op": "whoami"})).await?;
    assert_eq!(r["user"]["id"], json!(ida));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_out_of_range_are_bad_requests_naming_the_field() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, _) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let cases: &[(&str, &str)] = &[
        (r#"{"op":"add_friend","user":-1}"#, "user"),
        (r#"{"op":"add_friend","user":1e400}"#, "user"),
        (r#"{"op":"add_friend","user":18446744073709551616}"#, "user"),
        (
            r#"{"op":"add_friend","user":99999999999999999999999999999}"#,
            "user",
        ),
        (r#"{"op":"add_friend","user":1.5}"#, "user"),
        (r#"{"op":"add_friend","user":-0.0}"#, "user"),
        (r#"{"op":"join_group","group":-5}"#, "group"),
        (r#"{"op":"chat","to":-2,"text":"hi"}"#, "to"),
        (r#"{"op":"history","with":1e400}"#, "with"),
        (r#"{"op":"history","group":-1}"#, "group"),
        (r#"{"op":"history","group":1,"limit":-1}"#, "limit"),
        (
            r#"{"op":"history","group":1,"limit":18446744073709551616}"#,
            "limit",
        ),
        (r#"{"op":"history","group":1,"limit":4294967297}"#, "limit"),
        (r#"{"op":"history","group":1,"before":-1}"#, "before"),
        (r#"{"op":"ack","ids":[-1]}"#, "ids"),
        (r#"{"op":"ack","ids":[1e400]}"#, "ids"),
        (r#"{"op":"ack","ids":[18446744073709551616]}"#, "ids"),
        (r#"{"op":"ping","id":-1}"#, "id"),
        (r#"{"op":"ping","id":1e400}"#, "id"),
        (r#"{"op":"ping","id":18446744073709551616}"#, "id"),
        (r#"{"op":"ping","id":"7"}"#, "id"),
    ];
    for (line, field) in cases {
        let r = reply_to(&mut a, line.as_bytes()).await?;
        assert_eq!(r["ok"], json!(false), "{line}: {r}");
        assert_eq!(r["code"], json!("bad_request"), "{line}: {r}");
        assert!(
            r["error"].as_str().unwrap_or("").contains(field),
            "{line}: the error should name `{field}`: {r}"
        );
    }
    // Large ids that fit are just ids nobody has.
    let r = reply_to(
        &mut a,
        br#"{"op":"add_friend","id":3,"user":18446744073709551615}"#,
    )
    .await?;
    assert_eq!(r["code"], json!("no_such_user"), "{r}");
    assert_eq!(r["re"], json!(3));
    // Nothing changed.
    assert_eq!(friend_ids(&a.ok(json!({"op": "sync"})).await?), vec![idb]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_request_id_is_echoed_exactly() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    for id in ["0", "1", "9007199254740993", "18446744073709551615"] {
        let line = format!(r#"{{"op":"ping","id":{id}}}"#);
        c.send_raw(format!("{line}\n").as_bytes()).await?;
        let mut raw = String::new();
        // Read the raw line to compare digits, not a float.
        let r = c.recv_frame().await?.expect("reply");
        raw.push_str(&r["re"].to_string());
        assert_eq!(raw, id, "{r}");
        assert_eq!(r["ok"], json!(true));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_looking_strings_are_stored_and_returned_verbatim() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let evil_name = "'; DROP TABLE users; --";
    let evil_group = "Robert'); DROP TABLE chat_groups;--";
    let evil_desc = "\" OR \"\"=\" ; DELETE FROM messages; /*";
    let evil_text = "' OR '1'='1'; UPDATE users SET name='x'; -- %_\\";
    let mut a = server.client().await?;
    let ida = a.register(evil_name, PASSWORD).await?;
    let r = a.login(ida, PASSWORD).await?;
    assert_eq!(r["user"]["name"], json!(evil_name));
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let r = a
        .ok(json!({"op": "create_group", "name": evil_group, "desc": evil_desc}))
        .await?;
    let gid = r["group"]["id"].as_u64().expect("group id");
    assert_eq!(r["group"]["name"], json!(evil_group));
    assert_eq!(r["group"]["desc"], json!(evil_desc));
    b.ok(json!({"op": "join_group", "group": gid})).await?;
    chat(&mut a, idb, evil_text).await?;
    group_chat(&mut a, gid, evil_text).await?;
    a.ok(json!({"op": "chat", "to": idb, "text": "cid too", "cid": "'; --"}))
        .await?;

    // Everything reads back exactly, from every angle.
    let r = b.ok(json!({"op": "sync"})).await?;
    assert_eq!(r["friends"][0]["name"], json!(evil_name));
    assert_eq!(r["groups"][0]["name"], json!(evil_group));
    assert_eq!(r["groups"][0]["desc"], json!(evil_desc));
    let r = b.ok(json!({"op": "history", "with": ida})).await?;
    assert_eq!(history_texts(&r), vec!["cid too", evil_text]);
    assert_eq!(r["messages"][0]["cid"], json!("'; --"));
    let r = b.ok(json!({"op": "history", "group": gid})).await?;
    assert_eq!(history_texts(&r), vec![evil_text]);
    let r = b.ok(json!({"op": "group_members", "group": gid})).await?;
    let names: Vec<&Value> = r["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| &m["name"])
        .collect();
    assert!(names.contains(&&json!(evil_name)), "{r}");
    // The tables are all still there: new accounts, logins, messages.
    let (mut c, _) = user(&server, "carol").await?;
    c.ok(json!({"op": "join_group", "group": gid})).await?;
    let mut a2 = server.client().await?;
    let r = a2.login(ida, PASSWORD).await?;
    assert_eq!(r["user"]["name"], json!(evil_name));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_and_emoji_round_trip_exactly() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let name = "Zoë 李小龍 🦀";
    let group_name = "Ελληνικά · עברית · العربية";
    let texts_sent = [
        "héllo wörld",
        "👩‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 🇫🇷 France",
        "e\u{301} (combining) vs é",
        "\u{202e}reversed\u{202c} and zero\u{200b}width",
        "line one\nline two\ttabbed\r\nwindows",
        "nul \u{0} inside and \u{1b}[31m escape",
        "𝕌𝕟𝕚𝕔𝕠𝕕𝕖 outside the BMP: 𐍈 🀄",
        "\"quotes\" and \\backslashes\\ and {\"json\": [1]}",
    ];
    let mut a = server.client().await?;
    let ida = a.register(name, PASSWORD).await?;
    a.login(ida, PASSWORD).await?;
    let r = a.ok(json!({"op": "whoami"})).await?;
    assert_eq!(r["user"]["name"], json!(name));
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let gid = {
        let r = a
            .ok(json!({"op": "create_group", "name": group_name, "desc": "🌍"}))
            .await?;
        assert_eq!(r["group"]["name"], json!(group_name));
        r["group"]["id"].as_u64().expect("id")
    };
    for t in texts_sent {
        chat(&mut a, idb, t).await?;
    }
    let got = msgs(&mut b, texts_sent.len()).await?;
    let got: Vec<&str> = got
        .iter()
        .map(|m| m["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(got, texts_sent);
    let r = b.ok(json!({"op": "history", "with": ida})).await?;
    let mut hist = history_texts(&r);
    hist.reverse();
    assert_eq!(hist, texts_sent);
    let r = b.ok(json!({"op": "join_group", "group": gid})).await?;
    assert_eq!(r["group"]["desc"], json!("🌍"));
    let r = b.ok(json!({"op": "sync"})).await?;
    assert_eq!(r["friends"][0]["name"], json!(name));
    // Names count characters, not bytes: 32 emoji are a valid name.
    let mut c = server.client().await?;
    c.register(&"🦀".repeat(32), PASSWORD).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_in_one_write_are_answered_in_order() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    // Pipelined chats mixed with other ops: each op sees the effects of
    // those before it.
    let frames = vec![
        json!({"op": "chat", "to": idb, "text": "one"}),
        json!({"op": "whoami"}),
        json!({"op": "chat", "to": idb, "text": "two"}),
        json!({"op": "history", "with": idb}),
        json!({"op": "ping"}),
        json!({"op": "chat", "to": 999_999_999u64, "text": "nobody"}),
        json!({"op": "create_group", "name": "g"}),
        json!({"op": "chat", "to": idb, "text": "three"}),
        json!({"op": "ack", "ids": [1]}),
        json!({"op": "history", "with": idb, "limit": 1}),
    ];
    pipeline(&mut a, &frames, 500).await?;
    let rs = replies(&mut a, frames.len(), 500).await?;
    assert!(rs[0]["msg"]["id"].is_u64());
    assert_eq!(rs[1]["user"]["id"], json!(ida));
    assert_eq!(history_texts(&rs[3]), vec!["two", "one"]);
    assert_eq!(rs[4], json!({"re": 504, "ok": true}));
    assert_eq!(rs[5]["code"], json!("no_such_user"));
    assert_eq!(rs[6]["group"]["name"], json!("g"));
    assert!(rs[7]["msg"]["id"].is_u64());
    assert_eq!(rs[8]["ok"], json!(true));
    assert_eq!(history_texts(&rs[9]), vec!["three"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_split_across_many_writes_is_one_request() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    let id = c.register("alice", PASSWORD).await?;
    let line = format!(
        "{{\"op\": \"login\", \"id\": 42, \"user\": {id}, \"password\": \"{PASSWORD}\"}}\r\n"
    );
    for byte in line.as_bytes() {
        c.send_raw(&[*byte]).await?;
        tokio::task::yield_now().await;
    }
    let r = c.recv_frame().await?.expect("reply");
    assert_eq!(r["re"], json!(42));
    assert_eq!(r["ok"], json!(true), "{r}");
    assert_eq!(r["user"]["id"], json!(id));
    // Split at odd places, including inside a multi-byte character.
    let text = "split 🦀 here";
    let line = serde_json::to_vec(
        &json!({"op": "register", "id": 43, "name": text, "password": PASSWORD}),
    )?;
    let cut = line
        .windows(4)
        .position(|w| w == "🦀".as_bytes())
        .expect("emoji in line")
        + 2;
    c.send_raw(&line[..cut]).await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.send_raw(&line[cut..]).await?;
    c.send_raw(b"\n").await?;
    let r = c.recv_frame().await?.expect("reply");
    assert_eq!(r["re"], json!(43));
    assert_eq!(r["user"]["name"], json!(text));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_lines_are_ignored_and_crlf_is_accepted() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    c.send_raw(b"\n\n   \n\r\n\t\n{\"op\":\"ping\",\"id\":1}\r\n\r\n{\"op\":\"ping\",\"id\":2}\n")
        .await?;
    let r = c.recv_frame().await?.expect("reply");
    assert_eq!(r, json!({"re": 1, "ok": true}));
    let r = c.recv_frame().await?.expect("reply");
    assert_eq!(r, json!({"re": 2, "ok": true}));
    // A register over CRLF keeps the name without the `\r`.
    c.send_raw(b"{\"op\":\"register\",\"id\":3,\"name\":\"crlf\",\"password\":\"password1\"}\r\n")
        .await?;
    let r = c.recv_frame().await?.expect("reply");
    assert_eq!(r["re"], json!(3));
    assert_eq!(r["user"]["name"], json!("crlf"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_is_echoed_as_re_and_re_is_null_without_id() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut c = server.client().await?;
    // Without id: re is present and null, for successes and failures.
    for line in [
        &br#"{"op":"ping"}"#[..],
        br#"{"op":"whoami"}"#,
        br#"{"op":"nope"}"#,
        br#"{"op":"add_friend"}"#,
    ] {
        let r = reply_to(&mut c, line).await?;
        assert_eq!(r.get("re"), Some(&Value::Null), "{r}");
    }
    // With id: echoed on success and on each kind of failure.
    let cases = [
        (json!({"op": "ping", "id": 11}), json!(true)),
        (json!({"op": "whoami", "id": 12}), json!(false)),
        (json!({"op": "nope", "id": 13}), json!(false)),
        (json!({"op": "register", "id": 14}), json!(false)),
        (json!({"id": 15}), json!(false)),
    ];
    for (req, ok) in cases {
        let r = reply_to(&mut c, &serde_json::to_vec(&req)?).await?;
        assert_eq!(r["re"], req["id"], "{req}: {r}");
        assert_eq!(r["ok"], ok, "{req}: {r}");
    }
    // Ids need not increase or be unique; the reply simply echoes them.
    for id in [7, 7, 3] {
        let r = reply_to(&mut c, format!(r#"{{"op":"ping","id":{id}}}"#).as_bytes()).await?;
        assert_eq!(r["re"], json!(id));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unexpected_fields_and_shapes_do_not_break_anything() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mut a, ida) = user(&server, "alice").await?;
    // An object nested deeply as an ignored field value.
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let line = format!(r#"{{"op":"whoami","id":1,"extra":{deep}}}"#);
    let r = reply_to(&mut a, line.as_bytes()).await?;
    assert_eq!(r["re"], json!(1));
    assert!(
        r["ok"] == json!(true)
            || r["code"] == json!("bad_json")
            || r["code"] == json!("bad_request"),
        "{r}"
    );
    // Absurd nesting is refused, not a crash.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let line = format!(r#"{{"op":"whoami","extra":{deep}}}"#);
    let r = reply_to(&mut a, line.as_bytes()).await?;
    assert!(r.get("re").is_some(), "{r}");
    // A lone surrogate is no text: refused, nothing stored.
    let (mut b, idb) = user(&server, "bob").await?;
    befriend(&mut a, &mut b).await?;
    let r = reply_to(
        &mut a,
        format!(r#"{{"op":"chat","to":{idb},"text":"\ud800"}}"#).as_bytes(),
    )
    .await?;
    assert_eq!(r["ok"], json!(false), "{r}");
    assert!(
        r["code"] == json!("bad_request") || r["code"] == json!("bad_json"),
        "{r}"
    );
    let r = b.ok(json!({"op": "history", "with": ida})).await?;
    assert_eq!(r["messages"], json!([]));
    // A null op, an op with spaces, an empty object.
    for line in [&br#"{"op":null}"#[..], br#"{"op":" ping "}"#, b"{}"] {
        let r = reply_to(&mut a, line).await?;
        assert_eq!(r["ok"], json!(false), "{r}");
    }
    let r = a.ok(json!({"op": "whoami"})).await?;
    assert_eq!(r["user"]["id"], json!(ida));
    Ok(())
}
