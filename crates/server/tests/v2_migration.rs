//! "Changes from version 1": an existing database is migrated at start
//! without losing anything. Friendships, groups (all public), members
//! (roles kept) and messages carry over, and an existing member's history
//! window starts at the group's first message.
//!
//! The version 1 database is made the way a version 1 server left it: the
//! version 1 migrations (0001, 0002, applied as the server applies them),
//! then rows as version 1 wrote them. The password hash is borrowed from an
//! account registered on a throwaway server (argon2 hashes carry their own
//! parameters). Everything after that is black-box, over TCP.

use chat_testkit::fixture::*;
use chat_testkit::{TestClient, TestServer, test_config};
use serde_json::json;
use sqlx::Row;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Connection, SqlSafeStr, SqliteConnection};

/// A message row as version 1 wrote it: id, sender, recipient, group,
/// text, ts.
type OldMsg = (i64, i64, Option<i64>, Option<i64>, &'static str, i64);

fn migration(version: i64, name: &'static str, sql: &'static str) -> Migration {
    Migration::new(
        version,
        name.into(),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )
}

/// A password hash for `PASSWORD`, as the server makes them.
async fn a_password_hash() -> anyhow::Result<String> {
    let server = TestServer::start().await?;
    let db = server.db.clone();
    let mut c = server.client().await?;
    c.register("someone", PASSWORD).await?;
    drop(c);
    let dir = server.stop().await?;
    let mut conn = SqliteConnection::connect(&db).await?;
    let hash: String = sqlx::query("SELECT pw_hash FROM users")
        .fetch_one(&mut conn)
        .await?
        .get(0);
    conn.close().await?;
    drop(dir);
    Ok(hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_database_carries_over() -> anyhow::Result<()> {
    let hash = a_password_hash().await?;
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("v1.db").display());
    {
        let mut conn = SqliteConnection::connect(&format!("{db}?mode=rwc")).await?;
        let v1 = Migrator::with_migrations(vec![
            migration(
                1,
                "init",
                include_str!("../migrations/sqlite/0001_init.sql"),
            ),
            migration(
                2,
                "node slots",
                include_str!("../migrations/sqlite/0002_node_slots.sql"),
            ),
        ]);
        v1.run(&mut conn).await?;
        // alice (1), bob (2), carol (3). alice and bob are friends.
        let t0: i64 = 1_700_000_000_000;
        for (id, name) in [(1, "alice"), (2, "bob"), (3, "carol")] {
            sqlx::query("INSERT INTO users (id, name, pw_hash, created_ms) VALUES (?, ?, ?, ?)")
                .bind(id)
                .bind(name)
                .bind(&hash)
                .bind(t0)
                .execute(&mut conn)
                .await?;
        }
        for (u, f) in [(1, 2), (2, 1)] {
            sqlx::query(
                "INSERT INTO friendships (user_id, friend_id, created_ms) VALUES (?, ?, ?)",
            )
            .bind(u)
            .bind(f)
            .bind(t0)
            .execute(&mut conn)
            .await?;
        }
        // alice's group "old club"; a message; then bob joins; another.
        sqlx::query(
            "INSERT INTO chat_groups (id, name, description, creator_id, created_ms) \
             VALUES (1, 'old club', 'from v1', 1, ?)",
        )
        .bind(t0)
        .execute(&mut conn)
        .await?;
        for (user, role, joined) in [(1, 1, t0), (2, 0, t0 + 2000)] {
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, role, joined_ms) VALUES (1, ?, ?, ?)",
            )
            .bind(user)
            .bind(role)
            .bind(joined)
            .execute(&mut conn)
            .await?;
        }
        let msgs: [OldMsg; 4] = [
            (1000, 1, None, Some(1), "before bob joined", t0 + 1000),
            (1001, 1, None, Some(1), "after bob joined", t0 + 3000),
            (1002, 1, Some(2), None, "hello bob", t0 + 4000),
            (1003, 2, Some(1), None, "hello alice", t0 + 5000),
        ];
        for (id, from, to, group, text, ts) in msgs {
            sqlx::query(
                "INSERT INTO messages (id, sender_id, recipient_id, group_id, text, cid, ts) \
                 VALUES (?, ?, ?, ?, ?, NULL, ?)",
            )
            .bind(id)
            .bind(from)
            .bind(to)
            .bind(group)
            .bind(text)
            .bind(ts)
            .execute(&mut conn)
            .await?;
        }
        // bob has not acked "hello bob".
        sqlx::query("INSERT INTO inbox (user_id, msg_id) VALUES (2, 1002)")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
    }

    let server = TestServer::start_config(test_config(db.clone())).await?;
    let mut a = server.client().await?;
    let r = a.login(1, PASSWORD).await?;
    assert_eq!(friend_ids(&r), vec![2], "{r}");
    assert_eq!(
        r["groups"],
        json!([{"id": 1, "name": "old club", "desc": "from v1", "visibility": "public", "role": "creator"}])
    );
    for key in ["requests_in", "requests_out", "blocked", "invites"] {
        assert_eq!(r[key], json!([]), "{key}: {r}");
    }
    let mut b = TestClient::connect(server.addr).await?;
    let r = b.login(2, PASSWORD).await?;
    assert_eq!(r["unread"], json!(1), "{r}");
    assert_eq!(msgs(&mut b, 1).await?[0]["text"], json!("hello bob"));
    assert_eq!(r["groups"][0]["role"], json!("member"), "roles kept: {r}");
    assert_eq!(
        roles(&mut b, 1).await?,
        vec![(1, "creator".to_owned()), (2, "member".to_owned())]
    );

    // The existing member reads the group from its first message.
    let h = b.ok(json!({"op": "history", "group": 1})).await?;
    assert_eq!(
        history_texts(&h),
        vec!["after bob joined", "before bob joined"]
    );
    let h = b.ok(json!({"op": "history", "with": 1})).await?;
    assert_eq!(history_texts(&h), vec!["hello alice", "hello bob"]);

    // Still friends: chat works at once, both ways.
    chat(&mut a, 2, "after the upgrade").await?;
    assert_eq!(
        msgs(&mut b, 1).await?[0]["text"],
        json!("after the upgrade")
    );
    chat(&mut b, 1, "indeed").await?;
    // The group is public: carol may join by id, and reads only from then.
    let mut c = TestClient::connect(server.addr).await?;
    c.login(3, PASSWORD).await?;
    c.ok(json!({"op": "join_group", "group": 1})).await?;
    let h = c.ok(json!({"op": "history", "group": 1})).await?;
    assert_eq!(h["messages"], json!([]), "{h}");
    // New ids do not collide with the old ones.
    let id = group_chat(&mut a, 1, "new era").await?;
    assert!(id > 1003);
    let h = c.ok(json!({"op": "history", "group": 1})).await?;
    assert_eq!(history_texts(&h), vec!["new era"]);
    // The new rules hold for the old friendship: alice may block bob.
    a.ok(json!({"op": "block", "user": 2})).await?;
    b.event_of("friend_removed").await?;
    drop(server);
    drop(dir);
    Ok(())
}
