//! Messages, inboxes and history (`MessageStore`, `BatchStore`), and
//! the history window of a group member (`member_since`).

use chat_proto::{HistoryTarget, Role, Visibility};
use chatserver::store::{Refusal, Store, StoreOptions, Stored, Target, WriteOp, WriteOutcome};

use crate::*;

conformance!(basics, messages_suite);

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

conformance!(windows, windows_suite);

async fn windows_suite(s: &dyn Store) {
    let a = user(s, "a").await;
    let b = user(s, "b").await;
    let c = user(s, "c").await;
    let g = s
        .create_group(a, "g", "", Visibility::Public, 1)
        .await
        .unwrap();
    let history = |since: u64, before: Option<u64>| async move {
        s.history_group(g, since, before, 100)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect::<Vec<u64>>()
    };
    assert_eq!(
        s.member_since(g, a).await.unwrap(),
        Some(0),
        "the creator reads all"
    );
    s.join_group(g, b, 2, 0).await.unwrap();
    assert_eq!(s.member_since(g, b).await.unwrap(), Some(0));
    assert_eq!(s.member_since(g, c).await.unwrap(), None, "not a member");
    assert_eq!(s.member_since(999_999, a).await.unwrap(), None);
    send(s, 10, a, Target::Group(g)).await;
    send(s, 11, b, Target::Group(g)).await;

    // c joins later: its window starts at the next message id.
    s.join_group(g, c, 3, 12).await.unwrap();
    assert_eq!(s.member_since(g, c).await.unwrap(), Some(12));
    send(s, 12, a, Target::Group(g)).await;
    send(s, 13, c, Target::Group(g)).await;
    assert_eq!(history(12, None).await, vec![13, 12]);
    assert_eq!(
        history(0, None).await,
        vec![13, 12, 11, 10],
        "since 0 reads all"
    );
    assert_eq!(history(12, Some(13)).await, vec![12]);
    assert_eq!(history(12, Some(12)).await, Vec::<u64>::new());
    assert_eq!(history(0, Some(12)).await, vec![11, 10]);
    let page: Vec<u64> = s
        .history_group(g, 0, None, 2)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(page, vec![13, 12]);

    // b quits and rejoins: its window starts again, later.
    assert!(s.leave_group(g, b).await.unwrap());
    assert_eq!(s.member_since(g, b).await.unwrap(), None);
    send(s, 14, a, Target::Group(g)).await;
    s.join_group(g, b, 4, 15).await.unwrap();
    assert_eq!(s.member_since(g, b).await.unwrap(), Some(15));
    send(s, 15, a, Target::Group(g)).await;
    send(s, 16, b, Target::Group(g)).await;
    let since = s.member_since(g, b).await.unwrap().unwrap();
    assert_eq!(history(since, None).await, vec![16, 15]);
    assert_eq!(history(0, None).await, vec![16, 15, 14, 13, 12, 11, 10]);
    // Nothing sent while b was out reached b's inbox.
    let inbox: Vec<u64> = s
        .inbox_page(b, 0, 1 << 50, 100)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(inbox, vec![10, 12, 13, 15]);
    // Role changes keep the window.
    assert!(s.set_role(g, b, Role::Admin).await.unwrap());
    assert_eq!(s.member_since(g, b).await.unwrap(), Some(15));
    assert!(s.transfer_group(g, a, b).await.unwrap());
    assert_eq!(s.member_since(g, b).await.unwrap(), Some(15));
    assert_eq!(s.member_since(g, a).await.unwrap(), Some(0));
    // Another group's messages never show.
    let other = s
        .create_group(c, "other", "", Visibility::Public, 5)
        .await
        .unwrap();
    send(s, 17, c, Target::Group(other)).await;
    assert_eq!(history(0, None).await, vec![16, 15, 14, 13, 12, 11, 10]);
}

