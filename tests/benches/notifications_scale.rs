//! Notifications at programme scale on PostgreSQL: N open assignments
//! (default 1,000,000) over 10,000 units, each unit's webhook pointing at one
//! local [`WebhookReceiver`], served by the real notifications service
//! (`serve_with_clock` in a [`Replica`], next to a whole test stack):
//!
//! 1. the scheduling pass: N schedules loaded with `insert_schedules`, all
//!    due now (a DUE_TODAY on a working day in office hours, manual clock);
//!    time until the producer has written N notifications with their
//!    deliveries. The receiver hangs and `max_in_flight` is 1, so the
//!    dispatcher sits idle and the producer is measured alone;
//! 2. dispatch: a replica with the delivery settings under test drains the
//!    N pending deliveries to the receiver; requests counted over time;
//! 3. lag from due to delivered, on the system clock, in a database holding
//!    N open schedules whose next reminders are a week away: schedules
//!    falling due at R per second (urgent, so office hours do not hold them
//!    back), after a warm-up reminder to every unit has filled the contacts
//!    cache.
//!
//! Before the phases it measures two floors no design of delivery gets
//! under: the HTTP exchange alone (the service's webhook sender straight to
//! the receiver) and one ledger row per attempt (`record_attempts` with
//! nothing else to update), each as CPU per delivery.
//!
//! Run: `P06_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo bench -p p06-tests --bench notifications_scale`. Knobs (env):
//! `P06_BENCH_ASSIGNMENTS` (1000000), `P06_BENCH_PRODUCE_BATCH`,
//! `P06_BENCH_PRODUCE_CONTACTS_TTL` (s, phase 1),
//! `P06_BENCH_DISPATCH_BATCH`, `P06_BENCH_MAX_IN_FLIGHT`,
//! `P06_BENCH_LAG_RATE` (schedules/s), `P06_BENCH_LAG_SECS`,
//! `P06_BENCH_LAG_RUNS` ("tick_ms:contacts_ttl_secs" pairs, comma-separated,
//! default "1000:30", the service's defaults; empty skips phase 3).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use p06_kit::clock::ManualClock;
use p06_notifications::{
    domain::{Kind, StepKey},
    store::{Schedule, SqlStore},
};
use p06_proto::localities::v1 as loc;
use p06_tests::{
    Backend, Setup, TestStack,
    replica::Replica,
    webhook::{Behaviour, ReceivedWebhook, WebhookReceiver},
};
use sqlx::PgPool;
use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::sync::mpsc::UnboundedReceiver;

const UNITS: usize = 10_000;
/// How often progress is sampled.
const POLL: Duration = Duration::from_millis(50);
/// A phase fails when nothing moves for this long.
const STALL: Duration = Duration::from_secs(120);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// `hh:mm` Hà Nội time on a date, as UTC.
fn hanoi(y: i32, m: u32, d: u32, hh: u32, mm: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, hh, mm, 0).unwrap() - chrono::Duration::hours(7)
}

fn free_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn secret() -> String {
    use base64::Engine as _;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    )
}

fn unix_ms_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn rate(n: f64, d: Duration) -> String {
    format!("{:.0}/s", n / d.as_secs_f64().max(1e-9))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// CPU time (s) of one process from /proc/<pid>/stat.
fn proc_cpu(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds of each thread of this process.
fn thread_cpu() -> HashMap<String, f64> {
    let mut out = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            let tid = e.file_name().to_string_lossy().to_string();
            if let Some(c) = proc_cpu(&format!("self/task/{tid}")) {
                out.insert(tid, c);
            }
        }
    }
    out
}

/// CPU seconds used so far: this process (and each of its threads), every
/// postgres process, the whole machine busy and in total.
#[derive(Clone)]
struct Cpu {
    threads: HashMap<String, f64>,
    me: f64,
    postgres: f64,
    busy: f64,
    total: f64,
    at: Instant,
}

