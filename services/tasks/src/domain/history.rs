//! An assignment as of a date, from its history. Every change takes effect
//! on a day: a report on the day it was reported (which may be earlier
//! than the day it was entered), a completion on its completion day, a
//! cancellation or a move on its first day, anything else on the day it
//! was made. The assignment as of the end of day `d` (Asia/Ho_Chi_Minh) is
//! what the changes that took effect by `d` make of it, applied in the
//! order they were recorded; so the last state is the assignment as it is
//! now, whatever the dates. The store keeps the result as spans of days
//! ([`spans`]) next to the assignment, written in the same transaction as
//! each change, so that lists and counts in SQL read the same thing.

use super::model::{Assignment, Change, ChangeKind};
use chrono::NaiveDate;

/// What an assignment is on a day, besides what never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayState {
    /// Deadline in force.
    pub deadline: Option<NaiveDate>,
    /// Its version.
    pub deadline_version: i32,
    /// Latest reported percent.
    pub progress: i32,
    /// Day of completion, when completed.
    pub completed_on: Option<NaiveDate>,
    /// Day of cancellation, when cancelled.
    pub cancelled_on: Option<NaiveDate>,
    /// Day of the latest report.
    pub last_report_on: Option<NaiveDate>,
    /// Day it moved to a successor, when it has.
    pub moved_on: Option<NaiveDate>,
}

/// A run of days with one state: from `from` (included) until `until`
/// (excluded; `None` for the last, open-ended span).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// First day.
    pub from: NaiveDate,
    /// The day after the last, if there is a later span.
    pub until: Option<NaiveDate>,
    /// The state on those days.
    pub state: DayState,
}

/// The day a change took effect. Changes recorded before the day was kept
/// with them have none stored: a completion, cancellation or move then
/// takes the day the assignment keeps for it (the last one of its kind),
/// anything else the day it was made.
pub fn effective_on(c: &Change, a: &Assignment, last_of_kind: bool) -> NaiveDate {
    if let Some(day) = c.effective_on {
        return day;
    }
    let kept = match c.kind {
        ChangeKind::Created => Some(a.created_on),
        ChangeKind::Completed if last_of_kind => a.completed_on,
        ChangeKind::Cancelled => a.cancelled_on,
        ChangeKind::Reassigned => a.moved_on,
        _ => None,
    };
    kept.unwrap_or_else(|| {
        c.at.with_timezone(&p06_kit::clock::vietnam_offset())
            .date_naive()
    })
}

fn apply(state: &mut DayState, c: &Change, day: NaiveDate) {
    match c.kind {
        ChangeKind::Created => {
            state.deadline = c.deadline;
            state.deadline_version = c.deadline_version;
            state.progress = c.percent;
            state.last_report_on = c.inherited_report_on;
        }
        ChangeKind::Progress => {
            state.progress = c.percent;
            state.last_report_on = Some(day);
        }
        ChangeKind::Completed => {
            state.completed_on = Some(day);
            state.progress = c.percent;
        }
        ChangeKind::Reopened => state.completed_on = None,
        ChangeKind::Cancelled => state.cancelled_on = Some(day),
        ChangeKind::DeadlineChanged => {
            state.deadline = c.deadline;
            state.deadline_version = c.deadline_version;
        }
        ChangeKind::Reassigned => state.moved_on = Some(day),
    }
}

/// The spans of days of `a` from its history (its changes in the order
/// they were recorded): one from each day a change took effect, the first
/// from the day it was made. Without a history (a row whose changes are
/// gone), one span from the day it was made, as the row is.
pub fn spans(a: &Assignment, history: &[Change]) -> Vec<Span> {
    if history.is_empty() {
        return vec![Span {
            from: a.created_on,
            until: None,
            state: DayState {
                deadline: a.deadline,
                deadline_version: a.deadline_version,
                progress: a.progress,
                completed_on: a.completed_on,
                cancelled_on: a.cancelled_on,
                last_report_on: a.last_report_on,
                moved_on: a.moved_on,
            },
        }];
    }
    let last_completion = history
        .iter()
        .rposition(|c| c.kind == ChangeKind::Completed);
    let dated: Vec<(NaiveDate, &Change)> = history
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let day = effective_on(c, a, Some(i) == last_completion);
            (day.max(a.created_on), c)
        })
        .collect();
    let mut days: Vec<NaiveDate> = dated.iter().map(|(d, _)| *d).collect();
    days.sort_unstable();
    days.dedup();
    let initial = DayState {
        deadline: a.deadline,
        deadline_version: 1,
        progress: 0,
        completed_on: None,
        cancelled_on: None,
        last_report_on: None,
        moved_on: None,
    };
    let mut out: Vec<Span> = Vec::with_capacity(days.len());
    for (i, day) in days.iter().enumerate() {
        let mut state = initial.clone();
        for (d, c) in &dated {
            if d <= day {
                apply(&mut state, c, *d);
            }
        }
        if out.last().is_some_and(|s| s.state == state) {
            // Nothing changed that day: the previous span goes on.
            if let Some(last) = out.last_mut() {
                last.until = days.get(i + 1).copied();
            }
            continue;
        }
        out.push(Span {
            from: *day,
            until: days.get(i + 1).copied(),
            state,
        });
    }
    out
}

