//! Administrative change: open assignments of units no longer in force move
//! to the units holding their responsibilities, as localities' lineage
//! says. Tasks asks localities (it has no second copy of the registry);
//! running it again moves nothing twice.

use super::TasksApi;
use crate::{
    error::{Result, TasksError},
    store::{Mutation, TaskStore},
};
use chrono::{Days, NaiveDate};
use p06_kit::{
    dates,
    filter::{SqlCondition, SqlValue},
};
use p06_proto::{localities::v1 as loc, tasks::v1 as pb};

const OPEN: &str = "completed_on IS NULL AND cancelled_on IS NULL AND moved_on IS NULL";

impl<S: TaskStore> TasksApi<S> {
    /// Where `unit`'s responsibilities are on `date`: None while it is in
    /// force (or unknown, or without successor), else (successor, first day).
    async fn successor_on(
        &self,
        unit: &str,
        date: NaiveDate,
    ) -> Result<Option<(String, NaiveDate)>> {
        let mut client = self.localities.clone();
        let name = format!("units/{unit}");
        let found = match client
            .get_unit(loc::GetUnitRequest { name: name.clone() })
            .await
        {
            Ok(u) => u.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => {
                tracing::warn!(unit, "assignment unit unknown to localities; left in place");
                return Ok(None);
            }
            Err(s) => {
                return Err(TasksError::Unavailable(format!(
                    "localities: {}",
                    s.message()
                )));
            }
        };
        let until = dates::parse_opt("valid_until", &found.valid_until)
            .ok()
            .flatten();
        let Some(until) = until.filter(|u| *u < date) else {
            return Ok(None);
        };
        let request = loc::ResolveSuccessorRequest {
            name,
            date: date.to_string(),
        };
        match client.resolve_successor(request).await {
            Ok(r) => {
                let to = r
                    .into_inner()
                    .unit
                    .map(|u| u.name.trim_start_matches("units/").to_string());
                let first = until.checked_add_days(Days::new(1)).unwrap_or(date);
                Ok(to.map(|to| (to, first)))
            }
            Err(s) if s.code() == tonic::Code::FailedPrecondition => {
                tracing::warn!(unit, reason = %s.message(), "ended unit has no successor; assignments left in place");
                Ok(None)
            }
            Err(s) => Err(TasksError::Unavailable(format!(
                "localities: {}",
                s.message()
            ))),
        }
    }

    /// One background pass, as the service itself, for today.
    pub async fn reconcile_now(&self) -> Result<()> {
        let m = self.mutation(&p06_kit::Caller::Service, "ApplyAdministrativeChanges", "")?;
        self.apply_administrative_changes(m.today, &m)
            .await
            .map(|_| ())
    }

    /// Moves every open assignment of every ended unit; returns the moves.
    pub async fn apply_administrative_changes(
        &self,
        date: NaiveDate,
        m: &Mutation,
    ) -> Result<Vec<pb::UnitMove>> {
        let mut moves = Vec::new();
        for unit in self.store.open_units().await? {
            let Some((to, effective)) = self.successor_on(&unit, date).await? else {
                continue;
            };
            let filter = SqlCondition {
                sql: format!("unit_id = $1 AND {OPEN}"),
                binds: vec![SqlValue::Text(unit.clone())],
            };
            let mut moved = 0;
            for a in self.store.all_assignments(Some(&filter), None).await? {
                if self
                    .store
                    .move_assignment(&a.task_id, &unit, &to, effective, m)
                    .await?
                    .is_some()
                {
                    moved += 1;
                }
            }
            tracing::info!(from = %unit, to = %to, %effective, assignments = moved, "assignments moved to successor");
            moves.push(pb::UnitMove {
                from: format!("units/{unit}"),
                to: format!("units/{to}"),
                effective_date: effective.to_string(),
                assignments: moved,
            });
        }
        if !moves.is_empty() {
            self.written("ApplyAdministrativeChanges");
        }
        Ok(moves)
    }
}
