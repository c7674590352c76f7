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

conformance!(passwords, passwords_suite);

async fn passwords_suite(s: &dyn Store) {
    let a = user(s, "a").await;
    let b = user(s, "b").await;
    for t in [[1u8; 32], [2u8; 32]] {
        s.insert_token(&t, a, 1_000).await.unwrap();
    }
    s.insert_token(&[3u8; 32], b, 1_000).await.unwrap();

    // set_password replaces the hash and revokes every token of the user.
    s.set_password(a, "$new").await.unwrap();
    let (row, hash) = s.user_secret(a).await.unwrap().unwrap();
    assert_eq!((row.id, hash.as_str()), (a, "$new"));
    for t in [[1u8; 32], [2u8; 32]] {
        assert_eq!(s.token_user(&t, 0).await.unwrap(), None, "revoked");
    }
    assert_eq!(
        s.token_user(&[3u8; 32], 0).await.unwrap().map(|u| u.id),
        Some(b),
        "another user's token stays"
    );
    assert_eq!(s.user_secret(b).await.unwrap().unwrap().1, "$h");
    // A token issued afterwards works.
    s.insert_token(&[4u8; 32], a, 1_000).await.unwrap();
    assert_eq!(
        s.token_user(&[4u8; 32], 0).await.unwrap().map(|u| u.id),
        Some(a)
    );
    // Unknown users: nothing happens.
    s.set_password(999_999, "$x").await.unwrap();
    s.delete_tokens(999_999).await.unwrap();

    // delete_tokens revokes every token of the user, and only theirs.
    s.insert_token(&[5u8; 32], a, 1_000).await.unwrap();
    s.delete_tokens(a).await.unwrap();
    for t in [[4u8; 32], [5u8; 32]] {
        assert_eq!(s.token_user(&t, 0).await.unwrap(), None);
    }
    assert_eq!(
        s.token_user(&[3u8; 32], 0).await.unwrap().map(|u| u.id),
        Some(b)
    );
    assert_eq!(
        s.user_secret(a).await.unwrap().unwrap().1,
        "$new",
        "the password stays"
    );
    s.delete_tokens(a).await.unwrap();
}
