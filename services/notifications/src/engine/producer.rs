//! The scheduling pass: lease the schedules whose next reminder may go out
//! now, work out which steps of their ladder fell due (only the latest for
//! the assignee when several did, an escalation always), render them and
//! store them with their deliveries, and move each schedule on to its next
//! step. The dedupe key makes a repeated pass (after a crash, or on another
//! replica) produce nothing twice.

use super::{Engine, Pace, Policies};
use crate::{
    domain::ladder::OfficeHours,
    domain::{
        Kind, Policy, Step, Target,
        ladder::{collapse_stale, due_steps, next_step},
        render::{Content, Lang, render},
    },
    store::{Channel, Evaluated, Notification, NotificationStore, Replan, Schedule, StoredPolicy},
};
use chrono::{DateTime, NaiveDate, Utc};
use p06_kit::calendar::Calendar;

/// How long a claimed schedule stays leased to this replica (ms).
const LEASE_MS: i64 = 60_000;
/// A schedule whose evaluation failed is retried after this long (ms).
const RETRY_MS: i64 = 60_000;

/// What the ladder of a schedule counts from.
pub fn target_of(s: &Schedule) -> Option<Target> {
    match (s.deadline, s.period) {
        (Some(d), _) => Some(Target::Deadline(d)),
        (None, Some(period)) => Some(Target::Periodic {
            period,
            since: s.since,
        }),
        (None, None) => None,
    }
}

/// When the schedule's next step may go out (Unix ms), if it has one.
pub fn next_due(
    office: &OfficeHours,
    cal: &Calendar,
    policy: &Policy,
    s: &Schedule,
) -> Option<i64> {
    let target = target_of(s)?;
    let step = next_step(policy, cal, target, s.last)?;
    Some(
        office
            .send_time(cal, step.date, policy.urgent)
            .timestamp_millis(),
    )
}

/// The re-planning a policy change does in its transaction: each schedule
/// of the page under the policy that governs it once the change is made
/// (its directive's, else its group's, else the default ladder) — its
/// urgency and when its next step may go out.
pub fn replanner(office: OfficeHours, cal: Calendar) -> Box<Replan<'static>> {
    Box::new(move |stored: &[StoredPolicy], page: &[Schedule]| {
        let policies = Policies::from_stored(stored.iter().cloned());
        page.iter()
            .map(|s| {
                let policy = policies.resolve(&s.directive_id, &s.group);
                (policy.urgent, next_due(&office, &cal, &policy, s))
            })
            .collect()
    })
}

/// One pass over up to a batch of due schedules: [`Pace::Again`] when a
/// full batch was found (more may be waiting), else how long until the
/// next schedule falls due.
pub async fn pass<S: NotificationStore>(engine: &Engine<S>) -> Result<Pace, String> {
    if !engine.ready() {
        engine.refresh().await?;
    }
    let now = engine.now();
    let now_ms = now.timestamp_millis();
    let cal = engine.calendar();
    let open = engine.office.is_open(&cal, now);
    // One commit locks its batch in one statement: keep it well inside
    // both backends' bind-parameter limits.
    let batch = engine.config.batch_size.clamp(1, 5000);
    let claimed = engine
        .store
        .claim_schedules(now_ms, open, now_ms + LEASE_MS, batch)
        .await
        .map_err(|e| e.to_string())?;
    let full = claimed.len() == batch;
    if !claimed.is_empty() {
        // The policies as they stand, read after the claim: a change made
        // before it is seen here, one made after it took the leases back
        // (so this evaluation will not be committed).
        engine.reload_policies().await?;
        produce(engine, &cal, now, claimed).await?;
    }
    if full {
        return Ok(Pace::Again);
    }
    let next = engine
        .store
        .next_due_after(now_ms)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Pace::Idle(next.map(|at| {
        let ms = at.saturating_sub(engine.now().timestamp_millis()).max(0);
        std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    })))
}

/// Evaluates claimed schedules and commits what they produced.
async fn produce<S: NotificationStore>(
    engine: &Engine<S>,
    cal: &Calendar,
    now: DateTime<Utc>,
    claimed: Vec<Schedule>,
) -> Result<(), String> {
    engine
        .remote
        .prefetch_endpoints(claimed.iter().map(|s| s.unit_id.clone()).collect())
        .await;
    let now_ms = now.timestamp_millis();
    let policies = engine.policies();
    let mut evaluated = Vec::with_capacity(claimed.len());
    for s in claimed {
        evaluated.push(evaluate(engine, cal, &policies, s, now).await);
    }
    let written = engine
        .store
        .commit_evaluated(evaluated, now_ms)
        .await
        .map_err(|e| e.to_string())?;
    announce(engine, &written);
    Ok(())
}

/// Counts new notifications and tells the dispatcher and the streams.
pub fn announce<S>(engine: &Engine<S>, written: &[Notification]) {
    let reminders = &crate::metrics::get().reminders;
    for n in written {
        reminders.add(1, &[opentelemetry::KeyValue::new("kind", n.kind.as_str())]);
    }
    if let Some(max) = written.iter().map(|n| n.seq).max() {
        tracing::debug!(count = written.len(), "produced notifications");
        engine.produced.send_if_modified(|v| {
            let newer = max > *v;
            if newer {
                *v = max;
            }
            newer
        });
        engine.dispatch_kick.notify_one();
    }
}

