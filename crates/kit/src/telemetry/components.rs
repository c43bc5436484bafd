//! One process, several services (`p06 up`): each span is exported under
//! the `service.name` of the service that made it (`p06-gateway`,
//! `p06-tasks`, …, the process's name with the service's), so a trace
//! store shows the same services under `p06 up` as in a deployment. The
//! service is the span's `p06.component` attribute (server and client
//! spans carry it) or else the crate it was made in (`p06_tasks::…`);
//! anything else keeps the process's name.

use opentelemetry::KeyValue;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};
use std::time::Duration;

/// The services that run in one `p06 up` process.
pub const COMPONENTS: [&str; 4] = ["gateway", "localities", "tasks", "notifications"];

/// Splits each batch by service and sends every part through the exporter
/// that carries that service's resource.
#[derive(Debug)]
pub struct ByComponent<E> {
    /// One exporter per [`COMPONENTS`] entry, then one for everything else.
    exporters: Vec<E>,
}

impl<E: SpanExporter> ByComponent<E> {
    /// Builds the exporters with `make` (one per service and a fallback).
    pub fn new(mut make: impl FnMut() -> Option<E>) -> Option<Self> {
        let exporters = (0..=COMPONENTS.len())
            .map(|_| make())
            .collect::<Option<Vec<E>>>()?;
        Some(Self { exporters })
    }
}

/// The index in [`COMPONENTS`] of the service a span belongs to.
pub fn component_of(attributes: &[KeyValue]) -> Option<usize> {
    let value = |key: &str| {
        attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str())
    };
    if let Some(named) = value("p06.component") {
        return COMPONENTS.iter().position(|c| *c == named);
    }
    let module = value("code.module.name").or_else(|| value("target"))?;
    let krate = module.split("::").next().unwrap_or_default();
    let service = krate.strip_prefix("p06_")?;
    COMPONENTS.iter().position(|c| *c == service)
}

impl<E: SpanExporter> SpanExporter for ByComponent<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let fallback = COMPONENTS.len();
        let mut parts: Vec<Vec<SpanData>> = self.exporters.iter().map(|_| Vec::new()).collect();
        for span in batch {
            let i = component_of(&span.attributes).unwrap_or(fallback);
            parts[i].push(span);
        }
        let mut result = Ok(());
        for (exporter, part) in self.exporters.iter().zip(parts) {
            if !part.is_empty()
                && let Err(error) = exporter.export(part).await
            {
                result = Err(error);
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let mut result = Ok(());
        for exporter in &self.exporters {
            if let Err(error) = exporter.shutdown_with_timeout(timeout) {
                result = Err(error);
            }
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        let mut result = Ok(());
        for exporter in &self.exporters {
            if let Err(error) = exporter.force_flush() {
                result = Err(error);
            }
        }
        result
    }

    fn set_resource(&mut self, resource: &Resource) {
        let base = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.as_str().into_owned())
            .unwrap_or_else(|| "p06".into());
        for (i, exporter) in self.exporters.iter_mut().enumerate() {
            let name = match COMPONENTS.get(i) {
                Some(component) => format!("{base}-{component}"),
                None => base.clone(),
            };
            let own = Resource::builder_empty()
                .with_attributes(
                    resource
                        .iter()
                        .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
                )
                .with_service_name(name)
                .build();
            exporter.set_resource(&own);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_belong_to_the_service_that_made_them() {
        let named = [KeyValue::new("p06.component", "tasks")];
        assert_eq!(component_of(&named), Some(2));
        let module = [KeyValue::new(
            "code.module.name",
            "p06_notifications::engine::dispatch",
        )];
        assert_eq!(component_of(&module), Some(3));
        let kit = [KeyValue::new("code.module.name", "p06_kit::rpc")];
        assert_eq!(component_of(&kit), None);
        assert_eq!(component_of(&[]), None);
    }
}
