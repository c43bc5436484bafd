//! One gRPC call observed, on the server or the client side, the way the
//! OpenTelemetry RPC conventions read it: a span whose status follows the
//! side's rule, `rpc.grpc.status_code` as an integer, the
//! `rpc.{server,client}.call.duration` histogram, the caller's unit and role
//! once known, and (when asked) one access-log line. Everything ends when the
//! response stream ends — its trailers, or its drop when the peer goes — so a
//! streaming call is measured over its life, not to its first header.

use crate::identity::Identity;
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use opentelemetry::{
    KeyValue,
    metrics::{Histogram, Meter},
};
use std::{
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::{Duration, Instant},
};
use tonic::body::Body;
use tracing::Instrument as _;

mod codes;
mod labels;
pub mod message;

use codes::code_for_http;
pub use codes::{Side, code_name, grpc_status, is_error};
pub use labels::{KnownMethods, split_path};

/// The label for a method or service outside the known set (semantic
/// conventions' `_OTHER`), so hostile paths cannot grow the label set.
pub const OTHER: &str = "_OTHER";

/// The verified caller of a call, filled in by whoever authenticates it
/// (the gateway's key check, a service's internal-credential check) and
/// read when the call ends, for the span and the access log.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<OnceLock<Identity>>);

impl CallerSlot {
    /// Records the caller (the first record wins).
    pub fn fill(&self, identity: &Identity) {
        let _ = self.0.set(identity.clone());
    }

    fn get(&self) -> Option<&Identity> {
        self.0.get()
    }
}

struct Instruments {
    server: Histogram<f64>,
    client: Histogram<f64>,
}

/// Bucket bounds (seconds) the RPC conventions advise for call durations.
const DURATION_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The process's p06 meter (the global provider's, so a no-op until
/// [`crate::telemetry::init`] installs one).
pub fn meter() -> Meter {
    opentelemetry::global::meter("p06")
}

/// Reports `value` as the gauge `name`: services keep such a figure (a
/// feed position, a queue length) in an atomic and the gauge reads it at
/// each collection.
pub fn atomic_gauge(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
    value: &'static std::sync::atomic::AtomicI64,
) {
    meter
        .i64_observable_gauge(name)
        .with_description(description)
        .with_callback(move |g| g.observe(value.load(std::sync::atomic::Ordering::Relaxed), &[]))
        .build();
}

fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = meter();
        let histogram = |name: &'static str, what: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(what)
                .with_boundaries(DURATION_BOUNDS.to_vec())
                .build()
        };
        Instruments {
            server: histogram(
                "rpc.server.call.duration",
                "Duration of gRPC calls answered, to the end of the response stream",
            ),
            client: histogram(
                "rpc.client.call.duration",
                "Duration of gRPC calls made, to the end of the response stream",
            ),
        }
    })
}

/// A call in progress: ends once, with the code of its trailers (or
/// CANCELLED when dropped before them).
pub struct CallObserver {
    span: tracing::Span,
    side: Side,
    component: &'static str,
    started: Instant,
    service: String,
    method: String,
    caller: CallerSlot,
    access_log: Option<String>,
    finished: bool,
}

impl CallObserver {
    /// Starts observing a call labelled `service`/`method`, in `span`, made
    /// or answered by `component` ("gateway", "tasks": the `p06.component`
    /// label, which tells the services of one `p06 up` process apart).
    pub fn new(
        side: Side,
        component: &'static str,
        span: tracing::Span,
        service: &str,
        method: &str,
    ) -> Self {
        Self {
            span,
            side,
            component,
            started: Instant::now(),
            service: service.to_string(),
            method: method.to_string(),
            caller: CallerSlot::default(),
            access_log: None,
            finished: false,
        }
    }

    /// Reads the caller from `slot` when the call ends.
    pub fn with_caller(mut self, slot: CallerSlot) -> Self {
        self.caller = slot;
        self
    }

    /// Writes one access-log line at INFO when the call ends, naming `peer`.
    pub fn with_access_log(mut self, peer: String) -> Self {
        self.access_log = Some(peer);
        self
    }

