//! Argument parsing and dispatch.

use crate::commands::{
    health::HealthArgs,
    keys::KeysCommand,
    notifications::NotificationsCommand,
    serve::ServeArgs,
    units::UnitsCommand,
    up::UpArgs,
    work::{AssignmentsCommand, DirectivesCommand, TasksCommand},
};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// p06: tracks Project 06 tasks assigned to ministries and provinces.
#[derive(Debug, Parser)]
#[command(name = "p06", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where client subcommands connect, and with which key.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Gateway URL.
    #[arg(
        long,
        env = "P06_GATEWAY_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub gateway: String,
    /// API key (the bearer token printed when it was created).
    #[arg(long, env = "P06_API_KEY", hide_env_values = true, global = true)]
    pub key: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole stack on loopback with SQLite files under --data-dir.
    Up(UpArgs),
    /// Run one service (gateway, localities) configured from P06_… variables or a TOML file.
    Serve(ServeArgs),
    /// Check a service's gRPC health (exit 0 when SERVING); for container health checks.
    Health(HealthArgs),
    /// Query the registry of units (ministries, provinces, communes, …).
    Units {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: UnitsCommand,
    },
    /// Record and list directives.
    Directives {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: DirectivesCommand,
    },
    /// Assign tasks to units.
    Tasks {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: TasksCommand,
    },
    /// List assignments, report progress, complete, show history.
    Assignments {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: AssignmentsCommand,
    },
    /// Counts per status as of a date: `p06 summary --unit p01 --as-of 2024-08-01`.
    Summary {
        #[command(flatten)]
        client: ClientArgs,
        /// One unit.
        #[arg(long)]
        unit: Option<String>,
        /// One directive (directives/…).
        #[arg(long)]
        directive: Option<String>,
        /// One task (tasks/…).
        #[arg(long)]
        task: Option<String>,
        /// The date (default today).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Rank provinces (or, with --central, central agencies; with --all,
    /// both on one board): "ranked 31/63".
    Scoreboard {
        #[command(flatten)]
        client: ClientArgs,
        /// Rank ministries and agencies instead of provinces.
        #[arg(long, conflicts_with = "all")]
        central: bool,
        /// Rank provinces and central agencies together.
        #[arg(long)]
        all: bool,
        /// The date (default today).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Print assignment changes live, from after a sequence number.
    Feed {
        #[command(flatten)]
        client: ClientArgs,
        /// Start after this sequence (0 = from the beginning).
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
    /// Reminders and notices: follow them live (`tail`), list, acknowledge,
    /// inspect deliveries, set reminder policies.
    Notifications {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: NotificationsCommand,
    },
    /// Manage API keys (ADMIN), or ask who a key is.
    Keys {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// Runs the command line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("p06: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => crate::commands::up::run(args).await,
            Command::Serve(args) => crate::commands::serve::run(args).await,
            Command::Health(args) => crate::commands::health::run(args).await,
            Command::Units { client, command } => {
                crate::commands::units::run(&client, command).await
            }
            Command::Keys { client, command } => crate::commands::keys::run(&client, command).await,
            Command::Directives { client, command } => {
                crate::commands::work::directives(&client, command).await
            }
            Command::Tasks { client, command } => {
                crate::commands::work::tasks(&client, command).await
            }
            Command::Assignments { client, command } => {
                crate::commands::work::assignments(&client, command).await
            }
            Command::Summary {
                client,
                unit,
                directive,
                task,
                as_of,
            } => crate::commands::work::summary(&client, unit, directive, task, as_of).await,
            Command::Scoreboard {
                client,
                central,
                all,
                as_of,
            } => crate::commands::work::scoreboard(&client, central, all, as_of).await,
            Command::Feed { client, after } => crate::commands::work::feed(&client, after).await,
            Command::Notifications { client, command } => {
                crate::commands::notifications::run(&client, command).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("p06: {e:#}");
            ExitCode::FAILURE
        }
    }
}
