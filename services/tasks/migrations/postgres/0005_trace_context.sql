-- Each feed row keeps the W3C traceparent of the call that made the change,
-- so the work a consumer does for it (reminders, deliveries) links back.
ALTER TABLE changes ADD COLUMN trace_context TEXT NOT NULL DEFAULT '';