/// What a new change does to the stored spans, when it was recorded after
/// every other change of the assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    /// Nothing any day reads changes.
    Unchanged,
    /// The last span gets this state (the change took effect on its first
    /// day); should it now equal the span before it, the two are one span
    /// again, as [`spans`] gives them.
    Replace(DayState),
    /// The last span ends the day before `from`; a new last span with
    /// `state` starts on it.
    Split {
        /// The new span's first day.
        from: NaiveDate,
        /// Its state.
        state: DayState,
    },
}

/// The change `c`, recorded after every other change of `a`, applied to
/// the last span `last` (the one without an end) — exactly what [`spans`]
/// would give for the whole history — when it takes effect on or after
/// that span's first day; `None` when it takes effect earlier and every
/// span must be derived again.
pub fn extend(a: &Assignment, last: &Span, c: &Change) -> Option<Extension> {
    let day = effective_on(c, a, true).max(a.created_on);
    if day < last.from {
        return None;
    }
    let mut state = last.state.clone();
    apply(&mut state, c, day);
    Some(if state == last.state {
        Extension::Unchanged
    } else if day == last.from {
        Extension::Replace(state)
    } else {
        Extension::Split { from: day, state }
    })
}

/// `spans` with `extension` made to its last span.
pub fn extended(mut spans: Vec<Span>, extension: &Extension) -> Vec<Span> {
    match extension {
        Extension::Unchanged => {}
        Extension::Replace(state) => {
            let n = spans.len();
            if n >= 2 && spans[n - 2].state == *state {
                spans.pop();
                if let Some(previous) = spans.last_mut() {
                    previous.until = None;
                }
            } else if let Some(last) = spans.last_mut() {
                last.state = state.clone();
            }
        }
        Extension::Split { from, state } => {
            if let Some(last) = spans.last_mut() {
                last.until = Some(*from);
            }
            spans.push(Span {
                from: *from,
                until: None,
                state: state.clone(),
            });
        }
    }
    spans
}

/// The state on `day`, if the assignment existed then.
pub fn state_on(spans: &[Span], day: NaiveDate) -> Option<&DayState> {
    spans
        .iter()
        .find(|s| s.from <= day && s.until.is_none_or(|u| day < u))
        .map(|s| &s.state)
}

/// `a` as it was at the end of `day`: its dated fields from the span of
/// that day; `None` if it did not exist yet.
pub fn as_of(a: &Assignment, spans: &[Span], day: NaiveDate) -> Option<Assignment> {
    Some(with_state(a.clone(), state_on(spans, day)?))
}

/// `a` with the dated fields of `state`: the assignment on a day of that
/// state (no successor before its move).
pub fn with_state(a: Assignment, state: &DayState) -> Assignment {
    Assignment {
        deadline: state.deadline,
        deadline_version: state.deadline_version,
        progress: state.progress,
        completed_on: state.completed_on,
        cancelled_on: state.cancelled_on,
        last_report_on: state.last_report_on,
        moved_on: state.moved_on,
        moved_to: a.moved_to.filter(|_| state.moved_on.is_some()),
        ..a
    }
}

