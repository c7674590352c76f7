//! One conformance suite for every store backend: SQLite always, and
//! MySQL/MariaDB when `CHAT_TEST_MYSQL_URL` is set (each run on a database
//! of its own).

use std::sync::Arc;

use chat_proto::{HistoryTarget, Role, Visibility};
use chatserver::store::{
    AddFriend, Join, NewMsg, SqlStore, Store, StoreOptions, Stored, Target, WriteOp, WriteOutcome,
};

async fn sqlite() -> (Arc<SqlStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let store = SqlStore::open(&url, &StoreOptions::default())
        .await
        .unwrap();
    (Arc::new(store), dir)
}

/// Runs `suite` on SQLite, then on MySQL when configured.
macro_rules! conformance {
    ($name:ident, $suite:ident) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite_backend() {
                let (store, _dir) = sqlite().await;
                $suite(&*store).await;
            }

            #[tokio::test]
            async fn mysql_backend() {
                let Some(base) = chat_testkit::mysql_url() else {
                    return;
                };
                let url = chat_testkit::fresh_mysql_db(&base).await.unwrap();
                let store = SqlStore::open(&url, &StoreOptions::default())
                    .await
                    .unwrap();
                $suite(&store).await;
                store.close().await;
                chat_testkit::drop_mysql_db(&url).await.unwrap();
            }
        }
    };
}

conformance!(accounts, accounts_suite);
conformance!(friends, friends_suite);
conformance!(groups, groups_suite);
conformance!(messages, messages_suite);
conformance!(slots, slots_suite);

async fn accounts_suite(s: &dyn Store) {
    s.ping().await.unwrap();
    let a = s.create_user("kirito", "$hash-a", 1).await.unwrap();
    let b = s
        .create_user("'; DROP TABLE users; --", "$hash-b", 2)
        .await
        .unwrap();
    assert_ne!(a, b);
    assert!(a > 0 && b > 0);
    let (row, hash) = s.user_secret(a).await.unwrap().unwrap();
    assert_eq!(
        (row.id, row.name.as_str(), hash.as_str()),
        (a, "kirito", "$hash-a")
    );
    assert_eq!(
        s.user(b).await.unwrap().unwrap().name,
        "'; DROP TABLE users; --"
    );
    assert!(s.user(999_999).await.unwrap().is_none());
    assert!(s.user(u64::MAX).await.unwrap().is_none());
    let emoji = s.create_user("名字 😀", "$h", 3).await.unwrap();
    assert_eq!(s.user(emoji).await.unwrap().unwrap().name, "名字 😀");

    let t1 = [7u8; 32];
    s.insert_token(&t1, a, 1_000).await.unwrap();
    assert_eq!(s.token_user(&t1, 999).await.unwrap().map(|u| u.id), Some(a));
    assert_eq!(
        s.token_user(&t1, 1_000).await.unwrap().map(|u| u.id),
        None,
        "expired at its expiry"
    );
    assert_eq!(
        s.token_user(&[8u8; 32], 0).await.unwrap().map(|u| u.id),
        None
    );
    s.delete_token(&t1).await.unwrap();
    assert_eq!(s.token_user(&t1, 0).await.unwrap().map(|u| u.id), None);
    s.insert_token(&[1u8; 32], a, 10).await.unwrap();
    s.insert_token(&[2u8; 32], a, 20).await.unwrap();
    assert_eq!(s.purge_tokens(15).await.unwrap(), 1);
    assert_eq!(
        s.token_user(&[2u8; 32], 15).await.unwrap().map(|u| u.id),
        Some(a)
    );
}

