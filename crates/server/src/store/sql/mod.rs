//! [`SqlStore`]: the [`Store`](super::Store) on SQLite or MySQL/MariaDB
//! through sqlx.
//!
//! The two backends share their code: each method body is written once and
//! compiled once per backend by the [`on!`](dialect::on) macro, which binds
//! the concrete pool and the module of SQL constants for that dialect. No
//! SQL is built at run time; every value is a bound parameter.
//!
//! SQLite allows one writer at a time, so its store keeps two pools: one
//! connection for writes and a few for reads (WAL lets reads run beside the
//! writer). MySQL uses one pool for both. On a MariaDB Galera cluster the
//! same code runs on every node: reads wait for the cluster's earlier
//! commits (`galera_session`), locks are row writes that Galera certifies
//! (migration 0004), and a call that loses a certification conflict runs
//! again (`dialect::retrying!`).
//!
//! The pieces, by concern:
//! - [`options`]: durability and pool settings;
//! - [`url`]: reading `--db` URLs, hiding their passwords;
//! - [`dialect`]: what differs between the backends;
//! - [`queries`] and [`bulk`]: every statement;
//! - [`migrate`]: the schema, per dialect;
//! - [`rows`]: row decoders;
//! - [`inline`]: the login's SQLite reads on the calling thread;
//! - [`checkpoint`]: the WAL checkpointer;
//! - [`journal`]: SQLite's message log (one append and fsync a commit),
//!   applied to the database file in the background;
//! - [`batch`]: the writer's batched transaction (MySQL);
//! - [`accounts`], [`friends`], [`groups`], [`messages`], [`slots`]: the
//!   store traits, one file each.

mod dialect;

mod accounts;
mod batch;
mod bulk;
mod checkpoint;
mod friends;
mod groups;
mod inline;
pub(crate) mod journal;
mod messages;
mod migrate;
mod options;
mod queries;
mod rows;
mod slots;
mod url;

pub use options::{SqliteSync, StoreOptions};
pub use url::{redact, sqlite_path};

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio_util::sync::CancellationToken;

use async_trait::async_trait;

use dialect::on;

use super::{Result, Store, StoreError};

/// The connections of one backend.
pub(crate) enum Pools {
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        /// One connection that moves the WAL into the database file.
        checkpoints: SqlitePool,
    },
    Mysql(MySqlPool),
}

/// The SQL store. Cheap to share behind an `Arc`.
pub struct SqlStore {
    pools: Pools,
    /// Hot reads on the calling thread (SQLite only).
    inline: Option<inline::InlineReads>,
    /// SQLite's message log: the writer's batches go there, and message
    /// reads merge its tail with the tables.
    journal: Option<Arc<journal::Journal>>,
    /// Stops the background checkpointer (SQLite).
    stop: CancellationToken,
    /// What `--db` named, without credentials, for logs.
    description: String,
    /// Whether a batch checks again, at commit, that each message's sender
    /// may still write to its target (a shared database: other nodes change
    /// relations; one node alone keeps its cache coherent itself).
    verify_at_commit: bool,
}

impl SqlStore {
    /// Opens the store named by `url` (`sqlite://PATH` or
    /// `mysql://user:pass@host:port/db`), creating an SQLite file and its
    /// folder when missing, and runs the migrations.
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<SqlStore> {
        let description = url::redact(url);
        let stop = CancellationToken::new();
        let wal_restart = Arc::new(AtomicBool::new(false));
        let (pools, inline, journal) = if let Some(path) = url::sqlite_path(url) {
            let pools = open_sqlite(path, opts, &wal_restart, &stop).await?;
            let jopts = journal::JournalOptions {
                sync: opts.sqlite_sync == SqliteSync::Full,
                apply_every: opts.log_apply_every,
                wal_restart: wal_restart.clone(),
                gate: match &pools {
                    Pools::Sqlite { write, .. } => Some(write.clone()),
                    Pools::Mysql(_) => None,
                },
            };
            let path = path.to_owned();
            let journal = tokio::task::spawn_blocking(move || journal::Journal::open(&path, jopts))
                .await
                .map_err(|e| StoreError::Internal(format!("opening the message log: {e}")))??;
            (
                pools,
                Some(inline::InlineReads::new(journal.db())),
                Some(journal),
            )
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            (open_mysql(url, opts).await?, None, None)
        } else {
            return Err(StoreError::Internal(format!(
                "unsupported --db URL {description}: use sqlite://PATH or mysql://USER:PASS@HOST:PORT/DB"
            )));
        };
        Ok(SqlStore {
            pools,
            inline,
            journal,
            stop,
            description,
            verify_at_commit: opts.verify_at_commit,
        })
    }

