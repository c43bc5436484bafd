//! The reminder ladder: which steps a [`Policy`] owes a [`Target`], on which
//! working day each falls, which of them are due on a given day, and when in
//! office hours (Asia/Ho_Chi_Minh) a step may be sent.
//!
//! Everything counts on the national working-day [`Calendar`]. A deadline
//! that falls on a day off is reminded as due on the last working day before
//! it (its *due day*, [`due_day`]), and the whole ladder counts from that
//! day: DUE_SOON `n` is `n` working days before the due day, DUE_TODAY is the
//! due day, OVERDUE and ESCALATION `n` are `n` working days after it (the
//! same days as counting from the deadline itself, since the days between
//! are off). For a working-day deadline the due day is the deadline.

use super::{Kind, Period, Policy, Rule, Step, StepKey, Target};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use p06_kit::calendar::Calendar;
use p06_kit::clock::vietnam_offset;

/// The working day a deadline is reminded as due: the deadline itself when
/// offices work that day, else the last working day before it (a deadline
/// on a Saturday is due on the Friday). `None` when the calendar has no
/// working day within its counting horizon.
pub fn due_day(calendar: &Calendar, deadline: NaiveDate) -> Option<NaiveDate> {
    if calendar.is_working_day(deadline) {
        Some(deadline)
    } else {
        calendar.sub_working_days(deadline, 1)
    }
}

/// The steps `policy` owes `target`, in (date, rank) order, strictly after
/// `after` (all of them when `None`); lazy and, for a repeating OVERDUE or a
/// periodic target, endless.
///
/// For [`Target::Deadline`]: DUE_SOON `n` falls `n` working days before the
/// due day ([`due_day`]) with `working_days = n`; DUE_TODAY on the due day
/// (its rule's `working_days` is ignored); OVERDUE `n` repeating every `r`
/// falls `n` working days after the due day and then every `r` working days
/// (once when `r` is 0), with `working_days` the working days overdue;
/// ESCALATION `n` once, `n` working days after the due day. DIGEST and
/// PERIOD_REPORT_DUE rules are ignored. Each step's `deadline` is the
/// target's deadline.
///
/// For [`Target::Periodic`]: every period (calendar month, quarter or year)
/// closing on or after `since` is owed, for each PERIOD_REPORT_DUE rule `n`,
/// a step `n` working days before the last working day on or before the
/// period's last calendar day, with `deadline` that last calendar day and
/// `working_days = n`; other kinds are ignored. The first period is the one
/// containing `since`, so its step may fall before `since`.
///
/// Steps already past are yielded too (the caller decides what is stale).
/// Rules yielding the same (date, rank) yield one step. A rule whose next
/// step the calendar cannot place (no working day within its counting
/// horizon) yields no more steps.
pub fn steps_after<'a>(
    policy: &Policy,
    calendar: &'a Calendar,
    target: Target,
    after: Option<StepKey>,
) -> Steps<'a> {
    let sources = match target {
        Target::Deadline(deadline) => deadline_sources(&policy.rules, calendar, deadline),
        Target::Periodic { period, since } => period_sources(&policy.rules, period, since),
    };
    let lanes = sources
        .into_iter()
        .map(|mut source| Lane {
            head: source.pull(calendar),
            source,
        })
        .collect();
    Steps {
        calendar,
        lanes,
        last: after,
    }
}

/// The first step after `after` ([`steps_after`]), if any.
pub fn next_step(
    policy: &Policy,
    calendar: &Calendar,
    target: Target,
    after: Option<StepKey>,
) -> Option<Step> {
    steps_after(policy, calendar, target, after).next()
}

/// The steps after `after` falling on or before `today`, in order; stops at
/// the first step after `today`, so it is bounded even for endless ladders.
pub fn due_steps(
    policy: &Policy,
    calendar: &Calendar,
    target: Target,
    after: Option<StepKey>,
    today: NaiveDate,
) -> Vec<Step> {
    steps_after(policy, calendar, target, after)
        .take_while(|step| step.date <= today)
        .collect()
}

