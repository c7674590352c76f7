//! The chat server as a library; the `chatserver` binary is a thin shell.
//!
//! Data flows one way: socket -> [`tcp`] (a transport) -> [`session`]
//! (limits, request order) -> [`service`] (every op, from rules to reply)
//! -> [`writer`] (batched message commits) -> [`router`] -> [`hub`] (this
//! node's sessions) and the [`cluster`] bus (the others') -> [`outbox`] ->
//! socket. `ARCHITECTURE.md` walks one `chat` through these files.
//!
//! - [`config`]: every setting, from flags or the environment.
//! - [`server`]: listener, connection limit, graceful shutdown.
//! - [`tcp`]: the line transport.
//! - [`session`]: one connection, whatever its transport.
//! - [`outbox`]: a connection's bounded outgoing queue.
//! - [`hub`]: this node's sessions by user id.
//! - [`router`]: delivery of events to users.
//! - [`service`]: the operations.
//! - [`writer`]: group commit of messages and acks.
//! - [`store`]: the `Store` trait and its SQL backends; the only SQL.
//! - [`cluster`]: the bus between nodes (local or Redis) and node slots.
//! - [`cache`]: friend and member lists, invalidated on change.
//! - [`auth`]: password hashes and tokens.
//! - [`ids`]: cluster-unique, time-ordered message ids.
//! - [`admin`]: /healthz and /metrics for operators.
//! - [`backup`]: `chatserver backup DIR`, a copy of a running node's data.
//! - [`web`]: the web client and the WebSocket transport.
//! - [`tls`]: certificates for both listeners, reloaded on SIGHUP.
//! - [`limits`]: per-connection rate limit.
//! - [`metrics`]: every metric name.
//! - [`node`]: the shared state handed to every session.

pub mod admin;
pub mod auth;
pub mod backup;
pub mod cache;
pub mod cluster;
pub mod config;
pub mod hub;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod outbox;
pub mod router;
pub mod server;
pub mod service;
pub mod session;
pub mod store;
pub mod tcp;
pub mod tls;
pub mod web;
pub mod writer;

pub use config::Config;
pub use server::Server;
