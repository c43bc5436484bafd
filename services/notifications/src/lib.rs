//! The p06 notifications service (`p06.notifications.v1`): a schedule of
//! the reminders each open assignment is owed, kept from the tasks change
//! feed; reminders, escalations and digests produced on the working-day
//! calendar in office hours; delivery over a resumable stream, Standard
//! Webhooks-signed webhooks and e-mail, with an inbox and a delivery ledger.
#![forbid(unsafe_code)]

pub mod delivery;
pub mod domain;
