//! `p06 up --demo`: a small data set shaped like the programme's public
//! reports, loaded through the tasks API as the service itself. Every call
//! carries a request id, so loading it again changes nothing.
//!
//! The directives are real documents: Decision 06/QĐ-TTg of 2022-01-06
//! approving Project 06, and Notice 344/TB-VPCP asking four agencies and
//! seven localities to issue their action plans by 2024-07-20. Which
//! agencies and localities, the notice's own date and the progress shown
//! are illustrative.

use p06_kit::client::internal;
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

/// What the demo loaded.
#[derive(Debug)]
pub struct Loaded {
    /// Directives.
    pub directives: usize,
    /// Assignments.
    pub assignments: usize,
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

/// Loads the demo data into the stack's tasks service.
pub async fn load(
    tasks_addr: SocketAddr,
    localities_addr: SocketAddr,
    token: &str,
) -> anyhow::Result<Loaded> {
    let mut tasks = TasksClient::new(internal(&format!("http://{tasks_addr}"), token)?);
    let mut localities =
        LocalitiesClient::new(internal(&format!("http://{localities_addr}"), token)?);

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
    Ok(Loaded {
        directives: 2,
        assignments: reports.assignments.len() + plan.assignments.len(),
    })
}
