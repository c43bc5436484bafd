//! Storage of the reminder schedule, notifications, deliveries, the
//! delivery ledger and policies behind one trait; [`sql::SqlStore`]
//! implements it on SQLite and PostgreSQL.
//!
//! The guarantees live here: the feed cursor moves in the same transaction
//! as the schedule changes it causes; a notification's dedupe key (unit,
//! assignment, kind, deadline version, date) is unique, so no reminder is
//! produced twice; schedules and deliveries are claimed with row leases
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so replicas share the work;
//! stream cursors are handed out in commit order.

#[cfg(test)]
mod conformance;
pub mod sql;

use crate::domain::{Kind, Period, StepKey};
use chrono::NaiveDate;
use p06_kit::filter::SqlCondition;
use serde::{Deserialize, Serialize};
use std::future::Future;

pub use sql::SqlStore;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such resource.
    #[error("{0} not found")]
    NotFound(String),
    /// The id or scope is taken.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The etag sent is stale: (resource, current etag).
    #[error("{0} changed since it was read")]
    EtagMismatch(String, String),
    /// The resource is not in a state that allows this: (field, message).
    #[error("{1}")]
    Precondition(&'static str, String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// One open assignment's place in its reminder ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Task id.
    pub task_id: String,
    /// The unit carrying it out.
    pub unit_id: String,
    /// Directive id.
    pub directive_id: String,
    /// "344/TB-VPCP".
    pub directive_number: String,
    /// The task's title.
    pub title: String,
    /// The task group's stored name.
    pub group: String,
    /// Reporting period of a recurring duty.
    pub period: Option<Period>,
    /// The day the ladder (re)started: steps before it are not owed.
    pub since: NaiveDate,
    /// Current deadline.
    pub deadline: Option<NaiveDate>,
    /// Current deadline version.
    pub deadline_version: i32,
    /// Feed sequence of the last change applied.
    pub generation: i64,
    /// Kinds acknowledged since that change: not repeated.
    pub acked: Vec<Kind>,
    /// The last step handled.
    pub last: Option<StepKey>,
    /// When the next step may go out (Unix ms); `None` when nothing is left.
    pub next_due_ms: Option<i64>,
    /// The policy sends outside office hours.
    pub urgent: bool,
    /// W3C `traceparent` of the last change applied (the one that set the
    /// schedule as it is), which the reminders it produces link back to
    /// (empty when untraced).
    pub cause: String,
}

/// A schedule change decided from the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedOp {
    /// Create or replace the schedule.
    Put(Schedule),
    /// The assignment is done, cancelled or moved away: no more reminders.
    Remove {
        /// Task id.
        task_id: String,
        /// Unit id.
        unit_id: String,
    },
}

/// A line of a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestItem {
    /// Task id.
    pub task_id: String,
    /// "344/TB-VPCP".
    pub directive_number: String,
    /// Title.
    pub title: String,
    /// Deadline.
    pub deadline: Option<NaiveDate>,
    /// Past its deadline.
    pub overdue: bool,
}

/// A notification as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Stream position (0 before it is written).
    pub seq: i64,
    /// Stable id ("msg_…").
    pub id: String,
    /// Unique per reminder.
    pub dedupe_key: String,
    /// Recipient.
    pub unit_id: String,
    /// Kind.
    pub kind: Kind,
    /// Task id (empty for a digest).
    pub task_id: String,
    /// The unit the assignment belongs to.
    pub assignee_id: String,
    /// Directive id.
    pub directive_id: String,
    /// Directive number.
    pub directive_number: String,
    /// Task title.
    pub title: String,
    /// Deadline (or the period's close).
    pub deadline: Option<NaiveDate>,
    /// Working days left.
    pub days_left: i32,
    /// Working days overdue.
    pub days_overdue: i32,
    /// Vietnamese text.
    pub text_vi: String,
    /// English text.
    pub text_en: String,
    /// Digest lines.
    pub digest: Vec<DigestItem>,
    /// When it fell due (Unix ms).
    pub due_ms: i64,
    /// When it was produced (Unix ms).
    pub created_ms: i64,
    /// When it was acknowledged.
    pub acked_ms: Option<i64>,
    /// W3C `traceparent` of the change behind it (its schedule's cause):
    /// each delivery attempt's span links to it.
    pub cause: String,
}

/// Push channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Signed webhook.
    Webhook,
    /// E-mail.
    Email,
}

p06_kit::str_enum!(Channel, prefixes = ["CHANNEL_"], {
    Webhook = "WEBHOOK",
    Email = "EMAIL",
});

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for an attempt.
    Pending,
    /// Accepted by the receiver.
    Delivered,
    /// Gave up; redrive sends it again.
    DeadLetter,
}

p06_kit::str_enum!(DeliveryState, prefixes = ["DELIVERY_STATE_"], {
    Pending = "PENDING",
    Delivered = "DELIVERED",
    DeadLetter = "DEAD_LETTER",
});

