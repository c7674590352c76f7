//! One conformance suite for every store backend: SQLite always, and
//! MySQL/MariaDB when `CHAT_TEST_MYSQL_URL` is set (each run on a database
//! of its own). One suite function per concern, in a module per store
//! trait; `conformance!` runs each on every backend.

use std::sync::Arc;

use chatserver::store::{SqlStore, StoreOptions};

mod helpers;
use helpers::*;

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
