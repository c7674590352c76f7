//! One conformance suite for every store backend: SQLite always, and
//! MySQL/MariaDB when `CHAT_TEST_MYSQL_URL` is set (each run on a database
//! of its own). One suite function per concern, in a module per store
//! trait; `conformance!` runs each on every backend.

use std::sync::Arc;

use chatserver::store::{
    AddFriend, InboxMark, NewMsg, SqlStore, Store, StoreError, StoreOptions, Target, UserRow,
    WriteOp,
};

async fn sqlite_with(opts: StoreOptions) -> (Arc<SqlStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let store = SqlStore::open(&url, &opts).await.unwrap();
    (Arc::new(store), dir)
}

/// Runs `suite` on SQLite, then on MySQL when configured (with `opts`, or
/// the default options).
macro_rules! conformance {
    ($name:ident, $suite:ident) => {
        conformance!($name, $suite, StoreOptions::default());
    };
    ($name:ident, $suite:ident, $opts:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite_backend() {
                let (store, _dir) = crate::sqlite_with($opts).await;
                $suite(&*store).await;
            }

            #[tokio::test]
            async fn mysql_backend() {
                let Some(base) = chat_testkit::mysql_url() else {
                    return;
                };
                let url = chat_testkit::fresh_mysql_db(&base).await.unwrap();
                let store = SqlStore::open(&url, &$opts).await.unwrap();
                $suite(&store).await;
                store.close().await;
                chat_testkit::drop_mysql_db(&url).await.unwrap();
            }
        }
    };
}

mod accounts;
mod deletion;
mod friends;
mod groups;
mod messages;
mod races;
mod slots;

#[tokio::test]
async fn mysql_nodes_starting_together_migrate_once() {
    let Some(base) = chat_testkit::mysql_url() else {
        return;
    };
    let url = chat_testkit::fresh_mysql_db(&base).await.unwrap();
    let opts = StoreOptions::default();
    let opened = futures::future::join_all((0..4).map(|_| SqlStore::open(&url, &opts))).await;
    for store in opened {
        let store = store.unwrap();
        store.ping().await.unwrap();
        store.close().await;
    }
    chat_testkit::drop_mysql_db(&url).await.unwrap();
}

/// The ids of these users, in their order.
fn ids(users: &[UserRow]) -> Vec<u64> {
    users.iter().map(|u| u.id).collect()
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

async fn user(s: &dyn Store, name: &str) -> u64 {
    s.create_user(name, "$h", 0).await.unwrap()
}

/// `a` asks `b` and `b` accepts.
async fn befriend(s: &dyn Store, a: u64, b: u64) {
    assert!(matches!(
        s.add_friend(a, b, 0).await.unwrap(),
        AddFriend::Requested { .. }
    ));
    assert!(s.accept_friend(b, a, 0).await.unwrap().is_some());
}

fn msg(id: u64, from: u64, target: Target, text: &str, cid: Option<&str>) -> WriteOp {
    WriteOp::Msg(NewMsg {
        id,
        ts: 1000 + id,
        from,
        target,
        text: text.into(),
        cid: cid.map(str::to_owned),
    })
}

/// Stores one message.
async fn send(s: &dyn Store, id: u64, from: u64, target: Target) {
    s.write_batch(&[msg(id, from, target, &format!("m{id}"), None)])
        .await
        .unwrap();
}

/// Runs a store call until it does not lose a race (`Conflict` means
/// nothing changed and it may be retried at once).
async fn retried<T, F, Fut>(f: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = chatserver::store::Result<T>>,
{
    for _ in 0..100 {
        match f().await {
            Err(StoreError::Conflict(_)) => continue,
            other => return other.unwrap(),
        }
    }
    panic!("still conflicting after 100 tries");
}

fn mark(upto: u64, count: u64) -> InboxMark {
    InboxMark { upto, count }
}
