-- Point-in-time truth. Each change keeps the day it took effect (a report
-- on the day it was sent, a completion on its day; NULL for rows written
-- before this, whose day the service derives). Each assignment's state over
-- days, derived from its history in the same transaction as each change:
-- one row per span of days [valid_from, valid_until), the last one open
-- (valid_until '9999-12-31'). As-of reads and counts read the span of
-- their day. The columns lists filter and sort on (directive, group,
-- role, the day made, the time recorded) are copied, so that counts and the
-- choice of a list's page read this table alone.
ALTER TABLE changes ADD COLUMN effective_on DATE;
-- A successor's CREATED keeps the predecessor's last report day, which the
-- new row's history starts from.
ALTER TABLE changes ADD COLUMN inherited_report_on DATE;

CREATE TABLE assignment_states (
    task_id          TEXT NOT NULL,
    unit_id          TEXT NOT NULL,
    directive_id     TEXT NOT NULL,
    task_group       TEXT NOT NULL,
    role             TEXT NOT NULL,
    created_on       DATE NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
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
-- A unit's as-of page in the lists' deadline order, found in the index
-- (the span's validity and dated columns ride along), and its counts.
CREATE INDEX assignment_states_unit ON assignment_states (unit_id, (COALESCE(deadline, '9999-12-31')), task_id)
    INCLUDE (valid_from, valid_until, deadline, deadline_version, progress, completed_on, cancelled_on,
        last_report_on, moved_on);
CREATE INDEX assignment_states_directive ON assignment_states (directive_id, valid_from);
-- Recurring duties, which summaries read row by row: found without a scan.
CREATE INDEX assignments_recurring ON assignments (task_id, unit_id) WHERE period IS NOT NULL;
