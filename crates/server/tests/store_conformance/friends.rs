//! Friendships, requests and blocks (`FriendStore`) and the lists a
//! login shows of them.

use chat_proto::Visibility;
use chatserver::store::{AddFriend, Block, InviteRow, Invited, Store, UserRow};

use crate::*;

conformance!(basics, friends_suite);

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

fn requested(target: u64, name: &str, new: bool, hidden: bool) -> AddFriend {
    AddFriend::Requested {
        target: UserRow {
            id: target,
            name: name.into(),
        },
        new,
        hidden,
    }
}

/// Who `u` has requests from and to, as a login lists them.
async fn requests(s: &dyn Store, u: u64) -> (Vec<u64>, Vec<u64>) {
    let snap = s.snapshot(u).await.unwrap();
    (ids(&snap.requests_in), ids(&snap.requests_out))
}

const NONE: Vec<u64> = Vec::new();

conformance!(requests, requests_suite);

async fn requests_suite(s: &dyn Store) {
    let a = user(s, "a").await;
    let b = user(s, "b").await;
    let c = user(s, "c").await;
    let d = user(s, "d").await;
    let gone = user(s, "gone").await;

    // A request, then the same again: pending once, `new` only the first
    // time.
    assert_eq!(
        s.add_friend(a, b, 1).await.unwrap(),
        requested(b, "b", true, false)
    );
    assert_eq!(
        s.add_friend(a, b, 2).await.unwrap(),
        requested(b, "b", false, false)
    );
    assert!(!s.are_friends(a, b).await.unwrap());
    assert!(!s.are_friends(b, a).await.unwrap());
    assert_eq!(requests(s, a).await, (NONE, vec![b]));
    assert_eq!(requests(s, b).await, (vec![a], NONE));
    let snap = s.snapshot(b).await.unwrap();
    assert_eq!(
        snap.requests_in,
        vec![UserRow {
            id: a,
            name: "a".into()
        }]
    );
    assert!(snap.friends.is_empty());

    // The crossing request accepts: friends both ways, no request left.
    assert_eq!(
        s.add_friend(b, a, 3).await.unwrap(),
        AddFriend::Accepted(UserRow {
            id: a,
            name: "a".into()
        })
    );
    assert!(s.are_friends(a, b).await.unwrap());
    assert!(s.are_friends(b, a).await.unwrap());
    assert_eq!(requests(s, a).await, (NONE, NONE));
    assert_eq!(requests(s, b).await, (NONE, NONE));
    assert_eq!(ids(&s.snapshot(b).await.unwrap().friends), vec![a]);
    assert_eq!(
        s.add_friend(a, b, 4).await.unwrap(),
        AddFriend::AlreadyFriends
    );
    assert_eq!(
        s.add_friend(b, a, 4).await.unwrap(),
        AddFriend::AlreadyFriends
    );
    assert_eq!(
        requests(s, a).await,
        (NONE, NONE),
        "no request between friends"
    );

    // No such user: unknown, out of range, deleted.
    assert_eq!(
        s.add_friend(a, 999_999, 5).await.unwrap(),
        AddFriend::NoSuchUser
    );
    assert_eq!(
        s.add_friend(a, u64::MAX, 5).await.unwrap(),
        AddFriend::NoSuchUser
    );
    assert!(s.delete_account(gone, 5).await.unwrap().is_some());
    assert_eq!(
        s.add_friend(a, gone, 5).await.unwrap(),
        AddFriend::NoSuchUser
    );
    assert_eq!(requests(s, a).await, (NONE, NONE));

    // accept_friend: only the target of a pending request may accept it.
    assert_eq!(s.accept_friend(c, a, 6).await.unwrap(), None, "no request");
    s.add_friend(a, c, 6).await.unwrap();
    assert_eq!(
        s.accept_friend(a, c, 6).await.unwrap(),
        None,
        "one's own request"
    );
    assert_eq!(requests(s, c).await, (vec![a], NONE), "still pending");
    assert_eq!(
        s.accept_friend(c, a, 7).await.unwrap(),
        Some(UserRow {
            id: a,
            name: "a".into()
        })
    );
    assert!(s.are_friends(a, c).await.unwrap());
    assert!(s.are_friends(c, a).await.unwrap());
    assert_eq!(requests(s, c).await, (NONE, NONE));
    assert_eq!(requests(s, a).await, (NONE, NONE));
    assert_eq!(s.accept_friend(c, a, 7).await.unwrap(), None, "answered");
    assert_eq!(sorted(s.friend_ids(a).await.unwrap()), vec![b, c]);

    // decline_friend drops the request; nobody becomes friends.
    assert!(!s.decline_friend(d, a).await.unwrap(), "no request");
    s.add_friend(d, a, 8).await.unwrap();
    assert!(!s.decline_friend(d, a).await.unwrap(), "one's own request");
    assert!(s.decline_friend(a, d).await.unwrap());
    assert!(!s.decline_friend(a, d).await.unwrap(), "declined already");
    assert!(!s.are_friends(a, d).await.unwrap());
    assert_eq!(requests(s, a).await, (NONE, NONE));
    assert_eq!(requests(s, d).await, (NONE, NONE));
    assert_eq!(s.accept_friend(a, d, 8).await.unwrap(), None);
    // Declined, the sender may ask again.
    assert_eq!(
        s.add_friend(d, a, 9).await.unwrap(),
        requested(a, "a", true, false)
    );

    // cancel_friend withdraws one's own request (visible: Some(false)).
    assert_eq!(
        s.cancel_friend(a, d).await.unwrap(),
        None,
        "not a's request"
    );
    assert_eq!(s.cancel_friend(d, a).await.unwrap(), Some(false));
    assert_eq!(
        s.cancel_friend(d, a).await.unwrap(),
        None,
        "withdrawn already"
    );
    assert_eq!(requests(s, a).await, (NONE, NONE));
    assert_eq!(requests(s, d).await, (NONE, NONE));
    assert_eq!(s.accept_friend(a, d, 9).await.unwrap(), None);
    assert_eq!(s.cancel_friend(a, 999_999).await.unwrap(), None);

    // A removed friendship can be asked for again.
    assert!(s.remove_friend(a, b).await.unwrap());
    assert_eq!(
        s.add_friend(b, a, 10).await.unwrap(),
        requested(a, "a", true, false)
    );

    // Several requests each way, listed by id with names.
    s.add_friend(c, d, 11).await.unwrap();
    s.add_friend(a, d, 11).await.unwrap();
    s.add_friend(d, b, 11).await.unwrap();
    let snap = s.snapshot(d).await.unwrap();
    assert_eq!(
        snap.requests_in,
        vec![
            UserRow {
                id: a,
                name: "a".into()
            },
            UserRow {
                id: c,
                name: "c".into()
            },
        ]
    );
    assert_eq!(
        snap.requests_out,
        vec![UserRow {
            id: b,
            name: "b".into()
        }]
    );
    assert_eq!(requests(s, b).await, (vec![d], vec![a]));

    // A requester that deletes its account takes its requests along.
    let e = user(s, "e").await;
    s.add_friend(e, a, 12).await.unwrap();
    s.add_friend(d, e, 12).await.unwrap();
    s.delete_account(e, 13).await.unwrap().unwrap();
    assert_eq!(s.accept_friend(a, e, 13).await.unwrap(), None);
    assert_eq!(requests(s, a).await, (vec![b], vec![d]));
    assert_eq!(requests(s, d).await, (vec![a, c], vec![b]));
}

