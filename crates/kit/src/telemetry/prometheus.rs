//! The Prometheus text format (version 0.0.4) rendered from the metrics
//! SDK's own collected data, so `/metrics` shows exactly what the OTLP
//! exporter sends: names with dots become underscores and get their unit
//! (`_seconds`, `_bytes`) and, for counters, `_total`; histograms become
//! cumulative `_bucket{le=…}`, `_sum` and `_count`; the resource is one
//! `target_info` series.

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use std::{collections::BTreeMap, fmt::Write as _};

/// The content type of the rendered text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family: its help, type and sample lines.
#[derive(Default)]
struct Family {
    help: String,
    kind: &'static str,
    samples: String,
}

/// Renders everything in `metrics` as Prometheus text.
pub fn render(metrics: &ResourceMetrics) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let resource: Vec<KeyValue> = metrics
        .resource()
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let info = families.entry("target_info".into()).or_default();
    info.help = "Target metadata".into();
    info.kind = "gauge";
    sample(&mut info.samples, "target_info", &resource, &[], "1");
    for scope in metrics.scope_metrics() {
        for metric in scope.metrics() {
            match metric.data() {
                AggregatedMetrics::F64(data) => add(&mut families, metric, data),
                AggregatedMetrics::U64(data) => add(&mut families, metric, data),
                AggregatedMetrics::I64(data) => add(&mut families, metric, data),
            }
        }
    }
    let mut out = String::new();
    for (name, family) in families {
        if family.samples.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
        let _ = writeln!(out, "# TYPE {name} {}", family.kind);
        out.push_str(&family.samples);
    }
    out
}

/// A value in the text format's spelling.
trait Number: Copy {
    fn text(self) -> String;
}

impl Number for f64 {
    fn text(self) -> String {
        float(self)
    }
}
impl Number for u64 {
    fn text(self) -> String {
        self.to_string()
    }
}
impl Number for i64 {
    fn text(self) -> String {
        self.to_string()
    }
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

fn add<T: Number>(families: &mut BTreeMap<String, Family>, metric: &Metric, data: &MetricData<T>) {
    let base = format!("{}{}", sanitize(metric.name()), unit_suffix(metric.unit()));
    match data {
        MetricData::Gauge(gauge) => {
            let family = family(families, &base, metric, "gauge");
            for point in gauge.data_points() {
                let labels: Vec<KeyValue> = point.attributes().cloned().collect();
                sample(
                    &mut family.samples,
                    &base,
                    &labels,
                    &[],
                    &point.value().text(),
                );
            }
        }
        MetricData::Sum(sum) => {
            let (name, kind) = if sum.is_monotonic() {
                (format!("{base}_total"), "counter")
            } else {
                (base.clone(), "gauge")
            };
            let family = family(families, &name, metric, kind);
            for point in sum.data_points() {
                let labels: Vec<KeyValue> = point.attributes().cloned().collect();
                sample(
                    &mut family.samples,
                    &name,
                    &labels,
                    &[],
                    &point.value().text(),
                );
            }
        }
        MetricData::Histogram(histogram) => {
            let family = family(families, &base, metric, "histogram");
            for point in histogram.data_points() {
                let labels: Vec<KeyValue> = point.attributes().cloned().collect();
                let mut cumulative = 0u64;
                let bounds: Vec<f64> = point.bounds().collect();
                for (i, count) in point.bucket_counts().enumerate() {
                    cumulative += count;
                    let le = bounds
                        .get(i)
                        .map_or_else(|| "+Inf".to_string(), |b| float(*b));
                    sample(
                        &mut family.samples,
                        &format!("{base}_bucket"),
                        &labels,
                        &[("le", &le)],
                        &cumulative.to_string(),
                    );
                }
                let name = format!("{base}_sum");
                sample(
                    &mut family.samples,
                    &name,
                    &labels,
                    &[],
                    &point.sum().text(),
                );
                let name = format!("{base}_count");
                sample(
                    &mut family.samples,
                    &name,
                    &labels,
                    &[],
                    &point.count().to_string(),
                );
            }
        }
        // Not configured anywhere in p06; skipped rather than misrendered.
        MetricData::ExponentialHistogram(_) => {}
    }
}

fn family<'a>(
    families: &'a mut BTreeMap<String, Family>,
    name: &str,
    metric: &Metric,
    kind: &'static str,
) -> &'a mut Family {
    let family = families.entry(name.to_string()).or_default();
    if family.kind.is_empty() {
        family.kind = kind;
        family.help = metric.description().to_string();
    }
    family
}

fn sample(out: &mut String, name: &str, labels: &[KeyValue], extra: &[(&str, &str)], value: &str) {
    out.push_str(name);
    let mut first = true;
    let mut label = |out: &mut String, key: &str, value: &str| {
        out.push(if first { '{' } else { ',' });
        first = false;
        let _ = write!(out, "{}=\"{}\"", sanitize(key), escape_label(value));
    };
    for kv in labels {
        label(out, kv.key.as_str(), &kv.value.as_str());
    }
    for (key, value) in extra {
        label(out, key, value);
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// A name in `[a-zA-Z_][a-zA-Z0-9_]*`: every other character becomes `_`.
fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The suffix the OpenTelemetry → Prometheus mapping adds for a unit.
fn unit_suffix(unit: &str) -> &'static str {
    match unit {
        "s" => "_seconds",
        "ms" => "_milliseconds",
        "By" => "_bytes",
        _ => "",
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_are_made_legal() {
        assert_eq!(
            sanitize("rpc.server.call.duration"),
            "rpc_server_call_duration"
        );
        assert_eq!(sanitize("9lives"), "_9lives");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(0.25), "0.25");
    }
}
