//! Concurrent calls on the same users or group end as if they had run
//! one after the other ("each operation is one transaction, so the rules
//! hold however requests race"). A call that loses a race may fail with
//! `Conflict` (nothing changed): it is retried, as a client would.

use chat_proto::Visibility;
use chatserver::store::{AddFriend, Store};

use crate::*;

/// Who `u` has requests from and to, as a login lists them.
async fn requests(s: &dyn Store, u: u64) -> (Vec<u64>, Vec<u64>) {
    let snap = s.snapshot(u).await.unwrap();
    (ids(&snap.requests_in), ids(&snap.requests_out))
}

const NONE: Vec<u64> = Vec::new();

conformance!(friends, friends_suite);

/// "Each operation is one transaction, so the rules hold however requests
/// race": concurrent calls on the same pair end as if they ran one after
/// the other.
async fn friends_suite(s: &dyn Store) {
    for round in 0..20u64 {
        let a = user(s, "a").await;
        let b = user(s, "b").await;
        // Crossing requests: one asks, the other accepts.
        let (x, y) = futures::join!(
            retried(|| s.add_friend(a, b, round)),
            retried(|| s.add_friend(b, a, round))
        );
        let accepted = [&x, &y]
            .iter()
            .filter(|o| matches!(o, AddFriend::Accepted(_)))
            .count();
        assert_eq!(accepted, 1, "round {round}: {x:?} / {y:?}");
        assert!(s.are_friends(a, b).await.unwrap(), "round {round}");
        assert_eq!(requests(s, a).await, (NONE, NONE), "round {round}");
        assert_eq!(requests(s, b).await, (NONE, NONE), "round {round}");

        // Accepting while being blocked: never friends and blocked at once.
        let c = user(s, "c").await;
        s.add_friend(c, a, round).await.unwrap();
        let (accepted, _) = futures::join!(
            retried(|| s.accept_friend(a, c, round)),
            retried(|| s.block(c, a, round))
        );
        assert!(s.blocks(c, a).await.unwrap());
        assert!(
            !s.are_friends(a, c).await.unwrap() && !s.are_friends(c, a).await.unwrap(),
            "round {round}: blocked yet friends (accept returned {accepted:?})"
        );
        assert_eq!(requests(s, c).await, (NONE, NONE), "round {round}");

        // Accepting a request that is being withdrawn: one of the two.
        let f = user(s, "f").await;
        s.add_friend(f, b, round).await.unwrap();
        let (accepted, cancelled) = futures::join!(
            retried(|| s.accept_friend(b, f, round)),
            retried(|| s.cancel_friend(f, b))
        );
        assert!(
            accepted.is_some() != cancelled.is_some(),
            "round {round}: accepted {accepted:?}, cancelled {cancelled:?}"
        );
        assert_eq!(s.are_friends(b, f).await.unwrap(), accepted.is_some());
        assert_eq!(requests(s, f).await, (NONE, NONE), "round {round}");

        // Asking, or accepting, while the other side deletes its account:
        // nothing is left pointing at the deleted account.
        let d = user(s, "d").await;
        let e = user(s, "e").await;
        s.add_friend(e, a, round).await.unwrap();
        let _ = futures::join!(
            retried(|| s.add_friend(a, d, round)),
            retried(|| s.delete_account(d, round)),
            retried(|| s.accept_friend(a, e, round)),
            retried(|| s.delete_account(e, round)),
        );
        let snap = s.snapshot(a).await.unwrap();
        assert_eq!(ids(&snap.friends), vec![b], "round {round}: {snap:?}");
        assert!(snap.requests_out.is_empty(), "round {round}: {snap:?}");
        assert_eq!(s.friend_ids(a).await.unwrap(), vec![b], "round {round}");
    }
}

conformance!(groups, groups_suite);

/// Concurrent calls on the same group and member end as if they ran one
/// after the other.
async fn groups_suite(s: &dyn Store) {
    for round in 0..20u64 {
        let c = user(s, "c").await;
        let u = user(s, "u").await;
        let g = s
            .create_group(c, "g", "", Visibility::Private, round)
            .await
            .unwrap();
        // Inviting someone who is joining on an earlier invite: no invite
        // is left for a member.
        s.invite(g, u, c, round).await.unwrap();
        let _ = futures::join!(
            retried(|| s.invite(g, u, c, round)),
            retried(|| s.join_group(g, u, round, 0))
        );
        let role = s.role(g, u).await.unwrap();
        let invites = s.snapshot(u).await.unwrap().invites;
        assert!(
            role.is_none() || invites.is_empty(),
            "round {round}: a {role:?} with a pending invite: {invites:?}"
        );
    }
}