/// Of several steps due at once (the service was down, the clock jumped),
/// those worth sending, in key order: the latest step to the assignee
/// (DUE_SOON, DUE_TODAY, OVERDUE, PERIOD_REPORT_DUE) — a unit already
/// overdue must not be told it has days left — and the latest ESCALATION,
/// which is never dropped for an assignee step (and the latest DIGEST, should
/// one be passed).
pub fn collapse_stale(due: Vec<Step>) -> Vec<Step> {
    let mut kept: Vec<Step> = Vec::new();
    for step in due {
        match kept
            .iter_mut()
            .find(|k| Audience::of(k.kind) == Audience::of(step.kind))
        {
            Some(k) if step.key() > k.key() => *k = step,
            Some(_) => {}
            None => kept.push(step),
        }
    }
    kept.sort_by_key(Step::key);
    kept
}

/// Who a step is for, for [`collapse_stale`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// The assigned unit.
    Assignee,
    /// The supervising unit.
    Supervisor,
    /// A digest's recipient.
    Digest,
}

impl Audience {
    /// The audience of a kind.
    fn of(kind: Kind) -> Self {
        match kind {
            Kind::DueSoon | Kind::DueToday | Kind::Overdue | Kind::PeriodReportDue => {
                Self::Assignee
            }
            Kind::Escalation => Self::Supervisor,
            Kind::Digest => Self::Digest,
        }
    }
}

/// The steps of a ladder ([`steps_after`]): the rules' step sequences,
/// merged in (date, rank) order.
#[derive(Debug, Clone)]
pub struct Steps<'a> {
    /// The calendar the steps are counted on.
    calendar: &'a Calendar,
    /// One sequence per rule with its next step.
    lanes: Vec<Lane>,
    /// The last key yielded (or resumed after); later steps must be after it.
    last: Option<StepKey>,
}

impl Iterator for Steps<'_> {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        loop {
            let (_, i) = self
                .lanes
                .iter()
                .enumerate()
                .filter_map(|(i, lane)| lane.head.as_ref().map(|step| (step.key(), i)))
                .min()?;
            let lane = &mut self.lanes[i];
            let step = lane.head.take()?;
            lane.head = lane.source.pull(self.calendar);
            if self.last.is_some_and(|last| step.key() <= last) {
                continue;
            }
            self.last = Some(step.key());
            return Some(step);
        }
    }
}

/// One rule's steps and the next of them.
#[derive(Debug, Clone)]
struct Lane {
    /// Where further steps come from.
    source: Source,
    /// The next step, not yet yielded.
    head: Option<Step>,
}

/// One rule's steps, in date order.
#[derive(Debug, Clone)]
enum Source {
    /// A single step, until taken.
    Once(Option<Step>),
    /// OVERDUE: `next`, then every `every` working days (never when 0).
    Every {
        /// The next step.
        next: Option<Step>,
        /// Working days between steps.
        every: u32,
    },
    /// PERIOD_REPORT_DUE `days` before each period's close from `close`.
    Periods {
        /// The reporting period.
        period: Period,
        /// The last calendar day of the next period.
        close: Option<NaiveDate>,
        /// Working days before the period's last working day.
        days: u32,
    },
}

impl Source {
    /// The next step of the sequence.
    fn pull(&mut self, calendar: &Calendar) -> Option<Step> {
        match self {
            Source::Once(step) => step.take(),
            Source::Every { next, every } => {
                let step = next.take()?;
                *next = repeat(calendar, &step, *every);
                Some(step)
            }
            Source::Periods {
                period,
                close,
                days,
            } => {
                let this = close.take()?;
                let step = period_step(calendar, this, *days)?;
                *close = next_close(*period, this);
                Some(step)
            }
        }
    }
}

/// The step sequences a deadline's rules yield.
fn deadline_sources(rules: &[Rule], calendar: &Calendar, deadline: NaiveDate) -> Vec<Source> {
    let Some(due) = due_day(calendar, deadline) else {
        return Vec::new();
    };
    rules
        .iter()
        .filter_map(|rule| deadline_source(rule, calendar, deadline, due))
        .collect()
}

/// The steps one rule yields for a deadline reminded as due on `due`.
fn deadline_source(
    rule: &Rule,
    calendar: &Calendar,
    deadline: NaiveDate,
    due: NaiveDate,
) -> Option<Source> {
    let n = rule.working_days;
    let step = |date| Step {
        kind: rule.kind,
        date,
        deadline,
        working_days: n,
    };
    match rule.kind {
        Kind::DueSoon => Some(Source::Once(calendar.sub_working_days(due, n).map(step))),
        Kind::DueToday => Some(Source::Once(Some(Step {
            working_days: 0,
            ..step(due)
        }))),
        Kind::Overdue => Some(Source::Every {
            next: calendar.add_working_days(due, n).map(step),
            every: rule.repeat_every,
        }),
        Kind::Escalation => Some(Source::Once(calendar.add_working_days(due, n).map(step))),
        Kind::Digest | Kind::PeriodReportDue => None,
    }
}

