//! Upgrading a version-1 database. The fixtures in `fixtures/v1/` were
//! written by the version-1 server binary (see their README and
//! `make-v1.sh`), never by this code: an SQLite dump and a MariaDB dump,
//! each with a manifest of what the v1 server showed every user. The test
//! loads a dump into a fresh database, starts the current server on it
//! (which runs the newer migrations), and checks over TCP that nothing was
//! lost; then writes a little, restarts on the same database (the
//! migrations must be idempotent) and checks again.
//!
//! Over 500 lines: one scenario, checked end to end on two stores, with the
//! readers of its manifest and of `_sqlx_migrations` beside it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, ensure};
use chat_testkit::fixture::msgs;
use chat_testkit::{TestClient, TestServer, test_config};
use serde_json::{Value, json};

const SQLITE_DUMP: &str = include_str!("fixtures/v1/sqlite.sql");
const SQLITE_MANIFEST: &str = include_str!("fixtures/v1/sqlite.json");
const MYSQL_DUMP: &str = include_str!("fixtures/v1/mysql.sql");
const MYSQL_MANIFEST: &str = include_str!("fixtures/v1/mysql.json");

/// How long to listen for events that must not come.
const QUIET: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_sqlite_database_upgrades_without_loss() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("chat.db");
    let conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch(SQLITE_DUMP)
        .context("loading fixtures/v1/sqlite.sql")?;
    // As the v1 server left it (a dump does not carry the journal mode).
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    ensure!(mode == "wal", "journal mode {mode}");
    drop(conn);
    upgrade(Store::Sqlite(path), Manifest::parse(SQLITE_MANIFEST)?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_mysql_database_upgrades_without_loss() -> anyhow::Result<()> {
    let Some(base) = chat_testkit::mysql_url() else {
        return Ok(());
    };
    let url = chat_testkit::fresh_mysql_db(&base).await?;
    let result = async {
        use sqlx::Connection;
        let mut conn = sqlx::MySqlConnection::connect(&url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(MYSQL_DUMP))
            .execute(&mut conn)
            .await
            .context("loading fixtures/v1/mysql.sql")?;
        let _ = conn.close().await;
        upgrade(Store::Mysql(url.clone()), Manifest::parse(MYSQL_MANIFEST)?).await
    }
    .await;
    chat_testkit::drop_mysql_db(&url).await?;
    result
}

/// Start on the v1 data, check, write, restart, check again; the v1
/// migration rows stay as v1 wrote them and a restart applies nothing.
async fn upgrade(store: Store, fx: Manifest) -> anyhow::Result<()> {
    let v1_rows = store.migrations().await?;
    let versions: Vec<i64> = v1_rows.iter().map(|r| r.version).collect();
    ensure!(
        versions == [1, 2],
        "the fixture has migrations {versions:?}"
    );

    let server = TestServer::start_config(test_config(store.url()))
        .await
        .context("the current server does not start on the version-1 database")?;
    check_v1_data(&server, &fx, None)
        .await
        .context("first start on the version-1 data")?;
    let added = write_after_upgrade(&server, &fx)
        .await
        .context("writing after the upgrade")?;
    server.stop().await?;

    let rows = store.migrations().await?;
    ensure!(
        rows.len() > 2 && rows[..2] == v1_rows[..],
        "the version-1 rows of _sqlx_migrations changed or nothing was migrated:\n\
         before {v1_rows:#?}\nafter {rows:#?}"
    );
    ensure!(
        rows.iter().all(|r| r.success),
        "a migration did not succeed: {rows:#?}"
    );

    let server = TestServer::start_config(test_config(store.url()))
        .await
        .context("the current server does not restart on the upgraded database")?;
    check_v1_data(&server, &fx, Some(&added))
        .await
        .context("after the restart")?;
    check_added(&server, &fx, &added)
        .await
        .context("after the restart")?;
    server.stop().await?;
    let again = store.migrations().await?;
    ensure!(
        again == rows,
        "a restart changed _sqlx_migrations:\nbefore {rows:#?}\nafter {again:#?}"
    );
    Ok(())
}

/// Everything the v1 server showed each user, shown again: accounts,
/// tokens, friends, groups (public, roles kept), members, the unacked
/// messages replayed, every conversation's history. With `added`, messages
/// newer than the upgrade are left out of histories, and the member who
/// joined after it is expected in the member list.
async fn check_v1_data(
    server: &TestServer,
    fx: &Manifest,
    added: Option<&Added>,
) -> anyhow::Result<()> {
    for key in fx.keys() {
        let id = fx.user(&key);
        let v1 = &fx.m["v1_view"][&key];
        let mut c = server.client().await?;
        let r = c
            .login(id, fx.password(&key))
            .await
            .with_context(|| format!("{key} logs in with the password"))?;
        let ctx = |what: &str| format!("{key}: {what}");
        ensure!(r["user"]["id"] == json!(id), ctx("user"));
        ensure!(
            r["user"]["name"] == v1["login"]["user"]["name"],
            "{}: {} vs v1 {}",
            ctx("name"),
            r["user"],
            v1["login"]["user"]
        );
        check_lists(&r, &v1["login"]).with_context(|| ctx("login lists"))?;

        // Exactly the unacked messages, oldest first, as v1 replayed them.
        let want: Vec<u64> = fx.m["unacked"][&key]
            .as_array()
            .context("unacked")?
            .iter()
            .map(|l| fx.msg(l.as_str().unwrap_or("")))
            .collect();
        let v1_ids: Vec<u64> = ids(&v1["replay"]);
        ensure!(v1_ids == want, "the manifest disagrees with itself");
        ensure!(
            r["unread"] == json!(want.len()),
            "{}: unread {} but {} unacked",
            ctx("unread"),
            r["unread"],
            want.len()
        );
        let replay = msgs(&mut c, want.len())
            .await
            .with_context(|| ctx("replay"))?;
        ensure!(
            Value::from(replay.clone()) == v1["replay"],
            "{}: got {replay:#?}\nv1 replayed {:#}",
            ctx("replay"),
            v1["replay"]
        );
        let more: Vec<Value> = c
            .events_within(QUIET)
            .await?
            .into_iter()
            .filter(|e| e["ev"] == json!("msg"))
            .collect();
        ensure!(
            more.is_empty(),
            "{}: {more:?}",
            ctx("more than the unacked")
        );

        let s = c.ok(json!({"op": "sync"})).await?;
        check_lists(&s, &v1["login"]).with_context(|| ctx("sync lists"))?;

        // Every conversation, complete.
        let before = added.map(|a| a.first_new_id);
        for (conv, v1_msgs) in v1["history"].as_object().context("history")? {
            let (kind, with) = conv.split_once(':').context("conversation key")?;
            let with: u64 = with.parse()?;
            let mut req = json!({"op": "history", "limit": 100});
            req[if kind == "with" { "with" } else { "group" }] = json!(with);
            if let Some(b) = before {
                req["before"] = json!(b);
            }
            let h = c.ok(req).await.with_context(|| ctx(conv))?;
            ensure!(
                h["messages"] == *v1_msgs,
                "{}: history {conv}: got {:#}\nv1 showed {v1_msgs:#}",
                ctx("history"),
                h["messages"]
            );
        }
        for (gid, v1_members) in v1["members"].as_object().context("members")? {
            let gid: u64 = gid.parse()?;
            let m = c.ok(json!({"op": "group_members", "group": gid})).await?;
            let mut want = project(v1_members, &["id", "name", "role"]);
            if let Some(a) = added
                && gid == fx.group("unicode")
            {
                want.push(json!({"id": a.frank, "name": "frank", "role": "member"}));
            }
            ensure!(
                project(&m["members"], &["id", "name", "role"]) == want,
                "{}: members of {gid}: got {:#}\nv1 showed {v1_members:#}",
                ctx("members"),
                m["members"]
            );
        }
    }

    // Tokens: the kept ones log in and come back unchanged; the revoked one
    // stays refused.
    for (key, token) in fx.m["kept_tokens"].as_object().context("kept")? {
        let mut c = server.client().await?;
        let r = c
            .ok(json!({"op": "login", "user": fx.user(key), "token": token}))
            .await
            .with_context(|| format!("{key} logs in with the token kept from v1"))?;
        ensure!(r["token"] == *token, "{key}: token login returned {r}");
    }
    for (key, token) in fx.m["revoked_tokens"].as_object().context("revoked")? {
        let mut c = server.client().await?;
        c.fails(
            json!({"op": "login", "user": fx.user(key), "token": token}),
            "bad_credentials",
        )
        .await
        .with_context(|| format!("{key}'s token revoked in v1"))?;
    }

    check_scenario(server, fx).await
}

/// The login or sync lists against what v1 showed: friends, groups (now
/// all public, role kept), and no requests, blocks or invites.
fn check_lists(r: &Value, v1: &Value) -> anyhow::Result<()> {
    let friends = project(&r["friends"], &["id", "name"]);
    ensure!(
        friends == project(&v1["friends"], &["id", "name"]),
        "friends {friends:?} vs v1 {:#}",
        v1["friends"]
    );
    let groups = r["groups"].as_array().context("groups")?;
    for g in groups {
        ensure!(g["visibility"] == json!("public"), "group not public: {g}");
    }
    let fields = ["id", "name", "desc", "role"];
    ensure!(
        project(&r["groups"], &fields) == project(&v1["groups"], &fields),
        "groups {:#} vs v1 {:#}",
        r["groups"],
        v1["groups"]
    );
    for list in ["requests_in", "requests_out", "blocked", "invites"] {
        ensure!(r[list] == json!([]), "{list}: {}", r[list]);
    }
    Ok(())
}

/// Facts of the scenario, stated here rather than read from the v1 view,
/// so that a wrong manifest cannot make the test pass.
async fn check_scenario(server: &TestServer, fx: &Manifest) -> anyhow::Result<()> {
    let (club, uni, gone) = (fx.group("club"), fx.group("unicode"), fx.group("gone"));
    let mut a = session(server, fx, "alice").await?;
    let mut b = session(server, fx, "bob").await?;
    let mut c = session(server, fx, "carol").await?;
    let mut d = session(server, fx, "dave").await?;
    let mut e = session(server, fx, "erin").await?;

    // erin joined the unicode group after m07: her window starts at the
    // group's first message, so she still reads it.
    // Messages written after the upgrade are left out.
    let before = fx.max_msg_id() + 1;
    let h = e
        .ok(json!({"op": "history", "group": uni, "before": before}))
        .await?;
    ensure!(
        ids(&h["messages"]) == [fx.msg("m08"), fx.msg("m07")],
        "erin's history of the unicode group: {h}"
    );
    // dave joined the unicode group and quit it in v1.
    d.fails(json!({"op": "history", "group": uni}), "not_member")
        .await?;
    let h = d
        .ok(json!({"op": "history", "group": club, "before": before}))
        .await?;
    ensure!(
        ids(&h["messages"]) == [fx.msg("m12"), fx.msg("m06"), fx.msg("m05")],
        "dave's history of the club: {h}"
    );
    let h = a
        .ok(json!({"op": "history", "with": fx.user("bob"), "before": before}))
        .await?;
    ensure!(
        ids(&h["messages"]) == [fx.msg("m09"), fx.msg("m03"), fx.msg("m02"), fx.msg("m01")],
        "alice's history with bob: {h}"
    );
    // The friendship removed in v1 stays removed; the deleted group stays
    // deleted.
    e.fails(
        json!({"op": "chat", "to": fx.user("bob"), "text": "hi"}),
        "not_friend",
    )
    .await?;
    d.fails(json!({"op": "join_group", "group": gone}), "no_such_group")
        .await?;

    // A v1 friendship is a friendship, not a request.
    a.fails(
        json!({"op": "add_friend", "user": fx.user("bob")}),
        "already_friends",
    )
    .await?;
    // Roles carry their v1 powers: a v1 member is a plain member, the v1
    // creator is the creator (makes bob an admin and back).
    b.fails(
        json!({"op": "kick", "group": club, "user": fx.user("carol")}),
        "forbidden",
    )
    .await?;
    for role in ["admin", "member"] {
        a.ok(json!({"op": "set_role", "group": club, "user": fx.user("bob"), "role": role}))
            .await
            .with_context(|| format!("the v1 creator makes bob {role}"))?;
        let m = c.ok(json!({"op": "group_members", "group": club})).await?;
        let bob = project(&m["members"], &["id", "role"]);
        ensure!(
            bob.contains(&json!({"id": fx.user("bob"), "role": role})),
            "after set_role {role}: {m}"
        );
    }

    // A retry with a v1 cid returns the v1 message and delivers nothing
    // new: at most the original again, to whoever has not acked it.
    let r = a
        .ok(json!({"op": "chat", "to": fx.user("bob"), "text": "with a cid", "cid": "fx-cid-1"}))
        .await?;
    ensure!(r["msg"]["id"] == json!(fx.msg("m09")), "cid retry: {r}");
    let r = c
        .ok(json!({"op": "group_chat", "group": club, "text": "group with a cid", "cid": "fx-gcid-1"}))
        .await?;
    ensure!(
        r["msg"]["id"] == json!(fx.msg("m12")),
        "group cid retry: {r}"
    );
    for (who, s) in [("bob", &mut b), ("dave", &mut d), ("alice", &mut a)] {
        let got: Vec<Value> = s
            .events_within(QUIET)
            .await?
            .into_iter()
            .filter(|e| e["ev"] == json!("msg"))
            .collect();
        let originals = [json!(fx.msg("m09")), json!(fx.msg("m12"))];
        ensure!(
            got.iter().all(|e| originals.contains(&e["msg"]["id"])),
            "a cid retry delivered something new to {who}: {got:?}"
        );
    }
    Ok(())
}

/// What [`write_after_upgrade`] added.
struct Added {
    /// The first message sent after the upgrade; every later one is above.
    first_new_id: u64,
    frank: u64,
    frank_group: u64,
}

/// New messages (ids above every v1 id, acked by their recipients so the
/// v1 inboxes stay as they were), a new account and group (ids not reused),
/// and a new member of a v1 group, whose window starts at their join.
async fn write_after_upgrade(server: &TestServer, fx: &Manifest) -> anyhow::Result<Added> {
    let club = fx.group("club");
    let mut a = session(server, fx, "alice").await?;
    let mut b = session(server, fx, "bob").await?;
    let mut c = session(server, fx, "carol").await?;
    let mut d = session(server, fx, "dave").await?;
    let r = a
        .ok(json!({"op": "chat", "to": fx.user("bob"), "text": "after the upgrade"}))
        .await?;
    let first = r["msg"]["id"].as_u64().context("id")?;
    ensure!(
        first > fx.max_msg_id(),
        "new id {first} not above the v1 ids (max {})",
        fx.max_msg_id()
    );
    let r = c
        .ok(json!({"op": "group_chat", "group": club, "text": "club after the upgrade"}))
        .await?;
    let second = r["msg"]["id"].as_u64().context("id")?;
    ensure!(second > first, "ids {first} then {second}");
    take_and_ack(&mut b, first).await?;
    take_and_ack(&mut b, second).await?;
    take_and_ack(&mut a, second).await?;
    take_and_ack(&mut d, second).await?;

    let mut f = server.client().await?;
    let frank = f.register("frank", "frank-pass").await?;
    f.login(frank, "frank-pass").await?;
    ensure!(
        frank > fx.user("erin"),
        "new user id {frank} reuses a v1 id"
    );
    let r = f.ok(json!({"op": "create_group", "name": "after"})).await?;
    let frank_group = r["group"]["id"].as_u64().context("group id")?;
    ensure!(
        frank_group > fx.group("gone"),
        "new group id {frank_group}: the v1 groups went up to {}",
        fx.group("gone")
    );
    let r = f
        .ok(json!({"op": "join_group", "group": fx.group("unicode")}))
        .await?;
    ensure!(r["group"]["role"] == json!("member"), "join: {r}");
    let h = f
        .ok(json!({"op": "history", "group": fx.group("unicode")}))
        .await?;
    ensure!(
        h["messages"] == json!([]),
        "a member who joined after the upgrade reads older messages: {h}"
    );
    Ok(Added {
        first_new_id: first,
        frank,
        frank_group,
    })
}

/// Reads the next `msg` event, which must be `id`, and acks it.
async fn take_and_ack(s: &mut TestClient, id: u64) -> anyhow::Result<()> {
    let m = s.event_of("msg").await?;
    ensure!(m["msg"]["id"] == json!(id), "expected {id}, got {m}");
    s.ok(json!({"op": "ack", "ids": [id]})).await?;
    Ok(())
}

/// What was written after the upgrade survived the restart.
async fn check_added(server: &TestServer, fx: &Manifest, added: &Added) -> anyhow::Result<()> {
    let mut f = server.client().await?;
    let r = f.login(added.frank, "frank-pass").await?;
    let mut groups = project(&r["groups"], &["id", "role", "visibility"]);
    groups.sort_by_key(|g| g["id"].as_u64());
    ensure!(
        groups
            == [
                json!({"id": fx.group("unicode"), "role": "member", "visibility": "public"}),
                json!({"id": added.frank_group, "role": "creator", "visibility": "public"}),
            ],
        "frank's groups: {:#}",
        r["groups"]
    );
    let mut a = session(server, fx, "alice").await?;
    let h = a
        .ok(json!({"op": "history", "with": fx.user("bob"), "limit": 2}))
        .await?;
    ensure!(
        ids(&h["messages"]) == [added.first_new_id, fx.msg("m09")],
        "alice's latest with bob: {h}"
    );
    Ok(())
}

/// A logged-in session of `key`, its login replay drained.
async fn session(server: &TestServer, fx: &Manifest, key: &str) -> anyhow::Result<TestClient> {
    let mut c = server.client().await?;
    let r = c.login(fx.user(key), fx.password(key)).await?;
    let n = r["unread"].as_u64().context("unread")? as usize;
    msgs(&mut c, n).await?;
    c.events_within(Duration::from_millis(50)).await?;
    Ok(c)
}

/// The manifest written by `drive_v1.py` beside the dump.
struct Manifest {
    m: Value,
}

impl Manifest {
    fn parse(text: &str) -> anyhow::Result<Manifest> {
        let m: Value = serde_json::from_str(text)?;
        ensure!(m["users"].as_object().map(|u| u.len()) == Some(5));
        ensure!(m["messages"].as_object().map(|u| u.len()) == Some(13));
        Ok(Manifest { m })
    }

    /// The user keys, alice to erin.
    fn keys(&self) -> Vec<String> {
        ["alice", "bob", "carol", "dave", "erin"]
            .map(String::from)
            .to_vec()
    }

    fn user(&self, key: &str) -> u64 {
        self.m["users"][key]["id"].as_u64().expect("user id")
    }

    fn password(&self, key: &str) -> &str {
        self.m["users"][key]["password"].as_str().expect("password")
    }

    fn group(&self, name: &str) -> u64 {
        self.m["groups"][name].as_u64().expect("group id")
    }

    fn msg(&self, label: &str) -> u64 {
        self.m["messages"][label]["id"].as_u64().expect("msg id")
    }

    fn max_msg_id(&self) -> u64 {
        self.m["messages"]
            .as_object()
            .into_iter()
            .flat_map(|o| o.values())
            .filter_map(|m| m["id"].as_u64())
            .max()
            .unwrap_or(0)
    }
}

/// The ids of a list of messages, in order.
fn ids(list: &Value) -> Vec<u64> {
    list.as_array()
        .map(|a| a.iter().filter_map(|m| m["id"].as_u64()).collect())
        .unwrap_or_default()
}

/// Each object of `list` cut down to `fields`, sorted by id (order and
/// presence flags are not what the upgrade is about).
fn project(list: &Value, fields: &[&str]) -> Vec<Value> {
    let mut out: Vec<Value> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    fields
                        .iter()
                        .map(|f| (f.to_string(), o[*f].clone()))
                        .collect::<serde_json::Map<_, _>>()
                        .into()
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|o: &Value| o["id"].as_u64());
    out
}

