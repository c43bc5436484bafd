//! The p06 gateway: the single public gRPC endpoint. It authenticates
//! callers by API key, strips caller-set mesh metadata and attaches the
//! verified identity, routes each call to the service behind it by package
//! prefix (a generic proxy: no code per method, streaming both ways),
//! applies timeouts, in-flight and per-key rate limits, serves gRPC health
//! and reflection for everything behind it, carries W3C trace context, and
//! serves its own `p06.gateway.v1.Access` API for API keys.
//!
//! API key units are checked for shape only, not against the localities
//! registry, so the gateway runs without the services behind it.
#![forbid(unsafe_code)]

pub mod access;
pub mod auth;
pub mod bounds;
pub mod dispatch;
pub mod error;
pub mod health;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod proxy;
pub mod seal;
pub mod store;
pub mod token;
pub mod watch;

pub use error::GatewayError;

use keys::{KeySpec, Keys};
use p06_kit::{Role, Shutdown, server::drain_bounded, trace_context::TraceLayer};
use p06_proto::gateway::v1::access_server::AccessServer;
use store::{KeyStore, Store};
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The gateway's configuration (see `p06_kit::config` for how it is loaded).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where API keys are kept: `sqlite:PATH` or `postgres://…`.
    pub database_url: String,
    /// The shared credential added to every upstream call.
    pub internal_token: String,
    /// The localities service ("http://127.0.0.1:50052"); empty = not routed.
    pub localities_url: String,
    /// The tasks service; empty = not routed.
    pub tasks_url: String,
    /// The notifications service; empty = not routed.
    pub notifications_url: String,
    /// Sustained calls per second allowed per API key; 0 = unlimited.
    pub rate_limit_per_second: u32,
    /// Calls per API key allowed in a burst.
    pub rate_limit_burst: u32,
    /// Longest wait for a response (unary calls, or the response headers of
    /// streaming ones); a shorter client `grpc-timeout` wins; 0 = none.
    pub request_timeout_ms: u64,
    /// Authenticated calls in flight at once; a call waits at most
    /// `max_queue_wait_ms` for one to finish, then is refused with
    /// RESOURCE_EXHAUSTED; 0 = unlimited. Default: 32 per CPU core.
    pub max_concurrent_requests: usize,
    /// Longest wait for an in-flight permit before a call is shed (ms).
    pub max_queue_wait_ms: u64,
    /// Calls in flight at once per API key; more are refused with
    /// RESOURCE_EXHAUSTED at once; 0 = unlimited.
    pub max_concurrent_per_key: usize,
    /// Calls in flight at once per unit (all its keys); 0 = unlimited.
    pub max_concurrent_per_unit: usize,
    /// Calls in flight at once to the services anyone may call without a
    /// key (health, reflection): a budget of their own, so they can never
    /// take the permits of authenticated callers; 0 = unlimited.
    pub max_open_requests: usize,
    /// How often an open server stream (WatchChanges, Subscribe) re-checks
    /// its key; a revoked key's streams end with UNAUTHENTICATED (ms).
    pub stream_key_check_ms: u64,
    /// How long a verified key may be served from memory before it is read
    /// again (ms); 0 reads it on every call. A revocation through this
    /// gateway takes effect at once, and on PostgreSQL it is signalled to
    /// every other replica, which drops its cached keys; this is the bound
    /// when that signal is lost, or when a key is revoked by a process
    /// that does not signal (SQLite shared by two processes).
    pub key_cache_ms: u64,
    /// One INFO line per call (target `p06::access`): method, code,
    /// duration, caller key and unit, peer.
    pub access_log: bool,
    /// The base64 of 32 random bytes (`openssl rand -base64 32`) that seals
    /// a new key's secret for the retries of its CreateApiKey (24 hours);
    /// empty = nothing is kept and a retry returns the key without its
    /// secret.
    pub secret_sealing_key: String,
    /// Connections open at once on the public port; more are closed at
    /// once; 0 = no cap.
    pub max_connections: usize,
    /// Connections open at once from one peer address; 0 = no cap.
    pub max_connections_per_peer: usize,
    /// Time a new connection has to send the HTTP/2 preface and its first
    /// request headers before it is closed (ms).
    pub handshake_timeout_ms: u64,
    /// Time a peer may send nothing at all (no request, no keep-alive
    /// PING) before its connection is closed (ms).
    pub idle_timeout_ms: u64,
    /// HTTP/2 streams (calls) open at once on one connection.
    pub max_concurrent_streams: u32,
    /// Largest request header list (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE),
    /// in bytes.
    pub max_header_list_bytes: u32,
    /// HTTP/2 connections to each service behind the gateway, taken in
    /// turn: a connection one caller breaks leaves the others' calls
    /// running. (Health polls use one connection of their own.)
    pub upstream_connections: usize,
    /// Largest request message, in bytes; larger ones get
    /// RESOURCE_EXHAUSTED before they reach a service.
    pub max_request_bytes: usize,
    /// Largest request of the bulk RPCs (CreateTask, UpdateCalendar,
    /// MergeUnits), in bytes.
    pub max_bulk_request_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite:data/gateway.db".to_string(),
            internal_token: String::new(),
            localities_url: String::new(),
            tasks_url: String::new(),
            notifications_url: String::new(),
            rate_limit_per_second: 50,
            rate_limit_burst: 100,
            request_timeout_ms: 30_000,
            max_concurrent_requests: 32
                * std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_queue_wait_ms: 200,
            max_concurrent_per_key: 32,
            max_concurrent_per_unit: 64,
            max_open_requests: 64,
            stream_key_check_ms: 5_000,
            key_cache_ms: 1_000,
            access_log: true,
            secret_sealing_key: String::new(),
            max_connections: 512,
            max_connections_per_peer: 128,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
            max_concurrent_streams: 100,
            max_header_list_bytes: 16 * 1024,
            upstream_connections: 4,
            max_request_bytes: 64 * 1024,
            max_bulk_request_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Serves the gateway on `listener` until `shutdown`, then drains in-flight
