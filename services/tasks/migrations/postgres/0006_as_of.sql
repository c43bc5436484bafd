-- Point-in-time truth. Each change keeps the day it took effect (a report
-- on the day it was sent, a completion on its day; NULL for rows written
-- before this, whose day the service derives). Each assignment's state over
-- days, derived from its history in the same transaction as each change:
-- one row per span of days [valid_from, valid_until), the last one open
-- (valid_until '9999-12-31'). As-of reads and counts read the span of
-- their day. The scope columns (directive, group) are copied so that
-- counts read this table alone.
ALTER TABLE changes ADD COLUMN effective_on DATE;

CREATE TABLE assignment_states (
    task_id          TEXT NOT NULL,
    unit_id          TEXT NOT NULL,
    directive_id     TEXT NOT NULL,
    task_group       TEXT NOT NULL,
    valid_from       DATE NOT NULL,
    valid_until      DATE NOT NULL,
    deadline         DATE,
    deadline_version INTEGER NOT NULL,
    progress         INTEGER NOT NULL,
    completed_on     DATE,
    cancelled_on     DATE,
    last_report_on   DATE,
    moved_on         DATE,
    -- The dated columns ride in the key's index: an as-of list finds a
    -- row's span without visiting the table.
    PRIMARY KEY (task_id, unit_id, valid_from) INCLUDE (valid_until, deadline, deadline_version,
        progress, completed_on, cancelled_on, last_report_on, moved_on)
);
CREATE INDEX assignment_states_unit ON assignment_states (unit_id, valid_from);
CREATE INDEX assignment_states_directive ON assignment_states (directive_id, valid_from);
