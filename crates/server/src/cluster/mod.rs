//! Running as one node or as one of several: the [`Bus`] that carries
//! frames and presence between nodes, and the lease on this node's id slot.
//!
//! A single node uses [`local::LocalBus`] (nothing leaves the process); a
//! cluster uses [`redis::RedisBus`]. The router holds one of them behind
//! the trait and never asks which. Only this module talks to Redis.

pub mod codec;
pub mod local;
pub mod redis;
pub mod slots;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

pub use codec::{Envelope, Invalidation};

use crate::outbox::OutFrame;

/// What the bus tells the server to act on.
#[derive(Debug, Clone)]
pub enum ClusterEvent {
    /// These users' presence changed without a session starting or ending
    /// here (their node died, or Redis lost track during an outage): tell
    /// their friends the current state.
    Announce(Vec<u64>),
    /// The bus is back after an outage that began at `since_ms`: push the
    /// unacked messages from then on to the local sessions, then let the
    /// frames the bus held meanwhile through ([`Bus::resume`]).
    Recovered { since_ms: u64 },
    /// Publications to these users were lost (a node could not publish, or
    /// died): replay their unacked messages with ids from `since` into the
    /// sessions listed, whose live events are held until then.
    Replay {
        held: Vec<(u64, Vec<std::sync::Arc<crate::outbox::Outbox>>)>,
        since: u64,
    },
}

/// A bus call failed (the bus is unreachable or answered an error).
#[derive(Debug, thiserror::Error)]
#[error("bus: {0}")]
pub struct BusError(pub String);

/// Carries frames and presence between the nodes of a cluster.
///
/// Frames for users with sessions on this node are delivered by the router
/// itself; the bus carries them to the other nodes, whose inbound side
/// hands them to their hub exactly as a local frame is handed.
#[async_trait]
pub trait Bus: Send + Sync + std::fmt::Debug {
    /// How this node routes, for the start-up line and `/healthz`.
    fn kind(&self) -> &'static str;

    /// Sends `frame` to the sessions of `users` on the other nodes.
    fn publish(&self, users: &[u64], frame: &OutFrame);

    /// Tells every other node to forget a cached relation. Returns once
    /// the bus has taken it (for Redis: published), so a change is
    /// known everywhere before the request that made it is answered.
    async fn invalidate(&self, what: Invalidation);

    /// Ends the sessions of `user` on the other nodes, sending each
    /// `frame` (a `session_ended` event) first.
    fn end_sessions(&self, user: u64, frame: &Bytes);

    /// Adds one to the counter `key`, which lives `window` from its first
    /// hit (password logins); returns its new value and how long it still
    /// lives. Atomic: racing callers each see a different value.
    async fn count(&self, key: &str, window: Duration) -> Result<(u64, Duration), BusError>;

    /// Takes one back from a counter.
    async fn uncount(&self, key: &str) -> Result<(), BusError>;

    /// Drops a counter.
    async fn reset(&self, key: &str) -> Result<(), BusError>;

    /// Whether each user has a session on any node.
    async fn online(&self, users: &[u64]) -> Result<Vec<bool>, BusError>;

    /// This node now holds a session of `user`. Returns true when no other
    /// node did (the user just came online).
    async fn user_arrived(&self, user: u64) -> Result<bool, BusError>;

    /// This node no longer holds `user`. Returns true when no node holds
    /// the user any more (the user went offline).
    async fn user_left(&self, user: u64) -> Result<bool, BusError>;

    /// While frames from other nodes are held (an outage until its
    /// replay), holds this node's own frames behind them too, so nothing
    /// newer overtakes what the replay will bring; true when held.
    fn hold_local(&self, users: &[u64], frame: &OutFrame, except: Option<u64>) -> bool;

    /// After the replay that follows an outage: lets through the frames
    /// that arrived meanwhile, but the messages `replayed` (user -> ids)
    /// carried already.
    fn resume(&self, replayed: &std::collections::HashMap<u64, std::collections::HashSet<u64>>);

    /// Whether the bus answers: `None` when there is nothing to ask (one
    /// node, in-process).
    async fn healthy(&self) -> Option<bool>;

    /// Leaves the cluster (clean shutdown; the sessions have already left
    /// one by one).
    async fn unregister(&self);
}
