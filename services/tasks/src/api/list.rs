//! Reads of many: directives, assignments (AIP-160 filter, order, keyset
//! pages), an assignment's history, and the scope of a summary.

use super::{TasksApi, convert};
use crate::{
    domain::model::{AssigneeRole, DirectiveType, TaskGroup},
    error::{Result, TasksError},
    store::{AssignmentOrder, AssignmentQuery, TaskStore},
};
use p06_kit::{
    Grant, dates,
    filter::{self, Op, SqlCondition, SqlValue},
    page,
};
use p06_proto::tasks::v1 as pb;
use tonic::Status;

const FIELDS: &str = "unit, directive, task, group, role, deadline, state, status, moved";
/// Whether a row had moved to a successor by the list's day.
const MOVED: &str = "(CASE WHEN moved_on IS NOT NULL THEN 'true' ELSE 'false' END)";
const STATE: &str = "(CASE WHEN cancelled_on IS NOT NULL THEN 'CANCELLED' WHEN completed_on IS NOT NULL THEN 'COMPLETED' ELSE 'OPEN' END)";

fn reference(collection: &str, value: &str) -> Result<String, Status> {
    let prefix = format!("{collection}/");
    let id = value.strip_prefix(&prefix).unwrap_or(value);
    if id.is_empty() || id.contains('/') {
        return Err(p06_kit::errors::invalid_argument(
            "filter",
            format!("{value:?} is not a {collection} name"),
        ));
    }
    Ok(id.to_string())
}

/// The derived status of an assignment as of `as_of`, as SQL. Recurring
/// duties that are open read REGULAR here (whether a periodic report is
/// missing needs their history; the status returned per row is exact).
pub(crate) fn status_sql(as_of: chrono::NaiveDate) -> String {
    // A formatted date is digits and hyphens only: safe to inline.
    let d = format!("'{as_of}'");
    format!(
        "(CASE WHEN created_on > {d} OR (moved_on IS NOT NULL AND moved_on <= {d}) THEN 'NONE' \
         WHEN cancelled_on IS NOT NULL AND cancelled_on <= {d} THEN 'CANCELLED' \
         WHEN completed_on IS NOT NULL AND completed_on <= {d} THEN \
           (CASE WHEN deadline IS NOT NULL AND completed_on > deadline THEN 'COMPLETED_LATE' ELSE 'COMPLETED_ON_TIME' END) \
         WHEN deadline IS NULL THEN 'REGULAR' \
         WHEN deadline < {d} THEN 'OVERDUE' ELSE 'IN_PROGRESS' END)"
    )
}

fn status_column(
    op: Op,
    value: &str,
    as_of: chrono::NaiveDate,
) -> Result<(String, SqlValue), Status> {
    if !matches!(op, Op::Eq | Op::Ne | Op::Has) {
        return Err(p06_kit::errors::invalid_argument(
            "filter",
            "status supports only = and !=",
        ));
    }
    let up = value.trim().to_ascii_uppercase();
    let wanted = up.trim_start_matches("ASSIGNMENT_STATUS_");
    const KNOWN: [&str; 6] = [
        "COMPLETED_ON_TIME",
        "COMPLETED_LATE",
        "IN_PROGRESS",
        "OVERDUE",
        "REGULAR",
        "CANCELLED",
    ];
    if !KNOWN.contains(&wanted) {
        return Err(p06_kit::errors::invalid_argument(
            "filter",
            format!(
                "status: unknown value {value:?}; expected one of {}",
                KNOWN.join(", ")
            ),
        ));
    }
    Ok((status_sql(as_of), SqlValue::Text(wanted.to_string())))
}

fn column(field: &str, op: Op, value: &str) -> Result<(String, SqlValue), Status> {
    let bad = |e: String| p06_kit::errors::invalid_argument("filter", format!("{field}: {e}"));
    let text = |col: &str, v: String| Ok((col.to_string(), SqlValue::Text(v)));
    if field != "deadline" && !matches!(op, Op::Eq | Op::Ne | Op::Has) {
        return Err(bad("supports only = and !=".into()));
    }
    match field {
        "unit" => text("unit_id", reference("units", value)?),
        "directive" => text("directive_id", reference("directives", value)?),
        "task" => text("task_id", reference("tasks", value)?),
        "group" => text(
            "task_group",
            value.parse::<TaskGroup>().map_err(bad)?.as_str().into(),
        ),
        "role" => text(
            "role",
            value.parse::<AssigneeRole>().map_err(bad)?.as_str().into(),
        ),
        "state" => match value.to_ascii_uppercase().as_str() {
            s @ ("OPEN" | "COMPLETED" | "CANCELLED") => text(STATE, s.into()),
            other => Err(bad(format!(
                "unknown state {other:?}; use OPEN, COMPLETED or CANCELLED"
            ))),
        },
        "deadline" => {
            let d = dates::parse("filter", value)
                .map_err(|_| bad(format!("{value:?} is not a date")))?;
            Ok(("deadline".into(), SqlValue::Date(d)))
        }
        "moved" => match value.to_ascii_lowercase().as_str() {
            v @ ("true" | "false") => text(MOVED, v.into()),
            other => Err(bad(format!("expected true or false, got {other:?}"))),
        },
        other => Err(p06_kit::errors::invalid_argument(
            "filter",
            format!("unknown field {other:?}; filterable fields are {FIELDS}"),
        )),
    }
}

