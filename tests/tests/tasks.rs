//! The tasks service through the gateway: directives, a task assigned to
//! eleven units, who may see and do what, statuses against a hand-computed
//! table, working-day deadlines, idempotent retries, the resumable change
//! feed, and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use p06_kit::clock::ManualClock;
use p06_proto::{gateway::v1::Role, tasks::v1 as pb};
use p06_tests::TestStack;
use std::sync::Arc;
use tokio_stream::StreamExt;
use tonic::Code;

type Client = pb::tasks_client::TasksClient<p06::client::GatewayChannel>;

const AGENCIES: [&str; 4] = [
    "m-public-security",
    "m-justice",
    "m-health",
    "m-education-training",
];
const PROVINCES: [&str; 7] = ["p01", "p79", "p31", "p48", "p92", "p22", "p40"];

fn clock_at(y: i32, m: u32, d: u32) -> ManualClock {
    // 09:00 in Hà Nội.
    ManualClock::new(Utc.with_ymd_and_hms(y, m, d, 2, 0, 0).unwrap())
}

fn field(status: &tonic::Status) -> String {
    p06_kit::errors::violation(status)
        .map(|v| v.0)
        .unwrap_or_default()
}

async fn directive(client: &mut Client, number: &str, date: &str) -> String {
    let d = pb::Directive {
        number: number.into(),
        r#type: pb::DirectiveType::Notice as i32,
        issuer: "units/m-government-office".into(),
        issue_date: date.into(),
        title: "Kết luận của Thủ tướng tại cuộc họp Tổ công tác Đề án 06".into(),
        ..Default::default()
    };
    client
        .create_directive(pb::CreateDirectiveRequest {
            directive: Some(d),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .name
}

fn task(title: &str, deadline: pb::deadline_rule::Rule) -> pb::Task {
    pb::Task {
        title: title.into(),
        group: pb::TaskGroup::Institutions as i32,
        deadline: Some(pb::DeadlineRule {
            rule: Some(deadline),
        }),
        ..Default::default()
    }
}

fn assignees(units: &[&str]) -> Vec<pb::Assignee> {
    units
        .iter()
        .map(|u| pb::Assignee {
            unit: format!("units/{u}"),
            role: pb::AssigneeRole::Lead as i32,
        })
        .collect()
}

#[tokio::test]
async fn eleven_units_each_see_and_report_only_their_own() {
    let clock = clock_at(2024, 7, 2);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let parent = directive(&mut tasks, "344/TB-VPCP", "2024-07-02").await;
    assert_eq!(parent, "directives/344-tb-vpcp-2024");
    let units: Vec<&str> = AGENCIES.iter().chain(PROVINCES.iter()).copied().collect();
    let created = tasks
        .create_task(pb::CreateTaskRequest {
            parent: parent.clone(),
            task: Some(task(
                "Ban hành kế hoạch hành động",
                pb::deadline_rule::Rule::Date("2024-07-20".into()),
            )),
            assignees: assignees(&units),
            request_id: "344-plan".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.assignments.len(), 11);
    assert!(
        created
            .assignments
            .iter()
            .all(|a| a.deadline == "2024-07-20"
                && a.status == pb::AssignmentStatus::InProgress as i32)
    );
    let task_name = created.task.unwrap().name;

    // Each unit sees exactly its own assignment.
    let hanoi = stack.key_for("units/p01", Role::Unit).await;
    let mut as_hanoi = stack.tasks(&hanoi).await;
    let mine = as_hanoi
        .list_assignments(pb::ListAssignmentsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .assignments;
    assert_eq!(
        mine.iter().map(|a| a.unit.as_str()).collect::<Vec<_>>(),
        vec!["units/p01"]
    );
    let hcmc = format!("{task_name}/assignments/p79");
    let err = as_hanoi
        .get_assignment(pb::GetAssignmentRequest {
            name: hcmc.clone(),
            as_of: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // A coordinator sees all eleven.
    let all = tasks
        .list_assignments(pb::ListAssignmentsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .assignments;
    assert_eq!(all.len(), 11);

    // A UNIT key may not report on another unit's assignment, nor create tasks.
    let report = |name: &str, rid: &str| pb::ReportProgressRequest {
        name: name.into(),
        percent: 50,
        note: "đã xây dựng dự thảo".into(),
        evidence_link: "https://hanoi.gov.vn/ke-hoach".into(),
        request_id: rid.into(),
        etag: String::new(),
        reported_on: String::new(),
    };
    let err = as_hanoi
        .report_progress(report(&hcmc, ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = as_hanoi
        .create_task(pb::CreateTaskRequest {
            parent,
            task: Some(task(
                "x",
                pb::deadline_rule::Rule::Date("2024-08-01".into()),
            )),
            assignees: assignees(&["p01"]),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // A retried report with the same request id writes one report.
    let own = format!("{task_name}/assignments/p01");
    let first = as_hanoi
        .report_progress(report(&own, "r-1"))
        .await
        .unwrap()
        .into_inner();
    let again = as_hanoi
        .report_progress(report(&own, "r-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (first.progress_percent, again.etag.as_str()),
        (50, first.etag.as_str())
    );
    let events = as_hanoi
        .list_assignment_events(pb::ListAssignmentEventsRequest {
            name: own.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let kinds: Vec<i32> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            pb::ChangeKind::Created as i32,
            pb::ChangeKind::Progress as i32
        ]
    );

    // The audit log says who did what, newest first; provinces cannot read it.
    let audit = tasks
        .list_audit_log(pb::ListAuditLogRequest {
            resource_prefix: task_name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let me = stack
        .access(&hanoi)
        .await
        .who_am_i(p06_proto::gateway::v1::WhoAmIRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.as_str()),
        ("report_progress", me.api_key.as_str())
    );
    assert!(audit[0].request_id.ends_with("/r-1"));
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "report_progress")
            .count(),
        1,
        "the retry wrote no second entry"
    );
    let err = as_hanoi
        .list_audit_log(pb::ListAuditLogRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Retrying CreateTask returns the same task.
    let retried = tasks
        .create_task(pb::CreateTaskRequest {
            parent: "directives/344-tb-vpcp-2024".into(),
            task: Some(task(
                "Ban hành kế hoạch hành động",
                pb::deadline_rule::Rule::Date("2024-07-20".into()),
            )),
            assignees: assignees(&units),
            request_id: "344-plan".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried.task.unwrap().name, task_name);
}

#[tokio::test]
async fn a_retried_report_answers_what_the_first_call_answered() {
    let clock = clock_at(2024, 7, 10);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let parent = directive(&mut tasks, "345/TB-VPCP", "2024-07-02").await;
    let created = tasks
        .create_task(pb::CreateTaskRequest {
            parent,
            task: Some(task(
                "Báo cáo kết quả làm sạch dữ liệu dân cư",
                pb::deadline_rule::Rule::Date("2024-07-15".into()),
            )),
            assignees: assignees(&["p01"]),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let name = created.assignments[0].name.clone();
    let mut hanoi = stack
        .tasks(&stack.key_for("units/p01", Role::Unit).await)
        .await;
    let report = |percent: i32, rid: &str| pb::ReportProgressRequest {
        name: name.clone(),
        percent,
        note: format!("đạt {percent}%"),
        evidence_link: String::new(),
        request_id: rid.into(),
        etag: String::new(),
        reported_on: String::new(),
    };
    let first = hanoi
        .report_progress(report(30, "r-30"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.progress_percent, 30);
    assert_eq!(first.status, pb::AssignmentStatus::InProgress as i32);
    let later = hanoi
        .report_progress(report(60, "r-60"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(later.progress_percent, 60);
    // Past the deadline, the retry of the first report still answers what
    // the first call did: 30 %, in progress, its etag; and writes nothing.
    clock.set(Utc.with_ymd_and_hms(2024, 7, 20, 2, 0, 0).unwrap());
    let retried = hanoi
        .report_progress(report(30, "r-30"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, first);
    let now = hanoi
        .get_assignment(pb::GetAssignmentRequest {
            name: name.clone(),
            as_of: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (now.progress_percent, now.etag.clone()),
        (60, later.etag.clone())
    );
    assert_eq!(now.status, pb::AssignmentStatus::Overdue as i32);
    // A retry with the same request id but other content is still the
    // first call's answer (AIP-155: the request id names the call).
    let odd = hanoi
        .report_progress(report(90, "r-30"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(odd, first);
}

#[tokio::test]
async fn statuses_and_summaries_match_the_hand_computed_table() {
    let clock = clock_at(2024, 7, 2);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let parent = directive(&mut tasks, "344/TB-VPCP", "2024-07-02").await;
    let units = ["p01", "p79", "p31", "p48"];
    let created = tasks
        .create_task(pb::CreateTaskRequest {
            parent: parent.clone(),
            task: Some(task(
                "Ban hành kế hoạch",
                pb::deadline_rule::Rule::Date("2024-07-20".into()),
            )),
            assignees: assignees(&units),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let name = |u: &str| format!("{}/assignments/{u}", created.task.as_ref().unwrap().name);
    let duty = tasks
        .create_task(pb::CreateTaskRequest {
            parent,
            task: Some(pb::Task {
                title: "Báo cáo định kỳ hằng tháng".into(),
                group: pb::TaskGroup::Data as i32,
                reporting_period: pb::ReportingPeriod::Monthly as i32,
                ..Default::default()
            }),
            assignees: assignees(&["p92"]),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let duty_name = format!("{}/assignments/p92", duty.task.unwrap().name);

    // p01 completes on 15 July (on time), p79 on 2 August (late), p31 is
    // cancelled on 15 July, p48 never completes; p92 reports in July only.
    clock.set(Utc.with_ymd_and_hms(2024, 7, 15, 2, 0, 0).unwrap());
    tasks
        .complete_assignment(pb::CompleteAssignmentRequest {
            name: name("p01"),
            ..Default::default()
        })
        .await
        .unwrap();
    tasks
        .cancel_assignment(pb::CancelAssignmentRequest {
            name: name("p31"),
            reason: "gộp nhiệm vụ".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let p92 = stack.key_for("units/p92", Role::Unit).await;
    clock.set(Utc.with_ymd_and_hms(2024, 7, 25, 2, 0, 0).unwrap());
    stack
        .tasks(&p92)
        .await
        .report_progress(pb::ReportProgressRequest {
            name: duty_name.clone(),
            percent: 100,
            note: "báo cáo tháng 7".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    clock.set(Utc.with_ymd_and_hms(2024, 8, 2, 2, 0, 0).unwrap());
    tasks
        .complete_assignment(pb::CompleteAssignmentRequest {
            name: name("p79"),
            ..Default::default()
        })
        .await
        .unwrap();
    clock.set(Utc.with_ymd_and_hms(2024, 10, 1, 2, 0, 0).unwrap());

    let summary = |as_of: &str| pb::GetSummaryRequest {
        as_of: as_of.into(),
        ..Default::default()
    };
    // (as of, on time, late, in progress, overdue, regular, cancelled, backlog)
    let table = [
        ("2024-07-10", 0, 0, 4, 0, 1, 0, 0),
        ("2024-07-20", 1, 0, 2, 0, 1, 1, 0),
        ("2024-07-31", 1, 0, 0, 2, 1, 1, 0),
        ("2024-08-05", 1, 1, 0, 1, 1, 1, 1),
        ("2024-09-05", 1, 1, 0, 2, 0, 1, 1),
    ];
    for (as_of, on_time, late, in_progress, overdue, regular, cancelled, backlog) in table {
        let s = tasks
            .get_summary(summary(as_of))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (
                s.completed_on_time,
                s.completed_late,
                s.in_progress,
                s.overdue,
                s.regular,
                s.cancelled,
                s.backlog,
                s.total
            ),
            (
                on_time,
                late,
                in_progress,
                overdue,
                regular,
                cancelled,
                backlog,
                5
            ),
            "as of {as_of}: {}",
            s.headline
        );
    }
    // The provinces' scoreboard as of 5 August 2024: all 63 ranked.
    let board = tasks
        .get_scoreboard(pb::GetScoreboardRequest {
            as_of: "2024-08-05".into(),
            scope: pb::ScoreboardScope::Provinces as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(board.entries.len(), 63);
    let line = |unit: &str| {
        board
            .entries
            .iter()
            .find(|e| e.unit == unit)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (line("units/p01").rank, line("units/p01").headline.as_str()),
        (1, "ranked 1/63")
    );
    assert_eq!(
        (line("units/p92").rank, line("units/p92").score),
        (2, 100.0)
    );
    assert_eq!((line("units/p79").rank, line("units/p79").score), (3, 50.0));
    assert_eq!(
        (line("units/p31").rank, line("units/p20").rank),
        (4, 4),
        "nothing counted: shared rank"
    );
    assert_eq!(line("units/p48").rank, 63, "the overdue one is last");
    assert!(board.formula.contains("0.5 × completed_late"));

    // Lists filter on the derived status as of a date.
    let by_status = |status: &str, as_of: &str| pb::ListAssignmentsRequest {
        filter: format!("status = {status}"),
        as_of: as_of.into(),
        ..Default::default()
    };
    let overdue = tasks
        .list_assignments(by_status("OVERDUE", "2024-07-31"))
        .await
        .unwrap()
        .into_inner()
        .assignments;
    let mut units: Vec<String> = overdue.into_iter().map(|a| a.unit).collect();
    units.sort();
    assert_eq!(units, vec!["units/p48", "units/p79"]);
    let on_time = tasks
        .list_assignments(by_status("COMPLETED_ON_TIME", "2024-08-05"))
        .await
        .unwrap()
        .into_inner()
        .assignments;
    assert_eq!(
        on_time.iter().map(|a| a.unit.as_str()).collect::<Vec<_>>(),
        vec!["units/p01"]
    );
    let err = tasks
        .list_assignments(by_status("LOST", "2024-08-05"))
        .await
        .unwrap_err();
    assert_eq!(field(&err), "filter");
    // Directives filter too.
    let notices = tasks
        .list_directives(pb::ListDirectivesRequest {
            filter: "type = NOTICE AND issue_date >= \"2024-07-01\"".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .directives;
    assert_eq!(notices.len(), 1);
    let none = tasks
        .list_directives(pb::ListDirectivesRequest {
            filter: "issue_date > \"2024-07-02\"".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .directives;
    assert!(none.is_empty());

    // One unit's view.
    let s = tasks
        .get_summary(pb::GetSummaryRequest {
            as_of: "2024-08-05".into(),
            unit: "units/p79".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.total, s.completed_late), (1, 1));
    assert_eq!(s.headline, "completed 1/1");
    // And one assignment as of a date.
    let a = tasks
        .get_assignment(pb::GetAssignmentRequest {
            name: name("p48"),
            as_of: "2024-08-05".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (a.status, a.backlog),
        (pb::AssignmentStatus::Overdue as i32, true)
    );
}

#[tokio::test]
async fn working_day_deadlines_skip_tet_and_count_make_up_saturdays() {
    let stack = TestStack::start_at(Arc::new(clock_at(2025, 1, 20))).await;
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let add = |date: &str, n: i32| pb::AddWorkingDaysRequest {
        date: date.into(),
        working_days: n,
    };
    assert_eq!(
        tasks
            .add_working_days(add("2025-01-20", 10))
            .await
            .unwrap()
            .into_inner()
            .date,
        "2025-02-10"
    );
    assert_eq!(
        tasks
            .add_working_days(add("2025-04-25", 1))
            .await
            .unwrap()
            .into_inner()
            .date,
        "2025-04-26"
    );
    let parent = directive(&mut tasks, "18/CT-TTg", "2025-01-20").await;
    let created = tasks
        .create_task(pb::CreateTaskRequest {
            parent,
            task: Some(task(
                "Rà soát dữ liệu dân cư",
                pb::deadline_rule::Rule::WorkingDays(10),
            )),
            assignees: assignees(&["p01"]),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.assignments[0].deadline, "2025-02-10");
    let year = tasks
        .get_calendar(pb::GetCalendarRequest { year: 2025 })
        .await
        .unwrap()
        .into_inner();
    assert!(year.days_off.iter().any(|d| d.date == "2025-01-29"));
    assert!(year.working_days.iter().any(|d| d.date == "2025-04-26"));

    // An extra day off announced later moves the open deadline by one
    // working day; only an ADMIN may change the calendar.
    let mut changed = year.clone();
    changed.days_off.push(pb::CalendarDay {
        date: "2025-02-04".into(),
        name: "nghỉ bù (ví dụ)".into(),
    });
    let update = pb::UpdateCalendarRequest {
        calendar: Some(changed),
        request_id: String::new(),
    };
    assert_eq!(
        tasks
            .update_calendar(update.clone())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let updated = stack
        .tasks(&stack.admin_key)
        .await
        .update_calendar(update)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.days_off.len(), year.days_off.len() + 1);
    let a = tasks
        .get_assignment(pb::GetAssignmentRequest {
            name: created.assignments[0].name.clone(),
            as_of: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((a.deadline.as_str(), a.deadline_version), ("2025-02-11", 2));
    assert_eq!(
        tasks
            .add_working_days(add("2025-01-20", 10))
            .await
            .unwrap()
            .into_inner()
            .date,
        "2025-02-11"
    );
}

#[tokio::test]
async fn a_resumed_feed_misses_nothing_and_repeats_nothing() {
    let stack = TestStack::start_at(Arc::new(clock_at(2024, 7, 2))).await;
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let parent = directive(&mut tasks, "344/TB-VPCP", "2024-07-02").await;
    let create = |title: &str| pb::CreateTaskRequest {
        parent: parent.clone(),
        task: Some(task(
            title,
            pb::deadline_rule::Rule::Date("2024-07-20".into()),
        )),
        assignees: assignees(&PROVINCES),
        request_id: String::new(),
    };
    tasks.create_task(create("một")).await.unwrap();
    // Read the first 4 changes and disconnect.
    let mut feed = tasks
        .watch_changes(pb::WatchChangesRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while seen.len() < 4 {
        seen.push(feed.next().await.unwrap().unwrap().sequence);
    }
    drop(feed);
    // More changes while disconnected, then resume from the last sequence.
    tasks.create_task(create("hai")).await.unwrap();
    let mut feed = tasks
        .watch_changes(pb::WatchChangesRequest {
            after_sequence: *seen.last().unwrap(),
        })
        .await
        .unwrap()
        .into_inner();
    while seen.len() < 14 {
        seen.push(feed.next().await.unwrap().unwrap().sequence);
    }
    // A live change arrives on the open stream.
    tasks.create_task(create("ba")).await.unwrap();
    let live = feed.next().await.unwrap().unwrap();
    seen.push(live.sequence);
    assert_eq!(live.kind, pb::ChangeKind::Created as i32);
    let expected: Vec<i64> = (seen[0]..seen[0] + 15).collect();
    assert_eq!(seen, expected, "strictly increasing, no gap, no repeat");
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let stack = TestStack::start_at(Arc::new(clock_at(2024, 7, 2))).await;
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let parent = directive(&mut tasks, "344/TB-VPCP", "2024-07-02").await;
    let create = |deadline: &str, units: &[&str]| pb::CreateTaskRequest {
        parent: parent.clone(),
        task: Some(task("x", pb::deadline_rule::Rule::Date(deadline.into()))),
        assignees: assignees(units),
        request_id: String::new(),
    };
    let err = tasks
        .create_task(create("2024-06-30", &["p01"]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "task.deadline.date")
    );
    let err = tasks
        .create_task(create("2024-07-20", &["p01", "nowhere"]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "assignees[1].unit"),
        "{err:?}"
    );
    // Lào Cai (new) did not exist on the directive's date.
    let err = tasks
        .create_task(create("2024-07-20", &["p15-2025"]))
        .await
        .unwrap_err();
    assert_eq!(field(&err), "assignees[0].unit");
    let listed = tasks
        .list_assignments(pb::ListAssignmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.assignments.is_empty(), "nothing written");

    let created = tasks
        .create_task(create("2024-07-20", &["p01"]))
        .await
        .unwrap()
        .into_inner();
    let hanoi = stack.key_for("units/p01", Role::Unit).await;
    let report = pb::ReportProgressRequest {
        name: created.assignments[0].name.clone(),
        percent: 150,
        ..Default::default()
    };
    let err = stack
        .tasks(&hanoi)
        .await
        .report_progress(report)
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "percent")
    );
    // A stale etag is refused with ABORTED, naming the etag.
    let stale = pb::ReportProgressRequest {
        name: created.assignments[0].name.clone(),
        percent: 10,
        etag: "\"99\"".into(),
        ..Default::default()
    };
    let err = stack
        .tasks(&hanoi)
        .await
        .report_progress(stale)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(
        p06_kit::errors::violated_field_info(&err).as_deref(),
        Some("etag")
    );
    let fresh = pb::ReportProgressRequest {
        name: created.assignments[0].name.clone(),
        percent: 10,
        etag: created.assignments[0].etag.clone(),
        ..Default::default()
    };
    stack
        .tasks(&hanoi)
        .await
        .report_progress(fresh)
        .await
        .unwrap();
    let err = tasks
        .list_assignments(pb::ListAssignmentsRequest {
            filter: "colour = red".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(field(&err), "filter");
}

#[tokio::test]
async fn an_approved_extension_moves_the_deadline_and_keeps_the_history() {
    let clock = clock_at(2024, 7, 2);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let parent = directive(&mut tasks, "344/TB-VPCP", "2024-07-02").await;
    let created = tasks
        .create_task(pb::CreateTaskRequest {
            parent,
            task: Some(task(
                "Ban hành kế hoạch",
                pb::deadline_rule::Rule::Date("2024-07-20".into()),
            )),
            assignees: assignees(&["p01", "p79"]),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let hanoi_assignment = created.assignments[0].name.clone();
    let hanoi = stack.key_for("units/p01", Role::Unit).await;
    let hcmc = stack.key_for("units/p79", Role::Unit).await;
    let ask = |date: &str| pb::RequestExtensionRequest {
        parent: hanoi_assignment.clone(),
        requested_deadline: date.into(),
        reason: "chờ ý kiến thẩm định của Bộ Tư pháp".into(),
        request_id: String::new(),
    };
    // Another unit may not ask for Hà Nội; an earlier date is refused.
    assert_eq!(
        stack
            .tasks(&hcmc)
            .await
            .request_extension(ask("2024-08-15"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let err = stack
        .tasks(&hanoi)
        .await
        .request_extension(ask("2024-07-10"))
        .await
        .unwrap_err();
    assert_eq!(field(&err), "requested_deadline");
    let asked = stack
        .tasks(&hanoi)
        .await
        .request_extension(ask("2024-08-15"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (asked.state, asked.previous_deadline.as_str()),
        (pb::ExtensionState::Pending as i32, "2024-07-20")
    );
    // Only one pending request at a time; the unit cannot decide its own.
    let err = stack
        .tasks(&hanoi)
        .await
        .request_extension(ask("2024-08-30"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let decide = |approve: bool| pb::DecideExtensionRequest {
        name: asked.name.clone(),
        approve,
        deadline: String::new(),
        note: "đồng ý".into(),
        request_id: "decide-1".into(),
    };
    assert_eq!(
        stack
            .tasks(&hanoi)
            .await
            .decide_extension(decide(true))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    let decided = tasks
        .decide_extension(decide(true))
        .await
        .unwrap()
        .into_inner();
    let a = decided.assignment.unwrap();
    assert_eq!((a.deadline.as_str(), a.deadline_version), ("2024-08-15", 2));
    assert_eq!(
        decided.extension.unwrap().state,
        pb::ExtensionState::Approved as i32
    );
    // A retried decision returns the same outcome; a second decision is refused.
    let again = tasks
        .decide_extension(decide(true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.assignment.unwrap().deadline_version, 2);
    let mut other = decide(false);
    other.request_id = "decide-2".into();
    assert_eq!(
        tasks.decide_extension(other).await.unwrap_err().code(),
        Code::FailedPrecondition
    );

    // History: the deadline change is in the events and the feed.
    let events = tasks
        .list_assignment_events(pb::ListAssignmentEventsRequest {
            name: hanoi_assignment.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let last = events.last().unwrap();
    assert_eq!(
        (last.kind, last.deadline.as_str(), last.deadline_version),
        (pb::ChangeKind::DeadlineChanged as i32, "2024-08-15", 2)
    );
    // As of 2024-07-25 Hà Nội is within its new deadline, HCMC is overdue.
    let listed = tasks
        .list_assignments(pb::ListAssignmentsRequest {
            as_of: "2024-07-25".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .assignments;
    let status: Vec<(String, i32)> = listed.into_iter().map(|a| (a.unit, a.status)).collect();
    assert_eq!(
        status,
        vec![
            (
                "units/p79".to_string(),
                pb::AssignmentStatus::Overdue as i32
            ),
            (
                "units/p01".to_string(),
                pb::AssignmentStatus::InProgress as i32
            )
        ]
    );
    let history = stack
        .tasks(&hanoi)
        .await
        .list_extensions(pb::ListExtensionsRequest {
            parent: hanoi_assignment,
        })
        .await
        .unwrap();
    assert_eq!(history.into_inner().extensions.len(), 1);
}

#[tokio::test]
async fn a_merge_moves_open_assignments_and_earlier_reports_keep_the_old_units() {
    // Hà Giang (02) and Tuyên Quang (08) merged into the new Tuyên Quang
    // (units/p08-2025) on 2025-07-01; Hà Nội was not merged.
    let clock = clock_at(2025, 6, 2);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let parent = directive(&mut tasks, "90/TB-VPCP", "2025-06-02").await;
    let create = |title: &str| pb::CreateTaskRequest {
        parent: parent.clone(),
        task: Some(task(
            title,
            pb::deadline_rule::Rule::Date("2025-08-30".into()),
        )),
        assignees: assignees(&["p02", "p08", "p01"]),
        request_id: String::new(),
    };
    let open = tasks
        .create_task(create("Làm sạch dữ liệu"))
        .await
        .unwrap()
        .into_inner();
    let done = tasks
        .create_task(create("Báo cáo sơ kết"))
        .await
        .unwrap()
        .into_inner();
    let open_task = open.task.unwrap().name;
    clock.set(Utc.with_ymd_and_hms(2025, 6, 20, 2, 0, 0).unwrap());
    let ha_giang = stack.key_for("units/p02", Role::Unit).await;
    stack
        .tasks(&ha_giang)
        .await
        .report_progress(pb::ReportProgressRequest {
            name: format!("{open_task}/assignments/p02"),
            percent: 60,
            ..Default::default()
        })
        .await
        .unwrap();
    stack
        .tasks(&ha_giang)
        .await
        .complete_assignment(pb::CompleteAssignmentRequest {
            name: done.assignments[0].name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();

    // After the reform, an administrator applies it (the service also does
    // so on its own schedule).
    clock.set(Utc.with_ymd_and_hms(2025, 7, 2, 2, 0, 0).unwrap());
    let admin = stack.tasks(&stack.admin_key).await;
    let mut admin = admin;
    let applied = admin
        .apply_administrative_changes(pb::ApplyAdministrativeChangesRequest {
            date: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    // Open: p02 and p08 of the first task, p08 of the second (p02's was completed).
    assert_eq!(applied.moved, 3, "{:?}", applied.moves);
    assert!(
        applied
            .moves
            .iter()
            .all(|m| m.to == "units/p08-2025" && m.effective_date == "2025-07-01")
    );
    // Running it again moves nothing.
    let again = admin
        .apply_administrative_changes(pb::ApplyAdministrativeChangesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.moved, 0);

    // The successor holds one assignment per task, with the progress carried over.
    let successor = tasks
        .get_assignment(pb::GetAssignmentRequest {
            name: format!("{open_task}/assignments/p08-2025"),
            as_of: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (successor.progress_percent, successor.deadline.as_str()),
        (60, "2025-08-30")
    );
    let tuyen_quang = stack.key_for("units/p08-2025", Role::Unit).await;
    stack
        .tasks(&tuyen_quang)
        .await
        .report_progress(pb::ReportProgressRequest {
            name: successor.name.clone(),
            percent: 80,
            ..Default::default()
        })
        .await
        .unwrap();
    // The old assignment is closed to new reports; its history stays.
    let err = stack
        .tasks(&ha_giang)
        .await
        .report_progress(pb::ReportProgressRequest {
            name: format!("{open_task}/assignments/p02"),
            percent: 70,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    // Reports as of a date before the merger still show the old units.
    let summary = |unit: &str, as_of: &str| pb::GetSummaryRequest {
        unit: unit.into(),
        as_of: as_of.into(),
        ..Default::default()
    };
    let before = tasks
        .get_summary(summary("units/p02", "2025-06-25"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (before.total, before.in_progress, before.completed_on_time),
        (2, 1, 1)
    );
    // From the merger on, Hà Giang's work counts for Tuyên Quang, the
    // completed row that stayed behind too.
    let after_old = tasks
        .get_summary(summary("units/p02", "2025-07-02"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        after_old.total, 0,
        "Hà Giang holds nothing after the merger"
    );
    let after_new = tasks
        .get_summary(summary("units/p08-2025", "2025-07-02"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (after_new.total, after_new.completed_on_time),
        (3, 1),
        "its two moved rows and Hà Giang's completed one"
    );
    let programme = tasks
        .get_summary(summary("", "2025-07-02"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        programme.total, 5,
        "2 tasks x 3 units, less the merged duplicates, plus nothing lost"
    );

    // The feed says where each moved assignment went.
    let mut feed = tasks
        .watch_changes(pb::WatchChangesRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    let mut reassigned = 0;
    while let Some(Ok(change)) = feed.next().await {
        if change.kind == pb::ChangeKind::Reassigned as i32 {
            reassigned += 1;
        }
        if change.unit == "units/p08-2025" && change.kind == pb::ChangeKind::Progress as i32 {
            break;
        }
    }
    assert_eq!(reassigned, 3);
}

#[tokio::test]
async fn kpi_values_show_progress_toward_the_target_as_of_a_date() {
    let clock = clock_at(2024, 9, 2);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let indicator = pb::Indicator {
        display_name: "Tỷ lệ dịch vụ công trực tuyến toàn trình".into(),
        measure: "%".into(),
        target: 80.0,
        target_date: "2024-12-31".into(),
        group: pb::TaskGroup::PublicServices as i32,
        ..Default::default()
    };
    let created = tasks
        .create_indicator(pb::CreateIndicatorRequest {
            indicator: Some(indicator.clone()),
            indicator_id: "online-services".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "indicators/online-services");
    let record = |unit: &str, value: f64, as_of: &str| pb::RecordIndicatorValueRequest {
        value: Some(pb::IndicatorValue {
            indicator: created.name.clone(),
            unit: unit.into(),
            value,
            as_of: as_of.into(),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let hanoi = stack.key_for("units/p01", Role::Unit).await;
    let mut as_hanoi = stack.tasks(&hanoi).await;
    as_hanoi
        .record_indicator_value(record("units/p01", 60.0, "2024-08-31"))
        .await
        .unwrap();
    as_hanoi
        .record_indicator_value(record("units/p01", 84.0, "2024-09-01"))
        .await
        .unwrap();
    // A unit records only its own values, never in the future.
    assert_eq!(
        as_hanoi
            .record_indicator_value(record("units/p79", 99.0, "2024-09-01"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let err = as_hanoi
        .record_indicator_value(record("units/p01", 90.0, "2024-12-01"))
        .await
        .unwrap_err();
    assert_eq!(field(&err), "value.as_of");
    tasks
        .record_indicator_value(record("units/p79", 40.0, "2024-08-31"))
        .await
        .unwrap();

    let progress = |as_of: &str| pb::GetIndicatorProgressRequest {
        indicator: created.name.clone(),
        as_of: as_of.into(),
    };
    let august = tasks
        .get_indicator_progress(progress("2024-08-31"))
        .await
        .unwrap()
        .into_inner();
    let hn = august.units.iter().find(|u| u.unit == "units/p01").unwrap();
    assert_eq!(
        (hn.value, hn.progress, hn.met, august.met),
        (60.0, 0.75, false, 0)
    );
    let september = tasks
        .get_indicator_progress(progress("2024-09-02"))
        .await
        .unwrap()
        .into_inner();
    let hn = september
        .units
        .iter()
        .find(|u| u.unit == "units/p01")
        .unwrap();
    assert_eq!(
        (hn.value, hn.met, september.met, september.units.len()),
        (84.0, true, 1, 2)
    );
    // Bad input is named.
    let err = tasks
        .create_indicator(pb::CreateIndicatorRequest {
            indicator: Some(indicator),
            indicator_id: "Bad Id".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(field(&err), "indicator_id");
    assert_eq!(
        tasks
            .list_indicators(pb::ListIndicatorsRequest {})
            .await
            .unwrap()
            .into_inner()
            .indicators
            .len(),
        1
    );
}

#[tokio::test]
async fn a_late_periodic_report_does_not_rewrite_earlier_statuses() {
    let clock = clock_at(2024, 1, 15);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let parent = directive(&mut tasks, "06/QĐ-TTg", "2024-01-15").await;
    let created = tasks
        .create_task(pb::CreateTaskRequest {
            parent,
            task: Some(pb::Task {
                title: "Báo cáo tháng".into(),
                group: pb::TaskGroup::Data as i32,
                reporting_period: pb::ReportingPeriod::Monthly as i32,
                ..Default::default()
            }),
            assignees: assignees(&["p01"]),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let name = created.assignments[0].name.clone();
    // February's report arrives late, on 10 March.
    clock.set(Utc.with_ymd_and_hms(2024, 3, 10, 2, 0, 0).unwrap());
    let hanoi = stack.key_for("units/p01", Role::Unit).await;
    stack
        .tasks(&hanoi)
        .await
        .report_progress(pb::ReportProgressRequest {
            name: name.clone(),
            percent: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let status = |as_of: &str| pb::GetAssignmentRequest {
        name: name.clone(),
        as_of: as_of.into(),
    };
    let on_5_march = tasks
        .get_assignment(status("2024-03-05"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        on_5_march.status,
        pb::AssignmentStatus::Overdue as i32,
        "on 5 March February's report was missing"
    );
    let on_12_march = tasks
        .get_assignment(status("2024-03-12"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(on_12_march.status, pb::AssignmentStatus::Regular as i32);
    let summary = tasks
        .get_summary(pb::GetSummaryRequest {
            as_of: "2024-03-05".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.overdue, 1);
}

#[tokio::test]
async fn the_tasks_read_paths_work_on_postgres() {
    let Some(stack) = p06_tests::TestStack::start_on(p06_tests::Backend::Postgres).await else {
        eprintln!("P06_TEST_DATABASE_URL not set; skipping");
        return;
    };
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let today = (Utc::now() + chrono::Duration::hours(7)).date_naive();
    let issued = (today - chrono::Duration::days(3)).to_string();
    let parent = directive(&mut tasks, "77/TB-VPCP", &issued).await;
    let deadline = (today + chrono::Duration::days(30)).to_string();
    tasks
        .create_task(pb::CreateTaskRequest {
            parent,
            task: Some(task("Kiểm tra", pb::deadline_rule::Rule::Date(deadline))),
            assignees: assignees(&["p01", "p15-2025"]),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let listed = tasks
        .list_assignments(pb::ListAssignmentsRequest {
            filter: "status = IN_PROGRESS AND unit = \"units/p01\"".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .assignments;
    assert_eq!(listed.len(), 1);
    let filter = format!("type = NOTICE AND issue_date >= \"{issued}\"");
    let found = tasks
        .list_directives(pb::ListDirectivesRequest {
            filter,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.directives.len(), 1);
    let summary = tasks
        .get_summary(pb::GetSummaryRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((summary.total, summary.in_progress), (2, 2));
    let board = tasks
        .get_scoreboard(pb::GetScoreboardRequest {
            scope: pb::ScoreboardScope::Provinces as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(board.entries.len(), 34);
    assert_eq!(
        board
            .entries
            .iter()
            .find(|e| e.unit == "units/p01")
            .unwrap()
            .in_progress,
        1
    );
}
