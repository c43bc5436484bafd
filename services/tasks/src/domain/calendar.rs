//! The national working-day calendar as the tasks service ships it: the
//! calendar type lives in [`p06_kit::calendar`]; this module parses the
//! shipped data (`data/holidays_2024_2027.csv`).

use chrono::NaiveDate;
pub use p06_kit::calendar::{Calendar, CalendarDay, DayKind};

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
    use chrono::Days;

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
