//! Every SQL statement of the store, as constants: `common` for what both
//! dialects spell alike, `sqlite` and `mysql` for the rest (each re-exports
//! `common`, so a method body names `q::X` whatever the backend).

/// Statements that both dialects spell the same way.
pub mod common {
    pub const PING: &str = "SELECT 1";
    pub const MAX_MESSAGE_ID: &str = "SELECT MAX(id) FROM messages";
    pub const INSERT_USER: &str = "INSERT INTO users (name, pw_hash, created_ms) VALUES (?, ?, ?)";
    pub const USER: &str = "SELECT id, name FROM users WHERE id = ?";
    pub const USER_SECRET: &str = "SELECT id, name, pw_hash FROM users WHERE id = ?";
    pub const INSERT_TOKEN: &str =
        "INSERT INTO tokens (hash, user_id, expires_ms) VALUES (?, ?, ?)";
    pub const TOKEN_USER: &str = "SELECT u.id, u.name FROM tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.hash = ? AND t.expires_ms > ?";
    pub const DELETE_TOKEN: &str = "DELETE FROM tokens WHERE hash = ?";
    pub const PURGE_TOKENS: &str = "DELETE FROM tokens WHERE expires_ms <= ?";
    pub const FRIEND_IDS: &str = "SELECT friend_id FROM friendships WHERE user_id = ?";
    pub const ARE_FRIENDS: &str = "SELECT 1 FROM friendships WHERE user_id = ? AND friend_id = ?";
    pub const DELETE_FRIENDSHIP: &str = "DELETE FROM friendships \
         WHERE (user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)";
    pub const INSERT_GROUP: &str = "INSERT INTO chat_groups (name, description, creator_id, created_ms) \
         VALUES (?, ?, ?, ?)";
    pub const INSERT_MEMBER: &str =
        "INSERT INTO group_members (group_id, user_id, role, joined_ms) VALUES (?, ?, ?, ?)";
    pub const GROUP: &str =
        "SELECT id, name, description, creator_id FROM chat_groups WHERE id = ?";
    pub const ROLE: &str = "SELECT role FROM group_members WHERE group_id = ? AND user_id = ?";
    pub const DELETE_MEMBER: &str = "DELETE FROM group_members WHERE group_id = ? AND user_id = ?";
    pub const DELETE_MEMBERS: &str = "DELETE FROM group_members WHERE group_id = ?";
    pub const DELETE_GROUP: &str = "DELETE FROM chat_groups WHERE id = ?";
    pub const MEMBERS: &str = "SELECT u.id, u.name, m.role FROM group_members m \
         JOIN users u ON u.id = m.user_id WHERE m.group_id = ? ORDER BY m.role DESC, u.id";
    pub const MEMBER_IDS: &str = "SELECT user_id FROM group_members WHERE group_id = ?";
    pub fn insert_inbox(n: usize) -> &'static str {
        super::super::bulk::pick(&super::super::bulk::INBOX, n)
    }
    pub fn delete_inbox(n: usize) -> &'static str {
        super::super::bulk::pick(&super::super::bulk::ACKS, n)
    }
    pub const MSG_EXISTS: &str = "SELECT 1 FROM messages WHERE id = ?";
    pub const MSG_BY_CID: &str = "SELECT id, ts FROM messages WHERE sender_id = ? AND cid = ?";
    pub const INSERT_GROUP_INBOX: &str = "INSERT INTO inbox (user_id, msg_id) \
         SELECT user_id, ? FROM group_members WHERE group_id = ? AND user_id <> ?";
    pub const HISTORY_GROUP: &str = "SELECT id, sender_id, recipient_id, group_id, text, cid, ts \
         FROM messages WHERE group_id = ? AND id < ? ORDER BY id DESC LIMIT ?";
    pub const CLAIM_SLOT: &str = "UPDATE node_slots SET owner = ?, expires_ms = ? \
         WHERE slot = ? AND (expires_ms < ? OR owner = ?)";
    pub const RENEW_SLOT: &str =
        "UPDATE node_slots SET expires_ms = ? WHERE slot = ? AND owner = ?";
    pub const RELEASE_SLOT: &str =
        "UPDATE node_slots SET owner = '', expires_ms = 0 WHERE slot = ? AND owner = ?";
    /// Kind 1: friends (id, name); 2: groups (id, name, description,
    /// role, creator); 3: the inbox mark (max id, count).
    pub const SNAPSHOT: &str = "SELECT 1 AS kind, u.id AS id, u.name AS name, NULL AS descr, \
         NULL AS num, NULL AS num2 \
         FROM friendships f JOIN users u ON u.id = f.friend_id WHERE f.user_id = ? \
         UNION ALL SELECT 2, g.id, g.name, g.description, m.role, g.creator_id \
         FROM group_members m JOIN chat_groups g ON g.id = m.group_id WHERE m.user_id = ? \
         UNION ALL SELECT 3, COALESCE(MAX(msg_id), 0), NULL, NULL, COUNT(*), NULL \
         FROM inbox WHERE user_id = ? \
         ORDER BY 1, 2";
    pub const INBOX_PAGE: &str = "SELECT m.id, m.sender_id, m.recipient_id, m.group_id, m.text, m.cid, m.ts \
         FROM inbox i JOIN messages m ON m.id = i.msg_id \
         WHERE i.user_id = ? AND i.msg_id > ? AND i.msg_id <= ? ORDER BY i.msg_id LIMIT ?";
}

