//! Conversions between protobuf messages and domain types, and resource
//! names.

use crate::{
    domain::{
        model::{
            AssigneeRole, Assignment, Change, ChangeKind, DeadlineRule, Directive, DirectiveType,
            Task, TaskGroup,
        },
        status::{Period, Status, status},
    },
    error::{Result, TasksError},
};
use chrono::{DateTime, NaiveDate, Utc};
use p06_kit::dates;
use p06_proto::tasks::v1 as pb;

/// A protobuf timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The id in "`collection`/{id}".
pub fn id_in<'a>(field: &str, collection: &str, name: &'a str) -> Result<&'a str> {
    match name
        .strip_prefix(collection)
        .and_then(|r| r.strip_prefix('/'))
    {
        Some(id) if !id.is_empty() && !id.contains('/') => Ok(id),
        _ => Err(TasksError::invalid(
            field,
            format!("must be like {collection}/ID, got {name:?}"),
        )),
    }
}

/// (task id, unit id) of "tasks/{task}/assignments/{unit}".
pub fn assignment_key(field: &str, name: &str) -> Result<(String, String)> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["tasks", task, "assignments", unit] if !task.is_empty() && !unit.is_empty() => {
            Ok((task.to_string(), unit.to_string()))
        }
        _ => Err(TasksError::invalid(
            field,
            format!("must be like tasks/ID/assignments/UNIT, got {name:?}"),
        )),
    }
}

/// "tasks/{task}/assignments/{unit}".
pub fn assignment_name(task: &str, unit: &str) -> String {
    format!("tasks/{task}/assignments/{unit}")
}

/// Proto enum number → a domain enum parsed from its proto name.
pub fn enum_from<T: std::str::FromStr>(field: &str, name: Option<&str>, value: i32) -> Result<T> {
    name.filter(|n| !n.ends_with("_UNSPECIFIED"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            TasksError::invalid(field, format!("must be set to a known value, got {value}"))
        })
}

/// Directive type from the proto.
pub fn directive_type(field: &str, v: i32) -> Result<DirectiveType> {
    enum_from(
        field,
        pb::DirectiveType::try_from(v).ok().map(|t| t.as_str_name()),
        v,
    )
}

/// Task group from the proto.
pub fn task_group(field: &str, v: i32) -> Result<TaskGroup> {
    enum_from(
        field,
        pb::TaskGroup::try_from(v).ok().map(|t| t.as_str_name()),
        v,
    )
}

/// Assignee role from the proto.
pub fn role(field: &str, v: i32) -> Result<AssigneeRole> {
    enum_from(
        field,
        pb::AssigneeRole::try_from(v).ok().map(|t| t.as_str_name()),
        v,
    )
}

/// Domain → proto enum number via the shared names.
fn number<T: Into<i32>>(prefix: &str, name: &str, from: fn(&str) -> Option<T>) -> i32 {
    from(&format!("{prefix}{name}")).map_or(0, Into::into)
}

/// Directive → proto.
pub fn directive_to_pb(d: Directive) -> pb::Directive {
    pb::Directive {
        name: format!("directives/{}", d.id),
        number: d.number,
        r#type: number(
            "DIRECTIVE_TYPE_",
            d.kind.as_str(),
            pb::DirectiveType::from_str_name,
        ),
        issuer: format!("units/{}", d.issuer),
        issue_date: d.issue_date.to_string(),
        title: d.title,
        link: d.link,
        create_time: Some(timestamp(d.created_at)),
    }
}

fn group_number(g: TaskGroup) -> i32 {
    number("TASK_GROUP_", g.as_str(), pb::TaskGroup::from_str_name)
}

fn period_number(p: Option<Period>) -> i32 {
    p.map_or(0, |p| {
        number(
            "REPORTING_PERIOD_",
            p.as_str(),
            pb::ReportingPeriod::from_str_name,
        )
    })
}

