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

/// Checks everything once (so the gateway starts with true statuses), then
/// keeps polling in a background task until `shutdown`; await the handle to
/// know it stopped.
pub async fn spawn(
    reporter: HealthReporter,
    upstreams: Vec<Upstream>,
    keys: Pool,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    reporter
        .set_service_status(LIVENESS_SERVICE, ServingStatus::Serving)
        .await;
    let mut poller = Poller {
        last: vec![None; upstreams.len()],
        last_overall: None,
        reporter,
        upstreams,
        keys,
    };
    poller.round().await;
    tokio::spawn(poller.run(shutdown))
}

struct Poller {
    reporter: HealthReporter,
    upstreams: Vec<Upstream>,
    keys: Pool,
    last: Vec<Option<ServingStatus>>,
    last_overall: Option<(bool, bool)>,
}

use readiness::status;

impl Poller {
    async fn run(mut self, shutdown: Shutdown) {
        let mut interval = tokio::time::interval(POLL_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            tokio::select! {
                biased;
                () = shutdown.wait() => break,
                () = async { interval.tick().await; self.round().await } => {}
            }
        }
        self.stop().await;
    }

    /// Checks the key database and every upstream once and reports changes.
    async fn round(&mut self) {
        let (keys_ok, statuses) = tokio::join!(
            readiness::database_reachable(&self.keys),
            futures::future::join_all(self.upstreams.iter().map(check)),
        );
        let any_upstream = self.upstreams.is_empty() || statuses.contains(&ServingStatus::Serving);
        let overall = (keys_ok, any_upstream);
        if self.last_overall != Some(overall) {
            if !keys_ok {
                tracing::warn!("key database unreachable: not serving");
            } else if !any_upstream {
                tracing::warn!("no upstream reachable: not serving");
            }
            readiness::report("gateway database", keys_ok);
            readiness::report("gateway upstreams", any_upstream);
            self.reporter
                .set_service_status(ACCESS_SERVICE, status(keys_ok))
                .await;
            self.reporter
                .set_service_status("", status(keys_ok && any_upstream))
                .await;
            self.last_overall = Some(overall);
        }
        for ((upstream, now), last) in self
            .upstreams
            .iter()
            .zip(statuses)
            .zip(self.last.iter_mut())
        {
            if *last != Some(now) {
                let service = upstream.route.public_service;
                match now {
                    ServingStatus::Serving => tracing::info!(service, "upstream serving"),
                    _ => tracing::warn!(service, origin = %upstream.origin, "upstream not serving"),
                }
                self.reporter.set_service_status(service, now).await;
                *last = Some(now);
            }
        }
    }

    async fn stop(self) {
        readiness::forget("gateway database");
        readiness::forget("gateway upstreams");
        for service in ["", ACCESS_SERVICE, LIVENESS_SERVICE] {
            self.reporter
                .set_service_status(service, ServingStatus::NotServing)
                .await;
        }
        for upstream in &self.upstreams {
            self.reporter
                .set_service_status(upstream.route.public_service, ServingStatus::NotServing)
                .await;
        }
        tracing::debug!("health poller stopped");
    }
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
