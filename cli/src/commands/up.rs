//! `p06 up`: the whole stack on loopback, SQLite under a data directory,
//! reference data loaded, an ADMIN key printed on first start.

use crate::{
    commands::serve::FileConfig,
    stack::{Databases, Notifications, Stack, StackOptions},
};
use anyhow::Context as _;
use p06_kit::Shutdown;
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Instant};
use tokio::net::TcpListener;

/// Options of `p06 up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Directory for the SQLite databases (created when missing).
    #[arg(long, env = "P06_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Address of the gateway, the one public endpoint.
    #[arg(long, env = "P06_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// TOML configuration file; its [gateway], [localities] and
    /// [notifications] sections apply (addresses, databases and the token
    /// are p06 up's own).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Let units set, and notifications deliver to, webhooks on private
    /// networks, this machine's loopback included (for a receiver run
    /// next to p06 up); sets webhook_allow_private_networks for localities
    /// and notifications.
    #[arg(long)]
    pub allow_private_webhooks: bool,
    /// Load demo directives and assignments (again harmless: nothing is duplicated).
    #[arg(long)]
    pub demo: bool,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "P06_LOG_JSON")]
    pub log_json: bool,
    /// Serve /metrics (Prometheus text), /livez and /readyz over HTTP on
    /// this address (off unless given), e.g. 127.0.0.1:9464.
    #[arg(long, env = "P06_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
}

/// Runs the stack until Ctrl-C or SIGTERM.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut config: FileConfig =
        p06_kit::config::load(args.config.as_deref()).context("configuration")?;
    if args.allow_private_webhooks {
        config.localities.webhook_allow_private_networks = true;
        config.notifications.webhook_allow_private_networks = true;
    }
    let _telemetry = p06_kit::telemetry::init_with(p06_kit::telemetry::Options {
        service: "p06".into(),
        json: args.log_json || config.log_json,
        otlp_endpoint: p06_kit::telemetry::otlp_endpoint(),
        export_interval: None,
        per_component: true,
    });
    let gateway = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (is another p06 running? use --listen)",
            args.listen
        )
    })?;
    let localities = TcpListener::bind("127.0.0.1:0").await?;
    let tasks = TcpListener::bind("127.0.0.1:0").await?;
    let notifications = TcpListener::bind("127.0.0.1:0").await?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let admin = match args.admin_listen {
        Some(addr) => Some(crate::commands::serve::start_admin(addr, &shutdown).await?),
        None => None,
    };
    let clock: p06_kit::clock::SharedClock = Arc::new(p06_kit::SystemClock);
    let options = StackOptions {
        gateway,
        localities,
        tasks,
        notifications: Notifications::InProcess(notifications),
        databases: Databases::sqlite_in(&args.data_dir)?,
        clock: clock.clone(),
        gateway_config: config.gateway,
        localities_config: config.localities,
        notifications_config: config.notifications,
    };
    let stack = Stack::start(options, shutdown).await?;
    if args.demo {
        let loaded = crate::demo::load(
            stack.tasks_addr,
            stack.localities_addr,
            &stack.internal_token,
            clock.as_ref(),
        )
        .await
        .context("demo data")?;
        println!(
            "  demo: {} directives, {} assignments (p06 summary, p06 scoreboard, p06 assignments list); {} more falling due around today, reminded in office hours (p06 notifications tail --unit p01)",
            loaded.directives, loaded.assignments, loaded.reminders
        );
    }
    let addr = stack.gateway_addr;
    println!(
        "p06 is up in {} ms (data in {})",
        started.elapsed().as_millis(),
        args.data_dir.display()
    );
    println!("  gateway: http://{addr}");
    if args.allow_private_webhooks {
        println!("  webhooks: private networks and loopback allowed (--allow-private-webhooks)");
    }
    if let Some(admin) = admin {
        println!("  admin: http://{admin}/metrics (also /livez, /readyz)");
    }
    match &stack.bootstrap_key {
        Some(key) => {
            println!("  admin key (shown once; keep it safe): {key}");
            println!("  export P06_API_KEY={key}");
        }
        None => println!(
            "  admin key: created on first start (lost it? stop p06 and run `p06 keys bootstrap --data-dir {}`)",
            args.data_dir.display()
        ),
    }
    println!(
        "  try: p06 units list --active-on 2025-07-01 --kind province --kind centrally-run-city"
    );
    println!(
        "   or: buf curl --protocol grpc --http2-prior-knowledge -H \"authorization: Bearer $P06_API_KEY\" -d '{{\"name\":\"units/p01\"}}' http://{addr}/p06.localities.v1.Localities/GetUnit"
    );
    println!(
        "   or: grpcurl -plaintext -H \"authorization: Bearer $P06_API_KEY\" -d '{{\"name\":\"units/p01\"}}' {addr} p06.localities.v1.Localities/GetUnit"
    );
    println!("  stop with Ctrl-C");
    stack.wait().await
}
