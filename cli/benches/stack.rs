//! Start-up, memory and search figures of the whole stack, measured on the
//! real `p06` binary:
//!
//! - time from `p06 up` to the gateway answering a GetUnit, cold (empty data
//!   directory) and on restart (existing data);
//! - resident memory of the idle stack (one process);
//! - ListUnits name-search latency over all ~14,000 units through the
//!   gateway (p50/p99) and its throughput from one client.
//!
//! Run: `cargo bench -p p06 --bench stack` (optional: `-- <searches>`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use p06_proto::localities::v1::{ListUnitsRequest, localities_client::LocalitiesClient};
use std::{
    path::Path,
    time::{Duration, Instant},
};
use support::{Up, stop, up};

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn client(
    gateway: &str,
    key: &str,
) -> LocalitiesClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        impl tonic::service::Interceptor + use<>,
    >,
> {
    let channel = tonic::transport::Endpoint::from_shared(gateway.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {key}").parse().unwrap();
    LocalitiesClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", bearer.clone());
        Ok(r)
    })
}

/// Spawns `p06 up` and returns it with the time until a GetUnit answered.
async fn time_to_answer(dir: &Path, key: Option<&str>) -> (Up, Duration, String) {
    let started = Instant::now();
    let stack = tokio::task::spawn_blocking({
        let dir = dir.to_path_buf();
        move || up(&dir, &[])
    })
    .await
    .unwrap();
    let key = key
        .map(str::to_string)
        .or(stack.key.clone())
        .expect("a key");
    let mut c = client(&stack.gateway, &key).await;
    c.get_unit(p06_proto::localities::v1::GetUnitRequest {
        name: "units/p01".into(),
    })
    .await
    .expect("answers");
    (stack, started.elapsed(), key)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let searches: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    println!(
        "p06 stack benchmark (release build, {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut kept = None;
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let (stack, took, key) = time_to_answer(dir.path(), None).await;
        cold.push(took);
        tokio::task::spawn_blocking(move || stop(stack))
            .await
            .unwrap();
        let (stack, took, _) = time_to_answer(dir.path(), Some(&key)).await;
        warm.push(took);
        if round == 2 {
            kept = Some((dir, stack, key));
        } else {
            tokio::task::spawn_blocking(move || stop(stack))
                .await
                .unwrap();
        }
    }
    cold.sort();
    warm.sort();
    println!(
        "start-up to first answer, cold (empty data dir): median {} (runs: {})",
        ms(cold[1]),
        cold.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ")
    );
    println!(
        "start-up to first answer, restart (existing data): median {} (runs: {})",
        ms(warm[1]),
        warm.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ")
    );

    let (_dir, stack, key) = kept.expect("last run kept");
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "resident memory of the idle stack: {:.1} MiB",
        rss_mib(stack.child.id())
    );

    let mut c = client(&stack.gateway, &key).await;
    let all = c
        .list_units(ListUnitsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .total_size;
    let queries = [
        "ha noi",
        "phuong ba dinh",
        "xa tan",
        "hoa",
        "an giang",
        "thanh pho",
        "dak lak",
        "quang",
        "son",
        "binh",
    ];
    let mut latencies = Vec::with_capacity(searches);
    let started = Instant::now();
    for i in 0..searches {
        let request = ListUnitsRequest {
            query: queries[i % queries.len()].into(),
            page_size: 50,
            ..Default::default()
        };
        let t = Instant::now();
        c.list_units(request).await.expect("search answers");
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "ListUnits name search over {all} units through the gateway ({searches} calls, page 50): p50 {} p99 {} max {} ({:.0} calls/s from one client)",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
        searches as f64 / elapsed.as_secs_f64()
    );
    println!(
        "resident memory after the searches: {:.1} MiB",
        rss_mib(stack.child.id())
    );
    tokio::task::spawn_blocking(move || stop(stack))
        .await
        .unwrap();
}