fn order(order_by: &str) -> Result<(AssignmentOrder, bool)> {
    let mut words = order_by.split_whitespace();
    let field = words.next().unwrap_or("deadline");
    let descending = match words.next() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(TasksError::invalid(
                "order_by",
                format!("expected asc or desc, got {o:?}"),
            ));
        }
    };
    let order = match field {
        "deadline" => AssignmentOrder::Deadline,
        "unit" => AssignmentOrder::Unit,
        "create_time" => AssignmentOrder::CreateTime,
        o => {
            return Err(TasksError::invalid(
                "order_by",
                format!("unknown field {o:?}; use deadline, unit or create_time"),
            ));
        }
    };
    Ok((order, descending))
}

pub(super) async fn assignments<S: TaskStore>(
    api: &TasksApi<S>,
    caller: &Grant,
    req: &pb::ListAssignmentsRequest,
) -> Result<pb::ListAssignmentsResponse> {
    let limit = page::size(req.page_size)?;
    let as_of = api.as_of("as_of", &req.as_of)?;
    let own = caller.reach().unit().map(str::to_string);
    let first = if own.is_some() { 2 } else { 1 };
    let user = filter::parse(&req.filter)
        .map_err(Status::from)?
        .map(|f| {
            let column = |field: &str, op: Op, value: &str| match field {
                "status" => status_column(op, value, as_of),
                _ => column(field, op, value),
            };
            f.to_sql(first, &column)
        })
        .transpose()?;
    let condition = match (own, user) {
        (Some(unit), user) => {
            let mut binds = vec![SqlValue::Text(unit)];
            let mut sql = "unit_id = $1".to_string();
            if let Some(u) = user {
                sql = format!("{sql} AND {}", u.sql);
                binds.extend(u.binds);
            }
            Some(SqlCondition { sql, binds })
        }
        (None, user) => user,
    };
    let (order, descending) = order(&req.order_by)?;
    let fingerprint = page::fingerprint(&[
        &req.filter,
        &req.order_by,
        &req.as_of,
        &caller.identity().map(|i| i.key.clone()).unwrap_or_default(),
    ]);
    let after = page::decode(&fingerprint, &req.page_token, 3)?
        .map(|k| (k[0].clone(), k[1].clone(), k[2].clone()));
    let q = AssignmentQuery {
        filter: condition,
        order,
        descending,
        after,
        limit,
        as_of: (!req.as_of.is_empty()).then_some(as_of),
    };
    let page = api.store.list_assignments(&q).await?;
    let next_page_token = match page.assignments.last() {
        Some(last) if page.more => {
            let sort = match order {
                AssignmentOrder::Deadline => dates::format_opt(last.deadline),
                AssignmentOrder::Unit => last.unit_id.clone(),
                AssignmentOrder::CreateTime => last.created_at.to_rfc3339(),
            };
            page::encode(
                &fingerprint,
                vec![sort, last.task_id.clone(), last.unit_id.clone()],
            )
        }
        _ => String::new(),
    };
    let assignments = page
        .assignments
        .into_iter()
        .map(|a| convert::assignment_to_pb(a, as_of))
        .collect();
    Ok(pb::ListAssignmentsResponse {
        assignments,
        next_page_token,
    })
}

fn directive_column(field: &str, op: Op, value: &str) -> Result<(String, SqlValue), Status> {
    let bad = |e: String| p06_kit::errors::invalid_argument("filter", format!("{field}: {e}"));
    if field != "issue_date" && !matches!(op, Op::Eq | Op::Ne | Op::Has) {
        return Err(bad("supports only = and !=".into()));
    }
    match field {
        "number" => Ok(("number".into(), SqlValue::Text(value.into()))),
        "type" => Ok((
            "kind".into(),
            SqlValue::Text(value.parse::<DirectiveType>().map_err(bad)?.as_str().into()),
        )),
        "issuer" => Ok(("issuer".into(), SqlValue::Text(reference("units", value)?))),
        "issue_date" => {
            let d = dates::parse("filter", value)
                .map_err(|_| bad(format!("{value:?} is not a date")))?;
            Ok(("issue_date".into(), SqlValue::Date(d)))
        }
        other => Err(p06_kit::errors::invalid_argument(
            "filter",
            format!(
                "unknown field {other:?}; filterable fields are number, type, issuer, issue_date"
            ),
        )),
    }
}

