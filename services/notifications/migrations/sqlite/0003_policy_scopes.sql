-- A policy change re-plans its scope's schedules a page at a time, in key
-- order: by directive, or by task group.
CREATE INDEX schedules_directive_key ON schedules (directive_id, task_id, unit_id);
CREATE INDEX schedules_group_key ON schedules (task_group, task_id, unit_id);
