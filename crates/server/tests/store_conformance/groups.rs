//! Groups, memberships, roles and invites (`GroupStore`).

use chat_proto::{Role, Visibility};
use chatserver::store::{GroupRow, InviteRow, Invited, Join, Store, UserRow};

use crate::*;

conformance!(basics, groups_suite);

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

fn row(id: u64, name: &str, desc: &str, creator: u64, visibility: Visibility) -> GroupRow {
    GroupRow {
        id,
        name: name.into(),
        desc: desc.into(),
        creator,
        visibility,
    }
}

/// The group's members and roles, in the store's order.
async fn roles(s: &dyn Store, g: u64) -> Vec<(u64, Role)> {
    s.members(g)
        .await
        .unwrap()
        .into_iter()
        .map(|(u, r)| (u.id, r))
        .collect()
}

/// The groups `u` is in, with `u`'s role, as a login lists them.
async fn memberships(s: &dyn Store, u: u64) -> Vec<(GroupRow, Role)> {
    s.snapshot(u)
        .await
        .unwrap()
        .groups
        .into_iter()
        .map(|m| (m.group, m.role))
        .collect()
}

/// `u`'s pending invites: (group, who invited).
async fn invites(s: &dyn Store, u: u64) -> Vec<(u64, u64)> {
    s.snapshot(u)
        .await
        .unwrap()
        .invites
        .iter()
        .map(|i| (i.group.id, i.by.id))
        .collect()
}

conformance!(settings, settings_suite);

