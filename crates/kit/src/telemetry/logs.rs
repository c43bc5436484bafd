//! Log lines on stderr. JSON lines carry `trace_id` and `span_id` of the
//! span they were written in (when traces are on), so a log search leads to
//! the trace; text lines have ANSI colours only on a terminal. The
//! OpenTelemetry SDK's own complaints (a collector that is down) are let
//! through once per [`SDK_REPORT_EVERY`] per message, not every 5 s.

use opentelemetry::trace::TraceContextExt as _;
use std::{
    collections::HashMap,
    fmt::Write as _,
    io::Write as _,
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};
use tracing::{
    Dispatch, Event, Metadata, Subscriber,
    callsite::Identifier,
    dispatcher::WeakDispatch,
    field::{Field, Visit},
};
use tracing_subscriber::{
    layer::{Context, Filter},
    registry::LookupSpan,
};

/// How often one SDK message may be logged.
pub const SDK_REPORT_EVERY: Duration = Duration::from_secs(300);

/// Lets an SDK event (target `opentelemetry…`) through at most once per
/// [`SDK_REPORT_EVERY`] per call site; everything else passes.
#[derive(Default)]
pub struct SdkRateLimit {
    last: Mutex<HashMap<Identifier, Instant>>,
}

fn from_sdk(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("opentelemetry")
}

impl<S> Filter<S> for SdkRateLimit {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        if !from_sdk(meta) || !meta.is_event() {
            return true;
        }
        let Ok(mut last) = self.last.lock() else {
            return false;
        };
        let now = Instant::now();
        match last.get(&meta.callsite()) {
            Some(at) if now.duration_since(*at) < SDK_REPORT_EVERY => false,
            _ => {
                last.insert(meta.callsite(), now);
                true
            }
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if from_sdk(meta) {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::always()
        }
    }
}

/// Writes each event as one JSON object per line to its writer (stderr):
/// `timestamp`, `level`, `target`, `message`, the event's fields, `span`
/// (the innermost span's name), and `trace_id`/`span_id` when the span is
/// traced.
pub struct JsonLines<W> {
    dispatch: OnceLock<WeakDispatch>,
    writer: W,
}

impl<W> JsonLines<W> {
    /// Lines written to `writer`.
    pub fn new(writer: W) -> Self {
        Self {
            dispatch: OnceLock::new(),
            writer,
        }
    }
}

impl<S, W> tracing_subscriber::Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = serde_json::Map::new();
        fields.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        fields.insert("level".into(), meta.level().as_str().into());
        fields.insert("target".into(), meta.target().into());
        event.record(&mut JsonVisitor(&mut fields));
        if let Some(span) = ctx.event_span(event) {
            fields.insert("span".into(), span.name().into());
        }
        // The span the event is in, whatever this layer's own filter lets it
        // see: a WARN line inside an INFO span still names its trace.
        if let Some((trace_id, span_id)) = self.ids_of(event) {
            fields.insert("trace_id".into(), trace_id.into());
            fields.insert("span_id".into(), span_id.into());
        }
        let mut line = serde_json::Value::Object(fields).to_string();
        line.push('\n');
        let _ = self.writer.make_writer().write_all(line.as_bytes());
    }
}

impl<W> JsonLines<W> {
    fn ids_of(&self, event: &Event<'_>) -> Option<(String, String)> {
        let dispatch = self.dispatch.get()?.upgrade()?;
        let id = if event.is_contextual() {
            dispatch.current_span().id()?.clone()
        } else {
            event.parent()?.clone()
        };
        let cx = tracing_opentelemetry::get_otel_context(&id, &dispatch)?;
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid()
            .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
    }
}

struct JsonVisitor<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.0.insert(field.name().into(), text.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}
