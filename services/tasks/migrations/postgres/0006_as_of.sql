-- Point-in-time truth. Each change keeps the day it took effect (a report
-- on the day it was sent, a completion on its day; NULL for rows written
-- before this, whose day the service derives). Each assignment's state over
-- days, derived from its history in the same transaction as each change:
-- one row per span of days [valid_from, valid_until), the last one open
-- (valid_until '9999-12-31'). As-of reads and counts read the span of
-- their day.
ALTER TABLE changes ADD COLUMN effective_on DATE;

CREATE TABLE assignment_states (
    task_id          TEXT NOT NULL,
    unit_id          TEXT NOT NULL,
    valid_from       DATE NOT NULL,
    valid_until      DATE NOT NULL,
    deadline         DATE,
    deadline_version INTEGER NOT NULL,
    progress         INTEGER NOT NULL,
    completed_on     DATE,
    cancelled_on     DATE,
    last_report_on   DATE,
    moved_on         DATE,
    PRIMARY KEY (task_id, unit_id, valid_from)
);
CREATE INDEX assignment_states_days ON assignment_states (valid_from, valid_until);
