//! Reminder policies: one per directive or per task group, versioned for
//! etags, every write audited.

use super::*;
use p06_kit::sql::is_unique_violation;

const POLICY_COLUMNS: &str =
    "id, directive_id, task_group, rules, urgent, version, created_ms, updated_ms";

#[derive(FromRow)]
struct PolicyRow {
    id: String,
    directive_id: Option<String>,
    task_group: Option<String>,
    rules: String,
    urgent: bool,
    version: i32,
    created_ms: i64,
    updated_ms: i64,
}

impl PolicyRow {
    fn into_policy(self) -> StoreResult<StoredPolicy> {
        Ok(StoredPolicy {
            rules: StoredPolicy::rules_from_json(&self.rules)?,
            id: self.id,
            directive_id: self.directive_id,
            group: self.task_group,
            urgent: self.urgent,
            version: self.version,
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
        })
    }
}

fn scope_name(p: &StoredPolicy) -> String {
    match (&p.directive_id, &p.group) {
        (Some(d), _) => format!("a policy for directives/{d}"),
        (None, Some(g)) => format!("a policy for task group {g}"),
        (None, None) => format!("policies/{}", p.id),
    }
}

fn check_version(p: &StoredPolicy, expected: Option<i32>) -> StoreResult<()> {
    match expected {
        Some(v) if v != p.version => Err(StoreError::EtagMismatch(
            format!("policies/{}", p.id),
            format!("\"{}\"", p.version),
        )),
        _ => Ok(()),
    }
}

/// Schedules re-planned per statement.
const REPLAN_PAGE: i64 = 1000;

/// Re-plans, inside the transaction `$tx` that has just written a policy,
/// every schedule of the policy `$p`'s scope: reads every policy as it now
/// stands, then the scope's schedules a page at a time (locked), and writes
/// the urgency and next due time `$replan` gives wherever they changed;
/// then every schedule of the scope leased to an evaluation in flight loses
/// its lease and gets a new (negative) generation, so that no evaluation
/// made under the old policy is committed ([`commit_evaluated`] requires
/// the lease and the generation it claimed).
macro_rules! replan_scope {
    ($store:expr, $tx:expr, $p:expr, $replan:expr) => {{
        let (column, value) = match (&$p.directive_id, &$p.group) {
            (Some(d), _) => ("directive_id", d.clone()),
            (None, Some(g)) => ("task_group", g.clone()),
            (None, None) => ("''", String::new()),
        };
        let rows: Vec<PolicyRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM policies ORDER BY id"
        )))
        .fetch_all(&mut *$tx)
        .await?;
        let policies = rows_into(rows, PolicyRow::into_policy)?;
        let page = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE {column} = $1 \
             AND (task_id, unit_id) > ($2, $3) \
             ORDER BY task_id, unit_id LIMIT $4{}",
            for_update(&$store.pool)
        );
        let update = format!(
            "UPDATE schedules SET urgent = v.urgent, next_due_ms = v.next_due_ms, lease_until = 0 \
             FROM ({}) AS v WHERE schedules.task_id = v.task_id AND schedules.unit_id = v.unit_id",
            json_rows(
                $store.pool.backend(),
                1,
                &[
                    ("task_id", JsonType::Text),
                    ("unit_id", JsonType::Text),
                    ("next_due_ms", JsonType::BigInt),
                    ("urgent", JsonType::Bool),
                ]
            )
        );
        // Every evaluation in flight in the scope was made under the old
        // policy: its lease goes, and its generation moves to a value no
        // feed change has (negative), so its commit matches nothing.
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE schedules SET lease_until = 0, generation = -ABS(generation) - 1 \
             WHERE {column} = $1 AND lease_until > 0"
        )))
        .bind(value.clone())
        .execute(&mut *$tx)
        .await?;
        let mut after = (String::new(), String::new());
        let mut replanned: u64 = 0;
        loop {
            let rows: Vec<ScheduleRow> = sqlx::query_as(AssertSqlSafe(page.clone()))
                .bind(value.clone())
                .bind(after.0.clone())
                .bind(after.1.clone())
                .bind(REPLAN_PAGE)
                .fetch_all(&mut *$tx)
                .await?;
            let full = rows.len() as i64 == REPLAN_PAGE;
            let schedules = rows_into(rows, ScheduleRow::into_schedule)?;
            let Some(last) = schedules.last() else { break };
            after = (last.task_id.clone(), last.unit_id.clone());
            let plans = $replan(&policies, &schedules);
            let changed: Vec<serde_json::Value> = schedules
                .iter()
                .zip(plans)
                .filter(|(s, (urgent, next))| s.urgent != *urgent || s.next_due_ms != *next)
                .map(|(s, (urgent, next))| serde_json::json!([s.task_id, s.unit_id, next, urgent]))
                .collect();
            if !changed.is_empty() {
                replanned += changed.len() as u64;
                sqlx::query(AssertSqlSafe(update.clone()))
                    .bind(serde_json::Value::from(changed).to_string())
                    .execute(&mut *$tx)
                    .await?;
            }
            if !full {
                break;
            }
        }
        replanned
    }};
}

