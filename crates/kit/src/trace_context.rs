//! W3C trace context over gRPC metadata: a server layer that opens one
//! SERVER span per call as a child of the caller's `traceparent` (and
//! observes the call, see [`crate::rpc`]), CLIENT spans for outgoing calls,
//! and helpers that write a span's context into outgoing headers, so a
//! request is one trace across gateway → service → database.
//!
//! Health checks are not traced unless `P06_TRACE_HEALTH=true`: probes and
//! the gateway's upstream polls would otherwise fill the trace store.

use crate::rpc::{CallObserver, CallerSlot, KnownMethods, Side};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use opentelemetry::propagation::{Extractor, Injector};
use std::{
    sync::{Arc, OnceLock},
    task::{Context, Poll},
};
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes the current span's trace context (`traceparent`, `tracestate`).
pub fn inject(headers: &mut HeaderMap) {
    inject_from(&tracing::Span::current(), headers);
}

/// Writes `span`'s trace context (`traceparent`, `tracestate`).
pub fn inject_from(span: &tracing::Span, headers: &mut HeaderMap) {
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderInjector(headers))
    });
}

/// The current span's W3C `traceparent` ("00-{trace}-{span}-{flags}"), or
/// an empty string when it is not traced; stored with work it causes so
/// the effects can link back to it ([`link_to`]).
pub fn current_traceparent() -> String {
    let mut headers = HeaderMap::new();
    inject(&mut headers);
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The span context a stored `traceparent` names, if it is valid.
pub fn parse_traceparent(traceparent: &str) -> Option<opentelemetry::trace::SpanContext> {
    use opentelemetry::trace::TraceContextExt as _;
    if traceparent.is_empty() {
        return None;
    }
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_str(traceparent).ok()?);
    let cx = extract(&headers);
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.clone())
}

/// Adds a link from `span` to the work a stored `traceparent` names (the
/// cause of what `span` does); nothing when it is empty or invalid.
pub fn link_to(span: &tracing::Span, traceparent: &str) {
    if let Some(cause) = parse_traceparent(traceparent) {
        span.add_link(cause);
    }
}

/// The trace context a header map carries.
pub fn extract(headers: &HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Whether calls to `path` get spans (health only with `P06_TRACE_HEALTH`).
pub fn traced(path: &str) -> bool {
    static TRACE_HEALTH: OnceLock<bool> = OnceLock::new();
    !path.starts_with("/grpc.health.v1.Health/")
        || *TRACE_HEALTH.get_or_init(|| {
            std::env::var("P06_TRACE_HEALTH").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
        })
}

/// The SERVER span for one incoming call labelled `service`/`method`,
/// parented on the caller's context.
pub fn server_span(
    headers: &HeaderMap,
    component: &'static str,
    service: &str,
    method: &str,
) -> tracing::Span {
    let span = rpc_span("server", component, service, method);
    let _ = span.set_parent(extract(headers));
    span
}

/// The CLIENT span for one outgoing call labelled `service`/`method` made
/// by `component`, a child of the current span; inject it with
/// [`inject_from`] so the callee is its child.
pub fn client_span(component: &'static str, service: &str, method: &str) -> tracing::Span {
    rpc_span("client", component, service, method)
}

/// A gRPC span of `kind` ("server", "client") with the fields
/// [`crate::rpc::CallObserver`] fills in when the call ends.
fn rpc_span(
    kind: &'static str,
    component: &'static str,
    service: &str,
    method: &str,
) -> tracing::Span {
    tracing::info_span!(
        "grpc",
        otel.name = %format_args!("{service}/{method}"),
        otel.kind = kind,
        p06.component = component,
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
        p06.caller.unit = tracing::field::Empty,
        p06.caller.role = tracing::field::Empty,
    )
}

/// Opens a [`server_span`] around every call and observes it to the end of
/// its response stream; labels come from the known methods, so a path
/// outside them is `_OTHER`. With `access_log`, each call ends with one
/// INFO line (target `p06::access`).
#[derive(Clone, Debug)]
pub struct TraceLayer {
    component: &'static str,
    known: Arc<KnownMethods>,
    access_log: bool,
}

impl TraceLayer {
    /// Observes the calls `component` ("tasks") answers, labelled by the
    /// methods of the encoded descriptor `sets`.
    pub fn new(component: &'static str, sets: &[&[u8]]) -> Self {
        Self {
            component,
            known: Arc::new(KnownMethods::from_descriptor_sets(sets)),
            access_log: false,
        }
    }

    /// Writes an access-log line per call.
    pub fn with_access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = Traced<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Traced {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`TraceLayer`].
#[derive(Clone, Debug)]
pub struct Traced<S> {
    inner: S,
    layer: TraceLayer,
}

impl<S> Service<Request<Body>> for Traced<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Body>, S::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let path = req.uri().path();
        let (service, method) = self.layer.known.labels(path);
        let traced = traced(path);
        let span = if traced {
            server_span(req.headers(), self.layer.component, service, method)
        } else {
            tracing::Span::none()
        };
        let slot = CallerSlot::default();
        let mut observer = CallObserver::new(
            Side::Server,
            self.layer.component,
            span.clone(),
            service,
            method,
        )
        .with_caller(slot.clone());
        // Probes are not access-logged either, like they are not traced.
        if self.layer.access_log && traced {
            observer = observer.with_access_log(peer(&req));
        }
        req.extensions_mut().insert(slot);
        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        Box::pin(
            async move {
                match future.await {
                    Ok(response) => Ok(observer.observe(response)),
                    Err(error) => {
                        observer.finish(2);
                        Err(error)
                    }
                }
            }
            .instrument(span),
        )
    }
}

/// The remote address of the connection a request came on.
fn peer<B>(req: &Request<B>) -> String {
    req.extensions()
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|info| info.remote_addr())
        .map(|addr| addr.to_string())
        .unwrap_or_default()
}
