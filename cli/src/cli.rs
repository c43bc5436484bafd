//! Argument parsing and dispatch.

use crate::commands::{
    health::HealthArgs, keys::KeysCommand, serve::ServeArgs, units::UnitsCommand, up::UpArgs,
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
