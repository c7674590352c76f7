//! The names of every Redis key and channel, under one prefix (so several
//! clusters, or test runs, can share one Redis), and how they are grouped.
//!
//! On one Redis the names are plain. On a Redis Cluster, keys that one
//! script or pipeline touches together must hash to one slot, so they
//! share a hash tag (the part in braces):
//! - each user falls in one of [`BUCKETS`] buckets; the user's channel,
//!   presence hash and the per-node user set of that bucket carry the
//!   bucket's tag (`{prefix}:{7.41}:online:{user}`), so the presence
//!   scripts stay atomic;
//! - the node list, the liveness and reaper keys and the invalidation
//!   channel carry one tag of their own, [`META_TAG`];
//! - counters (failed logins) stand alone, untagged.
//!
//! The bucket tags are chosen so that bucket `i` hashes into the `i`-th of
//! [`BUCKETS`] equal slot ranges: the buckets spread evenly over the
//! primaries however the slots are split among them.

use std::sync::{Arc, OnceLock};

/// User buckets on a Redis Cluster. Each is one slot, so this is also how
/// many pieces the users' keys can be spread over when resharding.
pub const BUCKETS: usize = 128;
/// Slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;
/// The hash tag of the node-level keys and the invalidation channel.
const META_TAG: &str = "meta";

/// Whether keys are plain (one Redis) or hash-tagged (a Redis Cluster).
#[derive(Debug, Clone)]
enum Layout {
    Single,
    Sharded { tags: Arc<[String]> },
}

/// Key names under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    pub prefix: String,
    layout: Layout,
}

impl Keys {
    /// Plain names, for one Redis.
    pub fn single(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
            layout: Layout::Single,
        }
    }

    /// Hash-tagged names, for a Redis Cluster.
    pub fn sharded(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
            layout: Layout::Sharded {
                tags: bucket_tags(),
            },
        }
    }

    /// True on a Redis Cluster.
    pub fn is_sharded(&self) -> bool {
        matches!(self.layout, Layout::Sharded { .. })
    }

    // Keys fall into groups; commands of one group may share a pipeline.
    // One Redis: one group. A cluster: a group per bucket, then the
    // node-level group ([`Keys::meta_group`]).

    /// The group of a user's keys and channel.
    pub fn group(&self, user: u64) -> usize {
        match &self.layout {
            Layout::Single => 0,
            Layout::Sharded { tags } => bucket_of(user, tags.len()),
        }
    }

    /// The groups that hold users' keys (every group but the node-level one).
    pub fn user_groups(&self) -> std::ops::Range<usize> {
        match &self.layout {
            Layout::Single => 0..1,
            Layout::Sharded { tags } => 0..tags.len(),
        }
    }

    /// The group of the node-level keys and the invalidation channel.
    pub fn meta_group(&self) -> usize {
        match &self.layout {
            Layout::Single => 0,
            Layout::Sharded { tags } => tags.len(),
        }
    }

    /// The cluster slot of each group (none on one Redis).
    pub fn group_slots(&self) -> Vec<u16> {
        match &self.layout {
            Layout::Single => Vec::new(),
            Layout::Sharded { tags } => tags
                .iter()
                .map(|t| hash_slot(t.as_bytes()))
                .chain([hash_slot(META_TAG.as_bytes())])
                .collect(),
        }
    }

    /// `prefix` and the tag of group `group`.
    fn base(&self, group: usize) -> String {
        match &self.layout {
            Layout::Single => self.prefix.clone(),
            Layout::Sharded { tags } => {
                let tag = tags.get(group).map_or(META_TAG, String::as_str);
                format!("{}:{{{tag}}}", self.prefix)
            }
        }
    }

    /// The channel of a user's frames.
    pub fn user_channel(&self, user: u64) -> String {
        format!("{}:u:{user}", self.base(self.group(user)))
    }
    /// The hash of the nodes that hold a session of the user.
    pub fn online(&self, user: u64) -> String {
        format!("{}:online:{user}", self.base(self.group(user)))
    }
    /// The set of users of group `group` that a node holds.
    pub fn node_users(&self, node: u16, group: usize) -> String {
        format!("{}:nodeusers:{node}", self.base(group))
    }
    /// A node's liveness, refreshed by its heartbeat.
    pub fn alive(&self, node: u16) -> String {
        format!("{}:alive:{node}", self.base(self.meta_group()))
    }
    /// The lock of whoever reaps a dead node.
    pub fn reap(&self, node: u16) -> String {
        format!("{}:reap:{node}", self.base(self.meta_group()))
    }
    /// The set of nodes.
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.base(self.meta_group()))
    }
    /// The channel of cache invalidations.
    pub fn invalidations(&self) -> String {
        format!("{}:inv", self.base(self.meta_group()))
    }
    /// A counter (failed logins); untagged, so counters spread over slots.
    pub fn counter(&self, key: &str) -> String {
        format!("{}:n:{key}", self.prefix)
    }
    /// The user id of a channel name of ours.
    pub fn channel_user(&self, channel: &[u8]) -> Option<u64> {
        let rest = channel.strip_prefix(self.prefix.as_bytes())?;
        let rest = match &self.layout {
            Layout::Single => rest,
            Layout::Sharded { .. } => {
                let rest = rest.strip_prefix(b":{")?;
                let close = rest.iter().position(|&b| b == b'}')?;
                &rest[close + 1..]
            }
        };
        let id = rest.strip_prefix(b":u:")?;
        std::str::from_utf8(id).ok()?.parse().ok()
    }
}

