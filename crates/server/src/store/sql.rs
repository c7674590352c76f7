//! [`SqlStore`]: the [`Store`] on SQLite or MySQL/MariaDB through sqlx.
//!
//! The two backends share their code: each method body is written once and
//! compiled once per backend by the [`on!`] macro, which binds the concrete
//! pool and the module of SQL constants for that dialect (`sqlite_q` or
//! `mysql_q`; most statements are common and live in `common`). No SQL is
//! built at run time; every value is a bound parameter.
//!
//! SQLite allows one writer at a time, so its store keeps two pools: one
//! connection for writes and a few for reads (WAL lets reads run beside the
//! writer). MySQL uses one pool for both.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chat_proto::{Msg, Role};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlQueryResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqlSafeStr};

use super::{
    AddFriend, GroupRow, Join, Result, Snapshot, Store, StoreError, Stored, Target, UserRow,
    WriteOp, WriteOutcome,
};

/// How durable an SQLite commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqliteSync {
    /// fsync at every commit: survives power loss.
    Full,
    /// fsync at checkpoints: survives a crash of the process, not of the
    /// machine.
    Normal,
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub sqlite_sync: SqliteSync,
    /// Read connections (SQLite) or all connections (MySQL).
    pub pool_size: u32,
    /// How long a call waits for a connection before `unavailable`.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sqlite_sync: SqliteSync::Full,
            pool_size: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

enum Pools {
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        /// One connection that moves the WAL into the database file.
        checkpoints: SqlitePool,
    },
    Mysql(MySqlPool),
}

/// How often the WAL is checkpointed (SQLite).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// A WAL longer than this many frames (pages) is restarted from its
/// beginning by the writer, between two batches. Without it, a writer that
/// never pauses would let the WAL grow without bound.
const WAL_RESTART_FRAMES: i64 = 4_096;

/// Checkpoints the WAL beside the writer, never blocking it (PASSIVE),
/// until `stop`; then once fully (TRUNCATE) so a stopped node leaves a
/// compact database file.
async fn checkpoint_loop(
    pool: SqlitePool,
    restart: Arc<AtomicBool>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        // (busy, frames in the WAL, frames copied to the database)
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await
        {
            Ok((_, frames, _)) if frames > WAL_RESTART_FRAMES => {
                restart.store(true, Ordering::Relaxed)
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checkpoint failed"),
        }
    }
    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
    {
        tracing::warn!(error = %e, "final checkpoint failed");
    }
    pool.close().await;
}

/// The SQL store. Cheap to share behind an `Arc`.
pub struct SqlStore {
    pools: Pools,
    /// Hot reads on the calling thread (SQLite only).
    inline: Option<super::inline::InlineReads>,
    /// Stops the background checkpointer (SQLite).
    stop: tokio_util::sync::CancellationToken,
    /// Set by the checkpointer when the writer should restart the WAL.
    wal_restart: Arc<AtomicBool>,
    /// What `--db` named, without credentials, for logs.
    description: String,
}

/// Runs `$body` with `$p` bound to the pool for the access kind and `$q` to
/// the dialect's SQL constants.
macro_rules! on {
    ($self:ident, $kind:ident, |$p:ident, $q:ident| $body:expr) => {
        match &$self.pools {
            Pools::Sqlite { read, write, .. } => {
                let $p = on!(@pick $kind, read, write);
                #[allow(unused_imports)]
                use sqlite_q as $q;
                $body
            }
            Pools::Mysql(pool) => {
                let $p = pool;
                #[allow(unused_imports)]
                use mysql_q as $q;
                $body
            }
        }
    };
    (@pick read, $read:ident, $write:ident) => {{
        let _ = $write;
        $read
    }};
    (@pick write, $read:ident, $write:ident) => {{
        let _ = $read;
        $write
    }};
}

/// The id of the row an INSERT created.
trait LastId {
    fn last_id(&self) -> u64;
}

impl LastId for SqliteQueryResult {
    fn last_id(&self) -> u64 {
        self.last_insert_rowid() as u64
    }
}

impl LastId for MySqlQueryResult {
    fn last_id(&self) -> u64 {
        self.last_insert_id()
    }
}

