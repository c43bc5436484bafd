//! An assignment's status as of a date, in the Government Office's
//! taxonomy: completed on time or late, in progress within the deadline,
//! overdue (and backlog: overdue since before the current month), regularly
//! implemented (recurring duties, overdue only when a periodic report is
//! missed), cancelled.

use chrono::{Datelike, Days, Months, NaiveDate};

/// The reporting period of a regularly implemented duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Period {
    /// Calendar months.
    Monthly,
    /// Calendar quarters.
    Quarterly,
    /// Calendar years.
    Yearly,
}

impl Period {
    /// The first day of the period containing `date`.
    pub fn start_of(self, date: NaiveDate) -> NaiveDate {
        let month = match self {
            Period::Monthly => date.month(),
            Period::Quarterly => (date.month() - 1) / 3 * 3 + 1,
            Period::Yearly => 1,
        };
        NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date)
    }

    fn months(self) -> u32 {
        match self {
            Period::Monthly => 1,
            Period::Quarterly => 3,
            Period::Yearly => 12,
        }
    }

    /// The period before the one containing `date`: (first day, last day).
    pub fn previous(self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        let start = self.start_of(date);
        let prev = start
            .checked_sub_months(Months::new(self.months()))
            .unwrap_or(start);
        (prev, start.checked_sub_days(Days::new(1)).unwrap_or(start))
    }
}

/// Derived status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Completed by the deadline.
    CompletedOnTime,
    /// Completed after the deadline.
    CompletedLate,
    /// Open, deadline not passed.
    InProgress,
    /// Open, deadline passed (or a periodic report missed).
    Overdue,
    /// Recurring duty, reports in.
    Regular,
    /// Cancelled.
    Cancelled,
}

/// What the status of one assignment depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInput {
    /// Day the assignment was made.
    pub created_on: NaiveDate,
    /// Its deadline (None for a recurring duty).
    pub deadline: Option<NaiveDate>,
    /// Reporting period of a recurring duty.
    pub period: Option<Period>,
    /// Day of completion.
    pub completed_on: Option<NaiveDate>,
    /// Day of cancellation.
    pub cancelled_on: Option<NaiveDate>,
    /// Day of the latest progress report on or before the as-of date.
    pub last_report_on: Option<NaiveDate>,
    /// Day the assignment moved to a successor unit; from then on it is the
    /// successor's and this row no longer counts.
    pub moved_on: Option<NaiveDate>,
}

