//! KPI indicators and their recorded values in SQL.

use super::SqlStore;
use crate::{
    domain::indicator::{Indicator, Value},
    store::{Mutation, StoreError, StoreResult},
};
use chrono::{DateTime, NaiveDate, Utc};
use p06_kit::{
    on_pool,
    sql::{WritePool, is_unique_violation},
};
use sqlx::FromRow;

#[derive(FromRow)]
struct IndicatorRow {
    id: String,
    name: String,
    measure: String,
    target: f64,
    target_date: NaiveDate,
    lower_is_better: bool,
    directive_id: Option<String>,
    task_group: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<IndicatorRow> for Indicator {
    fn from(r: IndicatorRow) -> Self {
        Indicator {
            id: r.id,
            name: r.name,
            measure: r.measure,
            target: r.target,
            target_date: r.target_date,
            lower_is_better: r.lower_is_better,
            directive_id: r.directive_id,
            group: r.task_group,
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow)]
struct ValueRow {
    indicator_id: String,
    unit_id: String,
    value: f64,
    as_of: NaiveDate,
    note: String,
    recorded_by: String,
    recorded_at: DateTime<Utc>,
}

impl From<ValueRow> for Value {
    fn from(r: ValueRow) -> Self {
        Value {
            indicator_id: r.indicator_id,
            unit_id: r.unit_id,
            value: r.value,
            as_of: r.as_of,
            note: r.note,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at,
        }
    }
}

const INDICATOR_SELECT: &str = "SELECT id, name, measure, target, target_date, lower_is_better, directive_id, task_group, created_at FROM indicators";

impl SqlStore {
    pub(super) async fn insert_indicator(
        &self,
        k: &Indicator,
        m: &Mutation,
    ) -> StoreResult<Indicator> {
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO indicators (id, name, measure, target, target_date, lower_is_better, directive_id, task_group, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(k.id.clone())
            .bind(k.name.clone())
            .bind(k.measure.clone())
            .bind(k.target)
            .bind(k.target_date)
            .bind(k.lower_is_better)
            .bind(k.directive_id.clone())
            .bind(k.group.clone())
            .bind(k.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyExists(format!("indicators/{}", k.id)) } else { e.into() })?;
            record!(
                tx,
                m,
                "create_indicator",
                format!("indicators/{}", k.id),
                k.id.clone()
            );
            tx.commit().await?;
        });
        Ok(k.clone())
    }

    pub(super) async fn indicators(&self, id: Option<&str>) -> StoreResult<Vec<Indicator>> {
        let rows: Vec<IndicatorRow> = on_pool!(&self.pool, |pool, _Db| match id {
            Some(id) =>
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{INDICATOR_SELECT} WHERE id = $1"
                )))
                .bind(id.to_string())
                .fetch_all(pool)
                .await?,
            None =>
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{INDICATOR_SELECT} ORDER BY id"
                )))
                .fetch_all(pool)
                .await?,
        });
        Ok(rows.into_iter().map(Indicator::from).collect())
    }

    pub(super) async fn insert_value(&self, v: &Value, m: &Mutation) -> StoreResult<Value> {
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO indicator_values (indicator_id, unit_id, value, as_of, note, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(v.indicator_id.clone())
            .bind(v.unit_id.clone())
            .bind(v.value)
            .bind(v.as_of)
            .bind(v.note.clone())
            .bind(v.recorded_by.clone())
            .bind(v.recorded_at)
            .execute(&mut *tx)
            .await?;
            let resource = format!("indicators/{}/values/{}", v.indicator_id, v.unit_id);
            record!(
                tx,
                m,
                "record_indicator_value",
                resource,
                format!("{}/{}", v.indicator_id, v.unit_id)
            );
            tx.commit().await?;
        });
        Ok(v.clone())
    }

    pub(super) async fn latest_values(
        &self,
        indicator: &str,
        as_of: NaiveDate,
    ) -> StoreResult<Vec<Value>> {
        // The latest value per unit dated on or before as_of (the last
        // recorded wins among values of the same date).
        let sql = "SELECT v.indicator_id, v.unit_id, v.value, v.as_of, v.note, v.recorded_by, v.recorded_at \
                   FROM indicator_values v WHERE v.indicator_id = $1 AND v.as_of <= $2 \
                   ORDER BY v.unit_id, v.as_of DESC, v.recorded_at DESC";
        let rows: Vec<ValueRow> = on_pool!(&self.pool, |pool, _Db| sqlx::query_as(sql)
            .bind(indicator.to_string())
            .bind(as_of)
            .fetch_all(pool)
            .await?);
        let mut out: Vec<Value> = Vec::new();
        for r in rows {
            if out.last().is_none_or(|v| v.unit_id != r.unit_id) {
                out.push(r.into());
            }
        }
        Ok(out)
    }
}
