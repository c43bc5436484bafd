//! The subcommands.

pub mod health;
pub mod keys;
pub mod notifications;
pub mod serve;
pub mod units;
pub mod up;
pub mod work;
