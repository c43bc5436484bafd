//! Administrative change in SQL: an open assignment of a unit that ceased
//! moves to the successor in one transaction. The old row is closed with
//! `moved_on`/`moved_to` (its history stays, and reports as of earlier dates
//! still count it for the old unit); the successor gets a row of its own
//! unless it already held the task. Feed: REASSIGNED for the old
//! assignment, CREATED for the new one.

use super::{ASSIGNMENT_COLUMNS, Arg, AssignmentRow, CHANGE_COLUMNS, SqlStore};
use crate::{
    domain::model::{Assignment, Change, ChangeKind},
    store::{Mutation, StoreError, StoreResult},
};
use chrono::NaiveDate;
use p06_kit::{
    on_pool,
    sql::{WritePool, is_unique_violation},
};
use sqlx::AssertSqlSafe;

fn change(
    a: &Assignment,
    unit: &str,
    kind: ChangeKind,
    note: String,
    on: NaiveDate,
    m: &Mutation,
) -> Change {
    Change {
        sequence: 0,
        kind,
        task_id: a.task_id.clone(),
        unit_id: unit.to_string(),
        directive_id: a.directive_id.clone(),
        deadline: a.deadline,
        deadline_version: a.deadline_version,
        percent: a.progress,
        note,
        evidence_link: String::new(),
        actor: m.actor.clone(),
        at: m.at,
        trace_context: m.trace_context.clone(),
        effective_on: Some(on),
        inherited_report_on: None,
        context: None,
    }
}

impl SqlStore {
    pub(super) async fn move_assignment(
        &self,
        task_id: &str,
        from: &str,
        to: &str,
        on: NaiveDate,
        m: &Mutation,
    ) -> StoreResult<Option<Assignment>> {
        let resource = format!("tasks/{task_id}/assignments/{from}");
        let old_key = [Arg::Text(task_id.into()), Arg::Text(from.into())];
        let new_key = [Arg::Text(task_id.into()), Arg::Text(to.into())];
        let row = on_pool!(&self.pool, |pool, Db| {
            let mut tx = pool.begin_write().await?;
            let old = fetch_assignments!(&mut *tx, "task_id = $1 AND unit_id = $2", &old_key)
                .pop()
                .ok_or_else(|| StoreError::NotFound(resource.clone()))?
                .into_assignment()?;
            if !old.is_open() {
                return Ok(None);
            }
            let closed = sqlx::query(
                "UPDATE assignments SET moved_on = $1, moved_to = $2, version = version + 1, updated_at = $3 \
                 WHERE task_id = $4 AND unit_id = $5 AND version = $6",
            )
            .bind(on)
            .bind(to.to_string())
            .bind(m.at)
            .bind(task_id.to_string())
            .bind(from.to_string())
            .bind(old.version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if closed != 1 {
                return Err(StoreError::Conflict(resource.clone()));
            }
            let mut changes = vec![change(
                &old,
                from,
                ChangeKind::Reassigned,
                format!("moved to units/{to} on {on}"),
                on,
                m,
            )];
            let held =
                fetch_assignments!(&mut *tx, "task_id = $1 AND unit_id = $2", &new_key).pop();
            if held.is_none() {
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO assignments ({ASSIGNMENT_COLUMNS}, moved_from) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11, $12, 1, $13, $13, $14)"
                )))
                .bind(task_id.to_string())
                .bind(to.to_string())
                .bind(old.role.as_str())
                .bind(old.directive_id.clone())
                .bind(old.group.as_str())
                .bind(old.title.clone())
                .bind(old.deadline)
                .bind(old.deadline_version)
                .bind(old.period.map(|p| p.as_str()))
                .bind(old.progress)
                .bind(old.last_report_on)
                .bind(on)
                .bind(m.at)
                .bind(from.to_string())
                .execute(&mut *tx)
                .await?;
                changes.push(Change {
                    inherited_report_on: old.last_report_on,
                    ..change(
                        &old,
                        to,
                        ChangeKind::Created,
                        format!("moved from units/{from} on {on}"),
                        on,
                        m,
                    )
                });
            }
            let row = fetch_assignments!(&mut *tx, "task_id = $1 AND unit_id = $2", &new_key).pop();
            record!(
                tx,
                m,
                "move_assignment",
                resource.clone(),
                format!("{task_id}/{from}->{to}")
            );
            let first = take_sequences!(tx, changes.len());
            for (i, c) in changes.iter_mut().enumerate() {
                c.sequence = first + i as i64;
            }
            insert_changes!(tx, Db, changes);
            // Both rows' spans: the old one ends with the move, the new one
            // (if made here) starts with it.
            let old_row = fetch_assignments!(&mut *tx, "task_id = $1 AND unit_id = $2", &old_key)
                .pop()
                .ok_or_else(|| StoreError::NotFound(resource.clone()))?
                .into_assignment()?;
            let old_history = history_in_tx!(tx, task_id, from);
            put_spans!(tx, Db, &old_row, &old_history);
            if held.is_none()
                && let Some(new_row) =
                    fetch_assignments!(&mut *tx, "task_id = $1 AND unit_id = $2", &new_key).pop()
            {
                let new_row = new_row.into_assignment()?;
                let new_history = history_in_tx!(tx, task_id, to);
                put_spans!(tx, Db, &new_row, &new_history);
            }
            tx.commit().await?;
            row
        });
        row.map(AssignmentRow::into_assignment).transpose()
    }
}
