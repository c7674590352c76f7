//! What differs between the two SQL backends, in one place: the [`on!`]
//! macro that compiles a method body once per backend, the id of an
//! inserted row, and how ids and roles are spelled in SQL.

use chat_proto::{Role, Visibility};
use sqlx::mysql::MySqlQueryResult;
use sqlx::sqlite::SqliteQueryResult;

/// Runs `$body` with `$p` bound to the pool for the access kind and `$q` to
/// the dialect's SQL constants.
macro_rules! on {
    ($self:ident, $kind:ident, |$p:ident, $q:ident| $body:expr) => {
        match &$self.pools {
            $crate::store::sql::Pools::Sqlite { read, write, .. } => {
                let $p = on!(@pick $kind, read, write);
                #[allow(unused_imports)]
                use $crate::store::sql::queries::sqlite as $q;
                $body
            }
            $crate::store::sql::Pools::Mysql(pool) => {
                let $p = pool;
                #[allow(unused_imports)]
                use $crate::store::sql::queries::mysql as $q;
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

pub(super) use on;

/// How often a store call that lost a race (a deadlock, a lock wait
/// timeout, or on Galera a certification conflict with another node's
/// commit) is run again, whole, before its caller hears `Conflict`.
pub(super) const CONFLICT_RETRIES: u32 = 8;

/// The pause before retry number `attempt` (from 1): 4 ms doubling up to
/// 128 ms, plus up to as much again at random, so that two nodes' writers
/// that collided do not collide again in step.
pub(super) fn conflict_pause(attempt: u32) -> std::time::Duration {
    let base = 2u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    std::time::Duration::from_micros(base * 1000 + nanos % (base * 1000))
}

/// Runs `$body`, a store call's whole transaction (or single statement)
/// yielding a `Result`, again from the start while it fails with
/// [`StoreError::Conflict`](crate::store::StoreError::Conflict): such a
/// transaction was rolled back, so nothing of it happened. On a Galera
/// cluster a transaction can lose at any statement (another node's commit
/// aborts it) or at COMMIT (certification), never half-applied. A `return`
/// in `$body` ends that attempt with its value.
macro_rules! retrying {
    ($body:expr) => {{
        let mut attempt = 0u32;
        loop {
            let result: $crate::store::Result<_> = async { $body }.await;
            match result {
                Err($crate::store::StoreError::Conflict(detail))
                    if attempt < $crate::store::sql::dialect::CONFLICT_RETRIES =>
                {
                    attempt += 1;
                    $crate::metrics::store_conflict();
                    tracing::debug!(error = %detail, attempt, "a store call lost a race; running it again");
                    tokio::time::sleep($crate::store::sql::dialect::conflict_pause(attempt)).await;
                }
                other => break other,
            }
        }
    }};
}
pub(super) use retrying;

/// Runs a statement with these bound values on `$ex` (a pool or `&mut
/// *tx`); yields how many rows it changed.
macro_rules! exec {
    ($ex:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        sqlx::query($sql)$(.bind($arg))*.execute($ex).await?.rows_affected()
    };
}
pub(super) use exec;

/// Whether a query with these bound values finds a row.
macro_rules! exists {
    ($ex:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        sqlx::query($sql)$(.bind($arg))*.fetch_optional($ex).await?.is_some()
    };
}
pub(super) use exists;

/// Runs a locking read (a `LOCK_*` statement) with these bound values on
/// `$ex`, for its locks only.
macro_rules! lock {
    ($ex:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        sqlx::query($sql)$(.bind($arg))*.fetch_all($ex).await?
    };
}
pub(super) use lock;

/// The id of the row an INSERT created.
pub(super) trait LastId {
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

/// Roles in SQL: 0 member, 1 creator (as in version 1), 2 admin.
pub(super) fn role_from(v: i64) -> Role {
    match v {
        1 => Role::Creator,
        2 => Role::Admin,
        _ => Role::Member,
    }
}

pub(super) fn role_to(r: Role) -> i64 {
    match r {
        Role::Member => 0,
        Role::Creator => 1,
        Role::Admin => 2,
    }
}

/// Visibility in SQL: 0 public (every version-1 group), 1 private.
pub(super) fn visibility_from(v: i64) -> Visibility {
    if v == 1 {
        Visibility::Private
    } else {
        Visibility::Public
    }
}

pub(super) fn visibility_to(v: Visibility) -> i64 {
    match v {
        Visibility::Public => 0,
        Visibility::Private => 1,
    }
}

/// Ids on the wire are u64; in SQL they are signed 64-bit. Ids we assign are
/// below 2^53, so a value that does not fit simply matches nothing.
pub(super) fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(-1)
}

/// A `before` bound in SQL: ids at or above 2^63 are past every id (ours
/// are below 2^53), so they clamp to the largest SQL integer rather than
/// wrap; no bound is the same.
pub(super) fn sql_before(before: Option<u64>) -> i64 {
    before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX))
}
