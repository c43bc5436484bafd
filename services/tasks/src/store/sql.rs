//! The SQL store on SQLite (embedded default) and PostgreSQL. Both run the
//! same statements: sqlx's SQLite driver reads `$n` placeholders, and
//! [`on_pool!`] expands each method body once per backend, so there is one
//! copy of the logic and each backend keeps its native driver and types
//! (dates are DATE and timestamps TIMESTAMPTZ in PostgreSQL, text in SQLite).
//!
//! Change-feed sequence numbers come from the single `feed_counter` row,
//! incremented inside the writing transaction just before its changes are
//! inserted: PostgreSQL holds that row's lock until commit, so the next writer
//! gets a larger number and commits later; SQLite serializes write
//! transactions (`BEGIN IMMEDIATE`). Either way a reader that has seen
//! sequence N never later finds a committed change numbered below N.

use super::{
    AssignmentOrder, AssignmentPage, AssignmentQuery, AuditEntry, Mutation, NewAssignment,
    StoreError, StoreResult, TaskStore,
};
use crate::domain::{
    actions::{self, Action},
    calendar::{CalendarDay, DayKind},
    extension::{Decision, Extension},
    history,
    indicator::{Indicator, Value},
    model::{
        AssigneeRole, Assignment, Change, ChangeContext, ChangeKind, DeadlineRule, Directive, Task,
    },
    summary::Counts,
};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use p06_kit::{
    db::DbError,
    filter::{SqlCondition, SqlValue},
    on_pool,
    sql::{Pool, WritePool, is_unique_violation, placeholders},
};
use sqlx::{AssertSqlSafe, FromRow, migrate::Migrator};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    str::FromStr,
};

/// A tasks database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: Pool,
}

/// The sort value standing for "no deadline" (recurring duties sort last).
pub const NO_DEADLINE: &str = "9999-12-31";

/// The deadline sort expression, written once for ORDER BY and the keyset
/// (and matching the `assignments_deadline_order` index).
const DEADLINE_KEY: &str = "COALESCE(deadline, '9999-12-31')";

/// The keyset sort value of an assignment in an order: what
/// [`AssignmentQuery::after`] expects as its first element.
pub fn sort_value(a: &Assignment, order: AssignmentOrder) -> String {
    match order {
        AssignmentOrder::Deadline => a.deadline.map_or_else(
            || NO_DEADLINE.to_string(),
            |d| d.format("%Y-%m-%d").to_string(),
        ),
        AssignmentOrder::Unit => a.unit_id.clone(),
        AssignmentOrder::CreateTime => a.created_at.to_rfc3339(),
    }
}

/// A value bound to a generated statement: the filter's values plus
/// timestamps for the creation-time keyset.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
    Date(NaiveDate),
    Time(DateTime<Utc>),
}

impl From<&SqlValue> for Arg {
    fn from(v: &SqlValue) -> Self {
        match v {
            SqlValue::Text(s) => Arg::Text(s.clone()),
            SqlValue::Int(i) => Arg::Int(*i),
            SqlValue::Date(d) => Arg::Date(*d),
        }
    }
}

/// Binds each [`Arg`] in order.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for a in $args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
                Arg::Date(d) => q.bind(*d),
                Arg::Time(t) => q.bind(*t),
            };
        }
        q
    }};
}

/// Records the audit entry and the request id of a mutation. A request id
/// already recorded (a concurrent retry that committed first) is a
/// Conflict: the caller recalls its result.
macro_rules! record {
    ($tx:expr, $m:expr, $action:expr, $resource:expr, $result:expr) => {{
        let result: String = $result;
        record!($tx, $m, $action, $resource, result.clone(), result)
    }};
    ($tx:expr, $m:expr, $action:expr, $resource:expr, $detail:expr, $result:expr) => {{
        let (detail, result): (String, String) = ($detail, $result);
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, resource, request_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($m.at)
        .bind($m.actor.clone())
        .bind($action)
        .bind($resource)
        .bind($m.request_id.clone().unwrap_or_default())
        .bind(detail)
        .execute(&mut *$tx)
        .await?;
        if let Some(request_id) = &$m.request_id {
            sqlx::query(
                "INSERT INTO request_log (method, request_id, result, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind($m.method)
            .bind(request_id.clone())
            .bind(result)
            .bind($m.at)
            .execute(&mut *$tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!("requests/{}/{request_id}", $m.method))
                } else {
                    StoreError::from(e)
                }
            })?;
        }
    }};
}

/// Takes `$n` consecutive feed sequence numbers inside a write transaction;
/// evaluates to the first.
macro_rules! take_sequences {
    ($tx:expr, $n:expr) => {{
        let n = $n as i64;
        let last: i64 = sqlx::query_scalar(
            "UPDATE feed_counter SET value = value + $1 WHERE id = 1 RETURNING value",
        )
        .bind(n)
        .fetch_one(&mut *$tx)
        .await?;
        last - n + 1
    }};
}

/// Inserts feed entries (their sequences already set) inside a transaction.
macro_rules! insert_changes {
    ($tx:expr, $db:ty, $changes:expr) => {{
        for chunk in $changes.chunks(500) {
            let mut qb =
                sqlx::QueryBuilder::<$db>::new(format!("INSERT INTO changes ({CHANGE_COLUMNS}) "));
            qb.push_values(chunk, |mut b, c: &Change| {
                b.push_bind(c.sequence)
                    .push_bind(c.kind.as_str())
                    .push_bind(c.task_id.clone())
                    .push_bind(c.unit_id.clone())
                    .push_bind(c.directive_id.clone())
                    .push_bind(c.deadline)
                    .push_bind(c.deadline_version)
                    .push_bind(c.percent)
                    .push_bind(c.note.clone())
                    .push_bind(c.evidence_link.clone())
                    .push_bind(c.actor.clone())
                    .push_bind(c.at)
                    .push_bind(c.trace_context.clone())
                    .push_bind(c.effective_on)
                    .push_bind(c.inherited_report_on);
            });
            qb.build().execute(&mut *$tx).await?;
        }
    }};
}

/// Fetches assignment rows: `$tail` is a WHERE condition with its ORDER BY
/// and LIMIT, `$args` its values; from `$source` (a table or subquery named
/// `assignments`, see [`as_of_source`]) when given.
macro_rules! fetch_assignments {
    ($exec:expr, $tail:expr, $args:expr) => {{ fetch_assignments!($exec, "assignments", $tail, $args) }};
    ($exec:expr, $source:expr, $tail:expr, $args:expr) => {{
        let sql = format!(
            "SELECT {ASSIGNMENT_COLUMNS}, moved_on, moved_to, moved_from FROM {} WHERE {}",
            $source, $tail
        );
        let rows: Vec<AssignmentRow> = bind_args!(sqlx::query_as(AssertSqlSafe(sql)), $args)
            .fetch_all($exec)
            .await?;
        rows
    }};
}

