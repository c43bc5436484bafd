//! KPI indicators with targets, per-unit recorded values, and progress
//! toward the target.

use chrono::{DateTime, NaiveDate, Utc};

/// An indicator.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Unit of measure.
    pub measure: String,
    /// Target value.
    pub target: f64,
    /// Date the target is due.
    pub target_date: NaiveDate,
    /// Smaller is better.
    pub lower_is_better: bool,
    /// Directive id, if any.
    pub directive_id: Option<String>,
    /// Group name, if any.
    pub group: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// One recorded value.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// Indicator id.
    pub indicator_id: String,
    /// Unit id.
    pub unit_id: String,
    /// The value.
    pub value: f64,
    /// The date it describes.
    pub as_of: NaiveDate,
    /// Note.
    pub note: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

impl Indicator {
    /// Share of the target a value reaches (0–1) and whether it meets it.
    pub fn progress(&self, value: f64) -> (f64, bool) {
        if self.lower_is_better {
            let met = value <= self.target;
            let share = if value <= 0.0 {
                1.0
            } else {
                (self.target / value).clamp(0.0, 1.0)
            };
            (share, met)
        } else {
            let met = value >= self.target;
            let share = if self.target <= 0.0 {
                1.0
            } else {
                (value / self.target).clamp(0.0, 1.0)
            };
            (share, met)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_toward_targets() {
        let mut k = Indicator {
            id: "online-services".into(),
            name: "Tỷ lệ dịch vụ công trực tuyến toàn trình".into(),
            measure: "%".into(),
            target: 80.0,
            target_date: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
            lower_is_better: false,
            directive_id: None,
            group: None,
            created_at: Utc::now(),
        };
        assert_eq!(k.progress(60.0), (0.75, false));
        assert_eq!(k.progress(85.0), (1.0, true));
        k.lower_is_better = true;
        k.target = 5.0;
        assert_eq!(k.progress(10.0), (0.5, false));
        assert_eq!(k.progress(4.0), (1.0, true));
    }
}
