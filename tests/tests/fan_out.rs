//! CreateTask checks what needs no look-up first: a duplicate among 10,000
//! assignees is refused before a single unit is looked up in localities,
//! and a valid task's units are resolved in one BatchGetUnits call per
//! thousand, never one GetUnit per assignee. Counted from this process's
//! own metrics (localities' calls); one test in its own process, so the
//! counts are exact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use p06_proto::{localities::v1 as loc, tasks::v1 as tpb};
use p06_tests::TestStack;
use support::*;

/// Localities' calls of `method` answered so far.
fn calls(method: &str) -> f64 {
    let text = p06_kit::telemetry::metrics::render_prometheus().expect("metrics set up");
    let label = format!("rpc_method=\"{method}\"");
    text.lines()
        .filter(|l| l.starts_with("rpc_server_call_duration_seconds_count{"))
        .filter(|l| l.contains(&label) && l.contains("p06_component=\"localities\""))
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
    let before = lookups();
    let refused = tasks.create_task(request(&d, &many)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert_eq!(field(&refused), "assignees[9999].unit", "{refused:?}");
    assert_eq!(lookups(), before, "no unit was looked up");

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
    let (gets, batches) = (calls("GetUnit"), calls("BatchGetUnits"));
    let created = tasks
        .create_task(request(&d, &provinces))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.assignments.len(), 40);
    assert_eq!(calls("GetUnit") - gets, 0.0, "no look-up per assignee");
    assert_eq!(calls("BatchGetUnits") - batches, 1.0, "one batched call");

    // 1,600 communes with one that does not exist in the second thousand:
    // refused naming that assignee, after two batched calls at most.
    let mut communes = Vec::new();
    let mut page_token = String::new();
    while communes.len() < 1600 {
        let page = stack
            .localities(&stack.admin_key)
            .await
            .list_units(loc::ListUnitsRequest {
                filter: "kind = COMMUNE".into(),
                active_on: "2025-03-03".into(),
                page_size: 1000,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        communes.extend(page.units.into_iter().map(|u| u.name));
        page_token = page.next_page_token;
    }
    communes.truncate(1600);
    communes[1500] = "units/no-such-commune".into();
    let batches = calls("BatchGetUnits");
    let refused = tasks.create_task(request(&d, &communes)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert_eq!(field(&refused), "assignees[1500].unit", "{refused:?}");
    assert!(refused.message().contains("no-such-commune"), "{refused:?}");
    assert_eq!(calls("BatchGetUnits") - batches, 2.0);
    // Without it, the task is made from two batched calls.
    communes[1500] = communes[1599].clone();
    communes.truncate(1599);
    let created = tasks
        .create_task(request(&d, &communes))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.assignments.len(), 1599);
}

/// Every unit look-up localities answered so far, single or batched.
fn lookups() -> f64 {
    calls("GetUnit") + calls("BatchGetUnits")
}
