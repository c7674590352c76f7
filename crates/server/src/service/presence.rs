//! Presence announcements: a user's friends hear when the user's first
//! session anywhere starts and the last one ends.

use chat_proto::Event;

use super::relations::friend_ids;
use crate::node::Node;

/// Tells the user's friends whether the user is online now. The state sent
/// is read when sending, so racing logins and logouts cannot leave friends
/// with a stale state: the last event each friend gets is the truth.
pub async fn announce(node: &Node, user: u64) {
    match friend_ids(node, user).await {
        Ok(friends) => {
            let online = node.router.is_online(user).await;
            node.router
                .send(&friends, &Event::Presence { user, online });
        }
        Err(e) => tracing::warn!(user, error = %e, "presence not announced"),
    }
}
