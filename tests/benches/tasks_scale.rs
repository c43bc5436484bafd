//! Tasks at programme scale on PostgreSQL: 1,000,000 assignments over
//! 10,000 units, loaded straight into a fresh tasks database, then measured
//! through the gateway:
//!
//! - ListAssignments, one unit's page (p50/p99), as of a past date (the
//!   rows as they were then, from their spans of days) and today (the
//!   table alone), the two alternating call by call;
//! - GetSummary for the whole programme and for one unit, as of a past
//!   date, each alternating with the same counts over the table alone (the
//!   statement summaries ran before as-of spans existed, run directly on
//!   the database);
//! - ReportProgress throughput with concurrent clients.
//!
//! Run: `P06_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo bench -p p06-tests --bench tasks_scale` (optional: `-- <assignments>`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06_proto::{gateway::v1::Role, tasks::v1 as pb};
use p06_tests::{Backend, TestStack};
use std::time::{Duration, Instant};

const UNITS: i64 = 10_000;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn load(url: &str, total: i64) -> Duration {
    let started = Instant::now();
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(
        "INSERT INTO directives (id, number, kind, issuer, issue_date, title, link, created_at) \
         VALUES ('bench-2024', 'BENCH', 'NOTICE', 'm-government-office', DATE '2024-01-02', 'scale benchmark', '', now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    let tasks = total / UNITS;
    sqlx::query(
        "INSERT INTO tasks (id, directive_id, title, description, task_group, deadline_date, deadline_working_days, period, created_at) \
         SELECT 't' || i, 'bench-2024', 'task ' || i, '', 'DATA', DATE '2024-01-02' + (i % 300)::int, NULL, NULL, now() \
         FROM generate_series(1, $1) AS i",
    )
    .bind(tasks)
    .execute(&pool)
    .await
    .unwrap();
    // Every task to every unit: deadlines spread over the year, a third
    // completed (some late), a few cancelled.
    sqlx::query(
        "INSERT INTO assignments (task_id, unit_id, role, directive_id, task_group, title, deadline, deadline_version, period, \
         progress, completed_on, cancelled_on, last_report_on, created_on, version, created_at, updated_at) \
         SELECT 't' || t, 'u' || u, 'LEAD', 'bench-2024', 'DATA', 'task ' || t, DATE '2024-01-02' + (t % 300)::int, 1, NULL, \
                CASE WHEN (t + u) % 3 = 0 THEN 100 ELSE 0 END, \
                CASE WHEN (t + u) % 3 = 0 THEN DATE '2024-01-02' + ((t % 300) + ((t + u) % 7) - 3)::int END, \
                CASE WHEN (t + u) % 97 = 0 THEN DATE '2024-03-01' END, NULL, DATE '2024-01-02', 1, now(), now() \
         FROM generate_series(1, $1) AS t, generate_series(1, $2) AS u",
    )
    .bind(tasks)
    .bind(UNITS)
    .execute(&pool)
    .await
    .unwrap();
    // Their spans of days, as the service derives them: open from the day
    // assigned; a completed or cancelled row in a second span from then on.
    sqlx::query(
        "INSERT INTO assignment_states (task_id, unit_id, directive_id, task_group, role, created_on, created_at, \
         valid_from, valid_until, deadline, deadline_version, progress, completed_on, cancelled_on, last_report_on, moved_on) \
         SELECT task_id, unit_id, directive_id, task_group, role, created_on, created_at, created_on, COALESCE(LEAST(completed_on, cancelled_on), DATE '9999-12-31'), \
                deadline, 1, 0, NULL::date, NULL::date, NULL::date, NULL::date FROM assignments \
         WHERE LEAST(completed_on, cancelled_on) IS NULL OR LEAST(completed_on, cancelled_on) > created_on \
         UNION ALL \
         SELECT task_id, unit_id, directive_id, task_group, role, created_on, created_at, GREATEST(created_on, LEAST(completed_on, cancelled_on)), DATE '9999-12-31', \
                deadline, 1, progress, completed_on, cancelled_on, last_report_on, NULL::date FROM assignments \
         WHERE completed_on IS NOT NULL OR cancelled_on IS NOT NULL",
    )
    .execute(&pool)
    .await
    .unwrap();
    // Settled, as autovacuum leaves a table some time after a bulk load
    // (statistics, and the visibility map index-only scans need).
    sqlx::query("VACUUM ANALYZE").execute(&pool).await.unwrap();
    pool.close().await;
    started.elapsed()
}

/// What summaries ran before as-of spans existed: the counts over the
/// assignments table alone, with its current columns, and the read of the
/// recurring duties in scope (run directly on the database, so the gRPC
/// hops are not in it).
struct OldCounts {
    pool: sqlx::PgPool,
    programme: String,
    unit: String,
    day: chrono::NaiveDate,
}

const OLD_RECURRING: &str =
    "SELECT task_id, unit_id, last_report_on FROM assignments WHERE period IS NOT NULL";

impl OldCounts {
    async fn connect(url: &str) -> Self {
        let sum = |cond: &str| format!("COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)");
        let open = "(cancelled_on IS NULL OR cancelled_on > $1) AND (completed_on IS NULL OR completed_on > $1)";
        let done = "(cancelled_on IS NULL OR cancelled_on > $1) AND completed_on IS NOT NULL AND completed_on <= $1";
        let sql = |scoped: &str| {
            format!(
                "SELECT COUNT(*), {}, {}, {}, {}, {} FROM assignments WHERE deadline IS NOT NULL \
                 AND created_on <= $1 AND (moved_on IS NULL OR moved_on > $1){scoped}",
                sum("cancelled_on IS NOT NULL AND cancelled_on <= $1"),
                sum(&format!("{done} AND completed_on <= deadline")),
                sum(&format!("{done} AND completed_on > deadline")),
                sum(&format!("{open} AND deadline >= $1")),
                sum(&format!("{open} AND deadline < $1")),
            )
        };
        Self {
            pool: sqlx::PgPool::connect(url).await.unwrap(),
            programme: sql(""),
            unit: sql(" AND unit_id = $2"),
            day: chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
        }
    }

    async fn programme(&self) -> Duration {
        let t = Instant::now();
        sqlx::query(sqlx::AssertSqlSafe(self.programme.clone()))
            .bind(self.day)
            .fetch_one(&self.pool)
            .await
            .unwrap();
        sqlx::query(OLD_RECURRING)
            .fetch_all(&self.pool)
            .await
            .unwrap();
        t.elapsed()
    }

    async fn unit(&self, unit: &str) -> Duration {
        let t = Instant::now();
        sqlx::query(sqlx::AssertSqlSafe(self.unit.clone()))
            .bind(self.day)
            .bind(unit.to_string())
            .fetch_one(&self.pool)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{OLD_RECURRING} AND unit_id = $1"
        )))
        .bind(unit.to_string())
        .fetch_all(&self.pool)
        .await
        .unwrap();
        t.elapsed()
    }
}

