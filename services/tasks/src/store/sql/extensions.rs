//! Extension requests and decisions in SQL; an approval changes the
//! deadline through the same guarded write as every assignment action.

use super::{
    ASSIGNMENT_COLUMNS, Arg, AssignmentRow, CHANGE_COLUMNS, SqlStore, action_name, decode_err,
    parse,
};
use crate::{
    domain::{
        actions::{self, Action},
        extension::{Decision, Extension, ExtensionState},
        model::{Assignment, Change},
    },
    store::{Mutation, StoreError, StoreResult},
};
use chrono::{DateTime, NaiveDate, Utc};
use p06_kit::{
    on_pool,
    sql::{WritePool, is_unique_violation},
};
use sqlx::{AssertSqlSafe, FromRow};

const COLUMNS: &str = "id, task_id, unit_id, requested_deadline, previous_deadline, reason, state, granted_deadline, \
                       decision_note, requested_by, decided_by, created_at, decided_at";

#[derive(FromRow)]
struct ExtensionRow {
    id: String,
    task_id: String,
    unit_id: String,
    requested_deadline: NaiveDate,
    previous_deadline: NaiveDate,
    reason: String,
    state: String,
    granted_deadline: Option<NaiveDate>,
    decision_note: String,
    requested_by: String,
    decided_by: String,
    created_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
}

impl ExtensionRow {
    fn into_extension(self) -> StoreResult<Extension> {
        Ok(Extension {
            state: parse::<ExtensionState>("extension state", &self.state)?,
            id: self.id,
            task_id: self.task_id,
            unit_id: self.unit_id,
            requested_deadline: self.requested_deadline,
            previous_deadline: self.previous_deadline,
            reason: self.reason,
            granted_deadline: self.granted_deadline,
            decision_note: self.decision_note,
            requested_by: self.requested_by,
            decided_by: self.decided_by,
            created_at: self.created_at,
            decided_at: self.decided_at,
        })
    }
}

impl SqlStore {
    pub(super) async fn insert_extension(
        &self,
        e: &Extension,
        m: &Mutation,
    ) -> StoreResult<Extension> {
        let resource = format!(
            "tasks/{}/assignments/{}/extensions/{}",
            e.task_id, e.unit_id, e.id
        );
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO extensions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            )))
            .bind(e.id.clone())
            .bind(e.task_id.clone())
            .bind(e.unit_id.clone())
            .bind(e.requested_deadline)
            .bind(e.previous_deadline)
            .bind(e.reason.clone())
            .bind(e.state.as_str())
            .bind(e.granted_deadline)
            .bind(e.decision_note.clone())
            .bind(e.requested_by.clone())
            .bind(e.decided_by.clone())
            .bind(e.created_at)
            .bind(e.decided_at)
            .execute(&mut *tx)
            .await;
            if let Err(err) = done {
                return Err(if is_unique_violation(&err) {
                    StoreError::Precondition(
                        "name",
                        "EXTENSION_PENDING",
                        "a request for this assignment is already pending".into(),
                    )
                } else {
                    err.into()
                });
            }
            record!(tx, m, "request_extension", resource.clone(), e.id.clone());
            tx.commit().await?;
        });
        Ok(e.clone())
    }

    pub(super) async fn extensions_of(
        &self,
        task_id: &str,
        unit_id: &str,
    ) -> StoreResult<Vec<Extension>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM extensions WHERE task_id = $1 AND unit_id = $2 ORDER BY created_at, id"
        );
        let rows: Vec<ExtensionRow> = on_pool!(&self.pool, |pool, _Db| sqlx::query_as(
            AssertSqlSafe(sql.clone())
        )
        .bind(task_id.to_string())
        .bind(unit_id.to_string())
        .fetch_all(pool)
        .await?);
        rows.into_iter().map(ExtensionRow::into_extension).collect()
    }

    pub(super) async fn decide(
        &self,
        task_id: &str,
        unit_id: &str,
        id: &str,
        decision: &Decision,
        m: &Mutation,
    ) -> StoreResult<(Extension, Assignment)> {
        let resource = format!("tasks/{task_id}/assignments/{unit_id}/extensions/{id}");
        let assignment = format!("tasks/{task_id}/assignments/{unit_id}");
        let select = format!(
            "SELECT {COLUMNS} FROM extensions WHERE task_id = $1 AND unit_id = $2 AND id = $3"
        );
        let (state, granted, note) = match decision {
            Decision::Approve { deadline, note } => {
                (ExtensionState::Approved, *deadline, note.clone())
            }
            Decision::Reject { note } => (ExtensionState::Rejected, None, note.clone()),
        };
        let row = on_pool!(&self.pool, |pool, Db| {
            let mut tx = pool.begin_write().await?;
            let found: Option<ExtensionRow> = sqlx::query_as(AssertSqlSafe(select.clone()))
                .bind(task_id.to_string())
                .bind(unit_id.to_string())
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            let ext = found
                .ok_or_else(|| StoreError::NotFound(resource.clone()))?
                .into_extension()?;
            if ext.state != ExtensionState::Pending {
                return Err(StoreError::Precondition(
                    "name",
                    "ALREADY_DECIDED",
                    format!("the request was already {}", ext.state),
                ));
            }
            let granted = (state == ExtensionState::Approved)
                .then(|| granted.unwrap_or(ext.requested_deadline));
            let row = match granted {
                Some(deadline) => {
                    let reason = format!("extension approved: {}", ext.reason);
                    let action = Action::ChangeDeadline {
                        deadline,
                        note: reason,
                    };
                    Some(act_in_tx!(
                        tx,
                        Db,
                        task_id,
                        unit_id,
                        &action,
                        m,
                        &assignment
                    ))
                }
                None => fetch_assignments!(
                    &mut *tx,
                    "task_id = $1 AND unit_id = $2",
                    &[Arg::Text(task_id.into()), Arg::Text(unit_id.into())]
                )
                .pop()
                .map(AssignmentRow::into_assignment)
                .transpose()?,
            };
            let updated = sqlx::query(
                "UPDATE extensions SET state = $1, granted_deadline = $2, decision_note = $3, decided_by = $4, decided_at = $5 \
                 WHERE id = $6 AND state = 'PENDING'",
            )
            .bind(state.as_str())
            .bind(granted)
            .bind(note.clone())
            .bind(m.actor.clone())
            .bind(m.at)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated != 1 {
                return Err(StoreError::Conflict(resource.clone()));
            }
            tx.commit().await?;
            row
        });
        let a = row.ok_or_else(|| decode_err("assignment vanished"))?;
        let ext = self
            .extensions_of(task_id, unit_id)
            .await?
            .into_iter()
            .find(|e| e.id == id);
        Ok((ext.ok_or_else(|| StoreError::NotFound(resource))?, a))
    }
}
