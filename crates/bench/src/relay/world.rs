//! The relay's whole state, in memory: accounts (name, password, tokens,
//! friends, pending requests) and the live sessions of each, sharded by
//! user id; and the ops the bench's workloads use, each appending its
//! reply to the connection's batch of replies.
//!
//! Nothing is stored, hashed or checked beyond what the driver needs:
//! passwords are compared as they are, `cid` is echoed but a retry is not
//! recognised, a message to a user with no session is dropped, and no
//! presence or friend events are sent.
//!
//! About 200 of its 500 lines are tests, which walk one conversation
//! through every op the relay answers.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::json::{err_reply, json_str, ok_head, user_obj};

mod friends;

/// Shards of the account map: enough that two cores rarely meet on one.
const SHARDS: usize = 64;
/// Tokens kept per account; a password login past this drops the oldest.
const MAX_TOKENS: usize = 16;

/// Where a session's outgoing bytes go: its writer task's queue.
#[derive(Debug, Clone)]
pub struct Outbox {
    pub conn: u64,
    tx: mpsc::Sender<Bytes>,
    /// Set when the queue was full: the writer stops and the connection
    /// is dropped, as a real server drops a reader that fell behind.
    overflowed: Arc<AtomicBool>,
}

impl Outbox {
    pub fn new(conn: u64, tx: mpsc::Sender<Bytes>, overflowed: Arc<AtomicBool>) -> Outbox {
        Outbox {
            conn,
            tx,
            overflowed,
        }
    }

    /// Queues `bytes` without waiting; a full queue ends the session.
    fn push(&self, bytes: Bytes) {
        if self.tx.try_send(bytes).is_err() {
            self.overflowed.store(true, Relaxed);
        }
    }
}

#[derive(Debug)]
struct Account {
    name: String,
    password: String,
    tokens: Vec<String>,
    friends: Vec<u64>,
    /// Users who asked to be friends and wait for an answer.
    requests_in: Vec<u64>,
    sessions: Vec<Outbox>,
}

/// One request, as far as the relay reads it. Op names, user names,
/// passwords and tokens are read in place, so they must not contain JSON
/// escapes (the bench's never do); texts and `cid`s may.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Req<'a> {
    pub op: Option<&'a str>,
    pub id: Option<u64>,
    pub user: Option<u64>,
    pub name: Option<&'a str>,
    pub password: Option<&'a str>,
    pub token: Option<&'a str>,
    pub to: Option<u64>,
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub cid: Option<Cow<'a, str>>,
}

/// A connection's login state.
#[derive(Debug)]
pub struct Session {
    pub outbox: Outbox,
    pub user: Option<u64>,
}

/// A failed request: its code and message.
type Failure = (&'static str, Cow<'static, str>);

fn fail(code: &'static str, error: impl Into<Cow<'static, str>>) -> Failure {
    (code, error.into())
}

/// Everything the relay knows.
pub struct World {
    shards: Vec<Mutex<HashMap<u64, Account>>>,
    next_user: AtomicU64,
    next_msg: AtomicU64,
    /// Numbers the tokens, so that no two are alike.
    next_token: AtomicU64,
    /// Makes tokens nobody can guess from a user id.
    hasher: RandomState,
}