/// "p50 … p99 …" of `lat`, and its p99.
fn spread(lat: &mut [Duration]) -> (String, Duration) {
    lat.sort();
    let p99 = pct(lat, 0.99);
    (format!("p50 {} p99 {}", ms(pct(lat, 0.5)), ms(p99)), p99)
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64())
}

#[tokio::main]
async fn main() {
    let total: i64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    // No rate limit: the benchmark measures the services, not the limiter.
    let gateway = p06_gateway::Config {
        rate_limit_per_second: 0,
        ..Default::default()
    };
    let Some(stack) = TestStack::start_on_with(Backend::Postgres, gateway).await else {
        eprintln!("set P06_TEST_DATABASE_URL to a PostgreSQL server to run this benchmark");
        return;
    };
    let loaded = load(&stack.databases().tasks, total).await;
    println!(
        "loaded {total} assignments over {UNITS} units into PostgreSQL in {:.1} s",
        loaded.as_secs_f64()
    );
    let admin = stack.admin_key.clone();
    let mut tasks = stack.tasks(&admin).await;

    // Each as-of read alternates with the read it is measured against, so
    // both see the machine in the same state.
    let old = OldCounts::connect(&stack.databases().tasks).await;
    let list = |unit: i64, as_of: &str| pb::ListAssignmentsRequest {
        filter: format!("unit = \"units/u{unit}\""),
        page_size: 50,
        as_of: as_of.into(),
        ..Default::default()
    };
    let (mut as_of_lat, mut today_lat) = (Vec::new(), Vec::new());
    for i in 0..2000 {
        let unit = (i * 37) % UNITS + 1;
        for (as_of, lat) in [("2024-06-01", &mut as_of_lat), ("", &mut today_lat)] {
            let t = Instant::now();
            let page = tasks
                .list_assignments(list(unit, as_of))
                .await
                .unwrap()
                .into_inner();
            lat.push(t.elapsed());
            assert!(!page.assignments.is_empty());
        }
    }
    let (a, a99) = spread(&mut as_of_lat);
    let (b, b99) = spread(&mut today_lat);
    println!("ListAssignments, one unit's first page of 50 (2000 calls each, alternating):");
    println!("  as of 2024-06-01: {a}");
    println!("  today (the table): {b}  — as-of p99 {}", ratio(a99, b99));

    let (mut as_of_lat, mut old_lat) = (Vec::new(), Vec::new());
    let mut headline = String::new();
    for _ in 0..7 {
        let t = Instant::now();
        let all = tasks
            .get_summary(pb::GetSummaryRequest {
                as_of: "2024-06-01".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        as_of_lat.push(t.elapsed());
        headline = format!("{} assignments: {}", all.total, all.headline);
        old_lat.push(old.programme().await);
    }
    as_of_lat.sort();
    old_lat.sort();
    let (a, b) = (as_of_lat[3], old_lat[3]);
    println!("GetSummary, whole programme ({headline}), median of 7, alternating:");
    println!(
        "  as of 2024-06-01: {}; the old counts over the table (SQL only): {} — {}",
        ms(a),
        ms(b),
        ratio(a, b)
    );

    let (mut as_of_lat, mut old_lat) = (Vec::new(), Vec::new());
    for i in 0..400 {
        let unit = i * 131 % UNITS + 1;
        let t = Instant::now();
        tasks
            .get_summary(pb::GetSummaryRequest {
                as_of: "2024-06-01".into(),
                unit: format!("units/u{unit}"),
                ..Default::default()
            })
            .await
            .unwrap();
        as_of_lat.push(t.elapsed());
        old_lat.push(old.unit(&format!("u{unit}")).await);
    }
    let (a, a99) = spread(&mut as_of_lat);
    let (b, b99) = spread(&mut old_lat);
    println!("GetSummary, one unit (400 calls each, alternating):");
    println!("  as of 2024-06-01, through the gateway: {a}");
    println!(
        "  the old counts (SQL only): {b}  — p99 {}",
        ratio(a99, b99)
    );
    old.pool.close().await;

    // ReportProgress: 8 units, each its own key and client, reporting on
    // its own assignments concurrently.
    let calls_per_unit = 250;
    let mut clients = Vec::new();
    for u in 1..=8 {
        let key = stack.key_for(&format!("units/u{u}"), Role::Unit).await;
        clients.push((u, stack.tasks(&key).await));
    }
    let started = Instant::now();
    let mut handles = Vec::new();
    for (u, mut client) in clients {
        handles.push(tokio::spawn(async move {
            for i in 0..calls_per_unit {
                let request = pb::ReportProgressRequest {
                    name: format!("tasks/t{}/assignments/u{u}", i % (total / UNITS) + 1),
                    percent: (i % 100) as i32,
                    note: "bench".into(),
                    ..Default::default()
                };
                // Completed or cancelled assignments refuse reports: that is still a round trip.
                let _ = client.report_progress(request).await;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "ReportProgress through the gateway: {:.0} calls/s (8 concurrent units x {calls_per_unit} calls)",
        (8 * calls_per_unit) as f64 / elapsed.as_secs_f64()
    );
}