/// Applies an action to one assignment inside a write transaction: reads
/// the row, runs [`actions::apply`], writes it under a version guard, records
/// the audit entry and request id, and appends the feed entry (taking the
/// counter last, so its lock is held briefly). Evaluates to the re-read assignment.
macro_rules! act_in_tx {
    ($tx:ident, $db:ident, $task_id:expr, $unit_id:expr, $action:expr, $m:expr, $resource:expr) => {{
        let (task_id, unit_id, action, m, resource): (&str, &str, &Action, &Mutation, &String) =
            ($task_id, $unit_id, $action, $m, $resource);
        let key = [Arg::Text(task_id.into()), Arg::Text(unit_id.into())];
        let current = fetch_assignments!(&mut *$tx, "task_id = $1 AND unit_id = $2", &key)
            .pop()
            .ok_or_else(|| StoreError::NotFound(resource.clone()))?
            .into_assignment()?;
        if m.expected_version.is_some_and(|v| v != current.version) {
            return Err(StoreError::Stale(resource.clone(), current.version));
        }
        let history = history_in_tx!($tx, task_id, unit_id);
        let (next, mut change) =
            actions::apply(&current, &history, action, &m.actor, m.at, m.today)
                .map_err(|(field, reason, msg)| StoreError::Precondition(field, reason, msg))?;
        let updated = sqlx::query(
            "UPDATE assignments SET role = $1, deadline = $2, deadline_version = $3, period = $4, progress = $5, \
             completed_on = $6, cancelled_on = $7, last_report_on = $8, version = $9, updated_at = $10 \
             WHERE task_id = $11 AND unit_id = $12 AND version = $13",
        )
        .bind(next.role.as_str())
        .bind(next.deadline)
        .bind(next.deadline_version)
        .bind(next.period.map(|p| p.as_str()))
        .bind(next.progress)
        .bind(next.completed_on)
        .bind(next.cancelled_on)
        .bind(next.last_report_on)
        .bind(next.version)
        .bind(next.updated_at)
        .bind(task_id.to_string())
        .bind(unit_id.to_string())
        .bind(current.version)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(StoreError::Conflict(resource.clone()));
        }
        let after = fetch_assignments!(&mut *$tx, "task_id = $1 AND unit_id = $2", &key)
            .pop()
            .ok_or_else(|| StoreError::NotFound(resource.clone()))?
            .into_assignment()?;
        // A retry answers what this action answered.
        let first = crate::domain::model::Acted {
            today: m.today,
            assignment: after.clone(),
        };
        record!(
            $tx,
            m,
            action_name(action),
            resource.clone(),
            actions::audit_detail(task_id, unit_id, action, m.entered_by.as_deref()),
            first.to_record()
        );
        change.sequence = take_sequences!($tx, 1);
        change.trace_context = m.trace_context.clone();
        insert_changes!($tx, $db, [change.clone()]);
        update_spans!($tx, $db, &after, history, change);
        after
    }};
}

/// An assignment's history (its changes in the order recorded), read
/// inside a transaction.
macro_rules! history_in_tx {
    ($tx:expr, $task_id:expr, $unit_id:expr) => {{
        let rows: Vec<$crate::store::sql::ChangeRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {}, NULL AS title, NULL AS task_group, NULL AS period, \
             NULL AS number, NULL AS role FROM changes \
             WHERE task_id = $1 AND unit_id = $2 ORDER BY sequence",
            $crate::store::sql::CHANGE_COLUMNS
        )))
        .bind($task_id.to_string())
        .bind($unit_id.to_string())
        .fetch_all(&mut *$tx)
        .await?;
        rows.into_iter()
            .map($crate::store::sql::ChangeRow::into_change)
            .collect::<$crate::store::StoreResult<Vec<$crate::domain::model::Change>>>()?
    }};
}

/// Replaces the stored spans of days of assignment `$a` with those its
/// history `$history` makes ([`history::spans`]), inside a transaction.
macro_rules! put_spans {
    ($tx:expr, $db:ty, $a:expr, $history:expr) => {{
        let a: &$crate::domain::model::Assignment = $a;
        sqlx::query("DELETE FROM assignment_states WHERE task_id = $1 AND unit_id = $2")
            .bind(a.task_id.clone())
            .bind(a.unit_id.clone())
            .execute(&mut *$tx)
            .await?;
        let spans = $crate::domain::history::spans(a, $history);
        insert_spans!($tx, $db, a, &spans);
    }};
}

/// Pushes one span of assignment `$a` in [`STATE_COLUMNS`] order.
macro_rules! push_span {
    ($b:expr, $a:expr, $span:expr) => {
        $b.push_bind($a.task_id.clone())
            .push_bind($a.unit_id.clone())
            .push_bind($a.directive_id.clone())
            .push_bind($a.group.as_str())
            .push_bind($a.role.as_str())
            .push_bind($a.created_on)
            .push_bind($a.created_at)
            .push_bind($span.from)
            .push_bind($span.until.unwrap_or($crate::store::sql::OPEN_END))
            .push_bind($span.state.deadline)
            .push_bind($span.state.deadline_version)
            .push_bind($span.state.progress)
            .push_bind($span.state.completed_on)
            .push_bind($span.state.cancelled_on)
            .push_bind($span.state.last_report_on)
            .push_bind($span.state.moved_on)
    };
}

/// Inserts spans of days of assignment `$a` inside a transaction.
macro_rules! insert_spans {
    ($tx:expr, $db:ty, $a:expr, $spans:expr) => {{
        let a: &$crate::domain::model::Assignment = $a;
        let spans: &[$crate::domain::history::Span] = $spans;
        if !spans.is_empty() {
            let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                "INSERT INTO assignment_states ({}) ",
                $crate::store::sql::STATE_COLUMNS
            ));
            qb.push_values(spans, |mut b, span| {
                push_span!(b, a, span);
            });
            qb.build().execute(&mut *$tx).await?;
        }
    }};
}

/// The stored span of assignment `$a` that ends the day before `$until`
/// (the last one when `$until` is [`OPEN_END`]), inside a transaction.
macro_rules! span_until {
    ($tx:expr, $a:expr, $until:expr) => {{
        let row: Option<$crate::store::sql::SpanFromRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT valid_from, {} FROM assignment_states \
             WHERE task_id = $1 AND unit_id = $2 AND valid_until = $3",
            $crate::store::sql::DAY_STATE_COLUMNS
        )))
        .bind($a.task_id.clone())
        .bind($a.unit_id.clone())
        .bind($until)
        .fetch_optional(&mut *$tx)
        .await?;
        row.map(|r| $crate::domain::history::Span {
            from: r.valid_from,
            until: None,
            state: r.state.into_state(),
        })
    }};
}

