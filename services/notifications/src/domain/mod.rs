//! The notifications domain, pure: what a reminder ladder is, when each
//! step falls due on the working-day calendar and in office hours, and how a
//! notification reads in Vietnamese and English.

pub mod ladder;
pub mod render;

use chrono::NaiveDate;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The deadline is some working days away.
    DueSoon,
    /// The deadline is today.
    DueToday,
    /// Past the deadline; repeats while open.
    Overdue,
    /// To the supervising unit of a unit long overdue.
    Escalation,
    /// Monthly digest before the review meeting.
    Digest,
    /// A recurring duty's reporting period is closing.
    PeriodReportDue,
}

p06_kit::str_enum!(Kind, prefixes = ["NOTIFICATION_KIND_"], {
    DueSoon = "DUE_SOON",
    DueToday = "DUE_TODAY",
    Overdue = "OVERDUE",
    Escalation = "ESCALATION",
    Digest = "DIGEST",
    PeriodReportDue = "PERIOD_REPORT_DUE",
});

/// How often a regularly implemented duty reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Each calendar month.
    Monthly,
    /// Each calendar quarter.
    Quarterly,
    /// Each calendar year.
    Yearly,
}

p06_kit::str_enum!(Period, prefixes = ["REPORTING_PERIOD_"], {
    Monthly = "MONTHLY",
    Quarterly = "QUARTERLY",
    Yearly = "YEARLY",
});

/// One step of a ladder: `kind` at `working_days` from the deadline
/// (before it for DUE_SOON and PERIOD_REPORT_DUE, after it for OVERDUE and
/// ESCALATION, 0 for DUE_TODAY); OVERDUE repeats every `repeat_every`
/// working days when that is not 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The kind of reminder.
    pub kind: Kind,
    /// Working days from the deadline.
    pub working_days: u32,
    /// Repeat interval in working days (OVERDUE only; 0 = once).
    pub repeat_every: u32,
}

/// The reminders an assignment is owed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The ladder's steps (any order).
    pub rules: Vec<Rule>,
    /// Send outside office hours and on days off too.
    pub urgent: bool,
}

impl Default for Policy {
    /// The programme's default ladder: DUE_SOON 5 and 2 working days
    /// before, DUE_TODAY, OVERDUE 2, 4, 6 … working days after, ESCALATION
    /// after 5 working days overdue, PERIOD_REPORT_DUE 2 working days before
    /// a reporting period closes.
    fn default() -> Self {
        let rule = |kind, working_days, repeat_every| Rule {
            kind,
            working_days,
            repeat_every,
        };
        Self {
            rules: vec![
                rule(Kind::DueSoon, 5, 0),
                rule(Kind::DueSoon, 2, 0),
                rule(Kind::DueToday, 0, 0),
                rule(Kind::Overdue, 2, 2),
                rule(Kind::Escalation, 5, 0),
                rule(Kind::PeriodReportDue, 2, 0),
            ],
            urgent: false,
        }
    }
}

/// What the ladder counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An assignment with a deadline (end of that day).
    Deadline(NaiveDate),
    /// A regularly implemented duty: each period closing after `since`
    /// (the assignment's creation date) is owed a PERIOD_REPORT_DUE.
    Periodic {
        /// The reporting period.
        period: Period,
        /// Periods closing on or after this date count.
        since: NaiveDate,
    },
}

/// Where a schedule stands in its ladder: steps are ordered by (date,
/// rank); the next step is the first after the last one handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StepKey {
    /// The working day the step falls on.
    pub date: NaiveDate,
    /// Order among steps on the same date (see [`Kind::rank`]).
    pub rank: u8,
}

impl Kind {
    /// Order of kinds falling on the same day.
    pub fn rank(self) -> u8 {
        match self {
            Kind::DueSoon => 0,
            Kind::PeriodReportDue => 1,
            Kind::DueToday => 2,
            Kind::Overdue => 3,
            Kind::Escalation => 4,
            Kind::Digest => 5,
        }
    }
}

/// One reminder a ladder yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its kind.
    pub kind: Kind,
    /// The working day it falls on (sent from the start of office hours).
    pub date: NaiveDate,
    /// The deadline it counts from (for a period, the day it closes).
    pub deadline: NaiveDate,
    /// Working days left (DUE_SOON, PERIOD_REPORT_DUE) or overdue
    /// (OVERDUE, ESCALATION); 0 on the day.
    pub working_days: u32,
}

impl Step {
    /// Its position in the ladder.
    pub fn key(&self) -> StepKey {
        StepKey {
            date: self.date,
            rank: self.kind.rank(),
        }
    }
}
