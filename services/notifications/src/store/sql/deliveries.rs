//! Notifications written with their deliveries, delivery leases, the
//! attempt ledger and redrive.

use super::*;

/// Inserts produced notifications (stream positions taken from the counter,
/// duplicates by dedupe key skipped) and a pending delivery per channel for
/// each one written; evaluates to the notifications written.
macro_rules! insert_notifications {
    ($tx:ident, $db:ty, $produced:expr, $now:expr) => {{
        let mut produced: Vec<(Notification, Vec<Channel>)> = $produced;
        let mut written: Vec<Notification> = Vec::new();
        if !produced.is_empty() {
            let first = take_seqs!($tx, produced.len());
            for (i, (n, _)) in produced.iter_mut().enumerate() {
                n.seq = first + i64::try_from(i).unwrap_or(0);
                n.created_ms = $now;
            }
            for chunk in produced.chunks(400) {
                let mut qb = QueryBuilder::<$db>::new(format!(
                    "INSERT INTO notifications ({NOTIFICATION_COLUMNS}) "
                ));
                qb.push_values(chunk, |mut b, (n, _)| {
                    b.push_bind(n.seq)
                        .push_bind(n.id.clone())
                        .push_bind(n.dedupe_key.clone())
                        .push_bind(n.unit_id.clone())
                        .push_bind(n.kind.as_str())
                        .push_bind(n.task_id.clone())
                        .push_bind(n.assignee_id.clone())
                        .push_bind(n.directive_id.clone())
                        .push_bind(n.directive_number.clone())
                        .push_bind(n.title.clone())
                        .push_bind(n.deadline.map(|d| d.to_string()))
                        .push_bind(n.days_left)
                        .push_bind(n.days_overdue)
                        .push_bind(n.text_vi.clone())
                        .push_bind(n.text_en.clone())
                        .push_bind(if n.digest.is_empty() {
                            String::new()
                        } else {
                            serde_json::to_string(&n.digest).unwrap_or_default()
                        })
                        .push_bind(n.due_ms)
                        .push_bind(n.created_ms)
                        .push_bind(n.acked_ms);
                });
                qb.push(" ON CONFLICT (dedupe_key) DO NOTHING RETURNING id");
                let ids: std::collections::HashSet<String> = qb
                    .build_query_scalar::<String>()
                    .fetch_all(&mut *$tx)
                    .await?
                    .into_iter()
                    .collect();
                let fresh: Vec<&(Notification, Vec<Channel>)> =
                    chunk.iter().filter(|(n, _)| ids.contains(&n.id)).collect();
                let rows: Vec<(&Notification, Channel)> = fresh
                    .iter()
                    .flat_map(|(n, channels)| channels.iter().map(move |c| (n, *c)))
                    .collect();
                if !rows.is_empty() {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO deliveries (notification_id, channel, unit_id, seq, state, \
                         next_attempt_ms, due_ms) ",
                    );
                    qb.push_values(&rows, |mut b, (n, c)| {
                        b.push_bind(n.id.clone())
                            .push_bind(c.as_str())
                            .push_bind(n.unit_id.clone())
                            .push_bind(n.seq)
                            .push_bind(DeliveryState::Pending.as_str())
                            .push_bind($now)
                            .push_bind(n.due_ms);
                    });
                    qb.push(" ON CONFLICT (notification_id, channel) DO NOTHING");
                    qb.build().execute(&mut *$tx).await?;
                }
                written.extend(fresh.into_iter().map(|(n, _)| n.clone()));
            }
        }
        written
    }};
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
        let busy_sql = if busy.is_empty() {
            String::new()
        } else {
            format!(
                " AND unit_id NOT IN ({})",
                p06_kit::sql::placeholders(4, busy.len())
            )
        };
        let sql = format!(
            "UPDATE deliveries SET lease_until = $1 WHERE (notification_id, channel) IN (\
             SELECT notification_id, channel FROM deliveries \
             WHERE state = 'PENDING' AND next_attempt_ms <= $2 AND lease_until < $2{busy_sql} \
             ORDER BY next_attempt_ms LIMIT $3{}) RETURNING {DELIVERY_COLUMNS}",
            skip_locked(&self.pool)
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<DeliveryRow> = on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let mut q = sqlx::query_as(AssertSqlSafe(sql))
                .bind(lease_until_ms)
                .bind(now_ms)
                .bind(limit);
            for unit in busy {
                q = q.bind(unit.clone());
            }
            let rows = q.fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        });
        let deliveries = rows_into(rows, DeliveryRow::into_delivery)?;
        let ids: Vec<String> = deliveries
            .iter()
            .map(|d| d.notification_id.clone())
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
        ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, Notification>> {
        let mut out = std::collections::HashMap::new();
        for chunk in ids.chunks(1000) {
            let sql = format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id IN ({})",
                p06_kit::sql::placeholders(1, chunk.len())
            );
            let rows: Vec<NotificationRow> = on_pool!(&self.pool, |pool, _Db| {
                let mut q = sqlx::query_as(AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(id.clone());
                }
                q.fetch_all(pool).await?
            });
            for row in rows {
                let n = row.into_notification()?;
                out.insert(n.id.clone(), n);
            }
        }
        Ok(out)
    }

    pub(super) async fn record_attempts_impl(&self, results: &[AttemptResult]) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        on_pool!(&self.pool, |pool, Db| {
            let mut tx = pool.begin_write().await?;
            for chunk in results.chunks(500) {
                let mut qb = QueryBuilder::<Db>::new(
                    "INSERT INTO attempts (notification_id, channel, attempt, success, \
                     response_code, error, latency_ms, at_ms) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    let a = &r.attempt;
                    b.push_bind(a.notification_id.clone())
                        .push_bind(a.channel.as_str())
                        .push_bind(a.attempt)
                        .push_bind(a.success)
                        .push_bind(a.response_code)
                        .push_bind(a.error.clone())
                        .push_bind(a.latency_ms)
                        .push_bind(a.at_ms);
                });
                qb.push(" ON CONFLICT (notification_id, channel, attempt) DO NOTHING");
                qb.build().execute(&mut *tx).await?;
                let mut qb = QueryBuilder::<Db>::new(
                    "UPDATE deliveries SET state = v.column3, attempts = v.column4, \
                     next_attempt_ms = v.column5, last_error = v.column6, \
                     delivered_ms = v.column7, lease_until = 0 FROM (",
                );
                qb.push_values(chunk, |mut b, r| {
                    let a = &r.attempt;
                    b.push_bind(a.notification_id.clone())
                        .push_bind(a.channel.as_str())
                        .push_bind(r.state.as_str())
                        .push_bind(a.attempt)
                        .push_bind(r.next_attempt_ms)
                        .push_bind(a.error.clone())
                        .push_bind(a.success.then_some(a.at_ms));
                });
                qb.push(
                    ") AS v WHERE deliveries.notification_id = v.column1 \
                     AND deliveries.channel = v.column2 AND deliveries.state = 'PENDING'",
                );
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
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