/// Brings the stored spans of assignment `$a` up to date with `$change`,
/// the change just recorded after every other of `$history`, inside a
/// transaction: the last span extended ([`history::extend`]) when the
/// change took effect on or after its first day, else every span derived
/// again.
macro_rules! update_spans {
    ($tx:expr, $db:ty, $a:expr, $history:expr, $change:expr) => {{
        use $crate::domain::history::{Extension, Span};
        let a: &$crate::domain::model::Assignment = $a;
        let change: $crate::domain::model::Change = $change;
        let last: Option<Span> = span_until!($tx, a, $crate::store::sql::OPEN_END);
        let extension = last
            .as_ref()
            .and_then(|l| $crate::domain::history::extend(a, l, &change).map(|e| (l.from, e)));
        match extension {
            Some((_, Extension::Unchanged)) => {}
            Some((from, Extension::Replace(state))) => {
                // Back to the state of the span before it: one span again.
                let previous: Option<Span> = span_until!($tx, a, from);
                if let Some(previous) = previous.filter(|p| p.state == state) {
                    sqlx::query(
                        "DELETE FROM assignment_states WHERE task_id = $1 AND unit_id = $2 AND valid_from = $3",
                    )
                    .bind(a.task_id.clone())
                    .bind(a.unit_id.clone())
                    .bind(from)
                    .execute(&mut *$tx)
                    .await?;
                    sqlx::query(
                        "UPDATE assignment_states SET valid_until = $1 \
                         WHERE task_id = $2 AND unit_id = $3 AND valid_from = $4",
                    )
                    .bind($crate::store::sql::OPEN_END)
                    .bind(a.task_id.clone())
                    .bind(a.unit_id.clone())
                    .bind(previous.from)
                    .execute(&mut *$tx)
                    .await?;
                } else {
                sqlx::query(
                    "UPDATE assignment_states SET deadline = $1, deadline_version = $2, progress = $3, \
                     completed_on = $4, cancelled_on = $5, last_report_on = $6, moved_on = $7 \
                     WHERE task_id = $8 AND unit_id = $9 AND valid_from = $10",
                )
                .bind(state.deadline)
                .bind(state.deadline_version)
                .bind(state.progress)
                .bind(state.completed_on)
                .bind(state.cancelled_on)
                .bind(state.last_report_on)
                .bind(state.moved_on)
                .bind(a.task_id.clone())
                .bind(a.unit_id.clone())
                .bind(from)
                .execute(&mut *$tx)
                .await?;
                }
            }
            Some((last_from, Extension::Split { from, state })) => {
                sqlx::query(
                    "UPDATE assignment_states SET valid_until = $1 \
                     WHERE task_id = $2 AND unit_id = $3 AND valid_from = $4",
                )
                .bind(from)
                .bind(a.task_id.clone())
                .bind(a.unit_id.clone())
                .bind(last_from)
                .execute(&mut *$tx)
                .await?;
                let span = Span {
                    from,
                    until: None,
                    state,
                };
                insert_spans!($tx, $db, a, std::slice::from_ref(&span));
            }
            None => {
                let mut history: Vec<$crate::domain::model::Change> = $history;
                history.push(change);
                put_spans!($tx, $db, a, &history);
            }
        }
    }};
}

/// The dated columns of a span, in [`StateRow`]'s order.
const DAY_STATE_COLUMNS: &str =
    "deadline, deadline_version, progress, completed_on, cancelled_on, last_report_on, moved_on";

/// A span's dated columns as stored.
#[derive(FromRow)]
struct StateRow {
    deadline: Option<NaiveDate>,
    deadline_version: i32,
    progress: i32,
    completed_on: Option<NaiveDate>,
    cancelled_on: Option<NaiveDate>,
    last_report_on: Option<NaiveDate>,
    moved_on: Option<NaiveDate>,
}

impl StateRow {
    fn into_state(self) -> history::DayState {
        history::DayState {
            deadline: self.deadline,
            deadline_version: self.deadline_version,
            progress: self.progress,
            completed_on: self.completed_on,
            cancelled_on: self.cancelled_on,
            last_report_on: self.last_report_on,
            moved_on: self.moved_on,
        }
    }
}

/// A stored span's first day and state.
#[derive(FromRow)]
struct SpanFromRow {
    valid_from: NaiveDate,
    #[sqlx(flatten)]
    state: StateRow,
}

/// The columns of `assignment_states`, in [`put_spans!`]'s order.
const STATE_COLUMNS: &str = "task_id, unit_id, directive_id, task_group, role, created_on, created_at, \
     valid_from, valid_until, deadline, deadline_version, \
     progress, completed_on, cancelled_on, last_report_on, moved_on";

/// `valid_until` of a span that has not ended.
const OPEN_END: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d,
    None => panic!("9999-12-31 is a date"),
};

const DIRECTIVE_COLUMNS: &str = "id, number, kind, issuer, issue_date, title, link, created_at";
const TASK_COLUMNS: &str = "id, directive_id, title, description, task_group, deadline_date, deadline_working_days, period, created_at";
const ASSIGNMENT_COLUMNS: &str = "task_id, unit_id, role, directive_id, task_group, title, deadline, deadline_version, period, \
     progress, completed_on, cancelled_on, last_report_on, created_on, version, created_at, updated_at";
const CHANGE_COLUMNS: &str = "sequence, kind, task_id, unit_id, directive_id, deadline, deadline_version, percent, note, evidence_link, actor, at, trace_context, effective_on, inherited_report_on";

/// The feed as read: each change with its task's context.
const FEED_COLUMNS: &str = "c.sequence, c.kind, c.task_id, c.unit_id, c.directive_id, c.deadline, \
     c.deadline_version, c.percent, c.note, c.evidence_link, c.actor, c.at, c.trace_context, c.effective_on, \
     c.inherited_report_on, \
     t.title, t.task_group, \
     t.period, d.number, a.role";

fn decode_err(what: &str) -> StoreError {
    StoreError::Db(sqlx::Error::Decode(what.to_string().into()))
}

fn parse<T: FromStr>(what: &str, s: &str) -> StoreResult<T> {
    s.parse().map_err(|_| decode_err(&format!("{what} {s}")))
}

fn parse_opt<T: FromStr>(what: &str, s: Option<&str>) -> StoreResult<Option<T>> {
    s.map(|s| parse(what, s)).transpose()
}

fn bad_page_token(msg: String) -> StoreError {
    StoreError::Precondition("page_token", "INVALID_PAGE_TOKEN", msg)
}

#[derive(FromRow)]
struct DirectiveRow {
    id: String,
    number: String,
    kind: String,
    issuer: String,
    issue_date: NaiveDate,
    title: String,
    link: String,
    created_at: DateTime<Utc>,
}

impl DirectiveRow {
    fn into_directive(self) -> StoreResult<Directive> {
        Ok(Directive {
            kind: parse("directive kind", &self.kind)?,
            id: self.id,
            number: self.number,
            issuer: self.issuer,
            issue_date: self.issue_date,
            title: self.title,
            link: self.link,
            created_at: self.created_at,
        })
    }
}

#[derive(FromRow)]
struct TaskRow {
    id: String,
    directive_id: String,
    title: String,
    description: String,
    task_group: String,
    deadline_date: Option<NaiveDate>,
    deadline_working_days: Option<i32>,
    period: Option<String>,
    created_at: DateTime<Utc>,
}

