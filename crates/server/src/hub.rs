//! This node's live sessions by user id, and delivery of frames to them.
//!
//! The map is split into shards, each behind its own lock, so deliveries to
//! different users rarely contend. A lock is held only to copy out or push
//! to a handful of queues, never across an `.await`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::outbox::{OutFrame, Outbox};

const SHARDS: usize = 64;

/// One logged-in session, as the hub sees it.
#[derive(Debug, Clone)]
pub struct SessionRef {
    /// Unique on this node for the life of the process.
    pub sid: u64,
    pub outbox: Arc<Outbox>,
}

type Shard = RwLock<HashMap<u64, Vec<SessionRef>>>;

/// The sessions of this node.
#[derive(Debug)]
pub struct Hub {
    shards: Box<[Shard]>,
    sessions: AtomicUsize,
    users: AtomicUsize,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        Hub {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            sessions: AtomicUsize::new(0),
            users: AtomicUsize::new(0),
        }
    }

    fn shard(&self, user: u64) -> &Shard {
        &self.shards[(user as usize) % SHARDS]
    }

    /// Adds a session; returns true when it is the user's first here.
    pub fn attach(&self, user: u64, session: SessionRef) -> bool {
        let mut map = self.shard(user).write().unwrap_or_else(|e| e.into_inner());
        let list = map.entry(user).or_default();
        list.push(session);
        self.sessions.fetch_add(1, Ordering::Relaxed);
        let first = list.len() == 1;
        if first {
            self.users.fetch_add(1, Ordering::Relaxed);
        }
        first
    }

    /// Removes a session; returns true when it was the user's last here.
    pub fn detach(&self, user: u64, sid: u64) -> bool {
        let mut map = self.shard(user).write().unwrap_or_else(|e| e.into_inner());
        let Some(list) = map.get_mut(&user) else {
            return false;
        };
        let before = list.len();
        list.retain(|s| s.sid != sid);
        if list.len() < before {
            self.sessions.fetch_sub(1, Ordering::Relaxed);
        }
        if list.is_empty() {
            map.remove(&user);
            self.users.fetch_sub(1, Ordering::Relaxed);
            return before > 0;
        }
        false
    }

    /// Whether the user has a session on this node.
    pub fn is_online(&self, user: u64) -> bool {
        let map = self.shard(user).read().unwrap_or_else(|e| e.into_inner());
        map.contains_key(&user)
    }

    /// Queues `frame` on every session of each of `users` here, except the
    /// session `except` (a sender's own). This is the one way frames reach
    /// sessions, whether they were made on this node or came over the bus.
    /// Returns how many sessions got it.
    pub fn deliver(&self, users: &[u64], frame: &OutFrame, except: Option<u64>) -> usize {
        let mut n = 0;
        for &user in users {
            let map = self.shard(user).read().unwrap_or_else(|e| e.into_inner());
            let Some(list) = map.get(&user) else {
                continue;
            };
            for s in list {
                if Some(s.sid) != except && s.outbox.push_event(frame.clone()) {
                    n += 1;
                }
            }
        }
        if frame.msg_id.is_some() {
            crate::metrics::delivered(n);
        }
        n
    }

    /// Ends every session of `user` here but `except` (a sid): each gets
    /// `frame` (a `session_ended` event), then its connection closes.
    /// Returns how many were ended.
    pub fn end_sessions(&self, user: u64, except: Option<u64>, frame: &OutFrame) -> usize {
        let map = self.shard(user).read().unwrap_or_else(|e| e.into_inner());
        let Some(list) = map.get(&user) else {
            return 0;
        };
        let mut n = 0;
        for s in list.iter().filter(|s| Some(s.sid) != except) {
            // Straight to the socket, even during a login replay: the
            // session is over.
            s.outbox.push(frame.bytes.clone());
            s.outbox.close();
            n += 1;
        }
        n
    }

    /// Holds the live events of every session of `user` here (a replay
    /// is about to run); returns the outboxes held, to release later.
    pub fn hold(&self, user: u64) -> Vec<Arc<Outbox>> {
        let map = self.shard(user).read().unwrap_or_else(|e| e.into_inner());
        let Some(list) = map.get(&user) else {
            return Vec::new();
        };
        list.iter()
            .map(|s| {
                s.outbox.hold();
                s.outbox.clone()
            })
            .collect()
    }

    /// [`Hub::hold`] for every user here.
    pub fn hold_all(&self) -> Vec<(u64, Vec<Arc<Outbox>>)> {
        self.users()
            .into_iter()
            .map(|u| (u, self.hold(u)))
            .filter(|(_, held)| !held.is_empty())
            .collect()
    }

    /// Closes every session of `user` here (they will log in again).
    pub fn close_sessions(&self, user: u64) {
        let map = self.shard(user).read().unwrap_or_else(|e| e.into_inner());
        for s in map.get(&user).into_iter().flatten() {
            s.outbox.close();
        }
    }

    /// The outboxes of every session (for shutdown).
    pub fn all_sessions(&self) -> Vec<SessionRef> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let map = shard.read().unwrap_or_else(|e| e.into_inner());
            out.extend(map.values().flatten().cloned());
        }
        out
    }

    /// The users with a session on this node.
    pub fn users(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let map = shard.read().unwrap_or_else(|e| e.into_inner());
            out.extend(map.keys().copied());
        }
        out
    }

    /// Logged-in sessions on this node.
    pub fn session_count(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }

    /// Distinct users with a session on this node.
    pub fn user_count(&self) -> usize {
        self.users.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn session(sid: u64) -> (SessionRef, crate::outbox::OutboxReceiver) {
        let (outbox, rx) = Outbox::new(1 << 20);
        (SessionRef { sid, outbox }, rx)
    }

    #[test]
    fn first_and_last_sessions() {
        let hub = Hub::new();
        let (a, _ra) = session(1);
        let (b, _rb) = session(2);
        assert!(hub.attach(7, a));
        assert!(!hub.attach(7, b));
        assert!(hub.is_online(7));
        assert_eq!((hub.session_count(), hub.user_count()), (2, 1));
        assert!(!hub.detach(7, 1));
        assert!(hub.detach(7, 2));
        assert!(!hub.detach(7, 2), "a second detach is not a transition");
        assert!(!hub.is_online(7));
        assert_eq!((hub.session_count(), hub.user_count()), (0, 0));
    }

    #[test]
    fn send_skips_the_origin() {
        let hub = Hub::new();
        let (a, _ra) = session(1);
        let (b, _rb) = session(2);
        hub.attach(7, a.clone());
        hub.attach(7, b.clone());
        let f = OutFrame {
            bytes: Bytes::from_static(b"x\n"),
            msg_id: None,
        };
        assert_eq!(hub.deliver(&[7], &f, Some(1)), 1);
        assert_eq!(a.outbox.queued_bytes(), 0);
        assert_eq!(b.outbox.queued_bytes(), 2);
        assert_eq!(hub.deliver(&[8], &f, None), 0);
        assert_eq!(hub.deliver(&[7, 8, 7], &f, None), 4);
    }
}
