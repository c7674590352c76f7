//! Subscriptions a Redis Cluster dropped. When a slot moves to another
//! primary, the old one sends its subscribers `sunsubscribe` for the slot's
//! channels and the client forgets them for good; when a primary fails
//! over, the client does not subscribe again on the replica that takes its
//! place. Either way publications on those channels stop reaching this
//! node, silently.
//!
//! The bus notices both: the `sunsubscribe` push for a channel it still
//! needs ([`RedisBus::unsubscribed`]), and, every heartbeat, a change of
//! the primary serving a key group ([`RedisBus::watch_topology`]), in case
//! a push never came. Then, for the users concerned: their live events are
//! held, their channels subscribed again (the client follows the
//! redirection to the slot's new owner), their presence registered again
//! (a failover can lose the last writes to the old primary), and the
//! server replays their unacked messages from [`MARGIN_MS`] before the gap
//! was noticed ([`ClusterEvent::Replay`], as when another node lost
//! publications), the held events following, minus the replayed ones. A
//! lost invalidation channel also drops the relation cache and replays to
//! everyone here (replay requests for everyone travel on it).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::RedisBus;
use crate::cluster::{BusError, ClusterEvent};
use crate::ids::{first_id_at, now_ms};

/// How far before a gap was noticed the replay starts. Generous: while a
/// slot migrates, publications may already go to the new owner, where no
/// one subscribed yet, for as long as the migration of its keys lasts.
const MARGIN_MS: u64 = 30_000;
/// Tries to subscribe again before handing over to the outage handling.
const ATTEMPTS: u32 = 5;
/// How long lost channels are gathered before acting (a migration drops a
/// slot's channels with one push each).
const GATHER: Duration = Duration::from_millis(20);

/// What was lost.
#[derive(Debug)]
pub(super) enum Lost {
    /// The server unsubscribed us from this channel.
    Channel(Vec<u8>),
    /// These key groups are now served by another primary.
    Groups(Vec<usize>),
}

impl RedisBus {
    /// A `sunsubscribe` push: ours (a user's last session left) or the
    /// server's (the channel's slot moved). A channel still needed here
    /// is taken again.
    pub(super) fn unsubscribed(&self, channel: &[u8]) {
        let needed = match self.keys.channel_user(channel) {
            Some(user) => self.hub.is_online(user),
            None => channel == self.keys.invalidations().as_bytes(),
        };
        if needed {
            let _ = self.lost_tx.send(Lost::Channel(channel.to_vec()));
        }
    }

    /// Takes lost subscriptions again until `stop`, one gathering at a time.
    pub(super) async fn resubscriber(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<Lost>,
        stop: CancellationToken,
    ) {
        loop {
            let first = tokio::select! {
                _ = stop.cancelled() => return,
                l = rx.recv() => match l { Some(l) => l, None => return },
            };
            let noticed = now_ms();
            tokio::time::sleep(GATHER).await;
            let mut lost = vec![first];
            while let Ok(l) = rx.try_recv() {
                lost.push(l);
            }
            let mut users = BTreeSet::new();
            let mut invalidations = false;
            for l in lost {
                match l {
                    Lost::Channel(channel) => match self.keys.channel_user(&channel) {
                        Some(user) => {
                            users.insert(user);
                        }
                        None => invalidations = true,
                    },
                    Lost::Groups(groups) => {
                        invalidations |= groups.contains(&self.keys.meta_group());
                        users.extend(
                            self.hub
                                .users()
                                .into_iter()
                                .filter(|&u| groups.contains(&self.keys.group(u))),
                        );
                    }
                }
            }
            self.repair(users.into_iter().collect(), invalidations, noticed)
                .await;
        }
    }

