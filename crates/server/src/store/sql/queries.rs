//! Every SQL statement of the store, as constants: `common` for what both
//! dialects spell alike, `sqlite` and `mysql` for the rest (each re-exports
//! `common`, so a method body names `q::X` whatever the backend).

/// Statements that both dialects spell the same way.
pub mod common {
    pub const PING: &str = "SELECT 1";
    pub const MAX_MESSAGE_ID: &str = "SELECT MAX(id) FROM messages";

    // Accounts. A deleted account's row stays (its id is never reused) and
    // is never found.
    pub const INSERT_USER: &str = "INSERT INTO users (name, pw_hash, created_ms) VALUES (?, ?, ?)";
    pub const USER: &str = "SELECT id, name FROM users WHERE id = ? AND deleted_ms IS NULL";
    pub const USER_SECRET: &str =
        "SELECT id, name, pw_hash FROM users WHERE id = ? AND deleted_ms IS NULL";
    pub const SET_PASSWORD: &str =
        "UPDATE users SET pw_hash = ? WHERE id = ? AND deleted_ms IS NULL";
    pub const MARK_DELETED: &str = "UPDATE users SET deleted_ms = ?, pw_hash = '' WHERE id = ?";
    pub const INSERT_TOKEN: &str =
        "INSERT INTO tokens (hash, user_id, expires_ms) VALUES (?, ?, ?)";
    pub const TOKEN_USER: &str = "SELECT u.id, u.name FROM tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.hash = ? AND t.expires_ms > ? AND u.deleted_ms IS NULL";
    pub const DELETE_TOKEN: &str = "DELETE FROM tokens WHERE hash = ?";
    pub const DELETE_TOKENS: &str = "DELETE FROM tokens WHERE user_id = ?";
    pub const PURGE_TOKENS: &str = "DELETE FROM tokens WHERE expires_ms <= ?";

    // Friends, requests, blocks.
    pub const FRIEND_IDS: &str = "SELECT friend_id FROM friendships WHERE user_id = ?";
    pub const ARE_FRIENDS: &str = "SELECT 1 FROM friendships WHERE user_id = ? AND friend_id = ?";
    pub const DELETE_FRIENDSHIP: &str = "DELETE FROM friendships \
         WHERE (user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)";
    pub const DELETE_FRIENDSHIPS_OF: &str =
        "DELETE FROM friendships WHERE user_id = ? OR friend_id = ?";
    pub const REQUEST_EXISTS: &str =
        "SELECT 1 FROM friend_requests WHERE from_id = ? AND to_id = ?";
    pub const DELETE_REQUEST: &str = "DELETE FROM friend_requests WHERE from_id = ? AND to_id = ?";
    pub const DELETE_REQUESTS_BETWEEN: &str = "DELETE FROM friend_requests \
         WHERE (from_id = ? AND to_id = ?) OR (from_id = ? AND to_id = ?)";
    pub const DELETE_REQUESTS_OF: &str =
        "DELETE FROM friend_requests WHERE from_id = ? OR to_id = ?";
    /// The users `?` has a request to that they can see (they do not block
    /// the requester).
    pub const VISIBLE_REQUESTS_FROM: &str = "SELECT r.to_id FROM friend_requests r \
         WHERE r.from_id = ? AND NOT EXISTS \
         (SELECT 1 FROM blocks b WHERE b.user_id = r.to_id AND b.blocked_id = r.from_id)";
    pub const BLOCKS: &str = "SELECT 1 FROM blocks WHERE user_id = ? AND blocked_id = ?";
    pub const DELETE_BLOCK: &str = "DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?";
    pub const DELETE_BLOCKS_OF: &str = "DELETE FROM blocks WHERE user_id = ? OR blocked_id = ?";