/// Task → proto.
pub fn task_to_pb(t: Task) -> pb::Task {
    pb::Task {
        name: format!("tasks/{}", t.id),
        directive: format!("directives/{}", t.directive_id),
        title: t.title,
        description: t.description,
        group: group_number(t.group),
        deadline: t.deadline.map(|d| pb::DeadlineRule {
            rule: Some(match d {
                DeadlineRule::Date(date) => pb::deadline_rule::Rule::Date(date.to_string()),
                DeadlineRule::WorkingDays(n) => pb::deadline_rule::Rule::WorkingDays(n as i32),
            }),
        }),
        reporting_period: period_number(t.period),
        create_time: Some(timestamp(t.created_at)),
    }
}

fn status_number(s: Status) -> i32 {
    (match s {
        Status::CompletedOnTime => pb::AssignmentStatus::CompletedOnTime,
        Status::CompletedLate => pb::AssignmentStatus::CompletedLate,
        Status::InProgress => pb::AssignmentStatus::InProgress,
        Status::Overdue => pb::AssignmentStatus::Overdue,
        Status::Regular => pb::AssignmentStatus::Regular,
        Status::Cancelled => pb::AssignmentStatus::Cancelled,
    }) as i32
}

/// Assignment → proto, with its status as of `as_of`.
pub fn assignment_to_pb(a: Assignment, as_of: NaiveDate) -> pb::Assignment {
    let derived = status(&a.status_input(), as_of);
    pb::Assignment {
        name: assignment_name(&a.task_id, &a.unit_id),
        task: format!("tasks/{}", a.task_id),
        directive: format!("directives/{}", a.directive_id),
        unit: format!("units/{}", a.unit_id),
        role: number(
            "ASSIGNEE_ROLE_",
            a.role.as_str(),
            pb::AssigneeRole::from_str_name,
        ),
        group: group_number(a.group),
        title: a.title,
        deadline: dates::format_opt(a.deadline),
        deadline_version: a.deadline_version,
        reporting_period: period_number(a.period),
        status: derived.map_or(0, |(s, _)| status_number(s)),
        backlog: derived.is_some_and(|(_, b)| b),
        progress_percent: a.progress,
        completed_on: dates::format_opt(a.completed_on),
        cancelled_on: dates::format_opt(a.cancelled_on),
        etag: format!("\"{}\"", a.version),
        create_time: Some(timestamp(a.created_at)),
        update_time: Some(timestamp(a.updated_at)),
        last_report_on: dates::format_opt(a.last_report_on),
        moved_on: dates::format_opt(a.moved_on),
        moved_to: a
            .moved_to
            .filter(|_| a.moved_on.is_some())
            .map(|u| format!("units/{u}"))
            .unwrap_or_default(),
        moved_from: a
            .moved_from
            .map(|u| format!("units/{u}"))
            .unwrap_or_default(),
    }
}

/// Change → proto.
pub fn change_to_pb(c: Change) -> pb::Change {
    let kind: ChangeKind = c.kind;
    let context = c.context.as_ref();
    pb::Change {
        sequence: c.sequence,
        kind: number("CHANGE_KIND_", kind.as_str(), pb::ChangeKind::from_str_name),
        assignment: assignment_name(&c.task_id, &c.unit_id),
        unit: format!("units/{}", c.unit_id),
        task: format!("tasks/{}", c.task_id),
        directive: format!("directives/{}", c.directive_id),
        deadline: dates::format_opt(c.deadline),
        deadline_version: c.deadline_version,
        percent: c.percent,
        note: c.note,
        evidence_link: c.evidence_link,
        actor: c.actor,
        time: Some(timestamp(c.at)),
        trace_context: c.trace_context,
        effective_date: dates::format_opt(c.effective_on.or_else(|| {
            // Recorded before days were kept: the day it was made.
            Some(
                c.at.with_timezone(&p06_kit::clock::vietnam_offset())
                    .date_naive(),
            )
        })),
        task_title: context.map(|x| x.title.clone()).unwrap_or_default(),
        group: context.map_or(0, |x| group_number(x.group)),
        reporting_period: context.map_or(0, |x| period_number(x.period)),
        directive_number: context
            .map(|x| x.directive_number.clone())
            .unwrap_or_default(),
        role: context.map_or(0, |x| {
            number(
                "ASSIGNEE_ROLE_",
                x.role.as_str(),
                pb::AssigneeRole::from_str_name,
            )
        }),
    }
}