/// calls for a bounded time. Opens the key store (running migrations) first.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), GatewayError> {
    if config.internal_token.is_empty() {
        tracing::warn!(
            "internal_token is empty: services behind the gateway cannot tell it from other callers"
        );
    }
    let proxy = proxy::Proxy::new(&config)?;
    let sealer = seal::Sealer::from_setting(&config.secret_sealing_key)?;
    let store = Store::open(&config.database_url).await?;
    let keys = Keys::with_sealer(store.clone(), sealer).with_cache(
        std::time::Duration::from_millis(config.key_cache_ms),
        store.pool(),
    );
    keys.follow_revocations(shutdown.child());
    store.pool().observe("gateway");
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let local = local_routes(keys.clone(), health_service)?;
    let stop_polling = shutdown.child();
    let poller = health::spawn(
        reporter,
        proxy.upstreams().to_vec(),
        store.pool(),
        stop_polling.clone(),
    )
    .await;
    let routed: Vec<&str> = proxy.upstreams().iter().map(|u| u.route.package).collect();
    let gateway = dispatch::Gateway::new(
        local,
        keys,
        (
            limits::Limits::new(&config),
            bounds::Bounds::new(config.max_request_bytes, config.max_bulk_request_bytes)?,
        ),
        proxy,
        std::time::Duration::from_millis(config.stream_key_check_ms.max(1)),
    );
    tracing::info!(addr = ?listener.local_addr().ok(), routed = ?routed, "gateway serving");
    let connections = p06_kit::conn::ConnectionLimits {
        max_connections: config.max_connections,
        max_per_peer: config.max_connections_per_peer,
        handshake_timeout: std::time::Duration::from_millis(config.handshake_timeout_ms.max(1)),
        idle_timeout: std::time::Duration::from_millis(config.idle_timeout_ms.max(1)),
    };
    let server = tonic::transport::Server::builder()
        .max_concurrent_streams(config.max_concurrent_streams.max(1))
        .http2_max_header_list_size(config.max_header_list_bytes.max(1024))
        .tcp_keepalive(Some(std::time::Duration::from_secs(60)))
        .layer(
            TraceLayer::new(
                "gateway",
                &[
                    p06_proto::FILE_DESCRIPTOR_SET,
                    tonic_health::pb::FILE_DESCRIPTOR_SET,
                    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                ],
            )
            .with_access_log(config.access_log),
        )
        .serve_with_incoming_shutdown(gateway, p06_kit::conn::guarded(listener, connections), {
            let shutdown = shutdown.clone();
            async move { shutdown.wait().await }
        });
    let result = drain_bounded("gateway", server, shutdown).await;
    stop_polling.trigger();
    if let Err(error) = poller.await {
        tracing::warn!(%error, "health poller failed");
    }
    store.close().await;
    result.map_err(GatewayError::from)
}

/// The services the gateway answers itself: Access, health, reflection
/// (v1 and v1alpha) over every p06 proto and the health proto.
fn local_routes(
    keys: Keys<Store>,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
) -> Result<Routes, GatewayError> {
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(p06_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    Ok(Routes::new(AccessServer::new(access::AccessApi::new(keys)))
        .add_service(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?))
}

/// Creates an ADMIN key bound to `unit` (e.g. "units/wg06") if no key exists
/// yet and returns its bearer token, to be printed once; `None` when keys
/// already exist. Runs migrations.
pub async fn bootstrap_admin_key(
    database_url: &str,
    unit: &str,
) -> Result<Option<String>, GatewayError> {
    with_keys(database_url, |keys| async move {
        if keys.store().count_keys().await? > 0 {
            return Ok(None);
        }
        let created = keys
            .create(admin_spec(unit, "bootstrap admin"), "", "")
            .await?;
        Ok(Some(created.token))
    })
    .await
}

/// Always creates a new ADMIN key (for an operator who lost theirs) and
/// returns its bearer token. Runs migrations.
pub async fn create_admin_key(
    database_url: &str,
    unit: &str,
    display_name: &str,
) -> Result<String, GatewayError> {
    with_keys(database_url, |keys| async move {
        Ok(keys
            .create(admin_spec(unit, display_name), "", "")
            .await?
            .token)
    })
    .await
}

fn admin_spec(unit: &str, display_name: &str) -> KeySpec {
    KeySpec {
        display_name: display_name.to_string(),
        unit: unit.to_string(),
        role: Role::Admin,
    }
}

async fn with_keys<T, F, Fut>(database_url: &str, f: F) -> Result<T, GatewayError>
where
    F: FnOnce(Keys<Store>) -> Fut,
    Fut: std::future::Future<Output = Result<T, GatewayError>>,
{
    let store = Store::open(database_url).await?;
    let result = f(Keys::new(store.clone())).await;
    store.close().await;
    result
}