impl Cpu {
    fn now() -> Cpu {
        let me = proc_cpu("self").unwrap_or(0.0);
        let mut postgres = 0.0;
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let pid = e.file_name().to_string_lossy().to_string();
                if !pid.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "postgres" {
                    postgres += proc_cpu(&pid).unwrap_or(0.0);
                }
            }
        }
        let line = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu: Vec<f64> = line
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let total: f64 = cpu.iter().sum::<f64>() / 100.0;
        let idle =
            (cpu.get(3).copied().unwrap_or(0.0) + cpu.get(4).copied().unwrap_or(0.0)) / 100.0;
        Cpu {
            threads: thread_cpu(),
            me,
            postgres,
            busy: total - idle,
            total,
            at: Instant::now(),
        }
    }

    /// "CPU: …" since `self`; threads started since then are the
    /// notifications replica's (started after this reading).
    fn since(&self) -> String {
        self.since_split(&self.threads)
    }

    /// [`Cpu::since`], the replica's threads being those not in `before`.
    fn since_split(&self, before: &HashMap<String, f64>) -> String {
        let now = Cpu::now();
        let wall = now.at.duration_since(self.at).as_secs_f64();
        let me = now.me - self.me;
        let replica: f64 = now
            .threads
            .iter()
            .filter(|(tid, _)| !before.contains_key(*tid))
            .map(|(tid, c)| c - self.threads.get(tid).copied().unwrap_or(0.0))
            .sum();
        let pg = now.postgres - self.postgres;
        let busy = now.busy - self.busy;
        let total = now.total - self.total;
        format!(
            "CPU over {wall:.1} s wall (2 cores): notifications replica {replica:.1} s, rest of the stack + receiver + bench {:.1} s, postgres {pg:.1} s, everything else {:.1} s, idle {:.1} s",
            (me - replica).max(0.0),
            (busy - me - pg).max(0.0),
            (total - busy).max(0.0)
        )
    }
}

/// Progress of a counter sampled every [`POLL`] until it reaches `target`.
struct Progress {
    samples: Vec<(Duration, u64)>,
}

impl Progress {
    async fn watch<F, Fut>(what: &str, target: u64, mut read: F) -> Progress
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = u64>,
    {
        let started = Instant::now();
        let mut samples = vec![(Duration::ZERO, read().await)];
        let mut moved = Instant::now();
        loop {
            tokio::time::sleep(POLL).await;
            let v = read().await;
            let t = started.elapsed();
            if v != samples.last().unwrap().1 {
                moved = Instant::now();
            }
            samples.push((t, v));
            if v >= target {
                return Progress { samples };
            }
            assert!(
                moved.elapsed() < STALL,
                "{what}: stuck at {v} of {target} for {} s",
                STALL.as_secs()
            );
        }
    }

    /// When the counter first reached `v`.
    fn time_to(&self, v: u64) -> Duration {
        self.samples
            .iter()
            .find(|(_, x)| *x >= v)
            .map_or(Duration::MAX, |(t, _)| *t)
    }

    fn end(&self) -> Duration {
        self.samples.last().unwrap().0
    }

    /// The rate between 10% and 90% of `n`.
    fn sustained(&self, base: u64, n: u64) -> f64 {
        let (a, b) = (base + n / 10, base + n * 9 / 10);
        let d = self.time_to(b).saturating_sub(self.time_to(a));
        (b - a) as f64 / d.as_secs_f64().max(1e-9)
    }

