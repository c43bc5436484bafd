//! State changes of an assignment and their rules: what may happen to an
//! assignment in which state, and the change-feed entry each produces.

use super::model::{Assignment, Change, ChangeKind};
use chrono::{DateTime, NaiveDate, Utc};

/// A state change asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A progress report.
    Progress {
        /// The day it was reported, when earlier than the day it is
        /// entered (today otherwise).
        on: Option<NaiveDate>,
        /// 0–100.
        percent: i32,
        /// What was done.
        note: String,
        /// Evidence URL.
        evidence_link: String,
    },
    /// Done on a day.
    Complete {
        /// Completion day.
        on: NaiveDate,
        /// Note.
        note: String,
    },
    /// Back to open after completion.
    Reopen {
        /// Why.
        reason: String,
    },
    /// A new deadline (an approved extension).
    ChangeDeadline {
        /// The new deadline.
        deadline: NaiveDate,
        /// Why.
        note: String,
    },
    /// Cancelled from a day.
    Cancel {
        /// Cancellation day.
        on: NaiveDate,
        /// Why.
        reason: String,
    },
}

/// What the audit entry of an action on `task`/`unit` says besides its
/// actor (the key that entered it): the assignment, the day a report was
/// made when it was dated, and the unit that entered it for another.
pub fn audit_detail(task: &str, unit: &str, action: &Action, entered_by: Option<&str>) -> String {
    let mut detail = format!("{task}/{unit}");
    if let Action::Progress { on: Some(day), .. } = action {
        detail.push_str(&format!("; reported on {day}"));
    }
    if let Some(by) = entered_by {
        detail.push_str(&format!("; entered by {by} on behalf of units/{unit}"));
    }
    detail
}

/// A refused action: (field, reason code, message).
pub type Refusal = (&'static str, &'static str, String);

/// Checks the fields of an action that need no state: percent range, link
/// scheme, note length.
pub fn validate(action: &Action) -> Result<(), (&'static str, String)> {
    let note_ok = |n: &str| n.chars().count() <= 4000;
    match action {
        Action::Progress {
            percent,
            note,
            evidence_link,
            ..
        } => {
            if !(0..=100).contains(percent) {
                return Err((
                    "percent",
                    format!("must be between 0 and 100, got {percent}"),
                ));
            }
            if !note_ok(note) {
                return Err(("note", "must be at most 4000 characters".into()));
            }
            let link = evidence_link.trim();
            if !link.is_empty() && !p06_kit::text::is_http_url(link) {
                return Err((
                    "evidence_link",
                    format!("must be an http or https URL, got {link:?}"),
                ));
            }
        }
        Action::Complete { note, .. } if !note_ok(note) => {
            return Err(("note", "must be at most 4000 characters".into()));
        }
        Action::Reopen { reason } | Action::Cancel { reason, .. } if !note_ok(reason) => {
            return Err(("reason", "must be at most 4000 characters".into()));
        }
        _ => {}
    }
    Ok(())
}

