//! Accounts and tokens (`AccountStore`, without `delete_account`).

use chatserver::store::Store;

use crate::*;

conformance!(basics, accounts_suite);

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
