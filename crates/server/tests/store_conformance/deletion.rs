//! Deleting an account (`AccountStore::delete_account`): everything the
//! account had goes, its groups pass on, its messages stay, its id is
//! never found or reused.

use chat_proto::{Role, Visibility};
use chatserver::store::{
    AddFriend, Block, DeletedAccount, GroupExit, GroupFate, Invited, Join, Snapshot, Store,
    StoreOptions, Target,
};

use crate::*;

fn exit(group: u64, members: Vec<u64>, fate: GroupFate) -> GroupExit {
    GroupExit {
        group,
        members: sorted(members),
        fate,
    }
}

/// The outcome with every list sorted, to compare it whatever the order.
fn normalized(mut d: DeletedAccount) -> DeletedAccount {
    d.friends.sort_unstable();
    d.requested.sort_unstable();
    for g in &mut d.groups {
        g.members.sort_unstable();
    }
    d.groups.sort_by_key(|g| g.group);
    d
}

async fn ids_of(
    v: impl std::future::Future<Output = chatserver::store::Result<Vec<u64>>>,
) -> Vec<u64> {
    sorted(v.await.unwrap())
}

async fn join(s: &dyn Store, g: u64, u: u64, now_ms: u64) {
    assert!(matches!(
        s.join_group(g, u, now_ms, 0).await.unwrap(),
        Join::Joined(_)
    ));
}

conformance!(everything, everything_suite);

