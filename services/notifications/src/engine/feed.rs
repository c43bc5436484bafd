//! Follows the tasks change feed into the reminder schedule. Each batch of
//! changes is applied in one transaction together with the new cursor, so
//! a restart of either service resumes exactly where the last commit left
//! off: no change lost, none applied twice. Replicas may all follow the
//! feed; the one whose batch commits first moves the cursor and the others
//! resume from it.

use super::{Engine, producer};
use crate::{
    domain::{Kind, Period, StepKey},
    store::{FeedOp, NotificationStore, Schedule},
};
use chrono::{Days, NaiveDate};
use futures::{FutureExt, StreamExt};
use p06_kit::{Shutdown, clock::vietnam_offset};
use p06_proto::tasks::v1::{self as pb, ChangeKind};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tracing::Instrument as _;

/// The most changes applied in one transaction.
const BATCH: usize = 500;

/// Follows the feed until shutdown, reconnecting after failures.
pub async fn run<S: NotificationStore>(engine: Arc<Engine<S>>, shutdown: Shutdown) {
    let mut delay = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        match follow(&engine, &shutdown).await {
            Ok(()) => delay = Duration::from_millis(100),
            Err(error) => {
                tracing::warn!(%error, "tasks feed interrupted; reconnecting");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.wait() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Reads the feed from the stored cursor and applies it batch by batch;
/// returns when another replica moved the cursor (to resume from it) or at
/// shutdown.
async fn follow<S: NotificationStore>(
    engine: &Engine<S>,
    shutdown: &Shutdown,
) -> Result<(), String> {
    if !engine.ready() {
        engine.refresh().await?;
    }
    let mut cursor = engine
        .store
        .feed_cursor()
        .await
        .map_err(|e| e.to_string())?;
    crate::metrics::set_cursor(cursor);
    let mut stream = engine
        .remote
        .tasks()
        .watch_changes(pb::WatchChangesRequest {
            after_sequence: cursor,
        })
        .await
        .map_err(|s| format!("watch changes: {}", s.message()))?
        .into_inner();
    loop {
        let first = tokio::select! {
            next = stream.next() => next,
            () = shutdown.wait() => return Ok(()),
        };
        let mut batch = match first {
            Some(Ok(change)) => vec![change],
            Some(Err(s)) => return Err(format!("feed: {}", s.message())),
            None => return Err("the tasks feed closed".into()),
        };
        while batch.len() < BATCH {
            match stream.next().now_or_never() {
                Some(Some(Ok(change))) => batch.push(change),
                _ => break,
            }
        }
        batch.retain(|c| c.sequence > cursor);
        let Some(last) = batch.last().map(|c| c.sequence) else {
            continue;
        };
        let span = apply_span(&batch, cursor, last);
        let applied = async {
            // The policies as they stand now (another replica may have
            // changed one), for the schedules this batch starts.
            engine.reload_policies().await?;
            let ops = ops_for(engine, &batch).await?;
            engine
                .store
                .apply_feed(cursor, &ops, last)
                .await
                .map_err(|e| e.to_string())
                .map(|applied| (applied, ops.len()))
        }
        .instrument(span)
        .await?;
        let (applied, ops) = applied;
        if !applied {
            tracing::debug!(
                cursor,
                "feed cursor moved by another replica; resuming from it"
            );
            return Ok(());
        }
        tracing::debug!(from = cursor, to = last, ops, "applied tasks feed");
        cursor = last;
        crate::metrics::set_cursor(cursor);
        engine.produce_kick.notify_one();
    }
}

/// The most changes a batch's span links to.
const MAX_LINKS: usize = 128;

/// The CONSUMER span of one batch, linked to the calls that made its
/// changes (their stored trace context).
fn apply_span(batch: &[pb::Change], from: i64, to: i64) -> tracing::Span {
    let span = tracing::info_span!(
        "feed.apply",
        otel.name = "apply tasks.changes",
        otel.kind = "consumer",
        messaging.operation.name = "process",
        messaging.batch.message_count = batch.len(),
        p06.feed.from = from,
        p06.feed.to = to,
    );
    for change in batch.iter().take(MAX_LINKS) {
        p06_kit::trace_context::link_to(&span, &change.trace_context);
    }
    span
}

/// The schedule changes a batch of feed entries makes, several changes to
/// one assignment folded in order.
async fn ops_for<S: NotificationStore>(
    engine: &Engine<S>,
    batch: &[pb::Change],
) -> Result<Vec<FeedOp>, String> {
    let mut keys: Vec<(String, String)> = batch.iter().filter_map(key_of).collect();
    keys.sort();
    keys.dedup();
    let mut current: HashMap<(String, String), Option<Schedule>> = engine
        .store
        .schedules(&keys)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|s| ((s.task_id.clone(), s.unit_id.clone()), Some(s)))
        .collect();
    let mut order = Vec::new();
    for change in batch {
        let Some(key) = key_of(change) else {
            continue;
        };
        let before = current.get(&key).cloned().flatten();
        let after = next_schedule(engine, change, &key, before.as_ref());
        if !order.contains(&key) {
            order.push(key.clone());
        }
        current.insert(key, after);
    }
    Ok(order
        .into_iter()
        .map(|key| match current.remove(&key).flatten() {
            Some(s) => FeedOp::Put(s),
            None => FeedOp::Remove {
                task_id: key.0,
                unit_id: key.1,
            },
        })
        .collect())
}

fn key_of(c: &pb::Change) -> Option<(String, String)> {
    let task = c.task.strip_prefix("tasks/")?;
    let unit = c.unit.strip_prefix("units/")?;
    Some((task.to_string(), unit.to_string()))
}

/// An assignment's schedule after one change; `None` when it is owed
/// nothing more.
fn next_schedule<S: NotificationStore>(
    engine: &Engine<S>,
    c: &pb::Change,
    key: &(String, String),
    before: Option<&Schedule>,
) -> Option<Schedule> {
    let kind = ChangeKind::try_from(c.kind).unwrap_or(ChangeKind::Unspecified);
    if matches!(
        kind,
        ChangeKind::Completed
            | ChangeKind::Cancelled
            | ChangeKind::Reassigned
            | ChangeKind::Unspecified
    ) {
        return None;
    }
    let deadline: Option<NaiveDate> = c.deadline.parse().ok();
    let period = pb::ReportingPeriod::try_from(c.reporting_period)
        .ok()
        .and_then(|p| p.as_str_name().parse::<Period>().ok());
    if deadline.is_none() && period.is_none() {
        return None;
    }
    let changed_on = c
        .time
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map_or_else(
            || engine.clock.today(),
            |t| t.with_timezone(&vietnam_offset()).date_naive(),
        );
    let restart = match before {
        None => true,
        Some(b) => {
            matches!(kind, ChangeKind::Created | ChangeKind::Reopened)
                || b.deadline_version != c.deadline_version
                || b.deadline != deadline
        }
    };
    let (since, last) = match before {
        Some(b) if !restart => (b.since, b.last),
        _ => (changed_on, Some(start_key(changed_on))),
    };
    let group = pb::TaskGroup::try_from(c.group)
        .ok()
        .map(|g| {
            g.as_str_name()
                .trim_start_matches("TASK_GROUP_")
                .to_string()
        })
        .unwrap_or_default();
    let directive_id = c
        .directive
        .strip_prefix("directives/")
        .unwrap_or(&c.directive);
    let mut s = Schedule {
        task_id: key.0.clone(),
        unit_id: key.1.clone(),
        directive_id: directive_id.to_string(),
        directive_number: c.directive_number.clone(),
        title: c.task_title.clone(),
        group,
        period,
        since,
        deadline,
        deadline_version: c.deadline_version,
        generation: c.sequence,
        acked: Vec::<Kind>::new(),
        last,
        next_due_ms: None,
        urgent: false,
        cause: c.trace_context.clone(),
    };
    let policy = engine.policies().resolve(&s.directive_id, &s.group);
    s.urgent = policy.urgent;
    s.next_due_ms = producer::next_due(&engine.office, &engine.calendar(), &policy, &s);
    Some(s)
}

/// The ladder position of a schedule (re)started on `day`: steps from that
/// day on are owed, earlier ones are not.
pub fn start_key(day: NaiveDate) -> StepKey {
    StepKey {
        date: day.checked_sub_days(Days::new(1)).unwrap_or(day),
        rank: u8::MAX,
    }
}
