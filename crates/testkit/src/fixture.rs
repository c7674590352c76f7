//! Helpers shared by the black-box suites: short ways to set up friends and
//! groups (and [`Trio`], the set-up most suites start from), and to read
//! events up to a known marker instead of sleeping.

use crate::{TestClient, TestServer};
use anyhow::{Context, bail};
use serde_json::{Value, json};

/// The password `TestClient::signup` uses.
pub const PASSWORD: &str = "password1";

/// A connected client that has signed up as `name`.
pub async fn user(server: &TestServer, name: &str) -> anyhow::Result<(TestClient, u64)> {
    let mut c = server.client().await?;
    let id = c.signup(name).await?;
    Ok((c, id))
}

/// Another logged-in session of the account `id`.
pub async fn session(server: &TestServer, id: u64) -> anyhow::Result<TestClient> {
    let mut c = server.client().await?;
    c.login(id, PASSWORD).await?;
    Ok(c)
}

/// `a` and `b` become friends the version 2 way: `a` asks, `b` hears of
/// it and accepts, `a` hears of that. Returns `b`'s `accept_friend` reply.
pub async fn befriend(a: &mut TestClient, b: &mut TestClient) -> anyhow::Result<Value> {
    let bid = b.user.context("b is not logged in")?;
    let aid = a.user.context("a is not logged in")?;
    let r = a.ok(json!({"op": "add_friend", "user": bid})).await?;
    if r["status"] != json!("requested") {
        bail!("add_friend did not send a request: {r}");
    }
    let ev = b.event_of("friend_request").await?;
    if ev["user"]["id"] != json!(aid) {
        bail!("unexpected friend_request: {ev}");
    }
    let r = b.ok(json!({"op": "accept_friend", "user": aid})).await?;
    let ev = a.event_of("friend_added").await?;
    if ev["user"]["id"] != json!(bid) {
        bail!("unexpected friend_added: {ev}");
    }
    Ok(r)
}

/// Creates a group as `c`; returns its id.
pub async fn group(c: &mut TestClient, name: &str) -> anyhow::Result<u64> {
    let r = c
        .ok(json!({"op": "create_group", "name": name, "desc": "about"}))
        .await?;
    r["group"]["id"].as_u64().context("no group id")
}

/// Sends a one-to-one message; returns its id.
pub async fn chat(c: &mut TestClient, to: u64, text: &str) -> anyhow::Result<u64> {
    let r = c.ok(json!({"op": "chat", "to": to, "text": text})).await?;
    r["msg"]["id"].as_u64().context("no msg id")
}

/// Sends a group message; returns its id.
pub async fn group_chat(c: &mut TestClient, group: u64, text: &str) -> anyhow::Result<u64> {
    let r = c
        .ok(json!({"op": "group_chat", "group": group, "text": text}))
        .await?;
    r["msg"]["id"].as_u64().context("no msg id")
}

/// Reads events until a `msg` event whose text is `marker`; returns the
/// events before it. A marker sent after some action bounds the wait for
/// events that action must *not* cause.
pub async fn events_before(c: &mut TestClient, marker: &str) -> anyhow::Result<Vec<Value>> {
    let mut seen = Vec::new();
    loop {
        let ev = c.next_event().await?;
        if ev["ev"] == json!("msg") && ev["msg"]["text"] == json!(marker) {
            return Ok(seen);
        }
        seen.push(ev);
    }
}

/// The `n` next `msg` events (other events skipped).
pub async fn msgs(c: &mut TestClient, n: usize) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let ev = c.next_event().await?;
        if ev["ev"] == json!("msg") {
            out.push(ev["msg"].clone());
        }
    }
    Ok(out)
}

/// The texts of `msg` events among `events`.
pub fn texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["ev"] == json!("msg"))
        .map(|e| e["msg"]["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Events of kind `kind` among `events`.
pub fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["ev"] == json!(kind)).collect()
}

/// Ids of the friends in a `login` or `sync` reply.
pub fn friend_ids(reply: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = reply["friends"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["id"].as_u64()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

/// Ids of the groups in a `login` or `sync` reply.
pub fn group_ids(reply: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = reply["groups"]
        .as_array()
        .map(|a| a.iter().filter_map(|g| g["id"].as_u64()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

/// The texts of a `history` reply, in the order given.
pub fn history_texts(reply: &Value) -> Vec<String> {
    reply["messages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["text"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Sends `frames` back to back (one write on a line transport, one message
/// each on a WebSocket), with ids `first_id`, `first_id + 1`, ...
pub async fn pipeline(c: &mut TestClient, frames: &[Value], first_id: u64) -> anyhow::Result<()> {
    let frames: Vec<Value> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut f = f.clone();
            f["id"] = json!(first_id + i as u64);
            f
        })
        .collect();
    c.send_all(&frames).await
}

/// Reads `n` replies (keeping events aside), checking they answer ids
/// `first_id..first_id + n` in order.
pub async fn replies(c: &mut TestClient, n: usize, first_id: u64) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let r = c.recv_reply().await?;
        if r["re"] != json!(first_id + i) {
            bail!("reply out of order: expected re {}, got {r}", first_id + i);
        }
        out.push(r);
    }
    Ok(out)
}

/// Current time in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The set-up most suites start from: alice, bob and carol signed up on
/// one server; alice is friends with bob and with carol; alice created the
/// group "club", which bob and carol joined. The events of the set-up are
/// consumed, so each client starts with nothing pending.
pub struct Trio {
    pub a: TestClient,
    pub b: TestClient,
    pub c: TestClient,
    pub ida: u64,
    pub idb: u64,
    pub idc: u64,
    /// The group "club".
    pub gid: u64,
}

impl Trio {
    pub async fn new(server: &TestServer) -> anyhow::Result<Trio> {
        let (mut a, ida) = user(server, "alice").await?;
        let (mut b, idb) = user(server, "bob").await?;
        let (mut c, idc) = user(server, "carol").await?;
        befriend(&mut a, &mut b).await?;
        befriend(&mut a, &mut c).await?;
        let gid = group(&mut a, "club").await?;
        b.ok(json!({"op": "join_group", "group": gid})).await?;
        c.ok(json!({"op": "join_group", "group": gid})).await?;
        // alice hears of both joins, bob of carol's.
        for (client, joins) in [(&mut a, 2), (&mut b, 1)] {
            for _ in 0..joins {
                client.event_of("member_joined").await?;
            }
        }
        Ok(Trio {
            a,
            b,
            c,
            ida,
            idb,
            idc,
            gid,
        })
    }
}
