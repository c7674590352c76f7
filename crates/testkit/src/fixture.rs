//! Helpers shared by the black-box suites: short ways to set up friends and
//! groups (and [`Trio`], the set-up most suites start from), and to read
//! events up to a known marker instead of sleeping.

use std::collections::HashSet;
use std::time::{Duration, Instant};

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

/// `a` and `b` become friends the version 2 way: `a` sends `add_friend`,
/// `b` hears `friend_request`, `b` answers `accept_friend`, and `a` hears
/// `friend_added`. Returns `b`'s `accept_friend` reply (it carries
/// `friend`). Events skipped on the way are dropped.
pub async fn befriend(a: &mut TestClient, b: &mut TestClient) -> anyhow::Result<Value> {
    let bid = b.user.context("b is not logged in")?;
    let aid = a.user.context("a is not logged in")?;
    request_friend(a, b).await?;
    let r = b.ok(json!({"op": "accept_friend", "user": aid})).await?;
    event_where(a, "friend_added", |ev| ev["user"]["id"] == json!(bid)).await?;
    Ok(r)
}

/// `a` asks `b` to be friends and `b` hears `friend_request`; the request
/// stays pending. Returns `a`'s `add_friend` reply, which must say
/// `requested`.
pub async fn request_friend(a: &mut TestClient, b: &mut TestClient) -> anyhow::Result<Value> {
    let bid = b.user.context("b is not logged in")?;
    let aid = a.user.context("a is not logged in")?;
    let r = a.ok(json!({"op": "add_friend", "user": bid})).await?;
    if r["status"] != json!("requested") {
        bail!("add_friend of a stranger should say requested: {r}");
    }
    event_where(b, "friend_request", |ev| ev["user"]["id"] == json!(aid)).await?;
    Ok(r)
}

/// The next event of kind `ev` for which `pred` holds; other events are
/// skipped (and dropped).
pub async fn event_where(
    c: &mut TestClient,
    ev: &str,
    pred: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    loop {
        let v = c.event_of(ev).await?;
        if pred(&v) {
            return Ok(v);
        }
    }
}

/// Creates a group as `c`; returns its id.
pub async fn group(c: &mut TestClient, name: &str) -> anyhow::Result<u64> {
    let r = c
        .ok(json!({"op": "create_group", "name": name, "desc": "about"}))
        .await?;
    r["group"]["id"].as_u64().context("no group id")
}

/// Creates a private group as `c`; returns its id.
pub async fn private_group(c: &mut TestClient, name: &str) -> anyhow::Result<u64> {
    let r = c
        .ok(json!({"op": "create_group", "name": name, "desc": "about", "visibility": "private"}))
        .await?;
    if r["group"]["visibility"] != json!("private") {
        bail!("create_group private gave {r}");
    }
    r["group"]["id"].as_u64().context("no group id")
}

/// A public group created by `owner` that each of `members` joins, to carry
/// marker messages from `owner` (see [`events_before`]) to people who are
/// not `owner`'s friends. The `member_joined` events of the set-up are
/// consumed. Returns its id.
pub async fn marker_group(
    owner: &mut TestClient,
    members: &mut [&mut TestClient],
) -> anyhow::Result<u64> {
    let gid = group(owner, "markers").await?;
    for i in 0..members.len() {
        let joiner = members[i].user.context("a member is not logged in")?;
        members[i]
            .ok(json!({"op": "join_group", "group": gid}))
            .await?;
        let joined = |ev: &Value| ev["group"] == json!(gid) && ev["user"]["id"] == json!(joiner);
        event_where(owner, "member_joined", joined).await?;
        for earlier in members[..i].iter_mut() {
            event_where(earlier, "member_joined", joined).await?;
        }
    }
    Ok(gid)
}

/// Logs `c` in by token; returns the reply.
pub async fn login_token(c: &mut TestClient, user: u64, token: &str) -> anyhow::Result<Value> {
    let r = c
        .ok(json!({"op": "login", "user": user, "token": token}))
        .await?;
    c.user = Some(user);
    c.token = r["token"].as_str().map(str::to_owned);
    Ok(r)
}

/// Another session of the account `id`, logged in with `token`.
pub async fn token_session(
    server: &TestServer,
    id: u64,
    token: &str,
) -> anyhow::Result<TestClient> {
    let mut c = server.client().await?;
    login_token(&mut c, id, token).await?;
    Ok(c)
}

/// Reads `c` until the server closes it and checks that it was told
/// `session_ended` with `reason` on the way (events kept earlier count).
pub async fn ended_with(c: &mut TestClient, reason: &str) -> anyhow::Result<()> {
    let mut seen = c.kept_events();
    seen.extend(c.until_closed().await?);
    let ended: Vec<&Value> = of_kind(&seen, "session_ended");
    if ended != vec![&json!({"ev": "session_ended", "reason": reason})] {
        bail!("expected one session_ended {reason} before the close, saw {seen:?}");
    }
    Ok(())
}

/// Ids of the users in the list `key` (`friends`, `requests_in`,
/// `requests_out`, `blocked`) of a `login` or `sync` reply, sorted.
pub fn user_ids(reply: &Value, key: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = reply[key]
        .as_array()
        .map(|a| a.iter().filter_map(|u| u["id"].as_u64()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

/// Group ids of the `invites` of a `login` or `sync` reply, sorted.
pub fn invite_ids(reply: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = reply["invites"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["group"]["id"].as_u64()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

/// The members of `gid` as `c` sees them: (id, role) sorted by id.
pub async fn roles(c: &mut TestClient, gid: u64) -> anyhow::Result<Vec<(u64, String)>> {
    let r = c.ok(json!({"op": "group_members", "group": gid})).await?;
    let mut out: Vec<(u64, String)> = r["members"]
        .as_array()
        .context("no members")?
        .iter()
        .map(|m| {
            (
                m["id"].as_u64().unwrap_or(0),
                m["role"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    out.sort();
    Ok(out)
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

/// Collects `msg` events until every id in `want` has arrived; panics
/// naming the missing ids once `within` has passed.
pub async fn receive_all(
    client: &mut TestClient,
    want: &HashSet<u64>,
    within: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut seen = HashSet::new();
    let mut events = Vec::new();
    while !want.is_subset(&seen) {
        assert!(
            Instant::now() < deadline,
            "missing messages after {within:?}: {:?}",
            want.difference(&seen).collect::<Vec<_>>()
        );
        let ev = client.event_of("msg").await.unwrap();
        seen.insert(ev["msg"]["id"].as_u64().unwrap());
        events.push(ev);
    }
    events
}