    /// Rate in each tenth of the work, "a b c …" per second.
    fn deciles(&self, base: u64, n: u64) -> String {
        (0..10)
            .map(|i| {
                let (a, b) = (base + n * i / 10, base + n * (i + 1) / 10);
                let d = self.time_to(b).saturating_sub(self.time_to(a));
                format!("{:.0}", (b - a) as f64 / d.as_secs_f64().max(1e-9))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// 10,000 units that exist in localities: the reference units, topped up
/// with new ones should there be fewer.
async fn units(stack: &TestStack) -> Vec<String> {
    let mut client = stack.localities(&stack.admin_key).await;
    let mut out = Vec::new();
    let mut token = String::new();
    while out.len() < UNITS {
        let page = client
            .list_units(loc::ListUnitsRequest {
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(
            page.units
                .into_iter()
                .map(|u| u.name.strip_prefix("units/").unwrap().to_string()),
        );
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let mut i = 0;
    while out.len() < UNITS {
        i += 1;
        let unit = client
            .create_unit(loc::CreateUnitRequest {
                unit: Some(loc::Unit {
                    code: format!("bench{i}"),
                    kind: loc::UnitKind::GovernmentAgency as i32,
                    display_name: format!("Đơn vị thử {i}"),
                    supervisor: "units/wg06".into(),
                    ..Default::default()
                }),
                unit_id: format!("bench{i}"),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        out.push(unit.name.strip_prefix("units/").unwrap().to_string());
    }
    out.truncate(UNITS);
    out
}

/// Points every unit's webhook at `url` (16 calls at a time).
async fn set_webhooks(stack: &TestStack, units: &[String], url: &str) {
    let client = stack.localities(&stack.admin_key).await;
    let mut handles = Vec::new();
    for part in units.chunks(units.len().div_ceil(16)) {
        let (mut client, part, url) = (client.clone(), part.to_vec(), url.to_string());
        handles.push(tokio::spawn(async move {
            for unit in part {
                client
                    .update_contacts(loc::UpdateContactsRequest {
                        contacts: Some(loc::Contacts {
                            name: format!("units/{unit}/contacts"),
                            webhook: Some(loc::WebhookEndpoint {
                                url: url.clone(),
                                enabled: true,
                                secrets: vec![secret()],
                            }),
                            ..Default::default()
                        }),
                        update_mask: None,
                        request_id: String::new(),
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}

/// An open assignment with a deadline, in the shape the feed writes.
fn schedule(
    task: String,
    unit: &str,
    deadline: NaiveDate,
    last: Option<StepKey>,
    next_due_ms: i64,
    urgent: bool,
) -> Schedule {
    Schedule {
        title: format!("Cập nhật dữ liệu dân cư, nhiệm vụ {task}"),
        task_id: task,
        unit_id: unit.to_string(),
        directive_id: "bench-2025".into(),
        directive_number: "344/TB-VPCP".into(),
        group: "DATA".into(),
        period: None,
        since: deadline.checked_sub_days(Days::new(60)).unwrap(),
        deadline: Some(deadline),
        deadline_version: 1,
        generation: 1,
        acked: Vec::new(),
        last,
        next_due_ms: Some(next_due_ms),
        urgent,
        cause: String::new(),
    }
}

/// Loads `n` schedules made by `make(i)` in transactions of 50,000.
async fn load(store: &SqlStore, n: usize, make: impl Fn(usize) -> Schedule) -> Duration {
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + 50_000).min(n);
        let rows: Vec<Schedule> = (i..end).map(&make).collect();
        store.insert_schedules(&rows).await.unwrap();
        i = end;
    }
    started.elapsed()
}

/// Loads `n` open assignments task-major (`{prefix}0` for every unit, then
/// `{prefix}1`, …), so neighbours in the queue belong to different units;
/// each with `deadline`, ladder position `last`, next reminder at `due_ms`.
async fn load_task_major(
    store: &SqlStore,
    units: &[String],
    n: usize,
    prefix: &str,
    deadline: NaiveDate,
    last: Option<StepKey>,
    due_ms: i64,
) -> Duration {
    load(store, n, |i| {
        schedule(
            format!("{prefix}{}", i / UNITS),
            &units[i % UNITS],
            deadline,
            last,
            due_ms,
            false,
        )
    })
    .await
}

async fn counter(pool: &PgPool, sql: &str) -> u64 {
    u64::try_from(scalar(pool, sql).await).unwrap_or(0)
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// EXPLAIN ANALYZE of a read-only copy of a claim query; the plan's
/// execution time and shared buffers touched.
async fn explain(pool: &PgPool, sql: &str) -> String {
    let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) {sql}"
    )))
    .fetch_all(pool)
    .await
    .unwrap();
    let lines: Vec<String> = rows.into_iter().map(|r| r.0).collect();
    let pick = |key: &str| {
        lines
            .iter()
            .find(|l| l.contains(key))
            .map(|l| l.trim().to_string())
            .unwrap_or_default()
    };
    let buffers = lines
        .iter()
        .find(|l| l.trim_start().starts_with("Buffers:"))
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    format!("{}; {}; {}", pick("Execution Time"), buffers, pick("Index"))
}

fn config(
    stack: &TestStack,
    database_url: String,
    tweak: impl FnOnce(&mut p06_notifications::Config),
) -> p06_notifications::Config {
    let s = stack.stack();
    let mut c = p06_notifications::Config {
        database_url,
        internal_token: s.internal_token.clone(),
        tasks_url: format!("http://{}", s.tasks_addr),
        localities_url: format!("http://{}", s.localities_addr),
        digest_enabled: false,
        // The receiver listens on 127.0.0.1.
        webhook_allow_private_networks: true,
        ..p06_tests::fast_notifications()
    };
    tweak(&mut c);
    c
}

/// Sends `n` signed webhooks straight to `url`, `concurrency` at a time,
/// while draining `rx`; the time until the receiver had them all.
async fn http_floor(
    mut rx: UnboundedReceiver<ReceivedWebhook>,
    url: &str,
    n: usize,
    concurrency: usize,
) -> (UnboundedReceiver<ReceivedWebhook>, Duration) {
    use futures::StreamExt as _;
    let sender = p06_notifications::delivery::webhook::WebhookSender::new(
        Duration::from_secs(10),
        p06_kit::egress::Policy::new::<&str>(
            &[],
            true,
            p06_notifications::ALLOW_PRIVATE_NETWORKS_VAR,
        ),
    )
    .unwrap();
    let target = p06_notifications::delivery::webhook::WebhookTarget {
        url: url.to_string(),
        secrets: vec![secret()],
    };
    let body = serde_json::to_vec(&serde_json::json!({
        "type": "notification.due_today",
        "data": { "text_vi": "x".repeat(450), "text_en": "y".repeat(450) },
    }))
    .unwrap();
    let drain = tokio::spawn(async move {
        for _ in 0..n {
            rx.recv().await.unwrap();
        }
        rx
    });
    let started = Instant::now();
    let failures = futures::stream::iter(0..n)
        .map(|i| {
            let (sender, target, body) = (&sender, &target, body.clone());
            async move {
                sender
                    .send(target, &format!("msg_floor_{i}"), Utc::now(), body)
                    .await
                    .success
            }
        })
        .buffer_unordered(concurrency)
        .filter(|ok| std::future::ready(!ok))
        .count()
        .await;
    assert_eq!(failures, 0, "every floor request answered 200");
    let rx = drain.await.unwrap();
    (rx, started.elapsed())
}

/// Writes `n` ledger rows through the store's own `record_attempts`, 256
/// results a call (about what the dispatcher's ledger writer batches), on
/// a fresh database with no deliveries: the update of the delivery's state
/// finds no row, so this is the ledger row alone. PostgreSQL CPU seconds
/// used and the wall time.
async fn ledger_floor(n: usize) -> (f64, Duration) {
    use p06_notifications::store::{
        Attempt, AttemptResult, Channel, DeliveryState, NotificationStore as _,
    };
    let db = p06_kit::db::fresh_test_database("bench_ledger_floor")
        .await
        .unwrap();
    let store = SqlStore::connect(&db).await.unwrap();
    let at_ms = Utc::now().timestamp_millis();
    let results: Vec<AttemptResult> = (0..n)
        .map(|_| AttemptResult {
            attempt: Attempt {
                notification_id: p06_notifications::engine::producer::new_id(),
                channel: Channel::Webhook,
                attempt: 1,
                success: true,
                response_code: 200,
                error: String::new(),
                latency_ms: 3,
                at_ms,
            },
            state: DeliveryState::Delivered,
            next_attempt_ms: at_ms,
        })
        .collect();
    let cpu = Cpu::now();
    for batch in results.chunks(256) {
        store.record_attempts(batch).await.unwrap();
    }
    let now = Cpu::now();
    (now.postgres - cpu.postgres, now.at.duration_since(cpu.at))
}

/// Takes the receiver's request channel, leaving an empty one behind.
fn take_requests(receiver: &mut WebhookReceiver) -> UnboundedReceiver<ReceivedWebhook> {
    std::mem::replace(
        &mut receiver.requests,
        tokio::sync::mpsc::unbounded_channel().1,
    )
}

#[tokio::main]
async fn main() {
    let n = env_usize("P06_BENCH_ASSIGNMENTS", 1_000_000);
    let produce_batch = env_usize("P06_BENCH_PRODUCE_BATCH", 2000);
    let dispatch_batch = env_usize("P06_BENCH_DISPATCH_BATCH", 1000);
    let max_in_flight = env_usize("P06_BENCH_MAX_IN_FLIGHT", 256);
    let produce_ttl = env_usize("P06_BENCH_PRODUCE_CONTACTS_TTL", 30) as u64;
    let lag_rate = env_usize("P06_BENCH_LAG_RATE", 1000);
    let lag_secs = env_usize("P06_BENCH_LAG_SECS", 20);
    // "tick_ms:contacts_ttl_secs" pairs; empty skips the lag phase.
    let lag_runs: Vec<(u64, u64)> = std::env::var("P06_BENCH_LAG_RUNS")
        .unwrap_or_else(|_| "1000:30".into())
        .split(',')
        .filter_map(|r| {
            let (t, c) = r.trim().split_once(':')?;
            Some((t.parse().ok()?, c.parse().ok()?))
        })
        .collect();

    // A Tuesday, a working day, at 10:00 in Hà Nội: every DUE_TODAY is due.
    let clock = ManualClock::new(hanoi(2025, 6, 10, 10, 0));
    let today = NaiveDate::from_ymd_opt(2025, 6, 10).unwrap();
    let now_ms = p06_kit::Clock::now(&clock).timestamp_millis();
    let addr = free_addr();
    let mut setup = Setup::new(Arc::new(clock.clone())).private_webhooks();
    setup.external_notifications = Some(addr);
    setup.gateway = p06_gateway::Config {
        rate_limit_per_second: 0,
        ..Default::default()
    };
    let Some(stack) = TestStack::start_setup(Backend::Postgres, setup).await else {
        eprintln!("set P06_TEST_DATABASE_URL to a PostgreSQL server to run this benchmark");
        return;
    };
    let db_url = stack.databases().notifications;
    let pool = PgPool::connect(&db_url).await.unwrap();
    let setting = |name: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("SHOW {name}")))
                .fetch_one(&pool)
                .await
                .unwrap_or_default()
        }
    };
    println!(
        "PostgreSQL {}: shared_buffers {}, max_wal_size {}, synchronous_commit {}",
        setting("server_version").await,
        setting("shared_buffers").await,
        setting("max_wal_size").await,
        setting("synchronous_commit").await
    );
    let mut receiver = WebhookReceiver::start(Behaviour::Succeed).await;
    let rx = take_requests(&mut receiver);

    let t = Instant::now();
    let units = units(&stack).await;
    set_webhooks(&stack, &units, &receiver.url()).await;
    println!(
        "{UNITS} units in localities, each with a webhook to {} (UpdateContacts through the gateway): {}",
        receiver.url(),
        secs(t.elapsed())
    );

    // The floor: the service's webhook sender straight to the receiver,
    // no database, no lookups, `max_in_flight` at a time.
    // Fewer connections cost less CPU per request, so the floor is the
    // cheaper of 64 and `max_in_flight` at a time.
    let floor_n = n.min(100_000);
    let mut rx = rx;
    let mut http_us = f64::MAX;
    for concurrency in [64, max_in_flight] {
        let cpu = Cpu::now();
        let (back, floor) = http_floor(rx, &receiver.url(), floor_n, concurrency).await;
        rx = back;
        let us = (Cpu::now().busy - cpu.busy) * 1e6 / floor_n as f64;
        http_us = http_us.min(us);
        println!(
            "HTTP floor, WebhookSender -> WebhookReceiver ({floor_n} signed POSTs of a 1 KiB body, {concurrency} at a time, no database): {}, {us:.0} µs of CPU per request (machine busy time)",
            rate(floor_n as f64, floor)
        );
    }
    // The cheapest durable trace a delivery leaves: its ledger row.
    let (ledger_pg, ledger_wall) = ledger_floor(floor_n).await;
    let ledger_us = ledger_pg * 1e6 / floor_n as f64;
    println!(
        "ledger floor, record_attempts of {floor_n} attempts (256 a call, no delivery rows to update): {}, {ledger_us:.0} µs of PostgreSQL CPU per attempt",
        rate(floor_n as f64, ledger_wall)
    );
    println!(
        "    20,000 deliveries/s leave 100 µs of CPU per delivery on 2 cores; the cheaper HTTP floor and the ledger floor take {:.0} µs of it before any claim, state change or service work",
        http_us + ledger_us
    );

    // The lookup the producer makes per unit on a cold contacts cache.
    let s = stack.stack();
    let channel = p06_kit::client::internal(
        "bench",
        &format!("http://{}", s.localities_addr),
        &s.internal_token,
    )
    .unwrap();
    let mut localities = loc::localities_client::LocalitiesClient::new(channel);
    let mut lat = Vec::new();
    for unit in units.iter().take(2000) {
        let t = Instant::now();
        localities
            .get_contacts(loc::GetContactsRequest {
                name: format!("units/{unit}/contacts"),
            })
            .await
            .unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "GetContacts straight to localities (internal channel, one at a time, 2000 units): p50 {:.2} ms, p99 {:.2} ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );

    // Schedules task-major: neighbours in the queue belong to different units.
    let store = SqlStore::connect(&db_url).await.unwrap();
    let last = Some(StepKey {
        date: today.pred_opt().unwrap(),
        rank: Kind::DueSoon.rank(),
    });
    let loaded = load_task_major(&store, &units, n, "t", today, last, now_ms - 60_000).await;
    sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    println!(
        "loaded {n} schedules (deadline = today, all due) with insert_schedules: {}",
        secs(loaded)
    );

    // 1. The scheduling pass, producer alone.
    receiver.set_behaviour(Behaviour::Hang);
    let cfg = config(&stack, db_url.clone(), |c| {
        c.batch_size = produce_batch;
        c.contacts_ttl_secs = produce_ttl;
        c.max_in_flight = 1;
        c.webhook_timeout_ms = 3_600_000;
    });
    println!(
        "\n[1] scheduling pass: batch_size {produce_batch}, tick_ms {}, contacts_ttl_secs {}, dispatcher held to 1 hanging delivery",
        cfg.tick_ms, cfg.contacts_ttl_secs
    );
    let cpu = Cpu::now();
    let replica = Replica::start(cfg, addr, Arc::new(clock.clone()));
    let produced = Progress::watch("producing", n as u64, || {
        counter(
            &pool,
            "SELECT value FROM counters WHERE name = 'notifications'",
        )
    })
    .await;
    let cpu_line = cpu.since();
    let first = produced.time_to(1);
    let done = produced.end();
    replica.kill();
    let deliveries = scalar(&pool, "SELECT count(*) FROM deliveries").await;
    let left = scalar(
        &pool,
        &format!("SELECT count(*) FROM schedules WHERE next_due_ms <= {now_ms}"),
    )
    .await;
    assert_eq!(
        deliveries, n as i64,
        "one webhook delivery per notification"
    );
    assert_eq!(left, 0, "every schedule moved on");
    println!(
        "    {n} schedules -> {n} notifications + {deliveries} deliveries in {} (first after {}): {} overall, {}/s sustained (10%-90%)",
        secs(done),
        secs(first),
        rate(n as f64, done),
        produced.sustained(0, n as u64).round()
    );
    println!(
        "    one pass of {produce_batch}: {:.0} ms; rate per tenth: {}",
        produce_batch as f64 * 1000.0 / produced.sustained(0, n as u64),
        produced.deciles(0, n as u64)
    );
    println!("    {cpu_line}");

    // 2. Dispatch of the N pending deliveries.
    while rx.try_recv().is_ok() {}
    sqlx::query("UPDATE deliveries SET lease_until = 0 WHERE lease_until <> 0")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("VACUUM ANALYZE").execute(&pool).await.unwrap();
    receiver.set_behaviour(Behaviour::Succeed);
    let base = receiver.served();
    let ids_task = tokio::spawn(async move {
        let mut ids = HashSet::with_capacity(n);
        let mut requests = 0usize;
        while ids.len() < n {
            match tokio::time::timeout(STALL, rx.recv()).await {
                Ok(Some(r)) => {
                    requests += 1;
                    ids.insert(r.id);
                }
                _ => break,
            }
        }
        (rx, ids.len(), requests)
    });
    let cfg = config(&stack, db_url.clone(), |c| {
        c.batch_size = dispatch_batch;
        c.max_in_flight = max_in_flight;
    });
    println!(
        "\n[2] dispatch: max_in_flight {max_in_flight}, batch_size {dispatch_batch}, max_in_flight_per_unit {}, webhook pool {} idle connections per host",
        cfg.max_in_flight_per_unit,
        p06_notifications::delivery::webhook::POOL_MAX_IDLE_PER_HOST
    );
    let cpu = Cpu::now();
    let replica = Replica::start(cfg, addr, Arc::new(clock.clone()));
    let half_pool = pool.clone();
    let half = tokio::spawn(async move {
        // The claim queries half-way, read-only (no FOR UPDATE).
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let pending = scalar(
                &half_pool,
                "SELECT count(*) FROM deliveries WHERE state = 'PENDING'",
            )
            .await;
            if pending <= (n / 2) as i64 {
                break;
            }
        }
        explain(
            &half_pool,
            &format!(
                "SELECT notification_id, channel FROM deliveries WHERE state = 'PENDING' \
                 AND next_attempt_ms <= {now_ms} AND lease_until < {now_ms} \
                 ORDER BY next_attempt_ms LIMIT {dispatch_batch}"
            ),
        )
        .await
    });
    let sent = Progress::watch("dispatching", base + n as u64, || {
        let s = receiver.served();
        async move { s }
    })
    .await;
    let cpu_line = cpu.since();
    let recorded = Progress::watch("recording", n as u64, || {
        counter(
            &pool,
            "SELECT count(*) FROM deliveries WHERE state = 'DELIVERED'",
        )
    })
    .await;
    let (rx, distinct, requests) = ids_task.await.unwrap();
    let half_plan = half.await.unwrap();
    replica.kill();
    let first = sent.time_to(base + 1);
    let last_req = sent.end();
    println!(
        "    {n} deliveries to the receiver in {} (first after {}): {} overall, {}/s sustained (10%-90%); all recorded as DELIVERED after {}",
        secs(last_req),
        secs(first),
        rate(n as f64, last_req.saturating_sub(first)),
        sent.sustained(base, n as u64).round(),
        secs(last_req + recorded.end())
    );
    println!(
        "    rate per tenth: {}; {requests} requests, {distinct} distinct ids",
        sent.deciles(base, n as u64)
    );
    println!("    {cpu_line}");
    println!("    claim query at half-way (EXPLAIN ANALYZE, no lock): {half_plan}");

    // 3. Lag from due to delivered, system clock.
    let mut rx = rx;
    let today_hn = (Utc::now() + chrono::Duration::hours(7)).date_naive();
    // Yesterday's deadline: a DUE_TODAY is owed whatever the real date and
    // time (urgent, so office hours do not hold it back).
    let deadline = today_hn.pred_opt().unwrap();
    let total = lag_rate * lag_secs;
    for (tick, ttl) in lag_runs {
        let lag_db = p06_kit::db::fresh_test_database("bench_notifications_lag")
            .await
            .unwrap();
        let lag_store = SqlStore::connect(&lag_db).await.unwrap();
        // The N open assignments are scheduled here too, their next
        // reminders a week away: the producer works over a full schedule.
        let week_ms = Utc::now().timestamp_millis() + 7 * 86_400_000;
        let far = today_hn.checked_add_days(Days::new(30)).unwrap();
        let loaded = load_task_major(&lag_store, &units, n, "open", far, None, week_ms).await;
        sqlx::query("ANALYZE")
            .execute(&PgPool::connect(&lag_db).await.unwrap())
            .await
            .unwrap();
        let cfg = config(&stack, lag_db.clone(), |c| {
            c.tick_ms = tick;
            c.contacts_ttl_secs = ttl;
            c.batch_size = dispatch_batch;
            c.max_in_flight = max_in_flight;
        });
        println!(
            "\n[3] due -> delivered, system clock, urgent schedules (office hours do not apply): tick_ms {tick}, contacts_ttl_secs {ttl}, batch_size {dispatch_batch}, max_in_flight {max_in_flight}"
        );
        println!(
            "    {n} open schedules loaded first, next reminders a week away: {}",
            secs(loaded)
        );
        let before_replica = thread_cpu();
        let replica = Replica::start(cfg, free_addr(), Arc::new(p06_kit::SystemClock));
        // Warm-up: one reminder per unit, due at once, fills the replica's
        // contacts cache (as a running replica's would be).
        let now = Utc::now().timestamp_millis();
        let warm_started = Instant::now();
        load(&lag_store, UNITS, |i| {
            schedule(format!("warm{i}"), &units[i], deadline, None, now, true)
        })
        .await;
        let mut seen = 0;
        while seen < UNITS {
            tokio::time::timeout(STALL, rx.recv())
                .await
                .unwrap()
                .unwrap();
            seen += 1;
        }
        println!(
            "    warm-up, one reminder for each of the {UNITS} units (cold contacts cache): delivered in {}",
            secs(warm_started.elapsed())
        );
        // Then `lag_rate` per second fall due for `lag_secs`, from 2 s on.
        let start_ms = Utc::now().timestamp_millis() + 2_000;
        let due = move |i: usize| start_ms + (i as i64 * 1000) / lag_rate as i64;
        load(&lag_store, total, |i| {
            schedule(
                format!("lag{i}"),
                &units[i % UNITS],
                deadline,
                None,
                due(i),
                true,
            )
        })
        .await;
        let cpu = Cpu::now();
        let collect = tokio::spawn(async move {
            let mut lags: Vec<(usize, f64)> = Vec::with_capacity(total);
            while lags.len() < total {
                match tokio::time::timeout(STALL, rx.recv()).await {
                    Ok(Some(r)) => {
                        let at = unix_ms_f64();
                        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                        let assignment = body["data"]["assignment"].as_str().unwrap_or_default();
                        let i: usize = assignment
                            .strip_prefix("tasks/lag")
                            .and_then(|s| s.split('/').next())
                            .and_then(|s| s.parse().ok())
                            .unwrap();
                        lags.push((i, at - due(i) as f64));
                    }
                    _ => break,
                }
            }
            (rx, lags)
        });
        let (back, lags) = collect.await.unwrap();
        rx = back;
        let cpu_line = cpu.since_split(&before_replica);
        replica.kill();
        assert_eq!(lags.len(), total, "every reminder delivered");
        let mut all: Vec<f64> = lags.iter().map(|(_, l)| *l).collect();
        all.sort_by(f64::total_cmp);
        // The worst second, to see stalls.
        let mut per_second = vec![0.0f64; lag_secs];
        for (i, l) in &lags {
            let s = (i / lag_rate).min(lag_secs - 1);
            per_second[s] = per_second[s].max(*l);
        }
        // Where the time goes: due -> claimed by the producer (created_ms is
        // the time its pass started) -> attempt finished.
        let lag_pool = PgPool::connect(&lag_db).await.unwrap();
        let split: (f64, f64, f64, f64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY p), percentile_cont(0.99) WITHIN GROUP (ORDER BY p), \
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.99) WITHIN GROUP (ORDER BY d) FROM ( \
               SELECT (n.created_ms - ({start_ms} + substring(n.task_id from 4)::bigint * 1000 / {lag_rate}))::float8 AS p, \
                      (a.at_ms - n.created_ms)::float8 AS d \
               FROM notifications n JOIN attempts a ON a.notification_id = n.id \
               WHERE n.task_id LIKE 'lag%') x"
        )))
        .fetch_one(&lag_pool)
        .await
        .unwrap();
        lag_pool.close().await;
        println!(
            "    {lag_rate} falling due per second for {lag_secs} s: lag p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} reminders)",
            pct(&all, 0.5),
            pct(&all, 0.9),
            pct(&all, 0.99),
            all.last().copied().unwrap_or(f64::NAN),
            all.len()
        );
        println!(
            "    worst lag by second of due time (ms): {}",
            per_second
                .iter()
                .map(|l| format!("{l:.0}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        println!(
            "    split: due -> pass started p50 {:.0} ms p99 {:.0} ms; pass started -> webhook answered p50 {:.0} ms p99 {:.0} ms",
            split.0, split.1, split.2, split.3
        );
        println!("    {cpu_line}");
    }
    drop(receiver);
}