async fn friends_suite(s: &dyn Store) {
    let a = s.create_user("a", "h", 0).await.unwrap();
    let b = s.create_user("b", "h", 0).await.unwrap();
    let c = s.create_user("c", "h", 0).await.unwrap();
    assert!(!s.are_friends(a, b).await.unwrap());
    match s.add_friend(a, b, 5).await.unwrap() {
        AddFriend::Requested {
            target,
            new,
            hidden,
        } => {
            assert_eq!((target.id, target.name.as_str()), (b, "b"));
            assert!(new && !hidden);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !s.are_friends(a, b).await.unwrap(),
        "a request is not a friendship"
    );
    let f = s
        .accept_friend(b, a, 5)
        .await
        .unwrap()
        .expect("a's request");
    assert_eq!((f.id, f.name.as_str()), (a, "a"));
    assert!(s.are_friends(a, b).await.unwrap());
    assert!(s.are_friends(b, a).await.unwrap(), "friendship is mutual");
    assert_eq!(
        s.add_friend(b, a, 6).await.unwrap(),
        AddFriend::AlreadyFriends
    );
    assert_eq!(
        s.add_friend(a, 424_242, 6).await.unwrap(),
        AddFriend::NoSuchUser
    );
    s.add_friend(c, a, 7).await.unwrap();
    s.add_friend(a, c, 7).await.unwrap();
    let names: Vec<u64> = s
        .snapshot(a)
        .await
        .unwrap()
        .friends
        .iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(names, vec![b, c]);
    let mut ids = s.friend_ids(a).await.unwrap();
    ids.sort();
    assert_eq!(ids, vec![b, c]);
    assert!(s.remove_friend(b, a).await.unwrap());
    assert!(!s.are_friends(a, b).await.unwrap());
    assert!(!s.are_friends(b, a).await.unwrap());
    assert!(!s.remove_friend(a, b).await.unwrap());
    assert_eq!(s.friend_ids(b).await.unwrap(), Vec::<u64>::new());
}

async fn groups_suite(s: &dyn Store) {
    let a = s.create_user("a", "h", 0).await.unwrap();
    let b = s.create_user("b", "h", 0).await.unwrap();
    let g = s
        .create_group(a, "happy game", "happy play", Visibility::Public, 1)
        .await
        .unwrap();
    let row = s.group(g).await.unwrap().unwrap();
    assert_eq!(
        (row.name.as_str(), row.desc.as_str(), row.creator),
        ("happy game", "happy play", a)
    );
    assert_eq!(s.role(g, a).await.unwrap(), Some(Role::Creator));
    assert_eq!(s.role(g, b).await.unwrap(), None);
    match s.join_group(g, b, 2, 0).await.unwrap() {
        Join::Joined(r) => assert_eq!(r.id, g),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.join_group(g, b, 3, 0).await.unwrap(), Join::AlreadyMember);
    assert_eq!(
        s.join_group(g + 1000, b, 3, 0).await.unwrap(),
        Join::NoSuchGroup
    );
    assert_eq!(s.role(g, b).await.unwrap(), Some(Role::Member));
    let members: Vec<(u64, Role)> = s
        .members(g)
        .await
        .unwrap()
        .into_iter()
        .map(|(u, r)| (u.id, r))
        .collect();
    assert_eq!(members, vec![(a, Role::Creator), (b, Role::Member)]);
    let groups = s.snapshot(b).await.unwrap().groups;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].role, Role::Member);
    assert!(s.leave_group(g, b).await.unwrap());
    assert!(!s.leave_group(g, b).await.unwrap());
    s.join_group(g, b, 4, 0).await.unwrap();
    let mut former = s.delete_group(g).await.unwrap();
    former.sort();
    assert_eq!(former, vec![a, b]);
    assert!(s.group(g).await.unwrap().is_none());
    assert!(s.snapshot(a).await.unwrap().groups.is_empty());
    assert!(s.member_ids(g).await.unwrap().is_empty());
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