/// Statements that both dialects spell the same way.
pub(crate) mod common {
    pub const PING: &str = "SELECT 1";
    pub const MAX_MESSAGE_ID: &str = "SELECT MAX(id) FROM messages";
    pub const INSERT_USER: &str = "INSERT INTO users (name, pw_hash, created_ms) VALUES (?, ?, ?)";
    pub const USER: &str = "SELECT id, name FROM users WHERE id = ?";
    pub const USER_SECRET: &str = "SELECT id, name, pw_hash FROM users WHERE id = ?";
    pub const INSERT_TOKEN: &str =
        "INSERT INTO tokens (hash, user_id, expires_ms) VALUES (?, ?, ?)";
    pub const TOKEN_USER: &str = "SELECT u.id, u.name FROM tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.hash = ? AND t.expires_ms > ?";
    pub const DELETE_TOKEN: &str = "DELETE FROM tokens WHERE hash = ?";
    pub const PURGE_TOKENS: &str = "DELETE FROM tokens WHERE expires_ms <= ?";
    pub const FRIEND_IDS: &str = "SELECT friend_id FROM friendships WHERE user_id = ?";
    pub const ARE_FRIENDS: &str = "SELECT 1 FROM friendships WHERE user_id = ? AND friend_id = ?";
    pub const DELETE_FRIENDSHIP: &str = "DELETE FROM friendships \
         WHERE (user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)";
    pub const INSERT_GROUP: &str = "INSERT INTO chat_groups (name, description, creator_id, created_ms) \
         VALUES (?, ?, ?, ?)";
    pub const INSERT_MEMBER: &str =
        "INSERT INTO group_members (group_id, user_id, role, joined_ms) VALUES (?, ?, ?, ?)";
    pub const GROUP: &str =
        "SELECT id, name, description, creator_id FROM chat_groups WHERE id = ?";
    pub const ROLE: &str = "SELECT role FROM group_members WHERE group_id = ? AND user_id = ?";
    pub const DELETE_MEMBER: &str = "DELETE FROM group_members WHERE group_id = ? AND user_id = ?";
    pub const DELETE_MEMBERS: &str = "DELETE FROM group_members WHERE group_id = ?";
    pub const DELETE_GROUP: &str = "DELETE FROM chat_groups WHERE id = ?";
    pub const MEMBERS: &str = "SELECT u.id, u.name, m.role FROM group_members m \
         JOIN users u ON u.id = m.user_id WHERE m.group_id = ? ORDER BY m.role DESC, u.id";
    pub const MEMBER_IDS: &str = "SELECT user_id FROM group_members WHERE group_id = ?";
    pub fn insert_inbox(n: usize) -> &'static str {
        super::bulk::pick(&super::bulk::INBOX, n)
    }
    pub fn delete_inbox(n: usize) -> &'static str {
        super::bulk::pick(&super::bulk::ACKS, n)
    }
    pub const MSG_EXISTS: &str = "SELECT 1 FROM messages WHERE id = ?";
    pub const MSG_BY_CID: &str = "SELECT id, ts FROM messages WHERE sender_id = ? AND cid = ?";
    pub const INSERT_GROUP_INBOX: &str = "INSERT INTO inbox (user_id, msg_id) \
         SELECT user_id, ? FROM group_members WHERE group_id = ? AND user_id <> ?";
    pub const HISTORY_GROUP: &str = "SELECT id, sender_id, recipient_id, group_id, text, cid, ts \
         FROM messages WHERE group_id = ? AND id < ? ORDER BY id DESC LIMIT ?";
    pub const CLAIM_SLOT: &str = "UPDATE node_slots SET owner = ?, expires_ms = ? \
         WHERE slot = ? AND (expires_ms < ? OR owner = ?)";
    pub const RENEW_SLOT: &str =
        "UPDATE node_slots SET expires_ms = ? WHERE slot = ? AND owner = ?";
    pub const RELEASE_SLOT: &str =
        "UPDATE node_slots SET owner = '', expires_ms = 0 WHERE slot = ? AND owner = ?";
    /// Kind 1: friends (id, name); 2: groups (id, name, description,
    /// role, creator); 3: the inbox mark (max id, count).
    pub const SNAPSHOT: &str = "SELECT 1 AS kind, u.id AS id, u.name AS name, NULL AS descr, \
         NULL AS num, NULL AS num2 \
         FROM friendships f JOIN users u ON u.id = f.friend_id WHERE f.user_id = ? \
         UNION ALL SELECT 2, g.id, g.name, g.description, m.role, g.creator_id \
         FROM group_members m JOIN chat_groups g ON g.id = m.group_id WHERE m.user_id = ? \
         UNION ALL SELECT 3, COALESCE(MAX(msg_id), 0), NULL, NULL, COUNT(*), NULL \
         FROM inbox WHERE user_id = ? \
         ORDER BY 1, 2";
    pub const INBOX_PAGE: &str = "SELECT m.id, m.sender_id, m.recipient_id, m.group_id, m.text, m.cid, m.ts \
         FROM inbox i JOIN messages m ON m.id = i.msg_id \
         WHERE i.user_id = ? AND i.msg_id > ? AND i.msg_id <= ? ORDER BY i.msg_id LIMIT ?";
}

/// Multi-row statements, built once per size from constant pieces.
mod bulk {
    use std::sync::LazyLock;

    /// The sizes multi-row statements come in (powers of two, so a few
    /// prepared statements cover every batch). Each statement is one round
    /// trip to the database, so they are large: 512 messages bind 3584
    /// values, within SQLite's limit of 32766.
    pub const SIZES: [usize; 10] = [512, 256, 128, 64, 32, 16, 8, 4, 2, 1];
    /// Acks are an OR of (user, id) pairs; keep the expression shallow.
    pub const MAX_ACKS: usize = 256;

    fn build(head: &str, row: &str, sep: &str, tail: &str) -> Vec<String> {
        SIZES
            .iter()
            .map(|&n| format!("{head}{}{tail}", vec![row; n].join(sep)))
            .collect()
    }