/// Status and backlog flag as of `as_of`; `None` before the assignment
/// existed.
pub fn status(a: &StatusInput, as_of: NaiveDate) -> Option<(Status, bool)> {
    if a.created_on > as_of || a.moved_on.is_some_and(|d| d <= as_of) {
        return None;
    }
    if a.cancelled_on.is_some_and(|d| d <= as_of) {
        return Some((Status::Cancelled, false));
    }
    if let Some(done) = a.completed_on.filter(|d| *d <= as_of) {
        let late = a.deadline.is_some_and(|deadline| done > deadline);
        return Some((
            if late {
                Status::CompletedLate
            } else {
                Status::CompletedOnTime
            },
            false,
        ));
    }
    let month_start = Period::Monthly.start_of(as_of);
    match (a.deadline, a.period) {
        (Some(deadline), _) if as_of > deadline => Some((Status::Overdue, deadline < month_start)),
        (Some(_), _) => Some((Status::InProgress, false)),
        (None, Some(period)) => {
            // A report is owed for each full period the duty existed in.
            let (prev_start, _) = period.previous(as_of);
            let owed = a.created_on < prev_start;
            let filed = a.last_report_on.is_some_and(|r| r >= prev_start);
            if owed && !filed {
                // Backlog: the period before that went unreported too.
                let (earlier_start, _) = period.previous(prev_start);
                let carried = a.created_on < earlier_start
                    && a.last_report_on.is_none_or(|r| r < earlier_start);
                Some((Status::Overdue, carried))
            } else {
                Some((Status::Regular, false))
            }
        }
        (None, None) => Some((Status::InProgress, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn task(deadline: NaiveDate) -> StatusInput {
        StatusInput {
            created_on: d(2024, 6, 20),
            deadline: Some(deadline),
            period: None,
            completed_on: None,
            cancelled_on: None,
            last_report_on: None,
            moved_on: None,
        }
    }

    /// The hand-computed table: one assignment per row, deadline 2024-07-20.
    #[test]
    fn statuses_follow_the_government_office_taxonomy() {
        let deadline = d(2024, 7, 20);
        let done_early = StatusInput {
            completed_on: Some(d(2024, 7, 15)),
            ..task(deadline)
        };
        let done_on_the_day = StatusInput {
            completed_on: Some(deadline),
            ..task(deadline)
        };
        let done_late = StatusInput {
            completed_on: Some(d(2024, 8, 2)),
            ..task(deadline)
        };
        let cancelled = StatusInput {
            cancelled_on: Some(d(2024, 7, 1)),
            ..task(deadline)
        };
        let open = task(deadline);
        let rows = [
            // (assignment, as of, expected status, backlog)
            (&open, d(2024, 6, 19), None),
            (&open, d(2024, 7, 20), Some((Status::InProgress, false))),
            (&open, d(2024, 7, 21), Some((Status::Overdue, false))),
            (&open, d(2024, 8, 1), Some((Status::Overdue, true))),
            (
                &done_early,
                d(2024, 7, 10),
                Some((Status::InProgress, false)),
            ),
            (
                &done_early,
                d(2024, 7, 31),
                Some((Status::CompletedOnTime, false)),
            ),
            (
                &done_on_the_day,
                d(2024, 7, 20),
                Some((Status::CompletedOnTime, false)),
            ),
            (&done_late, d(2024, 7, 31), Some((Status::Overdue, false))),
            (
                &done_late,
                d(2024, 8, 2),
                Some((Status::CompletedLate, false)),
            ),
            (
                &cancelled,
                d(2024, 6, 30),
                Some((Status::InProgress, false)),
            ),
            (&cancelled, d(2024, 7, 1), Some((Status::Cancelled, false))),
        ];
        for (i, (a, as_of, expected)) in rows.iter().enumerate() {
            assert_eq!(status(a, *as_of), *expected, "row {i}: as of {as_of}");
        }
    }

    #[test]
    fn recurring_duties_are_overdue_only_when_a_report_is_missed() {
        let duty = StatusInput {
            created_on: d(2024, 1, 15),
            deadline: None,
            period: Some(Period::Monthly),
            completed_on: None,
            cancelled_on: None,
            last_report_on: None,
            moved_on: None,
        };
        // February: January was not a full month of the duty; nothing owed.
        assert_eq!(
            status(&duty, d(2024, 2, 10)),
            Some((Status::Regular, false))
        );
        // March: February's report is missing.
        assert_eq!(status(&duty, d(2024, 3, 5)), Some((Status::Overdue, false)));
        let reported = StatusInput {
            last_report_on: Some(d(2024, 2, 27)),
            ..duty.clone()
        };
        assert_eq!(
            status(&reported, d(2024, 3, 5)),
            Some((Status::Regular, false))
        );
        // May, last report in February: March and April missed, carried over.
        assert_eq!(
            status(&reported, d(2024, 5, 3)),
            Some((Status::Overdue, true))
        );
        let quarterly = StatusInput {
            period: Some(Period::Quarterly),
            last_report_on: Some(d(2024, 6, 30)),
            ..duty
        };
        assert_eq!(
            status(&quarterly, d(2024, 8, 1)),
            Some((Status::Regular, false))
        );
        assert_eq!(
            status(&quarterly, d(2024, 10, 2)),
            Some((Status::Overdue, false))
        );
    }

    #[test]
    fn periods() {
        assert_eq!(Period::Quarterly.start_of(d(2024, 8, 17)), d(2024, 7, 1));
        assert_eq!(
            Period::Monthly.previous(d(2024, 3, 5)),
            (d(2024, 2, 1), d(2024, 2, 29))
        );
        assert_eq!(
            Period::Yearly.previous(d(2024, 3, 5)),
            (d(2023, 1, 1), d(2023, 12, 31))
        );
    }
}
