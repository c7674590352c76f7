//! A read-through cache of who may talk to whom: each user's friend ids and
//! each group's members with their roles. Every `chat` and `group_chat` is
//! checked against it, so the hot path does not query the database.
//!
//! Correctness rests on invalidation, never on expiry: every change of a
//! friendship or a membership invalidates the entries it touches, here and
//! (through the bus) on every other node. A load that raced an
//! invalidation is not kept: each shard has a generation, bumped by every
//! invalidation, and a loaded value is stored only if the generation did
//! not move while it was read. After a Redis outage (invalidations from
//! other nodes may be lost) the whole cache is dropped. The callers trust a
//! "yes" from the cache but check a "no" against the database, so a change
//! made on another node a moment ago never causes a wrong refusal.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chat_proto::Role;

const SHARDS: usize = 32;

/// A group's members and their roles.
pub type Members = HashMap<u64, Role>;

struct Shard<V> {
    generation: u64,
    map: HashMap<u64, Arc<V>>,
}

/// One keyed cache with generations.
struct Table<V> {
    shards: Box<[Mutex<Shard<V>>]>,
    /// Entries per shard before the shard is emptied (a crude bound that
    /// keeps memory flat without bookkeeping on every hit).
    cap: usize,
}

impl<V> Table<V> {
    fn new(cap: usize) -> Table<V> {
        Table {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        generation: 0,
                        map: HashMap::new(),
                    })
                })
                .collect(),
            cap: (cap / SHARDS).max(16),
        }
    }

    fn shard(&self, key: u64) -> std::sync::MutexGuard<'_, Shard<V>> {
        self.shards[(key as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    async fn get_or_load<E, F, Fut>(&self, key: u64, load: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let generation = {
            let shard = self.shard(key);
            if let Some(v) = shard.map.get(&key) {
                return Ok(v.clone());
            }
            shard.generation
        };
        let value = Arc::new(load().await?);
        let mut shard = self.shard(key);
        if shard.generation == generation {
            if shard.map.len() >= self.cap {
                shard.map.clear();
            }
            shard.map.insert(key, value.clone());
        }
        Ok(value)
    }

    fn invalidate(&self, key: u64) {
        let mut shard = self.shard(key);
        shard.generation += 1;
        shard.map.remove(&key);
    }

    fn clear(&self) {
        for s in self.shards.iter() {
            let mut shard = s.lock().unwrap_or_else(|e| e.into_inner());
            shard.generation += 1;
            shard.map.clear();
        }
    }
}

/// Friend ids by user, members by group.
pub struct RelCache {
    friends: Table<Vec<u64>>,
    members: Table<Members>,
}

impl std::fmt::Debug for RelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelCache")
    }
}

impl RelCache {
    /// A cache holding about `cap` users' friend lists and `cap` groups.
    pub fn new(cap: usize) -> RelCache {
        RelCache {
            friends: Table::new(cap),
            members: Table::new(cap),
        }
    }

    /// The user's friend ids, sorted.
    pub async fn friends<E, Fut>(
        &self,
        user: u64,
        load: impl FnOnce() -> Fut,
    ) -> Result<Arc<Vec<u64>>, E>
    where
        Fut: Future<Output = Result<Vec<u64>, E>>,
    {
        self.friends
            .get_or_load(user, || async move {
                let mut ids = load().await?;
                ids.sort_unstable();
                Ok(ids)
            })
            .await
    }

    /// The group's members and roles (empty when the group has none or
    /// does not exist).
    pub async fn members<E, Fut>(
        &self,
        group: u64,
        load: impl FnOnce() -> Fut,
    ) -> Result<Arc<Members>, E>
    where
        Fut: Future<Output = Result<Members, E>>,
    {
        self.members.get_or_load(group, load).await
    }

    /// A friendship of `a` and `b` changed.
    pub fn friendship_changed(&self, a: u64, b: u64) {
        self.friends.invalidate(a);
        self.friends.invalidate(b);
    }

    /// The group's membership changed (join, quit, delete).
    pub fn group_changed(&self, group: u64) {
        self.members.invalidate(group);
    }

    /// Forgets everything (after invalidations may have been lost).
    pub fn clear(&self) {
        self.friends.clear();
        self.members.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loads_once_and_invalidates() {
        let c = RelCache::new(1000);
        let mut loads = 0;
        for _ in 0..3 {
            let v = c
                .friends(1, || {
                    loads += 1;
                    async { Ok::<_, ()>(vec![3, 2]) }
                })
                .await
                .unwrap();
            assert_eq!(*v, vec![2, 3]);
        }
        assert_eq!(loads, 1);
        c.friendship_changed(2, 1);
        let v = c
            .friends(1, || async { Ok::<_, ()>(vec![2]) })
            .await
            .unwrap();
        assert_eq!(*v, vec![2]);
    }

    #[tokio::test]
    async fn a_load_racing_an_invalidation_is_not_kept() {
        let c = RelCache::new(1000);
        let v = c
            .members(7, || async {
                // The membership changes while the old value is read.
                c.group_changed(7);
                Ok::<_, ()>(Members::from([(1, Role::Creator)]))
            })
            .await
            .unwrap();
        assert_eq!(v.len(), 1, "the caller still gets what it read");
        let fresh = c
            .members(7, || async {
                Ok::<_, ()>(Members::from([(1, Role::Creator), (2, Role::Member)]))
            })
            .await
            .unwrap();
        assert_eq!(fresh.len(), 2, "the stale value was not cached");
    }
}
