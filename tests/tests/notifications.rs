//! Reminders through the gateway with a manual clock: the default ladder
//! across Tết 2025 and its escalation, completion stopping it,
//! acknowledgement, an approved extension, a merger moving reminders to the
//! successor, the resumable stream, who may read what, policies, digests
//! and recurring duties.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use p06_kit::clock::ManualClock;
use p06_proto::{notifications::v1 as pb, tasks::v1 as tpb};
use p06_tests::TestStack;
use std::sync::Arc;
use support::*;
use tonic::Code;

type Kind = pb::NotificationKind;

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
        assert!(n.text_vi.contains("12/TB-VPCP"), "{}", n.text_vi);
        assert!(n.text_vi.contains("05/02/2025"), "{}", n.text_vi);
        assert!(!n.text_en.is_empty());
    }
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

/// Acknowledging an OVERDUE stops its repeats (the escalation still comes);
/// an approved extension restarts the ladder on the new deadline.
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
    let key = unit_key(&stack, "p79").await;
    let mut client = stack.notifications(&key).await;
    let mut inbox = Inbox::open(&mut client, "p79", 0).await;

    // 2024-07-10 is a Wednesday: OVERDUE on 12/07 (2 working days).
    clock.set(at(2024, 7, 12, 10, 0));
    let n = inbox.reminder().await;
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

    // The extension: requested by the unit, approved by the coordinator.
    let mut unit_tasks = stack.tasks(&key).await;
    let ext = unit_tasks
        .request_extension(tpb::RequestExtensionRequest {
            parent: a[0].clone(),
            requested_deadline: "2024-08-30".into(),
            reason: "chờ hạ tầng".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // 16/07 would be the next OVERDUE; acknowledged, it is not repeated.
    // Before the approval lands, nothing comes: the next message is the
    // new ladder's first step.
    tasks
        .decide_extension(tpb::DecideExtensionRequest {
            name: ext.name.clone(),
            approve: true,
            ..Default::default()
        })
        .await
        .unwrap();
    // 30/08/2024 is a Friday; 5 working days before it (02/09 and 03/09 are
    // National Day holidays, after it) is 23/08.
    clock.set(at(2024, 8, 23, 9, 0));
    let n = inbox.reminder().await;
    assert_eq!(kind(&n), Kind::DueSoon);
    assert_eq!(n.deadline, "2024-08-30");
    assert_eq!(n.working_days_left, 5);
    let overdue = list(&mut client, "units/p79", "kind = OVERDUE").await;
    assert_eq!(
        overdue.len(),
        1,
        "the acknowledged OVERDUE was not repeated"
    );
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
    // 5 working days before Tuesday 15/07 is Tuesday 08/07.
    clock.set(at(2025, 7, 8, 9, 0));
    let n = inbox.reminder().await;
    assert_eq!(kind(&n), Kind::DueSoon);
    assert_eq!(n.unit, "units/p08-2025");
    assert!(
        n.assignment.ends_with("/assignments/p08-2025"),
        "{}",
        n.assignment
    );
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
    let denied = stranger
        .list_notifications(pb::ListNotificationsRequest {
            parent: "units/p48".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = stranger
        .get_notification(pb::GetNotificationRequest {
            name: n.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = stranger
        .acknowledge_notification(pb::AcknowledgeNotificationRequest {
            name: n.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = stranger
        .subscribe(pb::SubscribeRequest {
            unit: "units/p48".into(),
            after_cursor: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
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
    let denied = owner
        .create_policy(pb::CreatePolicyRequest {
            policy: Some(policy(vec![rule(Kind::DueSoon as i32, 3, 0)])),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let coordinator = stack
        .key_for(
            "units/m-government-office",
            p06_proto::gateway::v1::Role::Coordinator,
        )
        .await;
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
    let coordinator = stack
        .key_for(
            "units/m-government-office",
            p06_proto::gateway::v1::Role::Coordinator,
        )
        .await;
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
    assign(&mut tasks, &d, "Nhiệm vụ", "2025-03-14", &["p22"]).await;
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
    let mut kinds = Vec::new();
    // The last working day of March 2025 is Monday 31/03: the digest goes
    // out on Thursday 27/03, the period reminder (2 working days before
    // 31/03) the same day.
    clock.set(at(2025, 3, 27, 9, 0));
    let mut digest = None;
    while digest.is_none() {
        let n = inbox.next().await;
        kinds.push(kind(&n));
        if kind(&n) == Kind::Digest {
            digest = Some(n);
        }
    }
    let digest = digest.unwrap();
    assert_eq!(digest.digest_items.len(), 2);
    assert_eq!(digest.working_days_overdue, 1);
    assert!(digest.text_vi.contains('2'), "{}", digest.text_vi);
    if !kinds.contains(&Kind::PeriodReportDue) {
        loop {
            let n = inbox.next().await;
            if kind(&n) == Kind::PeriodReportDue {
                assert_eq!(n.deadline, "2025-03-31");
                break;
            }
        }
    }
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
    let coordinator = stack
        .key_for(
            "units/m-government-office",
            p06_proto::gateway::v1::Role::Coordinator,
        )
        .await;
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
}
