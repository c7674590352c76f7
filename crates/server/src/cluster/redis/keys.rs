//! The names of every Redis key and channel, under one prefix (so several
//! clusters, or test runs, can share one Redis).

/// Key names under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    pub prefix: String,
}

impl Keys {
    /// The channel of a user's frames.
    pub fn user_channel(&self, user: u64) -> String {
        format!("{}:u:{user}", self.prefix)
    }
    /// The hash of the nodes that hold a session of the user.
    pub fn online(&self, user: u64) -> String {
        format!("{}:online:{user}", self.prefix)
    }
    /// The set of users a node holds.
    pub fn node_users(&self, node: u16) -> String {
        format!("{}:nodeusers:{node}", self.prefix)
    }
    /// A node's liveness, refreshed by its heartbeat.
    pub fn alive(&self, node: u16) -> String {
        format!("{}:alive:{node}", self.prefix)
    }
    /// The lock of whoever reaps a dead node.
    pub fn reap(&self, node: u16) -> String {
        format!("{}:reap:{node}", self.prefix)
    }
    /// The set of nodes.
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }
    /// The channel of cache invalidations.
    pub fn invalidations(&self) -> String {
        format!("{}:inv", self.prefix)
    }
    /// A counter (failed logins).
    pub fn counter(&self, key: &str) -> String {
        format!("{}:n:{key}", self.prefix)
    }
    /// The user id of a channel name of ours.
    pub fn channel_user(&self, channel: &[u8]) -> Option<u64> {
        let rest = channel.strip_prefix(self.prefix.as_bytes())?;
        let id = rest.strip_prefix(b":u:")?;
        std::str::from_utf8(id).ok()?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        let k = Keys {
            prefix: "chat:t1".into(),
        };
        assert_eq!(k.channel_user(k.user_channel(42).as_bytes()), Some(42));
        assert_eq!(k.channel_user(b"chat:t2:u:42"), None);
        assert_eq!(k.channel_user(b"chat:t1:u:x"), None);
    }
}