    pub fn pick(table: &'static [String], n: usize) -> &'static str {
        let i = SIZES
            .iter()
            .position(|&s| s == n)
            .unwrap_or(SIZES.len() - 1);
        &table[i]
    }

    const MSG_COLS: &str =
        " INTO messages (id, sender_id, recipient_id, group_id, text, cid, ts) VALUES ";
    const MSG_ROW: &str = "(?, ?, ?, ?, ?, ?, ?)";
    pub static SQLITE_MESSAGES: LazyLock<Vec<String>> =
        LazyLock::new(|| build(&format!("INSERT OR IGNORE{MSG_COLS}"), MSG_ROW, ", ", ""));
    pub static MYSQL_MESSAGES: LazyLock<Vec<String>> =
        LazyLock::new(|| build(&format!("INSERT IGNORE{MSG_COLS}"), MSG_ROW, ", ", ""));
    pub static INBOX: LazyLock<Vec<String>> = LazyLock::new(|| {
        build(
            "INSERT INTO inbox (user_id, msg_id) VALUES ",
            "(?, ?)",
            ", ",
            "",
        )
    });
    /// Both dialects find each (user_id, msg_id) OR-term by primary key
    /// (SQLite does not for a row-value IN list).
    pub static ACKS: LazyLock<Vec<String>> = LazyLock::new(|| {
        build(
            "DELETE FROM inbox WHERE ",
            "(user_id = ? AND msg_id = ?)",
            " OR ",
            "",
        )
    });
}

/// Splits items into runs whose lengths are in [`bulk::SIZES`].
fn chunks<T>(items: &[T]) -> Vec<&[T]> {
    chunks_of(items, usize::MAX)
}

/// Like [`chunks`], with runs of at most `max` items.
fn chunks_of<T>(items: &[T], max: usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let n = bulk::SIZES
            .iter()
            .copied()
            .find(|&s| s <= rest.len() && s <= max)
            .unwrap_or(1);
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    out
}

mod sqlite_q {
    pub use super::common::*;
    pub fn insert_messages(n: usize) -> &'static str {
        super::bulk::pick(&super::bulk::SQLITE_MESSAGES, n)
    }
    pub const INSERT_FRIENDSHIP: &str =
        "INSERT OR IGNORE INTO friendships (user_id, friend_id, created_ms) VALUES (?, ?, ?)";
    pub const INSERT_MEMBER_IGNORE: &str = "INSERT OR IGNORE INTO group_members \
         (group_id, user_id, role, joined_ms) VALUES (?, ?, ?, ?)";
    /// SQLite serialises writers, so a plain read inside the write
    /// transaction is stable.
    pub const GROUP_FOR_JOIN: &str = super::common::GROUP;
    pub const HISTORY_WITH: &str = "SELECT * FROM (\
         SELECT id, sender_id, recipient_id, group_id, text, cid, ts FROM messages \
         WHERE sender_id = ? AND recipient_id = ? AND id < ? ORDER BY id DESC LIMIT ?) \
         UNION ALL SELECT * FROM (\
         SELECT id, sender_id, recipient_id, group_id, text, cid, ts FROM messages \
         WHERE sender_id = ? AND recipient_id = ? AND id < ? ORDER BY id DESC LIMIT ?) \
         ORDER BY id DESC LIMIT ?";
}

mod mysql_q {
    pub use super::common::*;
    pub fn insert_messages(n: usize) -> &'static str {
        super::bulk::pick(&super::bulk::MYSQL_MESSAGES, n)
    }
    pub const INSERT_FRIENDSHIP: &str =
        "INSERT IGNORE INTO friendships (user_id, friend_id, created_ms) VALUES (?, ?, ?)";
    pub const INSERT_MEMBER_IGNORE: &str = "INSERT IGNORE INTO group_members \
         (group_id, user_id, role, joined_ms) VALUES (?, ?, ?, ?)";
    /// Locks the group row so a concurrent delete waits for the join.
    pub const GROUP_FOR_JOIN: &str = "SELECT id, name, description, creator_id FROM chat_groups \
         WHERE id = ? LOCK IN SHARE MODE";
    pub const HISTORY_WITH: &str = "(SELECT id, sender_id, recipient_id, group_id, text, cid, ts \
         FROM messages WHERE sender_id = ? AND recipient_id = ? AND id < ? ORDER BY id DESC LIMIT ?) \
         UNION ALL (SELECT id, sender_id, recipient_id, group_id, text, cid, ts \
         FROM messages WHERE sender_id = ? AND recipient_id = ? AND id < ? ORDER BY id DESC LIMIT ?) \
         ORDER BY id DESC LIMIT ?";
}

fn role_from(v: i64) -> Role {
    if v == 1 { Role::Creator } else { Role::Member }
}

fn role_to(r: Role) -> i64 {
    match r {
        Role::Creator => 1,
        Role::Member => 0,
    }
}

/// Ids on the wire are u64; in SQL they are signed 64-bit. Ids we assign are
/// below 2^53, so a value that does not fit simply matches nothing.
fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(-1)
}

fn migration(version: i64, name: &'static str, sql: &'static str) -> Migration {
    Migration::new(
        version,
        name.into(),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )
}

