//! Outgoing publications: a bounded queue that the chat path fills without
//! waiting, drained by one task in batches of up to [`PUBLISH_BATCH`], one
//! pipeline per key group (on a cluster a pipeline stays within a slot;
//! a user's frames are all in the group of the user's channel, so they
//! keep their order).
//!
//! Publish/subscribe is at most once. When a pipeline fails (or the queue
//! overflows), the messages are stored already, but their recipients on
//! other nodes missed them: the publisher remembers whom, and the next
//! pipeline that goes out starts with a replay request for each (or one
//! for everyone, past [`FAILED_USERS_MAX`]), ahead of any newer frame, so
//! the recipients get the lost messages first and in order. On a cluster
//! only the groups whose pipeline failed (a shard down) count as lost.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::conn::Grouped;
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
            let mut pipes = Grouped::new();
            let publish = self.cmd().publish_cmd();
            if !missed.is_empty() {
                // Replays first: recipients get the lost messages before
                // anything newer.
                let since = first_id_at(missed.since_ms.saturating_sub(REPLAY_MARGIN_MS));
                let payload = Envelope {
                    origin: self.node,
                    body: Body::Replay(since),
                }
                .encode();
                if missed.everyone {
                    pipes
                        .pipe(self.keys.meta_group())
                        .cmd(publish)
                        .arg(self.keys.invalidations())
                        .arg(&payload);
                } else {
                    for &u in &missed.users {
                        pipes
                            .pipe(self.keys.group(u))
                            .cmd(publish)
                            .arg(self.keys.user_channel(u))
                            .arg(&payload);
                    }
                }
            }
            let users: Vec<u64> = batch.iter().filter_map(|p| p.user).collect();
            let for_everyone = batch.iter().any(|p| p.user.is_none());
            for p in batch.drain(..) {
                let (group, channel) = match p.user {
                    Some(user) => (self.keys.group(user), self.keys.user_channel(user)),
                    None => (self.keys.meta_group(), self.keys.invalidations()),
                };
                let payload = Envelope {
                    origin: self.node,
                    body: p.body,
                }
                .encode();
                pipes.pipe(group).cmd(publish).arg(channel).arg(payload);
            }
            let started = Instant::now();
            let previous = std::mem::take(&mut missed);
            if let Err((failed, e)) = pipes.run(&self.cmd()).await {
                // The messages are stored; their recipients will be asked
                // to replay them. Groups whose pipeline went out (other
                // shards of a cluster) are done, their replays included.
                let meta_failed = failed.contains(&self.keys.meta_group());
                missed.since_ms = previous.since_ms;
                missed.everyone = meta_failed && (previous.everyone || for_everyone);
                missed.note(
                    previous
                        .users
                        .iter()
                        .copied()
                        .chain(users)
                        .filter(|&u| failed.contains(&self.keys.group(u))),
                );
                self.outage_began(&e.to_string());
            } else {
                bus_latency(started);
            }
        }
    }
}
