//! Deadline extensions: a unit asks for a later deadline with a reason; a
//! coordinator approves (the deadline changes, a new deadline version, kept
//! in the history) or rejects.

use chrono::{DateTime, NaiveDate, Utc};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionState {
    /// Awaiting a decision.
    Pending,
    /// Approved: the deadline changed.
    Approved,
    /// Rejected.
    Rejected,
}

p06_kit::str_enum!(ExtensionState, prefixes = ["EXTENSION_STATE_"], {
    Pending = "PENDING",
    Approved = "APPROVED",
    Rejected = "REJECTED",
});

/// A request for a later deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    /// Id.
    pub id: String,
    /// Task id.
    pub task_id: String,
    /// Unit id.
    pub unit_id: String,
    /// The deadline asked for.
    pub requested_deadline: NaiveDate,
    /// The deadline when asked.
    pub previous_deadline: NaiveDate,
    /// Why.
    pub reason: String,
    /// Where it stands.
    pub state: ExtensionState,
    /// The deadline granted (approved only; may differ from the request).
    pub granted_deadline: Option<NaiveDate>,
    /// The decision's note.
    pub decision_note: String,
    /// Who asked.
    pub requested_by: String,
    /// Who decided.
    pub decided_by: String,
    /// When asked.
    pub created_at: DateTime<Utc>,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
}

/// A decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Grant, to `deadline` (the requested one when `None`).
    Approve {
        /// Granted deadline override.
        deadline: Option<NaiveDate>,
        /// Note.
        note: String,
    },
    /// Refuse.
    Reject {
        /// Note.
        note: String,
    },
}
