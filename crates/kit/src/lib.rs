//! The p06 service kit: what every p06 service shares so that each one
//! starts, configures itself, traces, authenticates internal calls, stores
//! data and shuts down the same way.
#![forbid(unsafe_code)]

pub mod access;
pub mod admin;
pub mod calendar;
pub mod client;
pub mod clock;
pub mod config;
pub mod conn;
pub mod dates;
pub mod db;
pub mod egress;
pub mod errors;
pub mod filter;
pub mod identity;
pub mod keyed;
pub mod names;
pub mod page;
pub mod readiness;
pub mod rpc;
pub mod server;
pub mod shutdown;
pub mod signal;
pub mod sql;
pub mod telemetry;
pub mod text;
pub mod trace_context;

pub use access::Grant;
pub use clock::{Clock, SystemClock};
pub use identity::{Caller, Identity, Role};
pub use shutdown::Shutdown;
