//! Ranking units by their record on assigned tasks, as the monthly reviews
//! do ("ranked 31/63").
//!
//! The formula (also in the README and in every Scoreboard response):
//!
//! - counted = assignments of the unit that existed on the as-of date, less
//!   cancelled ones;
//! - score = 100 × (completed on time + regularly implemented + ½ × completed
//!   late) ÷ counted, rounded to two decimals; a unit with nothing counted
//!   scores 0;
//! - order: score (high first), then fewer overdue, then more completed on
//!   time, then unit id; units equal on score, overdue and on-time share a
//!   rank (standard competition ranking: 1, 2, 2, 4);
//! - every unit of the scope in force on the as-of date is ranked, so the
//!   denominator is the number of such units (63 provinces before
//!   2025-07-01, 34 after).

use super::summary::Counts;

/// The formula, stated for API consumers.
pub const FORMULA: &str = "score = 100 × (completed_on_time + regular + 0.5 × completed_late) ÷ (total − cancelled), \
0 when nothing is counted; ranked by score desc, then overdue asc, then completed_on_time desc; ties share a rank; \
every unit in force on the as-of date is ranked";

/// One unit's line.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Unit id.
    pub unit: String,
    /// Counts as of the date.
    pub counts: Counts,
    /// Score, 0–100.
    pub score: f64,
    /// 1-based rank.
    pub rank: u32,
}

/// The score of one unit's counts.
pub fn score(c: &Counts) -> f64 {
    let counted = c.total.saturating_sub(c.cancelled);
    if counted == 0 {
        return 0.0;
    }
    let raw = 100.0
        * (f64::from(c.completed_on_time + c.regular) + 0.5 * f64::from(c.completed_late))
        / f64::from(counted);
    (raw * 100.0).round() / 100.0
}

/// Ranks units (each with its counts).
pub fn rank(units: Vec<(String, Counts)>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = units
        .into_iter()
        .map(|(unit, counts)| Entry {
            score: score(&counts),
            unit,
            counts,
            rank: 0,
        })
        .collect();
    let key = |e: &Entry| {
        (
            std::cmp::Reverse((e.score * 100.0).round() as i64),
            e.counts.overdue,
            std::cmp::Reverse(e.counts.completed_on_time),
        )
    };
    entries.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.unit.cmp(&b.unit)));
    for i in 0..entries.len() {
        entries[i].rank = if i > 0 && key(&entries[i]) == key(&entries[i - 1]) {
            entries[i - 1].rank
        } else {
            i as u32 + 1
        };
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(on_time: u32, late: u32, overdue: u32, regular: u32, cancelled: u32) -> Counts {
        Counts {
            total: on_time + late + overdue + regular + cancelled,
            completed_on_time: on_time,
            completed_late: late,
            overdue,
            regular,
            cancelled,
            ..Default::default()
        }
    }

    #[test]
    fn ranks_follow_the_documented_formula() {
        let board = rank(vec![
            ("p01".into(), counts(3, 1, 0, 0, 0)), // 87.5
            ("p79".into(), counts(4, 0, 0, 0, 1)), // 100
            ("p31".into(), counts(2, 0, 2, 0, 0)), // 50, 2 overdue
            ("p48".into(), counts(1, 0, 1, 1, 0)), // 66.67
            ("p92".into(), counts(1, 0, 1, 0, 0)), // 50, 1 overdue
            ("p22".into(), counts(0, 0, 0, 0, 0)), // nothing counted
            ("p40".into(), counts(1, 0, 1, 0, 0)), // 50, 1 overdue: ties p92
        ]);
        let got: Vec<(&str, u32, f64)> = board
            .iter()
            .map(|e| (e.unit.as_str(), e.rank, e.score))
            .collect();
        assert_eq!(
            got,
            vec![
                ("p79", 1, 100.0),
                ("p01", 2, 87.5),
                ("p48", 3, 66.67),
                ("p40", 4, 50.0),
                ("p92", 4, 50.0),
                ("p31", 6, 50.0),
                ("p22", 7, 0.0),
            ]
        );
    }
}
