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

impl SqlStore {
    pub(super) async fn create_policy_impl(
        &self,
        p: &StoredPolicy,
        m: &Mutation,
    ) -> StoreResult<StoredPolicy> {
        if let Some(rid) = &m.request_id
            && let Some(id) = self.recall(m.method, rid).await?
        {
            return self.policy_impl(&id).await;
        }
        let resource = format!("policies/{}", p.id);
        let result: Result<(), sqlx::Error> = on_pool!(&self.pool, |pool, _Db| {
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
                tx.commit().await
            }
            .await
        });
        match result {
            Ok(()) => self.policy_impl(&p.id).await,
            Err(e) if is_unique_violation(&e) => {
                // A racing retry of the same request wins the same way.
                if let Some(rid) = &m.request_id
                    && let Some(id) = self.recall(m.method, rid).await?
                {
                    return self.policy_impl(&id).await;
                }
                Err(StoreError::AlreadyExists(scope_name(p)))
            }
            Err(e) => Err(e.into()),
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
