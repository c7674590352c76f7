-- Galera certifies a transaction by the rows it writes: a locking read
-- (SELECT ... FOR UPDATE) holds only on the node that ran it, and the
-- other nodes never hear of it. So the transactions that must exclude one
-- another (everything on a pair of users; a join, an invite and a delete
-- on a group) bump these counters instead of only reading the row: a real
-- write, which certification sees on every node (and which locks the row
-- like FOR UPDATE on one server). Runs again safely (IF NOT EXISTS).
ALTER TABLE users ADD COLUMN IF NOT EXISTS lock_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE chat_groups ADD COLUMN IF NOT EXISTS lock_seq BIGINT NOT NULL DEFAULT 0;
