//! The admin listener: a small HTTP/1 server beside the gRPC port for
//! scrapers and probes. `GET /metrics` is the process's metrics in the
//! Prometheus text format; `GET /livez` answers 200 while the process runs;
//! `GET /readyz` answers 200 when every dependency the process watches is
//! reachable and 503 otherwise (also before the first check), listing each.

use crate::{Shutdown, readiness, telemetry};
use axum::{Router, http::StatusCode, response::IntoResponse, routing::get};
use tokio::net::TcpListener;

/// Serves the admin endpoints on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, shutdown: Shutdown) -> std::io::Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), "admin listener serving");
    axum::serve(listener, router())
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
}

fn router() -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
}

async fn metrics() -> impl IntoResponse {
    match telemetry::metrics::render_prometheus() {
        Some(text) => (
            StatusCode::OK,
            [(
                http::header::CONTENT_TYPE,
                telemetry::prometheus::CONTENT_TYPE,
            )],
            text,
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(http::header::CONTENT_TYPE, "text/plain")],
            "metrics are not set up in this process\n".to_string(),
        ),
    }
}

async fn ready() -> impl IntoResponse {
    let components = readiness::components();
    // Nothing checked yet (the services are still starting) is not ready.
    let all = !components.is_empty() && components.iter().all(|(_, ready)| *ready);
    let body: String = components
        .iter()
        .map(|(name, ready)| format!("{name}: {}\n", if *ready { "ok" } else { "unreachable" }))
        .collect();
    let status = if all {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}
