//! Operations that combine several store reads: following lineage to the
//! unit in charge on a date, and walking supervisors up to the Working
//! Group.

use crate::{
    domain::Unit,
    error::{LocalitiesError, Result},
    store::LocalityStore,
};
use chrono::NaiveDate;

/// Lineage and supervision chains are short; this bounds a corrupt cycle.
const MAX_HOPS: usize = 32;

async fn get<S: LocalityStore>(store: &S, id: &str) -> Result<Unit> {
    store
        .get_unit(id)
        .await?
        .ok_or_else(|| LocalitiesError::NotFound(format!("units/{id}")))
}

/// The unit holding `id`'s responsibilities on `date`, and the ids passed
/// through (starting with `id`).
pub async fn resolve_successor<S: LocalityStore>(
    store: &S,
    id: &str,
    date: NaiveDate,
) -> Result<(Unit, Vec<String>)> {
    let mut unit = get(store, id).await?;
    let mut path = vec![unit.id.clone()];
    for _ in 0..MAX_HOPS {
        if unit.active_on(date) {
            return Ok((unit, path));
        }
        if let Some(from) = unit.valid_from
            && date < from
        {
            return Err(LocalitiesError::FailedPrecondition(
                "date".into(),
                "NOT_YET_IN_FORCE",
                format!("units/{} comes into force on {from}, after {date}", unit.id),
            ));
        }
        let links = store.successors_of(&unit.id).await?;
        let Some(next) = links.iter().find(|l| l.primary).or(links.first()) else {
            let ended = unit.valid_until.map(|d| d.to_string()).unwrap_or_default();
            return Err(LocalitiesError::FailedPrecondition(
                "name".into(),
                "NO_SUCCESSOR",
                format!(
                    "units/{} ended on {ended} and has no successor on record",
                    unit.id
                ),
            ));
        };
        unit = get(store, &next.successor).await?;
        path.push(unit.id.clone());
    }
    Err(LocalitiesError::Internal(format!(
        "lineage of units/{id} loops"
    )))
}

/// The supervisors of `id` on `date`, nearest first; a supervisor no longer
/// in force is replaced by its successor.
pub async fn escalation_chain<S: LocalityStore>(
    store: &S,
    id: &str,
    date: NaiveDate,
) -> Result<Vec<Unit>> {
    let mut unit = get(store, id).await?;
    let mut chain: Vec<Unit> = Vec::new();
    while let Some(supervisor) = unit.supervisor_id.clone() {
        if chain.len() >= MAX_HOPS || chain.iter().any(|u| u.id == supervisor) || supervisor == id {
            break;
        }
        let next = match resolve_successor(store, &supervisor, date).await {
            Ok((next, _)) => next,
            Err(LocalitiesError::FailedPrecondition(_, reason, message)) => {
                // The chain stops where nobody holds the supervisor's role.
                tracing::warn!(unit = id, supervisor = %supervisor, reason, %message, "escalation chain cut short");
                break;
            }
            Err(e) => return Err(e),
        };
        if chain.iter().any(|u| u.id == next.id) || next.id == id {
            break;
        }
        chain.push(next.clone());
        unit = next;
    }
    Ok(chain)
}
