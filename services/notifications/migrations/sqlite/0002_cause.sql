-- The W3C traceparent of the tasks change behind a schedule, carried to the
-- notifications it produces, so every delivery links back to its cause.
ALTER TABLE schedules ADD COLUMN cause TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN cause TEXT NOT NULL DEFAULT '';
