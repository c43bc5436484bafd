//! Units: what they are, how they are named and identified, and when they
//! are in force.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// What kind of body a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitKind {
    /// Bộ.
    Ministry,
    /// Cơ quan ngang bộ.
    MinisterialAgency,
    /// Cơ quan thuộc Chính phủ.
    GovernmentAgency,
    /// Tỉnh.
    Province,
    /// Thành phố trực thuộc trung ương.
    CentrallyRunCity,
    /// District level.
    District,
    /// Commune level.
    Commune,
    /// A steering body (working group).
    SteeringBody,
}

/// The tier of government.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitLevel {
    /// Central government.
    Central,
    /// Provinces and centrally-run cities.
    Provincial,
    /// Districts (until 2025-06-30).
    District,
    /// Communes, wards, special zones.
    Communal,
}

p06_kit::str_enum!(UnitKind, prefixes = ["UNIT_KIND_"], {
    Ministry = "MINISTRY",
    MinisterialAgency = "MINISTERIAL_AGENCY",
    GovernmentAgency = "GOVERNMENT_AGENCY",
    Province = "PROVINCE",
    CentrallyRunCity = "CENTRALLY_RUN_CITY",
    District = "DISTRICT",
    Commune = "COMMUNE",
    SteeringBody = "STEERING_BODY",
});

p06_kit::str_enum!(UnitLevel, prefixes = ["UNIT_LEVEL_"], {
    Central = "CENTRAL",
    Provincial = "PROVINCIAL",
    District = "DISTRICT",
    Communal = "COMMUNAL",
});

impl UnitKind {
    /// The prefix of ids derived for this kind.
    pub fn id_prefix(self) -> &'static str {
        match self {
            UnitKind::Ministry | UnitKind::MinisterialAgency => "m-",
            UnitKind::GovernmentAgency => "g-",
            UnitKind::Province | UnitKind::CentrallyRunCity => "p",
            UnitKind::District => "d",
            UnitKind::Commune => "c",
            UnitKind::SteeringBody => "wg",
        }
    }

    /// The level a unit of this kind belongs to, where it is fixed.
    pub fn natural_level(self) -> Option<UnitLevel> {
        match self {
            UnitKind::Ministry | UnitKind::MinisterialAgency | UnitKind::GovernmentAgency => {
                Some(UnitLevel::Central)
            }
            UnitKind::Province | UnitKind::CentrallyRunCity => Some(UnitLevel::Provincial),
            UnitKind::District => Some(UnitLevel::District),
            UnitKind::Commune => Some(UnitLevel::Communal),
            UnitKind::SteeringBody => None,
        }
    }
}

/// The id the registry gives a unit that has none: the kind's prefix and
/// the code, plus the year it came into force when that is on record
/// (`p15` for Yên Bái, `p15-2025` for Lào Cai, which took code 15 on
/// 2025-07-01).
pub fn derive_id(kind: UnitKind, code: &str, valid_from: Option<NaiveDate>) -> String {
    let code = code
        .trim()
        .to_ascii_lowercase()
        .replace([' ', '_', '/'], "-");
    match valid_from {
        Some(d) => format!("{}{}-{}", kind.id_prefix(), code, d.year()),
        None => format!("{}{}", kind.id_prefix(), code),
    }
}

pub use p06_kit::text::is_resource_id as valid_id;

