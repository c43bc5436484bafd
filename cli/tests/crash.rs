//! kill -9 under load: `p06 up` on SQLite takes progress reports from
//! several units at once, is killed with SIGKILL mid-traffic and started
//! again on the same data. Every report acknowledged before the kill is in
//! the history exactly once; every report in flight at the kill, retried
//! with its request id after the restart, is there exactly once too.
//! Nothing acknowledged is lost and nothing is doubled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::up;
use p06::client::GatewayChannel;
use p06_proto::{
    gateway::v1 as g,
    localities::v1 as loc,
    tasks::v1::{self as pb, tasks_client::TasksClient},
};
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tonic::Request;

const UNITS: usize = 6;

async fn channel(gateway: &str, key: &str) -> GatewayChannel {
    p06::client::connect(&p06::cli::ClientArgs {
        gateway: gateway.to_string(),
        key: Some(key.to_string()),
    })
    .await
    .unwrap()
}

fn report(name: &str, unit: &str, n: usize) -> pb::ReportProgressRequest {
    pb::ReportProgressRequest {
        name: name.to_string(),
        percent: (n % 100) as i32,
        note: format!("report {n}"),
        evidence_link: String::new(),
        request_id: format!("{unit}-{n}"),
        etag: String::new(),
        reported_on: String::new(),
    }
}

/// What one writer saw: the reports acknowledged, and the one in flight
/// when the stack died (if any).
#[derive(Debug, Default)]
struct Seen {
    acknowledged: Vec<usize>,
    in_flight: Option<usize>,
}

#[test]
fn nothing_acknowledged_is_lost_or_doubled_across_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("P06_GATEWAY__RATE_LIMIT_PER_SECOND", "0")];
    let first = up(dir.path(), &env);
    let admin = first.key.clone().expect("an ADMIN key");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (names, keys) = runtime.block_on(async {
        let gateway = &first.gateway;
        // Provinces in force today, each with its own UNIT key.
        let mut localities =
            loc::localities_client::LocalitiesClient::new(channel(gateway, &admin).await);
        let today = chrono::Local::now().date_naive().to_string();
        let units: Vec<String> = localities
            .list_units(loc::ListUnitsRequest {
                page_size: UNITS as i32,
                filter: "kind = PROVINCE".into(),
                active_on: today.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .units
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(units.len(), UNITS);
        let mut tasks = TasksClient::new(channel(gateway, &admin).await);
        let directive = tasks
            .create_directive(pb::CreateDirectiveRequest {
                directive: Some(pb::Directive {
                    number: "99/TB-VPCP".into(),
                    r#type: pb::DirectiveType::Notice as i32,
                    issuer: "units/m-government-office".into(),
                    issue_date: today,
                    title: "Báo cáo tiến độ".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .name;
        let created = tasks
            .create_task(pb::CreateTaskRequest {
                parent: directive,
                task: Some(pb::Task {
                    title: "Cập nhật dữ liệu dân cư".into(),
                    group: pb::TaskGroup::Institutions as i32,
                    deadline: Some(pb::DeadlineRule {
                        rule: Some(pb::deadline_rule::Rule::WorkingDays(20)),
                    }),
                    ..Default::default()
                }),
                assignees: units
                    .iter()
                    .map(|u| pb::Assignee {
                        unit: u.clone(),
                        role: pb::AssigneeRole::Lead as i32,
                    })
                    .collect(),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let mut access = g::access_client::AccessClient::new(channel(gateway, &admin).await);
        let mut keys = Vec::new();
        for unit in &units {
            let key = access
                .create_api_key(g::CreateApiKeyRequest {
                    api_key: Some(g::ApiKey {
                        unit: unit.clone(),
                        role: g::Role::Unit as i32,
                        display_name: unit.clone(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
                .unwrap()
                .into_inner()
                .secret;
            keys.push(key);
        }
        let mut names = BTreeMap::new();
        for a in created.assignments {
            names.insert(a.unit.clone(), a.name);
        }
        (names, keys)
    });
    let units: Vec<String> = names.keys().cloned().collect();

    // Writers report as fast as they can until the stack dies under them.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = units
        .iter()
        .zip(&keys)
        .map(|(unit, key)| {
            let (gateway, key, name, unit, stop) = (
                first.gateway.clone(),
                key.clone(),
                names[unit].clone(),
                unit.trim_start_matches("units/").to_string(),
                stop.clone(),
            );
            runtime.spawn(async move {
                let mut client = TasksClient::new(channel(&gateway, &key).await);
                let mut seen = Seen::default();
                for n in 1.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut call = Request::new(report(&name, &unit, n));
                    call.set_timeout(Duration::from_secs(5));
                    match client.report_progress(call).await {
                        Ok(_) => seen.acknowledged.push(n),
                        Err(_) => {
                            seen.in_flight = Some(n);
                            break;
                        }
                    }
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = first.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut first = first;
    first.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = writers
        .into_iter()
        .map(|w| runtime.block_on(w).unwrap())
        .collect();
    let acknowledged: usize = seen.iter().map(|s| s.acknowledged.len()).sum();
    assert!(
        acknowledged > 50,
        "only {acknowledged} reports before the kill"
    );

    // Started again on the same data: retries of the reports in flight go
    // through once, and the history holds each report exactly once.
    let second = up(dir.path(), &env);
    runtime.block_on(async {
        let mut retried = 0;
        for ((unit, key), seen) in units.iter().zip(&keys).zip(&seen) {
            let id = unit.trim_start_matches("units/");
            let mut client = TasksClient::new(channel(&second.gateway, key).await);
            if let Some(n) = seen.in_flight {
                client.report_progress(report(&names[unit], id, n)).await.unwrap();
                // And once more: still once.
                client.report_progress(report(&names[unit], id, n)).await.unwrap();
                retried += 1;
            }
            let mut notes = BTreeMap::<String, usize>::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_assignment_events(pb::ListAssignmentEventsRequest {
                        name: names[unit].clone(),
                        page_size: 1000,
                        page_token,
                    })
                    .await
                    .unwrap()
                    .into_inner();
                for e in page.events {
                    if e.kind == pb::ChangeKind::Progress as i32 {
                        *notes.entry(e.note).or_default() += 1;
                    }
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            let doubled: Vec<_> = notes.iter().filter(|(_, c)| **c > 1).collect();
            assert!(doubled.is_empty(), "{unit}: reports twice in history: {doubled:?}");
            for n in seen.acknowledged.iter().chain(&seen.in_flight) {
                assert_eq!(
                    notes.get(&format!("report {n}")),
                    Some(&1),
                    "{unit}: report {n} was acknowledged but is not in the history once"
                );
            }
        }
        println!(
            "kill -9 under load: {acknowledged} reports acknowledged before the kill, {retried} in flight and retried after the restart, 0 lost, 0 doubled"
        );
    });
    assert!(second.stop());
}