    // Groups, members, invites. Roles: 0 member, 1 creator, 2 admin.
    pub const INSERT_GROUP: &str = "INSERT INTO chat_groups \
         (name, description, creator_id, created_ms, visibility) VALUES (?, ?, ?, ?, ?)";
    pub const INSERT_MEMBER: &str = "INSERT INTO group_members \
         (group_id, user_id, role, joined_ms, since_id) VALUES (?, ?, ?, ?, ?)";
    pub const GROUP: &str =
        "SELECT id, name, description, creator_id, visibility FROM chat_groups WHERE id = ?";
    pub const UPDATE_GROUP: &str = "UPDATE chat_groups SET name = COALESCE(?, name), \
         description = COALESCE(?, description), visibility = COALESCE(?, visibility) \
         WHERE id = ?";
    pub const SET_CREATOR: &str = "UPDATE chat_groups SET creator_id = ? WHERE id = ?";
    pub const ROLE: &str = "SELECT role FROM group_members WHERE group_id = ? AND user_id = ?";
    pub const SET_ROLE: &str =
        "UPDATE group_members SET role = ? WHERE group_id = ? AND user_id = ?";
    pub const LAST_GROUP_MSG: &str = "SELECT MAX(id) FROM messages WHERE group_id = ?";
    pub const MEMBER_SINCE: &str =
        "SELECT since_id FROM group_members WHERE group_id = ? AND user_id = ?";
    pub const MEMBERSHIPS_OF: &str = "SELECT group_id, role FROM group_members WHERE user_id = ?";
    /// Who takes over a group whose creator is gone: the longest-standing
    /// admin, else the longest-standing member.
    pub const SUCCESSOR: &str = "SELECT user_id FROM group_members \
         WHERE group_id = ? AND user_id <> ? \
         ORDER BY CASE role WHEN 2 THEN 0 ELSE 1 END, joined_ms, user_id LIMIT 1";
    pub const DELETE_MEMBER: &str = "DELETE FROM group_members WHERE group_id = ? AND user_id = ?";
    pub const DELETE_MEMBERS: &str = "DELETE FROM group_members WHERE group_id = ?";
    pub const DELETE_GROUP: &str = "DELETE FROM chat_groups WHERE id = ?";
    /// The creator first, then admins, then members.
    pub const MEMBERS: &str = "SELECT u.id, u.name, m.role FROM group_members m \
         JOIN users u ON u.id = m.user_id WHERE m.group_id = ? \
         ORDER BY CASE m.role WHEN 1 THEN 0 WHEN 2 THEN 1 ELSE 2 END, u.id";
    pub const MEMBER_IDS: &str = "SELECT user_id FROM group_members WHERE group_id = ?";
    pub const DELETE_INVITE: &str = "DELETE FROM group_invites WHERE group_id = ? AND user_id = ?";
    pub const DELETE_INVITES_BY: &str = "DELETE FROM group_invites WHERE user_id = ? AND by_id = ?";
    pub const DELETE_INVITES_OF_GROUP: &str = "DELETE FROM group_invites WHERE group_id = ?";
    pub const DELETE_INVITES_OF: &str = "DELETE FROM group_invites WHERE user_id = ? OR by_id = ?";

