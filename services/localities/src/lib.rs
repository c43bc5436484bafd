//! The p06 localities service (`p06.localities.v1.Localities`): the
//! effective-dated registry of ministries, agencies, provinces, districts,
//! communes and steering bodies, with lineage across administrative change,
//! escalation chains and delivery contacts. Reference data (63 → 34
//! provinces, districts, communes, ministries before and after 2025-03-01,
//! the Project 06 working groups) is loaded on first start.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod domain;
pub mod error;
pub mod refdata;
pub mod store;

use p06_kit::{Shutdown, clock::SharedClock};
use p06_proto::localities::v1::localities_server::LocalitiesServer;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use store::{CachedStore, LocalityStore, SqlStore};
use tokio::net::TcpListener;

/// The fully-qualified gRPC service name.
pub const SERVICE_NAME: &str = "p06.localities.v1.Localities";

/// Localities configuration (`[localities]` in the TOML file,
/// `P06_LOCALITIES__…` in the environment).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `sqlite:PATH` or `postgres://…`.
    pub database_url: String,
    /// The shared internal credential every call must carry.
    pub internal_token: String,
    /// Load the shipped reference data at start-up (once per data version).
    pub load_reference_data: bool,
    /// Webhook hosts a unit may set (exact or `*.suffix`); empty allows
    /// any. The same list as notifications' `webhook_allowed_hosts`, so a
    /// URL that could never be delivered to is refused when it is set. In
    /// the environment a comma-separated list (`a.gov.vn,*.gov.vn`).
    #[serde(deserialize_with = "p06_kit::config::list")]
    pub webhook_allowed_hosts: Vec<String>,
    /// Accept webhook URLs whose host is a private-network IP literal
    /// (loopback, 10/8, 172.16/12, 192.168/16, 100.64/10, link-local,
    /// unique-local); as notifications' setting of the same name.
    pub webhook_allow_private_networks: bool,
    /// How often (milliseconds) a replica checks whether the registry in
    /// the database moved past its in-memory snapshot (writes through
    /// another replica). On PostgreSQL a write also signals the other
    /// replicas at once; this is the bound when that signal is lost.
    pub snapshot_refresh_ms: u64,
}

/// The environment variable of [`Config::webhook_allow_private_networks`],
/// named in refusals.
pub const ALLOW_PRIVATE_NETWORKS_VAR: &str = "P06_LOCALITIES__WEBHOOK_ALLOW_PRIVATE_NETWORKS";

impl Config {
    /// Which webhook URLs units may set.
    pub fn egress(&self) -> p06_kit::egress::Policy {
        p06_kit::egress::Policy::new(
            &self.webhook_allowed_hosts,
            self.webhook_allow_private_networks,
            ALLOW_PRIVATE_NETWORKS_VAR,
        )
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite:data/localities.db".into(),
            internal_token: String::new(),
            load_reference_data: true,
            webhook_allowed_hosts: Vec::new(),
            webhook_allow_private_networks: false,
            snapshot_refresh_ms: 1000,
        }
    }
}

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] p06_kit::db::DbError),
    /// The reference data could not be read or loaded.
    #[error("reference data: {0}")]
    RefData(String),
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Opens the store, loads reference data when configured, and serves on
/// `listener` until `shutdown`.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    serve_with_clock(config, listener, shutdown, Arc::new(p06_kit::SystemClock)).await
}

/// [`serve`] with an injected clock ("today" for date defaults).
pub async fn serve_with_clock(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
    clock: SharedClock,
) -> Result<(), ServeError> {
    if config.internal_token.is_empty() {
        return Err(ServeError::Config("internal_token must be set".into()));
    }
    let sql = SqlStore::connect(&config.database_url).await?;
    if config.load_reference_data {
        load_reference_data(&sql, clock.now()).await?;
    }
    let store = CachedStore::lazy(sql);
    store.spawn_refresh(
        std::time::Duration::from_millis(config.snapshot_refresh_ms.max(10)),
        shutdown.child(),
    );
    let api = api::LocalitiesApi::new(Arc::new(store.clone()), clock, config.egress());
    let routes = tonic::service::Routes::new(LocalitiesServer::new(api));
    let service = p06_kit::server::Service {
        name: "localities",
        routes,
        services: &[SERVICE_NAME],
        descriptor_sets: &[p06_proto::FILE_DESCRIPTOR_SET],
        database: store.inner().pool().clone(),
    };
    let result =
        p06_kit::server::serve_internal(service, listener, &config.internal_token, shutdown).await;
    store.inner().close().await;
    Ok(result?)
}

/// Creates or migrates the database and loads the reference data (when
/// configured), so that a later [`serve`] answers at once.
pub async fn prepare(config: &Config) -> Result<(), ServeError> {
    let store = SqlStore::connect(&config.database_url).await?;
    if config.load_reference_data {
        load_reference_data(&store, chrono::Utc::now()).await?;
    }
    store.close().await;
    Ok(())
}

/// Loads the shipped reference data unless this version is already loaded.
pub async fn load_reference_data<S: LocalityStore>(
    store: &S,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), ServeError> {
    let started = std::time::Instant::now();
    let data = refdata::load().map_err(|e| ServeError::RefData(e.to_string()))?;
    let loaded = store
        .load_reference(&data, refdata::VERSION, at)
        .await
        .map_err(|e| ServeError::RefData(e.to_string()))?;
    if loaded {
        tracing::info!(
            units = data.units.len(),
            links = data.lineage.len(),
            version = refdata::VERSION,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "reference data loaded"
        );
    }
    Ok(())
}
