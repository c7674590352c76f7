//! Routing of events to users, wherever their sessions are.
//!
//! Frames for users with sessions on this node go straight to the [`Hub`].
//! In a cluster, every frame is also published on Redis for the other
//! nodes, and presence is decided cluster-wide. Every frame is encoded once
//! and the same bytes are queued on each recipient session.

use std::sync::Arc;

use bytes::Bytes;
use chat_proto::Event;

use crate::cache::RelCache;
use crate::cluster::redis::RedisBus;
use crate::hub::{Hub, SessionRef};
use crate::outbox::OutFrame;
use crate::store::NewMsg;

/// Delivers events to users. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Router {
    hub: Arc<Hub>,
    bus: Option<Arc<RedisBus>>,
    cache: Arc<RelCache>,
}

impl Router {
    /// A single node: in-process routing only.
    pub fn local(hub: Arc<Hub>, cache: Arc<RelCache>) -> Router {
        Router {
            hub,
            bus: None,
            cache,
        }
    }

    /// A cluster node: local sessions plus the Redis bus.
    pub fn clustered(hub: Arc<Hub>, bus: Arc<RedisBus>, cache: Arc<RelCache>) -> Router {
        Router {
            hub,
            bus: Some(bus),
            cache,
        }
    }

    /// Friend and member lists, kept coherent across nodes.
    pub fn cache(&self) -> &RelCache {
        &self.cache
    }

    /// A friendship of `a` and `b` changed: forget it here and everywhere.
    pub fn friendship_changed(&self, a: u64, b: u64) {
        self.cache.friendship_changed(a, b);
        if let Some(bus) = &self.bus {
            bus.invalidate(crate::cluster::redis::Invalidation::Friendship(a, b));
        }
    }

    /// A group's membership changed: forget it here and everywhere.
    pub fn group_changed(&self, group: u64) {
        self.cache.group_changed(group);
        if let Some(bus) = &self.bus {
            bus.invalidate(crate::cluster::redis::Invalidation::Group(group));
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn bus(&self) -> Option<&Arc<RedisBus>> {
        self.bus.as_ref()
    }

    /// A stored message to each recipient's sessions, and to the sender's
    /// other sessions.
    pub fn deliver_msg(&self, msg: &NewMsg, recipients: &[u64], origin_sid: u64) {
        let bytes = Bytes::from(Event::Msg { msg: msg.to_wire() }.to_line());
        let frame = OutFrame {
            bytes,
            msg_id: Some(msg.id),
        };
        let mut n = 0;
        for &user in recipients {
            n += self.hub.send(user, &frame, None);
        }
        self.hub.send(msg.from, &frame, Some(origin_sid));
        if let Some(bus) = &self.bus {
            bus.publish(recipients, &frame.bytes);
            bus.publish(&[msg.from], &frame.bytes);
        }
        crate::metrics::message_stored();
        crate::metrics::delivered(n);
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
        for &user in users {
            self.hub.send(user, &frame, None);
        }
        if let Some(bus) = &self.bus {
            bus.publish(users, &frame.bytes);
        }
    }

    /// Whether each user has a session on any node. When Redis cannot be
    /// asked, this node's own sessions are the best answer there is.
    pub async fn online(&self, users: &[u64]) -> Vec<bool> {
        if let Some(bus) = &self.bus {
            match bus.online(users).await {
                Ok(v) => return v,
                Err(e) => {
                    tracing::warn!(error = %e, "presence lookup failed; using local sessions")
                }
            }
        }
        users.iter().map(|&u| self.hub.is_online(u)).collect()
    }

    /// Whether the user has a session on any node.
    pub async fn is_online(&self, user: u64) -> bool {
        self.online(&[user]).await.first().copied().unwrap_or(false)
    }

    /// Adds a session. Returns true when the user just came online (no
    /// other session anywhere).
    pub async fn attach(&self, user: u64, session: SessionRef) -> bool {
        if !self.hub.attach(user, session) {
            return false;
        }
        match &self.bus {
            None => true,
            Some(bus) => {
                let first = self.reconcile(bus, user).await;
                // Without Redis, telling friends the current state is the safe side.
                first != Some(false)
            }
        }
    }

    /// Removes a session. Returns true when the user just went offline (no
    /// session left anywhere).
    pub async fn detach(&self, user: u64, sid: u64) -> bool {
        if !self.hub.detach(user, sid) {
            return false;
        }
        match &self.bus {
            None => true,
            Some(bus) => {
                let last = self.reconcile(bus, user).await;
                last != Some(false)
            }
        }
    }

    /// Makes Redis agree with the hub about whether this node holds the
    /// user, even when a login and a logout of the same user race here.
    /// Returns whether the last change made was a cluster-wide transition
    /// (first node in, or last node out); `None` when Redis failed.
    async fn reconcile(&self, bus: &RedisBus, user: u64) -> Option<bool> {
        let mut transition = None;
        let mut registered = None;
        for _ in 0..4 {
            let here = self.hub.is_online(user);
            if registered == Some(here) {
                break;
            }
            let r = if here {
                bus.user_arrived(user).await
            } else {
                bus.user_left(user).await
            };
            match r {
                Ok(t) => {
                    transition = Some(t);
                    registered = Some(here);
                }
                Err(e) => {
                    tracing::warn!(user, error = %e, "presence not updated in redis");
                    return None;
                }
            }
        }
        transition
    }
}
