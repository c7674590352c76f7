//! Groups, memberships, roles and invites (`GroupStore`).

use chat_proto::{Role, Visibility};
use chatserver::store::{Join, Store};

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
