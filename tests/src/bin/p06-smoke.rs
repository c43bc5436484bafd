//! `p06-smoke`: the stand-ins and the driver of the compose smoke run
//! (`deploy/smoke.sh`). Not part of the product: the script builds it,
//! copies it into the stand-in image and runs the driver on the host.

use clap::{Parser, Subcommand};
use p06_tests::smoke::{
    drive::{self, Observers, State},
    standin,
};
use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

/// Stand-ins and driver for the compose smoke run.
#[derive(Debug, Parser)]
#[command(name = "p06-smoke")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Where the driver reads what the stand-ins saw.
#[derive(Debug, Clone, clap::Args)]
struct ObserverArgs {
    /// The state file `setup` wrote.
    #[arg(long)]
    state: PathBuf,
    /// The webhook stand-in's query URL.
    #[arg(long)]
    hooks: String,
    /// The stand-in collector's query URL.
    #[arg(long)]
    collector: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Stand in for the collector, Jaeger and Grafana: OTLP/gRPC on --otlp,
    /// HTTP (/metrics, /spans?trace=…, 200 elsewhere) on every --http.
    Otlp {
        #[arg(long)]
        otlp: SocketAddr,
        #[arg(long)]
        http: Vec<SocketAddr>,
    },
    /// Stand in for a unit's webhook receiver; GET /received on --query.
    Webhook {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        query: SocketAddr,
    },
    /// Provinces with webhook contacts, keys, a directive and its policy.
    Setup {
        #[arg(long)]
        gateway: String,
        #[arg(long, env = "P06_API_KEY", hide_env_values = true)]
        admin_key: String,
        /// The webhook URL as the notifications containers reach it.
        #[arg(long)]
        hook_url: String,
        #[arg(long)]
        state: PathBuf,
    },
    /// Task, report, reminder, webhook, ledger and traces.
    Roundtrip {
        #[command(flatten)]
        observers: ObserverArgs,
        /// Names this round in the output.
        #[arg(long, default_value = "roundtrip")]
        label: String,
    },
    /// Tasks for every province; each reminder delivered once.
    Fanout {
        #[command(flatten)]
        observers: ObserverArgs,
        /// How many tasks (each assigned to every province).
        #[arg(long, default_value_t = 3)]
        tasks: usize,
        /// How long to watch for late duplicates.
        #[arg(long, default_value_t = 15)]
        settle_secs: u64,
    },
    /// Reports with retries for a while (restart the database meanwhile).
    Writes {
        #[command(flatten)]
        observers: ObserverArgs,
        #[arg(long, default_value_t = 40)]
        seconds: u64,
    },
}

fn observers(args: &ObserverArgs) -> anyhow::Result<(State, Observers)> {
    Ok((
        State::load(&args.state)?,
        Observers {
            hooks: args.hooks.clone(),
            collector: args.collector.clone(),
        },
    ))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Otlp { otlp, http } => standin::otlp(otlp, http).await,
        Command::Webhook { listen, query } => standin::webhook(listen, query).await,
        Command::Setup {
            gateway,
            admin_key,
            hook_url,
            state,
        } => drive::setup(&gateway, &admin_key, &hook_url, &state).await,
        Command::Roundtrip {
            observers: o,
            label,
        } => {
            let (state, observers) = observers(&o)?;
            drive::roundtrip(&state, &observers, &label).await
        }
        Command::Fanout {
            observers: o,
            tasks,
            settle_secs,
        } => {
            let (state, observers) = observers(&o)?;
            let settle = Duration::from_secs(settle_secs);
            drive::fanout(&state, &observers, tasks, settle).await
        }
        Command::Writes {
            observers: o,
            seconds,
        } => {
            let (state, observers) = observers(&o)?;
            drive::writes(&state, &observers, Duration::from_secs(seconds)).await
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("p06-smoke: {e:#}");
            ExitCode::FAILURE
        }
    }
}
