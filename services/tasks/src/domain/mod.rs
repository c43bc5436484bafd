//! The tasks domain, free of gRPC and SQL: directives, tasks, assignments,
//! deadlines on the working-day calendar, derived status and summaries.

pub mod actions;
pub mod attribution;
pub mod calendar;
pub mod extension;
pub mod history;
pub mod indicator;
pub mod model;
pub mod scoreboard;
pub mod status;
pub mod summary;