pub mod sqlite {
    pub use super::common::*;
    pub fn insert_messages(n: usize) -> &'static str {
        super::super::bulk::pick(&super::super::bulk::SQLITE_MESSAGES, n)
    }
    pub const INSERT_FRIENDSHIP: &str =
        "INSERT OR IGNORE INTO friendships (user_id, friend_id, created_ms) VALUES (?, ?, ?)";
    pub const INSERT_MEMBER_IGNORE: &str = "INSERT OR IGNORE INTO group_members \
         (group_id, user_id, role, joined_ms) VALUES (?, ?, ?, ?)";
    /// SQLite serialises writers, so a plain read inside the write
    /// transaction is stable.
    pub const GROUP_FOR_JOIN: &str = super::common::GROUP;
    pub const HISTORY_WITH: &str = "SELECT * FROM (\
         SELECT id, sender_id, recipient_id, group_id, text, cid, ts FROM messages \
         WHERE sender_id = ? AND recipient_id = ? AND id < ? ORDER BY id DESC LIMIT ?) \
         UNION ALL SELECT * FROM (\
         SELECT id, sender_id, recipient_id, group_id, text, cid, ts FROM messages \
         WHERE sender_id = ? AND recipient_id = ? AND id < ? ORDER BY id DESC LIMIT ?) \
         ORDER BY id DESC LIMIT ?";
}

pub mod mysql {
    pub use super::common::*;
    pub fn insert_messages(n: usize) -> &'static str {
        super::super::bulk::pick(&super::super::bulk::MYSQL_MESSAGES, n)
    }
    pub const INSERT_FRIENDSHIP: &str =
        "INSERT IGNORE INTO friendships (user_id, friend_id, created_ms) VALUES (?, ?, ?)";
    pub const INSERT_MEMBER_IGNORE: &str = "INSERT IGNORE INTO group_members \
         (group_id, user_id, role, joined_ms) VALUES (?, ?, ?, ?)";
    /// Locks the group row so a concurrent delete waits for the join.
    pub const GROUP_FOR_JOIN: &str = "SELECT id, name, description, creator_id FROM chat_groups \
         WHERE id = ? LOCK IN SHARE MODE";
    pub const HISTORY_WITH: &str = "(SELECT id, sender_id, recipient_id, group_id, text, cid, ts \
         FROM messages WHERE sender_id = ? AND recipient_id = ? AND id < ? ORDER BY id DESC LIMIT ?) \
         UNION ALL (SELECT id, sender_id, recipient_id, group_id, text, cid, ts \
         FROM messages WHERE sender_id = ? AND recipient_id = ? AND id < ? ORDER BY id DESC LIMIT ?) \
         ORDER BY id DESC LIMIT ?";
}
