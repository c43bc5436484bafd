//! The rules of a merge: which sources may end and which successor may take
//! over, checked before anything is written.

use super::Unit;
use chrono::NaiveDate;

/// A merge that breaks a rule: (field, reason code, message).
pub type MergeViolation = (&'static str, &'static str, String);

/// Checks that every source is in force on `effective` (so it can end the
/// day before), that the successor is not a source, and that an existing
/// successor is in force on `effective`.
pub fn check(
    sources: &[Unit],
    successor: Option<&Unit>,
    effective: NaiveDate,
) -> Result<(), MergeViolation> {
    if sources.is_empty() {
        return Err((
            "sources",
            "SOURCES_REQUIRED",
            "name at least one unit to merge".into(),
        ));
    }
    for s in sources {
        if s.valid_from.is_some_and(|from| from >= effective) {
            return Err((
                "effective_date",
                "SOURCE_STARTS_LATER",
                format!(
                    "units/{} comes into force on or after {effective}, so it cannot end before it",
                    s.id
                ),
            ));
        }
        if !s.active_on(effective) {
            return Err((
                "sources",
                "SOURCE_NOT_ACTIVE",
                format!(
                    "units/{} is not in force on {effective}, so it cannot be merged from that date",
                    s.id
                ),
            ));
        }
    }
    if let Some(succ) = successor {
        if sources.iter().any(|s| s.id == succ.id) {
            return Err((
                "successor",
                "SUCCESSOR_IS_SOURCE",
                format!(
                    "units/{} cannot be both a source and the successor",
                    succ.id
                ),
            ));
        }
        if !succ.active_on(effective) {
            return Err((
                "successor",
                "SUCCESSOR_NOT_ACTIVE",
                format!(
                    "units/{} is not in force on {effective}; merge into a unit in force then",
                    succ.id
                ),
            ));
        }
    }
    Ok(())
}
