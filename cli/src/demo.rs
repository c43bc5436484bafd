//! `p06 up --demo`: a small data set shaped like the programme's public
//! reports, loaded through the tasks API as the service itself. Every call
//! carries a request id, so loading it again changes nothing.
//!
//! The directives are real documents: Decision 06/QĐ-TTg of 2022-01-06
//! approving Project 06, and Notice 344/TB-VPCP asking four agencies and
//! seven localities to issue their action plans by 2024-07-20. Which
//! agencies and localities, the notice's own date and the progress shown
//! are illustrative.
//!
//! So that reminders flow at once, a few illustrative tasks under Decision
//! 06 fall due around the day the demo is first loaded, counted in working
//! days on the national calendar from that day (from the next working day
//! when it is a day off or after office hours): overdue by 5 and by 2
//! working days, due that day, due in 2 and in 5 working days. A schedule
//! starts on the day its assignment is created, so under the default
//! ladder each of them owes a reminder that very day: in office hours
//! (08:00–17:00 Hà Nội time on working days) the notifications service
//! sends OVERDUE, DUE_TODAY and DUE_SOON reminders (Hà Nội, units/p01, gets
//! one of each) and an ESCALATION to the Working Group (units/wg06) for the
//! one 5 days late; OVERDUE repeats every 2 working days after. Their
//! request ids are fixed, so a later load keeps the dates of the first.

use chrono::{Datelike, NaiveDate, Timelike as _};
use p06_kit::{
    Clock,
    calendar::{Calendar, CalendarDay, DayKind},
    client::{InternalChannel, internal},
};
use p06_proto::{
    localities::v1::{ListUnitsRequest, localities_client::LocalitiesClient},
    tasks::v1::{self as pb, tasks_client::TasksClient},
};
use std::net::SocketAddr;

const PLAN_UNITS: [&str; 11] = [
    "m-public-security",
    "m-justice",
    "m-finance",
    "m-information-communications",
    "p01",
    "p79",
    "p31",
    "p48",
    "p92",
    "p22",
    "p38",
];

/// Where a reminder task's deadline falls, in working days from the first
/// working day on or after the day the demo is loaded.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// Overdue by this many working days.
    Overdue(u32),
    /// Due that day.
    Today,
    /// Due in this many working days.
    In(u32),
}

/// The tasks whose reminders fall due around today: request id, title,
/// group, deadline and the provinces leading them (units that continue
/// unchanged through the 2025 merger, so valid on any date).
const REMINDER_TASKS: [(&str, &str, pb::TaskGroup, Due, &[&str]); 5] = [
    (
        "demo-reminders-civil-status",
        "Làm sạch dữ liệu hộ tịch, đồng bộ với Cơ sở dữ liệu quốc gia về dân cư",
        pb::TaskGroup::Data,
        Due::Overdue(5),
        &["p40"],
    ),
    (
        "demo-reminders-health-records",
        "Báo cáo kết quả triển khai sổ sức khỏe điện tử",
        pb::TaskGroup::PublicServices,
        Due::Overdue(2),
        &["p01", "p38"],
    ),
    (
        "demo-reminders-portal",
        "Kết nối Cổng dịch vụ công cấp tỉnh với Cơ sở dữ liệu quốc gia về dân cư",
        pb::TaskGroup::Infrastructure,
        Due::Today,
        &["p01", "p22"],
    ),
    (
        "demo-reminders-vneid",
        "Hướng dẫn người dân kích hoạt tài khoản định danh điện tử mức độ 2",
        pb::TaskGroup::PublicServices,
        Due::In(2),
        &["p01", "p42"],
    ),
    (
        "demo-reminders-cashless",
        "Triển khai chi trả an sinh xã hội không dùng tiền mặt",
        pb::TaskGroup::PublicServices,
        Due::In(5),
        &["p38", "p22"],
    ),
];

/// The hour office hours end (Hà Nội time, the notifications default).
const OFFICE_END_HOUR: u32 = 17;

/// What the demo loaded.
#[derive(Debug)]
pub struct Loaded {
    /// Directives.
    pub directives: usize,
    /// Assignments of the two directives' tasks.
    pub assignments: usize,
    /// Assignments falling due around the first load's date, whose
    /// reminders go out in office hours.
    pub reminders: usize,
}