/// One notification's delivery over one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The notification.
    pub notification_id: String,
    /// Channel.
    pub channel: Channel,
    /// Recipient unit.
    pub unit_id: String,
    /// The notification's stream position.
    pub seq: i64,
    /// State.
    pub state: DeliveryState,
    /// Attempts made in all (the ledger keeps each).
    pub attempts: i32,
    /// Attempts made before the last redrive; the budget counts from here.
    pub redrive_base: i32,
    /// Next attempt (Unix ms) while pending.
    pub next_attempt_ms: i64,
    /// Last failure.
    pub last_error: String,
    /// When it fell due.
    pub due_ms: i64,
    /// When it was delivered.
    pub delivered_ms: Option<i64>,
}

/// One entry of the delivery ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The notification.
    pub notification_id: String,
    /// Channel.
    pub channel: Channel,
    /// 1, 2, …
    pub attempt: i32,
    /// Accepted.
    pub success: bool,
    /// HTTP status or SMTP code; 0 when none came back.
    pub response_code: i32,
    /// Failure, if any.
    pub error: String,
    /// Duration.
    pub latency_ms: i64,
    /// When it ended (Unix ms).
    pub at_ms: i64,
}

/// What a finished attempt changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// The ledger entry.
    pub attempt: Attempt,
    /// The delivery's state after it.
    pub state: DeliveryState,
    /// Next attempt when still pending.
    pub next_attempt_ms: i64,
}

/// A claimed delivery with its notification.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The delivery.
    pub delivery: Delivery,
    /// What to send.
    pub notification: Notification,
}

/// The outcome of evaluating one claimed schedule.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// Task id.
    pub task_id: String,
    /// Unit id.
    pub unit_id: String,
    /// The generation it was claimed at: a change since wins.
    pub generation: i64,
    /// New ladder position.
    pub last: Option<StepKey>,
    /// Next send time.
    pub next_due_ms: Option<i64>,
    /// Whether its policy now sends outside office hours.
    pub urgent: bool,
    /// Notifications to produce, each with its push channels.
    pub notifications: Vec<(Notification, Vec<Channel>)>,
}

/// A reminder policy as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    /// Id.
    pub id: String,
    /// Directive scope.
    pub directive_id: Option<String>,
    /// Group scope (stored name).
    pub group: Option<String>,
    /// The ladder.
    pub rules: Vec<crate::domain::Rule>,
    /// Sends outside office hours.
    pub urgent: bool,
    /// Changes on every update.
    pub version: i32,
    /// Created (Unix ms).
    pub created_ms: i64,
    /// Updated (Unix ms).
    pub updated_ms: i64,
}

/// How a policy change re-plans the schedules it may govern, inside its
/// transaction: given every policy as it stands after the change and a page
/// of schedules of the changed policy's scope, each schedule's urgency and
/// next due time (Unix ms), in the page's order.
pub type Replan<'a> =
    dyn Fn(&[StoredPolicy], &[Schedule]) -> Vec<(bool, Option<i64>)> + Send + Sync + 'a;

/// Which schedules a policy or calendar change touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every schedule.
    All,
    /// A directive's.
    Directive(String),
    /// A task group's.
    Group(String),
}

/// Who changed something and the request id that makes retries idempotent.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// "apiKeys/…".
    pub actor: String,
    /// The RPC.
    pub method: &'static str,
    /// Caller-scoped idempotency key.
    pub request_id: Option<String>,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// A page request: the filter's SQL and the position after which to start.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// Unit id; `None` for every unit.
    pub unit_id: Option<String>,
    /// Filter condition over the table's columns.
    pub condition: Option<SqlCondition>,
    /// Start after this stream position (lists go newest first).
    pub before_seq: Option<i64>,
    /// With `before_seq`, for rows sharing a position (a notification's
    /// deliveries): start after this channel name.
    pub before_tiebreak: Option<String>,
    /// Rows to return.
    pub limit: usize,
}

