//! Running a service's gRPC server on a pre-bound listener: trace spans,
//! the internal-credential check, gRPC health, graceful shutdown with a
//! bounded drain.

use crate::{
    identity::InternalAuthLayer,
    shutdown::{DRAIN_TIMEOUT, Shutdown},
    trace_context::TraceLayer,
};
use tokio::net::TcpListener;
use tonic::{service::Routes, transport::server::TcpIncoming};
use tonic_health::{ServingStatus, server::HealthReporter};

/// Serves `routes` (plus gRPC health) on `listener` until `shutdown`, then
/// lets in-flight calls finish for at most [`DRAIN_TIMEOUT`].
///
/// Every call but health must carry `internal_token` (see
/// [`crate::identity`]). `services` are the fully-qualified service names
/// reported SERVING while up and NOT_SERVING once draining.
pub async fn serve_internal(
    name: &'static str,
    routes: Routes,
    services: &[&str],
    listener: TcpListener,
    internal_token: &str,
    shutdown: Shutdown,
) -> Result<(), tonic::transport::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    set_all(&reporter, services, ServingStatus::Serving).await;
    let routes = routes.add_service(health);
    let addr = listener.local_addr().ok();
    tracing::info!(service = name, addr = ?addr, "serving");
    let server = tonic::transport::Server::builder()
        .layer(TraceLayer)
        .layer(InternalAuthLayer::new(internal_token))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming(listener), {
            let shutdown = shutdown.clone();
            let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
            async move {
                shutdown.wait().await;
                let names: Vec<&str> = services.iter().map(String::as_str).collect();
                set_all(&reporter, &names, ServingStatus::NotServing).await;
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

async fn set_all(reporter: &HealthReporter, services: &[&str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for s in services {
        reporter.set_service_status(*s, status).await;
    }
}