fn directive(
    number: &str,
    kind: pb::DirectiveType,
    date: &str,
    title: &str,
) -> pb::CreateDirectiveRequest {
    pb::CreateDirectiveRequest {
        directive: Some(pb::Directive {
            number: number.into(),
            r#type: kind as i32,
            issuer: "units/m-government-office".into(),
            issue_date: date.into(),
            title: title.into(),
            ..Default::default()
        }),
        request_id: format!("demo-{number}"),
    }
}

/// Loads the demo data into the stack's tasks service; `clock` (the
/// stack's) dates the tasks that fall due around today.
pub async fn load(
    tasks_addr: SocketAddr,
    localities_addr: SocketAddr,
    token: &str,
    clock: &dyn Clock,
) -> anyhow::Result<Loaded> {
    let mut tasks = TasksClient::new(internal("demo", &format!("http://{tasks_addr}"), token)?);
    let mut localities = LocalitiesClient::new(internal(
        "demo",
        &format!("http://{localities_addr}"),
        token,
    )?);

    let decision = tasks
        .create_directive(directive(
            "06/QĐ-TTg",
            pb::DirectiveType::Decision,
            "2022-01-06",
            "Phê duyệt Đề án phát triển ứng dụng dữ liệu về dân cư, định danh và xác thực điện tử phục vụ chuyển đổi số quốc gia giai đoạn 2022 - 2025, tầm nhìn đến năm 2030",
        ))
        .await?
        .into_inner();
    let provinces = localities
        .list_units(ListUnitsRequest {
            filter: "kind = PROVINCE OR kind = CENTRALLY_RUN_CITY".into(),
            active_on: "2022-01-06".into(),
            page_size: 100,
            ..Default::default()
        })
        .await?
        .into_inner()
        .units;
    let reports = tasks
        .create_task(pb::CreateTaskRequest {
            parent: decision.name.clone(),
            task: Some(pb::Task {
                title: "Báo cáo định kỳ hằng tháng kết quả triển khai Đề án 06".into(),
                group: pb::TaskGroup::Data as i32,
                reporting_period: pb::ReportingPeriod::Monthly as i32,
                ..Default::default()
            }),
            assignees: provinces
                .iter()
                .map(|u| pb::Assignee {
                    unit: u.name.clone(),
                    role: pb::AssigneeRole::Lead as i32,
                })
                .collect(),
            request_id: "demo-06-monthly-reports".into(),
        })
        .await?
        .into_inner();

    let notice = tasks
        .create_directive(directive(
            "344/TB-VPCP",
            pb::DirectiveType::Notice,
            "2024-07-05",
            "Kết luận của Thủ tướng Chính phủ tại cuộc họp Tổ công tác triển khai Đề án 06",
        ))
        .await?
        .into_inner();
    let plan = tasks
        .create_task(pb::CreateTaskRequest {
            parent: notice.name.clone(),
            task: Some(pb::Task {
                title: "Ban hành kế hoạch hành động triển khai các nhiệm vụ được giao".into(),
                group: pb::TaskGroup::Institutions as i32,
                deadline: Some(pb::DeadlineRule {
                    rule: Some(pb::deadline_rule::Rule::Date("2024-07-20".into())),
                }),
                ..Default::default()
            }),
            assignees: PLAN_UNITS
                .iter()
                .map(|u| pb::Assignee {
                    unit: format!("units/{u}"),
                    role: pb::AssigneeRole::Lead as i32,
                })
                .collect(),
            request_id: "demo-344-plan".into(),
        })
        .await?
        .into_inner();
    let plan_task = plan.task.map(|t| t.name).unwrap_or_default();
    for (unit, on) in [
        ("p01", "2024-07-15"),
        ("m-public-security", "2024-07-18"),
        ("p48", "2024-07-19"),
        ("p79", "2024-07-26"),
    ] {
        let request = pb::CompleteAssignmentRequest {
            name: format!("{plan_task}/assignments/{unit}"),
            completed_on: on.into(),
            note: "đã ban hành kế hoạch".into(),
            request_id: format!("demo-complete-{unit}"),
            ..Default::default()
        };
        if let Err(status) = tasks.complete_assignment(request).await
            && status.code() != tonic::Code::FailedPrecondition
        {
            return Err(anyhow::anyhow!(
                "demo completion for {unit}: {}",
                status.message()
            ));
        }
    }
    let report_task = reports.task.map(|t| t.name).unwrap_or_default();
    for unit in ["p01", "p31", "p48", "p92"] {
        let request = pb::ReportProgressRequest {
            name: format!("{report_task}/assignments/{unit}"),
            percent: 100,
            note: "báo cáo tháng".into(),
            request_id: format!("demo-report-{unit}"),
            ..Default::default()
        };
        if let Err(status) = tasks.report_progress(request).await
            && status.code() != tonic::Code::FailedPrecondition
        {
            return Err(anyhow::anyhow!(
                "demo report for {unit}: {}",
                status.message()
            ));
        }
    }
    let reminders = reminder_tasks(&mut tasks, &decision.name, clock).await?;
    Ok(Loaded {
        directives: 2,
        assignments: reports.assignments.len() + plan.assignments.len(),
        reminders,
    })
}

