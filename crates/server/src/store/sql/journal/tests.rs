//! The log through the whole SQLite store: a crash (the store abandoned
//! with nothing applied, its files copied as a kill -9 leaves them) and
//! the restart that applies the log, torn tail included.

use std::time::Duration;

use super::{log_dir, segments};
use crate::store::{
    AccountStore, BatchStore, FriendStore, MessageStore, NewMsg, SqlStore, StoreOptions, Stored,
    Target, WriteOp, WriteOutcome,
};

fn msg(id: u64, from: u64, to: u64, cid: &str) -> WriteOp {
    WriteOp::Msg(NewMsg {
        id,
        ts: id,
        from,
        target: Target::User(to),
        text: format!("m{id}"),
        cid: Some(cid.into()),
    })
}

/// Copies the store's files as a crash leaves them: the database, its WAL
/// and the log.
fn copy_files(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to.join("s.db-log")).unwrap();
    for name in ["s.db", "s.db-wal"] {
        if from.join(name).exists() {
            std::fs::copy(from.join(name), to.join(name)).unwrap();
        }
    }
    for seq in segments(&log_dir(&from.join("s.db").display().to_string())).unwrap() {
        let name = format!("s.db-log/{seq:020}.log");
        std::fs::copy(from.join(&name), to.join(&name)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loses_nothing_acknowledged_and_cuts_the_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let url = |d: &std::path::Path| format!("sqlite://{}", d.join("s.db").display());
    // Nothing is applied to the tables while it runs: all in the log.
    let opts = StoreOptions {
        log_apply_every: Duration::from_secs(3600),
        ..StoreOptions::default()
    };
    let store = SqlStore::open(&url(dir.path()), &opts).await.unwrap();
    let a = store.create_user("a", "x", 1).await.unwrap();
    let b = store.create_user("b", "x", 1).await.unwrap();
    store.add_friend(a, b, 1).await.unwrap();
    store.accept_friend(b, a, 1).await.unwrap();
    let mut id = 0;
    for batch in 0..20 {
        let ops: Vec<WriteOp> = (0..10)
            .map(|i| {
                id += 1;
                msg(id, a, b, &format!("c{batch}.{i}"))
            })
            .collect();
        store.write_batch(&ops).await.unwrap();
    }
    // b acks the first 50; a retry of cid c0.0 stores nothing.
    store
        .write_batch(&[WriteOp::Ack {
            user: b,
            ids: (1..=50).collect(),
        }])
        .await
        .unwrap();
    let out = store.write_batch(&[msg(999, a, b, "c0.0")]).await.unwrap();
    assert!(matches!(
        &out[0],
        WriteOutcome::Msg(Stored::Duplicate { id: 1, .. })
    ));
    // The crash: the files as they are now, plus half a record that a
    // write was cut in the middle of.
    let crashed = tempfile::tempdir().unwrap();
    copy_files(dir.path(), crashed.path());
    let log = log_dir(&crashed.path().join("s.db").display().to_string());
    let last = *segments(&log).unwrap().last().unwrap();
    let seg = log.join(format!("{last:020}.log"));
    let whole = std::fs::metadata(&seg).unwrap().len();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, &[200, 0, 0, 0, 1, 2, 3, 4, 1, 0, 0]).unwrap();
    drop(f);
    drop(store);

    let store = SqlStore::open(&url(crashed.path()), &StoreOptions::default())
        .await
        .unwrap();
    // Everything acknowledged is there, once, in order, with its inbox.
    assert_eq!(store.max_message_id().await.unwrap(), 200);
    let inbox = store
        .inbox_page(b, 0, crate::ids::MAX_ID, 1000)
        .await
        .unwrap();
    let ids: Vec<u64> = inbox.iter().map(|m| m.id).collect();
    assert_eq!(ids, (51..=200).collect::<Vec<_>>());
    let hist = store.history_with(a, b, None, 100).await.unwrap();
    assert_eq!(hist.len(), 100);
    assert_eq!(hist[0].id, 200);
    assert_eq!(store.snapshot(b).await.unwrap().inbox.count, 150);
    // The log was applied and the torn bytes never read: the segment is
    // gone, and a retry of an old cid is still a duplicate.
    assert!(!seg.exists() || std::fs::metadata(&seg).unwrap().len() <= whole);
    let out = store
        .write_batch(&[msg(1000, a, b, "c19.9")])
        .await
        .unwrap();
    assert!(matches!(
        &out[0],
        WriteOutcome::Msg(Stored::Duplicate { id: 200, .. })
    ));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_merge_the_tail_while_the_applier_runs() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    // Applied after every commit: reads race the applier all the time.
    let opts = StoreOptions {
        log_apply_every: Duration::ZERO,
        ..StoreOptions::default()
    };
    let store = SqlStore::open(&url, &opts).await.unwrap();
    let a = store.create_user("a", "x", 1).await.unwrap();
    let b = store.create_user("b", "x", 1).await.unwrap();
    let mut id = 0;
    for round in 0..200u64 {
        id += 1;
        store
            .write_batch(&[msg(id, a, b, &format!("k{round}"))])
            .await
            .unwrap();
        if round % 2 == 1 {
            store
                .write_batch(&[WriteOp::Ack {
                    user: b,
                    ids: vec![id - 1],
                }])
                .await
                .unwrap();
        }
        let unacked = (round + 2) / 2;
        assert_eq!(store.snapshot(b).await.unwrap().inbox.count, unacked);
        let page = store
            .inbox_page(b, 0, crate::ids::MAX_ID, 1000)
            .await
            .unwrap();
        assert_eq!(page.len() as u64, unacked, "round {round}");
        let hist = store.history_with(b, a, None, 5).await.unwrap();
        assert_eq!(hist[0].id, id);
    }
    store.close().await;
    // After a clean stop the log is empty: everything is in the tables.
    let log = log_dir(&dir.path().join("s.db").display().to_string());
    for seq in segments(&log).unwrap() {
        let len = std::fs::metadata(log.join(format!("{seq:020}.log")))
            .unwrap()
            .len();
        assert_eq!(len, 0);
    }
}

