//! The p06 notifications service (`p06.notifications.v1`): reminder
//! schedules from the tasks change feed, delivery and escalation. Not built
//! yet: the gateway already reserves its route
//! (`P06_GATEWAY__NOTIFICATIONS_URL`).
#![forbid(unsafe_code)]
