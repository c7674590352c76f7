//! [`LocalBus`]: the bus of a node that runs alone. Nothing leaves the
//! process: every session is in this node's hub, so the hub's own answers
//! (first session here, last session here) are the cluster's.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Bus, BusError, Invalidation};
use crate::hub::Hub;
use crate::outbox::OutFrame;

/// The bus of a single node.
#[derive(Debug)]
pub struct LocalBus {
    hub: Arc<Hub>,
}

impl LocalBus {
    pub fn new(hub: Arc<Hub>) -> LocalBus {
        LocalBus { hub }
    }
}

#[async_trait]
impl Bus for LocalBus {
    fn kind(&self) -> &'static str {
        "in-process"
    }

    fn publish(&self, _users: &[u64], _frame: &OutFrame) {}

    fn invalidate(&self, _what: Invalidation) {}

    async fn online(&self, users: &[u64]) -> Result<Vec<bool>, BusError> {
        Ok(users.iter().map(|&u| self.hub.is_online(u)).collect())
    }

    async fn user_arrived(&self, _user: u64) -> Result<bool, BusError> {
        Ok(true)
    }

    async fn user_left(&self, _user: u64) -> Result<bool, BusError> {
        Ok(true)
    }

    async fn healthy(&self) -> Option<bool> {
        None
    }

    async fn unregister(&self) {}
}
