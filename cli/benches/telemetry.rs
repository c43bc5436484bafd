//! What telemetry costs a call: p50/p99 of GetUnit through the gateway of a
//! real `p06 up` (release build), with telemetry off, exporting traces and
//! metrics to a live OTLP receiver (run by this benchmark, accepting and
//! dropping everything), and pointed at a dead port. Target: each within
//! 10 % of "off" at p50. Each mode runs five times, interleaved, and the
//! median of its runs' p50 counts (the best run is printed too), so a slow
//! moment of the machine does not decide. The live receiver's span count
//! shows the spans were made and sent.
//!
//! Run: `cargo bench -p p06 --bench telemetry` (optional: `-- <calls>`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use opentelemetry_proto::tonic::collector::{
    metrics::v1::{
        ExportMetricsServiceRequest, ExportMetricsServiceResponse,
        metrics_service_server::{MetricsService, MetricsServiceServer},
    },
    trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
};
use p06_proto::localities::v1::{GetUnitRequest, localities_client::LocalitiesClient};
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};
use support::{Up, stop, up};

static SPANS: AtomicU64 = AtomicU64::new(0);

struct Sink;

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let n: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        SPANS.fetch_add(n as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        _request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

/// Sorted latencies of `calls` sequential GetUnit calls after a warm-up.
async fn measure(up: &Up, calls: usize) -> Vec<Duration> {
    let channel = tonic::transport::Endpoint::from_shared(up.gateway.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let key = up
        .key
        .clone()
        .expect("a fresh data directory prints its key");
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {key}").parse().unwrap();
    let mut client =
        LocalitiesClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", bearer.clone());
            Ok(r)
        });
    let request = || GetUnitRequest {
        name: "units/p01".into(),
    };
    for _ in 0..calls / 5 {
        client.get_unit(request()).await.unwrap();
    }
    let mut took = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        client.get_unit(request()).await.unwrap();
        took.push(started.elapsed());
    }
    took.sort();
    took
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() {
    let calls: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5000);
    // The spans must actually be made: the bench's `p06 up` logs at warn,
    // and exported spans have their own filter (info).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Sink))
            .add_service(MetricsServiceServer::new(Sink))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let dead = {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        format!("http://127.0.0.1:{port}")
    };
    println!(
        "p06 telemetry cost: GetUnit through the gateway, {calls} sequential calls per run, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let modes: [(&str, Vec<(&str, &str)>); 3] = [
        ("off", vec![]),
        (
            "live receiver",
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", live.as_str()),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
            ],
        ),
        (
            "dead port",
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", dead.as_str()),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
            ],
        ),
    ];
    const ROUNDS: usize = 5;
    let mut runs: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); modes.len()];
    for round in 0..ROUNDS {
        for (i, (name, env)) in modes.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let stack = tokio::task::spawn_blocking({
                let (path, env) = (
                    dir.path().to_path_buf(),
                    env.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<Vec<_>>(),
                );
                move || {
                    let env: Vec<(&str, &str)> =
                        env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    up(&path, &env)
                }
            })
            .await
            .unwrap();
            let took = measure(&stack, calls).await;
            let (p50, p99) = (percentile(&took, 0.5), percentile(&took, 0.99));
            println!(
                "  round {}: {name:>13}: p50 {:7.1} µs  p99 {:7.1} µs",
                round + 1,
                us(p50),
                us(p99)
            );
            runs[i].push((p50, p99));
            tokio::task::spawn_blocking(move || stop(stack))
                .await
                .unwrap();
        }
    }
    // Per mode: the run with the median p50, and the best run.
    let pick = |runs: &[(Duration, Duration)], median: bool| {
        let mut sorted = runs.to_vec();
        sorted.sort();
        if median {
            sorted[sorted.len() / 2]
        } else {
            sorted[0]
        }
    };
    for (title, median) in [
        ("median run of each (the figure)", true),
        ("best run of each", false),
    ] {
        let (off, _) = pick(&runs[0], median);
        println!("{title}:");
        for ((name, _), r) in modes.iter().zip(&runs) {
            let (p50, p99) = pick(r, median);
            println!(
                "  {name:>13}: p50 {:7.1} µs ({:+5.1} % vs off)  p99 {:7.1} µs",
                us(p50),
                (us(p50) / us(off) - 1.0) * 100.0,
                us(p99)
            );
        }
    }
    println!(
        "spans received by the live receiver: {}",
        SPANS.load(Ordering::Relaxed)
    );
}