/// A shared database: each batch checks again, at commit, that every
/// sender may still write to its target; the refused messages are not
/// stored, the others of the batch are.
async fn verified_at_commit_suite(s: &dyn Store) {
    let a = user(s, "a").await;
    let b = user(s, "b").await;
    let c = user(s, "c").await;
    befriend(s, a, b).await;
    let g = s
        .create_group(a, "g", "", Visibility::Public, 0)
        .await
        .unwrap();
    let out = s
        .write_batch(&[
            msg(30, a, Target::User(b), "to a friend", None),
            msg(31, a, Target::User(c), "to a stranger", None),
            msg(32, a, Target::Group(g), "as a member", None),
            msg(33, c, Target::Group(g), "as an outsider", None),
        ])
        .await
        .unwrap();
    assert!(
        matches!(out[0], WriteOutcome::Msg(Stored::New { .. })),
        "{out:?}"
    );
    assert_eq!(
        out[1],
        WriteOutcome::Msg(Stored::Refused(Refusal::NotFriend))
    );
    assert!(
        matches!(out[2], WriteOutcome::Msg(Stored::New { .. })),
        "{out:?}"
    );
    assert_eq!(
        out[3],
        WriteOutcome::Msg(Stored::Refused(Refusal::NotMember))
    );
    assert!(s.history_with(a, c, None, 10).await.unwrap().is_empty());
    let gh: Vec<u64> = s
        .history_group(g, 0, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(gh, vec![32]);
    // A friendship ended before the commit refuses what was accepted
    // before it.
    assert!(s.remove_friend(a, b).await.unwrap());
    let out = s
        .write_batch(&[msg(34, b, Target::User(a), "too late", None)])
        .await
        .unwrap();
    assert_eq!(
        out[0],
        WriteOutcome::Msg(Stored::Refused(Refusal::NotFriend))
    );
    let ids = |v: Vec<chat_proto::Msg>| v.iter().map(|m| m.id).collect::<Vec<u64>>();
    // A refusal beside everything else a batch carries: the ack and the
    // accepted message take effect once, a cid retried in the batch is
    // refused like its first, and the refused cid stays free.
    befriend(s, a, c).await;
    let inbox_b = || async { ids(s.inbox_page(b, 0, 1 << 50, 10).await.unwrap()) };
    assert!(inbox_b().await.contains(&30));
    let out = s
        .write_batch(&[
            msg(40, a, Target::User(b), "no longer a friend", Some("k1")),
            WriteOp::Ack {
                user: b,
                ids: vec![30],
            },
            msg(41, a, Target::User(b), "no longer a friend", Some("k1")),
            msg(42, a, Target::User(c), "a new friend", Some("k2")),
            msg(43, a, Target::Group(g), "still a member", None),
        ])
        .await
        .unwrap();
    let refused = WriteOutcome::Msg(Stored::Refused(Refusal::NotFriend));
    assert_eq!(out[0], refused);
    assert_eq!(out[1], WriteOutcome::Acked);
    assert_eq!(out[2], refused);
    assert!(
        matches!(&out[3], WriteOutcome::Msg(Stored::New { recipients }) if recipients == &vec![c]),
        "{out:?}"
    );
    assert!(
        matches!(out[4], WriteOutcome::Msg(Stored::New { .. })),
        "{out:?}"
    );
    assert_eq!(ids(s.history_with(a, c, None, 10).await.unwrap()), vec![42]);
    let left = inbox_b().await;
    assert!(!left.contains(&30) && !left.contains(&40), "{left:?}");
    befriend(s, a, b).await;
    let out = s
        .write_batch(&[msg(44, a, Target::User(b), "friends again", Some("k1"))])
        .await
        .unwrap();
    assert!(
        matches!(out[0], WriteOutcome::Msg(Stored::New { .. })),
        "{out:?}"
    );
}

conformance!(
    verified_at_commit,
    verified_at_commit_suite,
    StoreOptions {
        verify_at_commit: true,
        ..StoreOptions::default()
    }
);

// The same suites with SQLite's message log applied after every commit,
// so that reads race the applier (on MySQL, the same runs again).
conformance!(
    messages_applied_at_once,
    messages_suite,
    StoreOptions {
        log_apply_every: std::time::Duration::ZERO,
        ..StoreOptions::default()
    }
);
conformance!(
    windows_applied_at_once,
    windows_suite,
    StoreOptions {
        log_apply_every: std::time::Duration::ZERO,
        ..StoreOptions::default()
    }
);
