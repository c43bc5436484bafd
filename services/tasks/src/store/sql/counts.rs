//! Status counts computed in the database for assignments with a deadline
//! (the status of those depends only on their own date columns), so a
//! summary or scoreboard does not load every assignment. They count the
//! assignments as they were on the day, from the spans of that day alone
//! ([`super::as_of_states`]): the deadline, completion and cancellation in
//! force then. Recurring duties,
//! whose status needs their report history, are counted by the caller.

use super::SqlStore;
use crate::{domain::summary::Counts, store::StoreResult};
use chrono::{Datelike, NaiveDate};
use p06_kit::on_pool;
use sqlx::{AssertSqlSafe, FromRow};

#[derive(FromRow)]
struct CountRow {
    unit_id: String,
    total: i64,
    cancelled: i64,
    on_time: i64,
    late: i64,
    in_progress: i64,
    overdue: i64,
    backlog: i64,
}

const OPEN_ON: &str =
    "(cancelled_on IS NULL OR cancelled_on > $1) AND (completed_on IS NULL OR completed_on > $1)";
const DONE_ON: &str = "(cancelled_on IS NULL OR cancelled_on > $1) AND completed_on IS NOT NULL AND completed_on <= $1";

impl SqlStore {
    pub(super) async fn deadline_counts(
        &self,
        scope: Option<&(&'static str, String)>,
        as_of: NaiveDate,
        by_unit: bool,
    ) -> StoreResult<Vec<(String, Counts)>> {
        let month_start = NaiveDate::from_ymd_opt(as_of.year(), as_of.month(), 1).unwrap_or(as_of);
        let (unit, group) = if by_unit {
            ("unit_id", " GROUP BY unit_id")
        } else {
            ("''", "")
        };
        let scoped = scope
            .map(|(col, _)| format!(" AND {col} = $3"))
            .unwrap_or_default();
        let sum = |cond: &str| format!("COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)");
        let sql = format!(
            "SELECT {unit} AS unit_id, COUNT(*) AS total, {cancelled} AS cancelled, {on_time} AS on_time, {late} AS late, \
             {in_progress} AS in_progress, {overdue} AS overdue, {backlog} AS backlog \
             FROM {source} WHERE deadline IS NOT NULL AND (moved_on IS NULL OR moved_on > $1){scoped}{group}",
            source = super::as_of_states(as_of),
            cancelled = sum("cancelled_on IS NOT NULL AND cancelled_on <= $1"),
            on_time = sum(&format!("{DONE_ON} AND completed_on <= deadline")),
            late = sum(&format!("{DONE_ON} AND completed_on > deadline")),
            in_progress = sum(&format!("{OPEN_ON} AND deadline >= $1")),
            overdue = sum(&format!("{OPEN_ON} AND deadline < $1")),
            backlog = sum(&format!("{OPEN_ON} AND deadline < $2")),
        );
        let rows: Vec<CountRow> = on_pool!(&self.pool, |pool, _Db| {
            let q = sqlx::query_as(AssertSqlSafe(sql.clone()))
                .bind(as_of)
                .bind(month_start);
            match scope {
                Some((_, value)) => q.bind(value.clone()).fetch_all(pool).await?,
                None => q.fetch_all(pool).await?,
            }
        });
        let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(rows
            .into_iter()
            .filter(|r| r.total > 0 || !by_unit)
            .map(|r| {
                let counts = Counts {
                    total: n(r.total),
                    completed_on_time: n(r.on_time),
                    completed_late: n(r.late),
                    in_progress: n(r.in_progress),
                    overdue: n(r.overdue),
                    regular: 0,
                    cancelled: n(r.cancelled),
                    backlog: n(r.backlog),
                };
                (r.unit_id, counts)
            })
            .collect())
    }
}
