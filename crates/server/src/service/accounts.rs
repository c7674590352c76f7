//! Accounts: `register`, `whoami`, `sync`.

use chat_proto::User;
use chat_proto::reply::{Registered, Synced, Whoami};

use super::{Answer, Caller, OpResult};
use crate::ids::now_ms;
use crate::node::Node;

pub async fn register(node: &Node, name: String, password: String) -> OpResult {
    let hash = node.passwords.hash(password).await?;
    let id = node.store.create_user(&name, &hash, now_ms()).await?;
    tracing::info!(user = id, "registered");
    Ok(Answer::new(Registered {
        user: User {
            id,
            name,
            online: None,
        },
    }))
}

pub fn whoami(caller: &Caller) -> OpResult {
    Ok(Answer::new(Whoami {
        user: User {
            id: caller.user.id,
            name: caller.user.name.clone(),
            online: Some(true),
        },
    }))
}

pub async fn sync(node: &Node, caller: &Caller) -> OpResult {
    let snap = node.store.snapshot(caller.user.id).await?;
    let (friends, groups) = super::login::lists(node, snap).await;
    Ok(Answer::new(Synced { friends, groups }))
}
