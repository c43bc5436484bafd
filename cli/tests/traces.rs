//! Trace export: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, one request is one
//! trace across gateway → localities, delivered to an OTLP receiver this
//! test runs; with the collector down, the stack still answers and stops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ok, p06, up};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use opentelemetry_proto::tonic::trace::v1::Span;
use std::time::Duration;
use tokio::sync::mpsc;

struct Receiver(mpsc::UnboundedSender<Span>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for rs in request.into_inner().resource_spans {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let _ = self.0.send(span);
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_across_services() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (tx, mut spans) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let stack = tokio::task::spawn_blocking({
        let path = dir.path().to_path_buf();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move || {
            up(
                &path,
                &env.iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>(),
            )
        }
    })
    .await
    .unwrap();
    let (gateway, key) = (stack.gateway.clone(), stack.key.clone().unwrap());
    let out =
        tokio::task::spawn_blocking(move || ok(p06(&gateway, &key, &["units", "get", "p01"])))
            .await
            .unwrap();
    assert!(out.contains("Hà Nội"));

    // Wait (bounded) for the GetUnit server spans of the gateway and of localities.
    let mut get_unit: Vec<Span> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while get_unit.len() < 2 {
        let span = tokio::time::timeout_at(deadline, spans.recv())
            .await
            .expect("spans exported in time")
            .unwrap();
        if span.name.ends_with("Localities/GetUnit") {
            get_unit.push(span);
        }
    }
    assert_eq!(
        get_unit[0].trace_id, get_unit[1].trace_id,
        "gateway and localities spans share one trace"
    );
    let child = get_unit
        .iter()
        .find(|s| !s.parent_span_id.is_empty())
        .expect("the localities span has a parent");
    let parent = get_unit
        .iter()
        .find(|s| s.span_id != child.span_id)
        .unwrap();
    assert_eq!(
        child.parent_span_id, parent.span_id,
        "localities span is the gateway span's child"
    );
    assert!(
        tokio::task::spawn_blocking(move || stack.stop())
            .await
            .unwrap()
    );
}

#[test]
fn a_down_collector_does_not_stop_the_stack() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let stack = up(
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    );
    let key = stack.key.clone().unwrap();
    for _ in 0..5 {
        assert!(ok(p06(&stack.gateway, &key, &["units", "get", "p01"])).contains("Hà Nội"));
    }
    let started = std::time::Instant::now();
    assert!(stack.stop(), "exits cleanly");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "shutdown took {:?}",
        started.elapsed()
    );
}
