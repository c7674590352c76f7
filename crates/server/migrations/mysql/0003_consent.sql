-- Protocol version 2: friends by consent, blocking, private groups with
-- roles, a history window per member, deleted accounts. Everything that
-- existed carries over: friendships, groups (all public), members (roles
-- kept: 1 creator, 0 member; 2 is the new admin) whose history window
-- starts at the group's first message (since_id 0).
--
-- MySQL does not roll back DDL, so every statement here may run again
-- after an interrupted start (store/sql/migrate.rs then retries the
-- migration): each says IF NOT EXISTS (MariaDB and TiDB syntax).
ALTER TABLE users ADD COLUMN IF NOT EXISTS deleted_ms BIGINT NULL;
ALTER TABLE chat_groups ADD COLUMN IF NOT EXISTS visibility BIGINT NOT NULL DEFAULT 0;
ALTER TABLE group_members ADD COLUMN IF NOT EXISTS since_id BIGINT NOT NULL DEFAULT 0;

CREATE INDEX IF NOT EXISTS tokens_user ON tokens (user_id);

CREATE TABLE IF NOT EXISTS friend_requests (
    from_id    BIGINT NOT NULL,
    to_id      BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (from_id, to_id),
    KEY friend_requests_to (to_id, from_id)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS blocks (
    user_id    BIGINT NOT NULL,
    blocked_id BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS group_invites (
    group_id   BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    by_id      BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id),
    KEY group_invites_user (user_id, group_id)
) ENGINE=InnoDB;