/// Applies `action` to `a`, whose history is `history` (its changes in
/// the order recorded), at `at` (whose Vietnamese date is `today`): the
/// assignment after it and its feed entry.
pub fn apply(
    a: &Assignment,
    history: &[Change],
    action: &Action,
    actor: &str,
    at: DateTime<Utc>,
    today: NaiveDate,
) -> Result<(Assignment, Change), Refusal> {
    let mut next = a.clone();
    let earliest_report = super::history::earliest_report_day(a, history);
    let mut effective = today;
    let (kind, percent, note, evidence) = match action {
        Action::Progress {
            on,
            percent,
            note,
            evidence_link,
        } => {
            refuse_unless_open(a, "report progress on")?;
            let day = on.unwrap_or(today);
            if day > today {
                return Err((
                    "reported_on",
                    "IN_THE_FUTURE",
                    format!("{day} is after today ({today})"),
                ));
            }
            if day < earliest_report {
                return Err((
                    "reported_on",
                    "BEFORE_LAST_CHANGE",
                    format!(
                        "{day} is before {earliest_report}, the day the assignment was made or last reported, completed or reopened"
                    ),
                ));
            }
            next.progress = *percent;
            next.last_report_on = Some(day);
            effective = day;
            (
                ChangeKind::Progress,
                *percent,
                note.clone(),
                evidence_link.trim().to_string(),
            )
        }
        Action::Complete { on, note } => {
            refuse_unless_open(a, "complete")?;
            if *on > today {
                return Err((
                    "completed_on",
                    "IN_THE_FUTURE",
                    format!("{on} is after today ({today})"),
                ));
            }
            if *on < a.created_on {
                return Err((
                    "completed_on",
                    "BEFORE_ASSIGNED",
                    format!("{on} is before the assignment was made ({})", a.created_on),
                ));
            }
            next.completed_on = Some(*on);
            next.progress = 100;
            effective = *on;
            (ChangeKind::Completed, 100, note.clone(), String::new())
        }
        Action::Reopen { reason } => {
            refuse_unless_open(
                &Assignment {
                    completed_on: None,
                    ..a.clone()
                },
                "reopen",
            )?;
            if a.completed_on.is_none() {
                return Err((
                    "name",
                    "NOT_COMPLETED",
                    "only a completed assignment can be reopened".into(),
                ));
            }
            next.completed_on = None;
            (
                ChangeKind::Reopened,
                a.progress,
                reason.clone(),
                String::new(),
            )
        }
        Action::ChangeDeadline { deadline, note } => {
            refuse_unless_open(a, "change the deadline of")?;
            if a.deadline.is_none() {
                return Err((
                    "deadline",
                    "NO_DEADLINE",
                    "a regularly implemented duty has no deadline to change".into(),
                ));
            }
            next.deadline = Some(*deadline);
            next.deadline_version += 1;
            (
                ChangeKind::DeadlineChanged,
                a.progress,
                note.clone(),
                String::new(),
            )
        }
        Action::Cancel { on, reason } => {
            if let Some(to) = &a.moved_to {
                return Err((
                    "name",
                    "MOVED",
                    format!("this assignment moved to units/{to}; cancel that one"),
                ));
            }
            if a.cancelled_on.is_some() {
                return Err((
                    "name",
                    "ALREADY_CANCELLED",
                    "the assignment is already cancelled".into(),
                ));
            }
            next.cancelled_on = Some(*on);
            effective = *on;
            (
                ChangeKind::Cancelled,
                a.progress,
                reason.clone(),
                String::new(),
            )
        }
    };
    next.version += 1;
    next.updated_at = at;
    let change = Change {
        sequence: 0,
        kind,
        task_id: a.task_id.clone(),
        unit_id: a.unit_id.clone(),
        directive_id: a.directive_id.clone(),
        deadline: next.deadline,
        deadline_version: next.deadline_version,
        percent,
        note,
        evidence_link: evidence,
        actor: actor.to_string(),
        at,
        trace_context: String::new(),
        effective_on: Some(effective),
        inherited_report_on: None,
        context: None,
    };
    Ok((next, change))
}