    /// The store's URL without credentials.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Closes every connection (after a final flush).
    pub async fn close(&self) {
        if let Some(j) = &self.journal {
            // Everything the log holds goes into the database file first.
            j.shutdown(Duration::from_secs(30)).await;
        }
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
}

impl Drop for SqlStore {
    fn drop(&mut self) {
        // A store dropped without `close` still stops its log's applier
        // (after a last apply).
        if let Some(j) = &self.journal {
            j.request_stop();
        }
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
}

/// Opens (creating when missing) an SQLite file in WAL mode, migrates it,
/// and starts its checkpointer.
async fn open_sqlite(
    path: &str,
    opts: &StoreOptions,
    wal_restart: &Arc<AtomicBool>,
    stop: &CancellationToken,
) -> Result<Pools> {
    if let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create the folder {}: {e}", dir.display()))
        })?;
    }
    // SQLite says only "unable to open database file"; the OS says why.
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open the SQLite file {path}: {e}")))?;
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
    migrate::sqlite_migrator()
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
    tokio::spawn(checkpoint::checkpoint_loop(
        checkpoints.clone(),
        wal_restart.clone(),
        stop.clone(),
    ));
    Ok(Pools::Sqlite {
        read,
        write,
        checkpoints,
    })
}

/// Connects to MySQL/MariaDB and migrates the schema.
async fn open_mysql(url: &str, opts: &StoreOptions) -> Result<Pools> {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let connect = MySqlConnectOptions::from_str(&url)
        .map_err(|e| StoreError::Internal(format!("bad --db URL: {e}")))?
        .charset("utf8mb4");
    let (host, port) = (connect.get_host().to_owned(), connect.get_port());
    let pool = match MySqlPoolOptions::new()
        .max_connections(opts.pool_size.max(2))
        .acquire_timeout(opts.acquire_timeout)
        .after_connect(|conn, _| Box::pin(galera_session(conn)))
        .connect_with(connect)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            // "pool timed out" hides the cause: ask the network.
            let reach = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await;
            return Err(match reach {
                Ok(Err(io)) => {
                    StoreError::Unavailable(format!("cannot reach MySQL at {host}:{port}: {io}"))
                }
                Err(_) => StoreError::Unavailable(format!(
                    "cannot reach MySQL at {host}:{port}: no answer within 2 s"
                )),
                Ok(Ok(_)) => StoreError::from(e),
            });
        }
    };
    if is_galera(&mut *pool.acquire().await?).await? {
        tracing::info!(
            "the database is a Galera cluster node: reads wait for the cluster's \
             earlier commits (wsrep_sync_wait = 1), and calls that lose a \
             certification conflict are run again"
        );
    }
    migrate::migrate_mysql(&pool).await?;
    Ok(Pools::Mysql(pool))
}

/// Whether the server is a node of a Galera cluster (MariaDB with
/// `wsrep_on`); MySQL and a MariaDB alone answer no.
async fn is_galera(conn: &mut sqlx::MySqlConnection) -> std::result::Result<bool, sqlx::Error> {
    let row: Option<(String, String)> = sqlx::query_as(queries::mysql::WSREP_ON)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some_and(|(_, v)| v.eq_ignore_ascii_case("ON")))
}

/// Sets up each new connection to a Galera node so that it reads its
/// writes, wherever they were made: a read first waits until this node
/// has applied everything the cluster committed before it (a user created
/// through one node logs in through another; a retry on another node finds
/// its first attempt). Nothing on other servers.
async fn galera_session(conn: &mut sqlx::MySqlConnection) -> std::result::Result<(), sqlx::Error> {
    if is_galera(conn).await? {
        sqlx::query(queries::mysql::SYNC_WAIT)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