/// The national working-day calendar around `today`, as the tasks service
/// keeps it.
async fn calendar(
    tasks: &mut TasksClient<InternalChannel>,
    today: NaiveDate,
) -> anyhow::Result<Calendar> {
    let mut days = Vec::new();
    for year in today.year() - 1..=today.year() + 1 {
        let c = tasks
            .get_calendar(pb::GetCalendarRequest { year })
            .await?
            .into_inner();
        let exceptions = c
            .days_off
            .into_iter()
            .map(|d| (d, DayKind::DayOff))
            .chain(c.working_days.into_iter().map(|d| (d, DayKind::WorkingDay)));
        for (d, kind) in exceptions {
            if let Ok(date) = d.date.parse() {
                days.push(CalendarDay {
                    date,
                    kind,
                    name: d.name,
                });
            }
        }
    }
    Ok(Calendar::new(days))
}

/// The deadline `due` sets, counted from `first`, the first working day on
/// or after today.
fn deadline(cal: &Calendar, first: NaiveDate, due: Due) -> anyhow::Result<NaiveDate> {
    match due {
        Due::Overdue(n) => cal.sub_working_days(first, n),
        Due::Today => Some(first),
        Due::In(n) => cal.add_working_days(first, n),
    }
    .ok_or_else(|| anyhow::anyhow!("the calendar has no working day near {first}"))
}

/// Creates the tasks whose reminders fall due around today, under `parent`;
/// returns how many assignments they have.
async fn reminder_tasks(
    tasks: &mut TasksClient<InternalChannel>,
    parent: &str,
    clock: &dyn Clock,
) -> anyhow::Result<usize> {
    let now = clock.now().with_timezone(&p06_kit::clock::vietnam_offset());
    // After office hours today's reminders could only go out tomorrow.
    let today = if now.hour() >= OFFICE_END_HOUR {
        now.date_naive() + chrono::Days::new(1)
    } else {
        now.date_naive()
    };
    let cal = calendar(tasks, today).await?;
    let first = cal
        .working_day_on_or_after(today)
        .ok_or_else(|| anyhow::anyhow!("the calendar has no working day after {today}"))?;
    let mut assignments = 0;
    for (request_id, title, group, due, units) in REMINDER_TASKS {
        let created = tasks
            .create_task(pb::CreateTaskRequest {
                parent: parent.to_string(),
                task: Some(pb::Task {
                    title: title.into(),
                    group: group as i32,
                    deadline: Some(pb::DeadlineRule {
                        rule: Some(pb::deadline_rule::Rule::Date(
                            deadline(&cal, first, due)?.to_string(),
                        )),
                    }),
                    ..Default::default()
                }),
                assignees: units
                    .iter()
                    .map(|u| pb::Assignee {
                        unit: format!("units/{u}"),
                        role: pb::AssigneeRole::Lead as i32,
                    })
                    .collect(),
                request_id: request_id.into(),
            })
            .await?
            .into_inner();
        assignments += created.assignments.len();
    }
    Ok(assignments)
}
