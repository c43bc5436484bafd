//! Trace export: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, one request is one
//! trace across gateway → localities, each span under its own service's
//! `service.name` although `p06 up` is one process, delivered to an OTLP
//! receiver this test runs; JSON log lines carry the trace and span ids of
//! those spans, text logs in a file carry no colour codes; with the
//! collector down, the stack still answers, says so once, and stops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ok, p06, up_logging};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use opentelemetry_proto::tonic::{common::v1::any_value::Value, trace::v1::Span};
use std::time::Duration;
use tokio::sync::mpsc;

/// A span with the `service.name` of the resource that exported it.
type Named = (String, Span);

struct Receiver(mpsc::UnboundedSender<Named>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let _ = self.0.send((service.clone(), span));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn kind(span: &Span) -> i32 {
    span.kind
}

/// Starts `p06 up` in `path` with `env` (it blocks until the stack
/// serves, so it runs off the test's runtime), its log to `log`.
async fn up_with(
    path: std::path::PathBuf,
    env: &[(&str, &str)],
    log: std::process::Stdio,
) -> common::Up {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        up_logging(&path, &env, &[], log)
    })
    .await
    .unwrap()
}

/// Starts an OTLP receiver on a free port: its endpoint and what it gets.
fn receiver() -> (String, mpsc::UnboundedReceiver<Named>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (tx, spans) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(
                tokio::net::TcpListener::from_std(listener).unwrap(),
            )),
    );
    (endpoint, spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_across_services() {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    let (endpoint, mut spans) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("p06.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("P06_LOG_JSON", "true"),
    ];
    let stack = up_with(dir.path().join("data"), &env, log.into()).await;
    let (gateway, key) = (stack.gateway.clone(), stack.key.clone().unwrap());
    let out =
        tokio::task::spawn_blocking(move || ok(p06(&gateway, &key, &["units", "get", "p01"])))
            .await
            .unwrap();
    assert!(out.contains("Hà Nội"));

    // Wait (bounded) for the three GetUnit spans: the gateway's SERVER and
    // CLIENT spans and the localities SERVER span.
    let mut get_unit: Vec<Named> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while get_unit.len() < 3 {
        let named = tokio::time::timeout_at(deadline, spans.recv())
            .await
            .expect("spans exported in time")
            .unwrap();
        if named.1.name.ends_with("Localities/GetUnit") {
            get_unit.push(named);
        }
    }
    let of = |k: SpanKind, root: bool| {
        get_unit
            .iter()
            .find(|(_, s)| kind(s) == k as i32 && s.parent_span_id.is_empty() == root)
            .cloned()
            .expect("span present")
    };
    let (gateway_service, gateway_span) = of(SpanKind::Server, true);
    let (client_service, client_span) = of(SpanKind::Client, false);
    let (localities_service, localities_span) = of(SpanKind::Server, false);
    assert!(
        get_unit
            .iter()
            .all(|(_, s)| s.trace_id == gateway_span.trace_id),
        "one trace"
    );
    assert_eq!(client_span.parent_span_id, gateway_span.span_id);
    assert_eq!(localities_span.parent_span_id, client_span.span_id);
    assert_eq!(gateway_service, "p06-gateway");
    assert_eq!(client_service, "p06-gateway");
    assert_eq!(localities_service, "p06-localities");
    assert!(
        tokio::task::spawn_blocking(move || stack.stop())
            .await
            .unwrap()
    );

    // The gateway's access-log line names the trace and its span.
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["target"] == "p06::access" && l["method"] == "GetUnit")
        .unwrap_or_else(|| panic!("an access-log line for GetUnit in:\n{log}"));
    assert_eq!(access["trace_id"], hex(&gateway_span.trace_id));
    assert_eq!(access["span_id"], hex(&gateway_span.span_id));
    assert_eq!(access["code"], 0);
    assert_eq!(access["unit"], "units/wg06");
    assert!(access["key"].as_str().unwrap().starts_with("apiKeys/"));
    assert!(access["duration_ms"].is_number());
    assert!(!access["peer"].as_str().unwrap().is_empty());
    assert!(!log.contains('\u{1b}'), "no colour codes in a log file");
}

