//! Storage of directives, tasks, assignments, the change feed and the
//! calendar behind one trait speaking domain types; [`sql::SqlStore`]
//! implements it on SQLite and PostgreSQL. Every assignment change is
//! written with its feed entry in one transaction, and feed sequence numbers
//! are handed out in commit order (a counter row locked by the writing
//! transaction), so a consumer resuming after sequence N never misses a
//! change that commits later with a smaller number.

#[cfg(test)]
mod conformance;
pub mod sql;

use crate::domain::{
    actions::Action,
    calendar::CalendarDay,
    extension::{Decision, Extension},
    indicator::{Indicator, Value},
    model::{AssigneeRole, Assignment, Change, Directive, Task},
    summary::Counts,
};
use chrono::{DateTime, NaiveDate, Utc};
use p06_kit::filter::SqlCondition;
use std::future::Future;

pub use sql::SqlStore;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such resource ("directives/…", "tasks/…/assignments/…").
    #[error("{0} not found")]
    NotFound(String),
    /// The id is taken.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A concurrent change won; read again.
    #[error("{0} changed concurrently")]
    Conflict(String),
    /// The resource's version is not the one the caller expected:
    /// (resource, current version).
    #[error("{0} is at version {1}")]
    Stale(String, i64),
    /// A domain rule refused the change: (field, reason, message).
    #[error("{2}")]
    Precondition(&'static str, &'static str, String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Who makes a change, and the request id that makes retries idempotent.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// "apiKeys/…" or "service".
    pub actor: String,
    /// The RPC ("ReportProgress").
    pub method: &'static str,
    /// Caller-scoped idempotency key.
    pub request_id: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// The Vietnamese date of `at`.
    pub today: NaiveDate,
    /// W3C `traceparent` of the call making the change (empty when
    /// untraced), stored with every feed row it writes.
    pub trace_context: String,
    /// When set, an assignment change is made only if the assignment still
    /// has this version, checked inside the write's transaction (the
    /// caller's etag), else [`StoreError::Stale`].
    pub expected_version: Option<i64>,
    /// The caller's unit ("units/…") when it acts on another unit's
    /// assignment (a COORDINATOR entering a report on its behalf), named
    /// in the audit entry.
    pub entered_by: Option<String>,
}

/// An assignee of a new task, with its computed deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAssignment {
    /// Unit id.
    pub unit_id: String,
    /// Role.
    pub role: AssigneeRole,
    /// Deadline (None for recurring duties).
    pub deadline: Option<NaiveDate>,
    /// The day it was assigned: the directive's date, also when the task is
    /// recorded later.
    pub assigned_on: NaiveDate,
}

/// One recorded mutation.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Position (increasing).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On which resource.
    pub resource: String,
    /// The caller-scoped request id, if any.
    pub request_id: String,
    /// The outcome recorded.
    pub detail: String,
}

/// Order of an assignment list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentOrder {
    /// Deadline (recurring duties last), then task, then unit.
    Deadline,
    /// Unit, then task.
    Unit,
    /// Creation, then task, then unit.
    CreateTime,
}

/// A page request over assignments.
#[derive(Debug, Clone)]
pub struct AssignmentQuery {
    /// Condition over assignment columns (placeholders from `$1`).
    pub filter: Option<SqlCondition>,
    /// Sort key.
    pub order: AssignmentOrder,
    /// Descending.
    pub descending: bool,
    /// Keyset: (sort value, task id, unit id) of the last row served.
    pub after: Option<(String, String, String)>,
    /// Page size.
    pub limit: usize,
    /// Rows as they were at the end of this day, and only those that
    /// existed then (the filter and order read them so); today's rows when
    /// `None`.
    pub as_of: Option<NaiveDate>,
}

/// A page of assignments.
#[derive(Debug, Clone)]
pub struct AssignmentPage {
    /// The rows.
    pub assignments: Vec<Assignment>,
    /// Whether more follow.
    pub more: bool,
}

