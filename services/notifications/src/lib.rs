//! The p06 notifications service (`p06.notifications.v1`): a schedule of
//! the reminders each open assignment is owed, kept from the tasks change
//! feed; reminders, escalations and digests produced on the working-day
//! calendar in office hours; delivery over a resumable stream, Standard
//! Webhooks-signed webhooks and e-mail, with an inbox and a delivery ledger.
#![forbid(unsafe_code)]

pub mod api;
pub mod delivery;
pub mod domain;
pub mod engine;
pub mod error;
pub mod metrics;
pub mod remote;
pub mod store;

use delivery::{
    email::{EmailSender, SmtpConfig},
    webhook::WebhookSender,
};
use domain::ladder::OfficeHours;
use engine::Engine;
use p06_kit::{Shutdown, clock::SharedClock};
use p06_proto::notifications::v1::notifications_server::NotificationsServer;
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};
use store::SqlStore;
use tokio::net::TcpListener;
use tracing::instrument::WithSubscriber as _;

/// The fully-qualified gRPC service name.
pub const SERVICE_NAME: &str = "p06.notifications.v1.Notifications";

/// Notifications configuration (`[notifications]` in the TOML file,
/// `P06_NOTIFICATIONS__…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `sqlite:PATH` or `postgres://…`.
    pub database_url: String,
    /// The shared internal credential.
    pub internal_token: String,
    /// The tasks service (change feed, calendar).
    pub tasks_url: String,
    /// The localities service (contacts, supervisors).
    pub localities_url: String,
    /// The longest the background passes sleep (ms); they also wake on
    /// changes, and the producer when the next schedule falls due.
    pub tick_ms: u64,
    /// Schedules or deliveries handled per pass.
    pub batch_size: usize,
    /// Scheduling passes run at once on PostgreSQL (one evaluates while
    /// another writes); SQLite, with its single writer, runs one.
    pub producers: usize,
    /// Office hours, local time (Asia/Ho_Chi_Minh), "HH:MM".
    pub office_start: String,
    /// End of office hours (exclusive).
    pub office_end: String,
    /// Webhook request timeout (ms).
    pub webhook_timeout_ms: u64,
    /// Webhook hosts allowed (exact or `*.suffix`); empty allows any. In
    /// the environment a comma-separated list (`a.gov.vn,*.gov.vn`).
    #[serde(deserialize_with = "p06_kit::config::list")]
    pub webhook_allowed_hosts: Vec<String>,
    /// Let webhooks go to private networks: loopback, 10/8, 172.16/12,
    /// 192.168/16, 100.64/10, link-local and unique-local addresses (for
    /// receivers on the deployment's own network). Unspecified, broadcast,
    /// multicast, documentation and reserved addresses stay refused.
    pub webhook_allow_private_networks: bool,
    /// Attempts before a delivery goes to dead letter.
    pub max_attempts: u32,
    /// First retry delay (ms); doubles per attempt, with jitter.
    pub retry_base_ms: u64,
    /// Longest retry delay (ms).
    pub retry_cap_ms: u64,
    /// Deliveries in flight at once.
    pub max_in_flight: usize,
    /// Deliveries in flight per unit (a slow endpoint holds only these).
    pub max_in_flight_per_unit: usize,
    /// How old a unit's cached contacts may get before a background
    /// refresh replaces them (s).
    pub contacts_ttl_secs: u64,
    /// Send the monthly digest.
    pub digest_enabled: bool,
    /// Day of the month of the review meeting; 0 = its last working day.
    pub digest_meeting_day: u32,
    /// Working days before the meeting the digest goes out.
    pub digest_working_days_before: u32,
    /// E-mail over SMTP (off while `host` is empty).
    pub smtp: SmtpConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite:data/notifications.db".into(),
            internal_token: String::new(),
            tasks_url: "http://127.0.0.1:50053".into(),
            localities_url: "http://127.0.0.1:50052".into(),
            tick_ms: 1000,
            batch_size: 1000,
            producers: 2,
            office_start: "08:00".into(),
            office_end: "17:00".into(),
            webhook_timeout_ms: 10_000,
            webhook_allowed_hosts: Vec::new(),
            webhook_allow_private_networks: false,
            max_attempts: 8,
            retry_base_ms: 30_000,
            retry_cap_ms: 6 * 3600 * 1000,
            max_in_flight: 256,
            max_in_flight_per_unit: 4,
            contacts_ttl_secs: 30,
            digest_enabled: true,
            digest_meeting_day: 0,
            digest_working_days_before: 2,
            smtp: SmtpConfig::default(),
        }
    }
}

/// The environment variable of [`Config::webhook_allow_private_networks`],
/// named in refusals.
pub const ALLOW_PRIVATE_NETWORKS_VAR: &str = "P06_NOTIFICATIONS__WEBHOOK_ALLOW_PRIVATE_NETWORKS";

impl Config {
    /// Where webhooks may go.
    pub fn egress(&self) -> p06_kit::egress::Policy {
        p06_kit::egress::Policy::new(
            &self.webhook_allowed_hosts,
            self.webhook_allow_private_networks,
            ALLOW_PRIVATE_NETWORKS_VAR,
        )
    }

