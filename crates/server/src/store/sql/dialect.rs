//! What differs between the two SQL backends, in one place: the [`on!`]
//! macro that compiles a method body once per backend, the id of an
//! inserted row, and how ids and roles are spelled in SQL.

use chat_proto::Role;
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

pub(super) fn role_from(v: i64) -> Role {
    if v == 1 { Role::Creator } else { Role::Member }
}

pub(super) fn role_to(r: Role) -> i64 {
    match r {
        Role::Creator => 1,
        Role::Member => 0,
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
