//! Push delivery: signed webhooks (to destinations the egress policy
//! allows) and e-mail, their retry schedule, and the outcome of one
//! attempt that the ledger records.

pub mod backoff;
pub mod email;
pub mod resolver;
pub mod signing;
pub mod webhook;

use std::time::Duration;

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The receiver accepted it (HTTP 2xx; SMTP accepted the message).
    pub success: bool,
    /// HTTP status or SMTP reply code, when the peer answered.
    pub response_code: Option<u16>,
    /// What went wrong, when it did (empty on success).
    pub error: String,
    /// From the start of the attempt to its end.
    pub latency: Duration,
}
