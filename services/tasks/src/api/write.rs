//! Writes: directives, tasks with their assignments, assignment state
//! changes, and the calendar.

use super::{TasksApi, convert};
use crate::{
    domain::{
        actions::{self, Action},
        calendar::{Calendar, CalendarDay, DayKind},
        model::{Acted, DeadlineRule, Directive, Task, directive_id},
        status::Period,
    },
    error::{Result, TasksError},
    store::{NewAssignment, TaskStore},
};
use p06_kit::{Grant, dates};
use p06_proto::{localities::v1 as loc, tasks::v1 as pb};
use tonic::Request;

/// Units one BatchGetUnits call to localities resolves (its own bound).
const UNITS_PER_BATCH: usize = 1000;

/// INVALID_ARGUMENT on `field` unless `unit` is in force `on`.
fn in_force(field: &str, unit: &loc::Unit, on: chrono::NaiveDate) -> Result<()> {
    let from = dates::parse_opt("valid_from", &unit.valid_from)
        .ok()
        .flatten();
    let until = dates::parse_opt("valid_until", &unit.valid_until)
        .ok()
        .flatten();
    if from.is_some_and(|f| f > on) || until.is_some_and(|u| u < on) {
        return Err(TasksError::invalid(
            field,
            format!(
                "{} ({}) is not in force on {on}",
                unit.name, unit.display_name
            ),
        ));
    }
    Ok(())
}

