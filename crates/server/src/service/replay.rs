//! The inbox replay: a user's unacked messages pushed again, oldest first,
//! a page at a time. One loop serves every case:
//! - after a login, into the new session's outbox, paced by how fast the
//!   client reads ([`to_session`]);
//! - after this node's bus outage, to every session of every user on this
//!   node, since publications may have been lost meanwhile; the frames the
//!   bus held during the outage follow ([`after_outage`]);
//! - when another node lost publications (it could not publish, or it
//!   died), to the sessions it names, whose live events are held until
//!   the replay is done ([`lost`]).
//!
//! In every case the replayed messages go out before anything newer, so
//! one sender's messages reach a recipient in order (after dropping
//! duplicates by id, as clients do).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chat_proto::{Event, Msg};

use crate::node::Node;
use crate::outbox::{OutFrame, Outbox};
use crate::store::StoreError;

/// Messages read from the store at a time.
const PAGE: u32 = 256;
/// Users replayed at once after another node lost publications.
const LOST_REPLAYS_AT_ONCE: usize = 16;

/// Where replayed messages go.
pub trait Sink: Send {
    /// One message, in id order.
    fn push(&mut self, msg: Msg);
    /// Called after each page; false stops the replay.
    fn page_done(&mut self) -> impl Future<Output = bool> + Send;
}

/// How long a replay keeps asking a database that fails before it gives
/// up (and the sessions it was for are ended, to log in again).
const REPLAY_PATIENCE: Duration = Duration::from_secs(30);

/// A page of the inbox, asked again while the database fails, for at most
/// [`REPLAY_PATIENCE`].
async fn page(node: &Node, user: u64, after: u64, upto: u64) -> Result<Vec<Msg>, StoreError> {
    let deadline = tokio::time::Instant::now() + REPLAY_PATIENCE;
    let mut pause = Duration::from_millis(50);
    loop {
        match node.store.inbox_page(user, after, upto, PAGE).await {
            Ok(p) => return Ok(p),
            Err(e) if tokio::time::Instant::now() + pause > deadline => return Err(e),
            Err(e) => {
                tracing::warn!(user, error = %e, "inbox replay waits for the database");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Replays `user`'s unacked messages with `after < id <= upto` into
/// `sink`. Returns how many were pushed, or the error that stopped it:
/// then the caller must not let newer events through as if the replay
/// were complete (it ends the sessions instead, which log in again and
/// get the rest in order).
pub async fn run(
    node: &Node,
    user: u64,
    after: u64,
    upto: u64,
    sink: &mut impl Sink,
) -> Result<usize, StoreError> {
    let mut after = after;
    let mut n = 0;
    while after < upto {
        let page = match page(node, user, after, upto).await {
            Ok(p) if p.is_empty() => break,
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(user, error = %e, "inbox replay failed; ending the user's sessions here");
                return Err(e);
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
    Ok(n)
}

fn msg_frame(msg: Msg) -> OutFrame {
    let id = msg.id;
    OutFrame {
        bytes: Bytes::from(Event::Msg { msg }.to_line()),
        msg_id: Some(id),
    }
}

/// A replay into sessions' outboxes.
struct SessionSink<'a> {
    outboxes: &'a [Arc<Outbox>],
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
        let bytes = msg_frame(msg).bytes;
        for outbox in self.outboxes {
            outbox.push(bytes.clone());
        }
    }

    async fn page_done(&mut self) -> bool {
        // A client that stops reading mid-replay is dropped after the
        // idle timeout, like any silent client.
        for outbox in self.outboxes {
            if tokio::time::timeout(self.idle, outbox.wait_below(self.pace))
                .await
                .is_err()
            {
                tracing::info!(user = self.user, "client stopped reading during the replay");
                outbox.close();
            }
        }
        self.outboxes.iter().any(|o| !o.is_closed())
    }
}

/// Pushes the inbox (ids from `after` to `upto`) into sessions' outboxes,
/// paced by how fast the slowest client reads. Returns the ids sent, so
/// the live events held meanwhile can skip them.
async fn to_outboxes(
    node: &Node,
    outboxes: &[Arc<Outbox>],
    user: u64,
    after: u64,
    upto: u64,
) -> HashSet<u64> {
    let mut sink = SessionSink {
        outboxes,
        sent: HashSet::new(),
        pace: node.config.outbox_bytes / 2,
        idle: node.config.idle_timeout(),
        user,
    };
    if run(node, user, after, upto, &mut sink).await.is_err() {
        for outbox in outboxes {
            outbox.close();
        }
    }
    sink.sent
}

/// A login's replay: the inbox up to `upto` into the new session.
pub async fn to_session(node: &Node, outbox: &Arc<Outbox>, user: u64, upto: u64) -> HashSet<u64> {
    to_outboxes(node, std::slice::from_ref(outbox), user, 0, upto).await
}

/// Another node lost publications: each listed user's held sessions get
/// the unacked messages from `since` on, then their held events.
pub async fn lost(node: &Node, held: Vec<(u64, Vec<Arc<Outbox>>)>, since: u64) {
    use futures::StreamExt;
    let after = since.saturating_sub(1);
    let n = std::sync::atomic::AtomicUsize::new(0);
    // A few users at a time: each one's live events wait for its replay.
    futures::stream::iter(held)
        .for_each_concurrent(LOST_REPLAYS_AT_ONCE, |(user, outboxes)| {
            let n = &n;
            async move {
                let sent = to_outboxes(node, &outboxes, user, after, crate::ids::MAX_ID).await;
                n.fetch_add(sent.len(), std::sync::atomic::Ordering::Relaxed);
                for outbox in &outboxes {
                    outbox.release(&sent);
                }
            }
        })
        .await;
    tracing::info!(
        messages = n.into_inner(),
        "replayed messages another node could not deliver"
    );
}

/// A replay to every session of a user on this node.
struct HubSink<'a> {
    node: &'a Node,
    user: u64,
    sent: HashSet<u64>,
}

impl Sink for HubSink<'_> {
    fn push(&mut self, msg: Msg) {
        self.sent.insert(msg.id);
        self.node
            .router
            .hub()
            .deliver(&[self.user], &msg_frame(msg), None);
    }

    async fn page_done(&mut self) -> bool {
        true
    }
}

/// After this node's bus outage: every local user gets again the unacked
/// messages with ids above `floor` (clients drop the duplicates by id),
/// then the frames the bus held meanwhile, but those messages.
pub async fn after_outage(node: &Node, floor: u64) {
    let mut replayed = HashMap::new();
    let mut pushed = 0usize;
    for user in node.router.hub().users() {
        let mut sink = HubSink {
            node,
            user,
            sent: HashSet::new(),
        };
        match run(node, user, floor, crate::ids::MAX_ID, &mut sink).await {
            Ok(n) => pushed += n,
            // Held frames must not overtake what could not be replayed:
            // the user's sessions here end and log in again.
            Err(_) => node.router.hub().close_sessions(user),
        }
        replayed.insert(user, sink.sent);
    }
    node.router.bus().resume(&replayed);
    tracing::info!(
        messages = pushed,
        "pushed messages that may have been missed during the outage"
    );
}
