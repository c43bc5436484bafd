//! `p06 health`: a gRPC health check, for container health checks and
//! scripts; exits non-zero unless the service is SERVING.

use anyhow::Context as _;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Options of `p06 health`.
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// Address of the service to check.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub address: String,
    /// Fully-qualified service name; empty checks the server as a whole.
    #[arg(long, default_value = "")]
    pub service: String,
}

/// Checks and prints the status.
pub async fn run(args: HealthArgs) -> anyhow::Result<()> {
    let channel = tonic::transport::Endpoint::from_shared(args.address.clone())
        .with_context(|| format!("bad address {:?}", args.address))?
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("cannot reach {}", args.address))?;
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: args.service.clone(),
        })
        .await
        .map_err(crate::client::describe)?
        .into_inner()
        .status;
    let status = ServingStatus::try_from(status).unwrap_or(ServingStatus::Unknown);
    println!("{}", status.as_str_name());
    anyhow::ensure!(
        status == ServingStatus::Serving,
        "{} is not serving",
        if args.service.is_empty() {
            &args.address
        } else {
            &args.service
        }
    );
    Ok(())
}
