//! The notifications service's metrics: reminders produced, deliveries and
//! their attempts by channel and outcome, dead letters, deliveries pending,
//! the due → delivered lag, the feed cursor (the feed lag is the tasks
//! head, `p06_tasks_feed_head`, minus this cursor) and the contacts cache.
//! Labels come from fixed sets: a kind, a channel, an outcome.

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram},
};
use std::sync::{
    OnceLock,
    atomic::{AtomicI64, Ordering},
};

/// The service's instruments.
pub struct Metrics {
    /// Reminders written, by `kind`.
    pub reminders: Counter<u64>,
    /// Deliveries finished, by `channel` and `outcome` (`delivered`,
    /// `dead_letter`).
    pub deliveries: Counter<u64>,
    /// Attempts made, by `channel` and `outcome` (`success`, `failure`).
    pub attempts: Counter<u64>,
    /// Deliveries put in dead letter, by `channel`.
    pub dead_letters: Counter<u64>,
    /// Seconds from a reminder falling due to its delivery, by `channel`.
    pub lag: Histogram<f64>,
    /// Contacts lookups, by `result` (`fresh`, `stale`, `miss`).
    pub contacts: Counter<u64>,
}

/// Lag buckets (seconds): from tens of milliseconds to a day of retries.
const LAG_BOUNDS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0, 3600.0, 86400.0,
];

static PENDING: AtomicI64 = AtomicI64::new(0);
static CURSOR: AtomicI64 = AtomicI64::new(0);

/// The process's instruments.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let meter = p06_kit::rpc::meter();
        p06_kit::rpc::atomic_gauge(
            &meter,
            "p06.notifications.deliveries.pending",
            "Deliveries waiting to be sent or retried",
            &PENDING,
        );
        p06_kit::rpc::atomic_gauge(
            &meter,
            "p06.notifications.feed.cursor",
            "Last tasks feed sequence applied to the schedule",
            &CURSOR,
        );
        Metrics {
            reminders: meter
                .u64_counter("p06.notifications.reminders")
                .with_description("Reminders produced, by kind")
                .build(),
            deliveries: meter
                .u64_counter("p06.notifications.deliveries")
                .with_description("Deliveries finished, by channel and outcome")
                .build(),
            attempts: meter
                .u64_counter("p06.notifications.delivery.attempts")
                .with_description("Delivery attempts, by channel and outcome")
                .build(),
            dead_letters: meter
                .u64_counter("p06.notifications.dead_letters")
                .with_description("Deliveries put in dead letter, by channel")
                .build(),
            lag: meter
                .f64_histogram("p06.notifications.delivery.lag")
                .with_unit("s")
                .with_description("From a reminder falling due to its delivery")
                .with_boundaries(LAG_BOUNDS.to_vec())
                .build(),
            contacts: meter
                .u64_counter("p06.notifications.contacts.lookups")
                .with_description("Contacts cache lookups, by result")
                .build(),
        }
    })
}

/// Records the number of pending deliveries (read from the store).
pub fn set_pending(n: i64) {
    get();
    PENDING.store(n, Ordering::Relaxed);
}

/// Records the feed cursor just committed.
pub fn set_cursor(sequence: i64) {
    get();
    CURSOR.store(sequence, Ordering::Relaxed);
}

/// Counts one contacts lookup.
pub fn contacts(result: &'static str) {
    get().contacts.add(1, &[KeyValue::new("result", result)]);
}
