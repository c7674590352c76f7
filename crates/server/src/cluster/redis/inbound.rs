//! Incoming publications: frames for users held here go to the hub by the
//! same call the router uses for local frames; invalidations from other
//! nodes go to the relation cache; session ends and replay requests are
//! acted on. A connection loss reported by the client starts the outage
//! handling; on a cluster, a channel the server unsubscribed us from (its
//! slot moved) goes to [`super::resubscribe`].
//!
//! Order across an outage: from the moment this node sees its connection
//! drop until the replay after the outage is done, frames from other nodes
//! are held here (not delivered): otherwise a message published once
//! Redis is back would reach a user before the older ones the replay
//! brings. When the replay is done, [`RedisBus::resume_inbound`] lets the
//! held frames through, minus the messages the replay carried.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::RedisBus;
use crate::cluster::ClusterEvent;
use crate::cluster::codec::{Body, Envelope, Invalidation};
use crate::outbox::OutFrame;

/// Frames held during an outage, at most; past this they are dropped (the
/// messages among them are in the replay).
const HELD_MAX: usize = 200_000;

/// What arrived for a user while the inbound side was held.
pub(super) enum HeldItem {
    Frame(u64, OutFrame),
    /// A frame this node made, for these users' sessions but `except`.
    Local(Vec<u64>, OutFrame, Option<u64>),
    /// A replay request for one user (`Some`) or everyone.
    Replay(Option<u64>, u64),
}

impl RedisBus {
    /// Handles what Redis pushes until `stop`.
    pub(super) async fn receive(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<PushInfo>,
        stop: CancellationToken,
    ) {
        loop {
            let push = tokio::select! {
                _ = stop.cancelled() => return,
                p = rx.recv() => match p { Some(p) => p, None => return },
            };
            match push.kind {
                PushKind::Message | PushKind::SMessage => {
                    let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                        (push.data.first(), push.data.get(1))
                    else {
                        continue;
                    };
                    self.on_message(channel, payload);
                }
                PushKind::SUnsubscribe => {
                    if let Some(Value::BulkString(channel)) = push.data.first() {
                        self.unsubscribed(channel);
                    }
                }
                PushKind::Disconnection => self.outage_began("disconnected"),
                _ => {}
            }
        }
    }

    fn on_message(&self, channel: &[u8], payload: &[u8]) {
        let Some(envelope) = Envelope::decode(payload) else {
            crate::metrics::bus_unreadable();
            return;
        };
        // This node delivered its own frames already.
        if envelope.origin == self.node {
            return;
        }
        match (self.keys.channel_user(channel), envelope.body) {
            (Some(user), Body::Frame(frame)) => {
                crate::metrics::bus_received();
                self.deliver_or_hold(HeldItem::Frame(user, frame));
            }
            (Some(user), Body::EndSessions(bytes)) => self.end_here(user, bytes),
            (user, Body::Replay(since)) => self.deliver_or_hold(HeldItem::Replay(user, since)),
            (None, Body::Invalidate(what)) => match what {
                Invalidation::Friendship(a, b) => self.cache.friendship_changed(a, b),
                Invalidation::Group(g) => self.cache.group_changed(g),
            },
            _ => crate::metrics::bus_unreadable(),
        }
    }

    fn end_here(&self, user: u64, bytes: Bytes) {
        let frame = OutFrame {
            bytes,
            msg_id: None,
        };
        self.hub.end_sessions(user, None, &frame);
    }

    fn deliver_or_hold(&self, item: HeldItem) {
        let mut held = self.inbound_held.lock().unwrap_or_else(|e| e.into_inner());
        match held.as_mut() {
            Some(items) if items.len() < HELD_MAX => items.push(item),
            Some(_) => crate::metrics::bus_dropped(),
            None => self.act(item),
        }
    }

    /// Delivers a frame, or starts a replay: its users' live events are
    /// held from now on, so what follows waits for the replay.
    fn act(&self, item: HeldItem) {
        match item {
            HeldItem::Frame(user, frame) => {
                self.hub.deliver(&[user], &frame, None);
            }
            HeldItem::Local(users, frame, except) => {
                self.hub.deliver(&users, &frame, except);
            }
            HeldItem::Replay(user, since) => {
                let held = match user {
                    Some(u) => vec![(u, self.hub.hold(u))],
                    None => self.hub.hold_all(),
                };
                let _ = self.events.send(ClusterEvent::Replay { held, since });
            }
        }
    }

    /// Holds frames from other nodes from now until [`Self::resume_inbound`].
    pub(super) fn hold_inbound(&self) {
        let mut held = self.inbound_held.lock().unwrap_or_else(|e| e.into_inner());
        held.get_or_insert_with(Vec::new);
    }

    /// Holds a frame of this node's behind the held ones; false when
    /// nothing is held (deliver it now).
    pub(super) fn hold_if_held(
        &self,
        users: &[u64],
        frame: &OutFrame,
        except: Option<u64>,
    ) -> bool {
        let mut held = self.inbound_held.lock().unwrap_or_else(|e| e.into_inner());
        match held.as_mut() {
            Some(items) if items.len() < HELD_MAX => {
                items.push(HeldItem::Local(users.to_vec(), frame.clone(), except));
                true
            }
            // Past the bound the frame goes now: its message is stored
            // and the replay covers the user.
            Some(_) | None => false,
        }
    }

    /// Lets the held frames through, but the messages `replayed` carried.
    pub(super) fn resume_inbound(&self, replayed: &HashMap<u64, HashSet<u64>>) {
        let was_replayed = |user: &u64, frame: &OutFrame| {
            frame
                .msg_id
                .is_some_and(|id| replayed.get(user).is_some_and(|ids| ids.contains(&id)))
        };
        let mut held = self.inbound_held.lock().unwrap_or_else(|e| e.into_inner());
        for item in held.take().unwrap_or_default() {
            match item {
                HeldItem::Frame(user, frame) if was_replayed(&user, &frame) => {}
                HeldItem::Local(users, frame, except) => {
                    let users: Vec<u64> = users
                        .into_iter()
                        .filter(|u| !was_replayed(u, &frame))
                        .collect();
                    self.act(HeldItem::Local(users, frame, except));
                }
                item => self.act(item),
            }
        }
    }
}
