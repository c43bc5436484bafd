//! The gateway's own metrics (beside the RPC histograms every process has):
//! refused callers and the load it carries. Labels are bounded: a reason
//! from a fixed set, never a key or a unit.

use opentelemetry::{
    KeyValue,
    metrics::{Counter, UpDownCounter},
};
use std::sync::OnceLock;

/// The gateway's instruments.
pub struct GatewayMetrics {
    /// Calls refused as UNAUTHENTICATED, by `reason` (`missing`, `rejected`).
    pub auth_failures: Counter<u64>,
    /// Calls refused for exceeding their key's rate.
    pub rate_limited: Counter<u64>,
    /// Calls shed because too many were in flight.
    pub shed: Counter<u64>,
    /// Calls in flight now (to their response headers).
    pub in_flight: UpDownCounter<i64>,
}

/// The process's gateway instruments.
pub fn get() -> &'static GatewayMetrics {
    static METRICS: OnceLock<GatewayMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let meter = p06_kit::rpc::meter();
        GatewayMetrics {
            auth_failures: meter
                .u64_counter("p06.gateway.auth.failures")
                .with_description("Calls refused as UNAUTHENTICATED, by reason")
                .build(),
            rate_limited: meter
                .u64_counter("p06.gateway.rate_limited")
                .with_description("Calls refused for exceeding their API key's rate")
                .build(),
            shed: meter
                .u64_counter("p06.gateway.shed")
                .with_description("Calls shed because too many were in flight")
                .build(),
            in_flight: meter
                .i64_up_down_counter("p06.gateway.in_flight")
                .with_description("Calls in flight, to their response headers")
                .build(),
        }
    })
}

/// Counts one authentication failure.
pub fn auth_failed(missing_key: bool) {
    let reason = if missing_key { "missing" } else { "rejected" };
    get()
        .auth_failures
        .add(1, &[KeyValue::new("reason", reason)]);
}