pub(super) async fn directives<S: TaskStore>(
    api: &TasksApi<S>,
    req: &pb::ListDirectivesRequest,
) -> Result<pb::ListDirectivesResponse> {
    let filter = filter::parse(&req.filter)
        .map_err(Status::from)?
        .map(|f| f.to_sql(1, &directive_column))
        .transpose()?;
    let limit = page::size(req.page_size)?;
    let fingerprint = page::fingerprint(&["directives", &req.filter]);
    let after = match page::decode(&fingerprint, &req.page_token, 2)? {
        Some(k) => Some((dates::parse("page_token", &k[0])?, k[1].clone())),
        None => None,
    };
    let (rows, more) = api
        .store
        .list_directives(filter.as_ref(), after, limit)
        .await?;
    let next_page_token = match rows.last() {
        Some(last) if more => page::encode(
            &fingerprint,
            vec![last.issue_date.to_string(), last.id.clone()],
        ),
        _ => String::new(),
    };
    Ok(pb::ListDirectivesResponse {
        directives: rows.into_iter().map(convert::directive_to_pb).collect(),
        next_page_token,
    })
}

pub(super) async fn events<S: TaskStore>(
    api: &TasksApi<S>,
    caller: &Grant,
    req: &pb::ListAssignmentEventsRequest,
) -> Result<pb::ListAssignmentEventsResponse> {
    let (task, unit) = convert::assignment_key("name", &req.name)?;
    caller.check_unit(&unit)?;
    let limit = page::size(req.page_size)?;
    let fingerprint = page::fingerprint(&[&req.name]);
    let after = match page::decode(&fingerprint, &req.page_token, 1)? {
        Some(k) => k[0].parse().map_err(|_| {
            TasksError::invalid("page_token", "is not a token returned by this list")
        })?,
        None => 0,
    };
    let mut events = api.store.events_of(&task, &unit, after, limit + 1).await?;
    let more = events.len() > limit;
    events.truncate(limit);
    if events.is_empty() && after == 0 && api.store.get_assignment(&task, &unit).await?.is_none() {
        return Err(TasksError::NotFound(req.name.clone()));
    }
    let next_page_token = match events.last() {
        Some(last) if more => page::encode(&fingerprint, vec![last.sequence.to_string()]),
        _ => String::new(),
    };
    Ok(pb::ListAssignmentEventsResponse {
        events: events.into_iter().map(convert::change_to_pb).collect(),
        next_page_token,
    })
}

/// The assignments a summary counts: one unit, one task, one directive, one
/// group, or all — as one (column, value) equality.
pub(super) fn summary_scope(req: &pb::GetSummaryRequest) -> Result<Option<(&'static str, String)>> {
    let mut scopes = Vec::new();
    if !req.unit.is_empty() {
        scopes.push((
            "unit_id",
            convert::id_in("unit", "units", &req.unit)?.to_string(),
        ));
    }
    if !req.task.is_empty() {
        scopes.push((
            "task_id",
            convert::id_in("task", "tasks", &req.task)?.to_string(),
        ));
    }
    if !req.directive.is_empty() {
        scopes.push((
            "directive_id",
            convert::id_in("directive", "directives", &req.directive)?.to_string(),
        ));
    }
    if req.group != 0 {
        scopes.push((
            "task_group",
            convert::task_group("group", req.group)?
                .as_str()
                .to_string(),
        ));
    }
    match scopes.len() {
        0 => Ok(None),
        1 => Ok(scopes.pop()),
        _ => Err(TasksError::invalid(
            "unit",
            "give at most one of unit, task, directive and group",
        )),
    }
}

/// The recurring duties within a scope (their status needs their history).
pub(super) fn recurring_in(scope: Option<&(&'static str, String)>) -> SqlCondition {
    match scope {
        Some((col, value)) => SqlCondition {
            sql: format!("{col} = $1 AND period IS NOT NULL"),
            binds: vec![SqlValue::Text(value.clone())],
        },
        None => SqlCondition {
            sql: "period IS NOT NULL".into(),
            binds: Vec::new(),
        },
    }
}

pub(super) async fn audit<S: TaskStore>(
    api: &TasksApi<S>,
    req: &pb::ListAuditLogRequest,
) -> Result<pb::ListAuditLogResponse> {
    p06_kit::text::check_pattern("resource_prefix", &req.resource_prefix)?;
    let limit = page::size(req.page_size)?;
    let fingerprint = page::fingerprint(&["audit", &req.resource_prefix]);
    let before = match page::decode(&fingerprint, &req.page_token, 1)? {
        Some(k) => Some(k[0].parse::<i64>().map_err(|_| {
            TasksError::invalid("page_token", "is not a token returned by this list")
        })?),
        None => None,
    };
    let mut rows = api
        .store
        .audit_log(&req.resource_prefix, before, limit + 1)
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_page_token = match rows.last() {
        Some(last) if more => page::encode(&fingerprint, vec![last.id.to_string()]),
        _ => String::new(),
    };
    let entries = rows
        .into_iter()
        .map(|e| pb::AuditEntry {
            id: e.id,
            time: Some(convert::timestamp(e.at)),
            actor: e.actor,
            action: e.action,
            resource: e.resource,
            request_id: e.request_id,
            detail: e.detail,
        })
        .collect();
    Ok(pb::ListAuditLogResponse {
        entries,
        next_page_token,
    })
}
