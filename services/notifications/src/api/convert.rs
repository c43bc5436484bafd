//! Between stored notifications, deliveries and policies and their proto
//! and webhook (JSON) forms; policy input is validated here, naming the
//! offending field.

use crate::{
    domain::{Kind, Rule},
    error::{NotificationsError, Result},
    store::{Attempt, Channel, Delivery, DeliveryState, Notification, StoredPolicy},
};
use chrono::{DateTime, Utc};
use p06_proto::{notifications::v1 as pb, tasks::v1::TaskGroup};
use prost_types::Timestamp;
use serde_json::json;

/// The longest ladder offset accepted (a working-day year).
const MAX_WORKING_DAYS: i32 = 250;

/// Unix ms → proto timestamp.
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The proto number of a kind.
pub fn kind_number(kind: Kind) -> i32 {
    pb::NotificationKind::from_str_name(&format!("NOTIFICATION_KIND_{}", kind.as_str()))
        .map_or(0, i32::from)
}

fn channel_number(c: Channel) -> i32 {
    pb::Channel::from_str_name(&format!("CHANNEL_{}", c.as_str())).map_or(0, i32::from)
}

fn state_number(s: DeliveryState) -> i32 {
    pb::DeliveryState::from_str_name(&format!("DELIVERY_STATE_{}", s.as_str())).map_or(0, i32::from)
}

/// "units/{unit}/notifications/{id}".
pub fn notification_name(n: &Notification) -> String {
    format!("units/{}/notifications/{}", n.unit_id, n.id)
}

/// "…/deliveries/{webhook|email}".
pub fn delivery_name(d: &Delivery) -> String {
    format!(
        "units/{}/notifications/{}/deliveries/{}",
        d.unit_id,
        d.notification_id,
        d.channel.as_str().to_ascii_lowercase()
    )
}

fn assignment_name(n: &Notification) -> String {
    if n.task_id.is_empty() {
        String::new()
    } else {
        format!("tasks/{}/assignments/{}", n.task_id, n.assignee_id)
    }
}

/// Notification → proto, with its deliveries.
pub fn notification_to_pb(n: Notification, deliveries: Vec<Delivery>) -> pb::Notification {
    pb::Notification {
        name: notification_name(&n),
        kind: kind_number(n.kind),
        unit: format!("units/{}", n.unit_id),
        assignment: assignment_name(&n),
        assignee: format!("units/{}", n.assignee_id),
        directive: if n.directive_id.is_empty() {
            String::new()
        } else {
            format!("directives/{}", n.directive_id)
        },
        directive_number: n.directive_number,
        task_title: n.title,
        deadline: p06_kit::dates::format_opt(n.deadline),
        working_days_left: n.days_left,
        working_days_overdue: n.days_overdue,
        text_vi: n.text_vi,
        text_en: n.text_en,
        cursor: n.seq,
        due_time: Some(timestamp(n.due_ms)),
        create_time: Some(timestamp(n.created_ms)),
        acknowledge_time: n.acked_ms.map(timestamp),
        digest_items: n
            .digest
            .into_iter()
            .map(|i| pb::DigestItem {
                assignment: format!("tasks/{}/assignments/{}", i.task_id, n.unit_id),
                directive_number: i.directive_number,
                task_title: i.title,
                deadline: p06_kit::dates::format_opt(i.deadline),
                overdue: i.overdue,
            })
            .collect(),
        deliveries: deliveries.into_iter().map(delivery_to_pb).collect(),
        id: n.id,
    }
}

/// Delivery → proto.
pub fn delivery_to_pb(d: Delivery) -> pb::Delivery {
    pb::Delivery {
        name: delivery_name(&d),
        channel: channel_number(d.channel),
        state: state_number(d.state),
        attempts: d.attempts,
        next_attempt_time: (d.state == DeliveryState::Pending)
            .then(|| timestamp(d.next_attempt_ms)),
        last_error: d.last_error,
        deliver_time: d.delivered_ms.map(timestamp),
    }
}

/// Ledger entry → proto.
pub fn attempt_to_pb(a: Attempt) -> pb::DeliveryAttempt {
    pb::DeliveryAttempt {
        channel: channel_number(a.channel),
        attempt: a.attempt,
        success: a.success,
        response_code: a.response_code,
        error: a.error,
        latency_ms: a.latency_ms,
        time: Some(timestamp(a.at_ms)),
    }
}

