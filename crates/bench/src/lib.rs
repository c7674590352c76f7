//! `chatbench`: the load generator of the chat server.
//!
//! It registers its own users (or reuses them from a users file), sets up
//! the friendships and groups a workload needs, logs every session in,
//! then drives the workload through warmup, a measured window and a drain,
//! and reports throughput, end-to-end latency, errors, lost and duplicated
//! messages. The binary is a thin wrapper around [`run`], so tests drive
//! the very same code against an in-process server.
//!
//! Map:
//! - [`cli`]: the options and workloads.
//! - [`runner`]: one run, from setup to summary, in terms of the next four.
//! - [`layout`]: who befriends whom and who is in which group; each
//!   connection's plan.
//! - [`fleet`]: starts the connections, waits for their logins, collects
//!   their reports.
//! - [`pacing`]: open or closed loop, and the run's clock (warmup,
//!   measurement, drain).
//! - [`accounting`]: what each sender owed to whom, lost and unconfirmed
//!   messages, the summary of a chat workload.
//! - [`traffic`]: one chat session under load (every workload but
//!   `login`): pipelined, non-blocking reads and writes, open or closed
//!   loop, batched acks.
//! - [`login`]: the reconnect storm of the `login` workload.
//! - [`storm`]: `storm`, a node killed under load: the victims' reconnect
//!   storm through the balancer, with the client's backoff or the old one.
//! - [`setup`]: users, the users file, friendships, groups.
//! - [`conn`]: dialing over many loopback source addresses; the simple
//!   request/reply exchange setup uses.
//! - [`transport`]: what carries the frames: TCP lines, TLS, WebSocket
//!   (`/ws` of the web listener), WSS; non-blocking, under every workload.
//! - [`wire`]: the light frame parsing and the `cid` stamp that carries
//!   each message's sender, number and send time.
//! - [`stats`]: phases, counters, histograms, per-connection tallies.
//! - [`ledger`]: lost and duplicate accounting (bit sets per sender).
//! - [`report`]: the summary (human and JSON) and the progress line.
//! - [`sys`]: /proc readings (RSS, CPU) and the file-descriptor limit.
//! - [`relay`]: `chatbench relay`, the in-memory chat path that gives
//!   the machine's ceiling for the same workloads.
//! - [`compare`]: `--baseline`: a workload against the relay, then the
//!   server, and the ratio.
//!
//! Invariants: connections share nothing but [`stats::Shared`] (atomics and
//! histograms behind a lock taken a few times a second); no connection
//! ever waits on a write while data waits to be read.

pub mod accounting;
pub mod cli;
pub mod compare;
pub mod conn;
pub mod fleet;
pub mod layout;
pub mod ledger;
pub mod login;
pub mod pacing;
pub mod relay;
pub mod report;
pub mod runner;
pub mod setup;
pub mod stats;
pub mod storm;
pub mod sys;
pub mod traffic;
pub mod transport;
pub mod wire;

pub use cli::{Opts, Workload};
pub use report::Summary;
pub use runner::run;
