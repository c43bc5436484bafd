//! gRPC health for everything behind the gateway. Every [`POLL_INTERVAL`]
//! the key database is pinged and each configured upstream is polled
//! (`grpc.health.v1.Health/Check`, empty service name, no credential
//! needed): each upstream's public service is reported SERVING or
//! NOT_SERVING; the gateway's own Access service follows the key database;
//! the overall status ("", readiness) is SERVING while the key database
//! answers and at least one upstream does (or none is configured).
//! `liveness` stays SERVING until shutdown, when the poller stops and
//! everything turns NOT_SERVING.

use crate::proxy::Upstream;
use p06_kit::{
    Shutdown,
    readiness::{self, LIVENESS_SERVICE},
    sql::Pool,
};
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
    keys: Pool,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    reporter
        .set_service_status(LIVENESS_SERVICE, ServingStatus::Serving)
        .await;
    for upstream in &upstreams {
        reporter
            .set_service_status(upstream.route.public_service, ServingStatus::NotServing)
            .await;
    }
    tokio::spawn(poll(reporter, upstreams, keys, shutdown))
}

async fn poll(reporter: HealthReporter, upstreams: Vec<Upstream>, keys: Pool, shutdown: Shutdown) {
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Vec<Option<ServingStatus>> = vec![None; upstreams.len()];
    let mut last_overall = None;
    loop {
        let (keys_ok, statuses) = tokio::select! {
            biased;
            () = shutdown.wait() => break,
            polled = async {
                interval.tick().await;
                tokio::join!(
                    readiness::database_reachable(&keys),
                    futures::future::join_all(upstreams.iter().map(check)),
                )
            } => polled,
        };
        let any_upstream = upstreams.is_empty() || statuses.contains(&ServingStatus::Serving);
        let overall = (keys_ok, any_upstream);
        if last_overall != Some(overall) {
            if !keys_ok {
                tracing::warn!("key database unreachable: not serving");
            } else if !any_upstream {
                tracing::warn!("no upstream reachable: not serving");
            }
            readiness::report("gateway database", keys_ok);
            readiness::report("gateway upstreams", any_upstream);
            let status = |ok: bool| {
                if ok {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                }
            };
            reporter
                .set_service_status(ACCESS_SERVICE, status(keys_ok))
                .await;
            reporter
                .set_service_status("", status(keys_ok && any_upstream))
                .await;
            last_overall = Some(overall);
        }
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
    readiness::forget("gateway database");
    readiness::forget("gateway upstreams");
    for service in ["", ACCESS_SERVICE, LIVENESS_SERVICE] {
        reporter
            .set_service_status(service, ServingStatus::NotServing)
            .await;
    }
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