/// One batch mixing every kind of `cid`: retries of messages already in
/// SQLite (one acked, one not), a retry of one still in the tail, a cid
/// repeated inside the batch, new ones and an ack, each answered in place
/// and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_resolves_cids_from_sqlite_the_tail_and_itself_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let opts = StoreOptions {
        log_apply_every: Duration::from_secs(3600),
        ..StoreOptions::default()
    };
    let store = SqlStore::open(&url, &opts).await.unwrap();
    let a = store.create_user("a", "x", 1).await.unwrap();
    let b = store.create_user("b", "x", 1).await.unwrap();
    let c = store.create_user("c", "x", 1).await.unwrap();
    store
        .write_batch(&[
            msg(1, a, b, "old1"),
            msg(2, a, b, "old2"),
            msg(3, c, b, "old1"),
        ])
        .await
        .unwrap();
    store
        .write_batch(&[WriteOp::Ack {
            user: b,
            ids: vec![1],
        }])
        .await
        .unwrap();
    // Closing applies the log: these are in SQLite now, with the ack.
    store.close().await;
    let store = SqlStore::open(&url, &opts).await.unwrap();
    assert!(store.journal.as_ref().unwrap().holders(2).is_none());
    // One more that stays in the tail.
    store.write_batch(&[msg(4, a, b, "tail")]).await.unwrap();

    let out = store
        .write_batch(&[
            msg(10, a, b, "old2"),
            msg(11, a, b, "new1"),
            msg(12, a, b, "old1"),
            WriteOp::Ack {
                user: b,
                ids: vec![4],
            },
            msg(13, a, b, "tail"),
            msg(14, a, b, "new1"),
            msg(15, c, b, "old1"),
            msg(16, b, a, "old1"),
        ])
        .await
        .unwrap();
    let dup = |o: &WriteOutcome| match o {
        WriteOutcome::Msg(Stored::Duplicate { id, again, .. }) => {
            Some((*id, again.as_ref().map(|r| r.recipients.clone())))
        }
        _ => None,
    };
    // old2 is in SQLite and b holds it; old1 was acked: nobody gets it again.
    assert_eq!(dup(&out[0]), Some((2, Some(vec![b]))));
    assert!(matches!(out[1], WriteOutcome::Msg(Stored::New { .. })));
    assert_eq!(dup(&out[2]), Some((1, Some(vec![]))));
    assert!(matches!(out[3], WriteOutcome::Acked));
    assert_eq!(dup(&out[4]), Some((4, Some(vec![b]))));
    // new1 again within the batch: the first one's id, nothing resent.
    assert_eq!(dup(&out[5]), Some((11, None)));
    // The same cid from another sender is that sender's own.
    assert_eq!(dup(&out[6]), Some((3, Some(vec![b]))));
    assert!(matches!(out[7], WriteOutcome::Msg(Stored::New { .. })));
    // Stored: 1..4, then 11 and 16; b's inbox lost 1 and 4 to the acks.
    let inbox = store
        .inbox_page(b, 0, crate::ids::MAX_ID, 100)
        .await
        .unwrap();
    let ids: Vec<u64> = inbox.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![2, 3, 11]);
    store.close().await;
}