    /// Holds, subscribes again, registers again, and has the gap replayed.
    async fn repair(&self, users: Vec<u64>, invalidations: bool, noticed_ms: u64) {
        let since = first_id_at(noticed_ms.saturating_sub(MARGIN_MS));
        let held: Vec<_> = if invalidations {
            self.hub.hold_all()
        } else {
            users
                .iter()
                .map(|&u| (u, self.hub.hold(u)))
                .filter(|(_, held)| !held.is_empty())
                .collect()
        };
        tracing::info!(
            users = users.len(),
            invalidations,
            "redis cluster dropped subscriptions (slot moved or failover); subscribing again"
        );
        let mut wait = Duration::from_millis(200);
        let mut done = false;
        for attempt in 1..=ATTEMPTS {
            match self.retake(&users, invalidations).await {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "subscribing again failed");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
        if !done {
            // The outage handling subscribes everything again and replays
            // to every session here once Redis answers.
            self.outage_began("could not subscribe again after a cluster change");
        }
        if invalidations {
            // Invalidations may have been lost meanwhile.
            self.cache.clear();
        }
        if !held.is_empty() {
            let _ = self.events.send(ClusterEvent::Replay { held, since });
        }
    }

    async fn retake(&self, users: &[u64], invalidations: bool) -> Result<(), BusError> {
        let users: Vec<u64> = users
            .iter()
            .copied()
            .filter(|&u| self.hub.is_online(u))
            .collect();
        if invalidations {
            let mut sub = self.sub();
            sub.subscribe(&[self.keys.invalidations()]).await?;
        }
        self.subscribe_users(&users).await?;
        self.register(&users).await
    }

    /// Notes which primary serves each key group; with `report`, reports
    /// the groups whose primary changed since the last look (a migration
    /// or a failover).
    pub(super) async fn watch_topology(&self, report: bool) {
        let mut conn = self.cmd();
        let slots: Value = match redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "CLUSTER SLOTS failed");
                return;
            }
        };
        let ranges = parse_slots(&slots);
        let changed: Vec<usize> = {
            let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
            let first_look = owners.is_empty();
            let groups = self.keys.group_slots();
            owners.resize(groups.len(), String::new());
            let mut changed = Vec::new();
            for (group, slot) in groups.into_iter().enumerate() {
                // A slot no one serves (a primary failing) is not a change
                // yet: its new owner will be.
                let Some(now) = owner_of(&ranges, slot) else {
                    continue;
                };
                if owners[group] != now {
                    if report && !first_look && !owners[group].is_empty() {
                        changed.push(group);
                    }
                    owners[group] = now.to_owned();
                }
            }
            changed
        };
        if !changed.is_empty() {
            tracing::info!(groups = changed.len(), "redis cluster slots changed hands");
            let _ = self.lost_tx.send(Lost::Groups(changed));
        }
    }
}

/// Slot ranges and their primary (`host:port`), from `CLUSTER SLOTS`.
fn parse_slots(v: &Value) -> Vec<(u16, u16, String)> {
    let Value::Array(ranges) = v else {
        return Vec::new();
    };
    ranges
        .iter()
        .filter_map(|r| {
            let Value::Array(items) = r else {
                return None;
            };
            let (Some(Value::Int(lo)), Some(Value::Int(hi)), Some(Value::Array(primary))) =
                (items.first(), items.get(1), items.get(2))
            else {
                return None;
            };
            let host = match primary.first()? {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                Value::SimpleString(s) => s.clone(),
                _ => return None,
            };
            let Some(Value::Int(port)) = primary.get(1) else {
                return None;
            };
            Some((
                u16::try_from(*lo).ok()?,
                u16::try_from(*hi).ok()?,
                format!("{host}:{port}"),
            ))
        })
        .collect()
}

fn owner_of(ranges: &[(u16, u16, String)], slot: u16) -> Option<&str> {
    ranges
        .iter()
        .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
        .map(|(_, _, owner)| owner.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(lo: i64, hi: i64, port: i64) -> Value {
        Value::Array(vec![
            Value::Int(lo),
            Value::Int(hi),
            Value::Array(vec![
                Value::BulkString(b"127.0.0.1".to_vec()),
                Value::Int(port),
                Value::BulkString(b"abc".to_vec()),
            ]),
            Value::Array(vec![
                Value::BulkString(b"127.0.0.1".to_vec()),
                Value::Int(port + 3),
            ]),
        ])
    }

    #[test]
    fn cluster_slots_are_read() {
        let v = Value::Array(vec![range(0, 5460, 7000), range(5461, 16383, 7001)]);
        let ranges = parse_slots(&v);
        assert_eq!(owner_of(&ranges, 0), Some("127.0.0.1:7000"));
        assert_eq!(owner_of(&ranges, 5461), Some("127.0.0.1:7001"));
        assert_eq!(owner_of(&ranges, 16383), Some("127.0.0.1:7001"));
        assert!(parse_slots(&Value::Nil).is_empty());
    }
}
