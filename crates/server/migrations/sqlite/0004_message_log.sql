-- The message log (issue 10): messages and acks are committed to an
-- append-only log beside this file (<file>-log/) and applied here about
-- once a second. `applied` is the last log segment whose content is in
-- these tables; segments after it are applied at start.
CREATE TABLE journal_state (
    id      INTEGER PRIMARY KEY CHECK (id = 0),
    applied INTEGER NOT NULL
);
INSERT INTO journal_state (id, applied) VALUES (0, 0);
