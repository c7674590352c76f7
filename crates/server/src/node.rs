//! [`Node`]: the shared state of one server node, handed to every session.
//! A cheap handle (one `Arc`); no globals, so several nodes can live in one
//! process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::auth::Passwords;
use crate::config::Config;
use crate::router::Router;
use crate::store::Store;
use crate::writer::Writer;

/// One node's shared state.
#[derive(Clone)]
pub struct Node(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub router: Router,
    pub writer: Writer,
    pub passwords: Passwords,
    /// A hash of no one's password, verified against when the user id is
    /// unknown so that unknown ids and wrong passwords take the same time.
    pub dummy_hash: String,
    /// Logins in flight, at most `--max-logins-in-flight`.
    pub logins: tokio::sync::Semaphore,
    next_sid: AtomicU64,
}

impl std::ops::Deref for Node {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Node {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        router: Router,
        writer: Writer,
        passwords: Passwords,
        dummy_hash: String,
    ) -> Node {
        Node(Arc::new(Inner {
            logins: tokio::sync::Semaphore::new(config.max_logins_in_flight.max(1)),
            config,
            store,
            router,
            writer,
            passwords,
            dummy_hash,
            next_sid: AtomicU64::new(1),
        }))
    }

    /// A session id, unique on this node.
    pub fn next_sid(&self) -> u64 {
        self.next_sid.fetch_add(1, Ordering::Relaxed)
    }
}