conformance!(blocks, blocks_suite);

async fn blocks_suite(s: &dyn Store) {
    let a = user(s, "a").await;
    let b = user(s, "b").await;
    let c = user(s, "c").await;
    let d = user(s, "d").await;
    let e = user(s, "e").await;
    let gone = user(s, "gone").await;
    s.delete_account(gone, 0).await.unwrap().unwrap();

    assert_eq!(s.block(a, 999_999, 1).await.unwrap(), Block::NoSuchUser);
    assert_eq!(s.block(a, u64::MAX, 1).await.unwrap(), Block::NoSuchUser);
    assert_eq!(s.block(a, gone, 1).await.unwrap(), Block::NoSuchUser);
    assert!(!s.blocks(a, gone).await.unwrap());
    assert!(s.snapshot(a).await.unwrap().blocked.is_empty());

    // Blocking a friend ends the friendship, both ways; blocking is one-way.
    befriend(s, a, b).await;
    assert_eq!(
        s.block(a, b, 2).await.unwrap(),
        Block::Done { was_friend: true }
    );
    assert!(s.blocks(a, b).await.unwrap());
    assert!(!s.blocks(b, a).await.unwrap());
    assert!(!s.are_friends(a, b).await.unwrap());
    assert!(!s.are_friends(b, a).await.unwrap());
    assert!(s.friend_ids(a).await.unwrap().is_empty());
    assert!(s.friend_ids(b).await.unwrap().is_empty());
    // Idempotent.
    assert_eq!(
        s.block(a, b, 3).await.unwrap(),
        Block::Done { was_friend: false }
    );
    let snap = s.snapshot(a).await.unwrap();
    assert_eq!(
        snap.blocked,
        vec![UserRow {
            id: b,
            name: "b".into()
        }]
    );
    assert!(snap.friends.is_empty());
    assert!(
        s.snapshot(b).await.unwrap().blocked.is_empty(),
        "never shown"
    );

    // The blocker cannot ask the blocked user.
    assert_eq!(s.add_friend(a, b, 4).await.unwrap(), AddFriend::YouBlock);
    assert_eq!(requests(s, a).await, (NONE, NONE));
    // The blocked user's requests are hidden: they look pending to the
    // sender, the blocker neither sees nor can answer them.
    assert_eq!(
        s.add_friend(b, a, 5).await.unwrap(),
        requested(a, "a", true, true)
    );
    assert_eq!(
        s.add_friend(b, a, 6).await.unwrap(),
        requested(a, "a", false, true)
    );
    assert_eq!(requests(s, b).await, (NONE, vec![a]));
    assert_eq!(
        requests(s, a).await,
        (NONE, NONE),
        "not from a blocked user"
    );
    assert_eq!(s.accept_friend(a, b, 6).await.unwrap(), None);
    assert!(!s.decline_friend(a, b).await.unwrap());
    assert!(!s.are_friends(a, b).await.unwrap());
    assert_eq!(s.add_friend(a, b, 6).await.unwrap(), AddFriend::YouBlock);
    assert_eq!(s.cancel_friend(b, a).await.unwrap(), Some(true), "hidden");
    assert_eq!(requests(s, b).await, (NONE, NONE));
    assert_eq!(s.cancel_friend(b, a).await.unwrap(), None);
    s.add_friend(b, a, 7).await.unwrap();

    // Unblocking drops the requests made during the block, and brings no
    // friendship back.
    s.unblock(a, b).await.unwrap();
    assert!(!s.blocks(a, b).await.unwrap());
    assert!(s.snapshot(a).await.unwrap().blocked.is_empty());
    assert_eq!(requests(s, a).await, (NONE, NONE));
    assert_eq!(requests(s, b).await, (NONE, NONE));
    assert_eq!(s.accept_friend(a, b, 8).await.unwrap(), None);
    assert!(!s.are_friends(a, b).await.unwrap());
    s.unblock(a, b).await.unwrap();
    s.unblock(a, c).await.unwrap();
    s.unblock(a, 999_999).await.unwrap();
    assert!(!s.blocks(a, b).await.unwrap());
    // Requests flow normally again.
    assert_eq!(
        s.add_friend(b, a, 9).await.unwrap(),
        requested(a, "a", true, false)
    );
    assert_eq!(requests(s, a).await, (vec![b], NONE));

    // A block drops the requests between the two, both ways, and no other.
    s.add_friend(a, c, 10).await.unwrap();
    s.add_friend(d, a, 10).await.unwrap();
    s.add_friend(a, e, 10).await.unwrap();
    assert_eq!(requests(s, a).await, (vec![b, d], vec![c, e]));
    assert_eq!(
        s.block(a, b, 11).await.unwrap(),
        Block::Done { was_friend: false }
    );
    assert_eq!(
        s.block(a, c, 11).await.unwrap(),
        Block::Done { was_friend: false }
    );
    assert_eq!(requests(s, a).await, (vec![d], vec![e]));
    assert_eq!(requests(s, b).await, (NONE, NONE));
    assert_eq!(requests(s, c).await, (NONE, NONE));
    assert_eq!(s.cancel_friend(a, c).await.unwrap(), None);
    // Being blocked: the same.
    assert_eq!(
        s.block(d, a, 12).await.unwrap(),
        Block::Done { was_friend: false }
    );
    assert_eq!(requests(s, a).await, (NONE, vec![e]));
    assert_eq!(requests(s, d).await, (NONE, NONE));
    assert!(s.blocks(d, a).await.unwrap());
    // a's request to d is hidden from d now.
    assert_eq!(
        s.add_friend(a, d, 13).await.unwrap(),
        requested(d, "d", true, true)
    );
    assert_eq!(requests(s, d).await, (NONE, NONE));
    assert_eq!(requests(s, a).await, (NONE, vec![d, e]));

    // The blocked list, by id with names; blocks both ways are independent.
    assert_eq!(
        s.snapshot(a).await.unwrap().blocked,
        vec![
            UserRow {
                id: b,
                name: "b".into()
            },
            UserRow {
                id: c,
                name: "c".into()
            },
        ]
    );
    assert_eq!(
        s.block(b, a, 14).await.unwrap(),
        Block::Done { was_friend: false }
    );
    assert!(s.blocks(a, b).await.unwrap() && s.blocks(b, a).await.unwrap());
    s.unblock(a, b).await.unwrap();
    assert!(!s.blocks(a, b).await.unwrap());
    assert!(s.blocks(b, a).await.unwrap(), "b's block stays");
    assert_eq!(ids(&s.snapshot(a).await.unwrap().blocked), vec![c]);
    assert_eq!(ids(&s.snapshot(b).await.unwrap().blocked), vec![a]);
    s.unblock(b, a).await.unwrap();

    // A block drops the blocked user's invites to the blocker, and only
    // those.
    let by_b = s
        .create_group(b, "by b", "", Visibility::Private, 20)
        .await
        .unwrap();
    let by_e = s
        .create_group(e, "by e", "", Visibility::Private, 20)
        .await
        .unwrap();
    assert_eq!(s.invite(by_b, a, b, 21).await.unwrap(), Invited::Invited);
    assert_eq!(s.invite(by_b, e, b, 21).await.unwrap(), Invited::Invited);
    assert_eq!(s.invite(by_e, a, e, 21).await.unwrap(), Invited::Invited);
    assert_eq!(s.invite(by_e, b, e, 21).await.unwrap(), Invited::Invited);
    let invites = |u: u64| async move {
        s.snapshot(u)
            .await
            .unwrap()
            .invites
            .iter()
            .map(|i: &InviteRow| (i.group.id, i.by.id))
            .collect::<Vec<_>>()
    };
    assert_eq!(invites(a).await, vec![(by_b, b), (by_e, e)]);
    s.block(a, b, 22).await.unwrap();
    assert_eq!(invites(a).await, vec![(by_e, e)]);
    assert_eq!(invites(e).await, vec![(by_b, b)], "b's other invites stay");
    assert_eq!(invites(b).await, vec![(by_e, e)]);
    assert_eq!(
        s.join_group(by_b, a, 23, 0).await.unwrap(),
        chatserver::store::Join::NoSuchGroup,
        "the invite is gone"
    );
}
