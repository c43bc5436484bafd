//! Counting for the unit that holds the responsibilities on the day
//! ([`crate::domain::attribution`]): status counts per holding unit from
//! the store, the lineage from localities (tasks keeps no second copy of
//! the registry).

use super::{TasksApi, list};
use crate::{
    domain::{attribution, status::status, summary::Counts},
    error::{Result, TasksError},
    store::TaskStore,
};
use chrono::NaiveDate;
use p06_kit::dates;
use p06_proto::localities::v1 as loc;
use std::collections::{HashMap, HashSet};

/// Most predecessors followed back from one unit.
const MAX_LINEAGE: usize = 1000;

fn in_force(u: &loc::Unit, day: NaiveDate) -> bool {
    let from = dates::parse_opt("valid_from", &u.valid_from).ok().flatten();
    let until = dates::parse_opt("valid_until", &u.valid_until)
        .ok()
        .flatten();
    from.is_none_or(|f| f <= day) && until.is_none_or(|u| day <= u)
}

fn unit_id(name: &str) -> String {
    name.trim_start_matches("units/").to_string()
}

fn unavailable(s: &tonic::Status) -> TasksError {
    TasksError::Unavailable(format!("localities: {}", s.message()))
}

impl<S: TaskStore> TasksApi<S> {
    /// Status counts as of `as_of` within `scope`, all together: every
    /// assignment in it once, whoever holds it.
    pub(super) async fn total_counts(
        &self,
        scope: Option<&(&'static str, String)>,
        as_of: NaiveDate,
    ) -> Result<Counts> {
        let mut total = Counts::default();
        for c in self.counts_grouped(scope, as_of, false).await?.values() {
            total.absorb(c);
        }
        Ok(total)
    }

    /// Status counts as of `as_of` per holding unit within `scope`.
    pub(super) async fn counts_by_holder(
        &self,
        scope: Option<&(&'static str, String)>,
        as_of: NaiveDate,
    ) -> Result<HashMap<String, Counts>> {
        self.counts_grouped(scope, as_of, true).await
    }

    /// Those with a deadline counted in the database (per unit, or in one
    /// row keyed ""), recurring duties from their rows as of the day (one
    /// query for all of them), under their holder or "".
    async fn counts_grouped(
        &self,
        scope: Option<&(&'static str, String)>,
        as_of: NaiveDate,
        by_unit: bool,
    ) -> Result<HashMap<String, Counts>> {
        let mut counts: HashMap<String, Counts> = self
            .store
            .count_deadline_statuses(scope, as_of, by_unit)
            .await?
            .into_iter()
            .collect();
        for a in self
            .store
            .all_assignments(Some(&list::recurring_in(scope)), Some(as_of))
            .await?
        {
            if let Some((s, backlog)) = status(&a.status_input(), as_of) {
                let key = if by_unit { a.unit_id } else { String::new() };
                counts.entry(key).or_default().add(s, backlog);
            }
        }
        Ok(counts)
    }

    /// The unit each of `holders` leads to on `day`: itself while in force,
    /// else the one holding its responsibilities then (none when its
    /// lineage ends without a successor, or localities does not know it).
    pub(super) async fn lineage(
        &self,
        holders: &[String],
        day: NaiveDate,
    ) -> Result<HashMap<String, String>> {
        let mut client = self.localities.clone();
        let mut out = HashMap::new();
        for chunk in holders.chunks(1000) {
            let names: Vec<String> = chunk.iter().map(|h| format!("units/{h}")).collect();
            let units: Vec<Option<loc::Unit>> = match client
                .batch_get_units(loc::BatchGetUnitsRequest {
                    names: names.clone(),
                })
                .await
            {
                Ok(r) => r.into_inner().units.into_iter().map(Some).collect(),
                // One name unknown fails the batch: ask for each, so the
                // others still follow their lineage (an unknown holder
                // keeps its own rows).
                Err(s) if s.code() == tonic::Code::NotFound => {
                    let mut one_by_one = Vec::with_capacity(names.len());
                    for name in names {
                        match client.get_unit(loc::GetUnitRequest { name }).await {
                            Ok(u) => one_by_one.push(Some(u.into_inner())),
                            Err(s) if s.code() == tonic::Code::NotFound => one_by_one.push(None),
                            Err(s) => return Err(unavailable(&s)),
                        }
                    }
                    one_by_one
                }
                Err(s) => return Err(unavailable(&s)),
            };
            for (holder, unit) in chunk.iter().zip(&units) {
                let Some(unit) = unit else { continue };
                if in_force(unit, day) {
                    out.insert(holder.clone(), holder.clone());
                    continue;
                }
                let request = loc::ResolveSuccessorRequest {
                    name: unit.name.clone(),
                    date: day.to_string(),
                };
                match client.resolve_successor(request).await {
                    Ok(r) => {
                        if let Some(to) = r.into_inner().unit {
                            out.insert(holder.clone(), unit_id(&to.name));
                        }
                    }
                    Err(s)
                        if matches!(
                            s.code(),
                            tonic::Code::FailedPrecondition
                                | tonic::Code::NotFound
                                | tonic::Code::InvalidArgument
                        ) => {}
                    Err(s) => return Err(unavailable(&s)),
                }
            }
        }
        Ok(out)
    }

    /// Counts as of `as_of` within `scope`, under the unit each assignment
    /// counts for on that day.
    pub(super) async fn attributed_counts(
        &self,
        scope: Option<&(&'static str, String)>,
        as_of: NaiveDate,
    ) -> Result<HashMap<String, Counts>> {
        let by_holder = self.counts_by_holder(scope, as_of).await?;
        let holders: Vec<String> = by_holder.keys().cloned().collect();
        let leads_to = self.lineage(&holders, as_of).await?;
        Ok(attribution::attribute(by_holder, &leads_to))
    }

    /// One unit's counts as of `as_of`: its own rows (unless they count for
    /// a successor by then) and those of its predecessors (followed back
    /// through localities) whose lineage leads to it on that day.
    pub(super) async fn unit_counts(&self, unit: &str, as_of: NaiveDate) -> Result<Counts> {
        let client = self.localities.clone();
        let get = |id: String| {
            let mut client = client.clone();
            async move {
                match client
                    .get_unit(loc::GetUnitRequest {
                        name: format!("units/{id}"),
                    })
                    .await
                {
                    Ok(u) => Ok(Some(u.into_inner())),
                    Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
                    Err(s) => Err(unavailable(&s)),
                }
            }
        };
        let me = get(unit.to_string()).await?;
        let own = match &me {
            // Unknown to localities, or in force: its rows are its own.
            None => true,
            Some(u) if in_force(u, as_of) => true,
            Some(_) => self
                .lineage(&[unit.to_string()], as_of)
                .await?
                .get(unit)
                .is_none_or(|to| to == unit),
        };
        let mut seen: HashSet<String> = HashSet::from([unit.to_string()]);
        let mut predecessors = Vec::new();
        let mut queue: Vec<loc::Unit> = me.into_iter().collect();
        while let Some(next) = queue.pop() {
            for p in next.predecessors.iter().map(|p| unit_id(p)) {
                if seen.len() >= MAX_LINEAGE {
                    return Err(TasksError::invalid(
                        "unit",
                        format!("its lineage has more than {MAX_LINEAGE} predecessors"),
                    ));
                }
                if seen.insert(p.clone()) {
                    predecessors.push(p.clone());
                    if let Some(found) = get(p).await? {
                        queue.push(found);
                    }
                }
            }
        }
        let leads_to = if predecessors.is_empty() {
            HashMap::new()
        } else {
            self.lineage(&predecessors, as_of).await?
        };
        let holders = own.then(|| unit.to_string()).into_iter().chain(
            predecessors
                .into_iter()
                .filter(|p| leads_to.get(p).is_some_and(|to| to == unit)),
        );
        let mut counts = Counts::default();
        for holder in holders {
            let scope = ("unit_id", holder);
            counts.absorb(&self.total_counts(Some(&scope), as_of).await?);
        }
        Ok(counts)
    }
}
