//! Notifications written with their deliveries, delivery leases, the
//! attempt ledger and redrive.

use super::*;

/// Inserts produced notifications (stream positions taken from the counter,
/// duplicates by dedupe key skipped) and a pending delivery per channel for
/// each one written; evaluates to the notifications written. Each batch
/// travels as one JSON parameter (see [`json_rows`]).
macro_rules! insert_notifications {
    ($tx:ident, $backend:expr, $produced:expr, $now:expr) => {{
        let mut produced: Vec<(Notification, Vec<Channel>)> = $produced;
        let mut written: Vec<Notification> = Vec::new();
        if !produced.is_empty() {
            let first = take_seqs!($tx, produced.len());
            for (i, (n, _)) in produced.iter_mut().enumerate() {
                n.seq = first + i64::try_from(i).unwrap_or(0);
                n.created_ms = $now;
            }
            let rows = serde_json::Value::from(
                produced
                    .iter()
                    .map(|(n, _)| deliveries::notification_json(n))
                    .collect::<Vec<_>>(),
            )
            .to_string();
            let ids: std::collections::HashSet<String> = sqlx::query_scalar::<_, String>(
                AssertSqlSafe(deliveries::insert_notifications_sql($backend)),
            )
            .bind(rows)
            .fetch_all(&mut *$tx)
            .await?
            .into_iter()
            .collect();
            let fresh: Vec<&(Notification, Vec<Channel>)> = produced
                .iter()
                .filter(|(n, _)| ids.contains(&n.id))
                .collect();
            let rows: Vec<serde_json::Value> = fresh
                .iter()
                .flat_map(|(n, channels)| {
                    channels.iter().map(move |c| {
                        serde_json::json!([
                            n.id,
                            c.as_str(),
                            n.unit_id,
                            n.seq,
                            DeliveryState::Pending.as_str(),
                            $now,
                            n.due_ms
                        ])
                    })
                })
                .collect();
            if !rows.is_empty() {
                sqlx::query(AssertSqlSafe(deliveries::insert_deliveries_sql($backend)))
                    .bind(serde_json::Value::from(rows).to_string())
                    .execute(&mut *$tx)
                    .await?;
            }
            written.extend(fresh.into_iter().map(|(n, _)| n.clone()));
        }
        written
    }};
}

/// One notification as a JSON row in [`NOTIFICATION_COLUMNS`] order.
pub(super) fn notification_json(n: &Notification) -> serde_json::Value {
    serde_json::json!([
        n.seq,
        n.id,
        n.dedupe_key,
        n.unit_id,
        n.kind.as_str(),
        n.task_id,
        n.assignee_id,
        n.directive_id,
        n.directive_number,
        n.title,
        n.deadline.map(|d| d.to_string()),
        n.days_left,
        n.days_overdue,
        n.text_vi,
        n.text_en,
        if n.digest.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&n.digest).unwrap_or_default()
        },
        n.due_ms,
        n.created_ms,
        n.acked_ms,
        n.cause
    ])
}