async fn evaluate<S: NotificationStore>(
    engine: &Engine<S>,
    cal: &Calendar,
    policies: &Policies,
    s: Schedule,
    now: DateTime<Utc>,
) -> Evaluated {
    let policy = policies.resolve(&s.directive_id, &s.group);
    let mut out = Evaluated {
        task_id: s.task_id.clone(),
        unit_id: s.unit_id.clone(),
        generation: s.generation,
        last: s.last,
        next_due_ms: None,
        urgent: policy.urgent,
        notifications: Vec::new(),
    };
    let Some(target) = target_of(&s) else {
        return out;
    };
    let today = now
        .with_timezone(&p06_kit::clock::vietnam_offset())
        .date_naive();
    let due: Vec<Step> = due_steps(&policy, cal, target, s.last, today)
        .into_iter()
        .filter(|step| engine.office.send_time(cal, step.date, policy.urgent) <= now)
        .collect();
    if let Some(last) = due.last() {
        out.last = Some(last.key());
    }
    for step in collapse_stale(due) {
        if s.acked.contains(&step.kind) {
            continue;
        }
        match build(engine, cal, &s, &step, today, policy.urgent).await {
            Ok(Some(n)) => out.notifications.push(n),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(task = %s.task_id, unit = %s.unit_id, %error, "cannot build reminder; retrying later");
                out.last = s.last;
                out.notifications.clear();
                out.next_due_ms = Some(now.timestamp_millis() + RETRY_MS);
                return out;
            }
        }
    }
    let moved = Schedule {
        last: out.last,
        ..s
    };
    out.next_due_ms = next_due(&engine.office, cal, &policy, &moved);
    out
}

/// The notification for one step, with its channels; `None` when it has no
/// recipient (an escalation for a unit without a supervisor).
async fn build<S: NotificationStore>(
    engine: &Engine<S>,
    cal: &Calendar,
    s: &Schedule,
    step: &Step,
    today: NaiveDate,
    urgent: bool,
) -> Result<Option<(Notification, Vec<Channel>)>, String> {
    let remote = |e: tonic::Status| e.message().to_string();
    let recipient = if step.kind == Kind::Escalation {
        match engine
            .remote
            .supervisor(&s.unit_id, today)
            .await
            .map_err(remote)?
        {
            Some(unit) => unit,
            None => return Ok(None),
        }
    } else {
        s.unit_id.clone()
    };
    let (days_left, days_overdue) = match step.kind {
        Kind::DueSoon | Kind::PeriodReportDue | Kind::DueToday => {
            (cal.working_days_between(today, step.deadline), 0)
        }
        _ => (0, cal.working_days_between(step.deadline, today)),
    };
    let unit_name = if step.kind == Kind::Escalation {
        engine
            .remote
            .display_name(&s.unit_id)
            .await
            .map_err(remote)?
    } else {
        String::new()
    };
    let content = Content {
        kind: step.kind,
        directive_number: s.directive_number.clone(),
        task_title: s.title.clone(),
        deadline: Some(step.deadline),
        working_days: if days_overdue > 0 {
            days_overdue
        } else {
            days_left
        },
        unit_name,
        period: s.period,
        digest: Vec::new(),
        open: 0,
        overdue: 0,
    };
    let channels = channels_for(engine, &recipient).await?;
    let notification = Notification {
        seq: 0,
        id: new_id(),
        dedupe_key: format!(
            "{}|{}|{}|v{}|{}|{}",
            step.kind.as_str(),
            s.task_id,
            s.unit_id,
            s.deadline_version,
            step.date,
            recipient
        ),
        unit_id: recipient,
        kind: step.kind,
        task_id: s.task_id.clone(),
        assignee_id: s.unit_id.clone(),
        directive_id: s.directive_id.clone(),
        directive_number: s.directive_number.clone(),
        title: s.title.clone(),
        deadline: Some(step.deadline),
        days_left: i32::try_from(days_left).unwrap_or(i32::MAX),
        days_overdue: i32::try_from(days_overdue).unwrap_or(i32::MAX),
        text_vi: render(&content, Lang::Vi),
        text_en: render(&content, Lang::En),
        digest: Vec::new(),
        cause: s.cause.clone(),
        due_ms: engine
            .office
            .send_time(cal, step.date, urgent)
            .timestamp_millis(),
        created_ms: 0,
        acked_ms: None,
    };
    Ok(Some((notification, channels)))
}

/// The push channels a unit has configured.
pub async fn channels_for<S>(engine: &Engine<S>, unit_id: &str) -> Result<Vec<Channel>, String> {
    let endpoints = engine
        .remote
        .endpoints(unit_id)
        .await
        .map_err(|e| e.message().to_string())?;
    let mut channels = Vec::new();
    if endpoints.webhook_url.is_some() {
        channels.push(Channel::Webhook);
    }
    if engine.config.smtp.enabled() && !endpoints.emails.is_empty() {
        channels.push(Channel::Email);
    }
    Ok(channels)
}

/// A new stable notification id ("msg_…", time-ordered).
pub fn new_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}
