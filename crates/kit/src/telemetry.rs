//! Logs, traces and metrics for a process.
//!
//! - Logs on stderr: text (colour only on a terminal) or JSON lines with
//!   `trace_id`/`span_id` ([`logs`]); level from `RUST_LOG` (default `info`).
//!   Lines are buffered in memory and written every 50 ms by a thread of
//!   their own ([`batch`]), so a call never waits for stderr (the access
//!   log writes one per call); nothing is dropped, and what is pending is
//!   written when the guard is dropped.
//! - Traces: spans from `info` up (`P06_TRACE_FILTER`, whatever `RUST_LOG`
//!   says of logs); with `OTEL_EXPORTER_OTLP_ENDPOINT` set, OTLP/gRPC export in
//!   batches on a background worker, so a slow or absent collector never
//!   blocks a service; its failures are logged once per few minutes.
//!   Sampling follows `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG`.
//! - Metrics: the OpenTelemetry metrics SDK, rendered for `/metrics` on the
//!   admin listener and, with the endpoint set, exported over OTLP
//!   ([`metrics`]).
//!
//! Every signal carries the resource `service.name` (`OTEL_SERVICE_NAME`
//! wins over the name given), `service.version`, `service.instance.id`
//! (one per process) and `OTEL_RESOURCE_ATTRIBUTES`.

pub mod batch;
pub mod components;
pub mod logs;
pub mod metrics;
pub mod prometheus;
pub mod sampling;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{
    Resource, metrics::SdkMeterProvider, propagation::TraceContextPropagator,
    trace::SdkTracerProvider,
};
use std::io::IsTerminal as _;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// Environment variable naming the OTLP collector (standard OpenTelemetry).
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Environment variable with the filter for exported spans and the events
/// they record (`RUST_LOG` syntax; default `info,p06::access=off`), apart
/// from the log filter.
pub const TRACE_FILTER_ENV: &str = "P06_TRACE_FILTER";

/// Keeps the pipelines alive; flushes pending spans and metrics when dropped.
#[must_use = "dropping the guard stops telemetry export"]
pub struct TelemetryGuard {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
    /// Dropped last: flushes the log lines of the shutdown above.
    _logs: Option<batch::BatchGuard>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.traces.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("p06: trace export shutdown: {error}");
        }
        if let Some(provider) = self.metrics.take() {
            let _ = provider.shutdown();
        }
    }
}

/// The resource every signal of this process carries.
pub fn resource(service: &str) -> Resource {
    let mut builder = Resource::builder().with_attributes([
        opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        opentelemetry::KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
    ]);
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        builder = builder.with_service_name(service.to_string());
    }
    builder.build()
}

/// The collector `OTEL_EXPORTER_OTLP_ENDPOINT` names, if any.
pub fn otlp_endpoint() -> Option<String> {
    std::env::var(OTLP_ENDPOINT_ENV)
        .ok()
        .filter(|e| !e.trim().is_empty())
}

/// How a process's telemetry is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// `service.name` (unless `OTEL_SERVICE_NAME` is set).
    pub service: String,
    /// JSON log lines instead of text.
    pub json: bool,
    /// The OTLP/gRPC collector; `None` = no export.
    pub otlp_endpoint: Option<String>,
    /// How often finished spans and metrics are exported; `None` = the
    /// SDK's (`OTEL_BSP_SCHEDULE_DELAY`, 5 s; `OTEL_METRIC_EXPORT_INTERVAL`,
    /// 60 s).
    pub export_interval: Option<std::time::Duration>,
    /// Several services run in this process (`p06 up`): export each span
    /// under its own service's name ([`components`]).
    pub per_component: bool,
}

/// Installs the global subscriber, tracer and meter providers for `service`
/// ("p06-gateway", …), exporting to `OTEL_EXPORTER_OTLP_ENDPOINT` when set;
/// JSON log lines when `json` is set. Safe to call more than once: later
/// calls keep the first pipelines.
pub fn init(service: &str, json: bool) -> TelemetryGuard {
    init_with(Options {
        service: service.to_string(),
        json,
        otlp_endpoint: otlp_endpoint(),
        export_interval: None,
        per_component: false,
    })
}

/// [`init`] with every setting given.
pub fn init_with(options: Options) -> TelemetryGuard {
    let Options {
        service,
        json,
        otlp_endpoint: endpoint,
        export_interval,
        per_component,
    } = options;
    let service = service.as_str();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let (writer, log_guard) = batch::stderr();
    let fmt = if json {
        logs::JsonLines::new(writer).boxed()
    } else {
        // Text lines leave out the spans they are in: formatting every
        // call's span fields cost each call more than the rest of its
        // logging, and the access line already names the call.
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(writer)
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                !meta.is_span()
            }))
            .boxed()
    };
    let resource = resource(service);
    let traces = endpoint
        .as_ref()
        .and_then(|e| trace_provider(e, resource.clone(), export_interval, per_component));
    // Spans follow their own filter, so quieter logs (RUST_LOG=warn) do not
    // switch tracing off; the access log is for log files, and its line is
    // not copied into spans (it names the caller's key).
    let span_filter = EnvFilter::try_from_env(TRACE_FILTER_ENV)
        .unwrap_or_else(|_| EnvFilter::new("info,p06::access=off"));
    let otel = traces.as_ref().map(|p| {
        let tracer = p.tracer("p06");
        // No source location, thread or busy/idle attributes on every span:
        // they cost each call and a trace does not need them.
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(span_filter)
    });
    let installed = tracing_subscriber::registry()
        .with(otel)
        .with(fmt.with_filter(logs::SdkRateLimit::default()).with_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        ))
        .try_init()
        .is_ok();
    if !installed {
        return TelemetryGuard {
            traces: None,
            metrics: None,
            _logs: None,
        };
    }
    let meters = metrics::provider(resource, endpoint.as_deref(), export_interval);
    opentelemetry::global::set_meter_provider(meters.clone());
    if let Some(p) = &traces {
        opentelemetry::global::set_tracer_provider(p.clone());
    }
    if let Some(endpoint) = &endpoint {
        tracing::info!(service, %endpoint, "otlp export of traces and metrics on");
    }
    TelemetryGuard {
        traces,
        metrics: Some(meters),
        _logs: Some(log_guard),
    }
}

fn trace_provider(
    endpoint: &str,
    resource: Resource,
    delay: Option<std::time::Duration>,
    per_component: bool,
) -> Option<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor};
    let exporter = || {
        opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|error| eprintln!("p06: otlp span exporter not started: {error}"))
            .ok()
    };
    let mut batch = BatchConfigBuilder::default();
    if let Some(delay) = delay {
        batch = batch.with_scheduled_delay(delay);
    }
    let processor = if per_component {
        BatchSpanProcessor::builder(components::ByComponent::new(exporter)?)
            .with_batch_config(batch.build())
            .build()
    } else {
        BatchSpanProcessor::builder(exporter()?)
            .with_batch_config(batch.build())
            .build()
    };
    Some(
        SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(sampling::NoRootDatabaseSpans::from_env())
            .with_resource(resource)
            .build(),
    )
}