/// The webhook body: Standard Webhooks' `type`, `timestamp` and `data`.
pub fn webhook_body(n: &Notification) -> Vec<u8> {
    let body = json!({
        "type": format!("notification.{}", n.kind.as_str().to_ascii_lowercase()),
        "timestamp": rfc3339(n.created_ms),
        "data": {
            "id": n.id,
            "name": notification_name(n),
            "kind": n.kind.as_str(),
            "unit": format!("units/{}", n.unit_id),
            "assignment": assignment_name(n),
            "assignee": format!("units/{}", n.assignee_id),
            "directive_number": n.directive_number,
            "task_title": n.title,
            "deadline": p06_kit::dates::format_opt(n.deadline),
            "working_days_left": n.days_left,
            "working_days_overdue": n.days_overdue,
            "text_vi": n.text_vi,
            "text_en": n.text_en,
            "cursor": n.seq,
            "due_time": rfc3339(n.due_ms),
            "digest_items": n.digest.iter().map(|i| json!({
                "task": format!("tasks/{}", i.task_id),
                "directive_number": i.directive_number,
                "task_title": i.title,
                "deadline": p06_kit::dates::format_opt(i.deadline),
                "overdue": i.overdue,
            })).collect::<Vec<_>>(),
        }
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// An e-mail subject line (Vietnamese first).
pub fn email_subject(n: &Notification) -> String {
    let what = match n.kind {
        Kind::DueSoon => "Nhắc hạn",
        Kind::DueToday => "Đến hạn hôm nay",
        Kind::Overdue => "Quá hạn",
        Kind::Escalation => "Báo cáo chậm trễ",
        Kind::Digest => "Tổng hợp nhiệm vụ",
        Kind::PeriodReportDue => "Nhắc báo cáo định kỳ",
    };
    if n.directive_number.is_empty() {
        format!("[p06] {what}")
    } else {
        format!("[p06] {what}: {} ({})", n.title, n.directive_number)
    }
}

/// Policy → proto.
pub fn policy_to_pb(p: StoredPolicy) -> pb::Policy {
    pb::Policy {
        name: format!("policies/{}", p.id),
        directive: p
            .directive_id
            .map(|d| format!("directives/{d}"))
            .unwrap_or_default(),
        group: p
            .group
            .and_then(|g| TaskGroup::from_str_name(&format!("TASK_GROUP_{g}")))
            .map_or(0, i32::from),
        rules: p
            .rules
            .into_iter()
            .map(|r| pb::ReminderRule {
                kind: kind_number(r.kind),
                working_days: i32::try_from(r.working_days).unwrap_or(i32::MAX),
                repeat_every_working_days: i32::try_from(r.repeat_every).unwrap_or(i32::MAX),
            })
            .collect(),
        urgent: p.urgent,
        etag: format!("\"{}\"", p.version),
        create_time: Some(timestamp(p.created_ms)),
        update_time: Some(timestamp(p.updated_ms)),
    }
}

/// Validates a ladder, naming the offending field (`policy.rules[i]…`).
pub fn rules_from_pb(rules: &[pb::ReminderRule]) -> Result<Vec<Rule>> {
    if rules.is_empty() {
        return Err(NotificationsError::invalid(
            "policy.rules",
            "must list at least one reminder rule",
        ));
    }
    if rules.len() > 20 {
        return Err(NotificationsError::invalid(
            "policy.rules",
            "at most 20 rules",
        ));
    }
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| rule_from_pb(i, r))
        .collect()
}

fn rule_from_pb(i: usize, r: &pb::ReminderRule) -> Result<Rule> {
    let field = |f: &str| format!("policy.rules[{i}].{f}");
    let kind = pb::NotificationKind::try_from(r.kind)
        .ok()
        .filter(|k| *k != pb::NotificationKind::Unspecified)
        .and_then(|k| k.as_str_name().parse::<Kind>().ok())
        .ok_or_else(|| {
            NotificationsError::invalid(
                field("kind"),
                format!(
                    "unknown reminder kind {}; expected DUE_SOON, DUE_TODAY, OVERDUE, \
                     ESCALATION or PERIOD_REPORT_DUE",
                    r.kind
                ),
            )
        })?;
    if kind == Kind::Digest {
        return Err(NotificationsError::invalid(
            field("kind"),
            "DIGEST is not a per-assignment reminder; the digest is configured per deployment",
        ));
    }
    if !(0..=MAX_WORKING_DAYS).contains(&r.working_days) {
        return Err(NotificationsError::invalid(
            field("working_days"),
            format!(
                "must be between 0 and {MAX_WORKING_DAYS} (a distance from the deadline, never negative)"
            ),
        ));
    }
    if !(0..=MAX_WORKING_DAYS).contains(&r.repeat_every_working_days) {
        return Err(NotificationsError::invalid(
            field("repeat_every_working_days"),
            format!("must be between 0 and {MAX_WORKING_DAYS}"),
        ));
    }
    match kind {
        Kind::DueToday if r.working_days != 0 => Err(NotificationsError::invalid(
            field("working_days"),
            "must be 0 for DUE_TODAY",
        )),
        Kind::DueSoon | Kind::PeriodReportDue | Kind::Escalation if r.working_days == 0 => {
            Err(NotificationsError::invalid(
                field("working_days"),
                format!("must be at least 1 for {}", kind.as_str()),
            ))
        }
        k if k != Kind::Overdue && r.repeat_every_working_days != 0 => {
            Err(NotificationsError::invalid(
                field("repeat_every_working_days"),
                "only OVERDUE reminders repeat",
            ))
        }
        _ => Ok(Rule {
            kind,
            working_days: u32::try_from(r.working_days).unwrap_or(0),
            repeat_every: u32::try_from(r.repeat_every_working_days).unwrap_or(0),
        }),
    }
}