impl TaskRow {
    fn into_task(self) -> StoreResult<Task> {
        let deadline = match (self.deadline_date, self.deadline_working_days) {
            (Some(d), _) => Some(DeadlineRule::Date(d)),
            (None, Some(n)) => Some(DeadlineRule::WorkingDays(
                u32::try_from(n).map_err(|_| decode_err(&format!("deadline working days {n}")))?,
            )),
            (None, None) => None,
        };
        Ok(Task {
            group: parse("task group", &self.task_group)?,
            period: parse_opt("period", self.period.as_deref())?,
            id: self.id,
            directive_id: self.directive_id,
            title: self.title,
            description: self.description,
            deadline,
            created_at: self.created_at,
        })
    }
}

#[derive(FromRow)]
struct AssignmentRow {
    task_id: String,
    unit_id: String,
    role: String,
    directive_id: String,
    task_group: String,
    title: String,
    deadline: Option<NaiveDate>,
    deadline_version: i32,
    period: Option<String>,
    progress: i32,
    completed_on: Option<NaiveDate>,
    cancelled_on: Option<NaiveDate>,
    last_report_on: Option<NaiveDate>,
    moved_on: Option<NaiveDate>,
    moved_to: Option<String>,
    moved_from: Option<String>,
    created_on: NaiveDate,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl AssignmentRow {
    fn into_assignment(self) -> StoreResult<Assignment> {
        Ok(Assignment {
            role: parse("assignee role", &self.role)?,
            group: parse("task group", &self.task_group)?,
            period: parse_opt("period", self.period.as_deref())?,
            task_id: self.task_id,
            unit_id: self.unit_id,
            directive_id: self.directive_id,
            title: self.title,
            deadline: self.deadline,
            deadline_version: self.deadline_version,
            progress: self.progress,
            completed_on: self.completed_on,
            cancelled_on: self.cancelled_on,
            last_report_on: self.last_report_on,
            moved_on: self.moved_on,
            moved_to: self.moved_to,
            moved_from: self.moved_from,
            created_on: self.created_on,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn into_assignments(rows: Vec<AssignmentRow>) -> StoreResult<Vec<Assignment>> {
    rows.into_iter()
        .map(AssignmentRow::into_assignment)
        .collect()
}

#[derive(FromRow)]
struct ChangeRow {
    sequence: i64,
    kind: String,
    task_id: String,
    unit_id: String,
    directive_id: String,
    deadline: Option<NaiveDate>,
    deadline_version: i32,
    percent: i32,
    note: String,
    evidence_link: String,
    actor: String,
    at: DateTime<Utc>,
    trace_context: String,
    effective_on: Option<NaiveDate>,
    inherited_report_on: Option<NaiveDate>,
    title: Option<String>,
    task_group: Option<String>,
    period: Option<String>,
    number: Option<String>,
    role: Option<String>,
}

impl ChangeRow {
    fn into_change(self) -> StoreResult<Change> {
        Ok(Change {
            kind: parse::<ChangeKind>("change kind", &self.kind)?,
            sequence: self.sequence,
            task_id: self.task_id,
            unit_id: self.unit_id,
            directive_id: self.directive_id,
            deadline: self.deadline,
            deadline_version: self.deadline_version,
            percent: self.percent,
            note: self.note,
            evidence_link: self.evidence_link,
            actor: self.actor,
            at: self.at,
            trace_context: self.trace_context,
            effective_on: self.effective_on,
            inherited_report_on: self.inherited_report_on,
            context: match (self.title, self.task_group, self.number) {
                (Some(title), Some(group), Some(directive_number)) => Some(ChangeContext {
                    title,
                    group: parse("task group", &group)?,
                    period: parse_opt("period", self.period.as_deref())?,
                    directive_number,
                    role: parse_opt("role", self.role.as_deref())?.unwrap_or(AssigneeRole::Lead),
                }),
                _ => None,
            },
        })
    }
}

#[derive(FromRow)]
struct DayRow {
    date: NaiveDate,
    kind: String,
    name: String,
}

fn day_kind_str(kind: DayKind) -> &'static str {
    match kind {
        DayKind::DayOff => "DAY_OFF",
        DayKind::WorkingDay => "WORKING_DAY",
    }
}

impl DayRow {
    fn into_day(self) -> StoreResult<CalendarDay> {
        let kind = match self.kind.as_str() {
            "DAY_OFF" => DayKind::DayOff,
            "WORKING_DAY" => DayKind::WorkingDay,
            other => return Err(decode_err(&format!("calendar day kind {other}"))),
        };
        Ok(CalendarDay {
            date: self.date,
            kind,
            name: self.name,
        })
    }
}

/// The audit action of an assignment action.
fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Progress { .. } => "report_progress",
        Action::Complete { .. } => "complete_assignment",
        Action::Reopen { .. } => "reopen_assignment",
        Action::Cancel { .. } => "cancel_assignment",
        Action::ChangeDeadline { .. } => "change_deadline",
    }
}

/// The assignments as they were at the end of `day`, as a subquery named
/// `assignments` with the table's columns: each row that existed then, its
/// dated columns from the span of that day (`assignment_states`), so any
/// condition or order written for the table reads the day's values. The
/// keys and scope columns come from the span, so a condition on them (a
/// unit's page in deadline order) is answered from the spans' indexes
/// before any assignment row is read.
pub(super) fn as_of_source(day: NaiveDate) -> String {
    // A formatted date is digits and hyphens only: safe to inline.
    let d = format!("'{day}'");
    format!(
        "(SELECT s.task_id, s.unit_id, a.role, s.directive_id, s.task_group, a.title, s.deadline, \
         s.deadline_version, a.period, s.progress, s.completed_on, s.cancelled_on, s.last_report_on, \
         a.created_on, a.version, a.created_at, a.updated_at, s.moved_on, a.moved_to, a.moved_from \
         FROM assignment_states s JOIN assignments a ON a.task_id = s.task_id AND a.unit_id = s.unit_id \
         WHERE s.valid_from <= {d} AND s.valid_until > {d}) AS assignments"
    )
}

/// The spans of `day` alone, as a subquery named `assignments` with the
/// columns counts and list conditions and orders read (keys, scope, role,
/// dated columns, the day made and the time recorded): what
/// [`as_of_source`] gives of them, without the join.
pub(super) fn as_of_states(day: NaiveDate) -> String {
    let d = format!("'{day}'");
    format!(
        "(SELECT task_id, unit_id, directive_id, task_group, role, created_on, created_at, deadline, \
         deadline_version, progress, completed_on, cancelled_on, last_report_on, moved_on \
         FROM assignment_states WHERE valid_from <= {d} AND valid_until > {d}) AS assignments"
    )
}

/// The WHERE condition, ORDER BY and LIMIT of an assignment page, with its
/// values (the filter's first, then the keyset's).
fn page_tail(q: &AssignmentQuery) -> StoreResult<(String, Vec<Arg>)> {
    let mut args: Vec<Arg> = Vec::new();
    let mut conds = Vec::new();
    if let Some(f) = &q.filter {
        conds.push(format!("({})", f.sql));
        args.extend(f.binds.iter().map(Arg::from));
    }
    let columns: &[&str] = match q.order {
        AssignmentOrder::Deadline => &[DEADLINE_KEY, "task_id", "unit_id"],
        AssignmentOrder::Unit => &["unit_id", "task_id"],
        AssignmentOrder::CreateTime => &["created_at", "task_id", "unit_id"],
    };
    let (cmp, dir) = if q.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some((value, task_id, unit_id)) = &q.after {
        let keys = match q.order {
            AssignmentOrder::Deadline => {
                let date = if value.is_empty() {
                    NO_DEADLINE
                } else {
                    value.as_str()
                };
                let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|e| {
                    bad_page_token(format!("bad deadline {value:?} in the page token: {e}"))
                })?;
                vec![
                    Arg::Date(date),
                    Arg::Text(task_id.clone()),
                    Arg::Text(unit_id.clone()),
                ]
            }
            AssignmentOrder::Unit => vec![Arg::Text(unit_id.clone()), Arg::Text(task_id.clone())],
            AssignmentOrder::CreateTime => {
                let at = DateTime::parse_from_rfc3339(value).map_err(|e| {
                    bad_page_token(format!(
                        "bad creation time {value:?} in the page token: {e}"
                    ))
                })?;
                vec![
                    Arg::Time(at.with_timezone(&Utc)),
                    Arg::Text(task_id.clone()),
                    Arg::Text(unit_id.clone()),
                ]
            }
        };
        conds.push(format!(
            "({}) {cmp} ({})",
            columns.join(", "),
            placeholders(args.len() + 1, keys.len())
        ));
        args.extend(keys);
    }
    let condition = if conds.is_empty() {
        "1 = 1".to_string()
    } else {
        conds.join(" AND ")
    };
    let order = columns
        .iter()
        .map(|c| format!("{c} {dir}"))
        .collect::<Vec<_>>()
        .join(", ");
    let limit = q.limit.saturating_add(1);
    Ok((format!("{condition} ORDER BY {order} LIMIT {limit}"), args))
}

impl SqlStore {
    /// Opens the database named by `url` (scheme picks the backend) and
    /// runs its migrations.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
        static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
        Ok(Self {
            pool: Pool::connect(url, &SQLITE, &POSTGRES).await?,
        })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await
    }

