//! The inbox replay: a user's unacked messages pushed again, oldest first,
//! a page at a time. One loop serves both cases:
//! - after a login, into the new session's outbox, paced by how fast the
//!   client reads ([`to_session`]);
//! - after a bus outage, to every session of every user on this node,
//!   since publications may have been lost meanwhile ([`after_outage`]).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use chat_proto::{Event, Msg};

use crate::node::Node;
use crate::outbox::{OutFrame, Outbox};

/// Messages read from the store at a time.
const PAGE: u32 = 256;

/// Where replayed messages go.
pub trait Sink: Send {
    /// One message, in id order.
    fn push(&mut self, msg: Msg);
    /// Called after each page; false stops the replay.
    fn page_done(&mut self) -> impl Future<Output = bool> + Send;
}

/// Replays `user`'s unacked messages with `after < id <= upto` into
/// `sink`. Returns how many were pushed. A store error ends the walk
/// early: what was not replayed stays in the inbox for the next login.
pub async fn run(node: &Node, user: u64, after: u64, upto: u64, sink: &mut impl Sink) -> usize {
    let mut after = after;
    let mut n = 0;
    while after < upto {
        let page = match node.store.inbox_page(user, after, upto, PAGE).await {
            Ok(p) if p.is_empty() => break,
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(user, error = %e, "inbox replay cut short");
                break;
            }
        };
        after = page.last().map_or(upto, |m| m.id);
        n += page.len();
        for msg in page {
            sink.push(msg);
        }
        if !sink.page_done().await {
            break;
        }
    }
    n
}

fn msg_frame(msg: Msg) -> OutFrame {
    let id = msg.id;
    OutFrame {
        bytes: Bytes::from(Event::Msg { msg }.to_line()),
        msg_id: Some(id),
    }
}

/// A login's replay into its own session.
struct SessionSink<'a> {
    outbox: &'a Arc<Outbox>,
    sent: HashSet<u64>,
    /// Bytes queued past which the replay waits for the client to read.
    pace: usize,
    /// How long a client may take to read before it is dropped.
    idle: std::time::Duration,
    user: u64,
}

impl Sink for SessionSink<'_> {
    fn push(&mut self, msg: Msg) {
        self.sent.insert(msg.id);
        self.outbox.push(msg_frame(msg).bytes);
    }

    async fn page_done(&mut self) -> bool {
        // A client that stops reading mid-replay is dropped after the
        // idle timeout, like any silent client.
        if tokio::time::timeout(self.idle, self.outbox.wait_below(self.pace))
            .await
            .is_err()
        {
            tracing::info!(user = self.user, "client stopped reading during the replay");
            self.outbox.close();
        }
        !self.outbox.is_closed()
    }
}

/// Pushes the inbox up to `upto` into a session's outbox, paced by how
/// fast the client reads. Returns the ids sent, so the live events held
/// meanwhile can skip them.
pub async fn to_session(node: &Node, outbox: &Arc<Outbox>, user: u64, upto: u64) -> HashSet<u64> {
    let mut sink = SessionSink {
        outbox,
        sent: HashSet::new(),
        pace: node.config.outbox_bytes / 2,
        idle: node.config.idle_timeout(),
        user,
    };
    run(node, user, 0, upto, &mut sink).await;
    sink.sent
}

/// A replay to every session of a user on this node.
struct HubSink<'a> {
    node: &'a Node,
    user: u64,
}

impl Sink for HubSink<'_> {
    fn push(&mut self, msg: Msg) {
        self.node
            .router
            .hub()
            .deliver(&[self.user], &msg_frame(msg), None);
    }

    async fn page_done(&mut self) -> bool {
        true
    }
}

/// After a bus outage: every local user gets again the unacked messages
/// with ids above `floor` (clients drop the duplicates by id).
pub async fn after_outage(node: &Node, floor: u64) {
    let mut pushed = 0usize;
    for user in node.router.hub().users() {
        let mut sink = HubSink { node, user };
        pushed += run(node, user, floor, crate::ids::MAX_ID, &mut sink).await;
    }
    tracing::info!(
        messages = pushed,
        "pushed messages that may have been missed during the outage"
    );
}
