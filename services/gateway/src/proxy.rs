//! The generic proxy: a call under a routed package prefix is forwarded as
//! raw HTTP/2 to the service that owns it, so no method needs code here
//! and streaming works both ways. Each upstream is a small set of HTTP/2
//! connections taken in turn (each reconnecting on its own), so a stream
//! or connection one caller breaks leaves the others' calls running. Calls
//! go straight to hyper's client connection (no queue task in between: a
//! hop fewer between threads on every call); the health poller keeps a
//! tonic `Channel` of its own. The caller's
//! `authorization` and `x-p06-` headers are dropped; the internal
//! credential, the verified identity and the current trace context are
//! added, and the URI is pointed at the upstream.

use crate::{Config, error::GatewayError};
use http::{HeaderMap, Request, Response, Uri};
use p06_kit::{Identity, identity::set_mesh_headers, rpc};
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tonic::{
    body::Body,
    transport::{Channel, Endpoint},
};

/// A service behind the gateway.
#[derive(Debug)]
pub struct Route {
    /// The gRPC path prefix routed to it ("/p06.localities.").
    pub prefix: &'static str,
    /// Its proto package family ("p06.localities").
    pub package: &'static str,
    /// The public service reported in gateway health.
    pub public_service: &'static str,
    /// The configuration setting with its address.
    pub setting: &'static str,
}

/// Every service the gateway can route to.
pub const ROUTES: [Route; 3] = [
    Route {
        prefix: "/p06.localities.",
        package: "p06.localities",
        public_service: "p06.localities.v1.Localities",
        setting: "localities_url",
    },
    Route {
        prefix: "/p06.tasks.",
        package: "p06.tasks",
        public_service: "p06.tasks.v1.Tasks",
        setting: "tasks_url",
    },
    Route {
        prefix: "/p06.notifications.",
        package: "p06.notifications",
        public_service: "p06.notifications.v1.Notifications",
        setting: "notifications_url",
    },
];

/// A configured upstream: its route, its origin and a lazily connected channel.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// What it serves.
    pub route: &'static Route,
    /// Scheme and authority of its address.
    pub origin: Uri,
    /// A channel for the gateway's own calls to it (health polls).
    pub channel: Channel,
    /// The connections proxied calls take in turn.
    connections: Arc<Connections>,
}

/// HTTP/2 clients of one upstream, one connection each, used in turn.
#[derive(Debug)]
struct Connections {
    clients: Vec<HttpClient>,
    next: AtomicUsize,
}

type HttpClient =
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

impl Connections {
    fn new(size: usize) -> Self {
        let clients = (0..size.max(1))
            .map(|_| {
                let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(Duration::from_secs(5)));
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .http2_only(true)
                    .timer(hyper_util::rt::TokioTimer::new())
                    .http2_keep_alive_interval(Duration::from_secs(30))
                    .http2_keep_alive_while_idle(true)
                    .build(connector)
            })
            .collect();
        Self {
            clients,
            next: AtomicUsize::new(0),
        }
    }

    fn pick(&self) -> &HttpClient {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        &self.clients[i]
    }
}

/// Forwards calls to the configured upstreams.
#[derive(Debug, Clone)]
pub struct Proxy {
    upstreams: Vec<Upstream>,
    internal_token: Arc<str>,
    /// Labels for the calls forwarded: a path that is no p06 method is
    /// `_OTHER`, so callers cannot grow the label set.
    known: Arc<rpc::KnownMethods>,
}

