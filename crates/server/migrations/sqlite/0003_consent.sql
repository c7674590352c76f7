-- Protocol version 2: friends by consent, blocking, private groups with
-- roles, a history window per member, deleted accounts. Everything that
-- existed carries over: friendships, groups (all public), members (roles
-- kept: 1 creator, 0 member; 2 is the new admin) whose history window
-- starts at the group's first message (since_id 0).
ALTER TABLE users ADD COLUMN deleted_ms INTEGER;
ALTER TABLE chat_groups ADD COLUMN visibility INTEGER NOT NULL DEFAULT 0;
ALTER TABLE group_members ADD COLUMN since_id INTEGER NOT NULL DEFAULT 0;

CREATE INDEX tokens_user ON tokens (user_id);

-- A pending friend request, until accepted, declined or cancelled.
CREATE TABLE friend_requests (
    from_id    INTEGER NOT NULL,
    to_id      INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (from_id, to_id)
) WITHOUT ROWID;
CREATE INDEX friend_requests_to ON friend_requests (to_id, from_id);

-- user_id blocks blocked_id.
CREATE TABLE blocks (
    user_id    INTEGER NOT NULL,
    blocked_id INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) WITHOUT ROWID;

-- A pending invitation, until the invitee joins or declines.
CREATE TABLE group_invites (
    group_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    by_id      INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_invites_user ON group_invites (user_id, group_id);