    // Messages.
    pub fn insert_inbox(n: usize) -> &'static str {
        super::super::bulk::pick(&super::super::bulk::INBOX, n)
    }
    pub fn delete_inbox(n: usize) -> &'static str {
        super::super::bulk::pick(&super::super::bulk::ACKS, n)
    }
    pub const MSG_EXISTS: &str = "SELECT 1 FROM messages WHERE id = ?";
    pub const MSG_BY_CID: &str = "SELECT id, sender_id, recipient_id, group_id, text, cid, ts \
         FROM messages WHERE sender_id = ? AND cid = ?";
    pub const INSERT_GROUP_INBOX: &str = "INSERT INTO inbox (user_id, msg_id) \
         SELECT user_id, ? FROM group_members WHERE group_id = ? AND user_id <> ?";
    pub const DELETE_INBOX_OF: &str = "DELETE FROM inbox WHERE user_id = ?";
    /// Who has not acked a message yet.
    pub const INBOX_HOLDERS: &str = "SELECT user_id FROM inbox WHERE msg_id = ?";
    pub const INBOX_BETWEEN: &str =
        "SELECT msg_id FROM inbox WHERE user_id = ? AND msg_id >= ? AND msg_id <= ?";
    pub const HISTORY_GROUP: &str = "SELECT id, sender_id, recipient_id, group_id, text, cid, ts \
         FROM messages WHERE group_id = ? AND id >= ? AND id < ? ORDER BY id DESC LIMIT ?";

    // Node slots.
    pub const CLAIM_SLOT: &str = "UPDATE node_slots SET owner = ?, expires_ms = ? \
         WHERE slot = ? AND (expires_ms < ? OR owner = ?)";
    pub const RENEW_SLOT: &str =
        "UPDATE node_slots SET expires_ms = ? WHERE slot = ? AND owner = ?";
    pub const RELEASE_SLOT: &str =
        "UPDATE node_slots SET owner = '', expires_ms = 0 WHERE slot = ? AND owner = ?";

    /// Everything a login lists, as rows of one shape (see
    /// `rows::SnapshotRow`): kind 1 friends; 2 groups with the user's
    /// role; 3 the inbox mark; 4 requests in (not from users the user
    /// blocks); 5 requests out; 6 blocked users; 7 invites. Binds the user
    /// eight times.
    pub const SNAPSHOT: &str = "SELECT 1 AS kind, u.id AS id, u.name AS name, NULL AS descr, \
         NULL AS num, NULL AS num2, NULL AS num3, NULL AS name2 \
         FROM friendships f JOIN users u ON u.id = f.friend_id WHERE f.user_id = ? \
         UNION ALL SELECT 2, g.id, g.name, g.description, m.role, g.creator_id, g.visibility, NULL \
         FROM group_members m JOIN chat_groups g ON g.id = m.group_id WHERE m.user_id = ? \
         UNION ALL SELECT 3, COALESCE(MAX(msg_id), 0), NULL, NULL, COUNT(*), NULL, NULL, NULL \
         FROM inbox WHERE user_id = ? \
         UNION ALL SELECT 4, u.id, u.name, NULL, NULL, NULL, NULL, NULL \
         FROM friend_requests r JOIN users u ON u.id = r.from_id WHERE r.to_id = ? \
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = ? AND b.blocked_id = r.from_id) \
         UNION ALL SELECT 5, u.id, u.name, NULL, NULL, NULL, NULL, NULL \
         FROM friend_requests r JOIN users u ON u.id = r.to_id WHERE r.from_id = ? \
         UNION ALL SELECT 6, u.id, u.name, NULL, NULL, NULL, NULL, NULL \
         FROM blocks b JOIN users u ON u.id = b.blocked_id WHERE b.user_id = ? \
         UNION ALL SELECT 7, g.id, g.name, g.description, i.by_id, g.creator_id, g.visibility, u.name \
         FROM group_invites i JOIN chat_groups g ON g.id = i.group_id \
         JOIN users u ON u.id = i.by_id WHERE i.user_id = ? \
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
    pub const INSERT_REQUEST: &str = "INSERT OR IGNORE INTO friend_requests \
         (from_id, to_id, created_ms) VALUES (?, ?, ?)";
    pub const INSERT_BLOCK: &str =
        "INSERT OR IGNORE INTO blocks (user_id, blocked_id, created_ms) VALUES (?, ?, ?)";
    pub const UPSERT_INVITE: &str = "INSERT INTO group_invites \
         (group_id, user_id, by_id, created_ms) VALUES (?, ?, ?, ?) \
         ON CONFLICT (group_id, user_id) DO UPDATE SET by_id = excluded.by_id, \
         created_ms = excluded.created_ms";
    /// SQLite serialises writers, so a plain read inside the write
    /// transaction is stable.
    pub const GROUP_FOR_JOIN: &str = super::common::GROUP;
    /// One write transaction runs at a time (one writer connection), so
    /// these need not lock: they only read (see `mysql`).
    pub const LOCK_PAIR: &str = "SELECT id FROM users WHERE id IN (?, ?)";
    pub const LOCK_USER: &str = super::common::USER;
    pub const LOCK_GROUP: &str = "SELECT id FROM chat_groups WHERE id = ?";
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
    /// Whether the server is a Galera node: `wsrep_on` is ON.
    pub const WSREP_ON: &str = "SHOW VARIABLES LIKE 'wsrep_on'";
    /// Galera: reads wait for the cluster's earlier commits.
    pub const SYNC_WAIT: &str = "SET SESSION wsrep_sync_wait = 1";
    pub fn insert_messages(n: usize) -> &'static str {
        super::super::bulk::pick(&super::super::bulk::MYSQL_MESSAGES, n)
    }
    pub const INSERT_FRIENDSHIP: &str =
        "INSERT IGNORE INTO friendships (user_id, friend_id, created_ms) VALUES (?, ?, ?)";
    pub const INSERT_REQUEST: &str = "INSERT IGNORE INTO friend_requests \
         (from_id, to_id, created_ms) VALUES (?, ?, ?)";
    pub const INSERT_BLOCK: &str =
        "INSERT IGNORE INTO blocks (user_id, blocked_id, created_ms) VALUES (?, ?, ?)";
    pub const UPSERT_INVITE: &str = "INSERT INTO group_invites \
         (group_id, user_id, by_id, created_ms) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE by_id = VALUES(by_id), created_ms = VALUES(created_ms)";
    /// The group a join reads, after `LOCK_GROUP` (its row is locked
    /// already; `FOR UPDATE` reads the latest committed version).
    pub const GROUP_FOR_JOIN: &str = "SELECT id, name, description, creator_id, visibility \
         FROM chat_groups WHERE id = ? FOR UPDATE";
    /// Locks both users' rows, in id order, first thing in a transaction
    /// on a pair (requests, friendship, block): calls on the same pair run
    /// one after the other, and each reads what the previous one
    /// committed (its read view starts after the lock). Without it, plain
    /// REPEATABLE READ checks let crossing requests both stay pending, or
    /// an accept and a block both succeed. A write, not `SELECT ... FOR
    /// UPDATE`: on Galera only written rows are certified, so two nodes'
    /// transactions on one pair conflict (one is rolled back and retried)
    /// only if both write the rows (migration 0004).
    pub const LOCK_PAIR: &str =
        "UPDATE users SET lock_seq = lock_seq + 1 WHERE id IN (?, ?) ORDER BY id";
    /// The live user, locked: deleting an account waits for the calls on
    /// its pairs under way, and later ones find it gone. (The deletion
    /// then writes the row, which Galera certifies against the pair
    /// calls' writes of it.)
    pub const LOCK_USER: &str =
        "SELECT id, name FROM users WHERE id = ? AND deleted_ms IS NULL FOR UPDATE";
    /// Locks the group row by writing it (see `LOCK_PAIR`): joins, invites
    /// and the group's deletion run one after the other, on one server or
    /// across Galera nodes (where the loser is rolled back and retried).
    pub const LOCK_GROUP: &str = "UPDATE chat_groups SET lock_seq = lock_seq + 1 WHERE id = ?";
    pub const HISTORY_WITH: &str = "(SELECT id, sender_id, recipient_id, group_id, text, cid, ts \
         FROM messages WHERE sender_id = ? AND recipient_id = ? AND id < ? ORDER BY id DESC LIMIT ?) \
         UNION ALL (SELECT id, sender_id, recipient_id, group_id, text, cid, ts \
         FROM messages WHERE sender_id = ? AND recipient_id = ? AND id < ? ORDER BY id DESC LIMIT ?) \
         ORDER BY id DESC LIMIT ?";
}
