-- Hot-path tuning for PostgreSQL.
--
-- Leasing a schedule or a delivery writes only `lease_until`, which no
-- index covers: with room left on each page PostgreSQL keeps the new row
-- version on the same page (a HOT update) and touches no index.
ALTER TABLE schedules SET (fillfactor = 70);
ALTER TABLE deliveries SET (fillfactor = 70);

-- Identifiers are ASCII: byte order ("C") compares them without the
-- locale's collation routines, on every index insert and lookup.
ALTER TABLE schedules ALTER COLUMN task_id TYPE TEXT COLLATE "C";
ALTER TABLE schedules ALTER COLUMN unit_id TYPE TEXT COLLATE "C";
ALTER TABLE notifications ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE notifications ALTER COLUMN dedupe_key TYPE TEXT COLLATE "C";
ALTER TABLE notifications ALTER COLUMN unit_id TYPE TEXT COLLATE "C";
ALTER TABLE deliveries ALTER COLUMN notification_id TYPE TEXT COLLATE "C";
ALTER TABLE deliveries ALTER COLUMN channel TYPE TEXT COLLATE "C";
ALTER TABLE deliveries ALTER COLUMN unit_id TYPE TEXT COLLATE "C";
ALTER TABLE attempts ALTER COLUMN notification_id TYPE TEXT COLLATE "C";
ALTER TABLE attempts ALTER COLUMN channel TYPE TEXT COLLATE "C";
