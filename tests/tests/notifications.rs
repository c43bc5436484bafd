//! Reminders through the gateway with a manual clock: the default ladder
//! across Tết 2025 and its escalation, completion and cancellation stopping
//! it, acknowledgement, an approved extension, a merger moving reminders to
//! the successor, the resumable stream, time windows, who may read what,
//! directive and task-group policies, digests and recurring duties.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use p06_kit::clock::ManualClock;
use p06_proto::{notifications::v1 as pb, tasks::v1 as tpb};
use p06_tests::TestStack;
use std::sync::Arc;
use support::*;
use tonic::Code;

type Kind = pb::NotificationKind;

/// Fails unless `result` was refused with PERMISSION_DENIED.
fn assert_denied<T: std::fmt::Debug>(what: &str, result: Result<T, tonic::Status>) {
    let e = result.expect_err(what);
    assert_eq!(e.code(), Code::PermissionDenied, "{what}: {e:?}");
}

/// The default ladder for a deadline of 2025-02-05, across Tết (days off
/// 2025-01-25 to 2025-02-02): DUE_SOON on 22/01 (5 working days) and 03/02
/// (2), DUE_TODAY on 05/02, OVERDUE on 07/02 and 11/02, ESCALATION to the
/// Working Group on 12/02; nothing before office hours; completion stops it.
#[tokio::test]
async fn ladder_walks_across_tet_then_escalates_and_stops_on_completion() {
    let clock = clock_at(2025, 1, 15);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "12/TB-VPCP", "2025-01-15").await;
    let a = assign(
        &mut tasks,
        &d,
        "Kết nối dữ liệu dân cư",
        "2025-02-05",
        &["p01"],
    )
    .await;
    let key = unit_key(&stack, "p01").await;
    let mut client = stack.notifications(&key).await;
    let mut inbox = Inbox::open(&mut client, "p01", 0).await;
    let wg_key = unit_key(&stack, "wg06").await;
    let mut wg_client = stack.notifications(&wg_key).await;
    let mut wg_inbox = Inbox::open(&mut wg_client, "wg06", 0).await;

    // 07:30 on the day is before office hours; 08:00 it goes out.
    let steps = [
        ((2025, 1, 22), Kind::DueSoon, 5, 0),
        ((2025, 2, 3), Kind::DueSoon, 2, 0),
        ((2025, 2, 5), Kind::DueToday, 0, 0),
        ((2025, 2, 7), Kind::Overdue, 0, 2),
        ((2025, 2, 11), Kind::Overdue, 0, 4),
    ];
    for ((y, m, dd), want, left, overdue) in steps {
        clock.set(at(y, m, dd, 7, 30));
        clock.set(at(y, m, dd, 8, 0));
        let n = inbox.reminder().await;
        assert_eq!(kind(&n), want, "on {y}-{m}-{dd}");
        assert_eq!(n.assignment, a[0]);
        assert_eq!(n.deadline, "2025-02-05");
        assert_eq!(
            (n.working_days_left, n.working_days_overdue),
            (left, overdue),
            "on {y}-{m}-{dd}"
        );
        assert_eq!(
            n.due_time.as_ref().unwrap().seconds,
            at(y, m, dd, 8, 0).timestamp()
        );
        assert!(
            n.create_time.as_ref().unwrap().seconds >= at(y, m, dd, 8, 0).timestamp(),
            "not produced before office hours on {y}-{m}-{dd}"
        );
        assert!(n.text_vi.contains("12/TB-VPCP"), "{}", n.text_vi);
        assert!(n.text_vi.contains("05/02/2025"), "{}", n.text_vi);
        assert!(!n.text_en.is_empty());
    }
    // A time window picks them by due or creation time (Hà Nội offsets).
    let from_deadline = list(
        &mut client,
        "units/p01",
        "due_time >= \"2025-02-05T00:00:00+07:00\"",
    )
    .await;
    assert_eq!(from_deadline.len(), 3, "DUE_TODAY and two OVERDUE");
    let before_tet_end = list(
        &mut client,
        "units/p01",
        "create_time < \"2025-02-03T00:00:00+07:00\" AND kind = DUE_SOON",
    )
    .await;
    assert_eq!(before_tet_end.len(), 1, "only the DUE_SOON of 22/01");
    assert_eq!(before_tet_end[0].working_days_left, 5);
    let bad = client
        .list_notifications(pb::ListNotificationsRequest {
            parent: "units/p01".into(),
            filter: "due_time >= \"5 Feb\"".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(field(&bad), "filter");
    // The first DUE_SOON reads the way the monthly reviews write.
    let first = list(&mut client, "units/p01", "kind = DUE_SOON").await;
    assert_eq!(first.len(), 2);
    assert!(
        first[1].text_vi.starts_with("Nhắc hạn"),
        "{}",
        first[1].text_vi
    );
    assert!(
        first[1].text_vi.contains("còn 5 ngày làm việc"),
        "{}",
        first[1].text_vi
    );

    // Five working days overdue: the Working Group hears of it.
    clock.set(at(2025, 2, 12, 9, 0));
    let e = wg_inbox.reminder().await;
    assert_eq!(kind(&e), Kind::Escalation);
    assert_eq!(e.unit, "units/wg06");
    assert_eq!(e.assignee, "units/p01");
    assert_eq!(e.working_days_overdue, 5);
    assert!(e.text_vi.contains("Hà Nội"), "{}", e.text_vi);

    // Completion stops the ladder. A sentinel task created after it (and so
    // applied after it from the feed) proves the completion reached the
    // schedule before the clock moves on.
    tasks
        .complete_assignment(tpb::CompleteAssignmentRequest {
            name: a[0].clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let sentinel = assign(&mut tasks, &d, "Nhiệm vụ đối chứng", "2025-02-12", &["p01"]).await;
    let n = inbox.reminder().await;
    assert_eq!(
        (kind(&n), n.assignment.as_str()),
        (Kind::DueToday, sentinel[0].as_str())
    );
    clock.set(at(2025, 2, 14, 9, 0));
    let n = inbox.reminder().await;
    assert_eq!(
        (kind(&n), n.assignment.as_str()),
        (Kind::Overdue, sentinel[0].as_str())
    );
    let after = list(
        &mut client,
        "units/p01",
        &format!("assignment = \"{}\"", a[0]),
    )
    .await;
    assert_eq!(
        after.len(),
        5,
        "nothing for the completed assignment after it"
    );
}

/// Cancelling an assignment cancels the reminders it was still owed.
#[tokio::test]
async fn cancelling_an_assignment_stops_its_reminders() {
    // Monday 03/03/2025; both deadlines are Wednesday 05/03, so each
    // DUE_SOON (2 working days before) is due at once.
    let clock = clock_at(2025, 3, 3);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "30/TB-VPCP", "2025-03-03").await;
    let a = assign(&mut tasks, &d, "Huỷ bỏ", "2025-03-05", &["p31"]).await;
    let key = unit_key(&stack, "p31").await;
    let mut client = stack.notifications(&key).await;
    let mut inbox = Inbox::open(&mut client, "p31", 0).await;
    let (n, _) = inbox.reminder_for(&a[0]).await;
    assert_eq!(kind(&n), Kind::DueSoon);
    tasks
        .cancel_assignment(tpb::CancelAssignmentRequest {
            name: a[0].clone(),
            reason: "không còn phù hợp".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // A task created after the cancellation is applied after it from the
    // feed; its reminders on 05/03 and 07/03 prove those passes ran.
    let s = assign(&mut tasks, &d, "Đối chứng", "2025-03-05", &["p31"]).await;
    let mut seen = vec![inbox.reminder_for(&s[0]).await];
    clock.set(at(2025, 3, 5, 9, 0));
    seen.push(inbox.reminder_for(&s[0]).await);
    clock.set(at(2025, 3, 7, 9, 0));
    seen.push(inbox.reminder_for(&s[0]).await);
    let kinds: Vec<Kind> = seen.iter().map(|(n, _)| kind(n)).collect();
    assert_eq!(kinds, [Kind::DueSoon, Kind::DueToday, Kind::Overdue]);
    assert!(
        seen.iter().all(|(_, others)| others.is_empty()),
        "nothing for the cancelled assignment: {:?}",
        seen.iter()
            .flat_map(|(_, o)| o)
            .map(|o| &o.assignment)
            .collect::<Vec<_>>()
    );
    let after = list(
        &mut client,
        "units/p31",
        &format!("assignment = \"{}\"", a[0]),
    )
    .await;
    assert_eq!(
        after.len(),
        1,
        "only the DUE_SOON sent before the cancellation"
    );
}

/// Acknowledging an OVERDUE stops its repeats (the escalation still comes)
/// until the assignment changes; an approved extension restarts the ladder
/// on the new deadline, OVERDUE included.
#[tokio::test]
async fn acknowledge_stops_repeats_and_an_extension_restarts_the_ladder() {
    let clock = clock_at(2024, 7, 1);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "344/TB-VPCP", "2024-07-01").await;
    let a = assign(
        &mut tasks,
        &d,
        "Kế hoạch triển khai",
        "2024-07-10",
        &["p79"],
    )
    .await;
    let a = a[0].clone();
    let key = unit_key(&stack, "p79").await;
    let mut client = stack.notifications(&key).await;
    let mut inbox = Inbox::open(&mut client, "p79", 0).await;
    let wg_key = unit_key(&stack, "wg06").await;
    let mut wg_client = stack.notifications(&wg_key).await;
    let mut wg_inbox = Inbox::open(&mut wg_client, "wg06", 0).await;

    // 2024-07-10 is a Wednesday: OVERDUE on 12/07 (2 working days).
    clock.set(at(2024, 7, 12, 10, 0));
    let (n, _) = inbox.reminder_for(&a).await;
    assert_eq!(kind(&n), Kind::Overdue);
    let acked = client
        .acknowledge_notification(pb::AcknowledgeNotificationRequest {
            name: n.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(acked.acknowledge_time.is_some());
    let unread = list(&mut client, "units/p79", "unread = true").await;
    assert!(unread.iter().all(|u| u.name != n.name));

    // A second assignment of the unit, due Tuesday 16/07, whose own
    // reminders prove that the passes of 16/07 and 18/07 ran: those are the
    // days the acknowledged OVERDUE would have repeated (4 and 6 working
    // days late). Its DUE_SOON (2 days before) is due at once.
    let s = assign(&mut tasks, &d, "Đối chứng", "2024-07-16", &["p79"]).await;
    let s = s[0].clone();
    let overdue_of_a = |others: &[pb::Notification]| {
        others
            .iter()
            .filter(|o| o.assignment == a && kind(o) == Kind::Overdue)
            .count()
    };
    let (n, others) = inbox.reminder_for(&s).await;
    assert_eq!(kind(&n), Kind::DueSoon);
    assert_eq!(overdue_of_a(&others), 0);
    clock.set(at(2024, 7, 16, 10, 0));
    let (n, others) = inbox.reminder_for(&s).await;
    assert_eq!(kind(&n), Kind::DueToday);
    assert_eq!(overdue_of_a(&others), 0, "not repeated on 16/07");
    // Five working days late (17/07) the Working Group still hears of it.
    clock.set(at(2024, 7, 17, 10, 0));
    let (e, _) = wg_inbox.reminder_for(&a).await;
    assert_eq!(kind(&e), Kind::Escalation);
    assert_eq!(e.working_days_overdue, 5);
    clock.set(at(2024, 7, 18, 10, 0));
    let (n, others) = inbox.reminder_for(&s).await;
    assert_eq!(kind(&n), Kind::Overdue);
    assert_eq!(overdue_of_a(&others), 0, "not repeated on 18/07");
    let overdue = list(
        &mut client,
        "units/p79",
        &format!("kind = OVERDUE AND assignment = \"{a}\""),
    )
    .await;
    assert_eq!(
        overdue.len(),
        1,
        "the acknowledged OVERDUE was not repeated"
    );

    // The extension: requested by the unit, approved by the coordinator.
    let mut unit_tasks = stack.tasks(&key).await;
    let ext = unit_tasks
        .request_extension(tpb::RequestExtensionRequest {
            parent: a.clone(),
            requested_deadline: "2024-08-30".into(),
            reason: "chờ hạ tầng".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    tasks
        .decide_extension(tpb::DecideExtensionRequest {
            name: ext.name.clone(),
            approve: true,
            ..Default::default()
        })
        .await
        .unwrap();
    // 30/08/2024 is a Friday; 5 working days before it is 23/08, 2 before
    // it 28/08. National Day (31/08 to 03/09) follows it, so the second
    // working day late is Thursday 05/09.
    let walk = [
        ((2024, 8, 23), Kind::DueSoon, 5, 0),
        ((2024, 8, 28), Kind::DueSoon, 2, 0),
        ((2024, 8, 30), Kind::DueToday, 0, 0),
        ((2024, 9, 5), Kind::Overdue, 0, 2),
    ];
    for ((y, m, dd), want, left, late) in walk {
        clock.set(at(y, m, dd, 9, 0));
        let (n, _) = inbox.reminder_for(&a).await;
        assert_eq!(kind(&n), want, "on {y}-{m}-{dd}");
        assert_eq!(n.deadline, "2024-08-30");
        assert_eq!(
            (n.working_days_left, n.working_days_overdue),
            (left, late),
            "on {y}-{m}-{dd}: the change lifted the acknowledgement"
        );
    }
}

/// Hà Giang merges into Tuyên Quang (units/p08-2025) on 2025-07-01: after
/// the tasks service moves the assignment, the successor gets the reminders.
#[tokio::test]
async fn after_a_merger_the_successor_receives_the_reminders() {
    let clock = clock_at(2025, 6, 20);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "88/TB-VPCP", "2025-06-20").await;
    assign(
        &mut tasks,
        &d,
        "Số hoá hồ sơ hộ tịch",
        "2025-07-15",
        &["p02"],
    )
    .await;
    let key = unit_key(&stack, "p08-2025").await;
    let mut client = stack.notifications(&key).await;
    let mut inbox = Inbox::open(&mut client, "p08-2025", 0).await;

    clock.set(at(2025, 7, 2, 9, 0));
    let moved = tasks
        .apply_administrative_changes(tpb::ApplyAdministrativeChangesRequest {
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!moved.moves.is_empty());
    // A task for the successor created after the move, due Friday 04/07
    // (its DUE_SOON is due at once): once it arrives, the move has been
    // applied from the feed.
    let later = directive(&mut tasks, "90/TB-VPCP", "2025-07-02").await;
    let s = assign(&mut tasks, &later, "Đối chứng", "2025-07-04", &["p08-2025"]).await;
    inbox.reminder_for(&s[0]).await;
    // 5 working days before Tuesday 15/07 is Tuesday 08/07.
    clock.set(at(2025, 7, 8, 9, 0));
    let mut n = inbox.reminder().await;
    while n.assignment == s[0] {
        n = inbox.reminder().await;
    }
    assert_eq!(kind(&n), Kind::DueSoon);
    assert_eq!(n.unit, "units/p08-2025");
    assert!(
        n.assignment.ends_with("/assignments/p08-2025"),
        "{}",
        n.assignment
    );
    // The merged unit hears nothing more.
    let mut admin = stack.notifications(&stack.admin_key).await;
    assert!(list(&mut admin, "units/p02", "").await.is_empty());
}

/// A subscriber that disconnects and resumes from its last cursor sees
/// every notification exactly once.
#[tokio::test]
async fn a_resumed_subscription_misses_nothing_and_repeats_nothing() {
    let clock = clock_at(2025, 3, 3);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "20/TB-VPCP", "2025-03-03").await;
    for i in 0..6 {
        assign(
            &mut tasks,
            &d,
            &format!("Nhiệm vụ {i}"),
            "2025-03-03",
            &["p31"],
        )
        .await;
    }
    let key = unit_key(&stack, "p31").await;
    let mut client = stack.notifications(&key).await;
    let mut first = Inbox::open(&mut client, "p31", 0).await;
    let a = first.next().await;
    let b = first.next().await;
    drop(first);
    // Six more while disconnected.
    for i in 6..12 {
        assign(
            &mut tasks,
            &d,
            &format!("Nhiệm vụ {i}"),
            "2025-03-03",
            &["p31"],
        )
        .await;
    }
    let mut resumed = Inbox::open(&mut client, "p31", b.cursor).await;
    let mut seen = vec![a.id, b.id];
    let mut last = b.cursor;
    while seen.len() < 12 {
        let n = resumed.next().await;
        assert!(n.cursor > last, "cursors only grow");
        last = n.cursor;
        assert!(!seen.contains(&n.id), "seen twice: {}", n.id);
        seen.push(n.id);
    }
    let listed = client
        .list_notifications(pb::ListNotificationsRequest {
            parent: "units/p31".into(),
            page_size: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.notifications.len(), 5);
    assert!(!listed.next_page_token.is_empty());
    let mut all = listed.notifications;
    let mut token = listed.next_page_token;
    while !token.is_empty() {
        let page = client
            .list_notifications(pb::ListNotificationsRequest {
                parent: "units/p31".into(),
                page_size: 5,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.notifications);
        token = page.next_page_token;
    }
    let mut listed_ids: Vec<String> = all.into_iter().map(|n| n.id).collect();
    listed_ids.sort();
    seen.sort();
    assert_eq!(listed_ids, seen);
}

/// A UNIT key reads, acknowledges and subscribes only for its own unit;
/// bad policy input names the field; policies are versioned with etags.
#[tokio::test]
async fn units_see_only_their_own_and_policies_validate_their_input() {
    let clock = clock_at(2025, 3, 3);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "21/TB-VPCP", "2025-03-03").await;
    assign(&mut tasks, &d, "Nhiệm vụ", "2025-03-03", &["p48"]).await;
    let own = unit_key(&stack, "p48").await;
    let mut owner = stack.notifications(&own).await;
    let n = Inbox::open(&mut owner, "p48", 0).await.next().await;

    let other = unit_key(&stack, "p92").await;
    let mut stranger = stack.notifications(&other).await;
    assert_denied(
        "list_notifications",
        stranger
            .list_notifications(pb::ListNotificationsRequest {
                parent: "units/p48".into(),
                ..Default::default()
            })
            .await,
    );
    assert_denied(
        "get_notification",
        stranger
            .get_notification(pb::GetNotificationRequest {
                name: n.name.clone(),
            })
            .await,
    );
    assert_denied(
        "acknowledge_notification",
        stranger
            .acknowledge_notification(pb::AcknowledgeNotificationRequest {
                name: n.name.clone(),
            })
            .await,
    );
    assert_denied(
        "subscribe",
        stranger
            .subscribe(pb::SubscribeRequest {
                unit: "units/p48".into(),
                after_cursor: 0,
            })
            .await,
    );
    assert_denied(
        "list_deliveries",
        stranger
            .list_deliveries(pb::ListDeliveriesRequest {
                parent: "units/p48".into(),
                ..Default::default()
            })
            .await,
    );
    assert_denied(
        "list_delivery_attempts",
        stranger
            .list_delivery_attempts(pb::ListDeliveryAttemptsRequest {
                parent: n.name.clone(),
            })
            .await,
    );
    // "units/-" for a UNIT key means its own unit only.
    let mine = stranger
        .list_notifications(pb::ListNotificationsRequest {
            parent: "units/-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(mine.notifications.is_empty());

    // Policies: only coordinators write them; bad input names the field.
    let rule = |kind: i32, days: i32, every: i32| pb::ReminderRule {
        kind,
        working_days: days,
        repeat_every_working_days: every,
    };
    let policy = |rules: Vec<pb::ReminderRule>| pb::Policy {
        directive: d.clone(),
        rules,
        ..Default::default()
    };
    assert_denied(
        "create_policy by a unit",
        owner
            .create_policy(pb::CreatePolicyRequest {
                policy: Some(policy(vec![rule(Kind::DueSoon as i32, 3, 0)])),
                ..Default::default()
            })
            .await,
    );
    let coordinator = coordinator_key(&stack).await;
    let mut coord = stack.notifications(&coordinator).await;
    for (rules, want) in [
        (
            vec![rule(Kind::DueSoon as i32, -1, 0)],
            "policy.rules[0].working_days",
        ),
        (
            vec![rule(Kind::DueToday as i32, 0, 0), rule(99, 1, 0)],
            "policy.rules[1].kind",
        ),
        (
            vec![rule(Kind::Overdue as i32, 1, -2)],
            "policy.rules[0].repeat_every_working_days",
        ),
        (vec![], "policy.rules"),
    ] {
        let e = coord
            .create_policy(pb::CreatePolicyRequest {
                policy: Some(policy(rules)),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert_eq!(field(&e), want);
    }
    let created = coord
        .create_policy(pb::CreatePolicyRequest {
            policy: Some(policy(vec![
                rule(Kind::DueSoon as i32, 3, 0),
                rule(Kind::DueToday as i32, 0, 0),
            ])),
            policy_id: "tb-21".into(),
            request_id: "create-tb-21".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "policies/tb-21");
    // A retry returns the first result; a second policy for the scope is refused.
    let again = coord
        .create_policy(pb::CreatePolicyRequest {
            policy: Some(policy(vec![
                rule(Kind::DueSoon as i32, 3, 0),
                rule(Kind::DueToday as i32, 0, 0),
            ])),
            policy_id: "tb-21".into(),
            request_id: "create-tb-21".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, created);
    let dup = coord
        .create_policy(pb::CreatePolicyRequest {
            policy: Some(policy(vec![rule(Kind::DueToday as i32, 0, 0)])),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    let mut changed = created.clone();
    changed.urgent = true;
    let updated = coord
        .update_policy(pb::UpdatePolicyRequest {
            policy: Some(changed.clone()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["urgent".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(updated.urgent);
    assert_ne!(updated.etag, created.etag);
    let stale = coord
        .update_policy(pb::UpdatePolicyRequest {
            policy: Some(changed),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let stale = coord
        .delete_policy(pb::DeletePolicyRequest {
            name: created.name.clone(),
            etag: created.etag.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    coord
        .delete_policy(pb::DeletePolicyRequest {
            name: created.name.clone(),
            etag: updated.etag.clone(),
        })
        .await
        .unwrap();
    let gone = coord
        .get_policy(pb::GetPolicyRequest { name: created.name })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

/// A directive's policy replaces the default ladder for its assignments.
#[tokio::test]
async fn a_directive_policy_changes_when_reminders_go_out() {
    let clock = clock_at(2025, 3, 3);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "22/TB-VPCP", "2025-03-03").await;
    let coordinator = coordinator_key(&stack).await;
    let mut coord = stack.notifications(&coordinator).await;
    coord
        .create_policy(pb::CreatePolicyRequest {
            policy: Some(pb::Policy {
                directive: d.clone(),
                rules: vec![pb::ReminderRule {
                    kind: Kind::DueSoon as i32,
                    working_days: 3,
                    repeat_every_working_days: 0,
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    // Friday 14/03: three working days before is Tuesday 11/03.
    let a = assign(&mut tasks, &d, "Nhiệm vụ", "2025-03-14", &["p22"]).await;
    let key = unit_key(&stack, "p22").await;
    let mut client = stack.notifications(&key).await;
    let mut inbox = Inbox::open(&mut client, "p22", 0).await;
    clock.set(at(2025, 3, 11, 9, 0));
    let n = inbox.reminder().await;
    assert_eq!((kind(&n), n.working_days_left), (Kind::DueSoon, 3));
    // Nothing else in this ladder: a second task on the default ladder,
    // due on 17/03, proves later passes ran (DUE_TODAY at 17/03).
    let other = directive(&mut tasks, "23/TB-VPCP", "2025-03-03").await;
    let b = assign(&mut tasks, &other, "Đối chứng", "2025-03-17", &["p22"]).await;
    // 5 working days before 17/03 is 10/03, already past: the ladder
    // starts on its creation day, so the first step is 2 days before.
    clock.set(at(2025, 3, 13, 9, 0));
    let n = inbox.reminder().await;
    assert_eq!(
        (kind(&n), n.assignment.as_str()),
        (Kind::DueSoon, b[0].as_str())
    );
    clock.set(at(2025, 3, 17, 9, 0));
    let n = inbox.reminder().await;
    assert_eq!(
        (kind(&n), n.assignment.as_str()),
        (Kind::DueToday, b[0].as_str())
    );
    let sent = list(
        &mut client,
        "units/p22",
        &format!("assignment = \"{}\"", a[0]),
    )
    .await;
    assert_eq!(sent.len(), 1, "no DUE_TODAY from the default ladder");
}

/// A task group's policy governs that group's assignments, except under a
/// directive with a policy of its own.
#[tokio::test]
async fn a_task_group_policy_applies_unless_the_directive_has_its_own() {
    let clock = clock_at(2025, 3, 3);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let plain = directive(&mut tasks, "24/TB-VPCP", "2025-03-03").await;
    let own = directive(&mut tasks, "25/TB-VPCP", "2025-03-03").await;
    let coordinator = coordinator_key(&stack).await;
    let mut coord = stack.notifications(&coordinator).await;
    let due_soon = |days: i32| pb::ReminderRule {
        kind: Kind::DueSoon as i32,
        working_days: days,
        repeat_every_working_days: 0,
    };
    for (directive, group, days) in [
        (String::new(), tpb::TaskGroup::Infrastructure as i32, 4),
        (own.clone(), 0, 3),
    ] {
        coord
            .create_policy(pb::CreatePolicyRequest {
                policy: Some(pb::Policy {
                    directive,
                    group,
                    rules: vec![due_soon(days)],
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let infrastructure = |title: &str| tpb::Task {
        title: title.into(),
        group: tpb::TaskGroup::Infrastructure as i32,
        deadline: Some(tpb::DeadlineRule {
            rule: Some(tpb::deadline_rule::Rule::Date("2025-03-14".into())),
        }),
        ..Default::default()
    };
    // Both due Friday 14/03; a third task on the default ladder, due 17/03,
    // proves the passes of 13/03 and 17/03 ran.
    let by_group = create(&mut tasks, &plain, infrastructure("Theo nhóm"), &["p22"]).await;
    let by_directive = create(&mut tasks, &own, infrastructure("Theo văn bản"), &["p22"]).await;
    let sentinel = assign(&mut tasks, &plain, "Đối chứng", "2025-03-17", &["p22"]).await;
    let key = unit_key(&stack, "p22").await;
    let mut client = stack.notifications(&key).await;
    let mut inbox = Inbox::open(&mut client, "p22", 0).await;
    // Four working days before 14/03 is Monday 10/03; three is 11/03.
    clock.set(at(2025, 3, 10, 9, 0));
    let (n, _) = inbox.reminder_for(&by_group[0]).await;
    assert_eq!((kind(&n), n.working_days_left), (Kind::DueSoon, 4));
    clock.set(at(2025, 3, 11, 9, 0));
    let (n, _) = inbox.reminder_for(&by_directive[0]).await;
    assert_eq!((kind(&n), n.working_days_left), (Kind::DueSoon, 3));
    for date in [(2025, 3, 13), (2025, 3, 17)] {
        clock.set(at(date.0, date.1, date.2, 9, 0));
        inbox.reminder_for(&sentinel[0]).await;
    }
    // The default ladder would have added a DUE_SOON on 12/03 and a
    // DUE_TODAY on 14/03 to each.
    for a in [&by_group[0], &by_directive[0]] {
        let sent = list(&mut client, "units/p22", &format!("assignment = \"{a}\"")).await;
        assert_eq!(sent.len(), 1, "only the policy's one reminder for {a}");
    }
}

/// Two working days before the review meeting (by default the last working
/// day of the month) every unit with open assignments gets a digest; a
/// monthly duty is reminded before its period closes.
#[tokio::test]
async fn monthly_digest_and_period_report_reminders() {
    let clock = clock_at(2025, 3, 3);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "06/QD-TTg", "2025-03-03").await;
    assign(&mut tasks, &d, "Quá hạn", "2025-03-10", &["p40"]).await;
    assign(&mut tasks, &d, "Đang làm", "2025-04-30", &["p40"]).await;
    let duty = tpb::Task {
        title: "Báo cáo tháng".into(),
        group: tpb::TaskGroup::Data as i32,
        reporting_period: tpb::ReportingPeriod::Monthly as i32,
        ..Default::default()
    };
    create(&mut tasks, &d, duty, &["p40"]).await;
    let key = unit_key(&stack, "p40").await;
    let mut client = stack.notifications(&key).await;
    // Start the stream after the March 10 reminders of the first task.
    clock.set(at(2025, 3, 20, 9, 0));
    let mut inbox = Inbox::open(&mut client, "p40", 0).await;
    // The last working day of March 2025 is Monday 31/03: the digest goes
    // out on Thursday 27/03, the period reminder (2 working days before
    // 31/03) the same day.
    clock.set(at(2025, 3, 27, 9, 0));
    let (mut digest, mut period) = (None, None);
    while digest.is_none() || period.is_none() {
        let n = inbox.next().await;
        match kind(&n) {
            Kind::Digest => digest = Some(n),
            Kind::PeriodReportDue => period = Some(n),
            _ => {}
        }
    }
    let period = period.unwrap();
    assert_eq!(period.deadline, "2025-03-31");
    assert_eq!(period.working_days_left, 2);
    assert_eq!(
        period.create_time.as_ref().unwrap().seconds,
        at(2025, 3, 27, 9, 0).timestamp()
    );
    let digest = digest.unwrap();
    assert_eq!(
        digest.create_time.as_ref().unwrap().seconds,
        at(2025, 3, 27, 9, 0).timestamp(),
        "produced on 27/03, not on 20/03"
    );
    assert_eq!(digest.digest_items.len(), 2);
    assert_eq!(digest.working_days_overdue, 1);
    assert!(digest.text_vi.contains('2'), "{}", digest.text_vi);
}

/// Outside office hours only an urgent policy's reminders go out; the
/// others wait for 08:00 on the next working day.
#[tokio::test]
async fn office_hours_hold_reminders_unless_the_policy_is_urgent() {
    // Monday 03/03/2025, 19:00 in Hà Nội: offices are closed.
    let clock = ManualClock::new(at(2025, 3, 3, 19, 0));
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let normal = directive(&mut tasks, "40/TB-VPCP", "2025-03-03").await;
    let urgent = directive(&mut tasks, "41/TB-VPCP", "2025-03-03").await;
    let coordinator = coordinator_key(&stack).await;
    stack
        .notifications(&coordinator)
        .await
        .create_policy(pb::CreatePolicyRequest {
            policy: Some(pb::Policy {
                directive: urgent.clone(),
                rules: vec![pb::ReminderRule {
                    kind: Kind::DueToday as i32,
                    working_days: 0,
                    repeat_every_working_days: 0,
                }],
                urgent: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let held = assign(&mut tasks, &normal, "Thường", "2025-03-03", &["p01"]).await;
    let now = assign(&mut tasks, &urgent, "Khẩn", "2025-03-03", &["p01"]).await;
    let key = unit_key(&stack, "p01").await;
    let mut client = stack.notifications(&key).await;
    let mut inbox = Inbox::open(&mut client, "p01", 0).await;
    let n = inbox.reminder().await;
    assert_eq!(
        (kind(&n), n.assignment.as_str()),
        (Kind::DueToday, now[0].as_str())
    );
    clock.set(at(2025, 3, 4, 8, 0));
    let n = inbox.reminder().await;
    assert_eq!(
        n.assignment, held[0],
        "the held reminder goes out when offices open"
    );
    assert_eq!(
        n.create_time.as_ref().unwrap().seconds,
        at(2025, 3, 4, 8, 0).timestamp(),
        "produced when offices opened, not the evening before"
    );
}

/// The policy for `directive`: DUE_TODAY, then OVERDUE one working day after
/// the deadline; `urgent` as given.
fn due_today_then_overdue(directive: &str, urgent: bool) -> pb::Policy {
    pb::Policy {
        directive: directive.to_string(),
        rules: vec![
            pb::ReminderRule {
                kind: Kind::DueToday as i32,
                working_days: 0,
                repeat_every_working_days: 0,
            },
            pb::ReminderRule {
                kind: Kind::Overdue as i32,
                working_days: 1,
                repeat_every_working_days: 0,
            },
        ],
        urgent,
        ..Default::default()
    }
}

/// Urgent means any day and hour: a policy made urgent on a Sunday at 03:00
/// for an assignment that already waits sends its reminder at once, though
/// offices are closed until Monday; switched off again, its next step waits
/// for office hours while a still-urgent directive's goes out at 00:30.
#[tokio::test]
async fn an_urgent_policy_reaches_existing_schedules_at_any_hour_and_switching_it_off_holds_them() {
    // Friday 07/03/2025, 18:00 in Hà Nội: offices have closed.
    let clock = ManualClock::new(at(2025, 3, 7, 18, 0));
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let plain = directive(&mut tasks, "50/TB-VPCP", "2025-03-03").await;
    let control = directive(&mut tasks, "51/TB-VPCP", "2025-03-03").await;
    let coordinator = coordinator_key(&stack).await;
    let mut coord = stack.notifications(&coordinator).await;
    coord
        .create_policy(pb::CreatePolicyRequest {
            policy: Some(due_today_then_overdue(&control, true)),
            ..Default::default()
        })
        .await
        .unwrap();
    let waiting = assign(&mut tasks, &plain, "Chờ", "2025-03-07", &["p01"]).await;
    let urgent = assign(&mut tasks, &control, "Khẩn", "2025-03-07", &["p01"]).await;
    let key = unit_key(&stack, "p01").await;
    let mut client = stack.notifications(&key).await;
    let mut inbox = Inbox::open(&mut client, "p01", 0).await;
    // The urgent directive's DUE_TODAY goes out on Friday evening; the
    // other, on the default ladder, waits for Monday 08:00.
    let n = inbox.reminder().await;
    assert_eq!(
        (kind(&n), n.assignment.as_str()),
        (Kind::DueToday, urgent[0].as_str())
    );

    // Sunday 09/03, 03:00: the waiting one's directive gets an urgent policy.
    clock.set(at(2025, 3, 9, 3, 0));
    let policy = coord
        .create_policy(pb::CreatePolicyRequest {
            policy: Some(due_today_then_overdue(&plain, true)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let n = inbox.reminder().await;
    assert_eq!(
        (kind(&n), n.assignment.as_str()),
        (Kind::DueToday, waiting[0].as_str())
    );
    assert_eq!(
        n.create_time.as_ref().unwrap().seconds,
        at(2025, 3, 9, 3, 0).timestamp(),
        "sent on Sunday at 03:00, not held to Monday's office hours"
    );

    // 04:00: urgency switched off. Both OVERDUE steps fall on Monday 10/03;
    // at 00:30 only the still-urgent one goes out, the other at 08:00.
    clock.set(at(2025, 3, 9, 4, 0));
    coord
        .update_policy(pb::UpdatePolicyRequest {
            policy: Some(pb::Policy {
                name: policy.name.clone(),
                urgent: false,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["urgent".into()],
            }),
        })
        .await
        .unwrap();
    clock.set(at(2025, 3, 10, 0, 30));
    let n = inbox.reminder().await;
    assert_eq!(
        (kind(&n), n.assignment.as_str()),
        (Kind::Overdue, urgent[0].as_str())
    );
    assert_eq!(
        n.create_time.as_ref().unwrap().seconds,
        at(2025, 3, 10, 0, 30).timestamp()
    );
    clock.set(at(2025, 3, 10, 8, 0));
    let n = inbox.reminder().await;
    assert_eq!(
        (kind(&n), n.assignment.as_str()),
        (Kind::Overdue, waiting[0].as_str()),
        "the switched-off policy's step was held, not sent at 00:30"
    );
    assert_eq!(
        n.create_time.as_ref().unwrap().seconds,
        at(2025, 3, 10, 8, 0).timestamp()
    );
}