    /// Ends the call with `code`.
    pub fn finish(&mut self, code: i32) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let elapsed = self.started.elapsed();
        let span = &self.span;
        // A span ends at its last exit: entering it here makes its end the
        // end of the call, not the return of the response headers.
        let _entered = span.enter();
        span.record("rpc.grpc.status_code", i64::from(code));
        if is_error(self.side, code) {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", code_name(code));
        }
        let caller = self.caller.get();
        if let Some(identity) = caller {
            span.record("p06.caller.unit", identity.unit.as_str());
            span.record("p06.caller.role", identity.role.as_str());
        }
        let histogram = match self.side {
            Side::Server => &instruments().server,
            Side::Client => &instruments().client,
        };
        histogram.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", self.service.clone()),
                KeyValue::new("rpc.method", self.method.clone()),
                KeyValue::new("rpc.grpc.status_code", i64::from(code)),
                KeyValue::new("p06.component", self.component),
            ],
        );
        if let Some(peer) = &self.access_log {
            access_log(&self.service, &self.method, code, elapsed, caller, peer);
        }
    }

    /// Ends the call from response headers when they already carry the
    /// status (a trailers-only answer, or an HTTP error); otherwise the
    /// body's trailers will.
    pub fn finish_from_headers(&mut self, status: http::StatusCode, headers: &HeaderMap) -> bool {
        if let Some(code) = grpc_status(headers) {
            self.finish(code);
            return true;
        }
        if status != http::StatusCode::OK {
            self.finish(code_for_http(status));
            return true;
        }
        false
    }

    /// Wraps a response so the call ends with its stream (and its
    /// `grpc-message`, in headers or trailers, stays short:
    /// [`message::bound`]).
    pub fn observe(mut self, mut response: http::Response<Body>) -> http::Response<Body> {
        message::bound(response.headers_mut());
        if self.finish_from_headers(response.status(), response.headers()) {
            return response;
        }
        response.map(|inner| {
            Body::new(ObservedBody {
                inner,
                observer: self,
            })
        })
    }
}

impl Drop for CallObserver {
    fn drop(&mut self) {
        // The stream went away before its trailers: the peer cancelled.
        self.finish(1);
    }
}

/// One outgoing call observed: its CLIENT span, whose trace context the
/// request carries so the callee is its child, and its end.
pub struct ClientCall {
    span: tracing::Span,
    observer: CallObserver,
}

impl ClientCall {
    /// Starts the call `component` makes with `request`, labelled by
    /// `known` methods (`_OTHER` outside them) or, for calls of p06's own
    /// code, by its path; writes the span's trace context into the request.
    pub fn start(
        component: &'static str,
        request: &mut http::Request<Body>,
        known: Option<&KnownMethods>,
    ) -> Self {
        let path = request.uri().path();
        let (service, method) = match known {
            Some(known) => known.labels(path),
            None => split_path(path).unwrap_or((OTHER, OTHER)),
        };
        let span = crate::trace_context::client_span(component, service, method);
        let observer = CallObserver::new(Side::Client, component, span.clone(), service, method);
        crate::trace_context::inject_from(&span, request.headers_mut());
        Self { span, observer }
    }

    /// Names the caller the call is made for on its span.
    pub fn with_caller(mut self, slot: CallerSlot) -> Self {
        self.observer = self.observer.with_caller(slot);
        self
    }

    /// Awaits the response inside the span; the call ends with the
    /// response's stream, or at once with a transport failure's code.
    pub async fn run<E>(
        self,
        response: impl std::future::Future<Output = Result<http::Response<Body>, E>>,
    ) -> Result<http::Response<Body>, E>
    where
        E: std::error::Error + 'static,
    {
        let Self { span, mut observer } = self;
        match response.instrument(span).await {
            Ok(response) => Ok(observer.observe(response)),
            Err(error) => {
                observer.finish(transport_code(&error));
                Err(error)
            }
        }
    }
}

fn access_log(
    service: &str,
    method: &str,
    code: i32,
    elapsed: Duration,
    caller: Option<&Identity>,
    peer: &str,
) {
    let (key, unit) = caller.map_or(("", ""), |c| (c.key.as_str(), c.unit.as_str()));
    tracing::info!(
        target: "p06::access",
        service,
        method,
        code,
        status = code_name(code),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        key,
        unit,
        peer,
        "rpc"
    );
}

/// A response body that ends its call's observation with the stream.
struct ObservedBody {
    inner: Body,
    observer: CallObserver,
}

impl http_body::Body for ObservedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &mut polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_mut() {
                    message::bound(trailers);
                    let code = grpc_status(trailers).unwrap_or(2);
                    self.observer.finish(code);
                }
            }
            Poll::Ready(Some(Err(status))) => {
                let code = status.code() as i32;
                self.observer.finish(code);
            }
            // A stream that ends without trailers broke the protocol.
            Poll::Ready(None) => self.observer.finish(2),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The code a caller sees for a transport failure: DEADLINE_EXCEEDED when
/// the channel's own timeout fired, UNAVAILABLE otherwise.
fn transport_code(error: &(dyn std::error::Error + 'static)) -> i32 {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<tower::timeout::error::Elapsed>() {
            return 4;
        }
        source = e.source();
    }
    14
}
