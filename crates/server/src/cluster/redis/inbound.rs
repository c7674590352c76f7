//! Incoming publications: frames for users held here go to the hub by the
//! same call the router uses for local frames; invalidations from other
//! nodes go to the relation cache. A connection loss reported by the
//! client starts the outage handling.

use std::sync::Arc;

use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::RedisBus;
use crate::cluster::codec::{Body, Envelope, Invalidation};
use crate::outbox::OutFrame;

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
                PushKind::Message => {
                    let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                        (push.data.first(), push.data.get(1))
                    else {
                        continue;
                    };
                    self.on_message(channel, payload);
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
                self.hub.deliver(&[user], &frame, None);
            }
            (Some(user), Body::EndSessions(bytes)) => {
                let frame = OutFrame {
                    bytes,
                    msg_id: None,
                };
                self.hub.end_sessions(user, None, &frame);
            }
            (None, Body::Invalidate(what)) => match what {
                Invalidation::Friendship(a, b) => self.cache.friendship_changed(a, b),
                Invalidation::Group(g) => self.cache.group_changed(g),
            },
            _ => crate::metrics::bus_unreadable(),
        }
    }
}
