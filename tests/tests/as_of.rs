//! The programme as of a date, through the gateway: Notice 344/TB-VPCP
//! assigned to 4 ministries and 7 provinces, due Saturday 20/07/2024, with
//! a report sent on paper and entered days later, a completion dated in
//! the past, an extension, then the 2025 mergers. Each as-of view is
//! checked against a hand-computed table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use p06_proto::tasks::v1 as pb;
use p06_tests::TestStack;
use std::{collections::BTreeMap, sync::Arc};
use support::*;
use tonic::Code;
use tonic_types::StatusExt as _;

const UNITS: [&str; 11] = [
    "m-public-security",
    "m-justice",
    "m-health",
    "m-education-training",
    "p01", // Hà Nội: not merged
    "p35", // Hà Nam: completed late, later merged into Ninh Bình
    "p62", // Kon Tum: a dated report, merged into Quảng Ngãi
    "p02", // Hà Giang: merged into Tuyên Quang
    "p48", // Đà Nẵng: merged with Quảng Nam
    "p22", // Quảng Ninh: not merged
    "p40", // Nghệ An: not merged
];

type Status = pb::AssignmentStatus;

/// One row as a review reads it: status, percent, completion day, deadline
/// with its version, last report, moved to / from.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    status: Status,
    percent: i32,
    completed_on: String,
    deadline: String,
    last_report_on: String,
    moved: String,
}

fn row(status: Status, percent: i32, completed_on: &str, last_report_on: &str) -> Row {
    Row {
        status,
        percent,
        completed_on: completed_on.into(),
        deadline: "2024-07-20 v1".into(),
        last_report_on: last_report_on.into(),
        moved: String::new(),
    }
}

fn seen(a: &pb::Assignment) -> Row {
    Row {
        status: Status::try_from(a.status).unwrap(),
        percent: a.progress_percent,
        completed_on: a.completed_on.clone(),
        deadline: format!("{} v{}", a.deadline, a.deadline_version),
        last_report_on: a.last_report_on.clone(),
        moved: match (a.moved_to.as_str(), a.moved_from.as_str()) {
            ("", "") => String::new(),
            (to, "") => format!("to {to} on {}", a.moved_on),
            ("", from) => format!("from {from}"),
            (to, from) => format!("from {from}, to {to}"),
        },
    }
}

