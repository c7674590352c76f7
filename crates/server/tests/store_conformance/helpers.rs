//! What the conformance suites share: store calls that set the scene,
//! and small conversions. Included by `main.rs` (SQLite and MySQL) and by
//! `tests/galera.rs` (a Galera cluster), which run the same suites.

pub use chatserver::store::{
    AddFriend, InboxMark, NewMsg, Store, StoreError, Target, UserRow, WriteOp,
};

/// The ids of these users, in their order.
pub fn ids(users: &[UserRow]) -> Vec<u64> {
    users.iter().map(|u| u.id).collect()
}

pub fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

pub async fn user(s: &dyn Store, name: &str) -> u64 {
    s.create_user(name, "$h", 0).await.unwrap()
}

/// `a` asks `b` and `b` accepts.
pub async fn befriend(s: &dyn Store, a: u64, b: u64) {
    assert!(matches!(
        s.add_friend(a, b, 0).await.unwrap(),
        AddFriend::Requested { .. }
    ));
    assert!(s.accept_friend(b, a, 0).await.unwrap().is_some());
}

pub fn msg(id: u64, from: u64, target: Target, text: &str, cid: Option<&str>) -> WriteOp {
    WriteOp::Msg(NewMsg {
        id,
        ts: 1000 + id,
        from,
        target,
        text: text.into(),
        cid: cid.map(str::to_owned),
    })
}

/// Stores one message.
pub async fn send(s: &dyn Store, id: u64, from: u64, target: Target) {
    s.write_batch(&[msg(id, from, target, &format!("m{id}"), None)])
        .await
        .unwrap();
}

/// Runs a store call until it does not lose a race (`Conflict` means
/// nothing changed and it may be retried at once).
pub async fn retried<T, F, Fut>(f: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = chatserver::store::Result<T>>,
{
    for _ in 0..100 {
        match f().await {
            Err(StoreError::Conflict(_)) => continue,
            other => return other.unwrap(),
        }
    }
    panic!("still conflicting after 100 tries");
}

pub fn mark(upto: u64, count: u64) -> InboxMark {
    InboxMark { upto, count }
}
