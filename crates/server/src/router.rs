//! Routing of events to users, wherever their sessions are.
//!
//! Frames for users with sessions on this node go straight to the [`Hub`];
//! the [`Bus`] carries them to the other nodes (a single node's bus carries
//! nothing) and decides presence cluster-wide. Every frame is encoded once
//! and the same bytes are queued on each recipient session.

use std::sync::Arc;

use bytes::Bytes;
use chat_proto::{EndReason, Event};

use crate::cache::RelCache;
use crate::cluster::{Bus, Invalidation};
use crate::hub::{Hub, SessionRef};
use crate::outbox::OutFrame;
use crate::store::NewMsg;

/// Delivers events to users. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Router {
    hub: Arc<Hub>,
    bus: Arc<dyn Bus>,
    cache: Arc<RelCache>,
}

impl Router {
    pub fn new(hub: Arc<Hub>, bus: Arc<dyn Bus>, cache: Arc<RelCache>) -> Router {
        Router { hub, bus, cache }
    }

    /// Friend and member lists, kept coherent across nodes.
    pub fn cache(&self) -> &RelCache {
        &self.cache
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn bus(&self) -> &dyn Bus {
        &*self.bus
    }

    /// A friendship of `a` and `b` changed: forget it here and, before
    /// this returns, everywhere.
    pub async fn friendship_changed(&self, a: u64, b: u64) {
        self.cache.friendship_changed(a, b);
        self.bus.invalidate(Invalidation::Friendship(a, b)).await;
    }

    /// A group's members or roles changed: forget them here and, before
    /// this returns, everywhere.
    pub async fn group_changed(&self, group: u64) {
        self.cache.group_changed(group);
        self.bus.invalidate(Invalidation::Group(group)).await;
    }

    /// Ends every session of `user`, on every node, but `except` (a sid
    /// of this node): each gets `session_ended`, then its connection
    /// closes.
    pub fn end_sessions(&self, user: u64, except: Option<u64>, reason: EndReason) {
        let frame = OutFrame {
            bytes: Bytes::from(Event::SessionEnded { reason }.to_line()),
            msg_id: None,
        };
        self.hub.end_sessions(user, except, &frame);
        self.bus.end_sessions(user, &frame.bytes);
    }

    /// A stored message to each recipient's sessions, and to the sender's
    /// other sessions.
    pub fn deliver_msg(&self, msg: &NewMsg, recipients: &[u64], origin_sid: u64) {
        self.redeliver_msg(msg, recipients, origin_sid);
        crate::metrics::message_stored();
    }

    /// A stored message again (a `cid` retry), as [`Router::deliver_msg`]
    /// but not counted as stored.
    pub fn redeliver_msg(&self, msg: &NewMsg, recipients: &[u64], origin_sid: u64) {
        let frame = OutFrame {
            bytes: Bytes::from(Event::Msg { msg: msg.to_wire() }.to_line()),
            msg_id: Some(msg.id),
        };
        self.deliver_here(recipients, &frame, None);
        self.deliver_here(&[msg.from], &frame, Some(origin_sid));
        self.bus.publish(recipients, &frame);
        self.bus.publish(&[msg.from], &frame);
    }

    /// Queues a frame on this node's sessions of `users` but `except`,
    /// behind whatever the bus holds during an outage (so it does not
    /// overtake older messages the replay will bring).
    fn deliver_here(&self, users: &[u64], frame: &OutFrame, except: Option<u64>) {
        if !self.bus.hold_local(users, frame, except) {
            self.hub.deliver(users, frame, except);
        }
    }

    /// An event to every session of each user.
    pub fn send(&self, users: &[u64], event: &Event) {
        if users.is_empty() {
            return;
        }
        let frame = OutFrame {
            bytes: Bytes::from(event.to_line()),
            msg_id: None,
        };
        self.deliver_here(users, &frame, None);
        self.bus.publish(users, &frame);
    }

    /// An event to every session of each user but the session `except` (a
    /// sid of this node: the one whose request caused it).
    pub fn send_except(&self, users: &[u64], event: &Event, except: u64) {
        let frame = OutFrame {
            bytes: Bytes::from(event.to_line()),
            msg_id: None,
        };
        self.deliver_here(users, &frame, Some(except));
        self.bus.publish(users, &frame);
    }

    /// Whether each user has a session on any node. When the bus cannot be
    /// asked, this node's own sessions are the best answer there is.
    pub async fn online(&self, users: &[u64]) -> Vec<bool> {
        match self.bus.online(users).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "presence lookup failed; using local sessions");
                users.iter().map(|&u| self.hub.is_online(u)).collect()
            }
        }
    }

    /// Whether the user has a session on any node.
    pub async fn is_online(&self, user: u64) -> bool {
        self.online(&[user]).await.first().copied().unwrap_or(false)
    }

    /// Adds a session. Returns true when the user just came online (no
    /// other session anywhere).
    pub async fn attach(&self, user: u64, session: SessionRef) -> bool {
        self.hub.attach(user, session) && self.reconcile(user).await
    }

    /// Removes a session. Returns true when the user just went offline (no
    /// session left anywhere).
    pub async fn detach(&self, user: u64, sid: u64) -> bool {
        self.hub.detach(user, sid) && self.reconcile(user).await
    }

    /// Makes the bus agree with the hub about whether this node holds the
    /// user, even when a login and a logout of the same user race here.
    /// Returns whether the last change made was a cluster-wide transition
    /// (first node in, or last node out). When the bus fails, telling
    /// friends the current state is the safe side: true.
    async fn reconcile(&self, user: u64) -> bool {
        let mut transition = true;
        let mut registered = None;
        for _ in 0..4 {
            let here = self.hub.is_online(user);
            if registered == Some(here) {
                break;
            }
            let r = if here {
                self.bus.user_arrived(user).await
            } else {
                self.bus.user_left(user).await
            };
            match r {
                Ok(t) => {
                    transition = t;
                    registered = Some(here);
                }
                Err(e) => {
                    tracing::warn!(user, error = %e, "presence not updated on the bus");
                    return true;
                }
            }
        }
        transition
    }
}
