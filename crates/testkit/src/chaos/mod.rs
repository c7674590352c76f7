//! Fault injection for the chaos suites (`tests/chaos.rs`, the soak, and
//! `tests/fault_order.rs`, its regressions): what breaks things and what
//! judges the result.
//!
//! - [`FaultProxy`]: a TCP path that can be cut (connections dropped,
//!   new ones refused) or stalled (nothing forwarded, nothing closed: a
//!   partition that TCP waits out), then restored.
//! - [`NodeProc`]: the real `chatserver` binary as a cluster node, so that
//!   `kill -9` and `SIGSTOP`/`SIGCONT` are real; restarted on its port.
//! - [`Conn`]: a line client whose reads survive timeouts (a reader task
//!   feeds a channel), for clients that must give up on a silent node and
//!   carry on elsewhere.
//! - [`Ledger`]: every message sent (with each attempt's outcome) and every
//!   message received; [`Ledger::check`] finds what the delivery guarantee
//!   forbids: an acknowledged message lost, a sender-to-recipient pair out
//!   of order after dropping duplicates by id, a `cid` with two ids, a
//!   message stored although its request failed.
//! - [`Rng`]: a small seeded generator, so a schedule can be replayed.

mod conn;
mod ledger;
mod node;
mod proxy;
mod rng;

pub use conn::*;
pub use ledger::*;
pub use node::*;
pub use proxy::*;
pub use rng::*;