/// Storage for the notifications service.
pub trait NotificationStore: Send + Sync + 'static {
    /// The last tasks feed sequence applied.
    fn feed_cursor(&self) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Deliveries waiting to be sent or retried, in every unit.
    fn count_pending(&self) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Applies schedule changes and moves the cursor to `cursor` in one
    /// transaction; `false` (and nothing written) when another replica
    /// already applied past `from` (the cursor the batch was read after).
    fn apply_feed(
        &self,
        from: i64,
        ops: &[FeedOp],
        cursor: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// The schedules of these assignments (those that exist).
    fn schedules(
        &self,
        keys: &[(String, String)],
    ) -> impl Future<Output = StoreResult<Vec<Schedule>>> + Send;
    /// Leases up to `limit` schedules due by `now_ms` (only urgent ones when
    /// offices are closed) until `lease_until_ms`.
    fn claim_schedules(
        &self,
        now_ms: i64,
        office_open: bool,
        lease_until_ms: i64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Schedule>>> + Send;
    /// The earliest time after `now_ms` at which a schedule falls due, if
    /// any: the producer sleeps until then rather than a whole tick.
    fn next_due_after(&self, now_ms: i64) -> impl Future<Output = StoreResult<Option<i64>>> + Send;
    /// Writes what evaluating claimed schedules produced: each schedule whose
    /// generation still matches moves on and its new notifications (not yet
    /// produced under their dedupe keys) are stored with their deliveries.
    /// Returns the notifications written.
    fn commit_evaluated(
        &self,
        evaluated: Vec<Evaluated>,
        now_ms: i64,
    ) -> impl Future<Output = StoreResult<Vec<Notification>>> + Send;
    /// Stores notifications not tied to a schedule (digests), skipping those
    /// already produced under their dedupe keys; returns those written.
    fn produce(
        &self,
        notifications: Vec<(Notification, Vec<Channel>)>,
        now_ms: i64,
    ) -> impl Future<Output = StoreResult<Vec<Notification>>> + Send;
    /// Makes the schedules in `scope` due now, to be evaluated again.
    fn touch_schedules(
        &self,
        scope: &Scope,
        now_ms: i64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Open schedules per unit, for digests: (unit, schedules) in unit order.
    fn open_schedules_by_unit(
        &self,
    ) -> impl Future<Output = StoreResult<Vec<(String, Vec<Schedule>)>>> + Send;
    /// Whether the digest for `month` ("2025-01") was completed.
    fn digest_done(&self, month: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Records the digest for `month` as completed.
    fn mark_digest_done(
        &self,
        month: &str,
        now_ms: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// A unit's notification (any unit's when `unit_id` is `None`).
    fn notification(
        &self,
        unit_id: Option<&str>,
        id: &str,
    ) -> impl Future<Output = StoreResult<Notification>> + Send;
    /// Notifications newest first.
    fn list_notifications(
        &self,
        page: &PageQuery,
    ) -> impl Future<Output = StoreResult<Vec<Notification>>> + Send;
    /// A unit's notifications after a stream position, oldest first.
    fn notifications_after(
        &self,
        unit_id: &str,
        after_seq: i64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Notification>>> + Send;
    /// Marks a notification acknowledged (the first time wins) and stops
    /// repeats of its kind for its assignment until the assignment changes.
    fn acknowledge(
        &self,
        unit_id: Option<&str>,
        id: &str,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<Notification>> + Send;

    /// Leases up to `limit` pending deliveries due by `now_ms`, skipping the
    /// units in `busy`.
    fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        busy: &[String],
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Claimed>>> + Send;
    /// Gives leased deliveries back unsent (to be claimed again at once).
    fn release_deliveries(
        &self,
        keys: &[(String, Channel)],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Records finished attempts and the deliveries' new states.
    fn record_attempts(
        &self,
        results: &[AttemptResult],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A notification's deliveries.
    fn deliveries_of(
        &self,
        notification_ids: &[String],
    ) -> impl Future<Output = StoreResult<Vec<Delivery>>> + Send;
    /// Deliveries newest first.
    fn list_deliveries(
        &self,
        page: &PageQuery,
    ) -> impl Future<Output = StoreResult<Vec<Delivery>>> + Send;
    /// A notification's ledger.
    fn attempts(
        &self,
        notification_id: &str,
    ) -> impl Future<Output = StoreResult<Vec<Attempt>>> + Send;
    /// Makes a delivery pending and due now with a fresh attempt budget.
    fn redrive(
        &self,
        unit_id: &str,
        notification_id: &str,
        channel: Channel,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<Delivery>> + Send;

    /// Creates a policy and, in the same transaction, re-plans the
    /// schedules of its scope with `replan`; a retried request id returns
    /// the first result.
    fn create_policy(
        &self,
        p: &StoredPolicy,
        m: &Mutation,
        replan: &Replan<'_>,
    ) -> impl Future<Output = StoreResult<StoredPolicy>> + Send;
    /// One policy.
    fn policy(&self, id: &str) -> impl Future<Output = StoreResult<StoredPolicy>> + Send;
    /// Every policy, by id.
    fn policies(&self) -> impl Future<Output = StoreResult<Vec<StoredPolicy>>> + Send;
    /// Replaces rules and urgency and, in the same transaction, re-plans
    /// the schedules of the policy's scope with `replan`;
    /// `expected_version` must match when set.
    fn update_policy(
        &self,
        p: &StoredPolicy,
        expected_version: Option<i32>,
        m: &Mutation,
        replan: &Replan<'_>,
    ) -> impl Future<Output = StoreResult<StoredPolicy>> + Send;
    /// Deletes a policy and, in the same transaction, re-plans the
    /// schedules of its scope with `replan`; `expected_version` must match
    /// when set.
    fn delete_policy(
        &self,
        id: &str,
        expected_version: Option<i32>,
        m: &Mutation,
        replan: &Replan<'_>,
    ) -> impl Future<Output = StoreResult<StoredPolicy>> + Send;
}