/// Where the loaded fixture lives.
enum Store {
    Sqlite(PathBuf),
    Mysql(String),
}

/// A row of `_sqlx_migrations`.
#[derive(Debug, PartialEq)]
struct Applied {
    version: i64,
    description: String,
    installed_on: String,
    success: bool,
    checksum: Vec<u8>,
    execution_time: i64,
}

impl Store {
    fn url(&self) -> String {
        match self {
            Store::Sqlite(path) => format!("sqlite://{}", path.display()),
            Store::Mysql(url) => url.clone(),
        }
    }

    /// Every row of `_sqlx_migrations`, by version.
    async fn migrations(&self) -> anyhow::Result<Vec<Applied>> {
        match self {
            Store::Sqlite(path) => sqlite_migrations(path),
            Store::Mysql(url) => {
                use sqlx::Connection;
                let mut conn = sqlx::MySqlConnection::connect(url).await?;
                let rows: Vec<(i64, String, String, bool, Vec<u8>, i64)> = sqlx::query_as(
                    "SELECT version, description, CAST(installed_on AS CHAR), success, \
                     checksum, execution_time FROM _sqlx_migrations ORDER BY version",
                )
                .fetch_all(&mut conn)
                .await?;
                let _ = conn.close().await;
                Ok(rows
                    .into_iter()
                    .map(|r| Applied {
                        version: r.0,
                        description: r.1,
                        installed_on: r.2,
                        success: r.3,
                        checksum: r.4,
                        execution_time: r.5,
                    })
                    .collect())
            }
        }
    }
}

