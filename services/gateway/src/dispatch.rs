//! The gateway's front service on the public port. For each call it, in
//! order: bounds the time to a response, drops caller-set `x-p06-` headers,
//! lets health and reflection through unauthenticated (with a permit from
//! their own small budget), authenticates everything else, checks the
//! caller's role against the access table ([`p06_kit::access`]), applies
//! the caller's rate limit, takes in-flight permits for its key, its unit
//! and overall (waiting a bounded time for the last, or shedding the call),
//! checks the request against its bounds ([`crate::bounds`]),
//! and sends the call to the local routes (`p06.gateway.*`) or the proxy
//! (every other routed service). Permits are taken after authentication,
//! so callers without a key cannot hold the permits key holders need. A
//! proxied server stream keeps re-checking its key ([`KeyWatch`]).

use crate::metrics;
use crate::{
    auth::{self, Verified},
    bounds::Bounds,
    error::GatewayError,
    keys::Keys,
    limits::Limits,
    proxy::Proxy,
    store::Store,
    watch::KeyWatch,
};
use futures::future::BoxFuture;
use http::{Request, Response};
use p06_kit::{Caller, identity::StripMesh, rpc::CallerSlot};
use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};
use tonic::{body::Body, service::Routes};
use tower::{Service, ServiceExt};

/// Services anyone may call: probes and tools need no key.
const OPEN_PREFIXES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];
/// Services the gateway serves itself, after authentication.
const LOCAL_PREFIX: &str = "/p06.gateway.";

/// The front service (cheap to clone: one shared state).
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    local: Routes,
    keys: Keys<Store>,
    limits: Limits,
    bounds: Bounds,
    proxy: Proxy,
    stream_key_check: std::time::Duration,
}

impl Gateway {
    /// A front service over the local `routes` (Access, health,
    /// reflection), the key store, the limits, the request bounds and the
    /// proxy; open streams re-check their key every `stream_key_check`.
    pub fn new(
        local: Routes,
        keys: Keys<Store>,
        (limits, bounds): (Limits, Bounds),
        proxy: Proxy,
        stream_key_check: std::time::Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                local,
                keys,
                limits,
                bounds,
                proxy,
                stream_key_check,
            }),
        }
    }
}

impl Service<Request<Body>> for Gateway {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { Ok(inner.handle(request).await) })
    }
}

impl Inner {
    async fn handle(&self, request: Request<Body>) -> Response<Body> {
        let _in_flight = InFlight::enter();
        let result = match self.limits.deadline(request.headers()) {
            Some(deadline) => tokio::time::timeout(deadline, self.route(request))
                .await
                .unwrap_or(Err(GatewayError::DeadlineExceeded(deadline))),
            None => self.route(request).await,
        };
        result.unwrap_or_else(|error| {
            tracing::debug!(%error, "call refused");
            error.into_response()
        })
    }

    async fn route(&self, mut request: Request<Body>) -> Result<Response<Body>, GatewayError> {
        request.headers_mut().retain_mesh_free();
        let path = request.uri().path().to_string();
        if OPEN_PREFIXES.iter().any(|p| path.starts_with(p)) {
            let _permit = shed_unless(self.limits.admit_open(), &path)?;
            return Ok(self.local(request).await);
        }
        let verified = match auth::authenticate(&self.keys, request.headers()).await {
            Ok(verified) => verified,
            Err(error) => {
                if matches!(error, GatewayError::Unauthenticated(_)) {
                    metrics::auth_failed(
                        !request.headers().contains_key(http::header::AUTHORIZATION),
                    );
                }
                return Err(error);
            }
        };
        if let Some(slot) = request.extensions().get::<CallerSlot>() {
            slot.fill(&verified.identity);
        }
        let caller = Caller::User(verified.identity.clone());
        let grant = p06_kit::access::authorize(&caller, &path)?;
        if let Err(error) = self.limits.check_rate(&verified.identity.key) {
            metrics::get().rate_limited.add(1, &[]);
            return Err(error);
        }
        let identity = &verified.identity;
        let _admitted = shed_unless(
            self.limits.admit(&identity.key, &identity.unit).await,
            &path,
        )?;
        let (parts, body) = request.into_parts();
        let body = self.bounds.check(&path, body).await?;
        let mut request = Request::from_parts(parts, body);
        if path.starts_with(LOCAL_PREFIX) {
            request.extensions_mut().insert(caller);
            request.extensions_mut().insert(grant);
            request.extensions_mut().insert::<Verified>(verified);
            return Ok(self.local(request).await);
        }
        let upstream = self.proxy.resolve(&path)?;
        let response = self
            .proxy
            .forward(upstream, request, &verified.identity)
            .await?;
        if !self.proxy.is_server_streaming(&path) {
            return Ok(response);
        }
        let (keys, key) = (self.keys.clone(), verified.identity.key.clone());
        let every = self.stream_key_check;
        Ok(response.map(|body| Body::new(KeyWatch::new(body, keys, key, every))))
    }

    async fn local(&self, request: Request<Body>) -> Response<Body> {
        match self.local.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// The permit, or the call is shed (counted and logged).
fn shed_unless<T>(permit: Result<T, GatewayError>, path: &str) -> Result<T, GatewayError> {
    permit.inspect_err(|error| {
        metrics::get().shed.add(1, &[]);
        tracing::warn!(path, %error, "call shed");
    })
}

/// Counts a call in the in-flight gauge while it lives.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        metrics::get().in_flight.add(1, &[]);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::get().in_flight.add(-1, &[]);
    }
}
