-- Schema of the embedded store. Ids are below 2^53 (see ids.rs).
CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    pw_hash    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
);

-- Only a SHA-256 of each token is kept.
CREATE TABLE tokens (
    hash       BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_expiry ON tokens (expires_ms);

-- A friendship is two rows, one each way.
CREATE TABLE friendships (
    user_id    INTEGER NOT NULL,
    friend_id  INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, friend_id)
) WITHOUT ROWID;

CREATE TABLE chat_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    creator_id  INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL
);

-- role: 1 creator, 0 member.
CREATE TABLE group_members (
    group_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    role      INTEGER NOT NULL,
    joined_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_members_user ON group_members (user_id, group_id);

-- One row a message; recipient_id for one-to-one, group_id for groups.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    sender_id    INTEGER NOT NULL,
    recipient_id INTEGER,
    group_id     INTEGER,
    text         TEXT    NOT NULL,
    cid          TEXT,
    ts           INTEGER NOT NULL
);
CREATE INDEX messages_direct ON messages (sender_id, recipient_id, id);
CREATE INDEX messages_group ON messages (group_id, id) WHERE group_id IS NOT NULL;
CREATE UNIQUE INDEX messages_cid ON messages (sender_id, cid) WHERE cid IS NOT NULL;

-- A row per recipient and message until the recipient acks it.
CREATE TABLE inbox (
    user_id INTEGER NOT NULL,
    msg_id  INTEGER NOT NULL,
    PRIMARY KEY (user_id, msg_id)
) WITHOUT ROWID;