impl SqlStore {
    pub(super) async fn create_policy_impl(
        &self,
        p: &StoredPolicy,
        m: &Mutation,
        replan: &Replan<'_>,
    ) -> StoreResult<StoredPolicy> {
        if let Some(rid) = &m.request_id
            && let Some(id) = self.recall(m.method, rid).await?
        {
            return self.policy_impl(&id).await;
        }
        let resource = format!("policies/{}", p.id);
        let result: Result<(), StoreError> = on_pool!(&self.pool, |pool, _Db| {
            async {
                let mut tx = pool.begin_write().await?;
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO policies ({POLICY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1, $6, $6)"
                )))
                .bind(p.id.clone())
                .bind(p.directive_id.clone())
                .bind(p.group.clone())
                .bind(p.rules_json())
                .bind(p.urgent)
                .bind(m.at_ms)
                .execute(&mut *tx)
                .await?;
                if let Some(rid) = &m.request_id {
                    sqlx::query(
                        "INSERT INTO request_log (method, request_id, result) VALUES ($1, $2, $3)",
                    )
                    .bind(m.method)
                    .bind(rid.clone())
                    .bind(p.id.clone())
                    .execute(&mut *tx)
                    .await?;
                }
                audit!(tx, m, "CreatePolicy", resource);
                replan_scope!(self, tx, p, replan);
                tx.commit().await?;
                Ok(())
            }
            .await
        });
        match result {
            Ok(()) => self.policy_impl(&p.id).await,
            Err(StoreError::Db(e)) if is_unique_violation(&e) => {
                // A racing retry of the same request wins the same way.
                if let Some(rid) = &m.request_id
                    && let Some(id) = self.recall(m.method, rid).await?
                {
                    return self.policy_impl(&id).await;
                }
                Err(StoreError::AlreadyExists(scope_name(p)))
            }
            Err(e) => Err(e),
        }
    }

    async fn recall(&self, method: &str, request_id: &str) -> StoreResult<Option<String>> {
        let sql = "SELECT result FROM request_log WHERE method = $1 AND request_id = $2";
        Ok(on_pool!(&self.pool, |pool, _Db| sqlx::query_scalar(sql)
            .bind(method.to_string())
            .bind(request_id.to_string())
            .fetch_optional(pool)
            .await?))
    }

    pub(super) async fn policy_impl(&self, id: &str) -> StoreResult<StoredPolicy> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM policies WHERE id = $1");
        let row: Option<PolicyRow> =
            on_pool!(&self.pool, |pool, _Db| sqlx::query_as(AssertSqlSafe(sql))
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?);
        row.ok_or_else(|| StoreError::NotFound(format!("policies/{id}")))?
            .into_policy()
    }

    pub(super) async fn policies_impl(&self) -> StoreResult<Vec<StoredPolicy>> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM policies ORDER BY id");
        let rows: Vec<PolicyRow> =
            on_pool!(&self.pool, |pool, _Db| sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?);
        rows_into(rows, PolicyRow::into_policy)
    }

    pub(super) async fn update_policy_impl(
        &self,
        p: &StoredPolicy,
        expected: Option<i32>,
        m: &Mutation,
        replan: &Replan<'_>,
    ) -> StoreResult<StoredPolicy> {
        let current = self.policy_impl(&p.id).await?;
        check_version(&current, expected)?;
        let resource = format!("policies/{}", p.id);
        let changed = on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE policies SET rules = $1, urgent = $2, version = version + 1, \
                 updated_ms = $3 WHERE id = $4 AND version = $5",
            )
            .bind(p.rules_json())
            .bind(p.urgent)
            .bind(m.at_ms)
            .bind(p.id.clone())
            .bind(current.version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed > 0 {
                audit!(tx, m, "UpdatePolicy", resource);
                replan_scope!(self, tx, current, replan);
            }
            tx.commit().await?;
            changed
        });
        if changed == 0 {
            let now = self.policy_impl(&p.id).await?;
            return Err(StoreError::EtagMismatch(
                resource,
                format!("\"{}\"", now.version),
            ));
        }
        self.policy_impl(&p.id).await
    }

    pub(super) async fn delete_policy_impl(
        &self,
        id: &str,
        expected: Option<i32>,
        m: &Mutation,
        replan: &Replan<'_>,
    ) -> StoreResult<StoredPolicy> {
        let current = self.policy_impl(id).await?;
        check_version(&current, expected)?;
        let resource = format!("policies/{id}");
        let deleted = on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let deleted = sqlx::query("DELETE FROM policies WHERE id = $1 AND version = $2")
                .bind(id.to_string())
                .bind(current.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted > 0 {
                audit!(tx, m, "DeletePolicy", resource);
                replan_scope!(self, tx, current, replan);
            }
            tx.commit().await?;
            deleted
        });
        if deleted == 0 {
            // Changed (or deleted) since it was read.
            let now = self.policy_impl(id).await?;
            return Err(StoreError::EtagMismatch(
                resource,
                format!("\"{}\"", now.version),
            ));
        }
        Ok(current)
    }
}