    /// Office hours from `office_start` and `office_end`.
    pub fn office_hours(&self) -> Result<OfficeHours, ServeError> {
        let parse = |field: &str, v: &str| {
            chrono::NaiveTime::parse_from_str(v, "%H:%M")
                .map_err(|e| ServeError::Config(format!("{field} must be HH:MM, got {v:?}: {e}")))
        };
        let office = OfficeHours {
            start: parse("office_start", &self.office_start)?,
            end: parse("office_end", &self.office_end)?,
        };
        if office.start >= office.end {
            return Err(ServeError::Config(
                "office_start must be before office_end".into(),
            ));
        }
        Ok(office)
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
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Creates or migrates the database.
pub async fn prepare(config: &Config) -> Result<(), ServeError> {
    SqlStore::connect(&config.database_url).await?.close().await;
    Ok(())
}

/// Serves on `listener` until `shutdown`, with the system clock.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    serve_with_clock(config, listener, shutdown, Arc::new(p06_kit::SystemClock)).await
}

/// [`serve`] with an injected clock: every due time, office-hours check,
/// retry and lease reads it.
pub async fn serve_with_clock(
    config: Config,
    listener: TcpListener,
    shutdown: Shutdown,
    clock: SharedClock,
) -> Result<(), ServeError> {
    if config.internal_token.is_empty() {
        return Err(ServeError::Config("internal_token must be set".into()));
    }
    let office = config.office_hours()?;
    let channel = |url: &str| {
        p06_kit::client::internal("notifications", url, &config.internal_token)
            .map_err(|e| ServeError::Config(e.to_string()))
    };
    let remote = remote::Remote::new(
        channel(&config.localities_url)?,
        channel(&config.tasks_url)?,
        Duration::from_secs(config.contacts_ttl_secs),
    );
    let webhook = WebhookSender::new(
        Duration::from_millis(config.webhook_timeout_ms),
        config.egress(),
    )
    .map_err(|e| ServeError::Config(format!("webhook client: {e}")))?;
    let email = if config.smtp.enabled() {
        Some(EmailSender::new(&config.smtp).map_err(|e| ServeError::Config(format!("smtp: {e}")))?)
    } else {
        None
    };
    let store = Arc::new(SqlStore::connect(&config.database_url).await?);
    let engine = Arc::new(Engine::new(
        store.clone(),
        clock,
        config.clone(),
        remote,
        office,
    ));
    if let Err(error) = engine.refresh().await {
        tracing::warn!(%error, "calendar not loaded yet; will retry");
    }
    let background = spawn_background(engine.clone(), webhook, email, shutdown.clone());
    let api = api::NotificationsApi::new(engine, shutdown.clone());
    let routes = tonic::service::Routes::new(NotificationsServer::new(api));
    let service = p06_kit::server::Service {
        name: "notifications",
        routes,
        services: &[SERVICE_NAME],
        descriptor_sets: &[p06_proto::FILE_DESCRIPTOR_SET],
        database: store.pool().clone(),
    };
    let result =
        p06_kit::server::serve_internal(service, listener, &config.internal_token, shutdown).await;
    for task in background {
        let _ = task.await;
    }
    store.close().await;
    Ok(result?)
}

/// How often the pending-deliveries gauge is read from the store.
const PENDING_EVERY: Duration = Duration::from_secs(10);

/// Keeps the pending-deliveries gauge current until shutdown.
async fn count_pending(engine: Arc<Engine<SqlStore>>, shutdown: Shutdown) {
    loop {
        // A poll, not a request: its store span is not traced.
        let counted = store::NotificationStore::count_pending(engine.store.as_ref())
            .with_subscriber(tracing::subscriber::NoSubscriber::default())
            .await;
        match counted {
            Ok(n) => metrics::set_pending(n),
            Err(error) => tracing::debug!(%error, "cannot count pending deliveries"),
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(PENDING_EVERY) => {}
        }
    }
}

/// Starts the feed follower, the producer, the digest and the dispatcher.
fn spawn_background(
    engine: Arc<Engine<SqlStore>>,
    webhook: WebhookSender,
    email: Option<EmailSender>,
    shutdown: Shutdown,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = vec![
        tokio::spawn(engine::feed::run(engine.clone(), shutdown.clone())),
        tokio::spawn(count_pending(engine.clone(), shutdown.clone())),
    ];
    let (e, s) = (engine.clone(), shutdown.clone());
    tasks.push(tokio::spawn(async move {
        let tick = e.tick();
        let refresh_every = Duration::from_secs(300).max(tick);
        let mut last_refresh = std::time::Instant::now();
        let mut last_digest: Option<std::time::Instant> = None;
        engine::run_loop("produce", tick, &e.produce_kick, s, || {
            let e = e.clone();
            let refresh = last_refresh.elapsed() >= refresh_every;
            if refresh {
                last_refresh = std::time::Instant::now();
            }
            // The digest is a daily matter: once a tick is plenty.
            let digest = last_digest.is_none_or(|at| at.elapsed() >= tick);
            if digest {
                last_digest = Some(std::time::Instant::now());
            }
            async move {
                if refresh {
                    e.refresh().await?;
                }
                let pace = engine::producer::pass(&e).await?;
                if digest {
                    engine::digest::pass(&e).await?;
                }
                Ok(pace)
            }
        })
        .await;
    }));
    // More scheduling passes alongside: leases keep their batches apart,
    // and while one writes its notifications another evaluates.
    // SQLite has one writer: a second pass would only wait for the first.
    let producers = if engine.store.is_postgres() {
        engine.config.producers.max(1)
    } else {
        1
    };
    for _ in 1..producers {
        let (e, s) = (engine.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            engine::run_loop("produce", e.tick(), &e.produce_kick, s, || {
                let e = e.clone();
                async move { engine::producer::pass(&e).await }
            })
            .await;
        }));
    }
    tasks.push(tokio::spawn(engine::dispatch::run(
        engine, webhook, email, shutdown,
    )));
    tasks
}
