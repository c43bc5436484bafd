//! ListUnits: the AIP-160 filter fields, `order_by`, and keyset page tokens.

use super::convert::unit_id;
use crate::{
    domain::{UnitKind, UnitLevel, fold::fold},
    error::{LocalitiesError, Result},
    store::{UnitOrder, UnitQuery},
};
use p06_kit::{
    dates, filter,
    filter::{Op, SqlValue},
    page,
};
use p06_proto::localities::v1 as pb;
use tonic::Status;

const FILTER_FIELDS: &str = "kind, level, code, parent, supervisor, category";

fn column(field: &str, op: Op, value: &str) -> Result<(String, SqlValue), Status> {
    let equality_only = |name: &str| -> Result<(), Status> {
        if matches!(op, Op::Eq | Op::Ne | Op::Has) {
            Ok(())
        } else {
            Err(p06_kit::errors::invalid_argument(
                "filter",
                format!("{name} supports only = and !="),
            ))
        }
    };
    let bad = |e: String| p06_kit::errors::invalid_argument("filter", format!("{field}: {e}"));
    match field {
        "kind" => {
            equality_only(field)?;
            let k: UnitKind = value.parse().map_err(bad)?;
            Ok(("kind".into(), SqlValue::Text(k.as_str().into())))
        }
        "level" => {
            equality_only(field)?;
            let l: UnitLevel = value.parse().map_err(bad)?;
            Ok(("level".into(), SqlValue::Text(l.as_str().into())))
        }
        "code" | "category" => Ok((field.into(), SqlValue::Text(value.into()))),
        "parent" | "supervisor" => {
            equality_only(field)?;
            let id = if value.starts_with("units/") {
                unit_id("filter", value).map_err(Status::from)?
            } else {
                value
            };
            // COALESCE so that `parent != x` keeps units without a parent.
            Ok((
                format!("COALESCE({field}_id, '')"),
                SqlValue::Text(id.into()),
            ))
        }
        other => Err(p06_kit::errors::invalid_argument(
            "filter",
            format!("unknown field {other:?}; filterable fields are {FILTER_FIELDS}"),
        )),
    }
}

fn order(order_by: &str) -> Result<(UnitOrder, bool)> {
    let mut words = order_by.split_whitespace();
    let field = words.next().unwrap_or("code");
    let descending = match words.next() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(LocalitiesError::invalid(
                "order_by",
                format!("expected asc or desc, got {other:?}"),
            ));
        }
    };
    if words.next().is_some() || order_by.contains(',') {
        return Err(LocalitiesError::invalid(
            "order_by",
            "order by one field: code, display_name or name",
        ));
    }
    let order = match field {
        "code" => UnitOrder::Code,
        "display_name" => UnitOrder::DisplayName,
        "name" => UnitOrder::Name,
        other => {
            return Err(LocalitiesError::invalid(
                "order_by",
                format!("unknown field {other:?}; use code, display_name or name"),
            ));
        }
    };
    Ok((order, descending))
}

/// Reads a ListUnits request into a store query and the page-token fingerprint.
pub fn query(req: &pb::ListUnitsRequest) -> Result<(UnitQuery, String), Status> {
    let limit = page::size(req.page_size)?;
    let parsed = filter::parse(&req.filter)?;
    let condition = parsed.map(|f| f.to_sql(1, &column)).transpose()?;
    let (order, descending) = order(&req.order_by)?;
    let active_on = dates::parse_opt("active_on", &req.active_on)?;
    p06_kit::text::check_pattern("query", &req.query)?;
    let search = Some(fold(&req.query)).filter(|s| !s.is_empty());
    let fingerprint = page::fingerprint(&[&req.filter, &req.order_by, &req.active_on, &req.query]);
    let after = page::decode(&fingerprint, &req.page_token, 2)?.map(|mut k| {
        let id = k.pop().unwrap_or_default();
        (k.pop().unwrap_or_default(), id)
    });
    Ok((
        UnitQuery {
            filter: condition,
            active_on,
            search,
            order,
            descending,
            after,
            limit,
        },
        fingerprint,
    ))
}

/// The sort value of a unit for `order`.
pub fn sort_value(order: UnitOrder, u: &pb::Unit) -> String {
    match order {
        UnitOrder::Code => u.code.clone(),
        UnitOrder::DisplayName => u.display_name.clone(),
        UnitOrder::Name => u.name.trim_start_matches("units/").to_string(),
    }
}