fn text(field: &str, value: &str, max: usize, required: bool) -> Result<String> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(TasksError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(TasksError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

impl<S: TaskStore> TasksApi<S> {
    /// The unit, which must exist and (when `on` is given) be in force then.
    async fn check_unit(
        &self,
        field: &str,
        name: &str,
        on: Option<chrono::NaiveDate>,
    ) -> Result<String> {
        let id = convert::id_in(field, "units", name)?.to_string();
        let unit = match self
            .localities
            .clone()
            .get_unit(loc::GetUnitRequest {
                name: name.to_string(),
            })
            .await
        {
            Ok(u) => u.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => {
                return Err(TasksError::invalid(field, format!("{name} does not exist")));
            }
            Err(s) => {
                return Err(TasksError::Unavailable(format!(
                    "localities: {}",
                    s.message()
                )));
            }
        };
        if let Some(on) = on {
            in_force(field, &unit, on)?;
        }
        Ok(id)
    }

    /// The units of `names` (assignees), which must exist and be in force
    /// `on`, resolved in one batched call per thousand; an error names the
    /// assignee (`assignees[i].unit`).
    async fn check_assignees(&self, names: &[&str], on: chrono::NaiveDate) -> Result<Vec<String>> {
        let mut ids = Vec::with_capacity(names.len());
        for (c, chunk) in names.chunks(UNITS_PER_BATCH).enumerate() {
            let offset = c * UNITS_PER_BATCH;
            let found = self
                .localities
                .clone()
                .batch_get_units(loc::BatchGetUnitsRequest {
                    names: chunk.iter().map(|n| n.to_string()).collect(),
                })
                .await;
            let units = match found {
                Ok(r) => r.into_inner().units,
                Err(s) if s.code() == tonic::Code::NotFound => {
                    let field = p06_kit::errors::violated_field_info(&s).unwrap_or_default();
                    let i = field
                        .trim_start_matches("names[")
                        .trim_end_matches(']')
                        .parse::<usize>()
                        .map_or(offset, |i| offset + i);
                    let name = names.get(i).copied().unwrap_or_default();
                    return Err(TasksError::invalid(
                        format!("assignees[{i}].unit"),
                        format!("{name} does not exist"),
                    ));
                }
                Err(s) => {
                    return Err(TasksError::Unavailable(format!(
                        "localities: {}",
                        s.message()
                    )));
                }
            };
            for (j, unit) in units.iter().enumerate() {
                in_force(&format!("assignees[{}].unit", offset + j), unit, on)?;
                ids.push(unit.name.trim_start_matches("units/").to_string());
            }
        }
        Ok(ids)
    }

    /// After a successful write by `method`: counts it and wakes the feed.
    pub(super) fn written(&self, method: &'static str) {
        crate::metrics::wrote(method);
        self.written.notify_waiters();
    }
}

pub(super) async fn create_directive<S: TaskStore>(
    api: &TasksApi<S>,
    request: Request<pb::CreateDirectiveRequest>,
) -> Result<pb::Directive> {
    let caller = Grant::of(&request)?;
    let req = request.get_ref();
    let m = api.mutation(caller, "CreateDirective", &req.request_id)?;
    if let Some(id) = api.replay(&m).await? {
        let d = api
            .store
            .get_directive(&id)
            .await?
            .ok_or_else(|| TasksError::NotFound(format!("directives/{id}")))?;
        return Ok(convert::directive_to_pb(d));
    }
    let d = req
        .directive
        .as_ref()
        .ok_or_else(|| TasksError::invalid("directive", "is required"))?;
    let number = text("directive.number", &d.number, 64, true)?;
    let kind = convert::directive_type("directive.type", d.r#type)?;
    let issue_date = dates::parse("directive.issue_date", &d.issue_date)?;
    let title = text("directive.title", &d.title, 1000, true)?;
    let link = text("directive.link", &d.link, 2000, false)?;
    if !link.is_empty() && !p06_kit::text::is_http_url(&link) {
        return Err(TasksError::invalid(
            "directive.link",
            "must be an http or https URL",
        ));
    }
    let issuer = api.check_unit("directive.issuer", &d.issuer, None).await?;
    let directive = Directive {
        id: directive_id(&number, issue_date),
        number,
        kind,
        issuer,
        issue_date,
        title,
        link,
        created_at: m.at,
    };
    let d = api.store.create_directive(&directive, &m).await?;
    tracing::info!(directive = %d.id, by = %m.actor, "directive recorded");
    Ok(convert::directive_to_pb(d))
}

pub(super) async fn create_task<S: TaskStore>(
    api: &TasksApi<S>,
    request: Request<pb::CreateTaskRequest>,
) -> Result<pb::CreateTaskResponse> {
    let caller = Grant::of(&request)?;
    let req = request.get_ref();
    let m = api.mutation(caller, "CreateTask", &req.request_id)?;
    let today = m.today;
    if let Some(id) = api.replay(&m).await? {
        return task_response(api, &id, today).await;
    }
    let directive_id = convert::id_in("parent", "directives", &req.parent)?;
    let directive = api
        .store
        .get_directive(directive_id)
        .await?
        .ok_or_else(|| TasksError::invalid("parent", format!("{} does not exist", req.parent)))?;
    let t = req
        .task
        .as_ref()
        .ok_or_else(|| TasksError::invalid("task", "is required"))?;
    let title = text("task.title", &t.title, 1000, true)?;
    let description = text("task.description", &t.description, 10_000, false)?;
    let group = convert::task_group("task.group", t.group)?;
    let period: Option<Period> = match t.reporting_period {
        0 => None,
        v => Some(convert::enum_from(
            "task.reporting_period",
            pb::ReportingPeriod::try_from(v)
                .ok()
                .map(|p| p.as_str_name()),
            v,
        )?),
    };
    let rule = match t.deadline.as_ref().and_then(|d| d.rule.as_ref()) {
        Some(pb::deadline_rule::Rule::Date(date)) => Some(DeadlineRule::Date(dates::parse(
            "task.deadline.date",
            date,
        )?)),
        Some(pb::deadline_rule::Rule::WorkingDays(n)) => match u32::try_from(*n) {
            Ok(n) if (1..=1000).contains(&n) => Some(DeadlineRule::WorkingDays(n)),
            _ => {
                return Err(TasksError::invalid(
                    "task.deadline.working_days",
                    "must be between 1 and 1000",
                ));
            }
        },
        None => None,
    };
    let deadline = match (rule, period) {
        (Some(_), Some(_)) => {
            return Err(TasksError::invalid(
                "task.reporting_period",
                "a task has a deadline or a reporting period, not both",
            ));
        }
        (None, None) => {
            return Err(TasksError::invalid(
                "task.deadline",
                "set a deadline, or a reporting period for a regularly implemented duty",
            ));
        }
        (Some(DeadlineRule::Date(d)), None) if d < directive.issue_date => {
            return Err(TasksError::invalid(
                "task.deadline.date",
                format!(
                    "{d} is before the directive's date {}",
                    directive.issue_date
                ),
            ));
        }
        (Some(DeadlineRule::Date(d)), None) => Some(d),
        (Some(DeadlineRule::WorkingDays(n)), None) => Some(
            api.calendar()
                .add_working_days(directive.issue_date, n)
                .ok_or_else(|| {
                    TasksError::invalid("task.deadline.working_days", "beyond the calendar")
                })?,
        ),
        (None, Some(_)) => None,
    };
    if req.assignees.is_empty() || req.assignees.len() > 20_000 {
        return Err(TasksError::invalid(
            "assignees",
            "name between 1 and 20000 assignees",
        ));
    }
    // Everything that needs no look-up first: names, roles, duplicates.
    let mut seen = std::collections::HashSet::with_capacity(req.assignees.len());
    let mut roles = Vec::with_capacity(req.assignees.len());
    for (i, a) in req.assignees.iter().enumerate() {
        let field = format!("assignees[{i}].unit");
        let id = convert::id_in(&field, "units", &a.unit)?;
        if !seen.insert(id) {
            return Err(TasksError::invalid(
                field,
                format!("units/{id} is listed twice"),
            ));
        }
        roles.push(convert::role(&format!("assignees[{i}].role"), a.role)?);
    }
    // Then the units, in batches.
    let names: Vec<&str> = req.assignees.iter().map(|a| a.unit.as_str()).collect();
    let units = api.check_assignees(&names, directive.issue_date).await?;
    let assignees: Vec<NewAssignment> = units
        .into_iter()
        .zip(roles)
        .map(|(unit_id, role)| NewAssignment {
            unit_id,
            role,
            deadline,
            assigned_on: directive.issue_date,
        })
        .collect();
    let task = Task {
        id: uuid::Uuid::now_v7().simple().to_string(),
        directive_id: directive.id.clone(),
        title,
        description,
        group,
        deadline: rule,
        period,
        created_at: m.at,
    };
    let (task, assignments) = api.store.create_task(&task, &assignees, &m).await?;
    api.written(m.method);
    tracing::info!(task = %task.id, directive = %task.directive_id, assignees = assignments.len(), by = %m.actor, "task assigned");
    Ok(pb::CreateTaskResponse {
        task: Some(convert::task_to_pb(task)),
        assignments: assignments
            .into_iter()
            .map(|a| convert::assignment_to_pb(a, today))
            .collect(),
    })
}

async fn task_response<S: TaskStore>(
    api: &TasksApi<S>,
    id: &str,
    today: chrono::NaiveDate,
) -> Result<pb::CreateTaskResponse> {
    let task = api
        .store
        .get_task(id)
        .await?
        .ok_or_else(|| TasksError::NotFound(format!("tasks/{id}")))?;
    let filter = p06_kit::filter::SqlCondition {
        sql: "task_id = $1".into(),
        binds: vec![p06_kit::filter::SqlValue::Text(id.into())],
    };
    let assignments = api.store.all_assignments(Some(&filter), None).await?;
    Ok(pb::CreateTaskResponse {
        task: Some(convert::task_to_pb(task)),
        assignments: assignments
            .into_iter()
            .map(|a| convert::assignment_to_pb(a, today))
            .collect(),
    })
}

/// The request fields common to every state change.
struct Change<'a> {
    name: &'a str,
    request_id: &'a str,
    etag: &'a str,
}

/// The state-change requests, which all carry name, request id and etag.
trait ChangeRequest {
    fn fields(&self) -> Change<'_>;
}

macro_rules! change_requests {
    ($($t:ty),*) => {$(
        impl ChangeRequest for $t {
            fn fields(&self) -> Change<'_> {
                Change { name: &self.name, request_id: &self.request_id, etag: &self.etag }
            }
        }
    )*};
}

change_requests!(
    pb::ReportProgressRequest,
    pb::CompleteAssignmentRequest,
    pb::ReopenAssignmentRequest,
    pb::CancelAssignmentRequest
);

async fn act<S: TaskStore>(
    api: &TasksApi<S>,
    caller: &Grant,
    req: Change<'_>,
    method: &'static str,
    action: Action,
) -> Result<pb::Assignment> {
    let Change {
        name,
        request_id,
        etag,
    } = req;
    let (task, unit) = convert::assignment_key("name", name)?;
    caller.check_unit(&unit)?;
    actions::validate(&action).map_err(|(f, msg)| TasksError::invalid(f, msg))?;
    let mut m = api.mutation(caller, method, request_id)?;
    m.entered_by = caller
        .identity()
        .map(|i| i.unit.trim_start_matches("units/"))
        .filter(|own| *own != unit)
        .map(|own| format!("units/{own}"));
    // The etag is checked inside the write's transaction, so a change made
    // between a read and this write cannot slip through. A malformed etag
    // matches no version.
    if !etag.is_empty() {
        let version = etag.trim_matches('"').parse::<i64>().unwrap_or(-1);
        m.expected_version = Some(version);
    }
    // A retry answers what the first call answered (kept with its request
    // id), also when it raced that call.
    let first = match api.replay(&m).await? {
        Some(kept) => kept,
        None => match api.store.act(&task, &unit, &action, &m).await {
            Ok(a) => {
                api.written(m.method);
                return Ok(convert::assignment_to_pb(a, m.today));
            }
            Err(e) => api.replay(&m).await?.ok_or(e)?,
        },
    };
    match Acted::from_record(&first) {
        Some(acted) => Ok(convert::assignment_to_pb(acted.assignment, acted.today)),
        // Kept before first results were: the assignment as it is now.
        None => {
            let a = api
                .store
                .get_assignment(&task, &unit)
                .await?
                .ok_or_else(|| TasksError::NotFound(name.to_string()))?;
            Ok(convert::assignment_to_pb(a, m.today))
        }
    }
}

pub(super) async fn report_progress<S: TaskStore>(
    api: &TasksApi<S>,
    request: Request<pb::ReportProgressRequest>,
) -> Result<pb::Assignment> {
    let caller = Grant::of(&request)?;
    let r = request.get_ref();
    let action = Action::Progress {
        on: dates::parse_opt("reported_on", &r.reported_on)?,
        percent: r.percent,
        note: r.note.clone(),
        evidence_link: r.evidence_link.clone(),
    };
    act(api, caller, r.fields(), "ReportProgress", action).await
}

pub(super) async fn complete<S: TaskStore>(
    api: &TasksApi<S>,
    request: Request<pb::CompleteAssignmentRequest>,
) -> Result<pb::Assignment> {
    let caller = Grant::of(&request)?;
    let r = request.get_ref();
    let on =
        dates::parse_opt("completed_on", &r.completed_on)?.unwrap_or_else(|| api.clock.today());
    let action = Action::Complete {
        on,
        note: r.note.clone(),
    };
    act(api, caller, r.fields(), "CompleteAssignment", action).await
}

pub(super) async fn reopen<S: TaskStore>(
    api: &TasksApi<S>,
    request: Request<pb::ReopenAssignmentRequest>,
) -> Result<pb::Assignment> {
    let caller = Grant::of(&request)?;
    let r = request.get_ref();
    let action = Action::Reopen {
        reason: r.reason.clone(),
    };
    act(api, caller, r.fields(), "ReopenAssignment", action).await
}

pub(super) async fn cancel<S: TaskStore>(
    api: &TasksApi<S>,
    request: Request<pb::CancelAssignmentRequest>,
) -> Result<pb::Assignment> {
    let caller = Grant::of(&request)?;
    let r = request.get_ref();
    let action = Action::Cancel {
        on: api.clock.today(),
        reason: r.reason.clone(),
    };
    act(api, caller, r.fields(), "CancelAssignment", action).await
}

/// One year of the calendar as the API shows it.
pub(super) fn calendar_year(calendar: &Calendar, year: i32) -> Result<pb::Calendar> {
    if !(1990..=2100).contains(&year) {
        return Err(TasksError::invalid("year", "must be between 1990 and 2100"));
    }
    let days = calendar.year(year);
    let pick = |kind: DayKind| {
        days.iter()
            .filter(|d| d.kind == kind)
            .map(|d| pb::CalendarDay {
                date: d.date.to_string(),
                name: d.name.clone(),
            })
            .collect()
    };
    Ok(pb::Calendar {
        year,
        days_off: pick(DayKind::DayOff),
        working_days: pick(DayKind::WorkingDay),
        etag: String::new(),
    })
}

pub(super) async fn update_calendar<S: TaskStore>(
    api: &TasksApi<S>,
    request: Request<pb::UpdateCalendarRequest>,
) -> Result<pb::Calendar> {
    let caller = Grant::of(&request)?;
    let req = request.get_ref();
    let m = api.mutation(caller, "UpdateCalendar", &req.request_id)?;
    let c = req
        .calendar
        .as_ref()
        .ok_or_else(|| TasksError::invalid("calendar", "is required"))?;
    calendar_year(&Calendar::default(), c.year)
        .map_err(|_| TasksError::invalid("calendar.year", "must be between 1990 and 2100"))?;
    let mut days = Vec::new();
    for (field, list, kind) in [
        ("calendar.days_off", &c.days_off, DayKind::DayOff),
        (
            "calendar.working_days",
            &c.working_days,
            DayKind::WorkingDay,
        ),
    ] {
        for d in list {
            let date = dates::parse(field, &d.date)?;
            if chrono::Datelike::year(&date) != c.year {
                return Err(TasksError::invalid(
                    field,
                    format!("{date} is not in {}", c.year),
                ));
            }
            if days.iter().any(|x: &CalendarDay| x.date == date) {
                return Err(TasksError::invalid(
                    field,
                    format!("{date} is listed twice"),
                ));
            }
            days.push(CalendarDay {
                date,
                kind,
                name: text(field, &d.name, 200, false)?,
            });
        }
    }
    api.store.replace_calendar_year(c.year, &days, &m).await?;
    let fresh = Calendar::new(api.store.calendar().await?);
    let out = calendar_year(&fresh, c.year)?;
    let previous = api.calendar();
    if let Ok(mut cached) = api.calendar.write() {
        *cached = fresh.clone();
    }
    let moved = recompute_deadlines(api, &previous, &fresh, &m).await?;
    tracing::info!(year = c.year, by = %m.actor, deadlines_moved = moved, "calendar updated");
    Ok(out)
}

/// Moves the open deadlines counted in working days that the calendar change
/// shifts. A deadline that no longer equals its rule's old result (an
/// approved extension) is left alone. Returns how many moved.
async fn recompute_deadlines<S: TaskStore>(
    api: &TasksApi<S>,
    old: &Calendar,
    new: &Calendar,
    m: &crate::store::Mutation,
) -> Result<usize> {
    let mut moved = 0;
    for task in api.store.working_day_tasks().await? {
        let Some(DeadlineRule::WorkingDays(n)) = task.deadline else {
            continue;
        };
        let Some(directive) = api.store.get_directive(&task.directive_id).await? else {
            continue;
        };
        let (before, after) = (
            old.add_working_days(directive.issue_date, n),
            new.add_working_days(directive.issue_date, n),
        );
        let (Some(before), Some(after)) = (before, after) else {
            continue;
        };
        if before == after {
            continue;
        }
        let filter = p06_kit::filter::SqlCondition {
            sql: "task_id = $1 AND completed_on IS NULL AND cancelled_on IS NULL AND moved_on IS NULL".into(),
            binds: vec![p06_kit::filter::SqlValue::Text(task.id.clone())],
        };
        for a in api.store.all_assignments(Some(&filter), None).await? {
            if a.deadline != Some(before) {
                continue;
            }
            let note = format!(
                "working-day calendar changed: {n} working days from {} is now {after}",
                directive.issue_date
            );
            let change = crate::store::Mutation {
                request_id: None,
                ..m.clone()
            };
            api.store
                .act(
                    &a.task_id,
                    &a.unit_id,
                    &Action::ChangeDeadline {
                        deadline: after,
                        note,
                    },
                    &change,
                )
                .await?;
            moved += 1;
        }
    }
    if moved > 0 {
        api.written(m.method);
    }
    Ok(moved)
}