/// The earliest day a report may be dated: not before the assignment was
/// made, its last report, or its last completion or reopening (a report
/// dated earlier would rewrite what a later recorded change already
/// stated of those days).
pub fn earliest_report_day(a: &Assignment, history: &[Change]) -> NaiveDate {
    let last_completion = history
        .iter()
        .rposition(|c| c.kind == ChangeKind::Completed);
    history
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            matches!(
                c.kind,
                ChangeKind::Progress | ChangeKind::Completed | ChangeKind::Reopened
            )
        })
        .map(|(i, c)| effective_on(c, a, Some(i) == last_completion))
        .chain([a.created_on])
        .max()
        .unwrap_or(a.created_on)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{AssigneeRole, TaskGroup};
    use chrono::{DateTime, TimeZone, Utc};

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, m, day).unwrap()
    }

    /// 09:00 in Hà Nội on 2024-`m`-`day`.
    fn at(m: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, m, day, 2, 0, 0).unwrap()
    }

    fn assignment() -> Assignment {
        Assignment {
            task_id: "t1".into(),
            unit_id: "p35".into(),
            role: AssigneeRole::Lead,
            directive_id: "344-tb-vpcp-2024".into(),
            group: TaskGroup::PublicServices,
            title: "Dịch vụ công".into(),
            deadline: Some(d(7, 20)),
            deadline_version: 1,
            period: None,
            progress: 0,
            completed_on: None,
            cancelled_on: None,
            last_report_on: None,
            moved_on: None,
            moved_to: None,
            moved_from: None,
            created_on: d(7, 2),
            version: 1,
            created_at: at(7, 2),
            updated_at: at(7, 2),
        }
    }

    fn change(kind: ChangeKind, percent: i32, recorded: DateTime<Utc>) -> Change {
        Change {
            sequence: 0,
            kind,
            task_id: "t1".into(),
            unit_id: "p35".into(),
            directive_id: "344-tb-vpcp-2024".into(),
            deadline: Some(d(7, 20)),
            deadline_version: 1,
            percent,
            note: String::new(),
            evidence_link: String::new(),
            actor: "apiKeys/k".into(),
            at: recorded,
            trace_context: String::new(),
            effective_on: None,
            inherited_report_on: None,
            context: None,
        }
    }

    fn dated(c: Change, day: NaiveDate) -> Change {
        Change {
            effective_on: Some(day),
            ..c
        }
    }

    /// Hà Nam in Notice 344: made 02/07, a report of 40 % sent on 18/07 and
    /// entered on 24/07, completed on 25/07 (entered 29/07), its deadline
    /// moved to 31/07 on 26/07.
    #[test]
    fn each_day_sees_only_what_took_effect_by_then() {
        let a = assignment();
        let history = [
            dated(change(ChangeKind::Created, 0, at(7, 2)), d(7, 2)),
            dated(change(ChangeKind::Progress, 40, at(7, 24)), d(7, 18)),
            Change {
                deadline: Some(d(7, 31)),
                deadline_version: 2,
                ..dated(change(ChangeKind::DeadlineChanged, 40, at(7, 26)), d(7, 26))
            },
            Change {
                deadline: Some(d(7, 31)),
                deadline_version: 2,
                ..dated(change(ChangeKind::Completed, 100, at(7, 29)), d(7, 25))
            },
        ];
        let spans = spans(&a, &history);
        let on = |day| state_on(&spans, day).cloned();
        assert_eq!(on(d(7, 1)), None, "before it was made");
        let made = on(d(7, 17)).unwrap();
        assert_eq!((made.progress, made.last_report_on), (0, None));
        let reported = on(d(7, 22)).unwrap();
        assert_eq!(
            (
                reported.progress,
                reported.last_report_on,
                reported.completed_on,
                reported.deadline
            ),
            (40, Some(d(7, 18)), None, Some(d(7, 20)))
        );
        let done = on(d(7, 25)).unwrap();
        assert_eq!(
            (done.progress, done.completed_on, done.deadline_version),
            (100, Some(d(7, 25)), 1),
            "completed on 25/07, the extension not yet granted"
        );
        let later = on(d(8, 1)).unwrap();
        assert_eq!(
            (later.completed_on, later.deadline, later.deadline_version),
            (Some(d(7, 25)), Some(d(7, 31)), 2)
        );
        assert_eq!(spans.last().unwrap().until, None);
        assert_eq!(
            spans.iter().map(|s| s.from).collect::<Vec<_>>(),
            [d(7, 2), d(7, 18), d(7, 25), d(7, 26)]
        );
    }

    /// The last span is the assignment as it is now, whatever the order of
    /// the days: a completion dated before a report recorded earlier.
    #[test]
    fn the_last_state_follows_the_order_of_recording() {
        let a = assignment();
        let history = [
            dated(change(ChangeKind::Created, 0, at(7, 2)), d(7, 2)),
            dated(change(ChangeKind::Progress, 60, at(7, 20)), d(7, 20)),
            dated(change(ChangeKind::Completed, 100, at(7, 22)), d(7, 15)),
        ];
        let spans = spans(&a, &history);
        let s = |day| state_on(&spans, day).unwrap().clone();
        assert_eq!(
            (s(d(7, 16)).progress, s(d(7, 16)).completed_on),
            (100, Some(d(7, 15)))
        );
        assert_eq!(
            (s(d(7, 21)).progress, s(d(7, 21)).completed_on),
            (100, Some(d(7, 15)))
        );
        assert_eq!(s(d(7, 21)).last_report_on, Some(d(7, 20)));
    }

    /// Rows kept before days were stored: the assignment's own days stand
    /// for its completion, cancellation and move; the others take the day
    /// they were recorded.
    #[test]
    fn older_history_takes_the_days_the_assignment_kept() {
        let a = Assignment {
            completed_on: Some(d(7, 10)),
            progress: 100,
            ..assignment()
        };
        let history = [
            change(ChangeKind::Created, 0, at(7, 2)),
            change(ChangeKind::Progress, 50, at(7, 5)),
            change(ChangeKind::Completed, 100, at(7, 12)),
        ];
        let spans = spans(&a, &history);
        assert_eq!(
            spans.iter().map(|s| s.from).collect::<Vec<_>>(),
            [d(7, 2), d(7, 5), d(7, 10)]
        );
        let a_day = as_of(&a, &spans, d(7, 8)).unwrap();
        assert_eq!((a_day.progress, a_day.completed_on), (50, None));
        assert_eq!(as_of(&a, &spans, d(7, 1)), None);
        assert_eq!(earliest_report_day(&a, &history), d(7, 10));
    }

    /// Extending the stored spans change by change gives what deriving
    /// them from the whole history gives, or asks for that derivation.
    #[test]
    fn extending_the_last_span_equals_deriving_them_all() {
        let a = assignment();
        let history = [
            dated(change(ChangeKind::Created, 0, at(7, 2)), d(7, 2)),
            dated(change(ChangeKind::Progress, 10, at(7, 2)), d(7, 2)),
            dated(change(ChangeKind::Progress, 40, at(7, 24)), d(7, 18)),
            dated(change(ChangeKind::Progress, 40, at(7, 24)), d(7, 24)),
            Change {
                deadline: Some(d(7, 31)),
                deadline_version: 2,
                ..dated(change(ChangeKind::DeadlineChanged, 40, at(7, 26)), d(7, 26))
            },
            dated(change(ChangeKind::Completed, 100, at(7, 29)), d(7, 25)),
            dated(change(ChangeKind::Reopened, 100, at(7, 30)), d(7, 30)),
            dated(change(ChangeKind::Progress, 90, at(7, 30)), d(7, 30)),
            // Completed and reopened on one later day, after a report of
            // 100 %: that day's span comes back to the one before it.
            dated(change(ChangeKind::Progress, 100, at(8, 2)), d(8, 2)),
            dated(change(ChangeKind::Completed, 100, at(8, 5)), d(8, 5)),
            dated(change(ChangeKind::Reopened, 100, at(8, 5)), d(8, 5)),
        ];
        let mut stored = spans(&a, &history[..1]);
        for n in 2..=history.len() {
            let whole = spans(&a, &history[..n]);
            let last = stored.last().unwrap().clone();
            stored = match extend(&a, &last, &history[n - 1]) {
                Some(e) => extended(stored, &e),
                None => whole.clone(),
            };
            assert_eq!(stored, whole, "after change {n}");
        }
        // The completion dated before the last span's first day could not
        // be an extension.
        let before = spans(&a, &history[..5]);
        assert_eq!(extend(&a, before.last().unwrap(), &history[5]), None);
    }

    #[test]
    fn a_reopening_and_a_move_end_their_spans() {
        let a = Assignment {
            moved_to: Some("p37".into()),
            ..assignment()
        };
        let history = [
            dated(change(ChangeKind::Created, 0, at(7, 2)), d(7, 2)),
            dated(change(ChangeKind::Completed, 100, at(7, 10)), d(7, 10)),
            dated(change(ChangeKind::Reopened, 100, at(7, 15)), d(7, 15)),
            dated(change(ChangeKind::Reassigned, 100, at(8, 1)), d(8, 1)),
        ];
        let spans = spans(&a, &history);
        assert_eq!(
            state_on(&spans, d(7, 12)).unwrap().completed_on,
            Some(d(7, 10))
        );
        assert_eq!(state_on(&spans, d(7, 16)).unwrap().completed_on, None);
        let moved = as_of(&a, &spans, d(8, 2)).unwrap();
        assert_eq!(
            (moved.moved_on, moved.moved_to.as_deref()),
            (Some(d(8, 1)), Some("p37"))
        );
        let before = as_of(&a, &spans, d(7, 31)).unwrap();
        assert_eq!((before.moved_on, before.moved_to), (None, None));
        assert_eq!(earliest_report_day(&a, &history), d(7, 15));
    }
}
