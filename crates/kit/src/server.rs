//! Running a service's gRPC server on a pre-bound listener: trace spans
//! and call metrics, the internal-credential check, gRPC health that
//! follows the database (readiness), graceful shutdown with a bounded drain.

use crate::{
    identity::InternalAuthLayer,
    readiness::{self, LIVENESS_SERVICE},
    shutdown::{DRAIN_TIMEOUT, Shutdown},
    sql::Pool,
    trace_context::TraceLayer,
};
use tokio::net::TcpListener;
use tonic::{service::Routes, transport::server::TcpIncoming};
use tonic_health::ServingStatus;

/// What a service serves, beside its listener.
pub struct Service<'a> {
    /// Its short name ("tasks"), for logs and readiness.
    pub name: &'static str,
    /// Its gRPC routes (health is added).
    pub routes: Routes,
    /// The fully-qualified service names reported in health: SERVING while
    /// the database answers, NOT_SERVING while it does not and once draining.
    pub services: &'a [&'a str],
    /// The encoded descriptor sets whose methods label its call metrics
    /// (gRPC health's is added).
    pub descriptor_sets: &'a [&'a [u8]],
    /// Its database, watched for readiness.
    pub database: Pool,
}

/// Serves `service` (plus gRPC health) on `listener` until `shutdown`, then
/// lets in-flight calls finish for at most [`DRAIN_TIMEOUT`].
///
/// Every call but health must carry `internal_token` (see
/// [`crate::identity`]).
pub async fn serve_internal(
    service: Service<'_>,
    listener: TcpListener,
    internal_token: &str,
    shutdown: Shutdown,
) -> Result<(), tonic::transport::Error> {
    let Service {
        name,
        routes,
        services,
        descriptor_sets,
        database,
    } = service;
    database.observe(name);
    let (reporter, health) = tonic_health::server::health_reporter();
    let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    reporter
        .set_service_status(LIVENESS_SERVICE, ServingStatus::Serving)
        .await;
    // Readiness is known before the first call is accepted.
    let watch =
        readiness::DatabaseWatch::start(name, database, reporter.clone(), services.clone()).await;
    let watch_stop = shutdown.child();
    let watch = tokio::spawn(watch.run(watch_stop.clone()));
    let routes = routes.add_service(health);
    let addr = listener.local_addr().ok();
    tracing::info!(service = name, addr = ?addr, "serving");
    let server = tonic::transport::Server::builder()
        .layer(TraceLayer::new(
            name,
            &[descriptor_sets, &[tonic_health::pb::FILE_DESCRIPTOR_SET]].concat(),
        ))
        .layer(InternalAuthLayer::new(internal_token))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming(listener), {
            let shutdown = shutdown.clone();
            async move {
                shutdown.wait().await;
                watch_stop.trigger();
                let _ = watch.await;
                readiness::set_all(&reporter, &services, ServingStatus::NotServing).await;
                reporter
                    .set_service_status(LIVENESS_SERVICE, ServingStatus::NotServing)
                    .await;
            }
        });
    drain_bounded(name, server, shutdown).await
}

/// The connections of a pre-bound listener, with Nagle's algorithm off so
/// small gRPC frames are not held back waiting for ACKs.
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Runs a server future; once `shutdown` fires it gets [`DRAIN_TIMEOUT`] to
/// finish before it is dropped.
pub async fn drain_bounded<F>(
    name: &'static str,
    server: F,
    shutdown: Shutdown,
) -> Result<(), tonic::transport::Error>
where
    F: std::future::Future<Output = Result<(), tonic::transport::Error>>,
{
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => {
            tracing::info!(service = name, "stopped");
            result
        }
        () = async { shutdown.wait().await; tokio::time::sleep(DRAIN_TIMEOUT).await } => {
            tracing::warn!(service = name, timeout_s = DRAIN_TIMEOUT.as_secs(), "drain timed out, closing remaining calls");
            Ok(())
        }
    }
}
