//! GetScoreboard: every unit of a scope in force on the date, ranked by the
//! formula in [`crate::domain::scoreboard`].

use super::{TasksApi, list};
use crate::{
    domain::{scoreboard, summary::Counts},
    error::{Result, TasksError},
    store::TaskStore,
};
use p06_proto::{localities::v1 as loc, tasks::v1 as pb};
use std::collections::HashMap;

impl<S: TaskStore> TasksApi<S> {
    /// (id, display name) of every unit matching `filter` in force on `date`.
    async fn units_in_force(
        &self,
        filter: &str,
        date: chrono::NaiveDate,
    ) -> Result<Vec<(String, String)>> {
        let mut client = self.localities.clone();
        let mut request = loc::ListUnitsRequest {
            filter: filter.into(),
            active_on: date.to_string(),
            page_size: 1000,
            ..Default::default()
        };
        let mut out = Vec::new();
        loop {
            let page = client
                .list_units(request.clone())
                .await
                .map_err(|s| TasksError::Unavailable(format!("localities: {}", s.message())))?;
            let page = page.into_inner();
            out.extend(page.units.into_iter().map(|u| {
                (
                    u.name.trim_start_matches("units/").to_string(),
                    u.display_name,
                )
            }));
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            request.page_token = page.next_page_token;
        }
    }
}

pub(super) async fn get<S: TaskStore>(
    api: &TasksApi<S>,
    req: &pb::GetScoreboardRequest,
) -> Result<pb::Scoreboard> {
    let as_of = api.as_of("as_of", &req.as_of)?;
    const PROVINCES: &str = "kind = PROVINCE OR kind = CENTRALLY_RUN_CITY";
    const CENTRAL: &str =
        "kind = MINISTRY OR kind = MINISTERIAL_AGENCY OR kind = GOVERNMENT_AGENCY";
    let both = format!("{PROVINCES} OR {CENTRAL}");
    let kinds = match pb::ScoreboardScope::try_from(req.scope) {
        Ok(pb::ScoreboardScope::Provinces) => PROVINCES,
        Ok(pb::ScoreboardScope::CentralAgencies) => CENTRAL,
        Ok(pb::ScoreboardScope::All) => both.as_str(),
        _ => {
            return Err(TasksError::invalid(
                "scope",
                "choose SCOREBOARD_SCOPE_PROVINCES, SCOREBOARD_SCOPE_CENTRAL_AGENCIES or SCOREBOARD_SCOPE_ALL",
            ));
        }
    };
    let scope = pb::GetSummaryRequest {
        directive: req.directive.clone(),
        group: req.group,
        ..Default::default()
    };
    let scope = list::summary_scope(&scope)?;
    let units = api.units_in_force(kinds, as_of).await?;
    let names: HashMap<String, String> = units.iter().cloned().collect();
    // Each assignment counts for the unit holding its responsibilities on
    // the day (crate::domain::attribution); units of the other board, or
    // of no board, are left out.
    let attributed = api.attributed_counts(scope.as_ref(), as_of).await?;
    let counts: Vec<(String, Counts)> = units
        .iter()
        .map(|(id, _)| (id.clone(), attributed.get(id).copied().unwrap_or_default()))
        .collect();
    let ranked = scoreboard::rank(counts);
    let of = ranked.len() as i32;
    let entries = ranked
        .into_iter()
        .map(|e| pb::ScoreboardEntry {
            rank: e.rank as i32,
            of,
            display_name: names.get(&e.unit).cloned().unwrap_or_default(),
            unit: format!("units/{}", e.unit),
            score: e.score,
            total: e.counts.total as i32,
            completed_on_time: e.counts.completed_on_time as i32,
            completed_late: e.counts.completed_late as i32,
            in_progress: e.counts.in_progress as i32,
            overdue: e.counts.overdue as i32,
            regular: e.counts.regular as i32,
            cancelled: e.counts.cancelled as i32,
            headline: format!("ranked {}/{of}", e.rank),
        })
        .collect();
    Ok(pb::Scoreboard {
        as_of: as_of.to_string(),
        formula: scoreboard::FORMULA.to_string(),
        entries,
    })
}