impl Default for World {
    fn default() -> World {
        World {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            next_user: AtomicU64::new(1),
            next_msg: AtomicU64::new(1),
            next_token: AtomicU64::new(1),
            hasher: RandomState::new(),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl World {
    fn shard(&self, user: u64) -> MutexGuard<'_, HashMap<u64, Account>> {
        // Nothing panics while holding a shard, and the data stays usable.
        self.shards[user as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn exists(&self, user: u64) -> bool {
        user > 0 && user < self.next_user.load(Relaxed)
    }

    /// Handles one request, appending exactly one reply to `out`.
    pub fn handle(&self, session: &mut Session, req: &Req<'_>, out: &mut Vec<u8>) {
        let result = match (req.op, session.user) {
            (None, _) => Err(fail("bad_request", "`op` is missing")),
            (Some("ping"), _) => Ok(None),
            (Some("register"), _) => self.register(req),
            (Some("login"), None) => self.login(session, req),
            (Some("login"), Some(_)) => Err(fail("already_logged_in", "already logged in")),
            (Some(op), None) if KNOWN.contains(&op) => Err(fail("not_logged_in", "log in first")),
            (Some("chat"), Some(me)) => self.chat(session, me, req),
            (Some("ack"), Some(_)) => Ok(None),
            (Some("logout"), Some(me)) => {
                self.leave(me, session.outbox.conn);
                session.user = None;
                Ok(None)
            }
            (Some("add_friend"), Some(me)) => self.add_friend(me, req),
            (Some("accept_friend"), Some(me)) => self.accept_friend(me, req),
            (Some(op), _) => Err(fail("unknown_op", format!("the relay does not do `{op}`"))),
        };
        match result {
            Ok(None) => {
                ok_head(out, req.id);
                out.extend_from_slice(b"}\n");
            }
            Ok(Some(body)) => {
                ok_head(out, req.id);
                out.push(b',');
                out.extend_from_slice(&body);
                out.extend_from_slice(b"}\n");
            }
            Err((code, error)) => err_reply(out, req.id, code, &error),
        }
    }

    /// Ends a session of `user` (its connection closed or logged out).
    pub fn leave(&self, user: u64, conn: u64) {
        if let Some(acc) = self.shard(user).get_mut(&user) {
            acc.sessions.retain(|s| s.conn != conn);
        }
    }

    fn register(&self, req: &Req<'_>) -> Result<Option<Vec<u8>>, Failure> {
        let name = req.name.map(str::trim).unwrap_or("");
        let password = req.password.unwrap_or("");
        if name.is_empty() || password.is_empty() {
            return Err(fail("bad_request", "`name` and `password` are required"));
        }
        let id = self.next_user.fetch_add(1, Relaxed);
        self.shard(id).insert(
            id,
            Account {
                name: name.to_owned(),
                password: password.to_owned(),
                tokens: Vec::new(),
                friends: Vec::new(),
                requests_in: Vec::new(),
                sessions: Vec::new(),
            },
        );
        let mut body = b"\"user\":".to_vec();
        user_obj(&mut body, id, name, None);
        Ok(Some(body))
    }

    fn login(&self, session: &mut Session, req: &Req<'_>) -> Result<Option<Vec<u8>>, Failure> {
        let bad = || fail("bad_credentials", "wrong user, password or token");
        let user = req
            .user
            .ok_or_else(|| fail("bad_request", "`user` is required"))?;
        let (name, token, friends) = {
            let mut shard = self.shard(user);
            let acc = shard.get_mut(&user).ok_or_else(bad)?;
            let token = match (req.password, req.token) {
                (Some(p), _) if p == acc.password => {
                    let n = self.next_token.fetch_add(1, Relaxed);
                    let t = format!("{user:x}.{:016x}", self.hasher.hash_one((user, n)));
                    if acc.tokens.len() >= MAX_TOKENS {
                        acc.tokens.remove(0);
                    }
                    acc.tokens.push(t.clone());
                    t
                }
                (None, Some(t)) if acc.tokens.iter().any(|k| k == t) => t.to_owned(),
                _ => return Err(bad()),
            };
            acc.sessions.push(session.outbox.clone());
            (acc.name.clone(), token, acc.friends.clone())
        };
        session.user = Some(user);
        let mut body = b"\"user\":".to_vec();
        user_obj(&mut body, user, &name, None);
        body.extend_from_slice(b",\"token\":");
        json_str(&mut body, &token);
        body.extend_from_slice(b",\"friends\":[");
        for (k, f) in friends.iter().enumerate() {
            if k > 0 {
                body.push(b',');
            }
            let (fname, online) = self
                .shard(*f)
                .get(f)
                .map(|a| (a.name.clone(), !a.sessions.is_empty()))
                .unwrap_or_default();
            user_obj(&mut body, *f, &fname, Some(online));
        }
        body.extend_from_slice(
            b"],\"groups\":[],\"requests_in\":[],\"requests_out\":[],\"blocked\":[],\"invites\":[],\"unread\":0",
        );
        Ok(Some(body))
    }

    /// One-to-one chat: to every session of the recipient and the
    /// sender's other sessions; the reply carries the id and time.
    fn chat(&self, session: &Session, me: u64, req: &Req<'_>) -> Result<Option<Vec<u8>>, Failure> {
        let to = req
            .to
            .ok_or_else(|| fail("bad_request", "`to` is required"))?;
        let text = req.text.as_deref().unwrap_or("");
        if text.trim().is_empty() {
            return Err(fail("bad_request", "`text` is empty"));
        }
        let mine: Vec<Outbox> = {
            let shard = self.shard(me);
            let acc = shard
                .get(&me)
                .ok_or_else(|| fail("internal", "no account"))?;
            if !acc.friends.contains(&to) {
                return Err(if self.exists(to) {
                    fail("not_friend", format!("user {to} is not your friend"))
                } else {
                    fail("no_such_user", format!("no user {to}"))
                });
            }
            acc.sessions
                .iter()
                .filter(|s| s.conn != session.outbox.conn)
                .cloned()
                .collect()
        };
        let id = self.next_msg.fetch_add(1, Relaxed);
        let ts = now_ms();
        let mut ev = Vec::with_capacity(96 + text.len());
        let _ = write!(
            ev,
            "{{\"ev\":\"msg\",\"msg\":{{\"id\":{id},\"from\":{me},\"to\":{to},\"text\":"
        );
        json_str(&mut ev, text);
        let _ = write!(ev, ",\"ts\":{ts}");
        if let Some(cid) = req.cid.as_deref() {
            ev.extend_from_slice(b",\"cid\":");
            json_str(&mut ev, cid);
        }
        ev.extend_from_slice(b"}}\n");
        let ev = Bytes::from(ev);
        if let Some(acc) = self.shard(to).get(&to) {
            for s in &acc.sessions {
                s.push(ev.clone());
            }
        }
        for s in &mine {
            s.push(ev.clone());
        }
        let mut body = Vec::with_capacity(48);
        let _ = write!(body, "\"msg\":{{\"id\":{id},\"ts\":{ts}}}");
        Ok(Some(body))
    }
}

/// The ops of the contract that need a login; the relay answers those it
/// does not do with `unknown_op`, but only once logged in, as the server.
const KNOWN: [&str; 28] = [
    "logout",
    "whoami",
    "sync",
    "add_friend",
    "accept_friend",
    "decline_friend",
    "cancel_friend",
    "block",
    "unblock",
    "change_password",
    "delete_account",
    "remove_friend",
    "chat",
    "create_group",
    "update_group",
    "join_group",
    "invite",
    "decline_invite",
    "kick",
    "set_role",
    "transfer_group",
    "quit_group",
    "delete_group",
    "group_members",
    "group_chat",
    "history",
    "ack",
    "ping",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn session(conn: u64) -> (Session, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(16);
        let outbox = Outbox::new(conn, tx, Arc::new(AtomicBool::new(false)));
        (Session { outbox, user: None }, rx)
    }

    /// Sends `req` and returns the reply as JSON.
    fn ask(world: &World, s: &mut Session, req: Value) -> Value {
        let text = req.to_string();
        let parsed: Req = serde_json::from_str(&text).unwrap();
        let mut out = Vec::new();
        world.handle(s, &parsed, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        serde_json::from_slice(&out).unwrap()
    }

    fn event(rx: &mut mpsc::Receiver<Bytes>) -> Value {
        serde_json::from_slice(&rx.try_recv().expect("an event")).unwrap()
    }

    #[test]
    fn register_login_befriend_and_chat() {
        let w = World::default();
        let (mut a, mut a_rx) = session(1);
        let (mut b, mut b_rx) = session(2);
        let (mut a2, mut a2_rx) = session(3);
        let r = ask(
            &w,
            &mut a,
            json!({"op":"register","id":1,"name":"ann","password":"pw1234"}),
        );
        assert_eq!(r, json!({"re":1,"ok":true,"user":{"id":1,"name":"ann"}}));
        ask(
            &w,
            &mut b,
            json!({"op":"register","name":"bob","password":"pw5678"}),
        );
        let r = ask(&w, &mut b, json!({"op":"chat","id":2,"to":1,"text":"hi"}));
        assert_eq!(r["code"], "not_logged_in");

        let r = ask(
            &w,
            &mut a,
            json!({"op":"login","id":3,"user":1,"password":"nope"}),
        );
        assert_eq!(r["code"], "bad_credentials");
        let r = ask(
            &w,
            &mut a,
            json!({"op":"login","id":4,"user":1,"password":"pw1234"}),
        );
        assert_eq!(
            (r["ok"].clone(), r["user"]["id"].clone()),
            (json!(true), json!(1))
        );
        let token = r["token"].as_str().unwrap().to_owned();
        let r = ask(
            &w,
            &mut a2,
            json!({"op":"login","id":5,"user":1,"token":token}),
        );
        assert_eq!(r["token"], json!(token));
        let r = ask(
            &w,
            &mut b,
            json!({"op":"login","user":2,"password":"pw5678"}),
        );
        assert_eq!(r["friends"], json!([]));

        // Friends by request and acceptance (version 2).
        let r = ask(&w, &mut a, json!({"op":"chat","to":2,"text":"hi"}));
        assert_eq!(r["code"], "not_friend");
        let r = ask(&w, &mut a, json!({"op":"add_friend","user":2}));
        assert_eq!(r["status"], "requested");
        let r = ask(&w, &mut a, json!({"op":"accept_friend","user":2}));
        assert_eq!(r["code"], "no_such_request");
        let r = ask(&w, &mut b, json!({"op":"accept_friend","id":9,"user":1}));
        assert_eq!(r["friend"], json!({"id":1,"name":"ann","online":true}));
        let r = ask(&w, &mut a, json!({"op":"add_friend","user":2}));
        assert_eq!(r["code"], "already_friends");

        // A message reaches the recipient and the sender's other session.
        let r = ask(
            &w,
            &mut a,
            json!({"op":"chat","id":10,"to":2,"text":"hé \"x\"","cid":"c1"}),
        );
        let id = r["msg"]["id"].clone();
        assert!(r["msg"]["ts"].as_u64().unwrap() > 0);
        let ev = event(&mut b_rx);
        assert_eq!(ev["ev"], "msg");
        assert_eq!(ev["msg"]["id"], id);
        assert_eq!(
            (ev["msg"]["from"].clone(), ev["msg"]["to"].clone()),
            (json!(1), json!(2))
        );
        assert_eq!(ev["msg"]["text"], "hé \"x\"");
        assert_eq!(ev["msg"]["cid"], "c1");
        assert_eq!(event(&mut a2_rx)["msg"]["id"], id);
        assert!(a_rx.try_recv().is_err(), "not to the sending session");

        let r = ask(&w, &mut b, json!({"op":"ack","id":11,"ids":[1]}));
        assert_eq!(r, json!({"re":11,"ok":true}));
        let r = ask(&w, &mut b, json!({"op":"history","with":1}));
        assert_eq!(r["code"], "unknown_op");

        // After logout, b gets nothing.
        ask(&w, &mut b, json!({"op":"logout"}));
        ask(&w, &mut a, json!({"op":"chat","to":2,"text":"hi"}));
        assert!(b_rx.try_recv().is_err());
        let r = ask(&w, &mut b, json!({"op":"ping","id":12}));
        assert_eq!(r, json!({"re":12,"ok":true}));
    }

    #[test]
    fn add_friend_both_ways_accepts() {
        let w = World::default();
        let (mut a, _a_rx) = session(1);
        let (mut b, _b_rx) = session(2);
        for (s, n) in [(&mut a, 1), (&mut b, 2)] {
            ask(
                &w,
                s,
                json!({"op":"register","name":"u","password":"pw1234"}),
            );
            ask(&w, s, json!({"op":"login","user":n,"password":"pw1234"}));
        }
        ask(&w, &mut a, json!({"op":"add_friend","user":2}));
        let r = ask(&w, &mut b, json!({"op":"add_friend","user":1}));
        assert_eq!(r["status"], "friends");
        assert_eq!(r["friend"]["id"], 1);
        let r = ask(&w, &mut b, json!({"op":"add_friend","user":9}));
        assert_eq!(r["code"], "no_such_user");
        let r = ask(&w, &mut b, json!({"op":"add_friend","user":2}));
        assert_eq!(r["code"], "bad_request");
        let r = ask(
            &w,
            &mut a,
            json!({"op":"login","user":1,"password":"pw1234"}),
        );
        assert_eq!(r["code"], "already_logged_in");
    }

    #[test]
    fn a_full_queue_marks_the_session_overflowed() {
        let (tx, _rx) = mpsc::channel(1);
        let flag = Arc::new(AtomicBool::new(false));
        let o = Outbox::new(1, tx, flag.clone());
        o.push(Bytes::from_static(b"a"));
        assert!(!flag.load(Relaxed));
        o.push(Bytes::from_static(b"b"));
        assert!(flag.load(Relaxed));
    }
}
