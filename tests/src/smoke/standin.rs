//! Stand-in containers. `otlp`: an OTLP/gRPC receiver that counts spans by
//! `service.name` and keeps the latest for `GET /spans?trace=…`, with
//! `/metrics` (Prometheus text) and 200 on every other path, so one image
//! stands in for the collector, Jaeger and Grafana. `webhook`: the test
//! webhook receiver, answering 200, with `GET /received` listing every
//! request (headers and body) as JSON.

use crate::{
    otlp::{OtlpReceiver, Received},
    webhook::{Behaviour, ReceivedWebhook, WebhookReceiver},
};
use anyhow::Context as _;
use axum::{
    Router,
    extract::{Query, State},
    http::header,
    response::IntoResponse,
    routing::get,
};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

/// How many of the latest spans the stand-in collector keeps for queries
/// (all are counted), so it runs in bounded memory.
const KEPT_SPANS: usize = 50_000;

/// Runs the OTLP stand-in until the process is stopped.
pub async fn otlp(grpc: SocketAddr, http: Vec<SocketAddr>) -> anyhow::Result<()> {
    let receiver = OtlpReceiver::start_on(grpc, KEPT_SPANS, |_| {})
        .with_context(|| format!("bind OTLP on {grpc}"))?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/spans", get(spans))
        .fallback(|| async { "ok\n" })
        .with_state(receiver);
    serve_all(http, app).await
}

async fn metrics(State(receiver): State<OtlpReceiver>) -> impl IntoResponse {
    let mut text = String::from(
        "# HELP p06_smoke_spans_received_total Spans the stand-in collector received.\n\
         # TYPE p06_smoke_spans_received_total counter\n",
    );
    for (service, n) in receiver.spans_by_service() {
        let service = service.replace('\\', "\\\\").replace('"', "\\\"");
        text.push_str(&format!(
            "p06_smoke_spans_received_total{{service_name=\"{service}\"}} {n}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

async fn spans(
    State(receiver): State<OtlpReceiver>,
    Query(query): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let trace = query.get("trace").cloned().unwrap_or_default();
    let found: Vec<Value> = receiver
        .spans()
        .iter()
        .filter(|r| trace.is_empty() || hex(&r.span.trace_id) == trace)
        .map(span_json)
        .collect();
    axum::Json(Value::Array(found))
}

fn span_json(r: &Received) -> Value {
    json!({
        "service": r.service,
        "name": r.span.name,
        "kind": r.span.kind,
        "trace_id": hex(&r.span.trace_id),
        "span_id": hex(&r.span.span_id),
        "parent_span_id": hex(&r.span.parent_span_id),
        "links": r.span.links.iter().map(|l| hex(&l.trace_id)).collect::<Vec<_>>(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the webhook stand-in until the process is stopped.
pub async fn webhook(listen: SocketAddr, query: SocketAddr) -> anyhow::Result<()> {
    let mut receiver = WebhookReceiver::start_on(listen, Behaviour::Succeed)
        .await
        .with_context(|| format!("bind the webhook receiver on {listen}"))?;
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = seen.clone();
    tokio::spawn(async move {
        while let Some(request) = receiver.recv().await {
            if let Ok(mut seen) = sink.lock() {
                seen.push(webhook_json(&request));
            }
        }
    });
    let app = Router::new()
        .route(
            "/received",
            get(|State(seen): State<Arc<Mutex<Vec<Value>>>>| async move {
                let all = seen.lock().map(|s| s.clone()).unwrap_or_default();
                axum::Json(Value::Array(all))
            }),
        )
        .fallback(|| async { "ok\n" })
        .with_state(seen);
    serve_all(vec![query], app).await
}

fn webhook_json(r: &ReceivedWebhook) -> Value {
    let headers: serde_json::Map<String, Value> = r
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    json!({
        "id": r.id,
        "headers": headers,
        "body": String::from_utf8_lossy(&r.body),
        "answered": r.answered,
    })
}

/// Serves `app` on every address until one server fails.
async fn serve_all(addrs: Vec<SocketAddr>, app: Router) -> anyhow::Result<()> {
    let mut servers = tokio::task::JoinSet::new();
    for addr in addrs {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("bind {addr}"))?;
        let app = app.clone();
        servers.spawn(async move { axum::serve(listener, app).await });
    }
    match servers.join_next().await {
        Some(Ok(result)) => Ok(result?),
        Some(Err(e)) => Err(e.into()),
        // No HTTP port asked: the gRPC receiver runs on its own thread.
        None => std::future::pending().await,
    }
}
