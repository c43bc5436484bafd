//! Logging and tracing set-up: `tracing` fmt output on stderr (JSON when asked) and,
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OTLP/gRPC trace export in
//! batches on a background worker, so a slow or absent collector never
//! blocks or crashes a service (failed exports are dropped and logged).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// Environment variable naming the OTLP collector (standard OpenTelemetry).
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Keeps the trace pipeline alive; flushes pending spans when dropped.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("p06: trace export shutdown: {error}");
        }
    }
}

/// Installs the global subscriber for `service` ("p06-gateway", …).
///
/// Log level from `RUST_LOG` (default `info`); JSON lines when `json` is
/// set. Safe to call more than once: later calls keep the first subscriber.
pub fn init(service: &str, json: bool) -> TelemetryGuard {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_writer(std::io::stderr)
            .boxed()
    };
    let provider = otlp_provider(service);
    let otel = provider.as_ref().map(|p| {
        let tracer = p.tracer(service.to_string());
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(filter())
    });
    let installed = tracing_subscriber::registry()
        .with(fmt.with_filter(filter()))
        .with(otel)
        .try_init()
        .is_ok();
    if installed && let Some(p) = &provider {
        opentelemetry::global::set_tracer_provider(p.clone());
        tracing::info!(service, endpoint = %std::env::var(OTLP_ENDPOINT_ENV).unwrap_or_default(), "otlp trace export on");
    }
    TelemetryGuard {
        provider: if installed { provider } else { None },
    }
}

fn otlp_provider(service: &str) -> Option<SdkTracerProvider> {
    let endpoint = std::env::var(OTLP_ENDPOINT_ENV)
        .ok()
        .filter(|e| !e.trim().is_empty())?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|error| eprintln!("p06: otlp exporter for {endpoint} not started: {error}"))
        .ok()?;
    Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(service.to_string())
                    .build(),
            )
            .build(),
    )
}