    /// The connection pool (for readiness checks and pool metrics).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn assignments_where(&self, tail: &str, args: &[Arg]) -> StoreResult<Vec<Assignment>> {
        let rows = on_pool!(&self.pool, |pool, _Db| fetch_assignments!(pool, tail, args));
        into_assignments(rows)
    }

    async fn changes_where(&self, tail: &str, args: &[Arg]) -> StoreResult<Vec<Change>> {
        let sql = format!(
            "SELECT {FEED_COLUMNS} FROM changes c \
             LEFT JOIN tasks t ON t.id = c.task_id \
             LEFT JOIN directives d ON d.id = c.directive_id \
             LEFT JOIN assignments a ON a.task_id = c.task_id AND a.unit_id = c.unit_id \
             WHERE {tail}"
        );
        let rows: Vec<ChangeRow> = on_pool!(&self.pool, |pool, _Db| bind_args!(
            sqlx::query_as(AssertSqlSafe(sql)),
            args
        )
        .fetch_all(pool)
        .await?);
        rows.into_iter().map(ChangeRow::into_change).collect()
    }
}

impl SqlStore {
    /// An as-of page: chosen from the day's spans alone (they hold every
    /// column a list filters and sorts on, and a unit's page in deadline
    /// order is read from one index), then those assignments' rows, with
    /// the day's dated columns, in the page's order.
    async fn page_as_of(
        &self,
        day: NaiveDate,
        tail: &str,
        args: &[Arg],
    ) -> StoreResult<Vec<Assignment>> {
        let page_sql = format!(
            "SELECT task_id, unit_id, {DAY_STATE_COLUMNS} FROM {} WHERE {tail}",
            as_of_states(day)
        );
        let spans: Vec<SpanRow> = on_pool!(&self.pool, |pool, _Db| bind_args!(
            sqlx::query_as(AssertSqlSafe(page_sql)),
            args
        )
        .fetch_all(pool)
        .await?);
        if spans.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = p06_kit::sql::json_rows(
            self.pool.backend(),
            1,
            &[
                ("task_id", p06_kit::sql::JsonType::Text),
                ("unit_id", p06_kit::sql::JsonType::Text),
            ],
        );
        let condition =
            format!("(task_id, unit_id) IN (SELECT task_id, unit_id FROM ({wanted}) AS k)");
        let json = serde_json::Value::from(
            spans
                .iter()
                .map(|s| serde_json::json!([s.task_id, s.unit_id]))
                .collect::<Vec<_>>(),
        )
        .to_string();
        let mut rows: HashMap<(String, String), Assignment> = self
            .assignments_where(&condition, &[Arg::Text(json)])
            .await?
            .into_iter()
            .map(|a| ((a.task_id.clone(), a.unit_id.clone()), a))
            .collect();
        Ok(spans
            .into_iter()
            .filter_map(|s| {
                let a = rows.remove(&(s.task_id.clone(), s.unit_id.clone()))?;
                Some(history::with_state(a, &s.state.into_state()))
            })
            .collect())
    }
}

/// An assignment's key and dated columns on one day, as a list's page
/// reads them.
#[derive(FromRow)]
struct SpanRow {
    task_id: String,
    unit_id: String,
    #[sqlx(flatten)]
    state: StateRow,
}

/// The feed entry of a new assignment: it takes effect on the day it was
/// assigned.
fn created_change(task: &Task, a: &NewAssignment, m: &Mutation, sequence: i64) -> Change {
    Change {
        sequence,
        kind: ChangeKind::Created,
        task_id: task.id.clone(),
        unit_id: a.unit_id.clone(),
        directive_id: task.directive_id.clone(),
        deadline: a.deadline,
        deadline_version: 1,
        percent: 0,
        note: String::new(),
        evidence_link: String::new(),
        actor: m.actor.clone(),
        at: m.at,
        trace_context: m.trace_context.clone(),
        effective_on: Some(a.assigned_on),
        inherited_report_on: None,
        context: None,
    }
}

fn limit_arg(limit: usize) -> Arg {
    Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX))
}

mod audit;
mod counts;
mod extensions;
mod indicators;
mod reassign;

