//! The whole p06 stack in one process: each service on its own loopback
//! listener, the gateway in front. Used by `p06 up` and by the end-to-end
//! tests (which pass pre-bound `127.0.0.1:0` listeners and their own
//! databases and clock).

use anyhow::Context as _;
use p06_kit::{Shutdown, clock::SharedClock};
use rand::distr::{Alphanumeric, SampleString};
use std::{net::SocketAddr, path::Path};
use tokio::{net::TcpListener, task::JoinHandle};

/// The unit the bootstrap ADMIN key acts for: the Government's Working Group.
pub const BOOTSTRAP_UNIT: &str = "units/wg06";

/// Where each service keeps its data.
#[derive(Debug, Clone)]
pub struct Databases {
    /// Gateway (API keys).
    pub gateway: String,
    /// Localities.
    pub localities: String,
    /// Tasks.
    pub tasks: String,
    /// Notifications.
    pub notifications: String,
}

impl Databases {
    /// SQLite files under `dir` (created when missing).
    pub fn sqlite_in(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let url = |name: &str| format!("sqlite:{}", dir.join(format!("{name}.db")).display());
        Ok(Self {
            gateway: url("gateway"),
            localities: url("localities"),
            tasks: url("tasks"),
            notifications: url("notifications"),
        })
    }
}

/// How to start a stack.
pub struct StackOptions {
    /// The gateway's public listener.
    pub gateway: TcpListener,
    /// The localities service's listener (loopback).
    pub localities: TcpListener,
    /// The tasks service's listener (loopback).
    pub tasks: TcpListener,
    /// Where the notifications service runs: in this stack, or elsewhere at
    /// an address the gateway routes to (tests run replicas themselves).
    pub notifications: Notifications,
    /// Databases.
    pub databases: Databases,
    /// Clock for every service.
    pub clock: SharedClock,
    /// Gateway settings other than addresses, database and token.
    pub gateway_config: p06_gateway::Config,
    /// Localities settings other than database and token (the reference
    /// data is always loaded).
    pub localities_config: p06_localities::Config,
    /// Notifications settings other than addresses, database and token.
    pub notifications_config: p06_notifications::Config,
}

/// Where a stack's notifications service runs.
pub enum Notifications {
    /// Started by the stack on this listener.
    InProcess(TcpListener),
    /// Run by someone else at this address.
    External(SocketAddr),
}

impl Notifications {
    fn addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Notifications::InProcess(l) => l.local_addr(),
            Notifications::External(a) => Ok(*a),
        }
    }
}

/// A running stack.
pub struct Stack {
    /// The gateway's address.
    pub gateway_addr: SocketAddr,
    /// The localities service's address (internal).
    pub localities_addr: SocketAddr,
    /// The tasks service's address (internal).
    pub tasks_addr: SocketAddr,
    /// The notifications service's address (internal).
    pub notifications_addr: SocketAddr,
    /// The internal credential the services share.
    pub internal_token: String,
    /// A new ADMIN key, when this start created the first one.
    pub bootstrap_key: Option<String>,
    shutdown: Shutdown,
    tasks: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
}

/// A fresh random internal credential.
pub fn random_token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 48)
}