fn refuse_unless_open(a: &Assignment, what: &str) -> Result<(), Refusal> {
    if let Some(to) = &a.moved_to {
        return Err((
            "name",
            "MOVED",
            format!("cannot {what} this assignment: it moved to units/{to}"),
        ));
    }
    if a.cancelled_on.is_some() {
        return Err((
            "name",
            "CANCELLED",
            format!("cannot {what} a cancelled assignment"),
        ));
    }
    if a.completed_on.is_some() {
        return Err((
            "name",
            "COMPLETED",
            format!("cannot {what} a completed assignment; reopen it first"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{AssigneeRole, TaskGroup};

    fn open() -> Assignment {
        let at = DateTime::<Utc>::from_timestamp(1_720_000_000, 0).unwrap();
        Assignment {
            task_id: "t1".into(),
            unit_id: "p01".into(),
            role: AssigneeRole::Lead,
            directive_id: "344-tb-vpcp-2024".into(),
            group: TaskGroup::Institutions,
            title: "Issue the action plan".into(),
            deadline: NaiveDate::from_ymd_opt(2024, 7, 20),
            deadline_version: 1,
            period: None,
            progress: 0,
            completed_on: None,
            cancelled_on: None,
            last_report_on: None,
            moved_on: None,
            moved_to: None,
            moved_from: None,
            created_on: NaiveDate::from_ymd_opt(2024, 7, 2).unwrap(),
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn lifecycle_rules() {
        let at = Utc::now();
        let today = NaiveDate::from_ymd_opt(2024, 7, 10).unwrap();
        let progress = Action::Progress {
            on: None,
            percent: 40,
            note: "drafted".into(),
            evidence_link: String::new(),
        };
        let (a, change) = apply(&open(), &[], &progress, "apiKeys/x", at, today).unwrap();
        assert_eq!(
            (a.progress, a.last_report_on, a.version, change.kind),
            (40, Some(today), 2, ChangeKind::Progress)
        );
        let done = Action::Complete {
            on: today,
            note: String::new(),
        };
        let (a, _) = apply(&a, &[], &done, "apiKeys/x", at, today).unwrap();
        assert_eq!(
            apply(&a, &[], &progress, "k", at, today).unwrap_err().1,
            "COMPLETED"
        );
        let (a, _) = apply(
            &a,
            &[],
            &Action::Reopen {
                reason: "incomplete".into(),
            },
            "k",
            at,
            today,
        )
        .unwrap();
        assert_eq!(a.completed_on, None);
        let (a, _) = apply(
            &a,
            &[],
            &Action::Cancel {
                on: today,
                reason: "merged".into(),
            },
            "k",
            at,
            today,
        )
        .unwrap();
        assert_eq!(
            apply(&a, &[], &progress, "k", at, today).unwrap_err().1,
            "CANCELLED"
        );
        let future = Action::Complete {
            on: NaiveDate::from_ymd_opt(2024, 8, 1).unwrap(),
            note: String::new(),
        };
        assert_eq!(
            apply(&open(), &[], &future, "k", at, today).unwrap_err().0,
            "completed_on"
        );
    }

    /// A report may carry the day it was sent: not in the future, not
    /// before the assignment was made or last reported.
    #[test]
    fn dated_reports() {
        let at = Utc::now();
        let day = |d| NaiveDate::from_ymd_opt(2024, 7, d).unwrap();
        let report = |on| Action::Progress {
            on: Some(on),
            percent: 60,
            note: "Công văn 123/UBND".into(),
            evidence_link: String::new(),
        };
        let (a, change) = apply(&open(), &[], &report(day(18)), "k", at, day(24)).unwrap();
        assert_eq!(
            (a.last_report_on, change.effective_on),
            (Some(day(18)), Some(day(18)))
        );
        let refused = |on, history: &[Change]| {
            let e = apply(&open(), history, &report(on), "k", at, day(24)).unwrap_err();
            (e.0, e.1)
        };
        assert_eq!(refused(day(25), &[]), ("reported_on", "IN_THE_FUTURE"));
        assert_eq!(refused(day(1), &[]), ("reported_on", "BEFORE_LAST_CHANGE"));
        assert_eq!(
            refused(day(17), &[change]),
            ("reported_on", "BEFORE_LAST_CHANGE")
        );
    }

    #[test]
    fn field_validation() {
        let bad = Action::Progress {
            on: None,
            percent: 150,
            note: String::new(),
            evidence_link: String::new(),
        };
        assert_eq!(validate(&bad).unwrap_err().0, "percent");
        let link = Action::Progress {
            on: None,
            percent: 10,
            note: String::new(),
            evidence_link: "file:///etc".into(),
        };
        assert_eq!(validate(&link).unwrap_err().0, "evidence_link");
    }
}
