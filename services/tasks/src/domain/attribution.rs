//! One rule for whom an assignment counts for on a day: every assignment
//! that exists on the day (and has not moved to a successor by then) counts
//! exactly once, open or closed, under the unit that holds its
//! responsibilities on that day — the unit holding the row when that unit
//! is still in force, else the unit localities' lineage leads to from it
//! (Hà Nam's completed assignment of 2024 counts for Ninh Bình from
//! 2025-07-01; the Ministry of Planning and Investment's for the Ministry
//! of Finance from 2025-03-01). So a successor's board includes what its
//! predecessors did, and the boards add up to the programme's summary
//! whenever every holder leads to a unit on one of them. A unit whose
//! lineage ends without a successor holds its own rows, counted in the
//! summary and on no board.

use super::summary::Counts;
use std::collections::HashMap;

/// Counts per holding unit, gathered under the unit each leads to
/// (`leads_to`: holder → unit in force on the day; a holder missing there
/// keeps its own counts).
pub fn attribute(
    by_holder: impl IntoIterator<Item = (String, Counts)>,
    leads_to: &HashMap<String, String>,
) -> HashMap<String, Counts> {
    let mut out: HashMap<String, Counts> = HashMap::new();
    for (holder, counts) in by_holder {
        let unit = leads_to.get(&holder).cloned().unwrap_or(holder);
        out.entry(unit).or_default().absorb(&counts);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(total: u32, late: u32) -> Counts {
        Counts {
            total,
            completed_late: late,
            overdue: total - late,
            ..Counts::default()
        }
    }

    #[test]
    fn predecessors_count_for_their_successor_and_nothing_twice() {
        let leads_to: HashMap<String, String> = [
            ("p35", "p37-2025"),
            ("p36", "p37-2025"),
            ("p37", "p37-2025"),
            ("p01", "p01"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let by_holder = [
            ("p35".to_string(), counts(1, 1)),
            ("p36".to_string(), counts(2, 0)),
            ("p37-2025".to_string(), counts(3, 0)),
            ("p01".to_string(), counts(4, 2)),
            ("p99".to_string(), counts(5, 0)),
        ];
        let all: u32 = by_holder.iter().map(|(_, c)| c.total).sum();
        let out = attribute(by_holder, &leads_to);
        assert_eq!(out["p37-2025"], {
            let mut c = counts(6, 1);
            c.overdue = 5;
            c
        });
        assert_eq!(out["p01"], counts(4, 2));
        assert_eq!(out["p99"], counts(5, 0), "no lineage: keeps its own");
        assert_eq!(out.values().map(|c| c.total).sum::<u32>(), all);
    }
}
