//! Administrative units: the 63 → 34 provincial units with their lineage,
//! one Project 06 working group per provincial unit, the former districts,
//! and the former and current communes with their lineage.

use super::{
    RefDataError, ReferenceData, WORKING_GROUP_ID, admin_reform_end, admin_reform_start, err, rows,
};
use crate::domain::{Lineage, NewUnit, UnitKind, UnitLevel, unit::derive_id};
use chrono::NaiveDate;
use std::collections::{HashMap, HashSet};

const PROVINCES_63: &str = include_str!("../../data/provinces_63_pre-2025-07-01.csv");
const PROVINCES_34: &str = include_str!("../../data/provinces_34_2025-07-01.csv");
const PROVINCE_MERGE: &str = include_str!("../../data/province_merge_63_to_34.csv");
const DISTRICTS: &str = include_str!("../../data/districts_pre-2025-07-01.csv");
const COMMUNES_OLD: &str = include_str!("../../data/communes_pre-2025-07-01.csv");
const COMMUNES_NEW: &str = include_str!("../../data/communes_2025-07-01.csv");
const COMMUNE_MERGE: &str = include_str!("../../data/commune_merge_2025.csv");

fn field(r: &csv::StringRecord, i: usize) -> String {
    r.get(i).unwrap_or("").trim().to_string()
}

/// Kind, designation and bare name of a provincial unit's official name.
fn provincial(name: &str) -> (UnitKind, &'static str, &str) {
    match name.strip_prefix("Thành phố ") {
        Some(bare) => (UnitKind::CentrallyRunCity, "Thành phố", bare),
        None => (
            UnitKind::Province,
            "Tỉnh",
            name.strip_prefix("Tỉnh ").unwrap_or(name),
        ),
    }
}

struct Province {
    id: String,
    code: String,
    name: String,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
}

pub(super) fn load(data: &mut ReferenceData) -> Result<(), RefDataError> {
    let (old_ids, new_ids) = provinces(data)?;
    districts_and_communes(data, &old_ids, &new_ids)
}

/// Unit ids by code.
type IdsByCode = HashMap<String, String>;

/// Loads provincial units and their working groups; returns the ids of the
/// old (pre-2025-07-01) and new units by code.
fn provinces(data: &mut ReferenceData) -> Result<(IdsByCode, IdsByCode), RefDataError> {
    let merge = rows("province_merge_63_to_34.csv", PROVINCE_MERGE)?;
    let mut groups: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for r in &merge {
        groups
            .entry(field(r, 0))
            .or_default()
            .push((field(r, 2), field(r, 3)));
    }
    let new_rows = rows("provinces_34_2025-07-01.csv", PROVINCES_34)?;
    // A new unit formed from one old unit of the same code and name continues it.
    let continuing: HashSet<String> = new_rows
        .iter()
        .filter(|r| {
            groups
                .get(&field(r, 0))
                .is_some_and(|g| g.len() == 1 && g[0] == (field(r, 0), field(r, 1)))
        })
        .map(|r| field(r, 0))
        .collect();
    let (end, start) = (Some(admin_reform_end()), Some(admin_reform_start()));
    let mut units = Vec::new();
    let mut old_ids = HashMap::new();
    for r in rows("provinces_63_pre-2025-07-01.csv", PROVINCES_63)? {
        let (code, name) = (field(&r, 0), field(&r, 1));
        let until = if continuing.contains(&code) {
            None
        } else {
            end
        };
        let id = derive_id(UnitKind::Province, &code, None);
        old_ids.insert(code.clone(), id.clone());
        units.push(Province {
            id,
            code,
            name,
            valid_from: None,
            valid_until: until,
        });
    }
    let mut new_ids = HashMap::new();
    for r in new_rows {
        let (code, name) = (field(&r, 0), field(&r, 1));
        if continuing.contains(&code) {
            new_ids.insert(code.clone(), derive_id(UnitKind::Province, &code, None));
            continue;
        }
        let id = derive_id(UnitKind::Province, &code, start);
        new_ids.insert(code.clone(), id.clone());
        units.push(Province {
            id,
            code,
            name,
            valid_from: start,
            valid_until: None,
        });
    }
    let wg_id = |p: &Province| {
        derive_id(
            UnitKind::SteeringBody,
            &format!("06-{}", p.code),
            p.valid_from,
        )
    };
    for p in &units {
        let (kind, category, bare) = provincial(&p.name);
        let english = if kind == UnitKind::Province {
            format!("{bare} Province")
        } else {
            format!("{bare} City")
        };
        data.units.push(NewUnit {
            id: p.id.clone(),
            code: p.code.clone(),
            kind,
            level: UnitLevel::Provincial,
            name_vi: p.name.clone(),
            name_en: english,
            category: category.into(),
            parent_id: None,
            supervisor_id: Some(WORKING_GROUP_ID.into()),
            valid_from: p.valid_from,
            valid_until: p.valid_until,
        });
        data.units.push(NewUnit {
            id: wg_id(p),
            code: format!("06-{}", p.code),
            kind: UnitKind::SteeringBody,
            level: UnitLevel::Provincial,
            name_vi: format!("Tổ công tác triển khai Đề án 06 {}", p.name),
            name_en: format!("Project 06 Working Group of {bare}"),
            category: "Tổ công tác".into(),
            parent_id: Some(p.id.clone()),
            supervisor_id: Some(WORKING_GROUP_ID.into()),
            valid_from: p.valid_from,
            valid_until: p.valid_until,
        });
    }
    let file = "province_merge_63_to_34.csv";
    for r in &merge {
        let (new_code, old_code) = (field(r, 0), field(r, 2));
        if continuing.contains(&new_code) {
            continue;
        }
        let old = units
            .iter()
            .find(|p| p.valid_from.is_none() && p.code == old_code);
        let new = units
            .iter()
            .find(|p| p.valid_from.is_some() && p.code == new_code);
        let (Some(old), Some(new)) = (old, new) else {
            return Err(err(
                file,
                format!("{old_code} → {new_code} names an unknown unit"),
            ));
        };
        for (predecessor, successor) in [(old.id.clone(), new.id.clone()), (wg_id(old), wg_id(new))]
        {
            data.lineage.push(Lineage {
                predecessor,
                successor,
                effective: admin_reform_start(),
                primary: true,
            });
        }
    }
    Ok((old_ids, new_ids))
}

