//! The metrics pipeline: the OpenTelemetry metrics SDK with two readers —
//! the SDK's manual reader, collected on each scrape of `/metrics` and
//! rendered as Prometheus text, and (when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set) a periodic OTLP/gRPC exporter to the collector
//! (`OTEL_METRIC_EXPORT_INTERVAL`, default 60 s).

use super::prometheus;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    metrics::{
        InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
        data::ResourceMetrics, reader::MetricReader,
    },
};
use std::{
    sync::{Arc, OnceLock, Weak},
    time::Duration,
};

/// The manual reader, shared between the provider and the scrape handler.
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

static SCRAPE: OnceLock<SharedReader> = OnceLock::new();

/// Builds the meter provider for `resource`; an `otlp` endpoint adds the
/// exporter, run every `interval` (the SDK's default when `None`).
pub(super) fn provider(
    resource: Resource,
    otlp: Option<&str>,
    interval: Option<Duration>,
) -> SdkMeterProvider {
    use opentelemetry_otlp::WithExportConfig as _;
    let reader = SharedReader(Arc::new(
        ManualReader::builder()
            .with_temporality(Temporality::Cumulative)
            .build(),
    ));
    let mut builder = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(reader.clone());
    if let Some(endpoint) = otlp {
        match opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
        {
            Ok(exporter) => {
                let mut reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter);
                if let Some(interval) = interval {
                    reader = reader.with_interval(interval);
                }
                builder = builder.with_reader(reader.build());
            }
            Err(error) => eprintln!("p06: otlp metric exporter not started: {error}"),
        }
    }
    let _ = SCRAPE.set(reader);
    builder.build()
}

/// The process's metrics now, as Prometheus text; `None` when no pipeline
/// was installed (telemetry not initialised).
pub fn render_prometheus() -> Option<String> {
    let reader = SCRAPE.get()?;
    let mut collected = ResourceMetrics::default();
    reader.collect(&mut collected).ok()?;
    Some(prometheus::render(&collected))
}