fn sqlite_migrations(path: &Path) -> anyhow::Result<Vec<Applied>> {
    let conn = rusqlite::Connection::open(path)?;
    let mut st = conn.prepare(
        "SELECT version, description, installed_on, success, checksum, execution_time \
         FROM _sqlx_migrations ORDER BY version",
    )?;
    let rows = st.query_map([], |r| {
        Ok(Applied {
            version: r.get(0)?,
            description: r.get(1)?,
            installed_on: r.get(2)?,
            success: r.get(3)?,
            checksum: r.get(4)?,
            execution_time: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A start that died in the middle of migration 3 on MySQL (its first
/// statements applied, the row left as failed, as sqlx leaves it) must not
/// leave a database the server cannot start on: the next start runs the
/// migration again over the half it finds, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_mysql_upgrade_is_finished_by_the_next_start() -> anyhow::Result<()> {
    let Some(base) = chat_testkit::mysql_url() else {
        return Ok(());
    };
    let url = chat_testkit::fresh_mysql_db(&base).await?;
    let result = async {
        use sqlx::Connection;
        let mut conn = sqlx::MySqlConnection::connect(&url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(MYSQL_DUMP))
            .execute(&mut conn)
            .await?;
        // What a start killed after the first ALTERs of migration 3 leaves.
        sqlx::raw_sql(
            "ALTER TABLE users ADD COLUMN deleted_ms BIGINT NULL; \
             ALTER TABLE chat_groups ADD COLUMN visibility BIGINT NOT NULL DEFAULT 0; \
             INSERT INTO _sqlx_migrations \
             (version, description, success, checksum, execution_time) \
             VALUES (3, 'consent', FALSE, x'00', -1)",
        )
        .execute(&mut conn)
        .await?;
        let _ = conn.close().await;
        let store = Store::Mysql(url.clone());
        let server = TestServer::start_config(test_config(store.url()))
            .await
            .context("the server does not start after an interrupted migration")?;
        check_v1_data(&server, &Manifest::parse(MYSQL_MANIFEST)?, None).await?;
        server.stop().await?;
        let rows = store.migrations().await?;
        ensure!(
            rows.iter().all(|r| r.success) && rows.iter().any(|r| r.version == 3),
            "migration 3 was not finished: {rows:#?}"
        );
        Ok(())
    }
    .await;
    chat_testkit::drop_mysql_db(&url).await?;
    result
}