/// The repeat of an OVERDUE step `every` working days later (none when 0).
fn repeat(calendar: &Calendar, step: &Step, every: u32) -> Option<Step> {
    if every == 0 {
        return None;
    }
    Some(Step {
        date: calendar.add_working_days(step.date, every)?,
        working_days: step.working_days.checked_add(every)?,
        ..*step
    })
}

/// The step sequences a periodic duty's rules yield.
fn period_sources(rules: &[Rule], period: Period, since: NaiveDate) -> Vec<Source> {
    rules
        .iter()
        .filter(|rule| rule.kind == Kind::PeriodReportDue)
        .map(|rule| Source::Periods {
            period,
            close: period_close(period, since),
            days: rule.working_days,
        })
        .collect()
}

/// The PERIOD_REPORT_DUE step for the period closing on `close`.
fn period_step(calendar: &Calendar, close: NaiveDate, days: u32) -> Option<Step> {
    let last_working_day = due_day(calendar, close)?;
    Some(Step {
        kind: Kind::PeriodReportDue,
        date: calendar.sub_working_days(last_working_day, days)?,
        deadline: close,
        working_days: days,
    })
}

/// The last calendar day of the period containing `date`.
fn period_close(period: Period, date: NaiveDate) -> Option<NaiveDate> {
    let month = match period {
        Period::Monthly => date.month(),
        Period::Quarterly => date.month().div_ceil(3) * 3,
        Period::Yearly => 12,
    };
    last_day_of_month(date.year(), month)
}

/// The last calendar day of the period after the one closing on `close`.
fn next_close(period: Period, close: NaiveDate) -> Option<NaiveDate> {
    period_close(period, close.succ_opt()?)
}

/// The last day of `month` (1–12) of `year`.
fn last_day_of_month(year: i32, month: u32) -> Option<NaiveDate> {
    let (year, month) = if month >= 12 {
        (year.checked_add(1)?, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)?.pred_opt()
}

/// Office hours in Asia/Ho_Chi_Minh (UTC+7), on working days only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfficeHours {
    /// Local opening time.
    pub start: NaiveTime,
    /// Local closing time (not itself open).
    pub end: NaiveTime,
}

impl Default for OfficeHours {
    /// 08:00–17:00, government office hours.
    fn default() -> Self {
        Self {
            start: OPENING,
            end: CLOSING,
        }
    }
}

/// Government offices open at 08:00.
const OPENING: NaiveTime = hour(8);

/// Government offices close at 17:00.
const CLOSING: NaiveTime = hour(17);

/// `h`:00; used in constants only, so an invalid hour fails the build.
const fn hour(h: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(h, 0, 0) {
        Some(time) => time,
        None => panic!("an hour is 0 to 23"),
    }
}

impl OfficeHours {
    /// The instant offices open on `date` (at `start`, local time), whether
    /// or not `date` is a working day.
    pub fn opens_at(&self, date: NaiveDate) -> DateTime<Utc> {
        local_instant(date.and_time(self.start))
    }

    /// Whether `now` falls on a working day (local date) between `start`
    /// (included) and `end` (excluded), local time.
    pub fn is_open(&self, calendar: &Calendar, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&vietnam_offset());
        let time = local.time();
        calendar.is_working_day(local.date_naive()) && self.start <= time && time < self.end
    }

    /// `now` when offices are open, else the next instant they open: `start`
    /// today when today is a working day not yet open, else `start` on the
    /// next working day. `now` when the calendar has no working day within
    /// its counting horizon (broken data must not hold reminders forever).
    pub fn next_open(&self, calendar: &Calendar, now: DateTime<Utc>) -> DateTime<Utc> {
        if self.is_open(calendar, now) {
            return now;
        }
        let local = now.with_timezone(&vietnam_offset());
        let today = local.date_naive();
        if calendar.is_working_day(today) && local.time() < self.start {
            return self.opens_at(today);
        }
        calendar
            .add_working_days(today, 1)
            .map_or(now, |day| self.opens_at(day))
    }

    /// When a step falling on `step_date` becomes sendable. Step dates are
    /// always counted on working days, urgent or not; `urgent` only means
    /// sending is not held back to office hours. Not urgent: `start` on the
    /// step date, or on the next working day should the step date be a day
    /// off; the caller sends it while [`is_open`](Self::is_open), else at
    /// [`next_open`](Self::next_open). Urgent: the step date's first
    /// instant (00:00 local), a day off or not; the caller sends it at once
    /// from then on, at any hour.
    pub fn send_time(
        &self,
        calendar: &Calendar,
        step_date: NaiveDate,
        urgent: bool,
    ) -> DateTime<Utc> {
        if urgent {
            return local_instant(step_date.and_time(NaiveTime::MIN));
        }
        let day = calendar
            .working_day_on_or_after(step_date)
            .unwrap_or(step_date);
        self.opens_at(day)
    }
}

