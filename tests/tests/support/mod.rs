//! What the notifications end-to-end tests share: a manual clock in Hà Nội
//! time, directives and tasks through the gateway, keys, subscriptions that
//! wait for the next notification (never for a timer).

#![allow(dead_code)]

use chrono::{NaiveDate, TimeZone, Utc};
use p06::client::GatewayChannel;
use p06_kit::clock::ManualClock;
use p06_proto::{
    gateway::v1::Role,
    localities::v1 as loc,
    notifications::v1::{self as pb, notifications_client::NotificationsClient},
    tasks::v1::{self as tpb, tasks_client::TasksClient},
};
use p06_tests::TestStack;
use std::time::Duration;

/// Tasks client through the gateway.
pub type Tasks = TasksClient<GatewayChannel>;
/// Notifications client through the gateway.
pub type Notifications = NotificationsClient<GatewayChannel>;

/// How long a test waits for something that should happen promptly.
pub const PROMPT: Duration = Duration::from_secs(15);

/// `hh:mm` Hà Nội time on a date, as UTC.
pub fn at(y: i32, m: u32, d: u32, hh: u32, mm: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, hh, mm, 0).unwrap() - chrono::Duration::hours(7)
}

/// A clock at 09:00 Hà Nội time on a date.
pub fn clock_at(y: i32, m: u32, d: u32) -> ManualClock {
    ManualClock::new(at(y, m, d, 9, 0))
}

/// A date.
pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Creates a directive; returns its name.
pub async fn directive(tasks: &mut Tasks, number: &str, date: &str) -> String {
    tasks
        .create_directive(tpb::CreateDirectiveRequest {
            directive: Some(tpb::Directive {
                number: number.into(),
                r#type: tpb::DirectiveType::Notice as i32,
                issuer: "units/m-government-office".into(),
                issue_date: date.into(),
                title: "Kết luận của Thủ tướng tại cuộc họp Tổ công tác Đề án 06".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .name
}

/// Creates a task due on `deadline` for `units`; returns the assignment
/// names in unit order.
pub async fn assign(
    tasks: &mut Tasks,
    directive: &str,
    title: &str,
    deadline: &str,
    units: &[&str],
) -> Vec<String> {
    let task = tpb::Task {
        title: title.into(),
        group: tpb::TaskGroup::PublicServices as i32,
        deadline: Some(tpb::DeadlineRule {
            rule: Some(tpb::deadline_rule::Rule::Date(deadline.into())),
        }),
        ..Default::default()
    };
    create(tasks, directive, task, units).await
}

/// Creates a task; returns the assignment names.
pub async fn create(
    tasks: &mut Tasks,
    directive: &str,
    task: tpb::Task,
    units: &[&str],
) -> Vec<String> {
    tasks
        .create_task(tpb::CreateTaskRequest {
            parent: directive.into(),
            task: Some(task),
            assignees: units
                .iter()
                .map(|u| tpb::Assignee {
                    unit: format!("units/{u}"),
                    role: tpb::AssigneeRole::Lead as i32,
                })
                .collect(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .assignments
        .into_iter()
        .map(|a| a.name)
        .collect()
}

/// A UNIT key for `unit` ("p01").
pub async fn unit_key(stack: &TestStack, unit: &str) -> String {
    stack.key_for(&format!("units/{unit}"), Role::Unit).await
}

/// A COORDINATOR key of the Government Office.
pub async fn coordinator_key(stack: &TestStack) -> String {
    stack
        .key_for("units/m-government-office", Role::Coordinator)
        .await
}

/// The delivery ledger of a notification ("units/{unit}/notifications/{id}").
pub async fn ledger(client: &Notifications, name: &str) -> Vec<pb::DeliveryAttempt> {
    client
        .clone()
        .list_delivery_attempts(pb::ListDeliveryAttemptsRequest {
            parent: name.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .attempts
}

/// A unit's notifications as they come.
pub struct Inbox {
    stream: tonic::Streaming<pb::Notification>,
}

impl Inbox {
    /// Subscribes to `unit` after `cursor`.
    pub async fn open(client: &mut Notifications, unit: &str, cursor: i64) -> Inbox {
        let stream = client
            .subscribe(pb::SubscribeRequest {
                unit: format!("units/{unit}"),
                after_cursor: cursor,
            })
            .await
            .unwrap()
            .into_inner();
        Inbox { stream }
    }

    /// The next notification other than a monthly digest.
    pub async fn reminder(&mut self) -> pb::Notification {
        loop {
            let n = self.next().await;
            if kind(&n) != pb::NotificationKind::Digest {
                return n;
            }
        }
    }

    /// The next reminder for `assignment`, with the reminders for other
    /// assignments that came before it.
    pub async fn reminder_for(
        &mut self,
        assignment: &str,
    ) -> (pb::Notification, Vec<pb::Notification>) {
        let mut others = Vec::new();
        loop {
            let n = self.reminder().await;
            if n.assignment == assignment {
                return (n, others);
            }
            others.push(n);
        }
    }

    /// The next notification (fails the test after [`PROMPT`]).
    pub async fn next(&mut self) -> pb::Notification {
        tokio::time::timeout(PROMPT, self.stream.message())
            .await
            .expect("a notification in time")
            .unwrap_or_else(|s| panic!("stream failed: {s:?}"))
            .expect("stream open")
    }
}

/// The kind of a notification.
pub fn kind(n: &pb::Notification) -> pb::NotificationKind {
    pb::NotificationKind::try_from(n.kind).unwrap()
}

/// Sets a unit's webhook (and e-mail when given).
pub async fn set_contacts(
    stack: &TestStack,
    unit: &str,
    webhook: Option<(&str, Vec<String>)>,
    emails: &[&str],
) {
    let mut localities = stack.localities(&stack.admin_key).await;
    localities
        .update_contacts(loc::UpdateContactsRequest {
            contacts: Some(loc::Contacts {
                name: format!("units/{unit}/contacts"),
                webhook: webhook.map(|(url, secrets)| loc::WebhookEndpoint {
                    url: url.into(),
                    enabled: true,
                    secrets,
                }),
                email: (!emails.is_empty()).then(|| loc::EmailEndpoint {
                    addresses: emails.iter().map(|e| e.to_string()).collect(),
                    enabled: true,
                }),
                ..Default::default()
            }),
            update_mask: None,
            request_id: String::new(),
        })
        .await
        .unwrap();
}

/// A fixed signing secret ("whsec_" + base64 of 32 bytes).
pub fn secret(n: u8) -> String {
    use base64::Engine as _;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([n; 32])
    )
}

/// The field an INVALID_ARGUMENT names.
pub fn field(status: &tonic::Status) -> String {
    p06_kit::errors::violation(status)
        .map(|v| v.0)
        .unwrap_or_default()
}

/// The first page of a unit's notifications matching `filter`.
pub async fn list(client: &mut Notifications, parent: &str, filter: &str) -> Vec<pb::Notification> {
    client
        .list_notifications(pb::ListNotificationsRequest {
            parent: parent.into(),
            filter: filter.into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notifications
}
