//! Central bodies: the Government's Working Group for Project 06 and the
//! ministries and ministerial-level agencies before and after the
//! restructuring of 2025-03-01.

use super::{RefDataError, ReferenceData, WORKING_GROUP_ID, err, rows};
use crate::domain::{Lineage, NewUnit, UnitKind, UnitLevel, unit::derive_id};
use chrono::{Days, NaiveDate};

const MINISTRIES: &str = include_str!("../../data/ministries.csv");

pub(super) fn load(data: &mut ReferenceData) -> Result<(), RefDataError> {
    data.units.push(NewUnit {
        id: WORKING_GROUP_ID.into(),
        code: "06".into(),
        kind: UnitKind::SteeringBody,
        level: UnitLevel::Central,
        name_vi: "Tổ công tác triển khai Đề án 06 của Chính phủ".into(),
        name_en: "Government's Working Group for Project 06".into(),
        category: "Tổ công tác".into(),
        parent_id: None,
        supervisor_id: None,
        valid_from: None,
        valid_until: None,
    });
    let file = "ministries.csv";
    let parse_date = |s: &str| -> Result<Option<NaiveDate>, RefDataError> {
        if s.is_empty() {
            return Ok(None);
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|e| err(file, format!("{s}: {e}")))
    };
    let mut successors = Vec::new();
    for r in rows(file, MINISTRIES)? {
        let [key, name_vi, name_en, kind, from, until, successor] =
            std::array::from_fn(|i| r.get(i).unwrap_or("").trim().to_string());
        let kind = match kind.as_str() {
            "ministry" => UnitKind::Ministry,
            "ministerial-level agency" => UnitKind::MinisterialAgency,
            other => return Err(err(file, format!("unknown kind {other:?}"))),
        };
        let valid_from = parse_date(&from)?;
        let valid_until = parse_date(&until)?;
        let id = derive_id(kind, &key, valid_from);
        if !successor.is_empty() {
            let effective = valid_until
                .and_then(|u| u.checked_add_days(Days::new(1)))
                .ok_or_else(|| err(file, format!("{key} has a successor but no end date")))?;
            successors.push((id.clone(), successor, effective));
        }
        data.units.push(NewUnit {
            id,
            code: key,
            kind,
            level: UnitLevel::Central,
            name_vi,
            name_en,
            category: if kind == UnitKind::Ministry {
                "Bộ".into()
            } else {
                "Cơ quan ngang bộ".into()
            },
            parent_id: None,
            supervisor_id: Some(WORKING_GROUP_ID.into()),
            valid_from,
            valid_until,
        });
    }
    for (predecessor, successor_key, effective) in successors {
        let successor = data
            .units
            .iter()
            .find(|u| {
                u.code == successor_key
                    && u.level == UnitLevel::Central
                    && u.kind != UnitKind::SteeringBody
            })
            .map(|u| u.id.clone())
            .ok_or_else(|| err(file, format!("unknown successor {successor_key:?}")))?;
        data.lineage.push(Lineage {
            predecessor,
            successor,
            effective,
            primary: true,
        });
    }
    Ok(())
}
