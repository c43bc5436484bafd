//! The national working-day calendar: Monday to Friday, minus official days
//! off (Tết ranges, holidays, swapped days), plus make-up working days
//! (usually Saturdays). Deadlines given in working days are counted on it.

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
        let mut date = from;
        let mut left = n;
        let mut steps = 0;
        while left > 0 {
            date = date.checked_add_days(Days::new(1))?;
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
}

/// Parses the shipped CSV (`date,kind,name`; kind `day_off` or
/// `working_day`).
pub fn parse_csv(text: &str) -> Result<Vec<CalendarDay>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, ',');
        let (date, kind, name) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
            .map_err(|e| format!("line {}: {e}", i + 1))?;
        let kind = match kind.trim() {
            "day_off" => DayKind::DayOff,
            "working_day" => DayKind::WorkingDay,
            other => return Err(format!("line {}: unknown kind {other:?}", i + 1)),
        };
        out.push(CalendarDay {
            date,
            kind,
            name: name.trim().trim_matches('"').to_string(),
        });
    }
    Ok(out)
}

/// The calendar data shipped in `data/holidays_2024_2027.csv`.
pub const SHIPPED_CSV: &str = include_str!("../../data/holidays_2024_2027.csv");

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn shipped() -> Calendar {
        Calendar::new(parse_csv(SHIPPED_CSV).unwrap())
    }

    #[test]
    fn ten_working_days_from_2025_01_20_skip_tet() {
        // 21–24 Jan (4), Tết 27–31 Jan off, 3–7 Feb (9), 10 Feb (10).
        assert_eq!(
            shipped().add_working_days(d(2025, 1, 20), 10),
            Some(d(2025, 2, 10))
        );
        // Without the holidays it would be 3 Feb.
        assert_eq!(
            Calendar::default().add_working_days(d(2025, 1, 20), 10),
            Some(d(2025, 2, 3))
        );
    }

    #[test]
    fn a_make_up_saturday_is_a_working_day() {
        let cal = shipped();
        assert!(
            cal.is_working_day(d(2025, 4, 26)),
            "Saturday 26 April 2025 was worked"
        );
        assert!(
            !cal.is_working_day(d(2025, 5, 2)),
            "Friday 2 May 2025 was off in exchange"
        );
        // Friday 25 April + 1 working day is Saturday 26 April.
        assert_eq!(
            cal.add_working_days(d(2025, 4, 25), 1),
            Some(d(2025, 4, 26))
        );
        // 26 Apr (make-up Saturday), 28 and 29 Apr, then 30 Apr–2 May off, 5 May.
        assert_eq!(cal.working_days_between(d(2025, 4, 25), d(2025, 5, 5)), 4);
    }

    #[test]
    fn zero_days_and_empty_calendars() {
        let cal = Calendar::new((0..4000).map(|i| CalendarDay {
            date: d(2030, 1, 1) + Days::new(i),
            kind: DayKind::DayOff,
            name: String::new(),
        }));
        assert_eq!(
            cal.add_working_days(d(2029, 12, 31), 0),
            Some(d(2029, 12, 31))
        );
        assert_eq!(
            cal.add_working_days(d(2029, 12, 31), 1),
            None,
            "no working day in reach"
        );
    }

    #[test]
    fn shipped_data_parses() {
        let days = parse_csv(SHIPPED_CSV).unwrap();
        assert!(
            days.iter()
                .any(|x| x.date == d(2026, 2, 17) && x.kind == DayKind::DayOff)
        );
        assert!(parse_csv("date,kind,name\n2025-13-01,day_off,x").is_err());
        assert!(parse_csv("date,kind,name\n2025-01-01,holiday,x").is_err());
    }
}