/// The instant of a local Asia/Ho_Chi_Minh date and time. A fixed offset
/// maps every local time to one instant; the fallback only guards the ends
/// of chrono's range.
fn local_instant(local: NaiveDateTime) -> DateTime<Utc> {
    local
        .and_local_timezone(vietnam_offset())
        .single()
        .map_or_else(|| local.and_utc(), |at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;
    use p06_kit::calendar::{CalendarDay, DayKind};

    const CSV: &str = include_str!("../../../tasks/data/holidays_2024_2027.csv");

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// The shipped calendar, parsed here (`date,kind,name`).
    fn shipped() -> Calendar {
        Calendar::new(
            CSV.lines()
                .skip(1)
                .filter(|l| !l.trim().is_empty())
                .map(|line| {
                    let mut parts = line.splitn(3, ',');
                    let date =
                        NaiveDate::parse_from_str(parts.next().unwrap(), "%Y-%m-%d").unwrap();
                    let kind = match parts.next().unwrap() {
                        "day_off" => DayKind::DayOff,
                        "working_day" => DayKind::WorkingDay,
                        other => panic!("unknown kind {other}"),
                    };
                    CalendarDay {
                        date,
                        kind,
                        name: parts.next().unwrap_or("").to_string(),
                    }
                }),
        )
    }

    fn deadline_ladder(
        cal: &Calendar,
        deadline: NaiveDate,
        n: usize,
    ) -> Vec<(Kind, NaiveDate, u32)> {
        steps_after(&Policy::default(), cal, Target::Deadline(deadline), None)
            .take(n)
            .inspect(|s| assert_eq!(s.deadline, deadline))
            .map(|s| (s.kind, s.date, s.working_days))
            .collect()
    }

    fn key(kind: Kind, date: NaiveDate) -> StepKey {
        StepKey {
            date,
            rank: kind.rank(),
        }
    }

    fn step(kind: Kind, date: NaiveDate, deadline: NaiveDate, working_days: u32) -> Step {
        Step {
            kind,
            date,
            deadline,
            working_days,
        }
    }

    #[test]
    fn a_saturday_deadline_is_due_on_the_friday_and_the_ladder_counts_from_it() {
        let cal = shipped();
        assert_eq!(d(2024, 7, 20).weekday(), Weekday::Sat);
        assert_eq!(due_day(&cal, d(2024, 7, 20)), Some(d(2024, 7, 19)));
        assert_eq!(
            deadline_ladder(&cal, d(2024, 7, 20), 8),
            vec![
                (Kind::DueSoon, d(2024, 7, 12), 5),
                (Kind::DueSoon, d(2024, 7, 17), 2),
                (Kind::DueToday, d(2024, 7, 19), 0),
                (Kind::Overdue, d(2024, 7, 23), 2),
                (Kind::Overdue, d(2024, 7, 25), 4),
                (Kind::Escalation, d(2024, 7, 26), 5),
                (Kind::Overdue, d(2024, 7, 29), 6),
                (Kind::Overdue, d(2024, 7, 31), 8),
            ]
        );
    }

    #[test]
    fn default_ladder_across_tet_2025() {
        let cal = shipped();
        // Days off 25 Jan (Sat) – 2 Feb (Sun) 2025: Tết 27–31 Jan.
        assert!((25..=31).all(|day| !cal.is_working_day(d(2025, 1, day))));
        assert!(!cal.is_working_day(d(2025, 2, 1)) && !cal.is_working_day(d(2025, 2, 2)));
        assert_eq!(
            deadline_ladder(&cal, d(2025, 2, 5), 9),
            vec![
                (Kind::DueSoon, d(2025, 1, 22), 5),
                (Kind::DueSoon, d(2025, 2, 3), 2),
                (Kind::DueToday, d(2025, 2, 5), 0),
                (Kind::Overdue, d(2025, 2, 7), 2),
                (Kind::Overdue, d(2025, 2, 11), 4),
                (Kind::Escalation, d(2025, 2, 12), 5),
                (Kind::Overdue, d(2025, 2, 13), 6),
                (Kind::Overdue, d(2025, 2, 17), 8),
                (Kind::Overdue, d(2025, 2, 19), 10),
            ]
        );
        // Without the holidays T-5 would be Wednesday 29 January.
        assert_eq!(
            deadline_ladder(&Calendar::default(), d(2025, 2, 5), 1),
            vec![(Kind::DueSoon, d(2025, 1, 29), 5)]
        );
    }

    #[test]
    fn a_make_up_saturday_counts() {
        let cal = shipped();
        assert_eq!(
            deadline_ladder(&cal, d(2025, 4, 24), 8),
            vec![
                (Kind::DueSoon, d(2025, 4, 17), 5),
                (Kind::DueSoon, d(2025, 4, 22), 2),
                (Kind::DueToday, d(2025, 4, 24), 0),
                (Kind::Overdue, d(2025, 4, 26), 2), // the make-up Saturday
                (Kind::Overdue, d(2025, 4, 29), 4),
                (Kind::Escalation, d(2025, 5, 5), 5), // 30 Apr – 4 May off
                (Kind::Overdue, d(2025, 5, 6), 6),
                (Kind::Overdue, d(2025, 5, 8), 8),
            ]
        );
    }

    #[test]
    fn after_resumes_strictly_after() {
        let cal = shipped();
        let policy = Policy::default();
        let target = Target::Deadline(d(2025, 2, 5));
        let next = |after| next_step(&policy, &cal, target, Some(after));
        assert_eq!(
            next(key(Kind::DueToday, d(2025, 2, 5))),
            Some(step(Kind::Overdue, d(2025, 2, 7), d(2025, 2, 5), 2))
        );
        assert_eq!(
            next(key(Kind::Overdue, d(2025, 2, 12))),
            Some(step(Kind::Escalation, d(2025, 2, 12), d(2025, 2, 5), 5))
        );
        assert_eq!(
            next(key(Kind::Escalation, d(2025, 2, 12))),
            Some(step(Kind::Overdue, d(2025, 2, 13), d(2025, 2, 5), 6))
        );
        assert_eq!(
            next(key(Kind::DueSoon, d(2025, 2, 8))),
            Some(step(Kind::Overdue, d(2025, 2, 11), d(2025, 2, 5), 4))
        );
        assert_eq!(
            next_step(&policy, &cal, target, None),
            Some(step(Kind::DueSoon, d(2025, 1, 22), d(2025, 2, 5), 5))
        );
    }

    #[test]
    fn duplicate_rules_yield_one_step_and_other_kinds_are_ignored() {
        let rule = |kind, working_days, repeat_every| Rule {
            kind,
            working_days,
            repeat_every,
        };
        let policy = Policy {
            rules: vec![
                rule(Kind::DueSoon, 2, 0),
                rule(Kind::Digest, 1, 0),
                rule(Kind::DueSoon, 2, 0),
                rule(Kind::Overdue, 4, 2),
                rule(Kind::Overdue, 2, 2),
                rule(Kind::PeriodReportDue, 1, 0),
                rule(Kind::Overdue, 1, 0),
            ],
            urgent: false,
        };
        let got: Vec<_> = steps_after(&policy, &shipped(), Target::Deadline(d(2025, 2, 5)), None)
            .take(5)
            .map(|s| (s.kind, s.date, s.working_days))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::DueSoon, d(2025, 2, 3), 2),
                (Kind::Overdue, d(2025, 2, 6), 1),
                (Kind::Overdue, d(2025, 2, 7), 2),
                (Kind::Overdue, d(2025, 2, 11), 4),
                (Kind::Overdue, d(2025, 2, 13), 6),
            ]
        );
        // A one-off ladder ends.
        let once = Policy {
            rules: vec![rule(Kind::DueToday, 0, 0), rule(Kind::Overdue, 2, 0)],
            urgent: true,
        };
        assert_eq!(
            steps_after(&once, &shipped(), Target::Deadline(d(2025, 2, 5)), None).count(),
            2
        );
    }

    #[test]
    fn due_steps_stop_at_today_and_collapse_to_the_latest() {
        let cal = shipped();
        let policy = Policy::default();
        let deadline = d(2025, 2, 5);
        let target = Target::Deadline(deadline);
        assert!(due_steps(&policy, &cal, target, None, d(2025, 1, 21)).is_empty());
        let due = due_steps(&policy, &cal, target, None, d(2025, 2, 12));
        assert_eq!(
            due.iter().map(|s| (s.kind, s.date)).collect::<Vec<_>>(),
            vec![
                (Kind::DueSoon, d(2025, 1, 22)),
                (Kind::DueSoon, d(2025, 2, 3)),
                (Kind::DueToday, d(2025, 2, 5)),
                (Kind::Overdue, d(2025, 2, 7)),
                (Kind::Overdue, d(2025, 2, 11)),
                (Kind::Escalation, d(2025, 2, 12)),
            ]
        );
        assert_eq!(
            collapse_stale(due),
            vec![
                step(Kind::Overdue, d(2025, 2, 11), deadline, 4),
                step(Kind::Escalation, d(2025, 2, 12), deadline, 5),
            ]
        );
        // The escalation is kept even when an overdue step follows it.
        let due = due_steps(
            &policy,
            &cal,
            target,
            Some(key(Kind::DueToday, deadline)),
            d(2025, 2, 19),
        );
        assert_eq!(due.len(), 6);
        assert_eq!(
            collapse_stale(due),
            vec![
                step(Kind::Escalation, d(2025, 2, 12), deadline, 5),
                step(Kind::Overdue, d(2025, 2, 19), deadline, 10),
            ]
        );
        // DUE_SOON is dropped for DUE_TODAY.
        let due = due_steps(&policy, &cal, target, None, d(2025, 2, 5));
        assert_eq!(
            collapse_stale(due),
            vec![step(Kind::DueToday, deadline, deadline, 0)]
        );
        assert!(collapse_stale(Vec::new()).is_empty());
    }

    #[test]
    fn monthly_reports_from_2025_01_10() {
        let cal = shipped();
        let target = Target::Periodic {
            period: Period::Monthly,
            since: d(2025, 1, 10),
        };
        let got: Vec<_> = steps_after(&Policy::default(), &cal, target, None)
            .take(5)
            .collect();
        let report = |date, close| step(Kind::PeriodReportDue, date, close, 2);
        assert_eq!(
            got,
            vec![
                // 31 Jan is Tết: last working day 24 Jan, 2 before is 22 Jan.
                report(d(2025, 1, 22), d(2025, 1, 31)),
                report(d(2025, 2, 26), d(2025, 2, 28)),
                report(d(2025, 3, 27), d(2025, 3, 31)),
                // 30 Apr off: last working day 29 Apr; 28 Apr, then the
                // make-up Saturday 26 Apr.
                report(d(2025, 4, 26), d(2025, 4, 30)),
                // 31 May is a Saturday: last working day 30 May.
                report(d(2025, 5, 28), d(2025, 5, 31)),
            ]
        );
        let after = Some(key(Kind::PeriodReportDue, d(2025, 1, 22)));
        assert_eq!(
            next_step(&Policy::default(), &cal, target, after),
            Some(report(d(2025, 2, 26), d(2025, 2, 28)))
        );
    }

    #[test]
    fn quarterly_and_yearly_reports() {
        let cal = shipped();
        let dates = |period| {
            let target = Target::Periodic {
                period,
                since: d(2025, 1, 10),
            };
            steps_after(&Policy::default(), &cal, target, None)
                .take(2)
                .map(|s| (s.date, s.deadline))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            dates(Period::Quarterly),
            vec![
                (d(2025, 3, 27), d(2025, 3, 31)),
                (d(2025, 6, 26), d(2025, 6, 30)),
            ]
        );
        assert_eq!(
            dates(Period::Yearly),
            vec![
                (d(2025, 12, 29), d(2025, 12, 31)),
                (d(2026, 12, 29), d(2026, 12, 31)),
            ]
        );
        // Deadline rules are ignored for a periodic duty.
        let no_reports = Policy {
            rules: Policy::default()
                .rules
                .into_iter()
                .filter(|r| r.kind != Kind::PeriodReportDue)
                .collect(),
            urgent: false,
        };
        let target = Target::Periodic {
            period: Period::Monthly,
            since: d(2025, 1, 10),
        };
        assert_eq!(next_step(&no_reports, &cal, target, None), None);
    }

    #[test]
    fn a_calendar_without_working_days_ends_the_ladder() {
        let off = Calendar::new((0..4000).map(|i| CalendarDay {
            date: d(2030, 1, 1) + chrono::Days::new(i),
            kind: DayKind::DayOff,
            name: String::new(),
        }));
        let got: Vec<_> = steps_after(
            &Policy::default(),
            &off,
            Target::Deadline(d(2029, 12, 31)),
            None,
        )
        .map(|s| s.kind)
        .collect();
        assert_eq!(got, vec![Kind::DueSoon, Kind::DueSoon, Kind::DueToday]);
        let target = Target::Periodic {
            period: Period::Monthly,
            since: d(2029, 11, 1),
        };
        // November and December 2029; later months have no working day left,
        // and the search for one ends at the calendar's horizon.
        assert_eq!(
            steps_after(&Policy::default(), &off, target, None).count(),
            2
        );
    }

    fn at(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
        d(y, m, day)
            .and_hms_opt(h, min, 0)
            .unwrap()
            .and_local_timezone(vietnam_offset())
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn office_hours_in_vietnam_time() {
        let cal = shipped();
        let hours = OfficeHours::default();
        assert_eq!(
            hours.opens_at(d(2025, 2, 5)).to_rfc3339(),
            "2025-02-05T01:00:00+00:00"
        );
        assert!(!hours.is_open(&cal, at(2025, 2, 5, 7, 59)));
        assert!(hours.is_open(&cal, at(2025, 2, 5, 8, 0)));
        assert!(hours.is_open(&cal, at(2025, 2, 5, 16, 59)));
        assert!(!hours.is_open(&cal, at(2025, 2, 5, 17, 0)));
        assert!(!hours.is_open(&cal, at(2024, 7, 20, 10, 0)), "a Saturday");
        assert!(
            hours.is_open(&cal, at(2025, 4, 26, 10, 0)),
            "a make-up Saturday"
        );
        assert!(!hours.is_open(&cal, at(2025, 1, 29, 10, 0)), "Tết");
    }

    #[test]
    fn next_open_over_a_weekend_and_tet() {
        let cal = shipped();
        let hours = OfficeHours::default();
        let open = |t| hours.next_open(&cal, t).to_rfc3339();
        // Open: now.
        assert_eq!(open(at(2025, 2, 5, 9, 30)), "2025-02-05T02:30:00+00:00");
        // Before opening on a working day: 08:00 that day; 06:30 local
        // Monday is still Sunday in UTC.
        assert_eq!(open(at(2025, 2, 3, 6, 30)), "2025-02-03T01:00:00+00:00");
        // Friday evening, Saturday: Monday 08:00.
        assert_eq!(open(at(2024, 7, 19, 17, 0)), "2024-07-22T01:00:00+00:00");
        assert_eq!(open(at(2024, 7, 20, 10, 0)), "2024-07-22T01:00:00+00:00");
        // The last working day before Tết, after hours, and Tết itself:
        // Monday 3 February 2025, 08:00.
        assert_eq!(open(at(2025, 1, 24, 17, 30)), "2025-02-03T01:00:00+00:00");
        assert_eq!(open(at(2025, 1, 29, 10, 0)), "2025-02-03T01:00:00+00:00");
    }

    #[test]
    fn send_time_from_office_opening() {
        let cal = shipped();
        let hours = OfficeHours::default();
        let send = |date, urgent| hours.send_time(&cal, date, urgent).to_rfc3339();
        assert_eq!(send(d(2025, 2, 5), false), "2025-02-05T01:00:00+00:00");
        // Urgent: from 00:00 local (17:00 UTC the day before), on a
        // Saturday too.
        assert_eq!(send(d(2025, 2, 5), true), "2025-02-04T17:00:00+00:00");
        assert_eq!(send(d(2024, 7, 20), false), "2024-07-22T01:00:00+00:00");
        assert_eq!(send(d(2024, 7, 20), true), "2024-07-19T17:00:00+00:00");
    }
}
