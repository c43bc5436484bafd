//! [`NotificationStore`] on SQLite and PostgreSQL: one implementation whose
//! method bodies [`on_pool!`] expands per backend. Batches are written with
//! multi-row statements so a pass over many thousand schedules or
//! deliveries costs a handful of round trips.

use super::*;
use crate::domain::Rule;
use p06_kit::{
    bind_values,
    db::DbError,
    on_pool,
    sql::{JsonType, Pool, WritePool, json_insert, json_list, json_rows},
};
use sqlx::{AssertSqlSafe, FromRow, QueryBuilder, migrate::Migrator};
use std::str::FromStr;

mod deliveries;
mod policies;

/// A notifications database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: Pool,
}

impl SqlStore {
    /// Opens the database named by `url` and runs its migrations.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
        static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
        Ok(Self {
            pool: Pool::connect(url, &SQLITE, &POSTGRES).await?,
        })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The connection pool (for readiness checks and pool metrics).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether this is PostgreSQL (several replicas may share it).
    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// Loads schedules directly (benchmarks and bulk imports).
    pub async fn insert_schedules(&self, rows: &[Schedule]) -> StoreResult<()> {
        on_pool!(&self.pool, |pool, Db| {
            let mut tx = pool.begin_write().await?;
            for chunk in rows.chunks(2000) {
                let mut qb =
                    QueryBuilder::<Db>::new(format!("INSERT INTO schedules ({SCHEDULE_COLUMNS}) "));
                qb.push_values(chunk, |mut b, s| {
                    push_schedule!(b, s);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

pub(super) const SCHEDULE_COLUMNS: &str = "task_id, unit_id, directive_id, directive_number, \
     title, task_group, period, since, deadline, deadline_version, generation, acked, last_date, \
     last_rank, next_due_ms, urgent, cause";

pub(super) const NOTIFICATION_COLUMNS: &str = "seq, id, dedupe_key, unit_id, kind, task_id, \
     assignee_id, directive_id, directive_number, title, deadline, days_left, days_overdue, \
     text_vi, text_en, digest, due_ms, created_ms, acked_ms, cause";

/// Pushes one schedule's values in [`SCHEDULE_COLUMNS`] order.
macro_rules! push_schedule {
    ($b:expr, $s:expr) => {
        $b.push_bind($s.task_id.clone())
            .push_bind($s.unit_id.clone())
            .push_bind($s.directive_id.clone())
            .push_bind($s.directive_number.clone())
            .push_bind($s.title.clone())
            .push_bind($s.group.clone())
            .push_bind($s.period.map(|p| p.as_str()))
            .push_bind($s.since.to_string())
            .push_bind($s.deadline.map(|d| d.to_string()))
            .push_bind($s.deadline_version)
            .push_bind($s.generation)
            .push_bind(acked_text(&$s.acked))
            .push_bind($s.last.map(|k| k.date.to_string()))
            .push_bind($s.last.map(|k| i32::from(k.rank)))
            .push_bind($s.next_due_ms)
            .push_bind($s.urgent)
            .push_bind($s.cause.clone())
    };
}
use push_schedule;

fn acked_text(kinds: &[Kind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn decode_err(what: &str) -> StoreError {
    StoreError::Db(sqlx::Error::Decode(what.to_string().into()))
}

pub(super) fn parse<T: FromStr>(what: &str, s: &str) -> StoreResult<T> {
    s.parse().map_err(|_| decode_err(&format!("{what} {s}")))
}

fn parse_date(what: &str, s: Option<&str>) -> StoreResult<Option<NaiveDate>> {
    s.map(|s| parse::<NaiveDate>(what, s)).transpose()
}

#[derive(FromRow)]
struct ScheduleRow {
    task_id: String,
    unit_id: String,
    directive_id: String,
    directive_number: String,
    title: String,
    task_group: String,
    period: Option<String>,
    since: String,
    deadline: Option<String>,
    deadline_version: i32,
    generation: i64,
    acked: String,
    last_date: Option<String>,
    last_rank: Option<i32>,
    next_due_ms: Option<i64>,
    urgent: bool,
    cause: String,
}

impl ScheduleRow {
    fn into_schedule(self) -> StoreResult<Schedule> {
        let last = match (
            parse_date("last_date", self.last_date.as_deref())?,
            self.last_rank,
        ) {
            (Some(date), Some(rank)) => Some(StepKey {
                date,
                rank: u8::try_from(rank).map_err(|_| decode_err("last_rank"))?,
            }),
            _ => None,
        };
        Ok(Schedule {
            period: self.period.map(|p| parse("period", &p)).transpose()?,
            since: parse("since", &self.since)?,
            deadline: parse_date("deadline", self.deadline.as_deref())?,
            acked: self
                .acked
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| parse("acked kind", s))
                .collect::<StoreResult<_>>()?,
            last,
            task_id: self.task_id,
            unit_id: self.unit_id,
            directive_id: self.directive_id,
            directive_number: self.directive_number,
            title: self.title,
            group: self.task_group,
            deadline_version: self.deadline_version,
            generation: self.generation,
            next_due_ms: self.next_due_ms,
            urgent: self.urgent,
            cause: self.cause,
        })
    }
}

#[derive(FromRow)]
pub(super) struct NotificationRow {
    seq: i64,
    id: String,
    dedupe_key: String,
    unit_id: String,
    kind: String,
    task_id: String,
    assignee_id: String,
    directive_id: String,
    directive_number: String,
    title: String,
    deadline: Option<String>,
    days_left: i32,
    days_overdue: i32,
    text_vi: String,
    text_en: String,
    digest: String,
    due_ms: i64,
    created_ms: i64,
    acked_ms: Option<i64>,
    cause: String,
}

impl NotificationRow {
    pub(super) fn into_notification(self) -> StoreResult<Notification> {
        let digest = if self.digest.is_empty() {
            Vec::new()
        } else {
            serde_json::from_str(&self.digest).map_err(|e| decode_err(&format!("digest: {e}")))?
        };
        Ok(Notification {
            kind: parse("kind", &self.kind)?,
            deadline: parse_date("deadline", self.deadline.as_deref())?,
            digest,
            seq: self.seq,
            id: self.id,
            dedupe_key: self.dedupe_key,
            unit_id: self.unit_id,
            task_id: self.task_id,
            assignee_id: self.assignee_id,
            directive_id: self.directive_id,
            directive_number: self.directive_number,
            title: self.title,
            days_left: self.days_left,
            days_overdue: self.days_overdue,
            text_vi: self.text_vi,
            text_en: self.text_en,
            due_ms: self.due_ms,
            created_ms: self.created_ms,
            acked_ms: self.acked_ms,
            cause: self.cause,
        })
    }
}

pub(super) fn rows_into<R, T>(
    rows: Vec<R>,
    f: impl Fn(R) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    rows.into_iter().map(f).collect()
}

/// `(a, b) IN (VALUES ($n, $n+1), …)` for key pairs, from `$first`.
pub(super) fn pair_list(first: usize, n: usize) -> String {
    (0..n)
        .map(|i| format!("(${}, ${})", first + 2 * i, first + 2 * i + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `FOR UPDATE SKIP LOCKED` where the backend has it; SQLite runs one
/// writer at a time and a single replica.
pub(super) fn skip_locked(pool: &Pool) -> &'static str {
    match pool {
        Pool::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        Pool::Sqlite(_) => "",
    }
}

fn for_update(pool: &Pool) -> &'static str {
    match pool {
        Pool::Postgres(_) => " FOR UPDATE",
        Pool::Sqlite(_) => "",
    }
}

/// Takes `n` stream positions from the counter; the row stays locked until
/// the transaction ends, so positions follow commit order.
macro_rules! take_seqs {
    ($tx:expr, $n:expr) => {{
        let n = i64::try_from($n).unwrap_or(i64::MAX);
        let last: i64 = sqlx::query_scalar(
            "UPDATE counters SET value = value + $1 WHERE name = 'notifications' RETURNING value",
        )
        .bind(n)
        .fetch_one(&mut *$tx)
        .await?;
        last - n + 1
    }};
}
#[allow(unused_imports)]
pub(super) use take_seqs;

impl NotificationStore for SqlStore {
    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "feed_cursor notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "feed_cursor"))]
    async fn feed_cursor(&self) -> StoreResult<i64> {
        let sql = "SELECT sequence FROM feed_cursor WHERE id = 1";
        Ok(on_pool!(&self.pool, |pool, _Db| sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await?))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "count_pending notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "count_pending"))]
    async fn count_pending(&self) -> StoreResult<i64> {
        let sql = "SELECT COUNT(*) FROM deliveries WHERE state = 'PENDING'";
        Ok(on_pool!(&self.pool, |pool, _Db| sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await?))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "apply_feed notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "apply_feed"))]
    async fn apply_feed(&self, from: i64, ops: &[FeedOp], cursor: i64) -> StoreResult<bool> {
        let lock = format!(
            "SELECT sequence FROM feed_cursor WHERE id = 1{}",
            for_update(&self.pool)
        );
        on_pool!(&self.pool, |pool, Db| {
            let mut tx = pool.begin_write().await?;
            let current: i64 = sqlx::query_scalar(AssertSqlSafe(lock))
                .fetch_one(&mut *tx)
                .await?;
            if current != from {
                return Ok(false);
            }
            for op in ops {
                match op {
                    FeedOp::Put(s) => {
                        let mut qb = QueryBuilder::<Db>::new(format!(
                            "INSERT INTO schedules ({SCHEDULE_COLUMNS}) "
                        ));
                        qb.push_values([s], |mut b, s| {
                            push_schedule!(b, s);
                        });
                        qb.push(
                            " ON CONFLICT (task_id, unit_id) DO UPDATE SET \
                             directive_id = excluded.directive_id, \
                             directive_number = excluded.directive_number, \
                             title = excluded.title, task_group = excluded.task_group, \
                             period = excluded.period, since = excluded.since, \
                             deadline = excluded.deadline, \
                             deadline_version = excluded.deadline_version, \
                             generation = excluded.generation, acked = excluded.acked, \
                             last_date = excluded.last_date, last_rank = excluded.last_rank, \
                             next_due_ms = excluded.next_due_ms, urgent = excluded.urgent, \
                             cause = excluded.cause, lease_until = 0",
                        );
                        qb.build().execute(&mut *tx).await?;
                    }
                    FeedOp::Remove { task_id, unit_id } => {
                        sqlx::query("DELETE FROM schedules WHERE task_id = $1 AND unit_id = $2")
                            .bind(task_id.clone())
                            .bind(unit_id.clone())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            sqlx::query("UPDATE feed_cursor SET sequence = $1 WHERE id = 1")
                .bind(cursor)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "schedules notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "schedules"))]
    async fn schedules(&self, keys: &[(String, String)]) -> StoreResult<Vec<Schedule>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE (task_id, unit_id) IN (VALUES {})",
                pair_list(1, chunk.len())
            );
            let rows: Vec<ScheduleRow> = on_pool!(&self.pool, |pool, _Db| {
                let mut q = sqlx::query_as(AssertSqlSafe(sql));
                for (t, u) in chunk {
                    q = q.bind(t.clone()).bind(u.clone());
                }
                q.fetch_all(pool).await?
            });
            out.extend(rows_into(rows, ScheduleRow::into_schedule)?);
        }
        Ok(out)
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "claim_schedules notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "claim_schedules"))]
    async fn claim_schedules(
        &self,
        now_ms: i64,
        office_open: bool,
        lease_until_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Schedule>> {
        let sql = format!(
            "UPDATE schedules SET lease_until = $1 WHERE (task_id, unit_id) IN (\
             SELECT task_id, unit_id FROM schedules \
             WHERE next_due_ms <= $2 AND lease_until < $2 AND (urgent OR $3) \
             ORDER BY next_due_ms LIMIT $4{}) RETURNING {SCHEDULE_COLUMNS}",
            skip_locked(&self.pool)
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<ScheduleRow> = on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let rows = sqlx::query_as(AssertSqlSafe(sql))
                .bind(lease_until_ms)
                .bind(now_ms)
                .bind(office_open)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            rows
        });
        rows_into(rows, ScheduleRow::into_schedule)
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "next_due_after notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "next_due_after"))]
    async fn next_due_after(&self, now_ms: i64) -> StoreResult<Option<i64>> {
        let sql = "SELECT min(next_due_ms) FROM schedules WHERE next_due_ms > $1";
        Ok(on_pool!(&self.pool, |pool, _Db| sqlx::query_scalar::<
            _,
            Option<i64>,
        >(sql)
        .bind(now_ms)
        .fetch_one(pool)
        .await?))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "commit_evaluated notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "commit_evaluated"))]
    async fn commit_evaluated(
        &self,
        evaluated: Vec<Evaluated>,
        now_ms: i64,
    ) -> StoreResult<Vec<Notification>> {
        if evaluated.is_empty() {
            return Ok(Vec::new());
        }
        use JsonType::{BigInt, Bool, Int, Text};
        let backend = self.pool.backend();
        let lock = format!(
            "SELECT task_id, unit_id, generation FROM schedules \
             WHERE (task_id, unit_id) IN (SELECT task_id, unit_id FROM ({}) AS v) \
             AND lease_until > 0{}",
            json_rows(backend, 1, &[("task_id", Text), ("unit_id", Text)]),
            for_update(&self.pool)
        );
        let update = format!(
            "UPDATE schedules SET last_date = v.last_date, last_rank = v.last_rank, \
             next_due_ms = v.next_due_ms, urgent = v.urgent, lease_until = 0 FROM ({}) AS v \
             WHERE schedules.task_id = v.task_id AND schedules.unit_id = v.unit_id",
            json_rows(
                backend,
                1,
                &[
                    ("task_id", Text),
                    ("unit_id", Text),
                    ("last_date", Text),
                    ("last_rank", Int),
                    ("next_due_ms", BigInt),
                    ("urgent", Bool),
                ]
            )
        );
        let keys = serde_json::Value::from(
            evaluated
                .iter()
                .map(|e| serde_json::json!([e.task_id, e.unit_id]))
                .collect::<Vec<_>>(),
        )
        .to_string();
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let current: std::collections::HashMap<(String, String), i64> =
                sqlx::query_as::<_, (String, String, i64)>(AssertSqlSafe(lock))
                    .bind(keys)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(|(t, u, g)| ((t, u), g))
                    .collect();
            let live: Vec<Evaluated> = evaluated
                .into_iter()
                .filter(|e| {
                    current.get(&(e.task_id.clone(), e.unit_id.clone())) == Some(&e.generation)
                })
                .collect();
            if !live.is_empty() {
                let moves = serde_json::Value::from(
                    live.iter()
                        .map(|e| {
                            serde_json::json!([
                                e.task_id,
                                e.unit_id,
                                e.last.map(|k| k.date.to_string()),
                                e.last.map(|k| i32::from(k.rank)),
                                e.next_due_ms,
                                e.urgent
                            ])
                        })
                        .collect::<Vec<_>>(),
                )
                .to_string();
                sqlx::query(AssertSqlSafe(update))
                    .bind(moves)
                    .execute(&mut *tx)
                    .await?;
            }
            let produced: Vec<(Notification, Vec<Channel>)> =
                live.into_iter().flat_map(|e| e.notifications).collect();
            let written = deliveries::insert_notifications!(tx, backend, produced, now_ms);
            tx.commit().await?;
            Ok(written)
        })
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "produce notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "produce"))]
    async fn produce(
        &self,
        notifications: Vec<(Notification, Vec<Channel>)>,
        now_ms: i64,
    ) -> StoreResult<Vec<Notification>> {
        if notifications.is_empty() {
            return Ok(Vec::new());
        }
        let backend = self.pool.backend();
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let written = deliveries::insert_notifications!(tx, backend, notifications, now_ms);
            tx.commit().await?;
            Ok(written)
        })
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "touch_schedules notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "touch_schedules"))]
    async fn touch_schedules(&self, scope: &Scope, now_ms: i64) -> StoreResult<u64> {
        let (condition, value) = match scope {
            Scope::All => ("", None),
            Scope::Directive(id) => (" AND directive_id = $2", Some(id.clone())),
            Scope::Group(g) => (" AND task_group = $2", Some(g.clone())),
        };
        let sql = format!(
            "UPDATE schedules SET next_due_ms = $1 \
             WHERE (next_due_ms IS NULL OR next_due_ms > $1){condition}"
        );
        Ok(on_pool!(&self.pool, |pool, _Db| {
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now_ms);
            if let Some(v) = value {
                q = q.bind(v);
            }
            q.execute(pool).await?.rows_affected()
        }))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "open_schedules_by_unit notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "open_schedules_by_unit"))]
    async fn open_schedules_by_unit(&self) -> StoreResult<Vec<(String, Vec<Schedule>)>> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE deadline IS NOT NULL \
             ORDER BY unit_id, deadline, task_id"
        );
        let rows: Vec<ScheduleRow> =
            on_pool!(&self.pool, |pool, _Db| sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?);
        let mut out: Vec<(String, Vec<Schedule>)> = Vec::new();
        for row in rows {
            let s = row.into_schedule()?;
            match out.last_mut() {
                Some((unit, list)) if *unit == s.unit_id => list.push(s),
                _ => out.push((s.unit_id.clone(), vec![s])),
            }
        }
        Ok(out)
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "digest_done notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "digest_done"))]
    async fn digest_done(&self, month: &str) -> StoreResult<bool> {
        let sql = "SELECT COUNT(*) FROM digests WHERE month = $1";
        let n: i64 = on_pool!(&self.pool, |pool, _Db| sqlx::query_scalar(sql)
            .bind(month.to_string())
            .fetch_one(pool)
            .await?);
        Ok(n > 0)
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "mark_digest_done notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "mark_digest_done"))]
    async fn mark_digest_done(&self, month: &str, now_ms: i64) -> StoreResult<()> {
        let sql =
            "INSERT INTO digests (month, done_ms) VALUES ($1, $2) ON CONFLICT (month) DO NOTHING";
        on_pool!(&self.pool, |pool, _Db| {
            sqlx::query(sql)
                .bind(month.to_string())
                .bind(now_ms)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "notification notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "notification"))]
    async fn notification(&self, unit_id: Option<&str>, id: &str) -> StoreResult<Notification> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
             WHERE id = $1 AND ($2 = '' OR unit_id = $2)"
        );
        let row: Option<NotificationRow> =
            on_pool!(&self.pool, |pool, _Db| sqlx::query_as(AssertSqlSafe(sql))
                .bind(id.to_string())
                .bind(unit_id.unwrap_or_default().to_string())
                .fetch_optional(pool)
                .await?);
        row.ok_or_else(|| StoreError::NotFound(format!("notification {id}")))?
            .into_notification()
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "list_notifications notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "list_notifications"))]
    async fn list_notifications(&self, page: &PageQuery) -> StoreResult<Vec<Notification>> {
        let (sql, binds) = page_sql(page, None);
        let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE {sql}");
        let rows: Vec<NotificationRow> = on_pool!(&self.pool, |pool, _Db| {
            bind_values!(sqlx::query_as(AssertSqlSafe(sql)), &binds)
                .fetch_all(pool)
                .await?
        });
        rows_into(rows, NotificationRow::into_notification)
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "notifications_after notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "notifications_after"))]
    async fn notifications_after(
        &self,
        unit_id: &str,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<Notification>> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
             WHERE unit_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        let rows: Vec<NotificationRow> =
            on_pool!(&self.pool, |pool, _Db| sqlx::query_as(AssertSqlSafe(sql))
                .bind(unit_id.to_string())
                .bind(after_seq)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await?);
        rows_into(rows, NotificationRow::into_notification)
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "acknowledge notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "acknowledge"))]
    async fn acknowledge(
        &self,
        unit_id: Option<&str>,
        id: &str,
        m: &Mutation,
    ) -> StoreResult<Notification> {
        let n = self.notification(unit_id, id).await?;
        let resource = format!("units/{}/notifications/{id}", n.unit_id);
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE notifications SET acked_ms = $1 WHERE id = $2 AND acked_ms IS NULL",
            )
            .bind(m.at_ms)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed > 0 && !n.task_id.is_empty() {
                // Stop repeats of this kind for the assignment; the next
                // change to it rewrites `acked`.
                let kind = n.kind.as_str();
                sqlx::query(
                    "UPDATE schedules SET acked = CASE WHEN acked = '' THEN $1 \
                     ELSE acked || ',' || $1 END \
                     WHERE task_id = $2 AND unit_id = $3 \
                     AND (',' || acked || ',') NOT LIKE ('%,' || $1 || ',%')",
                )
                .bind(kind)
                .bind(n.task_id.clone())
                .bind(n.assignee_id.clone())
                .execute(&mut *tx)
                .await?;
                audit!(tx, m, "AcknowledgeNotification", resource);
            }
            tx.commit().await?;
        });
        self.notification(unit_id, id).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "claim_deliveries notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "claim_deliveries"))]
    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        busy: &[String],
        limit: usize,
    ) -> StoreResult<Vec<Claimed>> {
        self.claim_deliveries_impl(now_ms, lease_until_ms, busy, limit)
            .await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "release_deliveries notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "release_deliveries"))]
    async fn release_deliveries(&self, keys: &[(String, Channel)]) -> StoreResult<()> {
        self.release_deliveries_impl(keys).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "record_attempts notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "record_attempts"))]
    async fn record_attempts(&self, results: &[AttemptResult]) -> StoreResult<()> {
        self.record_attempts_impl(results).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "deliveries_of notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "deliveries_of"))]
    async fn deliveries_of(&self, notification_ids: &[String]) -> StoreResult<Vec<Delivery>> {
        self.deliveries_of_impl(notification_ids).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "list_deliveries notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "list_deliveries"))]
    async fn list_deliveries(&self, page: &PageQuery) -> StoreResult<Vec<Delivery>> {
        self.list_deliveries_impl(page).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "attempts notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "attempts"))]
    async fn attempts(&self, notification_id: &str) -> StoreResult<Vec<Attempt>> {
        self.attempts_impl(notification_id).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "redrive notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "redrive"))]
    async fn redrive(
        &self,
        unit_id: &str,
        notification_id: &str,
        channel: Channel,
        m: &Mutation,
    ) -> StoreResult<Delivery> {
        self.redrive_impl(unit_id, notification_id, channel, m)
            .await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "create_policy notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "create_policy"))]
    async fn create_policy(
        &self,
        p: &StoredPolicy,
        m: &Mutation,
        replan: &Replan<'_>,
    ) -> StoreResult<StoredPolicy> {
        self.create_policy_impl(p, m, replan).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "policy notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "policy"))]
    async fn policy(&self, id: &str) -> StoreResult<StoredPolicy> {
        self.policy_impl(id).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "policies notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "policies"))]
    async fn policies(&self) -> StoreResult<Vec<StoredPolicy>> {
        self.policies_impl().await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "update_policy notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "update_policy"))]
    async fn update_policy(
        &self,
        p: &StoredPolicy,
        expected_version: Option<i32>,
        m: &Mutation,
        replan: &Replan<'_>,
    ) -> StoreResult<StoredPolicy> {
        self.update_policy_impl(p, expected_version, m, replan)
            .await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "delete_policy notifications", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "notifications", db.operation.name = "delete_policy"))]
    async fn delete_policy(
        &self,
        id: &str,
        expected_version: Option<i32>,
        m: &Mutation,
        replan: &Replan<'_>,
    ) -> StoreResult<StoredPolicy> {
        self.delete_policy_impl(id, expected_version, m, replan)
            .await
    }
}

/// Writes an audit entry inside a transaction.
macro_rules! audit {
    ($tx:expr, $m:expr, $action:expr, $resource:expr) => {
        sqlx::query(
            "INSERT INTO audit_log (at_ms, actor, action, resource, request_id) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind($m.at_ms)
        .bind($m.actor.clone())
        .bind($action)
        .bind($resource.clone())
        .bind($m.request_id.clone().unwrap_or_default())
        .execute(&mut *$tx)
        .await?
    };
}
pub(super) use audit;

/// The WHERE clause of a newest-first page and its values: the user's
/// condition (binds from `$1`), then unit, position and limit.
pub(super) fn page_sql(
    page: &PageQuery,
    tiebreak: Option<&str>,
) -> (String, Vec<p06_kit::filter::SqlValue>) {
    use p06_kit::filter::SqlValue;
    let mut binds: Vec<SqlValue> = Vec::new();
    let mut parts = Vec::new();
    if let Some(c) = &page.condition {
        parts.push(c.sql.clone());
        binds.extend(c.binds.iter().cloned());
    }
    if let Some(unit) = &page.unit_id {
        binds.push(SqlValue::Text(unit.clone()));
        parts.push(format!("unit_id = ${}", binds.len()));
    }
    match (page.before_seq, tiebreak) {
        (Some(seq), Some(column)) => {
            binds.push(SqlValue::Int(seq));
            binds.push(SqlValue::Text(
                page.before_tiebreak.clone().unwrap_or_default(),
            ));
            let (a, b) = (binds.len() - 1, binds.len());
            parts.push(format!("(seq < ${a} OR (seq = ${a} AND {column} < ${b}))"));
        }
        (Some(seq), None) => {
            binds.push(SqlValue::Int(seq));
            parts.push(format!("seq < ${}", binds.len()));
        }
        (None, _) => {}
    }
    if parts.is_empty() {
        parts.push("1 = 1".into());
    }
    binds.push(SqlValue::Int(i64::try_from(page.limit).unwrap_or(i64::MAX)));
    let order = tiebreak.map_or(String::new(), |c| format!(", {c} DESC"));
    let sql = format!(
        "{} ORDER BY seq DESC{order} LIMIT ${}",
        parts.join(" AND "),
        binds.len()
    );
    (sql, binds)
}

impl StoredPolicy {
    /// The rules as stored (JSON).
    pub(super) fn rules_json(&self) -> String {
        serde_json::to_string(
            &self
                .rules
                .iter()
                .map(|r| (r.kind.as_str(), r.working_days, r.repeat_every))
                .collect::<Vec<_>>(),
        )
        .unwrap_or_else(|_| "[]".into())
    }

    pub(super) fn rules_from_json(s: &str) -> StoreResult<Vec<Rule>> {
        let raw: Vec<(String, u32, u32)> =
            serde_json::from_str(s).map_err(|e| decode_err(&format!("rules: {e}")))?;
        raw.into_iter()
            .map(|(kind, working_days, repeat_every)| {
                Ok(Rule {
                    kind: parse("rule kind", &kind)?,
                    working_days,
                    repeat_every,
                })
            })
            .collect()
    }
}
