//! Outgoing publications: a bounded queue that the chat path fills without
//! waiting, drained by one task in pipelines of up to [`PUBLISH_BATCH`].
//!
//! Publish/subscribe is at most once. When a pipeline fails (or the queue
//! overflows), the messages are stored already, but their recipients on
//! other nodes missed them: the publisher remembers whom, and the next
//! pipeline that goes out starts with a replay request for each (or one
//! for everyone, past [`FAILED_USERS_MAX`]), ahead of any newer frame, so
//! the recipients get the lost messages first and in order.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{RedisBus, bus_latency};
use crate::cluster::codec::{Body, Envelope};
use crate::ids::{first_id_at, now_ms};

/// Publications waiting for Redis; beyond this they are dropped (the
/// messages are stored and will be pushed again after the outage).
pub(super) const PUBLISH_QUEUE: usize = 65_536;
/// Publications sent in one pipeline.
const PUBLISH_BATCH: usize = 1024;
/// Users remembered as having missed publications; past this, everyone is
/// asked to replay.
const FAILED_USERS_MAX: usize = 10_000;
/// How far before the first lost publication the replay starts.
const REPLAY_MARGIN_MS: u64 = 5_000;

/// Who missed publications since when.
#[derive(Default)]
struct Missed {
    users: HashSet<u64>,
    /// Too many to list, or some were dropped unseen: everyone.
    everyone: bool,
    /// When the first loss happened (ms), 0 when nothing is missed.
    since_ms: u64,
}

impl Missed {
    fn note(&mut self, users: impl Iterator<Item = u64>) {
        if self.since_ms == 0 {
            self.since_ms = now_ms();
        }
        for u in users {
            if self.users.len() >= FAILED_USERS_MAX {
                self.everyone = true;
                self.users.clear();
                return;
            }
            if !self.everyone {
                self.users.insert(u);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.since_ms == 0
    }
}

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
            self.publish_dropped.store(true, Ordering::Release);
        }
    }

    /// Sends queued publications in pipelines until `stop`.
    pub(super) async fn publisher(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<Publication>,
        stop: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        let mut missed = Missed::default();
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
            if self.publish_dropped.swap(false, Ordering::AcqRel) {
                missed.note(std::iter::empty());
                missed.everyone = true;
            }
            let mut pipe = redis::pipe();
            if !missed.is_empty() {
                // Replays first: recipients get the lost messages before
                // anything newer.
                let since = first_id_at(missed.since_ms.saturating_sub(REPLAY_MARGIN_MS));
                let channels: Vec<String> = if missed.everyone {
                    vec![self.keys.invalidations()]
                } else {
                    missed
                        .users
                        .iter()
                        .map(|&u| self.keys.user_channel(u))
                        .collect()
                };
                let payload = Envelope {
                    origin: self.node,
                    body: Body::Replay(since),
                }
                .encode();
                for channel in channels {
                    pipe.publish(channel, &payload).ignore();
                }
            }
            let users: Vec<u64> = batch.iter().filter_map(|p| p.user).collect();
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
                // The messages are stored; their recipients will be asked
                // to replay them.
                missed.note(users.into_iter());
                self.outage_began(&e.to_string());
            } else {
                missed = Missed::default();
                bus_latency(started);
            }
        }
    }
}
