//! Row decoders: one per kind of row, generic over the backend.

use chat_proto::Msg;
use sqlx::Row;

use super::dialect::{role_from, visibility_from};
use crate::store::{GroupRow, InboxMark, InviteRow, Membership, Snapshot, UserRow};

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

/// A group from columns (id, name, description, creator_id, visibility).
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
        visibility: visibility_from(row.try_get::<i64, _>(4)?),
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
    /// See the query: 1 friend, 2 group, 3 inbox mark, 4 request in, 5
    /// request out, 6 blocked, 7 invite.
    pub kind: i64,
    pub id: i64,
    pub name: Option<String>,
    pub descr: Option<String>,
    /// Group: the role; inbox: the count; invite: who invited.
    pub num: Option<i64>,
    /// Group and invite: the creator.
    pub num2: Option<i64>,
    /// Group and invite: the visibility.
    pub num3: Option<i64>,
    /// Invite: the name of who invited.
    pub name2: Option<String>,
}

impl SnapshotRow {
    fn user(&mut self) -> UserRow {
        UserRow {
            id: self.id as u64,
            name: self.name.take().unwrap_or_default(),
        }
    }

    fn group(&mut self) -> GroupRow {
        GroupRow {
            id: self.id as u64,
            name: self.name.take().unwrap_or_default(),
            desc: self.descr.take().unwrap_or_default(),
            creator: self.num2.unwrap_or(0) as u64,
            visibility: visibility_from(self.num3.unwrap_or(0)),
        }
    }

    /// The snapshot these rows describe.
    pub fn decode(rows: impl IntoIterator<Item = SnapshotRow>) -> Snapshot {
        let mut snap = Snapshot::default();
        for mut r in rows {
            match r.kind {
                1 => snap.friends.push(r.user()),
                2 => snap.groups.push(Membership {
                    role: role_from(r.num.unwrap_or(0)),
                    group: r.group(),
                }),
                3 => {
                    snap.inbox = InboxMark {
                        upto: r.id as u64,
                        count: r.num.unwrap_or(0) as u64,
                    }
                }
                4 => snap.requests_in.push(r.user()),
                5 => snap.requests_out.push(r.user()),
                6 => snap.blocked.push(r.user()),
                _ => snap.invites.push(InviteRow {
                    by: UserRow {
                        id: r.num.unwrap_or(0) as u64,
                        name: r.name2.take().unwrap_or_default(),
                    },
                    group: r.group(),
                }),
            }
        }
        snap
    }
}
