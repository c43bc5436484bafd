//! The tasks service's metrics: writes by method and the change feed's
//! head sequence (the notifications service reports its cursor; the feed
//! lag is the difference).

use opentelemetry::{KeyValue, metrics::Counter};
use std::sync::{
    OnceLock,
    atomic::{AtomicI64, Ordering},
};

static HEAD: AtomicI64 = AtomicI64::new(0);

fn writes() -> &'static Counter<u64> {
    static WRITES: OnceLock<Counter<u64>> = OnceLock::new();
    WRITES.get_or_init(|| {
        let meter = p06_kit::rpc::meter();
        p06_kit::rpc::atomic_gauge(
            &meter,
            "p06.tasks.feed.head",
            "Sequence of the newest change in the feed",
            &HEAD,
        );
        meter
            .u64_counter("p06.tasks.writes")
            .with_description("Changes made, by the method that made them")
            .build()
    })
}

/// Counts one successful write by `method` ("ReportProgress").
pub fn wrote(method: &'static str) {
    writes().add(1, &[KeyValue::new("method", method)]);
}

/// Records the feed's head sequence.
pub fn set_head(sequence: i64) {
    writes();
    HEAD.fetch_max(sequence, Ordering::Relaxed);
}
