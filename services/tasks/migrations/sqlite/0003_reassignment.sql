-- Administrative change: an open assignment of a unit that ceased moves to
-- its successor. The old row stays (history, and reports as of earlier
-- dates); the successor gets a row of its own.
ALTER TABLE assignments ADD COLUMN moved_on TEXT;
ALTER TABLE assignments ADD COLUMN moved_to TEXT;
ALTER TABLE assignments ADD COLUMN moved_from TEXT;
CREATE INDEX assignments_open_units ON assignments (unit_id) WHERE completed_on IS NULL AND cancelled_on IS NULL AND moved_on IS NULL;
