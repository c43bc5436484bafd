//! The subcommands.

pub mod keys;
pub mod serve;
pub mod units;
pub mod up;
