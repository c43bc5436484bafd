//! CreateTask checks what needs no look-up first: a duplicate among 10,000
//! assignees is refused before a single unit is looked up in localities,
//! and the look-ups of a valid task are one per assignee. Counted from this
//! process's own metrics (localities' GetUnit calls); one test in its own
//! process, so the counts are exact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use p06_proto::{localities::v1 as loc, tasks::v1 as tpb};
use p06_tests::TestStack;
use support::*;

/// Localities' GetUnit calls answered so far.
fn unit_lookups() -> f64 {
    let text = p06_kit::telemetry::metrics::render_prometheus().expect("metrics set up");
    text.lines()
        .filter(|l| l.starts_with("rpc_server_call_duration_seconds_count{"))
        .filter(|l| {
            l.contains("rpc_method=\"GetUnit\"") && l.contains("p06_component=\"localities\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn request(directive: &str, units: &[String]) -> tpb::CreateTaskRequest {
    tpb::CreateTaskRequest {
        parent: directive.into(),
        task: Some(tpb::Task {
            title: "Kết nối dữ liệu".into(),
            group: tpb::TaskGroup::Data as i32,
            deadline: Some(tpb::DeadlineRule {
                rule: Some(tpb::deadline_rule::Rule::Date("2025-06-30".into())),
            }),
            ..Default::default()
        }),
        assignees: units
            .iter()
            .map(|u| tpb::Assignee {
                unit: u.clone(),
                role: tpb::AssigneeRole::Lead as i32,
            })
            .collect(),
        request_id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_refused_before_any_lookup() {
    let _guard = p06_kit::telemetry::init_with(p06_kit::telemetry::Options {
        service: "p06-test".into(),
        json: false,
        otlp_endpoint: None,
        per_component: false,
        export_interval: None,
    });
    let stack = TestStack::start().await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "12/TB-VPCP", "2025-03-03").await;

    let mut many: Vec<String> = (0..9_999).map(|i| format!("units/x{i}")).collect();
    many.push("units/x0".into());
    let before = unit_lookups();
    let refused = tasks.create_task(request(&d, &many)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert_eq!(field(&refused), "assignees[9999].unit", "{refused:?}");
    assert_eq!(unit_lookups(), before, "no unit was looked up");

    let provinces: Vec<String> = stack
        .localities(&stack.admin_key)
        .await
        .list_units(loc::ListUnitsRequest {
            filter: "kind = PROVINCE".into(),
            active_on: "2025-03-03".into(),
            page_size: 40,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .units
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(provinces.len(), 40);
    let before = unit_lookups();
    let created = tasks
        .create_task(request(&d, &provinces))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.assignments.len(), 40);
    assert_eq!(unit_lookups() - before, 40.0, "one look-up per assignee");
}
