//! The `p06` command line: `p06 up` runs the whole stack in one process on
//! loopback with SQLite under a data directory; `p06 serve <service>` runs
//! one service (for containers); client subcommands talk to the gateway.
//! [`stack`] is also the harness the end-to-end tests start.
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod commands;
pub mod demo;
pub mod stack;