/// The tasks store.
pub trait TaskStore: Send + Sync + 'static {
    /// Records a directive; AlreadyExists when its id is taken.
    fn create_directive(
        &self,
        d: &Directive,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<Directive>> + Send;
    /// One directive.
    fn get_directive(
        &self,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<Directive>>> + Send;
    /// Directives matching `filter` by issue date (newest first), then id,
    /// after a keyset.
    fn list_directives(
        &self,
        filter: Option<&SqlCondition>,
        after: Option<(NaiveDate, String)>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<(Vec<Directive>, bool)>> + Send;
    /// Writes a task, its assignments and one CREATED change each.
    fn create_task(
        &self,
        task: &Task,
        assignees: &[NewAssignment],
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<(Task, Vec<Assignment>)>> + Send;
    /// One task.
    fn get_task(&self, id: &str) -> impl Future<Output = StoreResult<Option<Task>>> + Send;
    /// One assignment.
    fn get_assignment(
        &self,
        task_id: &str,
        unit_id: &str,
    ) -> impl Future<Output = StoreResult<Option<Assignment>>> + Send;
    /// A page of assignments.
    fn list_assignments(
        &self,
        q: &AssignmentQuery,
    ) -> impl Future<Output = StoreResult<AssignmentPage>> + Send;
    /// Every assignment matching a condition (for summaries); with `as_of`,
    /// those that existed at the end of that day, as they were then.
    fn all_assignments(
        &self,
        filter: Option<&SqlCondition>,
        as_of: Option<NaiveDate>,
    ) -> impl Future<Output = StoreResult<Vec<Assignment>>> + Send;
    /// One assignment as it was at the end of `day` (its history up to then,
    /// [`crate::domain::history`]); `None` if it did not exist then.
    fn assignment_as_of(
        &self,
        task_id: &str,
        unit_id: &str,
        day: NaiveDate,
    ) -> impl Future<Output = StoreResult<Option<Assignment>>> + Send;
    /// Derives the stored spans of days of up to `limit` assignments that
    /// have none (rows written before spans were kept); returns how many.
    /// Run until 0 at start.
    fn rebuild_states(&self, limit: usize) -> impl Future<Output = StoreResult<usize>> + Send;
    /// Applies an action (see [`crate::domain::actions::apply`]) to one
    /// assignment, writing the row, its feed entry and the request id in one
    /// transaction.
    fn act(
        &self,
        task_id: &str,
        unit_id: &str,
        action: &Action,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<Assignment>> + Send;
    /// The newest feed sequence (0 when the feed is empty).
    fn feed_head(&self) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Feed entries after `sequence`, oldest first.
    fn changes_after(
        &self,
        sequence: i64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Change>>> + Send;
    /// One assignment's feed entries after `sequence`.
    fn events_of(
        &self,
        task_id: &str,
        unit_id: &str,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Change>>> + Send;
    /// The result recorded for a caller-scoped request id.
    fn recall(
        &self,
        method: &str,
        request_id: &str,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;
    /// Every calendar exception.
    fn calendar(&self) -> impl Future<Output = StoreResult<Vec<CalendarDay>>> + Send;
    /// Replaces one year's exceptions.
    fn replace_calendar_year(
        &self,
        year: i32,
        days: &[CalendarDay],
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Loads the shipped exceptions for every year that has none yet.
    fn seed_calendar(&self, days: &[CalendarDay]) -> impl Future<Output = StoreResult<()>> + Send;
    /// Records an extension request; Precondition when one is pending.
    fn request_extension(
        &self,
        e: &Extension,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<Extension>> + Send;
    /// One assignment's extension requests, oldest first.
    fn list_extensions(
        &self,
        task_id: &str,
        unit_id: &str,
    ) -> impl Future<Output = StoreResult<Vec<Extension>>> + Send;
    /// Decides a pending request; an approval changes the assignment's
    /// deadline (with its feed entry) in the same transaction.
    fn decide_extension(
        &self,
        task_id: &str,
        unit_id: &str,
        id: &str,
        decision: &Decision,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<(Extension, Assignment)>> + Send;
    /// Moves one open assignment of `from` to `to` from day `on` (see
    /// `sql/reassign.rs`); `None` when it was no longer open.
    fn move_assignment(
        &self,
        task_id: &str,
        from: &str,
        to: &str,
        on: NaiveDate,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<Option<Assignment>>> + Send;
    /// Units holding at least one open assignment.
    fn open_units(&self) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Tasks whose deadline is counted in working days.
    fn working_day_tasks(&self) -> impl Future<Output = StoreResult<Vec<Task>>> + Send;
    /// Defines an indicator; AlreadyExists when the id is taken.
    fn create_indicator(
        &self,
        k: &Indicator,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<Indicator>> + Send;
    /// Every indicator.
    fn list_indicators(&self) -> impl Future<Output = StoreResult<Vec<Indicator>>> + Send;
    /// One indicator.
    fn get_indicator(
        &self,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<Indicator>>> + Send;
    /// Appends a recorded value.
    fn record_value(
        &self,
        v: &Value,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<Value>> + Send;
    /// Each unit's latest value dated on or before `as_of`.
    fn values_as_of(
        &self,
        indicator: &str,
        as_of: NaiveDate,
    ) -> impl Future<Output = StoreResult<Vec<Value>>> + Send;
    /// Audit entries whose resource starts with `resource_prefix`, newest
    /// first, with ids below `before`.
    fn audit_log(
        &self,
        resource_prefix: &str,
        before: Option<i64>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<AuditEntry>>> + Send;
    /// Status counts as of a date of the assignments with a deadline, in
    /// the database: all together (one row, unit "") or per unit. `scope`
    /// is one (column, value) equality: unit_id, directive_id or task_group.
    fn count_deadline_statuses(
        &self,
        scope: Option<&(&'static str, String)>,
        as_of: NaiveDate,
        by_unit: bool,
    ) -> impl Future<Output = StoreResult<Vec<(String, Counts)>>> + Send;
}