async fn settings_suite(s: &dyn Store) {
    let a = user(s, "a").await;
    let b = user(s, "b").await;
    let open = s
        .create_group(a, "open", "anyone", Visibility::Public, 1)
        .await
        .unwrap();
    let closed = s
        .create_group(a, "closed", "", Visibility::Private, 1)
        .await
        .unwrap();
    assert_ne!(open, closed);
    let open_row = row(open, "open", "anyone", a, Visibility::Public);
    let mut closed_row = row(closed, "closed", "", a, Visibility::Private);
    assert_eq!(s.group(open).await.unwrap(), Some(open_row.clone()));
    assert_eq!(s.group(closed).await.unwrap(), Some(closed_row.clone()));
    assert_eq!(s.role(closed, a).await.unwrap(), Some(Role::Creator));
    assert_eq!(
        memberships(s, a).await,
        vec![
            (open_row.clone(), Role::Creator),
            (closed_row.clone(), Role::Creator)
        ]
    );

    // Each field alone.
    closed_row.name = "renamed 😀".into();
    assert_eq!(
        s.update_group(closed, Some("renamed 😀"), None, None)
            .await
            .unwrap(),
        Some(closed_row.clone())
    );
    closed_row.desc = "now with a description".into();
    assert_eq!(
        s.update_group(closed, None, Some("now with a description"), None)
            .await
            .unwrap(),
        Some(closed_row.clone())
    );
    closed_row.visibility = Visibility::Public;
    assert_eq!(
        s.update_group(closed, None, None, Some(Visibility::Public))
            .await
            .unwrap(),
        Some(closed_row.clone())
    );
    assert_eq!(s.group(closed).await.unwrap(), Some(closed_row.clone()));
    // Several at once; an empty description is a value.
    closed_row.name = "x".into();
    closed_row.desc = "".into();
    closed_row.visibility = Visibility::Private;
    assert_eq!(
        s.update_group(closed, Some("x"), Some(""), Some(Visibility::Private))
            .await
            .unwrap(),
        Some(closed_row.clone())
    );
    // The same values again, and nothing at all: the row as it is.
    assert_eq!(
        s.update_group(closed, Some("x"), Some(""), Some(Visibility::Private))
            .await
            .unwrap(),
        Some(closed_row.clone())
    );
    assert_eq!(
        s.update_group(closed, None, None, None).await.unwrap(),
        Some(closed_row.clone())
    );
    assert_eq!(s.group(closed).await.unwrap(), Some(closed_row.clone()));
    assert_eq!(
        s.group(open).await.unwrap(),
        Some(open_row.clone()),
        "other groups unchanged"
    );
    // Members see the change in their lists.
    assert_eq!(
        memberships(s, a).await,
        vec![(open_row, Role::Creator), (closed_row, Role::Creator)]
    );

    // No such group.
    assert_eq!(
        s.update_group(999_999, Some("y"), None, None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.update_group(999_999, None, None, None).await.unwrap(),
        None
    );
    assert_eq!(
        s.update_group(u64::MAX, Some("y"), Some("z"), Some(Visibility::Public))
            .await
            .unwrap(),
        None
    );
    s.delete_group(open).await.unwrap();
    assert_eq!(
        s.update_group(open, Some("y"), None, None).await.unwrap(),
        None
    );
    assert_eq!(s.group(open).await.unwrap(), None);
    assert_eq!(s.group(999_999).await.unwrap(), None);
    assert!(memberships(s, b).await.is_empty());
}

conformance!(invites, invites_suite);

async fn invites_suite(s: &dyn Store) {
    let a = user(s, "a").await;
    let b = user(s, "b").await;
    let c = user(s, "c").await;
    let d = user(s, "d").await;
    let p = s
        .create_group(a, "private", "shh", Visibility::Private, 1)
        .await
        .unwrap();
    let p_row = row(p, "private", "shh", a, Visibility::Private);

    // Private and not invited: as if there were no such group.
    assert_eq!(s.join_group(p, b, 2, 0).await.unwrap(), Join::NoSuchGroup);
    assert_eq!(s.role(p, b).await.unwrap(), None);
    assert_eq!(s.member_ids(p).await.unwrap(), vec![a]);
    assert!(!s.decline_invite(p, b).await.unwrap(), "no invite");

    // An invite is listed with the group (no role) and who invited.
    assert_eq!(s.invite(p, b, a, 3).await.unwrap(), Invited::Invited);
    let snap = s.snapshot(b).await.unwrap();
    assert_eq!(
        snap.invites,
        vec![InviteRow {
            group: p_row.clone(),
            by: UserRow {
                id: a,
                name: "a".into()
            },
        }]
    );
    assert!(snap.groups.is_empty(), "an invite is not a membership");
    assert_eq!(s.role(p, b).await.unwrap(), None);

    // Declined: gone, and the group is closed again.
    assert!(s.decline_invite(p, b).await.unwrap());
    assert!(!s.decline_invite(p, b).await.unwrap());
    assert!(invites(s, b).await.is_empty());
    assert_eq!(s.join_group(p, b, 4, 0).await.unwrap(), Join::NoSuchGroup);

    // A re-invite refreshes who invited; still one invite.
    assert_eq!(s.invite(p, c, a, 5).await.unwrap(), Invited::Invited);
    assert_eq!(
        s.join_group(p, c, 5, 0).await.unwrap(),
        Join::Joined(p_row.clone())
    );
    assert!(s.set_role(p, c, Role::Admin).await.unwrap());
    assert_eq!(s.invite(p, b, a, 6).await.unwrap(), Invited::Invited);
    assert_eq!(s.invite(p, b, c, 7).await.unwrap(), Invited::Invited);
    assert_eq!(invites(s, b).await, vec![(p, c)]);
    assert_eq!(
        s.snapshot(b).await.unwrap().invites[0].by,
        UserRow {
            id: c,
            name: "c".into()
        }
    );

    // Joining consumes the invite.
    assert_eq!(
        s.join_group(p, b, 8, 42).await.unwrap(),
        Join::Joined(p_row.clone())
    );
    assert!(invites(s, b).await.is_empty());
    assert_eq!(s.role(p, b).await.unwrap(), Some(Role::Member));
    assert_eq!(s.member_since(p, b).await.unwrap(), Some(42));
    assert_eq!(memberships(s, b).await, vec![(p_row.clone(), Role::Member)]);
    assert_eq!(s.join_group(p, b, 9, 0).await.unwrap(), Join::AlreadyMember);
    assert_eq!(s.member_since(p, b).await.unwrap(), Some(42), "unchanged");
    // Members cannot be invited.
    assert_eq!(s.invite(p, b, c, 9).await.unwrap(), Invited::AlreadyMember);
    assert_eq!(s.invite(p, a, c, 9).await.unwrap(), Invited::AlreadyMember);
    assert!(invites(s, b).await.is_empty());
    assert!(invites(s, a).await.is_empty());
    // The invite was used up: having left, b needs another.
    assert!(s.leave_group(p, b).await.unwrap());
    assert_eq!(s.join_group(p, b, 10, 0).await.unwrap(), Join::NoSuchGroup);

    // An invite to a public group is consumed by joining too.
    let open = s
        .create_group(d, "open", "", Visibility::Public, 11)
        .await
        .unwrap();
    assert_eq!(s.invite(open, b, d, 12).await.unwrap(), Invited::Invited);
    assert_eq!(s.invite(p, b, a, 12).await.unwrap(), Invited::Invited);
    assert_eq!(invites(s, b).await, vec![(p, a), (open, d)], "by group");
    assert!(matches!(
        s.join_group(open, b, 13, 0).await.unwrap(),
        Join::Joined(_)
    ));
    assert_eq!(invites(s, b).await, vec![(p, a)]);

    // Deleting a group drops its invites, and only its.
    assert_eq!(s.invite(open, c, d, 14).await.unwrap(), Invited::Invited);
    assert_eq!(s.invite(p, d, a, 14).await.unwrap(), Invited::Invited);
    assert_eq!(sorted(s.delete_group(p).await.unwrap()), vec![a, c]);
    assert!(invites(s, b).await.is_empty());
    assert!(invites(s, d).await.is_empty());
    assert_eq!(invites(s, c).await, vec![(open, d)]);
    assert_eq!(s.join_group(p, b, 15, 0).await.unwrap(), Join::NoSuchGroup);
    assert!(!s.decline_invite(p, b).await.unwrap());
    assert!(!s.decline_invite(999_999, b).await.unwrap());
}

conformance!(roles, roles_suite);

async fn roles_suite(s: &dyn Store) {
    // Ids in creation order; the creator's is the highest, so the member
    // order cannot come from ids alone.
    let m1 = user(s, "m1").await;
    let m2 = user(s, "m2").await;
    let a2 = user(s, "a2").await;
    let a1 = user(s, "a1").await;
    let c = user(s, "c").await;
    let out = user(s, "out").await;
    let g = s
        .create_group(c, "g", "", Visibility::Public, 1)
        .await
        .unwrap();
    for (u, t) in [(m2, 2), (a1, 3), (m1, 4), (a2, 5)] {
        assert!(matches!(
            s.join_group(g, u, t, 0).await.unwrap(),
            Join::Joined(_)
        ));
    }
    assert_eq!(
        roles(s, g).await,
        vec![
            (c, Role::Creator),
            (m1, Role::Member),
            (m2, Role::Member),
            (a2, Role::Member),
            (a1, Role::Member),
        ],
        "the creator, then members by id"
    );

    // set_role: admin and back; the same role again is still a success.
    assert!(s.set_role(g, a1, Role::Admin).await.unwrap());
    assert!(s.set_role(g, a2, Role::Admin).await.unwrap());
    assert!(
        s.set_role(g, a2, Role::Admin).await.unwrap(),
        "already admin"
    );
    assert!(s.set_role(g, m1, Role::Admin).await.unwrap());
    assert!(s.set_role(g, m1, Role::Member).await.unwrap());
    assert!(
        s.set_role(g, m1, Role::Member).await.unwrap(),
        "already member"
    );
    assert_eq!(s.role(g, a1).await.unwrap(), Some(Role::Admin));
    assert_eq!(s.role(g, m1).await.unwrap(), Some(Role::Member));
    assert!(
        !s.set_role(g, out, Role::Admin).await.unwrap(),
        "not a member"
    );
    assert!(!s.set_role(g, 999_999, Role::Admin).await.unwrap());
    assert!(!s.set_role(999_999, a1, Role::Admin).await.unwrap());
    assert_eq!(s.role(g, out).await.unwrap(), None);
    // The creator, then admins, then members (by id within a role).
    assert_eq!(
        roles(s, g).await,
        vec![
            (c, Role::Creator),
            (a2, Role::Admin),
            (a1, Role::Admin),
            (m1, Role::Member),
            (m2, Role::Member),
        ]
    );
    let names: Vec<String> = s
        .members(g)
        .await
        .unwrap()
        .into_iter()
        .map(|(u, _)| u.name)
        .collect();
    assert_eq!(names, ["c", "a2", "a1", "m1", "m2"]);
    assert_eq!(
        memberships(s, a1).await[0].1,
        Role::Admin,
        "a login lists the role"
    );

    // transfer_group: the new creator, the old one an admin, the group's
    // creator column.
    assert!(!s.transfer_group(g, c, out).await.unwrap(), "not a member");
    assert_eq!(s.group(g).await.unwrap().unwrap().creator, c);
    assert_eq!(s.role(g, c).await.unwrap(), Some(Role::Creator));
    assert!(s.transfer_group(g, c, m2).await.unwrap());
    assert_eq!(s.role(g, m2).await.unwrap(), Some(Role::Creator));
    assert_eq!(s.role(g, c).await.unwrap(), Some(Role::Admin));
    assert_eq!(s.group(g).await.unwrap().unwrap().creator, m2);
    assert_eq!(
        roles(s, g).await,
        vec![
            (m2, Role::Creator),
            (a2, Role::Admin),
            (a1, Role::Admin),
            (c, Role::Admin),
            (m1, Role::Member),
        ]
    );
    let mine = memberships(s, m2).await;
    assert_eq!((mine[0].0.creator, mine[0].1), (m2, Role::Creator));
    assert_eq!(memberships(s, c).await[0].1, Role::Admin);
    // To an admin, and back to the first creator.
    assert!(s.transfer_group(g, m2, a1).await.unwrap());
    assert!(s.transfer_group(g, a1, c).await.unwrap());
    assert_eq!(s.group(g).await.unwrap().unwrap().creator, c);
    assert_eq!(
        roles(s, g).await,
        vec![
            (c, Role::Creator),
            (m2, Role::Admin),
            (a2, Role::Admin),
            (a1, Role::Admin),
            (m1, Role::Member),
        ]
    );
    assert!(!s.transfer_group(999_999, c, a1).await.unwrap());
    // Exactly one creator throughout.
    let creators = roles(s, g)
        .await
        .iter()
        .filter(|(_, r)| *r == Role::Creator)
        .count();
    assert_eq!(creators, 1);
    assert!(s.members(999_999).await.unwrap().is_empty());
}
