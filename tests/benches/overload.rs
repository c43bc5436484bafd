//! The gateway at twice what the machine can serve: first the capacity of
//! a moderately heavy call (ListUnits, a page of 200 provinces' communes)
//! in a closed loop at the admission limit, then an open loop sending at
//! twice that rate for a while, with the gateway's admission control on
//! (the defaults) and off (no in-flight bound, no queue bound). Prints the
//! admitted calls' p50/p99 (client side, queueing included), how many were
//! shed, and how many timed out.
//!
//! Run: `cargo bench -p p06-tests --bench overload` (optional: `--
//! <seconds>` of overload per run, default 8).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06_proto::localities::v1 as pb;
use p06_tests::{Backend, TestStack};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::Mutex;
use tonic::Code;

const TIMEOUT: Duration = Duration::from_secs(10);

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn request() -> pb::ListUnitsRequest {
    pb::ListUnitsRequest {
        page_size: 200,
        filter: "kind = COMMUNE".into(),
        ..Default::default()
    }
}

async fn start(admission: bool) -> TestStack {
    let mut gateway = p06_gateway::Config {
        rate_limit_per_second: 0,
        ..p06_gateway::Config::default()
    };
    if !admission {
        gateway.max_concurrent_requests = 0;
        gateway.max_concurrent_per_key = 0;
        gateway.max_concurrent_per_unit = 0;
    }
    TestStack::start_on_with(Backend::Sqlite, gateway)
        .await
        .unwrap()
}

/// Calls per second a closed loop of `clients` sustains for `span`.
async fn capacity(stack: &TestStack, clients: usize, span: Duration) -> f64 {
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let until = Instant::now() + span;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut client = stack.localities(&stack.admin_key).await;
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                if client.list_units(request()).await.is_ok() {
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(std::sync::atomic::Ordering::Relaxed) as f64 / span.as_secs_f64()
}

#[derive(Default)]
struct Outcome {
    admitted: Vec<Duration>,
    shed: usize,
    timed_out: usize,
    other: usize,
}

/// Sends at `rate` per second for `span`, each call on its own; the
/// outcome of every call.
async fn open_loop(stack: &TestStack, rate: f64, span: Duration) -> Outcome {
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let channels: Vec<_> = futures_channels(stack, 8).await;
    let every = Duration::from_secs_f64(1.0 / rate);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let until = Instant::now() + span;
    let mut calls = Vec::new();
    let mut i = 0;
    while Instant::now() < until {
        tick.tick().await;
        let mut client = channels[i % channels.len()].clone();
        i += 1;
        let outcome = outcome.clone();
        calls.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut call = tonic::Request::new(request());
            call.set_timeout(TIMEOUT);
            let result = client.list_units(call).await;
            let took = started.elapsed();
            let mut o = outcome.lock().await;
            match result {
                Ok(_) => o.admitted.push(took),
                Err(s) if s.code() == Code::ResourceExhausted => o.shed += 1,
                Err(s) if s.code() == Code::DeadlineExceeded || s.code() == Code::Cancelled => {
                    o.timed_out += 1
                }
                Err(_) => o.other += 1,
            }
        }));
    }
    for c in calls {
        c.await.unwrap();
    }
    Arc::try_unwrap(outcome).ok().unwrap().into_inner()
}

async fn futures_channels(
    stack: &TestStack,
    n: usize,
) -> Vec<pb::localities_client::LocalitiesClient<p06::client::GatewayChannel>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(stack.localities(&stack.admin_key).await);
    }
    out
}

fn report(label: &str, rate: f64, o: &mut Outcome) {
    o.admitted.sort();
    let sent = o.admitted.len() + o.shed + o.timed_out + o.other;
    println!(
        "{label:<22} offered {rate:>6.0}/s  sent {sent:>6}  admitted {:>6}  shed {:>6}  timed out {:>5}  other {:>3}  admitted p50 {}  p99 {}",
        o.admitted.len(),
        o.shed,
        o.timed_out,
        o.other,
        ms(pct(&o.admitted, 0.50)),
        ms(pct(&o.admitted, 0.99)),
    );
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(8);
    let span = Duration::from_secs(seconds);
    let stack = start(true).await;
    let limit = p06_gateway::Config::default().max_concurrent_requests;
    capacity(&stack, 8, Duration::from_secs(2)).await; // warm-up
    let rate = capacity(&stack, limit.min(64), Duration::from_secs(4)).await;
    println!(
        "capacity: {rate:.0} ListUnits/s (closed loop of {} clients; admission limit {limit})",
        limit.min(64)
    );
    let mut on = open_loop(&stack, 2.0 * rate, span).await;
    report("admission on (2×)", 2.0 * rate, &mut on);
    drop(stack);
    let stack = start(false).await;
    capacity(&stack, 8, Duration::from_secs(2)).await;
    let mut off = open_loop(&stack, 2.0 * rate, span).await;
    report("admission off (2×)", 2.0 * rate, &mut off);
}