fn province_id<'a>(
    ids: &'a IdsByCode,
    code: &str,
    file: &'static str,
) -> Result<&'a String, RefDataError> {
    ids.get(code)
        .ok_or_else(|| err(file, format!("unknown province {code}")))
}

fn districts_and_communes(
    data: &mut ReferenceData,
    old_provinces: &HashMap<String, String>,
    new_provinces: &HashMap<String, String>,
) -> Result<(), RefDataError> {
    let (end, start) = (Some(admin_reform_end()), Some(admin_reform_start()));
    // Where each old province's responsibilities went.
    let province_successor: HashMap<&str, &str> = data
        .lineage
        .iter()
        .map(|l| (l.predecessor.as_str(), l.successor.as_str()))
        .collect();
    let mut district_lineage = Vec::new();
    for r in rows("districts_pre-2025-07-01.csv", DISTRICTS)? {
        let (province, code, name, category) =
            (field(&r, 0), field(&r, 1), field(&r, 2), field(&r, 3));
        let parent = province_id(old_provinces, &province, "districts_pre-2025-07-01.csv")?;
        let id = derive_id(UnitKind::District, &code, None);
        let successor = province_successor
            .get(parent.as_str())
            .copied()
            .unwrap_or(parent);
        district_lineage.push(Lineage {
            predecessor: id.clone(),
            successor: successor.to_string(),
            effective: admin_reform_start(),
            primary: true,
        });
        data.units.push(admin_unit(
            id,
            code,
            UnitKind::District,
            name,
            category,
            parent.clone(),
            None,
            end,
        ));
    }
    data.lineage.extend(district_lineage);
    for r in rows("communes_pre-2025-07-01.csv", COMMUNES_OLD)? {
        let (district, code, name, category) =
            (field(&r, 1), field(&r, 2), field(&r, 3), field(&r, 4));
        let parent = derive_id(UnitKind::District, &district, None);
        let id = derive_id(UnitKind::Commune, &code, None);
        data.units.push(admin_unit(
            id,
            code,
            UnitKind::Commune,
            name,
            category,
            parent,
            None,
            end,
        ));
    }
    for r in rows("communes_2025-07-01.csv", COMMUNES_NEW)? {
        let (province, code, name, category) =
            (field(&r, 0), field(&r, 1), field(&r, 2), field(&r, 3));
        let parent = province_id(new_provinces, &province, "communes_2025-07-01.csv")?;
        let id = derive_id(UnitKind::Commune, &code, start);
        data.units.push(admin_unit(
            id,
            code,
            UnitKind::Commune,
            name,
            category,
            parent.clone(),
            start,
            None,
        ));
    }
    for r in rows("commune_merge_2025.csv", COMMUNE_MERGE)? {
        let (old, new, relation) = (field(&r, 0), field(&r, 1), field(&r, 2));
        data.lineage.push(Lineage {
            predecessor: derive_id(UnitKind::Commune, &old, None),
            successor: derive_id(UnitKind::Commune, &new, start),
            effective: admin_reform_start(),
            primary: relation != "split-part",
        });
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn admin_unit(
    id: String,
    code: String,
    kind: UnitKind,
    name: String,
    category: String,
    parent: String,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
) -> NewUnit {
    NewUnit {
        id,
        code,
        kind,
        level: kind.natural_level().unwrap_or(UnitLevel::Communal),
        name_vi: name,
        name_en: String::new(),
        category,
        supervisor_id: Some(parent.clone()),
        parent_id: Some(parent),
        valid_from,
        valid_until,
    }
}