fn sqlite_migrator() -> Migrator {
    Migrator::with_migrations(vec![
        migration(
            1,
            "init",
            include_str!("../../migrations/sqlite/0001_init.sql"),
        ),
        migration(
            2,
            "node slots",
            include_str!("../../migrations/sqlite/0002_node_slots.sql"),
        ),
    ])
}

fn mysql_migrator() -> Migrator {
    Migrator::with_migrations(vec![
        migration(
            1,
            "init",
            include_str!("../../migrations/mysql/0001_init.sql"),
        ),
        migration(
            2,
            "node slots",
            include_str!("../../migrations/mysql/0002_node_slots.sql"),
        ),
    ])
}

/// Runs the MySQL migrations under a named lock of our own, so that nodes
/// starting together migrate one after the other. (sqlx takes a lock too,
/// but asks for it with a negative timeout, which MariaDB treats as "do not
/// wait".)
async fn migrate_mysql(pool: &MySqlPool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK('chat_migrations', 120)")
        .fetch_one(&mut *conn)
        .await?;
    if got != Some(1) {
        return Err(StoreError::Unavailable(
            "another node held the migration lock for two minutes".into(),
        ));
    }
    let result = mysql_migrator().run(&mut *conn).await;
    let _ = sqlx::query("SELECT RELEASE_LOCK('chat_migrations')")
        .execute(&mut *conn)
        .await;
    result.map_err(|e| StoreError::Internal(format!("migration failed: {e}")))
}

/// A user from columns (id, name).
fn user_from_row<R: Row>(row: &R) -> std::result::Result<UserRow, sqlx::Error>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    Ok(UserRow {
        id: row.try_get::<i64, _>(0)? as u64,
        name: row.try_get(1)?,
    })
}

/// A group from columns (id, name, description, creator_id).
fn group_from_row<R: Row>(row: &R) -> std::result::Result<GroupRow, sqlx::Error>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    Ok(GroupRow {
        id: row.try_get::<i64, _>(0)? as u64,
        name: row.try_get(1)?,
        desc: row.try_get(2)?,
        creator: row.try_get::<i64, _>(3)? as u64,
    })
}

fn msg_from_row<R: Row>(row: &R) -> std::result::Result<Msg, sqlx::Error>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    Ok(Msg {
        id: row.try_get::<i64, _>(0)? as u64,
        from: row.try_get::<i64, _>(1)? as u64,
        to: row.try_get::<Option<i64>, _>(2)?.map(|v| v as u64),
        group: row.try_get::<Option<i64>, _>(3)?.map(|v| v as u64),
        text: row.try_get(4)?,
        cid: row.try_get(5)?,
        ts: row.try_get::<i64, _>(6)? as u64,
    })
}

/// The file an `sqlite://PATH?options` URL names.
fn sqlite_path(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    path.split('?').next()
}

/// Hides the password of a URL for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

