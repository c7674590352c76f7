//! The schema migrations of each dialect, embedded at build time and run
//! at start.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::mysql::MySqlPool;

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
    ])
}

/// Runs the MySQL migrations under a named lock of our own, so that nodes
/// starting together migrate one after the other. (sqlx takes a lock too,
/// but asks for it with a negative timeout, which MariaDB treats as "do not
/// wait".)
pub(super) async fn migrate_mysql(pool: &MySqlPool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK('chat_migrations', 120)")
        .fetch_one(&mut *conn)
        .await?;
    if got != Some(1) {
        return Err(StoreError::Unavailable(
            "another node held the migration lock for two minutes".into(),
        ));
    }
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
    let result = mysql_migrator().run(&mut *conn).await;
    let _ = sqlx::query("SELECT RELEASE_LOCK('chat_migrations')")
        .execute(&mut *conn)
        .await;
    result.map_err(|e| StoreError::Internal(format!("migration failed: {e}")))
}
