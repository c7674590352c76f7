//! Groups, memberships, roles and invitations on SQL. A member row carries
//! the role (0 member, 1 creator, 2 admin), when they last joined, and the
//! first message id of their history window.

use async_trait::async_trait;
use chat_proto::{Role, Visibility};
use sqlx::Row;

use super::SqlStore;
use super::dialect::{
    LastId, exec, exists, lock, on, retrying, role_from, role_to, sql_id, visibility_to,
};
use super::rows::{group_from_row, user_from_row};
use crate::store::{GroupRow, GroupStore, Invited, Join, Result, UserRow};

#[async_trait]
impl GroupStore for SqlStore {
    async fn create_group(
        &self,
        creator: u64,
        name: &str,
        desc: &str,
        visibility: Visibility,
        now_ms: u64,
    ) -> Result<u64> {
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            let r = sqlx::query(q::INSERT_GROUP)
                .bind(name)
                .bind(desc)
                .bind(sql_id(creator))
                .bind(now_ms as i64)
                .bind(visibility_to(visibility))
                .execute(&mut *tx)
                .await?;
            let id = r.last_id();
            exec!(
                &mut *tx,
                q::INSERT_MEMBER,
                sql_id(id),
                sql_id(creator),
                role_to(Role::Creator),
                now_ms as i64,
                0i64,
            );
            tx.commit().await?;
            Ok(id)
        }))
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

    async fn update_group(
        &self,
        id: u64,
        name: Option<&str>,
        desc: Option<&str>,
        visibility: Option<Visibility>,
    ) -> Result<Option<GroupRow>> {
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            exec!(
                &mut *tx,
                q::UPDATE_GROUP,
                name,
                desc,
                visibility.map(visibility_to),
                sql_id(id),
            );
            let row = sqlx::query(q::GROUP)
                .bind(sql_id(id))
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(match row {
                Some(r) => Some(group_from_row(&r)?),
                None => None,
            })
        }))
    }

    async fn join_group(&self, group: u64, user: u64, now_ms: u64, since: u64) -> Result<Join> {
        let (g, u) = (sql_id(group), sql_id(user));
        // The group's last message may still be in the message log's tail.
        let since = match self.journal.as_ref().and_then(|j| j.last_group_msg(group)) {
            Some(last) => since.max(last + 1),
            None => since,
        };
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            // A delete of the group (or an invite) under way, here or on
            // another Galera node, and this join exclude each other.
            lock!(&mut *tx, q::LOCK_GROUP, g);
            let Some(r) = sqlx::query(q::GROUP_FOR_JOIN)
                .bind(g)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(Join::NoSuchGroup);
            };
            let row = group_from_row(&r)?;
            if exists!(&mut *tx, q::ROLE, g, u) {
                return Ok(Join::AlreadyMember);
            }
            let invited = exec!(&mut *tx, q::DELETE_INVITE, g, u) > 0;
            if row.visibility == Visibility::Private && !invited {
                return Ok(Join::NoSuchGroup);
            }
            // Never before the group's last message: one stored a moment
            // ago (even in this very millisecond) is not the joiner's.
            let last: Option<i64> = sqlx::query_scalar(q::LAST_GROUP_MSG)
                .bind(g)
                .fetch_one(&mut *tx)
                .await?;
            let since = match last {
                Some(last) => sql_id(since).max(last + 1),
                None => sql_id(since),
            };
            exec!(
                &mut *tx,
                q::INSERT_MEMBER,
                g,
                u,
                role_to(Role::Member),
                now_ms as i64,
                since,
            );
            tx.commit().await?;
            Ok(Join::Joined(row))
        }))
    }

    async fn invite(&self, group: u64, user: u64, by: u64, now_ms: u64) -> Result<Invited> {
        let (g, u) = (sql_id(group), sql_id(user));
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            lock!(&mut *tx, q::LOCK_GROUP, g);
            if exists!(&mut *tx, q::ROLE, g, u) {
                return Ok(Invited::AlreadyMember);
            }
            exec!(&mut *tx, q::UPSERT_INVITE, g, u, sql_id(by), now_ms as i64);
            tx.commit().await?;
            Ok(Invited::Invited)
        }))
    }

    async fn decline_invite(&self, group: u64, user: u64) -> Result<bool> {
        retrying!(on!(self, write, |p, q| Ok(exec!(
            p,
            q::DELETE_INVITE,
            sql_id(group),
            sql_id(user)
        ) > 0)))
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

    async fn member_since(&self, group: u64, user: u64) -> Result<Option<u64>> {
        on!(self, read, |p, q| {
            let v: Option<i64> = sqlx::query_scalar(q::MEMBER_SINCE)
                .bind(sql_id(group))
                .bind(sql_id(user))
                .fetch_optional(p)
                .await?;
            Ok(v.map(|v| v as u64))
        })
    }

    async fn set_role(&self, group: u64, user: u64, role: Role) -> Result<bool> {
        let (g, u) = (sql_id(group), sql_id(user));
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            // MySQL counts only changed rows: check membership first.
            if !exists!(&mut *tx, q::ROLE, g, u) {
                return Ok(false);
            }
            exec!(&mut *tx, q::SET_ROLE, role_to(role), g, u);
            tx.commit().await?;
            Ok(true)
        }))
    }

    async fn transfer_group(&self, group: u64, from: u64, to: u64) -> Result<bool> {
        let (g, from, to) = (sql_id(group), sql_id(from), sql_id(to));
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            if !exists!(&mut *tx, q::ROLE, g, to) {
                return Ok(false);
            }
            exec!(&mut *tx, q::SET_ROLE, role_to(Role::Creator), g, to);
            exec!(&mut *tx, q::SET_ROLE, role_to(Role::Admin), g, from);
            exec!(&mut *tx, q::SET_CREATOR, to, g);
            tx.commit().await?;
            Ok(true)
        }))
    }

    async fn leave_group(&self, group: u64, user: u64) -> Result<bool> {
        retrying!(on!(self, write, |p, q| Ok(exec!(
            p,
            q::DELETE_MEMBER,
            sql_id(group),
            sql_id(user)
        ) > 0)))
    }

    async fn delete_group(&self, group: u64) -> Result<Vec<u64>> {
        let g = sql_id(group);
        retrying!(on!(self, write, |p, q| {
            let mut tx = p.begin().await?;
            // Locked before the members are read: a join under way
            // (here, or on another Galera node, whose commit would then
            // abort this one) ends first, and its member is listed.
            lock!(&mut *tx, q::LOCK_GROUP, g);
            let ids: Vec<i64> = sqlx::query_scalar(q::MEMBER_IDS)
                .bind(g)
                .fetch_all(&mut *tx)
                .await?;
            for sql in [
                q::DELETE_MEMBERS,
                q::DELETE_INVITES_OF_GROUP,
                q::DELETE_GROUP,
            ] {
                exec!(&mut *tx, sql, g);
            }
            tx.commit().await?;
            Ok(ids.into_iter().map(|v| v as u64).collect())
        }))
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
}
