//! Which spans are sampled: the configured sampler (`OTEL_TRACES_SAMPLER`,
//! `OTEL_TRACES_SAMPLER_ARG`, read by the SDK), except that a database span
//! with no parent is dropped. Such a span is a background loop polling for
//! work (the scheduler, the dispatcher, the pending-deliveries gauge, each
//! replica every tick); the work a pass finds runs in spans of its own
//! (`feed.apply`, the delivery attempts), whose database spans are their
//! children and kept. Without this, an idle deployment would fill the trace
//! store with single-span traces.

use opentelemetry::{
    Context, KeyValue,
    trace::{Link, SpanKind, TraceContextExt as _, TraceId},
};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};

/// The attribute every database span carries.
const DATABASE_SPAN_ATTRIBUTE: &str = "db.system.name";

/// The configured sampler, minus root database spans.
#[derive(Debug, Clone)]
pub struct NoRootDatabaseSpans(Box<dyn ShouldSample>);

impl NoRootDatabaseSpans {
    /// Wraps the sampler the SDK configures from the `OTEL_TRACES_SAMPLER…`
    /// variables.
    pub fn from_env() -> Self {
        Self(opentelemetry_sdk::trace::Config::default().sampler)
    }

    /// Wraps `sampler`.
    pub fn new(sampler: impl ShouldSample + 'static) -> Self {
        Self(Box::new(sampler))
    }
}

impl ShouldSample for NoRootDatabaseSpans {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let has_parent = parent_context.is_some_and(|cx| cx.span().span_context().is_valid());
        let database = attributes
            .iter()
            .any(|kv| kv.key.as_str() == DATABASE_SPAN_ATTRIBUTE);
        if database && !has_parent {
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: Default::default(),
            };
        }
        self.0
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};
    use opentelemetry_sdk::trace::Sampler;

    fn decide(parent: Option<&Context>, attributes: &[KeyValue]) -> SamplingDecision {
        NoRootDatabaseSpans::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .should_sample(
                parent,
                TraceId::from(7),
                "claim_due notifications",
                &SpanKind::Client,
                attributes,
                &[],
            )
            .decision
    }

    #[test]
    fn root_database_spans_are_dropped_and_children_kept() {
        let db = [KeyValue::new(DATABASE_SPAN_ATTRIBUTE, "postgresql")];
        let parent = Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ));
        assert_eq!(decide(None, &db), SamplingDecision::Drop);
        assert_eq!(decide(Some(&Context::new()), &db), SamplingDecision::Drop);
        assert_eq!(
            decide(Some(&parent), &db),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(decide(None, &[]), SamplingDecision::RecordAndSample);
    }
}