impl Stack {
    /// Prepares the databases (migrations, reference data, first ADMIN key)
    /// and starts every service; the gateway answers when this returns.
    pub async fn start(options: StackOptions, shutdown: Shutdown) -> anyhow::Result<Stack> {
        let internal_token = random_token();
        let localities_addr = options.localities.local_addr()?;
        let tasks_addr = options.tasks.local_addr()?;
        let gateway_addr = options.gateway.local_addr()?;
        let notifications_addr = options.notifications.addr()?;
        let localities = p06_localities::Config {
            database_url: options.databases.localities.clone(),
            internal_token: internal_token.clone(),
            load_reference_data: true,
            ..options.localities_config
        };
        p06_localities::prepare(&localities)
            .await
            .context("localities database")?;
        let tasks_config = p06_tasks::Config {
            database_url: options.databases.tasks.clone(),
            internal_token: internal_token.clone(),
            localities_url: format!("http://{localities_addr}"),
            ..p06_tasks::Config::default()
        };
        p06_tasks::prepare(&tasks_config)
            .await
            .context("tasks database")?;
        let bootstrap_key =
            p06_gateway::bootstrap_admin_key(&options.databases.gateway, BOOTSTRAP_UNIT)
                .await
                .context("gateway database")?;
        let mut gateway = p06_gateway::Config {
            database_url: options.databases.gateway.clone(),
            internal_token: internal_token.clone(),
            localities_url: format!("http://{localities_addr}"),
            tasks_url: format!("http://{tasks_addr}"),
            notifications_url: format!("http://{notifications_addr}"),
            ..options.gateway_config
        };
        if gateway.secret_sealing_key.is_empty() {
            // One for this run, held in memory only: retries within the run
            // get their secret back, and nothing at rest can unseal it.
            use base64::Engine as _;
            gateway.secret_sealing_key =
                base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        }
        let notifications_config = p06_notifications::Config {
            database_url: options.databases.notifications.clone(),
            internal_token: internal_token.clone(),
            tasks_url: format!("http://{tasks_addr}"),
            localities_url: format!("http://{localities_addr}"),
            ..options.notifications_config
        };
        p06_notifications::prepare(&notifications_config)
            .await
            .context("notifications database")?;
        let mut tasks = Vec::new();
        let (clock, s) = (options.clock.clone(), shutdown.clone());
        tasks.push((
            "localities",
            tokio::spawn(async move {
                p06_localities::serve_with_clock(localities, options.localities, s, clock)
                    .await
                    .map_err(anyhow::Error::from)
            }),
        ));
        let (clock, s) = (options.clock.clone(), shutdown.clone());
        tasks.push((
            "tasks",
            tokio::spawn(async move {
                p06_tasks::serve_with_clock(tasks_config, options.tasks, s, clock)
                    .await
                    .map_err(anyhow::Error::from)
            }),
        ));
        if let Notifications::InProcess(listener) = options.notifications {
            let (clock, s) = (options.clock.clone(), shutdown.clone());
            tasks.push((
                "notifications",
                tokio::spawn(async move {
                    p06_notifications::serve_with_clock(notifications_config, listener, s, clock)
                        .await
                        .map_err(anyhow::Error::from)
                }),
            ));
        }
        let s = shutdown.clone();
        tasks.push((
            "gateway",
            tokio::spawn(async move {
                p06_gateway::serve(gateway, options.gateway, s)
                    .await
                    .map_err(anyhow::Error::from)
            }),
        ));
        Ok(Stack {
            gateway_addr,
            localities_addr,
            tasks_addr,
            notifications_addr,
            internal_token,
            bootstrap_key,
            shutdown,
            tasks,
        })
    }

    /// The gateway URL for clients.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway_addr)
    }

    /// Starts shutdown.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Waits until every service has stopped; the first failure is returned.
    /// A service that fails stops the others.
    pub async fn wait(self) -> anyhow::Result<()> {
        let mut first_error = None;
        let (names, handles): (Vec<_>, Vec<_>) = self.tasks.into_iter().unzip();
        let mut pending: Vec<_> = handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| Box::pin(async move { (i, h.await) }))
            .collect();
        while !pending.is_empty() {
            let ((i, result), _, rest) = futures::future::select_all(pending).await;
            pending = rest;
            let outcome = match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(join) => Err(anyhow::anyhow!("task panicked: {join}")),
            };
            if let Err(e) = outcome {
                tracing::error!(service = names[i], error = %format!("{e:#}"), "service failed, stopping the stack");
                self.shutdown.trigger();
                first_error.get_or_insert(e.context(format!("{} failed", names[i])));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Triggers shutdown and waits for every service to stop.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.wait().await
    }
}
