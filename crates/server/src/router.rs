//! Routing of events to users, wherever their sessions are.
//!
//! On a single node this is the [`Hub`] itself. Every frame is encoded
//! once and the same bytes are queued on each recipient session.

use std::sync::Arc;

use bytes::Bytes;
use chat_proto::Event;

use crate::hub::Hub;
use crate::outbox::OutFrame;
use crate::store::NewMsg;

/// Delivers events to users. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Router {
    hub: Arc<Hub>,
}

impl Router {
    pub fn local(hub: Arc<Hub>) -> Router {
        Router { hub }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// A stored message to each recipient's sessions, and to the sender's
    /// other sessions.
    pub fn deliver_msg(&self, msg: &NewMsg, recipients: &[u64], origin_sid: u64) {
        let frame = OutFrame {
            bytes: Bytes::from(Event::Msg { msg: msg.to_wire() }.to_line()),
            msg_id: Some(msg.id),
        };
        let mut n = 0;
        for &user in recipients {
            n += self.hub.send(user, &frame, None);
        }
        self.hub.send(msg.from, &frame, Some(origin_sid));
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
    }

    /// Whether the user has a session anywhere.
    pub fn is_online(&self, user: u64) -> bool {
        self.hub.is_online(user)
    }
}
