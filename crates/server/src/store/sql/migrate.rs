//! The schema migrations of each dialect, embedded at build time and run
//! at start.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::time::Duration;

use sqlx::mysql::{MySqlConnection, MySqlPool};

use crate::store::{Result, StoreError};

fn migration(version: i64, name: &'static str, sql: &'static str) -> Migration {
    Migration::new(
        version,
        name.into(),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )
}

pub(super) fn sqlite_migrator() -> Migrator {
    Migrator::with_migrations(vec![
        migration(
            1,
            "init",
            include_str!("../../../migrations/sqlite/0001_init.sql"),
        ),
        migration(
            2,
            "node slots",
            include_str!("../../../migrations/sqlite/0002_node_slots.sql"),
        ),
        migration(
            3,
            "consent",
            include_str!("../../../migrations/sqlite/0003_consent.sql"),
        ),
        migration(
            4,
            "message log",
            include_str!("../../../migrations/sqlite/0004_message_log.sql"),
        ),
    ])
}

fn mysql_migrator() -> Migrator {
    Migrator::with_migrations(vec![
        migration(
            1,
            "init",
            include_str!("../../../migrations/mysql/0001_init.sql"),
        ),
        migration(
            2,
            "node slots",
            include_str!("../../../migrations/mysql/0002_node_slots.sql"),
        ),
        migration(
            3,
            "consent",
            include_str!("../../../migrations/mysql/0003_consent.sql"),
        ),
        migration(
            4,
            "write locks",
            include_str!("../../../migrations/mysql/0004_write_locks.sql"),
        ),
    ])
}

/// The migration lock: one row while a node migrates. A table, not
/// `GET_LOCK`: Galera does not replicate named locks, so on a Galera
/// cluster nodes starting together on different database nodes would each
/// get one. Two inserts of the row conflict on every server (a duplicate
/// key on one server, a certification conflict across Galera nodes).
const CREATE_LOCK_TABLE: &str = "CREATE TABLE IF NOT EXISTS _chat_migration_lock (\
     id BIGINT NOT NULL PRIMARY KEY, owner VARCHAR(64) NOT NULL, \
     expires_ms BIGINT NOT NULL) ENGINE=InnoDB";
const TAKE_LOCK: &str = "INSERT INTO _chat_migration_lock (id, owner, expires_ms) VALUES (1, ?, ?)";
/// Takes over the lock of a node that died migrating (its lease ran out).
const TAKE_STALE_LOCK: &str = "UPDATE _chat_migration_lock SET owner = ?, expires_ms = ? \
     WHERE id = 1 AND expires_ms < ?";
const RENEW_LOCK: &str =
    "UPDATE _chat_migration_lock SET expires_ms = ? WHERE id = 1 AND owner = ?";
const RELEASE_LOCK: &str = "DELETE FROM _chat_migration_lock WHERE id = 1 AND owner = ?";

/// How long the lock holds without renewal (it is renewed every
/// [`LOCK_RENEW`] while the migrations run).
const LOCK_LEASE: Duration = Duration::from_secs(30);
const LOCK_RENEW: Duration = Duration::from_secs(5);
/// How long a start waits for another node's migrations.
const LOCK_PATIENCE: Duration = Duration::from_secs(120);

/// Runs the MySQL migrations under the migration lock, so that nodes
/// starting together migrate one after the other (on one server or on a
/// Galera cluster), and a start interrupted mid-migration is finished by
/// the next one.
pub(super) async fn migrate_mysql(pool: &MySqlPool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query(CREATE_LOCK_TABLE).execute(&mut *conn).await?;
    // Unique among the stores of all nodes (and of one process).
    static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let owner = format!(
        "{}-{}-{}",
        std::process::id(),
        OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        crate::ids::now_ms() % 1_000_000_000
    );
    take_lock(&mut conn, &owner).await?;
    // Renew the lease while the migrations run, on another connection.
    let renew = {
        let (pool, owner) = (pool.clone(), owner.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LOCK_RENEW).await;
                let _ = sqlx::query(RENEW_LOCK)
                    .bind(lease_end())
                    .bind(&owner)
                    .execute(&pool)
                    .await;
            }
        })
    };
    let result = run_mysql_migrations(&mut conn).await;
    renew.abort();
    let _ = sqlx::query(RELEASE_LOCK)
        .bind(&owner)
        .execute(&mut *conn)
        .await;
    result
}

fn lease_end() -> i64 {
    (crate::ids::now_ms() + LOCK_LEASE.as_millis() as u64) as i64
}

/// Waits for the migration lock (at most [`LOCK_PATIENCE`]).
async fn take_lock(conn: &mut MySqlConnection, owner: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + LOCK_PATIENCE;
    loop {
        let taken = match sqlx::query(TAKE_LOCK)
            .bind(owner)
            .bind(lease_end())
            .execute(&mut *conn)
            .await
        {
            Ok(_) => true,
            Err(e) if held(&e) => match sqlx::query(TAKE_STALE_LOCK)
                .bind(owner)
                .bind(lease_end())
                .bind(crate::ids::now_ms() as i64)
                .execute(&mut *conn)
                .await
            {
                Ok(r) => r.rows_affected() == 1,
                Err(e) if held(&e) => false,
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        if taken {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(StoreError::Unavailable(
                "another node held the migration lock for two minutes".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether taking the lock failed because someone else holds it or took
/// it at the same moment: a duplicate key, or a lost race (a deadlock, or
/// on Galera a certification conflict).
fn held(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|my| matches!(my.number(), 1062 | 1213 | 1205)),
        _ => false,
    }
}

async fn run_mysql_migrations(conn: &mut MySqlConnection) -> Result<()> {
    // A start that died in the middle of a migration left it marked as
    // failed, with part of its DDL applied (MySQL does not roll DDL
    // back). Our migrations are written to run again over such a half:
    // forget the failed attempt and run it again.
    let table: Option<String> = sqlx::query_scalar(
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if table.is_some() {
        let dropped = sqlx::query("DELETE FROM _sqlx_migrations WHERE success = FALSE")
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if dropped > 0 {
            tracing::warn!(
                migrations = dropped,
                "an earlier start was interrupted mid-migration; running it again"
            );
        }
    }
    let mut migrator = mysql_migrator();
    // Ours is held (sqlx's own is GET_LOCK, which Galera does not share).
    migrator.set_locking(false);
    migrator
        .run(&mut *conn)
        .await
        .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))
}