async fn messages_suite(s: &dyn Store) {
    let a = s.create_user("a", "h", 0).await.unwrap();
    let b = s.create_user("b", "h", 0).await.unwrap();
    let c = s.create_user("c", "h", 0).await.unwrap();
    let g = s
        .create_group(a, "g", "", Visibility::Public, 0)
        .await
        .unwrap();
    s.join_group(g, b, 0, 0).await.unwrap();
    s.join_group(g, c, 0, 0).await.unwrap();
    assert_eq!(s.max_message_id().await.unwrap(), 0);

    let out = s
        .write_batch(&[
            msg(10, a, Target::User(b), "one", None),
            msg(11, a, Target::User(b), "two", Some("c1")),
            msg(12, a, Target::User(b), "two again", Some("c1")),
            msg(13, b, Target::User(a), "back", None),
            msg(14, a, Target::Group(g), "to all", None),
            WriteOp::Ack {
                user: c,
                ids: vec![999],
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        out[0],
        WriteOutcome::Msg(Stored::New {
            recipients: vec![b]
        })
    );
    assert_eq!(
        out[2],
        WriteOutcome::Msg(Stored::Duplicate {
            id: 11,
            ts: 1011,
            again: None
        }),
        "retry in the same batch (its first is delivered with the batch)"
    );
    match &out[4] {
        WriteOutcome::Msg(Stored::New { recipients }) => {
            let mut r = recipients.clone();
            r.sort();
            assert_eq!(r, vec![b, c], "every member but the sender");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(out[5], WriteOutcome::Acked);
    // A retry in a later batch is a duplicate too.
    let again = s
        .write_batch(&[msg(20, a, Target::User(b), "two", Some("c1"))])
        .await
        .unwrap();
    // ... which carries the original to deliver again.
    match &again[0] {
        WriteOutcome::Msg(Stored::Duplicate {
            id: 11,
            ts: 1011,
            again: Some(re),
        }) => {
            assert_eq!(re.recipients, vec![b]);
            assert_eq!(
                (re.msg.id, re.msg.from, re.msg.target, re.msg.text.as_str()),
                (11, a, Target::User(b), "two")
            );
            assert_eq!(re.msg.cid.as_deref(), Some("c1"));
        }
        other => panic!("{other:?}"),
    }
    // The same cid from another sender is a new message.
    let other = s
        .write_batch(&[msg(21, b, Target::User(a), "x", Some("c1"))])
        .await
        .unwrap();
    assert!(matches!(other[0], WriteOutcome::Msg(Stored::New { .. })));
    assert_eq!(s.max_message_id().await.unwrap(), 21);

    let h = s.history_with(a, b, None, 50).await.unwrap();
    let ids: Vec<u64> = h.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![21, 13, 11, 10], "both directions, newest first");
    assert_eq!(h[2].cid.as_deref(), Some("c1"));
    assert_eq!(h[3].cid, None);
    assert_eq!(h[3].to, Some(b));
    let page: Vec<u64> = s
        .history_with(b, a, Some(13), 1)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(page, vec![11]);
    let gh = s.history_group(g, 0, None, 10).await.unwrap();
    assert_eq!(gh.len(), 1);
    assert_eq!(
        (gh[0].group, gh[0].to, gh[0].text.as_str()),
        (Some(g), None, "to all")
    );
    assert!(s.history_with(a, c, None, 10).await.unwrap().is_empty());
    let _ = HistoryTarget::With(a);

    // b's inbox: 10, 11, 14 (not the duplicate, not b's own messages).
    assert_eq!(s.snapshot(b).await.unwrap().inbox, mark(14, 3));
    // A login's snapshot: friends by id, groups with role and creator.
    for (x, y) in [(b, c), (c, b), (b, a), (a, b)] {
        s.add_friend(x, y, 0).await.unwrap();
    }
    let snap = s.snapshot(b).await.unwrap();
    assert_eq!(snap.inbox, mark(14, 3));
    assert_eq!(snap.friends[0].name, "a");
    assert_eq!(
        snap.friends.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![a, c]
    );
    assert_eq!((snap.groups.len(), snap.groups[0].group.id), (1, g));
    assert_eq!(snap.groups[0].group.creator, a);
    assert_eq!(snap.groups[0].role, Role::Member);
    let empty = s.snapshot(999_999).await.unwrap();
    assert_eq!(
        (empty.friends.len(), empty.groups.len(), empty.inbox),
        (0, 0, mark(0, 0))
    );
    let page = s.inbox_page(b, 0, 14, 2).await.unwrap();
    assert_eq!(page.iter().map(|m| m.id).collect::<Vec<_>>(), vec![10, 11]);
    let rest = s.inbox_page(b, 11, 14, 2).await.unwrap();
    assert_eq!(rest.iter().map(|m| m.id).collect::<Vec<_>>(), vec![14]);
    // Acks remove only the acker's rows; unknown and foreign ids are ignored.
    s.write_batch(&[WriteOp::Ack {
        user: b,
        ids: vec![10, 14, 13, 12345],
    }])
    .await
    .unwrap();
    assert_eq!(s.snapshot(b).await.unwrap().inbox, mark(11, 1));
    assert_eq!(s.snapshot(c).await.unwrap().inbox, mark(14, 1));
    assert_eq!(s.snapshot(a).await.unwrap().inbox, mark(21, 2));
}

async fn slots_suite(s: &dyn Store) {
    let a = s.claim_slot("a", 1000, 500).await.unwrap().unwrap();
    let b = s.claim_slot("b", 1000, 500).await.unwrap().unwrap();
    assert_ne!(a, b);
    assert_eq!(
        s.claim_slot("a", 1100, 500).await.unwrap(),
        Some(a),
        "a node may reclaim its own"
    );
    assert!(s.renew_slot(a, "a", 1200, 500).await.unwrap());
    assert!(!s.renew_slot(a, "b", 1200, 500).await.unwrap());
    // b's lease ran out at 1500: a third node may take its slot.
    assert_eq!(s.claim_slot("c", 1600, 500).await.unwrap(), Some(b));
    assert!(!s.renew_slot(b, "b", 1600, 500).await.unwrap());
    s.release_slot(a, "a").await.unwrap();
    assert_eq!(s.claim_slot("d", 1600, 500).await.unwrap(), Some(a));
    let mut taken = vec![a, b];
    for n in 0..30 {
        taken.push(
            s.claim_slot(&format!("n{n}"), 1600, 500)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    taken.sort();
    taken.dedup();
    assert_eq!(taken.len(), 32);
    assert_eq!(
        s.claim_slot("late", 1600, 500).await.unwrap(),
        None,
        "all 32 held"
    );
}

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

fn mark(upto: u64, count: u64) -> chatserver::store::InboxMark {
    chatserver::store::InboxMark { upto, count }
}