/// Inserts the notifications of a JSON batch not yet produced under their
/// dedupe keys, returning the ids written.
pub(super) fn insert_notifications_sql(backend: p06_kit::db::Backend) -> String {
    use JsonType::{BigInt, Int, Text};
    json_insert(
        backend,
        "notifications",
        &[
            ("seq", BigInt),
            ("id", Text),
            ("dedupe_key", Text),
            ("unit_id", Text),
            ("kind", Text),
            ("task_id", Text),
            ("assignee_id", Text),
            ("directive_id", Text),
            ("directive_number", Text),
            ("title", Text),
            ("deadline", Text),
            ("days_left", Int),
            ("days_overdue", Int),
            ("text_vi", Text),
            ("text_en", Text),
            ("digest", Text),
            ("due_ms", BigInt),
            ("created_ms", BigInt),
            ("acked_ms", BigInt),
            ("cause", Text),
        ],
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
}

/// Inserts pending deliveries from a JSON batch.
pub(super) fn insert_deliveries_sql(backend: p06_kit::db::Backend) -> String {
    use JsonType::{BigInt, Text};
    json_insert(
        backend,
        "deliveries",
        &[
            ("notification_id", Text),
            ("channel", Text),
            ("unit_id", Text),
            ("seq", BigInt),
            ("state", Text),
            ("next_attempt_ms", BigInt),
            ("due_ms", BigInt),
        ],
        "ON CONFLICT (notification_id, channel) DO NOTHING",
    )
}
pub(super) use insert_notifications;

const DELIVERY_COLUMNS: &str = "notification_id, channel, unit_id, seq, state, attempts, \
     redrive_base, next_attempt_ms, last_error, due_ms, delivered_ms";

#[derive(FromRow)]
struct DeliveryRow {
    notification_id: String,
    channel: String,
    unit_id: String,
    seq: i64,
    state: String,
    attempts: i32,
    redrive_base: i32,
    next_attempt_ms: i64,
    last_error: String,
    due_ms: i64,
    delivered_ms: Option<i64>,
}

impl DeliveryRow {
    fn into_delivery(self) -> StoreResult<Delivery> {
        Ok(Delivery {
            channel: parse("channel", &self.channel)?,
            state: parse("delivery state", &self.state)?,
            notification_id: self.notification_id,
            unit_id: self.unit_id,
            seq: self.seq,
            attempts: self.attempts,
            redrive_base: self.redrive_base,
            next_attempt_ms: self.next_attempt_ms,
            last_error: self.last_error,
            due_ms: self.due_ms,
            delivered_ms: self.delivered_ms,
        })
    }
}

#[derive(FromRow)]
struct AttemptRow {
    notification_id: String,
    channel: String,
    attempt: i32,
    success: bool,
    response_code: i32,
    error: String,
    latency_ms: i64,
    at_ms: i64,
}

impl SqlStore {
    pub(super) async fn claim_deliveries_impl(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        busy: &[String],
        limit: usize,
    ) -> StoreResult<Vec<Claimed>> {
        // The busy units travel as one JSON parameter: the statement text
        // never changes, so each connection prepares it once.
        let sql = format!(
            "UPDATE deliveries SET lease_until = $1 WHERE (notification_id, channel) IN (\
             SELECT notification_id, channel FROM deliveries \
             WHERE state = 'PENDING' AND next_attempt_ms <= $2 AND lease_until < $2 \
             AND unit_id NOT IN ({}) \
             ORDER BY next_attempt_ms LIMIT $3{}) RETURNING {DELIVERY_COLUMNS}",
            json_list(self.pool.backend(), 4),
            skip_locked(&self.pool)
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let busy = serde_json::Value::from(busy).to_string();
        let rows: Vec<DeliveryRow> = on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let rows = sqlx::query_as(AssertSqlSafe(sql))
                .bind(lease_until_ms)
                .bind(now_ms)
                .bind(limit)
                .bind(busy)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            rows
        });
        let deliveries = rows_into(rows, DeliveryRow::into_delivery)?;
        let ids: Vec<&str> = deliveries
            .iter()
            .map(|d| d.notification_id.as_str())
            .collect();
        let notifications = self.notifications_by_id(&ids).await?;
        Ok(deliveries
            .into_iter()
            .filter_map(|d| {
                notifications
                    .get(&d.notification_id)
                    .cloned()
                    .map(|notification| Claimed {
                        delivery: d,
                        notification,
                    })
            })
            .collect())
    }

    async fn notifications_by_id(
        &self,
        ids: &[&str],
    ) -> StoreResult<std::collections::HashMap<String, Notification>> {
        let mut out = std::collections::HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id IN ({})",
            json_list(self.pool.backend(), 1)
        );
        let ids = serde_json::Value::from(ids).to_string();
        let rows: Vec<NotificationRow> = on_pool!(&self.pool, |pool, _Db| {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(ids)
                .fetch_all(pool)
                .await?
        });
        for row in rows {
            let n = row.into_notification()?;
            out.insert(n.id.clone(), n);
        }
        Ok(out)
    }

    pub(super) async fn record_attempts_impl(&self, results: &[AttemptResult]) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        use JsonType::{BigInt, Bool, Int, Text};
        let backend = self.pool.backend();
        let insert = json_insert(
            backend,
            "attempts",
            &[
                ("notification_id", Text),
                ("channel", Text),
                ("attempt", Int),
                ("success", Bool),
                ("response_code", Int),
                ("error", Text),
                ("latency_ms", BigInt),
                ("at_ms", BigInt),
            ],
            "ON CONFLICT (notification_id, channel, attempt) DO NOTHING",
        );
        let update = format!(
            "UPDATE deliveries SET state = v.state, attempts = v.attempt, \
             next_attempt_ms = v.next_attempt_ms, last_error = v.error, \
             delivered_ms = v.delivered_ms, lease_until = 0 FROM ({}) AS v \
             WHERE deliveries.notification_id = v.notification_id \
             AND deliveries.channel = v.channel AND deliveries.state = 'PENDING'",
            json_rows(
                backend,
                1,
                &[
                    ("notification_id", Text),
                    ("channel", Text),
                    ("state", Text),
                    ("attempt", Int),
                    ("next_attempt_ms", BigInt),
                    ("error", Text),
                    ("delivered_ms", BigInt),
                ]
            )
        );
        let attempts = serde_json::Value::from(
            results
                .iter()
                .map(|r| {
                    let a = &r.attempt;
                    serde_json::json!([
                        a.notification_id,
                        a.channel.as_str(),
                        a.attempt,
                        a.success,
                        a.response_code,
                        a.error,
                        a.latency_ms,
                        a.at_ms
                    ])
                })
                .collect::<Vec<_>>(),
        )
        .to_string();
        // One change per delivery: two results for one delivery (a lease
        // that ran out mid-attempt) leave the later attempt, a success
        // before a failure of the same number.
        let mut latest: std::collections::HashMap<(&str, &str), &AttemptResult> =
            std::collections::HashMap::new();
        for r in results {
            let key = (
                r.attempt.notification_id.as_str(),
                r.attempt.channel.as_str(),
            );
            let rank = |r: &AttemptResult| (r.attempt.attempt, r.attempt.success);
            latest
                .entry(key)
                .and_modify(|kept| {
                    if rank(r) > rank(kept) {
                        *kept = r;
                    }
                })
                .or_insert(r);
        }
        let changes = serde_json::Value::from(
            latest
                .into_values()
                .map(|r| {
                    let a = &r.attempt;
                    serde_json::json!([
                        a.notification_id,
                        a.channel.as_str(),
                        r.state.as_str(),
                        a.attempt,
                        r.next_attempt_ms,
                        a.error,
                        a.success.then_some(a.at_ms)
                    ])
                })
                .collect::<Vec<_>>(),
        )
        .to_string();
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(AssertSqlSafe(insert))
                .bind(attempts)
                .execute(&mut *tx)
                .await?;
            sqlx::query(AssertSqlSafe(update))
                .bind(changes)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Gives leased deliveries back (lease cleared) without an attempt.
    pub(super) async fn release_deliveries_impl(
        &self,
        keys: &[(String, Channel)],
    ) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE deliveries SET lease_until = 0 WHERE (notification_id, channel) IN (\
             SELECT notification_id, channel FROM ({}) AS v)",
            json_rows(
                self.pool.backend(),
                1,
                &[
                    ("notification_id", JsonType::Text),
                    ("channel", JsonType::Text)
                ]
            )
        );
        let keys = serde_json::Value::from(
            keys.iter()
                .map(|(id, c)| serde_json::json!([id, c.as_str()]))
                .collect::<Vec<_>>(),
        )
        .to_string();
        on_pool!(&self.pool, |pool, _Db| {
            sqlx::query(AssertSqlSafe(sql))
                .bind(keys)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub(super) async fn deliveries_of_impl(&self, ids: &[String]) -> StoreResult<Vec<Delivery>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(1000) {
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE notification_id IN ({}) \
                 ORDER BY notification_id, channel",
                p06_kit::sql::placeholders(1, chunk.len())
            );
            let rows: Vec<DeliveryRow> = on_pool!(&self.pool, |pool, _Db| {
                let mut q = sqlx::query_as(AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(id.clone());
                }
                q.fetch_all(pool).await?
            });
            out.extend(rows_into(rows, DeliveryRow::into_delivery)?);
        }
        Ok(out)
    }

    pub(super) async fn list_deliveries_impl(
        &self,
        page: &PageQuery,
    ) -> StoreResult<Vec<Delivery>> {
        let (sql, binds) = page_sql(page, Some("channel"));
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE {sql}");
        let rows: Vec<DeliveryRow> = on_pool!(&self.pool, |pool, _Db| bind_values!(
            sqlx::query_as(AssertSqlSafe(sql)),
            &binds
        )
        .fetch_all(pool)
        .await?);
        rows_into(rows, DeliveryRow::into_delivery)
    }

    pub(super) async fn attempts_impl(&self, notification_id: &str) -> StoreResult<Vec<Attempt>> {
        let sql = "SELECT notification_id, channel, attempt, success, response_code, error, \
                   latency_ms, at_ms FROM attempts WHERE notification_id = $1 \
                   ORDER BY at_ms, channel, attempt";
        let rows: Vec<AttemptRow> = on_pool!(&self.pool, |pool, _Db| sqlx::query_as(sql)
            .bind(notification_id.to_string())
            .fetch_all(pool)
            .await?);
        rows_into(rows, |r| {
            Ok(Attempt {
                channel: parse("channel", &r.channel)?,
                notification_id: r.notification_id,
                attempt: r.attempt,
                success: r.success,
                response_code: r.response_code,
                error: r.error,
                latency_ms: r.latency_ms,
                at_ms: r.at_ms,
            })
        })
    }

    pub(super) async fn redrive_impl(
        &self,
        unit_id: &str,
        notification_id: &str,
        channel: Channel,
        m: &Mutation,
    ) -> StoreResult<Delivery> {
        let resource = format!(
            "units/{unit_id}/notifications/{notification_id}/deliveries/{}",
            channel.as_str().to_ascii_lowercase()
        );
        let found = self
            .deliveries_of_impl(&[notification_id.to_string()])
            .await?
            .into_iter()
            .find(|d| d.channel == channel && d.unit_id == unit_id)
            .ok_or_else(|| StoreError::NotFound(resource.clone()))?;
        if found.state == DeliveryState::Delivered {
            return Err(StoreError::Precondition(
                "name",
                format!("{resource} was delivered already"),
            ));
        }
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE deliveries SET state = 'PENDING', redrive_base = attempts, \
                 next_attempt_ms = $1, lease_until = 0 \
                 WHERE notification_id = $2 AND channel = $3 AND state <> 'DELIVERED'",
            )
            .bind(m.at_ms)
            .bind(notification_id.to_string())
            .bind(channel.as_str())
            .execute(&mut *tx)
            .await?;
            audit!(tx, m, "RedriveDelivery", resource);
            tx.commit().await?;
        });
        self.deliveries_of_impl(&[notification_id.to_string()])
            .await?
            .into_iter()
            .find(|d| d.channel == channel)
            .ok_or_else(|| StoreError::NotFound(resource))
    }
}
