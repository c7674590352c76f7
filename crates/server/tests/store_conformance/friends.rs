//! Friendships, requests and blocks (`FriendStore`) and the lists a
//! login shows of them.

use chatserver::store::{AddFriend, Store};

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