/// Every row of the task listed as of `day` (filter optional), by unit.
async fn listed(tasks: &mut Tasks, task: &str, day: &str, extra: &str) -> BTreeMap<String, Row> {
    let mut out = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let page = tasks
            .list_assignments(pb::ListAssignmentsRequest {
                filter: format!("task = \"{task}\"{extra}"),
                as_of: day.into(),
                page_size: 5,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        for a in &page.assignments {
            out.insert(a.unit.trim_start_matches("units/").to_string(), seen(a));
        }
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn the_notice_344_walk_matches_the_hand_computed_table() {
    let clock = clock_at(2024, 7, 2);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let coordinator = coordinator_key(&stack).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let notice = directive(&mut tasks, "344/TB-VPCP", "2024-07-02").await;
    let names = assign(
        &mut tasks,
        &notice,
        "Triển khai dịch vụ công trực tuyến toàn trình",
        "2024-07-20",
        &UNITS,
    )
    .await;
    let name = |unit: &str| names[UNITS.iter().position(|u| *u == unit).unwrap()].clone();
    let task = name("p01")
        .split("/assignments/")
        .next()
        .unwrap()
        .to_string();
    let as_unit = |unit: &'static str| {
        let stack = &stack;
        async move { stack.tasks(&unit_key(stack, unit).await).await }
    };
    let report = |unit: &str, percent: i32, reported_on: &str| pb::ReportProgressRequest {
        name: name(unit),
        percent,
        note: "Công văn báo cáo tiến độ".into(),
        reported_on: reported_on.into(),
        ..Default::default()
    };

    // 10/07: the Ministry of Justice completes.
    clock.set(at(2024, 7, 10, 9, 0));
    as_unit("m-justice")
        .await
        .complete_assignment(pb::CompleteAssignmentRequest {
            name: name("m-justice"),
            ..Default::default()
        })
        .await
        .unwrap();
    // 15/07: Kon Tum reports 30 %.
    clock.set(at(2024, 7, 15, 9, 0));
    as_unit("p62")
        .await
        .report_progress(report("p62", 30, ""))
        .await
        .unwrap();
    // 24/07: the Government Office enters Kon Tum's 60 % report, sent on
    // paper on 18/07; a report dated before the last one is refused.
    clock.set(at(2024, 7, 24, 9, 0));
    for (day, reason) in [
        ("2024-07-14", "BEFORE_LAST_CHANGE"),
        ("2024-07-25", "IN_THE_FUTURE"),
    ] {
        let err = tasks
            .report_progress(report("p62", 50, day))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
        let info = err.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(
            (
                info.reason.as_str(),
                info.metadata.get("field").map(String::as_str)
            ),
            (reason, Some("reported_on")),
            "{err:?}"
        );
    }
    let entered = tasks
        .report_progress(report("p62", 60, "2024-07-18"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (entered.progress_percent, entered.last_report_on.as_str()),
        (60, "2024-07-18")
    );
    // 29/07: Hà Nam reports its completion of 25/07; Hà Nội reports 80 %.
    clock.set(at(2024, 7, 29, 9, 0));
    as_unit("p35")
        .await
        .complete_assignment(pb::CompleteAssignmentRequest {
            name: name("p35"),
            completed_on: "2024-07-25".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    as_unit("p01")
        .await
        .report_progress(report("p01", 80, ""))
        .await
        .unwrap();
    // 30/07: the Ministry of Health is granted until 15/08.
    clock.set(at(2024, 7, 30, 9, 0));
    let asked = as_unit("m-health")
        .await
        .request_extension(pb::RequestExtensionRequest {
            parent: name("m-health"),
            requested_deadline: "2024-08-15".into(),
            reason: "chờ nâng cấp hệ thống".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    tasks
        .decide_extension(pb::DecideExtensionRequest {
            name: asked.name,
            approve: true,
            note: "đồng ý".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    // The hand-computed table. Open rows are IN_PROGRESS through Saturday
    // 20/07 and OVERDUE from 21/07.
    let open = |status| row(status, 0, "", "");
    let justice = row(Status::CompletedOnTime, 100, "2024-07-10", "");
    let expect = |day: &str| -> BTreeMap<String, Row> {
        let late = day > "2024-07-20";
        let open_now = if late {
            Status::Overdue
        } else {
            Status::InProgress
        };
        let mut t: BTreeMap<String, Row> = UNITS
            .iter()
            .map(|u| (u.to_string(), open(open_now)))
            .collect();
        t.insert(
            "m-justice".into(),
            row(Status::CompletedOnTime, 100, "2024-07-10", ""),
        );
        let kon_tum = if day >= "2024-07-18" {
            row(open_now, 60, "", "2024-07-18")
        } else {
            row(open_now, 30, "", "2024-07-15")
        };
        t.insert("p62".into(), kon_tum);
        if day >= "2024-07-25" {
            t.insert(
                "p35".into(),
                row(Status::CompletedLate, 100, "2024-07-25", ""),
            );
        }
        if day >= "2024-07-29" {
            t.insert("p01".into(), row(open_now, 80, "", "2024-07-29"));
        }
        if day >= "2024-07-30" {
            t.insert(
                "m-health".into(),
                Row {
                    deadline: "2024-08-15 v2".into(),
                    ..open(if day > "2024-08-15" {
                        Status::Overdue
                    } else {
                        Status::InProgress
                    })
                },
            );
        }
        t
    };
    for day in ["2024-07-17", "2024-07-18", "2024-07-22", "2024-07-31"] {
        assert_eq!(
            listed(&mut tasks, &task, day, "").await,
            expect(day),
            "as of {day}"
        );
    }
    assert_eq!(justice, expect("2024-07-31")["m-justice"]);
    // Before it was made, it was not there.
    assert!(listed(&mut tasks, &task, "2024-07-01", "").await.is_empty());
    let err = tasks
        .get_assignment(pb::GetAssignmentRequest {
            name: name("p35"),
            as_of: "2024-07-01".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let hanam = tasks
        .get_assignment(pb::GetAssignmentRequest {
            name: name("p35"),
            as_of: "2024-07-22".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen(&hanam), open(Status::Overdue), "Hà Nam on 22/07");
    // The status filter reads the day too.
    let overdue = listed(&mut tasks, &task, "2024-07-22", " AND status = OVERDUE").await;
    assert_eq!(overdue.len(), 10, "all but the Ministry of Justice");

    // The report entered on Kon Tum's behalf: the audit names who entered
    // it and the day it was made; its event carries that day.
    let audit = tasks
        .list_audit_log(pb::ListAuditLogRequest {
            resource_prefix: name("p62"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let dated = audit
        .iter()
        .find(|e| e.detail.contains("reported on 2024-07-18"))
        .expect("the dated report's audit entry");
    assert!(
        dated
            .detail
            .contains("entered by units/m-government-office on behalf of units/p62"),
        "{dated:?}"
    );
    assert!(dated.actor.starts_with("apiKeys/"), "{dated:?}");
    let events = tasks
        .list_assignment_events(pb::ListAssignmentEventsRequest {
            name: name("p62"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let days: Vec<&str> = events.iter().map(|e| e.effective_date.as_str()).collect();
    assert_eq!(days, ["2024-07-02", "2024-07-15", "2024-07-18"]);

    // 2025: the provinces merge on 01/07; the administrator applies it.
    clock.set(at(2025, 7, 2, 9, 0));
    let applied = stack
        .tasks(&stack.admin_key)
        .await
        .apply_administrative_changes(pb::ApplyAdministrativeChangesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.moved, 3, "Kon Tum, Hà Giang, Đà Nẵng: {applied:?}");
    let mut then = expect("2025-07-02");
    for (from, to) in [
        ("p62", "p51-2025"),
        ("p02", "p08-2025"),
        ("p48", "p48-2025"),
    ] {
        let old = then.remove(from).unwrap();
        then.insert(
            from.into(),
            Row {
                status: Status::Unspecified,
                moved: format!("to units/{to} on 2025-07-01"),
                ..old
            },
        );
        let carried = Row {
            status: Status::Overdue,
            moved: format!("from units/{from}"),
            ..row(Status::Overdue, 0, "", "")
        };
        then.insert(to.into(), carried);
    }
    // Kon Tum's successor carries its 60 % and last report.
    let quang_ngai = then.get_mut("p51-2025").unwrap();
    quang_ngai.percent = 60;
    quang_ngai.last_report_on = "2024-07-18".into();
    assert_eq!(
        listed(&mut tasks, &task, "2025-07-02", "").await,
        then,
        "as of 02/07/2025"
    );
    // A later report by the successor changes nothing of the days before
    // it: Quảng Ngãi's row still starts from Kon Tum's report of 18/07.
    clock.set(at(2025, 7, 3, 9, 0));
    let successor = name("p62").replace("/assignments/p62", "/assignments/p51-2025");
    stack
        .tasks(&unit_key(&stack, "p51-2025").await)
        .await
        .report_progress(pb::ReportProgressRequest {
            name: successor,
            percent: 70,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed(&mut tasks, &task, "2025-07-02", "").await,
        then,
        "as of 02/07/2025, after the successor's report of 03/07"
    );
    // The moved rows can be left out; the successors did not exist in 2024.
    assert_eq!(
        listed(&mut tasks, &task, "2025-07-02", " AND moved = false")
            .await
            .len(),
        11
    );
    assert_eq!(
        listed(&mut tasks, &task, "2024-07-31", "").await,
        expect("2024-07-31"),
        "the mergers change nothing of 2024"
    );
    let err = tasks
        .list_assignments(pb::ListAssignmentsRequest {
            filter: "moved = maybe".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

/// The boards' totals on `day`: provinces, central agencies, and both on
/// one board; with the number of units ranked on the provincial board.
async fn board_totals(tasks: &mut Tasks, day: &str) -> (i32, i32, i32, usize) {
    let mut totals = Vec::new();
    let mut provinces = 0;
    for scope in [
        pb::ScoreboardScope::Provinces,
        pb::ScoreboardScope::CentralAgencies,
        pb::ScoreboardScope::All,
    ] {
        let board = tasks
            .get_scoreboard(pb::GetScoreboardRequest {
                as_of: day.into(),
                scope: scope as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if scope == pb::ScoreboardScope::Provinces {
            provinces = board.entries.len();
        }
        totals.push(board.entries.iter().map(|e| e.total).sum::<i32>());
    }
    (totals[0], totals[1], totals[2], provinces)
}

async fn summary(tasks: &mut Tasks, day: &str, unit: &str, task: &str) -> pb::Summary {
    tasks
        .get_summary(pb::GetSummaryRequest {
            as_of: day.into(),
            unit: unit.into(),
            task: task.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn summary_total_equals_the_boards_on_every_day_across_both_2025_mergers() {
    let clock = clock_at(2024, 12, 2);
    let stack = TestStack::start_at(Arc::new(clock.clone())).await;
    let coordinator = coordinator_key(&stack).await;
    let mut tasks = stack.tasks(&coordinator).await;
    let notice = directive(&mut tasks, "12/TB-VPCP", "2024-12-02").await;
    let a_units = [
        "m-planning-investment",
        "m-finance",
        "m-justice",
        "m-transport",
        "p35",
        "p36",
        "p37",
        "p01",
        "p02",
        "p62",
    ];
    let a = assign(
        &mut tasks,
        &notice,
        "Kết nối dữ liệu dân cư",
        "2025-01-31",
        &a_units,
    )
    .await;
    let b_units = [
        "m-information-communications",
        "m-science-technology",
        "p35",
        "p08",
    ];
    let b = assign(&mut tasks, &notice, "Chữ ký số", "2025-06-30", &b_units).await;
    let task_a = a[0].split("/assignments/").next().unwrap().to_string();
    // Closed before the mergers: they stay with units that then end.
    clock.set(at(2025, 1, 20, 9, 0));
    for (name, on) in [
        (&a[0], "2025-01-20"),
        (&a[4], "2025-01-20"),
        (&b[0], "2025-01-20"),
    ] {
        tasks
            .complete_assignment(pb::CompleteAssignmentRequest {
                name: name.clone(),
                completed_on: on.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // The ministries' reorganisation (01/03) and the provinces' (01/07),
    // each applied a few days late.
    let mut admin = stack.tasks(&stack.admin_key).await;
    for (y, m, d) in [(2025, 3, 3), (2025, 7, 2)] {
        clock.set(at(y, m, d, 9, 0));
        admin
            .apply_administrative_changes(pb::ApplyAdministrativeChangesRequest::default())
            .await
            .unwrap();
    }

    for day in [
        "2025-01-31",
        "2025-02-28",
        "2025-03-01",
        "2025-03-02",
        "2025-03-05",
        "2025-06-30",
        "2025-07-01",
        "2025-07-02",
        "2025-07-15",
    ] {
        let programme = summary(&mut tasks, day, "", "").await.total;
        let (provinces, central, all, ranked) = board_totals(&mut tasks, day).await;
        assert_eq!(
            (provinces + central, all),
            (programme, programme),
            "as of {day}: the boards add up to the summary"
        );
        assert_eq!(ranked, if day < "2025-07-01" { 63 } else { 34 }, "{day}");
    }
    // Before the reorganisation each unit holds its own; after it, the
    // successor holds its predecessors' work, closed work included.
    let unit = |u: &str| format!("units/{u}");
    assert_eq!(
        summary(&mut tasks, "2025-02-28", &unit("m-finance"), "")
            .await
            .total,
        1
    );
    assert_eq!(
        summary(&mut tasks, "2025-02-28", &unit("m-planning-investment"), "")
            .await
            .total,
        1
    );
    let finance = summary(&mut tasks, "2025-03-01", &unit("m-finance"), "").await;
    assert_eq!(
        (finance.total, finance.completed_on_time),
        (2, 1),
        "the Ministry of Finance counts Planning and Investment's completed task"
    );
    assert_eq!(
        summary(&mut tasks, "2025-03-01", &unit("m-planning-investment"), "")
            .await
            .total,
        0
    );
    let science = summary(&mut tasks, "2025-03-02", &unit("m-science-technology"), "").await;
    assert_eq!(
        (science.total, science.completed_on_time),
        (2, 1),
        "its own open row and Information and Communications' completed one"
    );
    // Ninh Bình from 01/07: Hà Nam's two (one completed), Nam Định's and its
    // own — the two open ones of task A now one row of the successor.
    let ninh_binh = summary(&mut tasks, "2025-07-02", &unit("p37-2025"), "").await;
    assert_eq!(
        (ninh_binh.total, ninh_binh.completed_on_time),
        (3, 1),
        "{ninh_binh:?}"
    );
    assert_eq!(
        summary(&mut tasks, "2025-06-30", &unit("p37-2025"), "")
            .await
            .total,
        0
    );
    assert_eq!(
        summary(&mut tasks, "2025-06-30", &unit("p35"), "")
            .await
            .total,
        2
    );
    // One task's summary: its ten assignees, fewer once merged rows fold
    // into their successors (Nam Định's and Ninh Bình's into one; Hà Giang
    // and Kon Tum move one each).
    assert_eq!(
        summary(&mut tasks, "2025-02-28", "", &task_a).await.total,
        10
    );
    assert_eq!(
        summary(&mut tasks, "2025-07-02", "", &task_a).await.total,
        9
    );
}
