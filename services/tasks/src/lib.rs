//! The p06 tasks service (`p06.tasks.v1`): directives, tasks, assignments,
//! deadlines on the working-day calendar, progress, summaries and the change
//! feed. Not built yet: the gateway already reserves its route
//! (`P06_GATEWAY__TASKS_URL`).
#![forbid(unsafe_code)]