/// A unit as stored, with its lineage.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// The id ("p15-2025"); the resource name is "units/{id}".
    pub id: String,
    /// Code, reused over time.
    pub code: String,
    /// Kind.
    pub kind: UnitKind,
    /// Level.
    pub level: UnitLevel,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Designation ("Tỉnh", "Phường").
    pub category: String,
    /// Parent unit id.
    pub parent_id: Option<String>,
    /// Supervising unit id (escalation).
    pub supervisor_id: Option<String>,
    /// First day in force.
    pub valid_from: Option<NaiveDate>,
    /// Last day in force, inclusive.
    pub valid_until: Option<NaiveDate>,
    /// Units that handed their responsibilities to this one.
    pub predecessors: Vec<String>,
    /// Units that took this one's responsibilities.
    pub successors: Vec<String>,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Unit {
    /// Whether the unit is in force on `date`.
    pub fn active_on(&self, date: NaiveDate) -> bool {
        self.valid_from.is_none_or(|f| f <= date) && self.valid_until.is_none_or(|u| date <= u)
    }

    /// The etag clients send back on update.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

/// A unit to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUnit {
    /// The id.
    pub id: String,
    /// Code.
    pub code: String,
    /// Kind.
    pub kind: UnitKind,
    /// Level.
    pub level: UnitLevel,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Designation.
    pub category: String,
    /// Parent id.
    pub parent_id: Option<String>,
    /// Supervisor id.
    pub supervisor_id: Option<String>,
    /// First day in force.
    pub valid_from: Option<NaiveDate>,
    /// Last day in force.
    pub valid_until: Option<NaiveDate>,
}

impl NewUnit {
    /// Checks the fields that do not need the database, naming the first bad
    /// one (paths as in the API: `unit.code`, …).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !valid_id(&self.id) {
            return Err((
                "unit_id",
                format!(
                    "{:?} must be 1-63 lowercase letters, digits or hyphens, starting with a letter",
                    self.id
                ),
            ));
        }
        if self.code.trim().is_empty() {
            return Err(("unit.code", "must not be empty".into()));
        }
        if self.code.len() > 64 {
            return Err(("unit.code", "must be at most 64 characters".into()));
        }
        if self.name_vi.trim().is_empty() {
            return Err(("unit.display_name", "must not be empty".into()));
        }
        if self.name_vi.len() > 300 || self.name_en.len() > 300 {
            return Err(("unit.display_name", "must be at most 300 characters".into()));
        }
        if let Some(level) = self.kind.natural_level()
            && level != self.level
        {
            return Err((
                "unit.level",
                format!("a {} unit is at level {}", self.kind, level),
            ));
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until < from
        {
            return Err((
                "unit.valid_until",
                format!("{until} is before valid_from {from}"),
            ));
        }
        Ok(())
    }
}

/// A lineage link: `predecessor`'s responsibilities pass to `successor`
/// from `effective`; `primary` marks the successor that takes over the
/// whole (a split also has secondary successors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// The ended unit.
    pub predecessor: String,
    /// The unit taking over.
    pub successor: String,
    /// First day of the successor's responsibility.
    pub effective: NaiveDate,
    /// Whether this successor takes over the predecessor's responsibilities.
    pub primary: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_in_all_spellings() {
        assert_eq!("province".parse::<UnitKind>(), Ok(UnitKind::Province));
        assert_eq!(
            "UNIT_KIND_CENTRALLY_RUN_CITY".parse::<UnitKind>(),
            Ok(UnitKind::CentrallyRunCity)
        );
        assert_eq!(
            "centrally-run-city".parse::<UnitKind>(),
            Ok(UnitKind::CentrallyRunCity)
        );
        assert!(
            "village"
                .parse::<UnitKind>()
                .unwrap_err()
                .contains("expected one of")
        );
        assert_eq!(
            "UNIT_LEVEL_COMMUNAL".parse::<UnitLevel>(),
            Ok(UnitLevel::Communal)
        );
    }

    #[test]
    fn derived_ids_tell_reused_codes_apart() {
        let d = NaiveDate::from_ymd_opt(2025, 7, 1);
        assert_eq!(derive_id(UnitKind::Province, "15", None), "p15");
        assert_eq!(derive_id(UnitKind::Province, "15", d), "p15-2025");
        assert_eq!(derive_id(UnitKind::Ministry, "finance", None), "m-finance");
        assert!(valid_id("p15-2025") && !valid_id("P15") && !valid_id("") && !valid_id("1x"));
    }
}