/// The cluster slot of a user's channel and presence keys.
pub fn user_slot(user: u64) -> u16 {
    let keys = Keys::sharded("");
    keys.group_slots()[keys.group(user)]
}

/// The cluster slot of the node-level keys and the invalidation channel.
pub fn meta_slot() -> u16 {
    hash_slot(META_TAG.as_bytes())
}

/// The bucket of a user: ids are mixed first, so that ids allocated with a
/// stride (every other one, say) still spread over every bucket.
fn bucket_of(user: u64, buckets: usize) -> usize {
    ((user.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % buckets as u64) as usize
}

/// The bucket tags: for bucket `i`, the first `i.k` (k = 0, 1, ...) whose
/// slot is in the `i`-th of [`BUCKETS`] equal slot ranges. Every node
/// computes the same ones.
fn bucket_tags() -> Arc<[String]> {
    static TAGS: OnceLock<Arc<[String]>> = OnceLock::new();
    TAGS.get_or_init(|| {
        let width = SLOTS as usize / BUCKETS;
        (0..BUCKETS)
            .map(|i| {
                let range = i * width..(i + 1) * width;
                (0u32..)
                    .map(|k| format!("{i}.{k}"))
                    .find(|tag| range.contains(&(hash_slot(tag.as_bytes()) as usize)))
                    .expect("some suffix lands in every range")
            })
            .collect()
    })
    .clone()
}

/// The cluster slot of a key (CRC16/XMODEM of its hash tag, or of the
/// whole key when it has none, modulo [`SLOTS`]), as Redis computes it.
pub fn hash_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16_xmodem(hashed) % SLOTS
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        let k = Keys::single("chat:t1");
        assert_eq!(k.user_channel(42), "chat:t1:u:42");
        assert_eq!(k.channel_user(k.user_channel(42).as_bytes()), Some(42));
        assert_eq!(k.channel_user(b"chat:t2:u:42"), None);
        assert_eq!(k.channel_user(b"chat:t1:u:x"), None);
        let s = Keys::sharded("chat:t1");
        for user in [0, 1, 42, 1 << 52] {
            assert_eq!(s.channel_user(s.user_channel(user).as_bytes()), Some(user));
        }
        assert_eq!(s.channel_user(b"chat:t1:u:42"), None);
        assert_eq!(s.channel_user(b"chat:t1:{meta}:inv"), None);
    }

    #[test]
    fn single_redis_names_are_unchanged() {
        // Nodes of an older version on the same Redis use these names.
        let k = Keys::single("chat");
        assert_eq!(k.online(7), "chat:online:7");
        assert_eq!(k.node_users(3, k.group(7)), "chat:nodeusers:3");
        assert_eq!(k.alive(3), "chat:alive:3");
        assert_eq!(k.reap(3), "chat:reap:3");
        assert_eq!(k.nodes(), "chat:nodes");
        assert_eq!(k.invalidations(), "chat:inv");
        assert_eq!(k.counter("lf:u:7"), "chat:n:lf:u:7");
        assert_eq!(k.user_groups(), 0..1);
        assert_eq!((k.group(7), k.meta_group()), (0, 0));
    }

    #[test]
    fn slots_match_redis() {
        // Values from CLUSTER KEYSLOT on Redis 7.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(hash_slot(b"foo"), 12182);
        assert_eq!(hash_slot(b"{user1000}.following"), hash_slot(b"user1000"));
        // An empty first tag means no tag: the whole key is hashed.
        assert_eq!(
            hash_slot(b"foo{}{bar}"),
            crc16_xmodem(b"foo{}{bar}") % SLOTS
        );
        assert_eq!(hash_slot(b"{}foo"), crc16_xmodem(b"{}foo") % SLOTS);
    }

    #[test]
    fn what_a_script_touches_shares_a_slot() {
        let k = Keys::sharded("chat");
        for user in 0..1000u64 {
            let g = k.group(user);
            let slot = hash_slot(k.online(user).as_bytes());
            assert_eq!(hash_slot(k.user_channel(user).as_bytes()), slot);
            assert_eq!(hash_slot(k.node_users(5, g).as_bytes()), slot);
            assert_eq!(k.group_slots()[g], slot);
        }
        let meta = hash_slot(k.nodes().as_bytes());
        for key in [k.alive(1), k.reap(2), k.invalidations()] {
            assert_eq!(hash_slot(key.as_bytes()), meta);
        }
        assert_eq!(k.group_slots()[k.meta_group()], meta);
    }

    #[test]
    fn buckets_spread_evenly_over_slots_and_users_over_buckets() {
        let k = Keys::sharded("chat");
        let slots = k.group_slots();
        let width = SLOTS as usize / BUCKETS;
        for (i, &slot) in slots[..BUCKETS].iter().enumerate() {
            assert_eq!(slot as usize / width, i, "bucket {i} is in its range");
        }
        // Three primaries with redis-cli's split get a third each.
        for (lo, hi) in [(0, 5460), (5461, 10922), (10923, 16383)] {
            let n = slots[..BUCKETS]
                .iter()
                .filter(|&&s| (lo..=hi).contains(&s))
                .count();
            assert!((42..=43).contains(&n), "{n} buckets in {lo}..={hi}");
        }
        // Sequential ids and ids with a stride both fill every bucket.
        for stride in [1u64, 2, 10] {
            let mut counts = vec![0usize; BUCKETS];
            for n in 0..(BUCKETS as u64 * 100) {
                counts[k.group(1 + n * stride)] += 1;
            }
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(*min >= 60 && *max <= 140, "stride {stride}: {min}..{max}");
        }
    }
}