impl Proxy {
    /// Channels of `upstream_connections` connections for every upstream
    /// with a non-empty URL; nothing connects until the first call, so
    /// upstreams may start after the gateway.
    pub fn new(config: &Config) -> Result<Self, GatewayError> {
        let urls = [
            &config.localities_url,
            &config.tasks_url,
            &config.notifications_url,
        ];
        let mut upstreams = Vec::new();
        for (route, url) in ROUTES.iter().zip(urls) {
            let url = url.trim();
            if url.is_empty() {
                continue;
            }
            let bad = |e: &dyn std::fmt::Display| {
                GatewayError::Config(format!("{} {url:?}: {e}", route.setting))
            };
            let endpoint = Endpoint::from_shared(url.to_string())
                .map_err(|e| bad(&e))?
                .connect_timeout(Duration::from_secs(5))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true);
            let uri = endpoint.uri();
            let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
                return Err(bad(
                    &"needs a scheme and a host, like http://127.0.0.1:50052",
                ));
            };
            let origin = Uri::builder()
                .scheme(scheme.clone())
                .authority(authority.clone())
                .path_and_query("/")
                .build()
                .map_err(|e| bad(&e))?;
            if origin.scheme_str() != Some("http") {
                return Err(bad(&"only http:// upstreams are supported"));
            }
            upstreams.push(Upstream {
                route,
                origin,
                channel: endpoint.connect_lazy(),
                connections: Arc::new(Connections::new(config.upstream_connections)),
            });
        }
        Ok(Self {
            upstreams,
            internal_token: config.internal_token.as_str().into(),
            known: Arc::new(rpc::KnownMethods::from_descriptor_sets(&[
                p06_proto::FILE_DESCRIPTOR_SET,
            ])),
        })
    }

    /// The configured upstreams.
    pub fn upstreams(&self) -> &[Upstream] {
        &self.upstreams
    }

    /// Whether the method at `path` answers with a stream.
    pub fn is_server_streaming(&self, path: &str) -> bool {
        self.known.is_server_streaming(path)
    }

    /// The upstream for a gRPC path: UNIMPLEMENTED for an unknown service,
    /// UNAVAILABLE for a known one without an address.
    pub fn resolve(&self, path: &str) -> Result<&Upstream, GatewayError> {
        let route = ROUTES
            .iter()
            .find(|r| path.starts_with(r.prefix))
            .ok_or_else(|| GatewayError::UnknownService(path.to_string()))?;
        self.upstreams
            .iter()
            .find(|u| std::ptr::eq(u.route, route))
            .ok_or(GatewayError::NotRouted {
                service: route.package,
                setting: route.setting,
            })
    }

    /// Sends `request` for `identity` to `upstream` and returns its response
    /// as is (status, headers, streamed body and trailers).
    pub async fn forward(
        &self,
        upstream: &Upstream,
        mut request: Request<Body>,
        identity: &Identity,
    ) -> Result<Response<Body>, GatewayError> {
        prepare_headers(request.headers_mut(), &self.internal_token, identity);
        let caller = rpc::CallerSlot::default();
        caller.fill(identity);
        let call =
            rpc::ClientCall::start("gateway", &mut request, Some(&self.known)).with_caller(caller);
        *request.uri_mut() = upstream_uri(&upstream.origin, request.uri())?;
        let sent = upstream.connections.pick().request(request);
        call.run(async move { sent.await.map(|r| r.map(Body::new)) })
            .await
            .map_err(|e| GatewayError::upstream(upstream.route.package, &e))
    }
}

/// Replaces caller credentials and mesh headers with the gateway's own (the
/// trace context is the forwarded call's CLIENT span's, see
/// [`rpc::ClientCall`]).
pub fn prepare_headers(headers: &mut HeaderMap, internal_token: &str, identity: &Identity) {
    headers.remove(http::header::AUTHORIZATION);
    set_mesh_headers(headers, internal_token, Some(identity));
}

/// `uri`'s path and query on the upstream's origin.
fn upstream_uri(origin: &Uri, uri: &Uri) -> Result<Uri, GatewayError> {
    let mut parts = origin.clone().into_parts();
    parts.path_and_query = uri.path_and_query().cloned();
    Uri::from_parts(parts)
        .map_err(|e| tonic::Status::internal(format!("cannot address upstream: {e}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use p06_kit::{
        Role,
        identity::{
            CALLER_KEY_HEADER, CALLER_ROLE_HEADER, CALLER_UNIT_HEADER, INTERNAL_TOKEN_HEADER,
        },
    };

    #[test]
    fn caller_mesh_headers_and_credentials_are_replaced() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer p06_x_y"),
            ("x-p06-internal-token", "forged"),
            ("x-p06-caller-role", "ADMIN"),
            ("x-p06-anything-else", "1"),
            ("grpc-timeout", "5S"),
            ("content-type", "application/grpc"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        let identity = Identity {
            key: "apiKeys/ab".into(),
            unit: "units/p01".into(),
            role: Role::Unit,
        };
        prepare_headers(&mut headers, "internal", &identity);
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(get("authorization"), None);
        assert_eq!(get("x-p06-anything-else"), None);
        assert_eq!(get(INTERNAL_TOKEN_HEADER), Some("internal"));
        assert_eq!(get(CALLER_KEY_HEADER), Some("apiKeys/ab"));
        assert_eq!(get(CALLER_UNIT_HEADER), Some("units/p01"));
        assert_eq!(get(CALLER_ROLE_HEADER), Some("UNIT"));
        assert_eq!(get("grpc-timeout"), Some("5S"));
        assert_eq!(get("content-type"), Some("application/grpc"));
    }

    #[tokio::test]
    async fn routes_by_prefix() {
        let config = Config {
            localities_url: "http://127.0.0.1:1".into(),
            ..Config::default()
        };
        let proxy = Proxy::new(&config).expect("valid config");
        let upstream = proxy
            .resolve("/p06.localities.v1.Localities/GetUnit")
            .expect("routed");
        assert_eq!(
            upstream.route.public_service,
            "p06.localities.v1.Localities"
        );
        let uri = upstream_uri(
            &upstream.origin,
            &"/p06.localities.v1.Localities/GetUnit"
                .parse()
                .expect("uri"),
        );
        assert_eq!(
            uri.ok().map(|u| u.to_string()).as_deref(),
            Some("http://127.0.0.1:1/p06.localities.v1.Localities/GetUnit")
        );
        assert!(matches!(
            proxy.resolve("/p06.tasks.v1.Tasks/GetTask"),
            Err(GatewayError::NotRouted { .. })
        ));
        assert!(matches!(
            proxy.resolve("/acme.Foo/Bar"),
            Err(GatewayError::UnknownService(_))
        ));
        assert!(
            Proxy::new(&Config {
                tasks_url: "not a url".into(),
                ..Config::default()
            })
            .is_err()
        );
    }
}
