//! The audit log in SQL: every mutation's actor, action, resource and
//! request id, newest first.

use super::SqlStore;
use crate::store::{AuditEntry, StoreResult};
use chrono::{DateTime, Utc};
use p06_kit::{on_pool, sql::escape_like};
use sqlx::FromRow;

#[derive(FromRow)]
struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    resource: String,
    request_id: String,
    detail: String,
}

impl SqlStore {
    pub(super) async fn audit_page(
        &self,
        prefix: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let sql = "SELECT id, at, actor, action, resource, request_id, detail FROM audit_log \
                   WHERE resource LIKE $1 ESCAPE '\\' AND id < $2 ORDER BY id DESC LIMIT $3";
        let rows: Vec<AuditRow> = on_pool!(&self.pool, |pool, _Db| sqlx::query_as(sql)
            .bind(format!("{}%", escape_like(prefix)))
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                at: r.at,
                actor: r.actor,
                action: r.action,
                resource: r.resource,
                request_id: r.request_id,
                detail: r.detail,
            })
            .collect())
    }
}
