//! The reference data shipped in `data/` (see `data/SOURCES.md`), turned
//! into units and lineage: provinces before and after 2025-07-01,
//! districts, communes, ministries, and the Project 06 working groups.

mod admin;
mod central;

use crate::domain::{Lineage, NewUnit};
use chrono::NaiveDate;

/// Bumped whenever the shipped data or its reading changes; stored in the
/// database so the load runs once per version.
pub const VERSION: &str = "2025-07-01.1";

/// Id of the Government's Working Group for Project 06.
pub const WORKING_GROUP_ID: &str = "wg06";

/// The reference data set.
#[derive(Debug, Default)]
pub struct ReferenceData {
    /// Units, parents before children.
    pub units: Vec<NewUnit>,
    /// Lineage links.
    pub lineage: Vec<Lineage>,
}

/// Why the shipped data could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reference data {file}: {message}")]
pub struct RefDataError {
    file: &'static str,
    message: String,
}

fn err(file: &'static str, message: impl Into<String>) -> RefDataError {
    RefDataError {
        file,
        message: message.into(),
    }
}

fn rows(file: &'static str, text: &str) -> Result<Vec<csv::StringRecord>, RefDataError> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(file, e.to_string()))
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// Last day of the 63 provinces, the districts and the old communes.
pub fn admin_reform_end() -> NaiveDate {
    date(2025, 6, 30)
}

/// First day of the 34 provinces and the new communes.
pub fn admin_reform_start() -> NaiveDate {
    date(2025, 7, 1)
}

/// Reads every shipped file.
pub fn load() -> Result<ReferenceData, RefDataError> {
    let mut data = ReferenceData::default();
    central::load(&mut data)?;
    admin::load(&mut data)?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{UnitKind, UnitLevel};
    use std::collections::HashSet;

    #[test]
    fn shipped_data_reads_whole_and_consistent() {
        let data = load().unwrap();
        let count = |k: UnitKind| data.units.iter().filter(|u| u.kind == k).count();
        assert_eq!(count(UnitKind::District), 696);
        assert_eq!(count(UnitKind::Commune), 10_035 + 3_321);
        assert_eq!(
            count(UnitKind::Province) + count(UnitKind::CentrallyRunCity),
            63 + 34 - 11
        );
        let ids: HashSet<_> = data.units.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids.len(), data.units.len(), "ids are unique");
        // Parents and supervisors come before the units that name them.
        let mut seen = HashSet::new();
        for u in &data.units {
            for r in [&u.parent_id, &u.supervisor_id].into_iter().flatten() {
                assert!(
                    seen.contains(r.as_str()),
                    "{} refers to {} before it",
                    u.id,
                    r
                );
            }
            seen.insert(u.id.as_str());
            u.validate().unwrap();
        }
        for l in &data.lineage {
            assert!(
                ids.contains(l.predecessor.as_str()) && ids.contains(l.successor.as_str()),
                "{l:?}"
            );
        }
        let wg = data
            .units
            .iter()
            .find(|u| u.id == WORKING_GROUP_ID)
            .unwrap();
        assert_eq!(
            (wg.kind, wg.level),
            (UnitKind::SteeringBody, UnitLevel::Central)
        );
    }
}
