//! An OTLP/gRPC receiver for tests: it accepts trace and metric exports on
//! a loopback port (on a thread of its own, so it outlives any one test's
//! runtime) and keeps what arrived, for tests to wait on.

use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::Span,
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// A span as received, with its resource's `service.name`.
#[derive(Debug, Clone)]
pub struct Received {
    /// `service.name` of the exporting process.
    pub service: String,
    /// The span.
    pub span: Span,
}

#[derive(Default)]
struct Seen {
    /// How many of the latest spans to keep (all are counted).
    keep: usize,
    spans: Mutex<Vec<Received>>,
    per_service: Mutex<std::collections::BTreeMap<String, u64>>,
    metrics: Mutex<Vec<String>>,
    changed: tokio::sync::Notify,
}

/// A running receiver.
#[derive(Clone)]
pub struct OtlpReceiver {
    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    seen: Arc<Seen>,
}

struct Traces(Arc<Seen>);
struct Metrics(Arc<Seen>);

#[tonic::async_trait]
impl TraceService for Traces {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| string(&r.attributes, "service.name"))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    received.push(Received {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
        if let Ok(mut counts) = self.0.per_service.lock() {
            for r in &received {
                *counts.entry(r.service.clone()).or_default() += 1;
            }
        }
        if let Ok(mut spans) = self.0.spans.lock() {
            spans.extend(received);
            let over = spans.len().saturating_sub(self.0.keep);
            spans.drain(..over);
        }
        self.0.changed.notify_waiters();
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Metrics {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let names: Vec<String> = request
            .into_inner()
            .resource_metrics
            .into_iter()
            .flat_map(|rm| rm.scope_metrics)
            .flat_map(|sm| sm.metrics)
            .map(|m| m.name)
            .collect();
        if let Ok(mut metrics) = self.0.metrics.lock() {
            metrics.extend(names);
        }
        self.0.changed.notify_waiters();
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

impl OtlpReceiver {
    /// Starts a receiver on a free loopback port.
    pub fn start() -> OtlpReceiver {
        Self::start_with(|_| {})
    }

    /// [`OtlpReceiver::start`], first running `setup` with the endpoint on
    /// the receiver's runtime (where an exporter's channel can live for the
    /// whole process).
    pub fn start_with(setup: impl FnOnce(&str) + Send + 'static) -> OtlpReceiver {
        Self::start_on(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            usize::MAX,
            setup,
        )
        .expect("bind receiver")
    }

    /// [`OtlpReceiver::start_with`] on `addr`, keeping the latest `keep`
    /// spans (and counting all): the compose smoke run's stand-in collector
    /// listens on all interfaces and runs in bounded memory.
    pub fn start_on(
        addr: std::net::SocketAddr,
        keep: usize,
        setup: impl FnOnce(&str) + Send + 'static,
    ) -> std::io::Result<OtlpReceiver> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let seen = Arc::new(Seen {
            keep,
            ..Seen::default()
        });
        let (traces, metrics) = (Traces(seen.clone()), Metrics(seen.clone()));
        let at = endpoint.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("receiver runtime");
            runtime.block_on(async move {
                setup(&at);
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(traces))
                    .add_service(MetricsServiceServer::new(metrics))
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                    .await;
            });
        });
        Ok(OtlpReceiver { endpoint, seen })
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.seen
            .spans
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// How many spans each `service.name` has exported so far.
    pub fn spans_by_service(&self) -> std::collections::BTreeMap<String, u64> {
        self.seen
            .per_service
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// The names of every metric received so far.
    pub fn metric_names(&self) -> Vec<String> {
        self.seen
            .metrics
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Waits (at most `limit`) until `found` picks something out of the
    /// spans received; panics naming `what` when nothing came in time.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        limit: Duration,
        found: impl Fn(&[Received]) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.seen.changed.notified();
            if let Some(t) = found(&self.spans()) {
                return t;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let names: Vec<String> = self.spans().iter().map(|r| r.span.name.clone()).collect();
                panic!("{what}: not received within {limit:?}; spans received: {names:?}");
            }
        }
    }

    /// Waits (at most `limit`) until a metric named `name` was exported.
    pub async fn wait_for_metric(&self, name: &str, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.seen.changed.notified();
            if self.metric_names().iter().any(|n| n == name) {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("metric {name} not exported within {limit:?}");
            }
        }
    }
}

/// The value of attribute `key`.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

/// The string attribute `key`.
pub fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key) {
        Some(Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The integer attribute `key`.
pub fn int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attribute(attributes, key) {
        Some(Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}