async fn everything_suite(s: &dyn Store) {
    let d = user(s, "doomed").await;
    let f1 = user(s, "f1").await;
    let f2 = user(s, "f2").await;
    let r_out = user(s, "r_out").await;
    let r_hidden = user(s, "r_hidden").await;
    let r_in = user(s, "r_in").await;
    let blk = user(s, "blk").await;
    let inv_by = user(s, "inv_by").await;
    let inv_to = user(s, "inv_to").await;
    let m_first = user(s, "m_first").await;
    let adm_late = user(s, "adm_late").await;
    let adm_early = user(s, "adm_early").await;
    let mem_late = user(s, "mem_late").await;
    let mem_early = user(s, "mem_early").await;
    let o = user(s, "o").await;

    // Friends, requests both ways (one of them hidden), blocks both ways.
    befriend(s, d, f1).await;
    befriend(s, f2, d).await;
    befriend(s, d, blk).await;
    assert!(matches!(
        s.add_friend(d, r_out, 1).await.unwrap(),
        AddFriend::Requested { hidden: false, .. }
    ));
    s.block(r_hidden, d, 1).await.unwrap();
    assert!(matches!(
        s.add_friend(d, r_hidden, 1).await.unwrap(),
        AddFriend::Requested { hidden: true, .. }
    ));
    s.add_friend(r_in, d, 1).await.unwrap();
    assert_eq!(
        s.block(d, blk, 1).await.unwrap(),
        Block::Done { was_friend: true }
    );
    // Tokens.
    s.insert_token(&[9u8; 32], d, 1_000).await.unwrap();
    s.insert_token(&[10u8; 32], d, 1_000).await.unwrap();
    s.insert_token(&[11u8; 32], f1, 1_000).await.unwrap();

    // g1: d's, with a plain member who joined first and two admins; the
    // admin who joined earlier has the higher id.
    let g1 = s
        .create_group(d, "g1", "", Visibility::Public, 1)
        .await
        .unwrap();
    join(s, g1, m_first, 10).await;
    join(s, g1, adm_early, 20).await;
    join(s, g1, adm_late, 30).await;
    assert!(s.set_role(g1, adm_late, Role::Admin).await.unwrap());
    assert!(s.set_role(g1, adm_early, Role::Admin).await.unwrap());
    // g2: d's, plain members only; the one who joined earlier has the
    // higher id.
    let g2 = s
        .create_group(d, "g2", "", Visibility::Private, 1)
        .await
        .unwrap();
    for (u, t) in [(mem_early, 40), (mem_late, 50)] {
        s.invite(g2, u, d, t).await.unwrap();
        join(s, g2, u, t).await;
    }
    // g3: d's, nobody else in it, one pending invite.
    let g3 = s
        .create_group(d, "g3", "", Visibility::Private, 1)
        .await
        .unwrap();
    assert_eq!(s.invite(g3, o, d, 2).await.unwrap(), Invited::Invited);
    // g4: d a plain member; g5: d an admin.
    let g4 = s
        .create_group(o, "g4", "", Visibility::Public, 1)
        .await
        .unwrap();
    join(s, g4, d, 2).await;
    join(s, g4, f1, 3).await;
    let g5 = s
        .create_group(o, "g5", "", Visibility::Public, 1)
        .await
        .unwrap();
    join(s, g5, d, 2).await;
    assert!(s.set_role(g5, d, Role::Admin).await.unwrap());
    // Invites to d, and by d.
    let p = s
        .create_group(inv_by, "p", "", Visibility::Private, 1)
        .await
        .unwrap();
    assert_eq!(s.invite(p, d, inv_by, 3).await.unwrap(), Invited::Invited);
    assert_eq!(s.invite(g1, inv_to, d, 3).await.unwrap(), Invited::Invited);
    // Messages both ways, one-to-one and in a group.
    send(s, 100, d, Target::User(f1)).await;
    send(s, 101, f1, Target::User(d)).await;
    send(s, 102, d, Target::Group(g4)).await;
    send(s, 103, o, Target::Group(g4)).await;
    assert_eq!(s.snapshot(d).await.unwrap().inbox, mark(103, 2));

    let out = s
        .delete_account(d, 500)
        .await
        .unwrap()
        .expect("a live account");
    assert_eq!(
        normalized(out),
        DeletedAccount {
            friends: vec![f1, f2],
            requested: vec![r_out],
            groups: vec![
                exit(
                    g1,
                    vec![m_first, adm_late, adm_early],
                    GroupFate::PassedTo(adm_early)
                ),
                exit(
                    g2,
                    vec![mem_late, mem_early],
                    GroupFate::PassedTo(mem_early)
                ),
                exit(g3, vec![], GroupFate::Deleted),
                exit(g4, vec![o, f1], GroupFate::Left),
                exit(g5, vec![o], GroupFate::Left),
            ],
        }
    );

    // Never found again, whatever the way in.
    assert_eq!(s.user(d).await.unwrap(), None);
    assert_eq!(s.user_secret(d).await.unwrap(), None);
    for t in [[9u8; 32], [10u8; 32]] {
        assert_eq!(s.token_user(&t, 0).await.unwrap(), None);
    }
    s.insert_token(&[12u8; 32], d, 1_000).await.unwrap();
    assert_eq!(
        s.token_user(&[12u8; 32], 0).await.unwrap(),
        None,
        "not even by a token issued afterwards"
    );
    s.set_password(d, "$again").await.unwrap();
    assert_eq!(s.user_secret(d).await.unwrap(), None);
    assert_eq!(
        s.token_user(&[11u8; 32], 0).await.unwrap().map(|u| u.id),
        Some(f1),
        "others' tokens stay"
    );
    assert_eq!(
        s.delete_account(d, 501).await.unwrap(),
        None,
        "deleted already"
    );
    assert_eq!(
        s.add_friend(f1, d, 502).await.unwrap(),
        AddFriend::NoSuchUser
    );
    assert_eq!(s.block(f1, d, 502).await.unwrap(), Block::NoSuchUser);
    assert_eq!(
        s.snapshot(d).await.unwrap(),
        Snapshot::default(),
        "nothing left"
    );

    // Friendships, requests, blocks: gone both ways.
    for u in [f1, f2] {
        assert!(!s.are_friends(u, d).await.unwrap());
        assert!(!s.are_friends(d, u).await.unwrap());
        assert!(!s.friend_ids(u).await.unwrap().contains(&d));
        assert!(s.snapshot(u).await.unwrap().friends.is_empty());
    }
    assert!(s.friend_ids(d).await.unwrap().is_empty());
    assert!(s.snapshot(r_out).await.unwrap().requests_in.is_empty());
    assert!(s.snapshot(r_hidden).await.unwrap().requests_in.is_empty());
    assert!(s.snapshot(r_in).await.unwrap().requests_out.is_empty());
    assert_eq!(s.cancel_friend(r_in, d).await.unwrap(), None);
    assert_eq!(s.accept_friend(r_out, d, 503).await.unwrap(), None);
    assert!(!s.blocks(r_hidden, d).await.unwrap());
    assert!(!s.blocks(d, blk).await.unwrap());
    assert!(s.snapshot(r_hidden).await.unwrap().blocked.is_empty());

    // Invites to and by d: gone; others' invites stay.
    assert_eq!(s.join_group(p, d, 503, 0).await.unwrap(), Join::NoSuchGroup);
    assert!(s.snapshot(inv_to).await.unwrap().invites.is_empty());
    assert!(s.snapshot(o).await.unwrap().invites.is_empty());

    // Groups: passed to the longest-standing admin, else member; the
    // lonely one deleted; the others just left.
    assert_eq!(s.group(g1).await.unwrap().unwrap().creator, adm_early);
    let roles1: Vec<(u64, Role)> = s
        .members(g1)
        .await
        .unwrap()
        .into_iter()
        .map(|(u, r)| (u.id, r))
        .collect();
    assert_eq!(
        roles1,
        vec![
            (adm_early, Role::Creator),
            (adm_late, Role::Admin),
            (m_first, Role::Member)
        ]
    );
    assert_eq!(s.group(g2).await.unwrap().unwrap().creator, mem_early);
    assert_eq!(s.role(g2, mem_early).await.unwrap(), Some(Role::Creator));
    assert_eq!(s.role(g2, mem_late).await.unwrap(), Some(Role::Member));
    assert_eq!(s.group(g3).await.unwrap(), None);
    assert!(s.member_ids(g3).await.unwrap().is_empty());
    assert_eq!(
        s.join_group(g3, o, 504, 0).await.unwrap(),
        Join::NoSuchGroup
    );
    assert_eq!(s.group(g4).await.unwrap().unwrap().creator, o);
    assert_eq!(ids_of(s.member_ids(g4)).await, sorted(vec![o, f1]));
    assert_eq!(ids_of(s.member_ids(g5)).await, vec![o]);
    for g in [g1, g2, g4, g5] {
        assert_eq!(s.role(g, d).await.unwrap(), None);
        assert_eq!(s.member_since(g, d).await.unwrap(), None);
    }

    // d's inbox is gone; what d sent stays with its recipients.
    assert!(s.inbox_page(d, 0, 1 << 50, 100).await.unwrap().is_empty());
    let with: Vec<u64> = s
        .history_with(f1, d, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(with, vec![101, 100]);
    let group: Vec<(u64, u64)> = s
        .history_group(g4, 0, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| (m.id, m.from))
        .collect();
    assert_eq!(group, vec![(103, o), (102, d)]);
    assert_eq!(s.snapshot(f1).await.unwrap().inbox, mark(103, 3));
    assert_eq!(s.snapshot(o).await.unwrap().inbox, mark(102, 1));
    let page: Vec<u64> = s
        .inbox_page(f1, 0, 103, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(page, vec![100, 102, 103]);

    // Ids are never reused, not even the highest one.
    assert!(s.delete_account(o, 505).await.unwrap().is_some());
    let next = user(s, "next").await;
    assert!(next > o, "{next} after {o}");
    assert_eq!(s.user(o).await.unwrap(), None);
    assert_eq!(s.user(next).await.unwrap().unwrap().name, "next");

    // No such account.
    assert_eq!(s.delete_account(999_999, 506).await.unwrap(), None);
    assert_eq!(s.delete_account(u64::MAX, 506).await.unwrap(), None);
}

conformance!(succession, succession_suite);

/// A group outlives its creators one after another: to the longest-standing
/// admin, then (no admin left) the longest-standing member, then nobody.
async fn succession_suite(s: &dyn Store) {
    let c = user(s, "c").await;
    let m_late = user(s, "m_late").await;
    let m_early = user(s, "m_early").await;
    let a_late = user(s, "a_late").await;
    let a_early = user(s, "a_early").await;
    let g = s
        .create_group(c, "g", "", Visibility::Public, 1)
        .await
        .unwrap();
    join(s, g, m_early, 2).await;
    join(s, g, a_early, 3).await;
    join(s, g, m_late, 4).await;
    join(s, g, a_late, 5).await;
    // Promoted in the opposite order: promotion time does not count.
    assert!(s.set_role(g, a_late, Role::Admin).await.unwrap());
    assert!(s.set_role(g, a_early, Role::Admin).await.unwrap());

    let fate = |out: Option<DeletedAccount>| {
        let out = normalized(out.expect("a live account"));
        assert_eq!(out.groups.len(), 1);
        (out.groups[0].fate.clone(), out.groups[0].members.clone())
    };
    assert_eq!(
        fate(s.delete_account(c, 10).await.unwrap()),
        (
            GroupFate::PassedTo(a_early),
            sorted(vec![m_late, m_early, a_late, a_early])
        )
    );
    assert_eq!(
        fate(s.delete_account(a_early, 11).await.unwrap()),
        (
            GroupFate::PassedTo(a_late),
            sorted(vec![m_late, m_early, a_late])
        )
    );
    // A plain member leaving changes nothing else.
    assert_eq!(
        fate(s.delete_account(m_late, 12).await.unwrap()),
        (GroupFate::Left, sorted(vec![m_early, a_late]))
    );
    assert_eq!(s.group(g).await.unwrap().unwrap().creator, a_late);
    assert_eq!(
        fate(s.delete_account(a_late, 13).await.unwrap()),
        (GroupFate::PassedTo(m_early), vec![m_early])
    );
    assert_eq!(s.group(g).await.unwrap().unwrap().creator, m_early);
    assert_eq!(s.role(g, m_early).await.unwrap(), Some(Role::Creator));
    assert_eq!(
        fate(s.delete_account(m_early, 14).await.unwrap()),
        (GroupFate::Deleted, vec![])
    );
    assert_eq!(s.group(g).await.unwrap(), None);
    assert!(s.member_ids(g).await.unwrap().is_empty());
}

// The same with SQLite's message log applied after every commit (the
// deleted account's inbox entries may be in the log or the tables).
conformance!(
    everything_applied_at_once,
    everything_suite,
    StoreOptions {
        log_apply_every: std::time::Duration::ZERO,
        ..StoreOptions::default()
    }
);
