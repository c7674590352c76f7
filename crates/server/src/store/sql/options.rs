//! How a store is opened: the SQLite durability mode and pool sizes.
//! Plain types: the command line (`config.rs`) parses into them.

use std::time::Duration;

/// How durable an SQLite commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSync {
    /// fsync at every commit: survives power loss.
    Full,
    /// fsync at checkpoints: survives a crash of the process, not of the
    /// machine.
    Normal,
}

impl std::str::FromStr for SqliteSync {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "full" => Ok(SqliteSync::Full),
            "normal" => Ok(SqliteSync::Normal),
            other => Err(format!(
                "`{other}` is not a durability mode: use full or normal"
            )),
        }
    }
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub sqlite_sync: SqliteSync,
    /// Read connections (SQLite) or all connections (MySQL).
    pub pool_size: u32,
    /// How long a call waits for a connection before `unavailable`.
    pub acquire_timeout: Duration,
    /// Whether each batch checks again, at commit, that every message's
    /// sender may still write to its target. Needed when several nodes
    /// share the database (another node may change a relation a moment
    /// before); one node alone keeps its cache coherent itself.
    pub verify_at_commit: bool,
    /// SQLite: how often the message log is applied to the database file
    /// (zero: after every commit; tests use it to exercise the merge).
    pub log_apply_every: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sqlite_sync: SqliteSync::Full,
            pool_size: 8,
            acquire_timeout: Duration::from_secs(5),
            verify_at_commit: false,
            log_apply_every: Duration::from_secs(1),
        }
    }
}
