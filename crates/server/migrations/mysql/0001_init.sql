-- Schema of the shared cluster store (MySQL 8 / MariaDB 10.11).
CREATE TABLE IF NOT EXISTS users (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(128) NOT NULL,
    pw_hash    VARCHAR(255) NOT NULL,
    created_ms BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS tokens (
    hash       VARBINARY(32) NOT NULL PRIMARY KEY,
    user_id    BIGINT        NOT NULL,
    expires_ms BIGINT        NOT NULL,
    KEY tokens_expiry (expires_ms)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS friendships (
    user_id    BIGINT NOT NULL,
    friend_id  BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, friend_id)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS chat_groups (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(256) NOT NULL,
    description TEXT         NOT NULL,
    creator_id  BIGINT       NOT NULL,
    created_ms  BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS group_members (
    group_id  BIGINT NOT NULL,
    user_id   BIGINT NOT NULL,
    role      BIGINT NOT NULL,
    joined_ms BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id),
    KEY group_members_user (user_id, group_id)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS messages (
    id           BIGINT      NOT NULL PRIMARY KEY,
    sender_id    BIGINT      NOT NULL,
    recipient_id BIGINT      NULL,
    group_id     BIGINT      NULL,
    text         TEXT        NOT NULL,
    cid          VARCHAR(64) NULL,
    ts           BIGINT      NOT NULL,
    KEY messages_direct (sender_id, recipient_id, id),
    KEY messages_group (group_id, id),
    UNIQUE KEY messages_cid (sender_id, cid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS inbox (
    user_id BIGINT NOT NULL,
    msg_id  BIGINT NOT NULL,
    PRIMARY KEY (user_id, msg_id)
) ENGINE=InnoDB;