/// `P06_TRACE_FILTER` chooses which spans are exported, apart from the log
/// filter: with the localities store's spans switched off, a GetUnit
/// through the gateway exports the gateway's database span and both
/// services' RPC spans, and no database span of localities.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_filter_chooses_the_exported_spans() {
    let (endpoint, mut spans) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        (
            "P06_TRACE_FILTER",
            "info,p06::access=off,p06_localities::store=off",
        ),
    ];
    let stack = up_with(dir.path().to_path_buf(), &env, std::process::Stdio::null()).await;
    let (gateway, key) = (stack.gateway.clone(), stack.key.clone().unwrap());
    let out =
        tokio::task::spawn_blocking(move || ok(p06(&gateway, &key, &["units", "get", "p01"])))
            .await
            .unwrap();
    assert!(out.contains("Hà Nội"), "{out}");
    let is_db = |span: &Span| span.attributes.iter().any(|a| a.key == "db.system.name");
    let (mut server, mut gateway_db, mut received) = (false, false, Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(server && gateway_db) {
        let (service, span) = tokio::time::timeout_at(deadline, spans.recv())
            .await
            .expect("the call's spans exported in time")
            .unwrap();
        server |=
            service == "p06-localities" && span.name == "p06.localities.v1.Localities/GetUnit";
        gateway_db |= service == "p06-gateway" && is_db(&span);
        received.push((service, span));
    }
    // A database span of localities would have ended, and been queued for
    // export, before the localities server span that was its parent.
    let filtered: Vec<&String> = received
        .iter()
        .filter(|(service, span)| service == "p06-localities" && is_db(span))
        .map(|(_, span)| &span.name)
        .collect();
    assert!(
        filtered.is_empty(),
        "switched off, yet exported: {filtered:?}"
    );
    assert!(
        tokio::task::spawn_blocking(move || stack.stop())
            .await
            .unwrap()
    );
}

/// `OTEL_SERVICE_NAME` names the process (its services keep their suffix
/// under `p06 up`), `P06_TRACE_HEALTH=true` traces health checks too, and
/// quiet logs (`RUST_LOG=warn`) leave the exported spans alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_name_and_health_tracing_follow_their_settings() {
    let (endpoint, mut spans) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_SERVICE_NAME", "acme"),
        ("P06_TRACE_HEALTH", "true"),
        ("RUST_LOG", "warn"),
    ];
    let stack = up_with(dir.path().to_path_buf(), &env, std::process::Stdio::null()).await;
    let gateway = stack.gateway.clone();
    let out = tokio::task::spawn_blocking(move || {
        ok(p06(&gateway, "", &["health", "--address", &gateway]))
    })
    .await
    .unwrap();
    assert_eq!(out.trim(), "SERVING");
    // The gateway's span of that check (the upstreams' spans of the
    // gateway's own polls are traced too now, under their names).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (service, span) = tokio::time::timeout_at(deadline, spans.recv())
            .await
            .expect("the health check's span exported in time")
            .unwrap();
        assert!(service.starts_with("acme-"), "{service}");
        if span.name == "grpc.health.v1.Health/Check" && service == "acme-gateway" {
            break;
        }
    }
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
    let log_path = dir.path().join("p06.log");
    let stack = up_logging(
        &dir.path().join("data"),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            ("P06_LOG_JSON", "true"),
        ],
        &[],
        std::fs::File::create(&log_path).unwrap().into(),
    );
    let key = stack.key.clone().unwrap();
    // Twenty calls, a CLI process each: many export rounds fail meanwhile.
    for _ in 0..20 {
        assert!(ok(p06(&stack.gateway, &key, &["units", "get", "p01"])).contains("Hà Nội"));
    }
    let started = std::time::Instant::now();
    assert!(stack.stop(), "exits cleanly");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "shutdown took {:?}",
        started.elapsed()
    );
    // The exporter's failures are reported, but once per message, not on
    // every failed round (there were dozens).
    let log = std::fs::read_to_string(&log_path).unwrap();
    let sdk: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| {
            l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("opentelemetry"))
        })
        .collect();
    let mut per_message = std::collections::BTreeMap::<String, usize>::new();
    for line in &sdk {
        *per_message
            .entry(line["name"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        per_message.get("BatchSpanProcessor.ExportError"),
        Some(&1),
        "the failing span export is reported once: {per_message:?}"
    );
    assert!(
        per_message.values().all(|n| *n == 1),
        "each exporter message at most once: {per_message:?}"
    );
}