impl TaskStore for SqlStore {
    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "create_directive tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "create_directive"))]
    async fn create_directive(&self, d: &Directive, m: &Mutation) -> StoreResult<Directive> {
        let resource = format!("directives/{}", d.id);
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO directives (id, number, kind, issuer, issue_date, title, link, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(d.id.clone())
            .bind(d.number.clone())
            .bind(d.kind.as_str())
            .bind(d.issuer.clone())
            .bind(d.issue_date)
            .bind(d.title.clone())
            .bind(d.link.clone())
            .bind(d.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Err(StoreError::AlreadyExists(resource));
            }
            record!(tx, m, "create_directive", resource.clone(), d.id.clone());
            tx.commit().await?;
        });
        self.get_directive(&d.id)
            .await?
            .ok_or(StoreError::NotFound(resource))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "get_directive tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "get_directive"))]
    async fn get_directive(&self, id: &str) -> StoreResult<Option<Directive>> {
        let sql = format!("SELECT {DIRECTIVE_COLUMNS} FROM directives WHERE id = $1");
        let row: Option<DirectiveRow> =
            on_pool!(&self.pool, |pool, _Db| sqlx::query_as(AssertSqlSafe(sql))
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?);
        row.map(DirectiveRow::into_directive).transpose()
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "list_directives tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "list_directives"))]
    async fn list_directives(
        &self,
        filter: Option<&SqlCondition>,
        after: Option<(NaiveDate, String)>,
        limit: usize,
    ) -> StoreResult<(Vec<Directive>, bool)> {
        // The filter's placeholders come first ($1..), then the keyset's.
        let mut args: Vec<Arg> = filter
            .map(|f| f.binds.iter().map(Arg::from).collect())
            .unwrap_or_default();
        let mut parts: Vec<String> = filter.map(|f| vec![f.sql.clone()]).unwrap_or_default();
        if let Some((date, id)) = after {
            args.push(Arg::Date(date));
            args.push(Arg::Text(id));
            parts.push(format!(
                "(issue_date, id) < (${}, ${})",
                args.len() - 1,
                args.len()
            ));
        }
        let condition = if parts.is_empty() {
            "1 = 1".to_string()
        } else {
            parts.join(" AND ")
        };
        let sql = format!(
            "SELECT {DIRECTIVE_COLUMNS} FROM directives WHERE {condition} ORDER BY issue_date DESC, id DESC LIMIT {}",
            limit.saturating_add(1)
        );
        let rows: Vec<DirectiveRow> = on_pool!(&self.pool, |pool, _Db| bind_args!(
            sqlx::query_as(AssertSqlSafe(sql)),
            &args
        )
        .fetch_all(pool)
        .await?);
        let mut directives = rows
            .into_iter()
            .map(DirectiveRow::into_directive)
            .collect::<StoreResult<Vec<_>>>()?;
        let more = directives.len() > limit;
        directives.truncate(limit);
        Ok((directives, more))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "create_task tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "create_task"))]
    async fn create_task(
        &self,
        task: &Task,
        assignees: &[NewAssignment],
        m: &Mutation,
    ) -> StoreResult<(Task, Vec<Assignment>)> {
        let mut units = HashSet::new();
        if let Some(dup) = assignees.iter().find(|a| !units.insert(a.unit_id.as_str())) {
            return Err(StoreError::AlreadyExists(format!(
                "tasks/{}/assignments/{}",
                task.id, dup.unit_id
            )));
        }
        let (deadline_date, deadline_days) = match task.deadline {
            Some(DeadlineRule::Date(d)) => (Some(d), None),
            Some(DeadlineRule::WorkingDays(n)) => (
                None,
                Some(i32::try_from(n).map_err(|_| {
                    StoreError::Precondition(
                        "deadline",
                        "OUT_OF_RANGE",
                        format!("{n} working days is too many"),
                    )
                })?),
            ),
            None => (None, None),
        };
        let period = task.period.map(|p| p.as_str());
        let (task_row, rows) = on_pool!(&self.pool, |pool, Db| {
            let mut tx = pool.begin_write().await?;
            let directive: Option<String> =
                sqlx::query_scalar("SELECT id FROM directives WHERE id = $1")
                    .bind(task.directive_id.clone())
                    .fetch_optional(&mut *tx)
                    .await?;
            if directive.is_none() {
                return Err(StoreError::NotFound(format!(
                    "directives/{}",
                    task.directive_id
                )));
            }
            let inserted = sqlx::query(
                "INSERT INTO tasks (id, directive_id, title, description, task_group, deadline_date, deadline_working_days, \
                 period, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(task.id.clone())
            .bind(task.directive_id.clone())
            .bind(task.title.clone())
            .bind(task.description.clone())
            .bind(task.group.as_str())
            .bind(deadline_date)
            .bind(deadline_days)
            .bind(period)
            .bind(task.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Err(StoreError::AlreadyExists(format!("tasks/{}", task.id)));
            }
            for chunk in assignees.chunks(500) {
                let mut qb = sqlx::QueryBuilder::<Db>::new(format!(
                    "INSERT INTO assignments ({ASSIGNMENT_COLUMNS}) "
                ));
                qb.push_values(chunk, |mut b, a| {
                    b.push_bind(task.id.clone())
                        .push_bind(a.unit_id.clone())
                        .push_bind(a.role.as_str())
                        .push_bind(task.directive_id.clone())
                        .push_bind(task.group.as_str())
                        .push_bind(task.title.clone())
                        .push_bind(a.deadline)
                        .push_bind(1_i32)
                        .push_bind(period)
                        .push_bind(0_i32)
                        .push_bind(None::<NaiveDate>)
                        .push_bind(None::<NaiveDate>)
                        .push_bind(None::<NaiveDate>)
                        .push_bind(a.assigned_on)
                        .push_bind(1_i64)
                        .push_bind(m.at)
                        .push_bind(m.at);
                });
                qb.build().execute(&mut *tx).await?;
            }
            let task_row: TaskRow = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"
            )))
            .bind(task.id.clone())
            .fetch_one(&mut *tx)
            .await?;
            let rows = into_assignments(fetch_assignments!(
                &mut *tx,
                "task_id = $1",
                &[Arg::Text(task.id.clone())]
            ))?;
            record!(
                tx,
                m,
                "create_task",
                format!("tasks/{}", task.id),
                task.id.clone()
            );
            // The new rows' spans, in batches: each starts with its
            // creation (nothing to replace).
            let created: HashMap<&str, &NewAssignment> =
                assignees.iter().map(|a| (a.unit_id.as_str(), a)).collect();
            let mut spans: Vec<(&Assignment, Vec<history::Span>)> = Vec::new();
            for row in &rows {
                if let Some(a) = created.get(row.unit_id.as_str()) {
                    let made = created_change(task, a, m, 0);
                    spans.push((row, history::spans(row, std::slice::from_ref(&made))));
                }
            }
            for chunk in spans.chunks(500) {
                let mut qb = sqlx::QueryBuilder::<Db>::new(format!(
                    "INSERT INTO assignment_states ({STATE_COLUMNS}) "
                ));
                let flat = chunk
                    .iter()
                    .flat_map(|(a, s)| s.iter().map(move |span| (*a, span)));
                qb.push_values(flat, |mut b, (a, span)| {
                    push_span!(b, a, span);
                });
                qb.build().execute(&mut *tx).await?;
            }
            // The counter row stays locked until commit: take it last.
            if !assignees.is_empty() {
                let first = take_sequences!(tx, assignees.len());
                let changes: Vec<Change> = assignees
                    .iter()
                    .zip(first..)
                    .map(|(a, sequence)| created_change(task, a, m, sequence))
                    .collect();
                insert_changes!(tx, Db, changes);
            }
            tx.commit().await?;
            (task_row, rows)
        });
        let mut assignments = rows;
        assignments.sort_by_key(|a| assignees.iter().position(|n| n.unit_id == a.unit_id));
        Ok((task_row.into_task()?, assignments))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "get_task tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "get_task"))]
    async fn get_task(&self, id: &str) -> StoreResult<Option<Task>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        let row: Option<TaskRow> =
            on_pool!(&self.pool, |pool, _Db| sqlx::query_as(AssertSqlSafe(sql))
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?);
        row.map(TaskRow::into_task).transpose()
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "get_assignment tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "get_assignment"))]
    async fn get_assignment(
        &self,
        task_id: &str,
        unit_id: &str,
    ) -> StoreResult<Option<Assignment>> {
        let args = [Arg::Text(task_id.into()), Arg::Text(unit_id.into())];
        Ok(self
            .assignments_where("task_id = $1 AND unit_id = $2", &args)
            .await?
            .pop())
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "list_assignments tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "list_assignments"))]
    async fn list_assignments(&self, q: &AssignmentQuery) -> StoreResult<AssignmentPage> {
        let (tail, args) = page_tail(q)?;
        let mut assignments = match q.as_of {
            None => self.assignments_where(&tail, &args).await?,
            Some(day) => self.page_as_of(day, &tail, &args).await?,
        };
        let more = assignments.len() > q.limit;
        assignments.truncate(q.limit);
        Ok(AssignmentPage { assignments, more })
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "all_assignments tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "all_assignments"))]
    async fn all_assignments(
        &self,
        filter: Option<&SqlCondition>,
        as_of: Option<NaiveDate>,
    ) -> StoreResult<Vec<Assignment>> {
        let (condition, args) = match filter {
            Some(f) => (
                format!("({})", f.sql),
                f.binds.iter().map(Arg::from).collect(),
            ),
            None => ("1 = 1".to_string(), Vec::new()),
        };
        let tail = format!("{condition} ORDER BY {DEADLINE_KEY}, task_id, unit_id");
        let source = as_of.map_or_else(|| "assignments".to_string(), as_of_source);
        let rows = on_pool!(&self.pool, |pool, _Db| fetch_assignments!(
            pool, source, tail, &args
        ));
        into_assignments(rows)
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "assignment_as_of tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "assignment_as_of"))]
    async fn assignment_as_of(
        &self,
        task_id: &str,
        unit_id: &str,
        day: NaiveDate,
    ) -> StoreResult<Option<Assignment>> {
        let args = [Arg::Text(task_id.into()), Arg::Text(unit_id.into())];
        let source = as_of_source(day);
        let rows = on_pool!(&self.pool, |pool, _Db| fetch_assignments!(
            pool,
            source,
            "task_id = $1 AND unit_id = $2",
            &args
        ));
        Ok(into_assignments(rows)?.pop())
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "rebuild_states tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "rebuild_states"))]
    async fn rebuild_states(&self, limit: usize) -> StoreResult<usize> {
        let missing = "NOT EXISTS (SELECT 1 FROM assignment_states s \
             WHERE s.task_id = assignments.task_id AND s.unit_id = assignments.unit_id) \
             ORDER BY task_id, unit_id LIMIT $1";
        Ok(on_pool!(&self.pool, |pool, Db| {
            let mut tx = pool.begin_write().await?;
            let rows =
                into_assignments(fetch_assignments!(&mut *tx, missing, &[limit_arg(limit)]))?;
            for a in &rows {
                let mut history = history_in_tx!(tx, a.task_id, a.unit_id);
                // Changes recorded before days were kept get theirs now, so
                // that no day depends on the row's current columns later.
                let last_completion = history
                    .iter()
                    .rposition(|c| c.kind == ChangeKind::Completed);
                let reported = history.iter().any(|c| c.kind == ChangeKind::Progress);
                for (i, c) in history.iter_mut().enumerate() {
                    let inherit = c.kind == ChangeKind::Created
                        && a.moved_from.is_some()
                        && !reported
                        && c.inherited_report_on.is_none();
                    if c.effective_on.is_some() && !inherit {
                        continue;
                    }
                    c.effective_on = Some(history::effective_on(c, a, Some(i) == last_completion));
                    if inherit {
                        c.inherited_report_on = a.last_report_on;
                    }
                    sqlx::query(
                        "UPDATE changes SET effective_on = $1, inherited_report_on = $2 WHERE sequence = $3",
                    )
                    .bind(c.effective_on)
                    .bind(c.inherited_report_on)
                    .bind(c.sequence)
                    .execute(&mut *tx)
                    .await?;
                }
                put_spans!(tx, Db, a, &history);
            }
            tx.commit().await?;
            rows.len()
        }))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "act tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "act"))]
    async fn act(
        &self,
        task_id: &str,
        unit_id: &str,
        action: &Action,
        m: &Mutation,
    ) -> StoreResult<Assignment> {
        let resource = format!("tasks/{task_id}/assignments/{unit_id}");
        let row = on_pool!(&self.pool, |pool, Db| {
            let mut tx = pool.begin_write().await?;
            let after = act_in_tx!(tx, Db, task_id, unit_id, action, m, &resource);
            tx.commit().await?;
            after
        });
        Ok(row)
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "feed_head tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "feed_head"))]
    async fn feed_head(&self) -> StoreResult<i64> {
        let sql = "SELECT COALESCE(MAX(sequence), 0) FROM changes";
        Ok(on_pool!(&self.pool, |pool, _Db| {
            sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await?
        }))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "changes_after tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "changes_after"))]
    async fn changes_after(&self, sequence: i64, limit: usize) -> StoreResult<Vec<Change>> {
        let args = [Arg::Int(sequence), limit_arg(limit)];
        self.changes_where("c.sequence > $1 ORDER BY c.sequence LIMIT $2", &args)
            .await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "events_of tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "events_of"))]
    async fn events_of(
        &self,
        task_id: &str,
        unit_id: &str,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<Change>> {
        let args = [
            Arg::Text(task_id.into()),
            Arg::Text(unit_id.into()),
            Arg::Int(after),
            limit_arg(limit),
        ];
        self.changes_where(
            "c.task_id = $1 AND c.unit_id = $2 AND c.sequence > $3 ORDER BY c.sequence LIMIT $4",
            &args,
        )
        .await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "recall tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "recall"))]
    async fn recall(&self, method: &str, request_id: &str) -> StoreResult<Option<String>> {
        let sql = "SELECT result FROM request_log WHERE method = $1 AND request_id = $2";
        Ok(on_pool!(&self.pool, |pool, _Db| sqlx::query_scalar(sql)
            .bind(method.to_string())
            .bind(request_id.to_string())
            .fetch_optional(pool)
            .await?))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "calendar tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "calendar"))]
    async fn calendar(&self) -> StoreResult<Vec<CalendarDay>> {
        let sql = "SELECT date, kind, name FROM calendar_days ORDER BY date";
        let rows: Vec<DayRow> = on_pool!(&self.pool, |pool, _Db| sqlx::query_as(sql)
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(DayRow::into_day).collect()
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "replace_calendar_year tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "replace_calendar_year"))]
    async fn replace_calendar_year(
        &self,
        year: i32,
        days: &[CalendarDay],
        m: &Mutation,
    ) -> StoreResult<()> {
        let (Some(first), Some(last)) = (
            NaiveDate::from_ymd_opt(year, 1, 1),
            NaiveDate::from_ymd_opt(year, 12, 31),
        ) else {
            return Err(StoreError::Precondition(
                "year",
                "OUT_OF_RANGE",
                format!("{year} is not a supported year"),
            ));
        };
        let mut dates = HashSet::new();
        for d in days {
            if d.date.year() != year {
                return Err(StoreError::Precondition(
                    "days",
                    "OUTSIDE_YEAR",
                    format!("{} is not in {year}", d.date),
                ));
            }
            if !dates.insert(d.date) {
                return Err(StoreError::Precondition(
                    "days",
                    "DUPLICATE_DATE",
                    format!("{} is listed twice", d.date),
                ));
            }
        }
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            // Claim the year first: a concurrent seed of it waits, then skips it.
            sqlx::query(
                "INSERT INTO calendar_years (year, source, updated_at) VALUES ($1, 'admin', $2) \
                 ON CONFLICT (year) DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at",
            )
            .bind(year)
            .bind(m.at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM calendar_days WHERE date >= $1 AND date <= $2")
                .bind(first)
                .bind(last)
                .execute(&mut *tx)
                .await?;
            for d in days {
                sqlx::query("INSERT INTO calendar_days (date, kind, name) VALUES ($1, $2, $3)")
                    .bind(d.date)
                    .bind(day_kind_str(d.kind))
                    .bind(d.name.clone())
                    .execute(&mut *tx)
                    .await?;
            }
            record!(
                tx,
                m,
                "replace_calendar_year",
                format!("calendar/{year}"),
                year.to_string()
            );
            tx.commit().await?;
        });
        Ok(())
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "seed_calendar tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "seed_calendar"))]
    async fn seed_calendar(&self, days: &[CalendarDay]) -> StoreResult<()> {
        let mut by_year: BTreeMap<i32, Vec<&CalendarDay>> = BTreeMap::new();
        for d in days {
            by_year.entry(d.date.year()).or_default().push(d);
        }
        let at = Utc::now();
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let marked: Vec<i32> = sqlx::query_scalar("SELECT year FROM calendar_years")
                .fetch_all(&mut *tx)
                .await?;
            let stored: Vec<NaiveDate> = sqlx::query_scalar("SELECT date FROM calendar_days")
                .fetch_all(&mut *tx)
                .await?;
            let present: HashSet<i32> = marked
                .into_iter()
                .chain(stored.iter().map(|d| d.year()))
                .collect();
            for (year, days) in by_year.iter().filter(|(y, _)| !present.contains(*y)) {
                // Claiming the year serializes with a concurrent replacement
                // or seed of it; only the claimant loads the days.
                let claimed = sqlx::query(
                    "INSERT INTO calendar_years (year, source, updated_at) VALUES ($1, 'seed', $2) ON CONFLICT (year) DO NOTHING",
                )
                .bind(*year)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if claimed == 0 {
                    continue;
                }
                for d in days {
                    sqlx::query("INSERT INTO calendar_days (date, kind, name) VALUES ($1, $2, $3) ON CONFLICT (date) DO NOTHING")
                        .bind(d.date)
                        .bind(day_kind_str(d.kind))
                        .bind(d.name.clone())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "request_extension tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "request_extension"))]
    async fn request_extension(&self, e: &Extension, m: &Mutation) -> StoreResult<Extension> {
        self.insert_extension(e, m).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "list_extensions tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "list_extensions"))]
    async fn list_extensions(&self, task_id: &str, unit_id: &str) -> StoreResult<Vec<Extension>> {
        self.extensions_of(task_id, unit_id).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "decide_extension tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "decide_extension"))]
    async fn decide_extension(
        &self,
        task_id: &str,
        unit_id: &str,
        id: &str,
        decision: &Decision,
        m: &Mutation,
    ) -> StoreResult<(Extension, Assignment)> {
        self.decide(task_id, unit_id, id, decision, m).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "move_assignment tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "move_assignment"))]
    async fn move_assignment(
        &self,
        task_id: &str,
        from: &str,
        to: &str,
        on: NaiveDate,
        m: &Mutation,
    ) -> StoreResult<Option<Assignment>> {
        SqlStore::move_assignment(self, task_id, from, to, on, m).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "open_units tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "open_units"))]
    async fn open_units(&self) -> StoreResult<Vec<String>> {
        let sql = "SELECT DISTINCT unit_id FROM assignments \
                   WHERE completed_on IS NULL AND cancelled_on IS NULL AND moved_on IS NULL ORDER BY unit_id";
        Ok(on_pool!(&self.pool, |pool, _Db| sqlx::query_scalar(sql)
            .fetch_all(pool)
            .await?))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "working_day_tasks tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "working_day_tasks"))]
    async fn working_day_tasks(&self) -> StoreResult<Vec<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE deadline_working_days IS NOT NULL ORDER BY id"
        );
        let rows: Vec<TaskRow> =
            on_pool!(&self.pool, |pool, _Db| sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?);
        rows.into_iter().map(TaskRow::into_task).collect()
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "create_indicator tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "create_indicator"))]
    async fn create_indicator(&self, k: &Indicator, m: &Mutation) -> StoreResult<Indicator> {
        self.insert_indicator(k, m).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "list_indicators tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "list_indicators"))]
    async fn list_indicators(&self) -> StoreResult<Vec<Indicator>> {
        self.indicators(None).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "get_indicator tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "get_indicator"))]
    async fn get_indicator(&self, id: &str) -> StoreResult<Option<Indicator>> {
        Ok(self.indicators(Some(id)).await?.pop())
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "record_value tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "record_value"))]
    async fn record_value(&self, v: &Value, m: &Mutation) -> StoreResult<Value> {
        self.insert_value(v, m).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "values_as_of tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "values_as_of"))]
    async fn values_as_of(&self, indicator: &str, as_of: NaiveDate) -> StoreResult<Vec<Value>> {
        self.latest_values(indicator, as_of).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "audit_log tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "audit_log"))]
    async fn audit_log(
        &self,
        resource_prefix: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.audit_page(resource_prefix, before, limit).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "count_deadline_statuses tasks", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "tasks", db.operation.name = "count_deadline_statuses"))]
    async fn count_deadline_statuses(
        &self,
        scope: Option<&(&'static str, String)>,
        as_of: NaiveDate,
        by_unit: bool,
    ) -> StoreResult<Vec<(String, Counts)>> {
        self.deadline_counts(scope, as_of, by_unit).await
    }
}