impl SqlStore {
    /// Opens the store named by `url` (`sqlite://PATH` or
    /// `mysql://user:pass@host:port/db`), creating an SQLite file and its
    /// folder when missing, and runs the migrations.
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<SqlStore> {
        let description = redact(url);
        let stop = tokio_util::sync::CancellationToken::new();
        let wal_restart = Arc::new(AtomicBool::new(false));
        let pools = if let Some(path) = sqlite_path(url) {
            if let Some(dir) = std::path::Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let connect = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match opts.sqlite_sync {
                    SqliteSync::Full => SqliteSynchronous::Full,
                    SqliteSync::Normal => SqliteSynchronous::Normal,
                })
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(false)
                // Index pages stay in memory instead of being read back
                // through the kernel on every insert.
                .pragma("cache_size", "-65536")
                .pragma("journal_size_limit", "67108864");
            // The writer never checkpoints inside a commit (that doubled the
            // time of every other commit); a background task does it.
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(opts.acquire_timeout)
                .test_before_acquire(false)
                .connect_with(connect.clone().pragma("wal_autocheckpoint", "0"))
                .await?;
            sqlite_migrator()
                .run(&write)
                .await
                .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
            let read = SqlitePoolOptions::new()
                .max_connections(opts.pool_size.max(1))
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(connect.clone())
                .await?;
            let checkpoints = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(connect)
                .await?;
            tokio::spawn(checkpoint_loop(
                checkpoints.clone(),
                wal_restart.clone(),
                stop.clone(),
            ));
            Pools::Sqlite {
                read,
                write,
                checkpoints,
            }
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let connect = MySqlConnectOptions::from_str(&url)
                .map_err(|e| StoreError::Internal(format!("bad --db URL: {e}")))?
                .charset("utf8mb4");
            let pool = MySqlPoolOptions::new()
                .max_connections(opts.pool_size.max(2))
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(connect)
                .await?;
            migrate_mysql(&pool).await?;
            Pools::Mysql(pool)
        } else {
            return Err(StoreError::Internal(format!(
                "unsupported --db URL {description}: use sqlite://PATH or mysql://USER:PASS@HOST:PORT/DB"
            )));
        };
        let inline = match &pools {
            Pools::Sqlite { .. } => sqlite_path(url).map(super::inline::InlineReads::new),
            Pools::Mysql(_) => None,
        };
        Ok(SqlStore {
            pools,
            inline,
            stop,
            wal_restart,
            description,
        })
    }

    /// The store's URL without credentials.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Closes every connection (after a final flush).
    pub async fn close(&self) {
        self.stop.cancel();
        match &self.pools {
            Pools::Sqlite {
                read,
                write,
                checkpoints,
            } => {
                read.close().await;
                write.close().await;
                // The checkpointer closes its pool after a last checkpoint.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while !checkpoints.is_closed() && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Pools::Mysql(p) => p.close().await,
        }
    }

    /// Applies one batch in one transaction, with multi-row statements:
    /// all new messages in a few INSERTs (conflicting `cid`s are skipped
    /// and resolved row by row), all one-to-one inbox rows in a few more,
    /// and acks as one DELETE per user and chunk of ids.
    async fn write_batch_tx(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>> {
        // Outcomes are filled in as they become known.
        let mut out: Vec<Option<WriteOutcome>> = vec![None; ops.len()];
        // Messages to insert, by index in `ops`.
        let mut fresh: Vec<usize> = Vec::new();
        // Retries of a (sender, cid) seen earlier in this batch: (index, index of the first).
        let mut retries: Vec<(usize, usize)> = Vec::new();
        let mut first_cid: std::collections::HashMap<(u64, &str), usize> =
            std::collections::HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                WriteOp::Msg(m) => match m.cid.as_deref() {
                    Some(cid) => match first_cid.get(&(m.from, cid)) {
                        Some(&first) => retries.push((i, first)),
                        None => {
                            first_cid.insert((m.from, cid), i);
                            fresh.push(i);
                        }
                    },
                    None => fresh.push(i),
                },
                WriteOp::Ack { .. } => out[i] = Some(WriteOutcome::Acked),
            }
        }
        if self.wal_restart.swap(false, Ordering::Relaxed)
            && let Pools::Sqlite { write, .. } = &self.pools
        {
            // Most frames are already copied by the checkpointer; this
            // copies the rest and rewinds the WAL. It waits for readers only.
            sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .execute(write)
                .await?;
        }
        let msg = |i: usize| match &ops[i] {
            WriteOp::Msg(m) => m,
            // `fresh` holds only indexes of messages.
            WriteOp::Ack { .. } => unreachable!("fresh holds messages only"),
        };
        on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            let mut inserted: Vec<usize> = Vec::with_capacity(fresh.len());
            for chunk in chunks(&fresh) {
                let sql = q::insert_messages(chunk.len());
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for &i in chunk {
                    let m = msg(i);
                    let (to, group) = match m.target {
                        Target::User(u) => (Some(sql_id(u)), None),
                        Target::Group(g) => (None, Some(sql_id(g))),
                    };
                    query = query
                        .bind(sql_id(m.id))
                        .bind(sql_id(m.from))
                        .bind(to)
                        .bind(group)
                        .bind(m.text.as_str())
                        .bind(m.cid.as_deref())
                        .bind(m.ts as i64);
                }
                let done = query.execute(&mut *tx).await?.rows_affected();
                if done as usize == chunk.len() {
                    inserted.extend_from_slice(chunk);
                    continue;
                }
                // Some cid was sent before: find which rows went in.
                for &i in chunk {
                    let m = msg(i);
                    let ours = sqlx::query(q::MSG_EXISTS)
                        .bind(sql_id(m.id))
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some();
                    if ours {
                        inserted.push(i);
                        continue;
                    }
                    let row = sqlx::query(q::MSG_BY_CID)
                        .bind(sql_id(m.from))
                        .bind(m.cid.as_deref())
                        .fetch_one(&mut *tx)
                        .await?;
                    let id = row.try_get::<i64, _>(0)? as u64;
                    let ts = row.try_get::<i64, _>(1)? as u64;
                    out[i] = Some(WriteOutcome::Msg(Stored::Duplicate { id, ts }));
                }
            }
            // Inbox rows: one-to-one in bulk, groups by membership.
            // Rows in key order, so that concurrent writers (other nodes)
            // lock them in the same order and rarely deadlock.
            let mut direct: Vec<usize> = inserted
                .iter()
                .copied()
                .filter(|&i| matches!(msg(i).target, Target::User(_)))
                .collect();
            direct.sort_by_key(|&i| match msg(i).target {
                Target::User(u) => (u, msg(i).id),
                Target::Group(_) => (0, 0),
            });
            for chunk in chunks(&direct) {
                let mut query = sqlx::query(AssertSqlSafe(q::insert_inbox(chunk.len())));
                for &i in chunk {
                    let m = msg(i);
                    if let Target::User(u) = m.target {
                        query = query.bind(sql_id(u)).bind(sql_id(m.id));
                        out[i] = Some(WriteOutcome::Msg(Stored::New {
                            recipients: vec![u],
                        }));
                    }
                }
                query.execute(&mut *tx).await?;
            }
            for &i in &inserted {
                let m = msg(i);
                let Target::Group(g) = m.target else { continue };
                let ids: Vec<i64> = sqlx::query_scalar(q::MEMBER_IDS)
                    .bind(sql_id(g))
                    .fetch_all(&mut *tx)
                    .await?;
                sqlx::query(q::INSERT_GROUP_INBOX)
                    .bind(sql_id(m.id))
                    .bind(sql_id(g))
                    .bind(sql_id(m.from))
                    .execute(&mut *tx)
                    .await?;
                let recipients = ids
                    .into_iter()
                    .map(|v| v as u64)
                    .filter(|&u| u != m.from)
                    .collect();
                out[i] = Some(WriteOutcome::Msg(Stored::New { recipients }));
            }
            let mut acked: Vec<(u64, u64)> = ops
                .iter()
                .filter_map(|op| match op {
                    WriteOp::Ack { user, ids } => Some(ids.iter().map(move |&id| (*user, id))),
                    WriteOp::Msg(_) => None,
                })
                .flatten()
                .collect();
            acked.sort_unstable();
            for chunk in chunks_of(&acked, bulk::MAX_ACKS) {
                let mut query = sqlx::query(AssertSqlSafe(q::delete_inbox(chunk.len())));
                for &(user, id) in chunk {
                    query = query.bind(sql_id(user)).bind(sql_id(id));
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })?;
        // A retry inside the batch answers like its first: the original if
        // that one was new, or whatever the first resolved to.
        for (i, first) in retries {
            out[i] = Some(match &out[first] {
                Some(WriteOutcome::Msg(Stored::New { .. })) => {
                    let m = msg(first);
                    WriteOutcome::Msg(Stored::Duplicate { id: m.id, ts: m.ts })
                }
                other => other.clone().unwrap_or(WriteOutcome::Acked),
            });
        }
        out.into_iter()
            .map(|o| o.ok_or_else(|| StoreError::Internal("a batch op got no outcome".into())))
            .collect()
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<()> {
        on!(self, read, |p, q| {
            sqlx::query(q::PING).execute(p).await?;
            Ok(())
        })
    }

    async fn max_message_id(&self) -> Result<u64> {
        on!(self, read, |p, q| {
            let v: Option<i64> = sqlx::query_scalar(q::MAX_MESSAGE_ID).fetch_one(p).await?;
            Ok(v.unwrap_or(0) as u64)
        })
    }

    async fn create_user(&self, name: &str, pw_hash: &str, now_ms: u64) -> Result<u64> {
        on!(self, write, |p, q| {
            let r = sqlx::query(q::INSERT_USER)
                .bind(name)
                .bind(pw_hash)
                .bind(now_ms as i64)
                .execute(p)
                .await?;
            Ok(r.last_id())
        })
    }

    async fn user(&self, id: u64) -> Result<Option<UserRow>> {
        on!(self, read, |p, q| {
            let row = sqlx::query(q::USER)
                .bind(sql_id(id))
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some(user_from_row(&r)?),
                None => None,
            })
        })
    }

    async fn user_secret(&self, id: u64) -> Result<Option<(UserRow, String)>> {
        on!(self, read, |p, q| {
            let row = sqlx::query(q::USER_SECRET)
                .bind(sql_id(id))
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some((user_from_row(&r)?, r.try_get(2)?)),
                None => None,
            })
        })
    }

    async fn insert_token(&self, hash: &[u8], user: u64, expires_ms: u64) -> Result<()> {
        on!(self, write, |p, q| {
            sqlx::query(q::INSERT_TOKEN)
                .bind(hash)
                .bind(sql_id(user))
                .bind(expires_ms as i64)
                .execute(p)
                .await?;
            Ok(())
        })
    }

    async fn token_user(&self, hash: &[u8], now_ms: u64) -> Result<Option<UserRow>> {
        if let Some(inline) = &self.inline {
            match inline.token_user(hash, now_ms) {
                Ok(found) => return Ok(found),
                Err(e) => tracing::debug!(error = %e, "inline read failed; using the pool"),
            }
        }
        on!(self, read, |p, q| {
            let row = sqlx::query(q::TOKEN_USER)
                .bind(hash)
                .bind(now_ms as i64)
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some(user_from_row(&r)?),
                None => None,
            })
        })
    }

    async fn delete_token(&self, hash: &[u8]) -> Result<()> {
        on!(self, write, |p, q| {
            sqlx::query(q::DELETE_TOKEN).bind(hash).execute(p).await?;
            Ok(())
        })
    }

    async fn purge_tokens(&self, now_ms: u64) -> Result<u64> {
        on!(self, write, |p, q| {
            let r = sqlx::query(q::PURGE_TOKENS)
                .bind(now_ms as i64)
                .execute(p)
                .await?;
            Ok(r.rows_affected())
        })
    }

    async fn friend_ids(&self, user: u64) -> Result<Vec<u64>> {
        on!(self, read, |p, q| {
            let ids: Vec<i64> = sqlx::query_scalar(q::FRIEND_IDS)
                .bind(sql_id(user))
                .fetch_all(p)
                .await?;
            Ok(ids.into_iter().map(|v| v as u64).collect())
        })
    }

    async fn are_friends(&self, a: u64, b: u64) -> Result<bool> {
        on!(self, read, |p, q| {
            let row = sqlx::query(q::ARE_FRIENDS)
                .bind(sql_id(a))
                .bind(sql_id(b))
                .fetch_optional(p)
                .await?;
            Ok(row.is_some())
        })
    }

    async fn add_friend(&self, a: u64, b: u64, now_ms: u64) -> Result<AddFriend> {
        on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            let Some(row) = sqlx::query(q::USER)
                .bind(sql_id(b))
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(AddFriend::NoSuchUser);
            };
            let friend = user_from_row(&row)?;
            let r = sqlx::query(q::INSERT_FRIENDSHIP)
                .bind(sql_id(a))
                .bind(sql_id(b))
                .bind(now_ms as i64)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 0 {
                return Ok(AddFriend::AlreadyFriends);
            }
            sqlx::query(q::INSERT_FRIENDSHIP)
                .bind(sql_id(b))
                .bind(sql_id(a))
                .bind(now_ms as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(AddFriend::Added(friend))
        })
    }

    async fn remove_friend(&self, a: u64, b: u64) -> Result<bool> {
        on!(self, write, |p, q| {
            let r = sqlx::query(q::DELETE_FRIENDSHIP)
                .bind(sql_id(a))
                .bind(sql_id(b))
                .bind(sql_id(b))
                .bind(sql_id(a))
                .execute(p)
                .await?;
            Ok(r.rows_affected() > 0)
        })
    }

    async fn create_group(&self, creator: u64, name: &str, desc: &str, now_ms: u64) -> Result<u64> {
        on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            let r = sqlx::query(q::INSERT_GROUP)
                .bind(name)
                .bind(desc)
                .bind(sql_id(creator))
                .bind(now_ms as i64)
                .execute(&mut *tx)
                .await?;
            let id = r.last_id();
            sqlx::query(q::INSERT_MEMBER)
                .bind(sql_id(id))
                .bind(sql_id(creator))
                .bind(role_to(Role::Creator))
                .bind(now_ms as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    async fn group(&self, id: u64) -> Result<Option<GroupRow>> {
        on!(self, read, |p, q| {
            let row = sqlx::query(q::GROUP)
                .bind(sql_id(id))
                .fetch_optional(p)
                .await?;
            Ok(match row {
                Some(r) => Some(group_from_row(&r)?),
                None => None,
            })
        })
    }

    async fn join_group(&self, group: u64, user: u64, now_ms: u64) -> Result<Join> {
        on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            let Some(r) = sqlx::query(q::GROUP_FOR_JOIN)
                .bind(sql_id(group))
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(Join::NoSuchGroup);
            };
            let row = group_from_row(&r)?;
            let done = sqlx::query(q::INSERT_MEMBER_IGNORE)
                .bind(sql_id(group))
                .bind(sql_id(user))
                .bind(role_to(Role::Member))
                .bind(now_ms as i64)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(Join::AlreadyMember);
            }
            tx.commit().await?;
            Ok(Join::Joined(row))
        })
    }

    async fn role(&self, group: u64, user: u64) -> Result<Option<Role>> {
        on!(self, read, |p, q| {
            let v: Option<i64> = sqlx::query_scalar(q::ROLE)
                .bind(sql_id(group))
                .bind(sql_id(user))
                .fetch_optional(p)
                .await?;
            Ok(v.map(role_from))
        })
    }

    async fn leave_group(&self, group: u64, user: u64) -> Result<bool> {
        on!(self, write, |p, q| {
            let r = sqlx::query(q::DELETE_MEMBER)
                .bind(sql_id(group))
                .bind(sql_id(user))
                .execute(p)
                .await?;
            Ok(r.rows_affected() > 0)
        })
    }

    async fn delete_group(&self, group: u64) -> Result<Vec<u64>> {
        on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            let ids: Vec<i64> = sqlx::query_scalar(q::MEMBER_IDS)
                .bind(sql_id(group))
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query(q::DELETE_MEMBERS)
                .bind(sql_id(group))
                .execute(&mut *tx)
                .await?;
            sqlx::query(q::DELETE_GROUP)
                .bind(sql_id(group))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(ids.into_iter().map(|v| v as u64).collect())
        })
    }

    async fn members(&self, group: u64) -> Result<Vec<(UserRow, Role)>> {
        on!(self, read, |p, q| {
            let rows = sqlx::query(q::MEMBERS)
                .bind(sql_id(group))
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| Ok((user_from_row(r)?, role_from(r.try_get::<i64, _>(2)?))))
                .collect()
        })
    }

    async fn member_ids(&self, group: u64) -> Result<Vec<u64>> {
        on!(self, read, |p, q| {
            let ids: Vec<i64> = sqlx::query_scalar(q::MEMBER_IDS)
                .bind(sql_id(group))
                .fetch_all(p)
                .await?;
            Ok(ids.into_iter().map(|v| v as u64).collect())
        })
    }

    async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>> {
        self.write_batch_tx(ops).await
    }

    async fn claim_slot(&self, owner: &str, now_ms: u64, lease_ms: u64) -> Result<Option<u16>> {
        on!(self, write, |p, q| {
            for slot in 0..crate::ids::MAX_NODES {
                let r = sqlx::query(q::CLAIM_SLOT)
                    .bind(owner)
                    .bind((now_ms + lease_ms) as i64)
                    .bind(slot as i64)
                    .bind(now_ms as i64)
                    .bind(owner)
                    .execute(p)
                    .await?;
                if r.rows_affected() == 1 {
                    return Ok(Some(slot));
                }
            }
            Ok(None)
        })
    }

    async fn renew_slot(&self, slot: u16, owner: &str, now_ms: u64, lease_ms: u64) -> Result<bool> {
        on!(self, write, |p, q| {
            let r = sqlx::query(q::RENEW_SLOT)
                .bind((now_ms + lease_ms) as i64)
                .bind(slot as i64)
                .bind(owner)
                .execute(p)
                .await?;
            Ok(r.rows_affected() == 1)
        })
    }

    async fn release_slot(&self, slot: u16, owner: &str) -> Result<()> {
        on!(self, write, |p, q| {
            sqlx::query(q::RELEASE_SLOT)
                .bind(slot as i64)
                .bind(owner)
                .execute(p)
                .await?;
            Ok(())
        })
    }

    async fn history_with(
        &self,
        a: u64,
        b: u64,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Msg>> {
        let before = before.map(sql_id).unwrap_or(i64::MAX);
        on!(self, read, |p, q| {
            let rows = sqlx::query(q::HISTORY_WITH)
                .bind(sql_id(a))
                .bind(sql_id(b))
                .bind(before)
                .bind(limit as i64)
                .bind(sql_id(b))
                .bind(sql_id(a))
                .bind(before)
                .bind(limit as i64)
                .bind(limit as i64)
                .fetch_all(p)
                .await?;
            rows.iter().map(|r| Ok(msg_from_row(r)?)).collect()
        })
    }

    async fn history_group(&self, group: u64, before: Option<u64>, limit: u32) -> Result<Vec<Msg>> {
        let before = before.map(sql_id).unwrap_or(i64::MAX);
        on!(self, read, |p, q| {
            let rows = sqlx::query(q::HISTORY_GROUP)
                .bind(sql_id(group))
                .bind(before)
                .bind(limit as i64)
                .fetch_all(p)
                .await?;
            rows.iter().map(|r| Ok(msg_from_row(r)?)).collect()
        })
    }

    async fn snapshot(&self, user: u64) -> Result<Snapshot> {
        if let Some(inline) = &self.inline {
            match inline.snapshot(sql_id(user)) {
                Ok(snap) => return Ok(snap),
                Err(e) => tracing::debug!(error = %e, "inline read failed; using the pool"),
            }
        }
        on!(self, read, |p, q| {
            let rows = sqlx::query(q::SNAPSHOT)
                .bind(sql_id(user))
                .bind(sql_id(user))
                .bind(sql_id(user))
                .fetch_all(p)
                .await?;
            let mut snap = Snapshot::default();
            for r in &rows {
                let kind: i64 = r.try_get(0)?;
                let id = r.try_get::<i64, _>(1)? as u64;
                match kind {
                    1 => snap.friends.push(UserRow {
                        id,
                        name: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                    }),
                    2 => snap.groups.push((
                        GroupRow {
                            id,
                            name: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                            desc: r.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
                            creator: r.try_get::<Option<i64>, _>(5)?.unwrap_or(0) as u64,
                        },
                        role_from(r.try_get::<Option<i64>, _>(4)?.unwrap_or(0)),
                    )),
                    _ => snap.inbox = (id, r.try_get::<Option<i64>, _>(4)?.unwrap_or(0) as u64),
                }
            }
            Ok(snap)
        })
    }

    async fn inbox_page(&self, user: u64, after: u64, upto: u64, limit: u32) -> Result<Vec<Msg>> {
        on!(self, read, |p, q| {
            let rows = sqlx::query(q::INBOX_PAGE)
                .bind(sql_id(user))
                .bind(sql_id(after))
                .bind(sql_id(upto))
                .bind(limit as i64)
                .fetch_all(p)
                .await?;
            rows.iter().map(|r| Ok(msg_from_row(r)?)).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_everything_in_known_sizes() {
        for n in 0..300 {
            let items: Vec<usize> = (0..n).collect();
            let parts = chunks(&items);
            assert_eq!(parts.concat(), items);
            assert!(parts.iter().all(|p| bulk::SIZES.contains(&p.len())));
        }
        assert_eq!(
            bulk::pick(&bulk::ACKS, 2),
            "DELETE FROM inbox WHERE (user_id = ? AND msg_id = ?) OR (user_id = ? AND msg_id = ?)"
        );
        assert!(
            chunks_of(&[0; 1000], bulk::MAX_ACKS)
                .iter()
                .all(|c| c.len() <= 256)
        );
        assert!(bulk::pick(&bulk::SQLITE_MESSAGES, 64).matches('(').count() == 65);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("mysql://root:pw@127.0.0.1:3306/test"),
            "mysql://***@127.0.0.1:3306/test"
        );
        assert_eq!(redact("sqlite://data/chat.db"), "sqlite://data/chat.db");
    }
}
