//! `p06 serve <service>`: one service, configured from defaults, an optional
//! TOML file (`--config` or `P06_CONFIG`) and `P06_…` variables, for
//! containers and multi-host deployments.

use anyhow::Context as _;
use p06_kit::Shutdown;
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf};
use tokio::net::TcpListener;

/// Which service to run.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ServiceName {
    /// The public gRPC endpoint.
    Gateway,
    /// The registry of units.
    Localities,
    /// Directives, assignments, progress and the change feed.
    Tasks,
    /// Reminders, escalations, digests and their delivery.
    Notifications,
}

impl ServiceName {
    fn default_port(self) -> u16 {
        match self {
            ServiceName::Gateway => 50051,
            ServiceName::Localities => 50052,
            ServiceName::Tasks => 50053,
            ServiceName::Notifications => 50054,
        }
    }
}

/// Options of `p06 serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The service to run.
    pub service: ServiceName,
    /// TOML configuration file (sections [gateway], [localities], [tasks], [notifications]).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 0.0.0.0 and the service's port: gateway 50051, localities 50052, tasks 50053, notifications 50054).
    #[arg(long, env = "P06_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Serve /metrics (Prometheus text), /livez and /readyz over HTTP on
    /// this address (off unless given), e.g. 0.0.0.0:9464.
    #[arg(long, env = "P06_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
}

/// Binds the admin listener on `addr` and serves it until `shutdown`;
/// returns the bound address.
pub async fn start_admin(addr: SocketAddr, shutdown: &Shutdown) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (--admin-listen)"))?;
    let bound = listener.local_addr()?;
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        if let Err(error) = p06_kit::admin::serve(listener, shutdown).await {
            tracing::warn!(%error, "admin listener stopped");
        }
    });
    Ok(bound)
}

/// Every setting `p06 serve` reads; see the README's configuration table.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FileConfig {
    /// Shared internal credential (`P06_INTERNAL_TOKEN`), used by every
    /// service whose own setting is empty.
    pub internal_token: String,
    /// JSON logs (`P06_LOG_JSON`).
    pub log_json: bool,
    /// Gateway settings (`P06_GATEWAY__…`).
    pub gateway: p06_gateway::Config,
    /// Localities settings (`P06_LOCALITIES__…`).
    pub localities: p06_localities::Config,
    /// Tasks settings (`P06_TASKS__…`).
    pub tasks: p06_tasks::Config,
    /// Notifications settings (`P06_NOTIFICATIONS__…`).
    pub notifications: p06_notifications::Config,
}

/// Runs the service until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config: FileConfig =
        p06_kit::config::load(args.config.as_deref()).context("configuration")?;
    let name = match args.service {
        ServiceName::Gateway => "p06-gateway",
        ServiceName::Localities => "p06-localities",
        ServiceName::Tasks => "p06-tasks",
        ServiceName::Notifications => "p06-notifications",
    };
    let _telemetry = p06_kit::telemetry::init(name, config.log_json);
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], args.service.default_port())));
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    if let Some(addr) = args.admin_listen {
        start_admin(addr, &shutdown).await?;
    }
    let token = std::mem::take(&mut config.internal_token);
    match args.service {
        ServiceName::Gateway => {
            let mut c = config.gateway;
            if c.internal_token.is_empty() {
                c.internal_token = token;
            }
            if let Some(key) =
                p06_gateway::bootstrap_admin_key(&c.database_url, crate::stack::BOOTSTRAP_UNIT)
                    .await?
            {
                println!("first start: ADMIN key (shown once): {key}");
            }
            p06_gateway::serve(c, listener, shutdown).await?;
        }
        ServiceName::Localities => {
            let mut c = config.localities;
            if c.internal_token.is_empty() {
                c.internal_token = token;
            }
            p06_localities::serve(c, listener, shutdown).await?;
        }
        ServiceName::Tasks => {
            let mut c = config.tasks;
            if c.internal_token.is_empty() {
                c.internal_token = token;
            }
            p06_tasks::serve(c, listener, shutdown).await?;
        }
        ServiceName::Notifications => {
            let mut c = config.notifications;
            if c.internal_token.is_empty() {
                c.internal_token = token;
            }
            p06_notifications::serve(c, listener, shutdown).await?;
        }
    }
    Ok(())
}
