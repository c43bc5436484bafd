//! The p06 tasks service (`p06.tasks.v1`): directives, tasks and their
//! assignments to units, deadlines on the national working-day calendar,
//! progress with an append-only history, status derived as of any date,
//! summaries, and an ordered change feed (`WatchChanges`) that the
//! notifications service consumes.
#![forbid(unsafe_code)]

pub mod api;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod store;

use domain::calendar::{Calendar, SHIPPED_CSV, parse_csv};
use p06_kit::{Shutdown, clock::SharedClock};
use p06_proto::tasks::v1::tasks_server::TasksServer;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use store::{SqlStore, TaskStore};
use tokio::net::TcpListener;
use tracing::instrument::WithSubscriber as _;

/// The fully-qualified gRPC service name.
pub const SERVICE_NAME: &str = "p06.tasks.v1.Tasks";

/// Tasks configuration (`[tasks]` in the TOML file, `P06_TASKS__…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `sqlite:PATH` or `postgres://…`.
    pub database_url: String,
    /// The shared internal credential.
    pub internal_token: String,
    /// The localities service, to check assignees.
    pub localities_url: String,
    /// How often (seconds) open assignments of ended units are moved to
    /// their successors; 0 turns the background pass off.
    pub reconcile_interval_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite:data/tasks.db".into(),
            internal_token: String::new(),
            localities_url: "http://127.0.0.1:50052".into(),
            reconcile_interval_secs: 600,
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
    /// The store failed at start-up.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Creates or migrates the database and seeds the calendar.
pub async fn prepare(config: &Config) -> Result<(), ServeError> {
    let store = SqlStore::connect(&config.database_url).await?;
    seed(&store).await?;
    store.close().await;
    Ok(())
}

/// Derives the spans of days of assignments written before they were
/// kept (once, after the migration that added them), a batch at a time.
async fn rebuild_states(store: &SqlStore) -> Result<(), ServeError> {
    let mut done = 0;
    loop {
        let n = store.rebuild_states(500).await?;
        if n == 0 {
            break;
        }
        done += n;
        tracing::info!(assignments = done, "as-of history derived");
    }
    Ok(())
}

async fn seed(store: &SqlStore) -> Result<Calendar, ServeError> {
    let shipped = parse_csv(SHIPPED_CSV).map_err(ServeError::Config)?;
    store.seed_calendar(&shipped).await?;
    Ok(Calendar::new(store.calendar().await?))
}

/// Serves on `listener` until `shutdown`, with the system clock.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    serve_with_clock(config, listener, shutdown, Arc::new(p06_kit::SystemClock)).await
}

/// [`serve`] with an injected clock (today's date for statuses and
/// completion).
pub async fn serve_with_clock(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
    clock: SharedClock,
) -> Result<(), ServeError> {
    if config.internal_token.is_empty() {
        return Err(ServeError::Config("internal_token must be set".into()));
    }
    let localities =
        p06_kit::client::internal("tasks", &config.localities_url, &config.internal_token)
            .map_err(|e| ServeError::Config(e.to_string()))?;
    let store = SqlStore::connect(&config.database_url).await?;
    rebuild_states(&store).await?;
    let calendar = seed(&store).await?;
    let api = api::TasksApi::new(
        Arc::new(store.clone()),
        clock,
        calendar,
        localities,
        shutdown.clone(),
    );
    let api = Arc::new(api);
    if config.reconcile_interval_secs > 0 {
        let every = std::time::Duration::from_secs(config.reconcile_interval_secs);
        tokio::spawn(reconcile(api.clone(), every, shutdown.clone()));
    }
    {
        let (store, shutdown) = (store.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                // A poll, not a request: its store span is not traced.
                let head = store
                    .feed_head()
                    .with_subscriber(tracing::subscriber::NoSubscriber::default())
                    .await;
                if let Ok(head) = head {
                    metrics::set_head(head);
                }
                tokio::select! {
                    () = shutdown.wait() => return,
                    () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                }
            }
        });
    }
    let routes = tonic::service::Routes::new(TasksServer::from_arc(api));
    let service = p06_kit::server::Service {
        name: "tasks",
        routes,
        services: &[SERVICE_NAME],
        descriptor_sets: &[p06_proto::FILE_DESCRIPTOR_SET],
        database: store.pool().clone(),
    };
    let result =
        p06_kit::server::serve_internal(service, listener, &config.internal_token, shutdown).await;
    store.close().await;
    Ok(result?)
}

/// The background pass that moves open assignments of ended units to their
/// successors, until shutdown.
async fn reconcile<S: TaskStore>(
    api: Arc<api::TasksApi<S>>,
    every: std::time::Duration,
    shutdown: Shutdown,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.wait() => return,
        }
        if let Err(error) = api.reconcile_now().await {
            tracing::warn!(%error, "administrative change pass failed; will retry");
        }
    }
}
