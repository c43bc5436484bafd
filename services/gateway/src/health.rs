//! gRPC health for everything behind the gateway. The gateway's own Access
//! service and the overall status ("") are SERVING while it runs; each
//! configured upstream is polled (`grpc.health.v1.Health/Check`, empty
//! service name, no credential needed) every [`POLL_INTERVAL`] and its public
//! service reported SERVING or NOT_SERVING. On shutdown the poller stops and
//! everything turns NOT_SERVING.

use crate::proxy::Upstream;
use p06_kit::Shutdown;
use std::time::Duration;
use tonic_health::{
    ServingStatus,
    pb::{HealthCheckRequest, health_check_response, health_client::HealthClient},
    server::HealthReporter,
};

/// The gateway's own public service.
pub const ACCESS_SERVICE: &str = "p06.gateway.v1.Access";
/// How often upstreams are checked.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How long one upstream check may take.
const CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

/// Reports the gateway SERVING, then polls `upstreams` in a background
/// task until `shutdown`; await the handle to know it stopped.
pub async fn spawn(
    reporter: HealthReporter,
    upstreams: Vec<Upstream>,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    reporter
        .set_service_status(ACCESS_SERVICE, ServingStatus::Serving)
        .await;
    for upstream in &upstreams {
        reporter
            .set_service_status(upstream.route.public_service, ServingStatus::NotServing)
            .await;
    }
    tokio::spawn(poll(reporter, upstreams, shutdown))
}

async fn poll(reporter: HealthReporter, upstreams: Vec<Upstream>, shutdown: Shutdown) {
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Vec<Option<ServingStatus>> = vec![None; upstreams.len()];
    loop {
        let statuses = tokio::select! {
            biased;
            () = shutdown.wait() => break,
            statuses = async {
                interval.tick().await;
                futures::future::join_all(upstreams.iter().map(check)).await
            } => statuses,
        };
        for ((upstream, status), last) in upstreams.iter().zip(statuses).zip(last.iter_mut()) {
            if *last != Some(status) {
                let service = upstream.route.public_service;
                match status {
                    ServingStatus::Serving => tracing::info!(service, "upstream serving"),
                    _ => tracing::warn!(service, origin = %upstream.origin, "upstream not serving"),
                }
                reporter.set_service_status(service, status).await;
                *last = Some(status);
            }
        }
    }
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    reporter
        .set_service_status(ACCESS_SERVICE, ServingStatus::NotServing)
        .await;
    for upstream in &upstreams {
        reporter
            .set_service_status(upstream.route.public_service, ServingStatus::NotServing)
            .await;
    }
    tracing::debug!("health poller stopped");
}

/// One upstream's overall health.
async fn check(upstream: &Upstream) -> ServingStatus {
    let mut client = HealthClient::new(upstream.channel.clone());
    let request = HealthCheckRequest {
        service: String::new(),
    };
    match tokio::time::timeout(CHECK_TIMEOUT, client.check(request)).await {
        Ok(Ok(response))
            if response.get_ref().status() == health_check_response::ServingStatus::Serving =>
        {
            ServingStatus::Serving
        }
        _ => ServingStatus::NotServing,
    }
}
