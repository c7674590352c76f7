//! Row decoders: one per kind of row, generic over the backend.

use chat_proto::Msg;
use sqlx::Row;

use super::dialect::role_from;
use crate::store::{GroupRow, InboxMark, Membership, Snapshot, UserRow};

/// A user from columns (id, name).
pub(super) fn user_from_row<R: Row>(row: &R) -> std::result::Result<UserRow, sqlx::Error>
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
pub(super) fn group_from_row<R: Row>(row: &R) -> std::result::Result<GroupRow, sqlx::Error>
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

pub(super) fn msg_from_row<R: Row>(row: &R) -> std::result::Result<Msg, sqlx::Error>
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

/// One row of the login snapshot query (`queries::common::SNAPSHOT`), as
/// both SQLite paths (sqlx and the inline reads) read it.
pub(super) struct SnapshotRow {
    /// 1: a friend (id, name); 2: a group (id, name, descr, num = role,
    /// num2 = creator); 3: the inbox mark (id = highest unacked, num =
    /// how many).
    pub kind: i64,
    pub id: i64,
    pub name: Option<String>,
    pub descr: Option<String>,
    pub num: Option<i64>,
    pub num2: Option<i64>,
}

impl SnapshotRow {
    /// The snapshot these rows describe.
    pub fn decode(rows: impl IntoIterator<Item = SnapshotRow>) -> Snapshot {
        let mut snap = Snapshot::default();
        for r in rows {
            let id = r.id as u64;
            match r.kind {
                1 => snap.friends.push(UserRow {
                    id,
                    name: r.name.unwrap_or_default(),
                }),
                2 => snap.groups.push(Membership {
                    group: GroupRow {
                        id,
                        name: r.name.unwrap_or_default(),
                        desc: r.descr.unwrap_or_default(),
                        creator: r.num2.unwrap_or(0) as u64,
                    },
                    role: role_from(r.num.unwrap_or(0)),
                }),
                _ => {
                    snap.inbox = InboxMark {
                        upto: id,
                        count: r.num.unwrap_or(0) as u64,
                    }
                }
            }
        }
        snap
    }
}
