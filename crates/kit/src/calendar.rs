//! The national working-day calendar: Monday to Friday, minus official days
//! off (Tết ranges, holidays, swapped days), plus make-up working days
//! (usually Saturdays). The tasks service owns the data; deadlines and
//! reminders are counted on this one implementation.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use std::collections::BTreeMap;

/// Whether an exception makes a day off or a working day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// A weekday off.
    DayOff,
    /// A weekend day worked.
    WorkingDay,
}

/// A calendar exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarDay {
    /// The date.
    pub date: NaiveDate,
    /// Off or worked.
    pub kind: DayKind,
    /// What it is ("Tết (1st day)").
    pub name: String,
}

/// The exceptions to the Monday–Friday week.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    days: BTreeMap<NaiveDate, CalendarDay>,
}

/// Counting working days stops this far out, so a calendar with no working
/// day left cannot loop forever.
const MAX_SPAN_DAYS: u64 = 3 * 366;

impl Calendar {
    /// A calendar with these exceptions.
    pub fn new(days: impl IntoIterator<Item = CalendarDay>) -> Self {
        Self {
            days: days.into_iter().map(|d| (d.date, d)).collect(),
        }
    }

    /// The exceptions, in date order.
    pub fn days(&self) -> impl Iterator<Item = &CalendarDay> {
        self.days.values()
    }

    /// The exceptions of one year.
    pub fn year(&self, year: i32) -> Vec<CalendarDay> {
        self.days
            .values()
            .filter(|d| d.date.year() == year)
            .cloned()
            .collect()
    }

    /// Whether government offices work on `date`.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        match self.days.get(&date).map(|d| d.kind) {
            Some(DayKind::DayOff) => false,
            Some(DayKind::WorkingDay) => true,
            None => !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// The `n`th working day after `from` (`from` itself is not counted);
    /// `from` when `n` is 0. `None` past the counting horizon.
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> Option<NaiveDate> {
        self.count_working_days(from, n, |d| d.checked_add_days(Days::new(1)))
    }

    /// Steps from `from` one day at a time with `next` until `n` working
    /// days have passed; `None` past the counting horizon.
    fn count_working_days(
        &self,
        from: NaiveDate,
        n: u32,
        next: impl Fn(NaiveDate) -> Option<NaiveDate>,
    ) -> Option<NaiveDate> {
        let mut date = from;
        let mut left = n;
        let mut steps = 0;
        while left > 0 {
            date = next(date)?;
            steps += 1;
            if steps > MAX_SPAN_DAYS + u64::from(n) * 7 {
                return None;
            }
            if self.is_working_day(date) {
                left -= 1;
            }
        }
        Some(date)
    }

    /// Working days after `from` up to and including `to` (0 when `to` is
    /// not after `from`).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        from.iter_days()
            .skip(1)
            .take_while(|d| *d <= to)
            .filter(|d| self.is_working_day(*d))
            .count() as u32
    }

    /// The `n`th working day before `from` (`from` itself is not counted);
    /// `from` when `n` is 0. `None` past the counting horizon.
    pub fn sub_working_days(&self, from: NaiveDate, n: u32) -> Option<NaiveDate> {
        self.count_working_days(from, n, |d| d.checked_sub_days(Days::new(1)))
    }

    /// The first working day on or after `date`.
    pub fn working_day_on_or_after(&self, date: NaiveDate) -> Option<NaiveDate> {
        if self.is_working_day(date) {
            Some(date)
        } else {
            self.add_working_days(date, 1)
        }
    }
}
