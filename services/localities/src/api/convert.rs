//! Conversions between the protobuf messages and the domain types, and the
//! parsing of resource names.

use crate::{
    domain::{Contacts, NewUnit, Unit, UnitKind, UnitLevel, unit::derive_id},
    error::{LocalitiesError, Result},
};
use chrono::{DateTime, Utc};
use p06_kit::dates;
use p06_proto::localities::v1 as pb;

/// The id in "units/{id}".
pub fn unit_id<'a>(field: &str, name: &'a str) -> Result<&'a str> {
    match name.strip_prefix("units/") {
        Some(id) if !id.is_empty() && !id.contains('/') => Ok(id),
        _ => Err(LocalitiesError::invalid(
            field,
            format!("must be a unit name like units/p01, got {name:?}"),
        )),
    }
}

/// An optional unit reference: empty is none.
pub fn opt_unit_id(field: &str, name: &str) -> Result<Option<String>> {
    if name.is_empty() {
        Ok(None)
    } else {
        unit_id(field, name).map(|id| Some(id.to_string()))
    }
}

/// "units/{id}".
pub fn unit_name(id: &str) -> String {
    format!("units/{id}")
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Domain kind → proto enum.
pub fn kind_to_pb(k: UnitKind) -> pb::UnitKind {
    match k {
        UnitKind::Ministry => pb::UnitKind::Ministry,
        UnitKind::MinisterialAgency => pb::UnitKind::MinisterialAgency,
        UnitKind::GovernmentAgency => pb::UnitKind::GovernmentAgency,
        UnitKind::Province => pb::UnitKind::Province,
        UnitKind::CentrallyRunCity => pb::UnitKind::CentrallyRunCity,
        UnitKind::District => pb::UnitKind::District,
        UnitKind::Commune => pb::UnitKind::Commune,
        UnitKind::SteeringBody => pb::UnitKind::SteeringBody,
    }
}

/// Domain level → proto enum.
pub fn level_to_pb(l: UnitLevel) -> pb::UnitLevel {
    match l {
        UnitLevel::Central => pb::UnitLevel::Central,
        UnitLevel::Provincial => pb::UnitLevel::Provincial,
        UnitLevel::District => pb::UnitLevel::District,
        UnitLevel::Communal => pb::UnitLevel::Communal,
    }
}

/// Proto kind number → domain kind (unspecified or unknown is an error).
pub fn kind_from_pb(field: &str, value: i32) -> Result<UnitKind> {
    let name = pb::UnitKind::try_from(value)
        .map(|k| k.as_str_name())
        .unwrap_or("");
    name.parse().map_err(|_| {
        LocalitiesError::invalid(
            field,
            format!("must be a unit kind such as UNIT_KIND_PROVINCE, got {value}"),
        )
    })
}

/// Proto level number → domain level; unspecified gives `None`.
pub fn level_from_pb(field: &str, value: i32) -> Result<Option<UnitLevel>> {
    if value == 0 {
        return Ok(None);
    }
    let name = pb::UnitLevel::try_from(value)
        .map(|k| k.as_str_name())
        .unwrap_or("");
    name.parse().map(Some).map_err(|_| {
        LocalitiesError::invalid(
            field,
            format!("must be a unit level such as UNIT_LEVEL_PROVINCIAL, got {value}"),
        )
    })
}

/// Domain unit → proto.
pub fn unit_to_pb(u: Unit) -> pb::Unit {
    pb::Unit {
        name: unit_name(&u.id),
        etag: u.etag(),
        code: u.code,
        kind: kind_to_pb(u.kind) as i32,
        level: level_to_pb(u.level) as i32,
        display_name: u.name_vi,
        english_name: u.name_en,
        category: u.category,
        parent: u.parent_id.as_deref().map(unit_name).unwrap_or_default(),
        supervisor: u
            .supervisor_id
            .as_deref()
            .map(unit_name)
            .unwrap_or_default(),
        valid_from: dates::format_opt(u.valid_from),
        valid_until: dates::format_opt(u.valid_until),
        predecessors: u.predecessors.iter().map(|p| unit_name(p)).collect(),
        successors: u.successors.iter().map(|p| unit_name(p)).collect(),
        create_time: Some(timestamp(u.created_at)),
        update_time: Some(timestamp(u.updated_at)),
    }
}

/// Where a unit to create sits in its request, for error field paths.
pub struct UnitFields<'a> {
    /// The unit's field ("unit", "new_successor").
    pub prefix: &'a str,
    /// The id's field ("unit_id", "new_successor_id").
    pub id_field: &'a str,
}

/// A proto unit to create → domain, with its id given or derived (after
/// `default_from` fills an empty `valid_from`).
pub fn new_unit(
    at: UnitFields<'_>,
    u: &pb::Unit,
    id: &str,
    default_from: Option<chrono::NaiveDate>,
) -> Result<NewUnit> {
    let prefix = at.prefix;
    let f = |name: &str| format!("{prefix}.{name}");
    let kind = kind_from_pb(&f("kind"), u.kind)?;
    let level = match level_from_pb(&f("level"), u.level)? {
        Some(l) => l,
        None => kind.natural_level().ok_or_else(|| {
            LocalitiesError::invalid(f("level"), format!("is required for kind {kind}"))
        })?,
    };
    let valid_from = dates::parse_opt(&f("valid_from"), &u.valid_from)
        .map_err(status_field)?
        .or(default_from);
    let valid_until = dates::parse_opt(&f("valid_until"), &u.valid_until).map_err(status_field)?;
    if u.code.trim().is_empty() {
        return Err(LocalitiesError::invalid(f("code"), "must not be empty"));
    }
    let id = if id.is_empty() {
        derive_id(kind, &u.code, valid_from)
    } else {
        id.to_string()
    };
    let unit = NewUnit {
        id,
        code: u.code.trim().to_string(),
        kind,
        level,
        name_vi: u.display_name.trim().to_string(),
        name_en: u.english_name.trim().to_string(),
        category: u.category.trim().to_string(),
        parent_id: opt_unit_id(&f("parent"), &u.parent)?,
        supervisor_id: opt_unit_id(&f("supervisor"), &u.supervisor)?,
        valid_from,
        valid_until,
    };
    unit.validate().map_err(|(field, message)| {
        let field = if field == "unit_id" {
            at.id_field.to_string()
        } else {
            field.replacen("unit", prefix, 1)
        };
        LocalitiesError::invalid(field, message)
    })?;
    Ok(unit)
}

/// Turns a kit INVALID_ARGUMENT status back into the service error.
pub fn status_field(s: tonic::Status) -> LocalitiesError {
    LocalitiesError::from_status(s)
}

/// Contacts → proto; secrets only when `show_secrets`.
pub fn contacts_to_pb(c: Contacts, show_secrets: bool) -> pb::Contacts {
    pb::Contacts {
        name: format!("units/{}/contacts", c.unit_id),
        etag: format!("\"{}\"", c.version),
        update_time: c.updated_at.map(timestamp),
        webhook: Some(pb::WebhookEndpoint {
            url: c.webhook_url,
            enabled: c.webhook_enabled,
            secrets: if show_secrets {
                c.webhook_secrets
            } else {
                Vec::new()
            },
        }),
        email: Some(pb::EmailEndpoint {
            addresses: c.email_addresses,
            enabled: c.email_enabled,
        }),
    }
}
