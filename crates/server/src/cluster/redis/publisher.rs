//! Outgoing publications: a bounded queue that the chat path fills without
//! waiting, drained by one task in pipelines of up to [`PUBLISH_BATCH`].
//! Publish/subscribe is at most once: when Redis fails, the messages are
//! stored already and the recovery pushes them again.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{RedisBus, bus_latency};
use crate::cluster::codec::{Body, Envelope};

/// Publications waiting for Redis; beyond this they are dropped (the
/// messages are stored and will be pushed again after the outage).
pub(super) const PUBLISH_QUEUE: usize = 65_536;
/// Publications sent in one pipeline.
const PUBLISH_BATCH: usize = 1024;

/// One queued publication: the channel's user (`None`: the invalidation
/// channel) and what to send.
pub(super) struct Publication {
    pub user: Option<u64>,
    pub body: Body,
}

impl RedisBus {
    pub(super) fn enqueue(&self, p: Publication) {
        if self.publish_tx.try_send(p).is_err() {
            crate::metrics::bus_dropped();
        }
    }

    /// Sends queued publications in pipelines until `stop`.
    pub(super) async fn publisher(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<Publication>,
        stop: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        loop {
            let first = tokio::select! {
                _ = stop.cancelled() => return,
                f = rx.recv() => match f { Some(f) => f, None => return },
            };
            batch.push(first);
            while batch.len() < PUBLISH_BATCH {
                match rx.try_recv() {
                    Ok(f) => batch.push(f),
                    Err(_) => break,
                }
            }
            let mut pipe = redis::pipe();
            for p in batch.drain(..) {
                let channel = match p.user {
                    Some(user) => self.keys.user_channel(user),
                    None => self.keys.invalidations(),
                };
                let payload = Envelope {
                    origin: self.node,
                    body: p.body,
                }
                .encode();
                pipe.publish(channel, payload).ignore();
            }
            let started = Instant::now();
            let mut conn = self.cmd.clone();
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                // The messages are stored; recovery pushes them again.
                self.outage_began(&e.to_string());
            } else {
                bus_latency(started);
            }
        }
    }
}
