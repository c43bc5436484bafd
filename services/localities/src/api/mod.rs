//! gRPC handlers for `p06.localities.v1.Localities`: check the caller,
//! read the request, call the store or [`crate::app`], convert the result.

mod contacts;
pub mod convert;
mod list;

use crate::{
    app,
    error::{LocalitiesError, Result},
    store::{LocalityStore, Merge, Mutation, Successor},
};
use convert::{new_unit, unit_id, unit_to_pb};
use p06_kit::{Caller, Grant, clock::SharedClock, dates, egress::Policy};
use p06_proto::localities::v1::{self as pb, localities_server::Localities};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Most units one BatchGetUnits returns.
pub const MAX_BATCH: usize = 1000;

/// The service implementation over a store.
pub struct LocalitiesApi<S> {
    store: Arc<S>,
    clock: SharedClock,
    /// Which webhook URLs units may set.
    egress: Policy,
}

impl<S> LocalitiesApi<S> {
    /// A service over `store`, reading "today" from `clock`, accepting the
    /// webhook URLs `egress` allows.
    pub fn new(store: Arc<S>, clock: SharedClock, egress: Policy) -> Self {
        Self {
            store,
            clock,
            egress,
        }
    }
}

impl<S: LocalityStore> LocalitiesApi<S> {
    fn date_or_today(&self, field: &str, value: &str) -> Result<chrono::NaiveDate, Status> {
        Ok(dates::parse_opt(field, value)?.unwrap_or_else(|| self.clock.today()))
    }

    fn mutation(
        &self,
        caller: &Caller,
        method: &'static str,
        request_id: &str,
    ) -> Result<Mutation> {
        let request_id = caller
            .scoped_request_id(request_id)
            .map_err(LocalitiesError::from_status)?;
        Ok(Mutation {
            actor: caller.actor(),
            method,
            request_id,
            at: self.clock.now(),
        })
    }

    async fn replay(&self, m: &Mutation) -> Result<Option<String>> {
        match &m.request_id {
            Some(rid) => Ok(self.store.recall(m.method, rid).await?),
            None => Ok(None),
        }
    }

    /// A failed write whose request id was meanwhile served by a concurrent
    /// retry yields that first result; otherwise the error.
    async fn replay_or(&self, m: &Mutation, error: LocalitiesError) -> Result<String> {
        match self.replay(m).await? {
            Some(result) => Ok(result),
            None => Err(error),
        }
    }

    async fn unit(&self, id: &str) -> Result<pb::Unit> {
        let unit = self
            .store
            .get_unit(id)
            .await?
            .ok_or_else(|| LocalitiesError::NotFound(format!("units/{id}")))?;
        Ok(unit_to_pb(unit))
    }

    /// Rebuilds a MergeUnits response from its recorded result
    /// ("successor<-source,source").
    async fn merge_response(&self, result: &str) -> Result<pb::MergeUnitsResponse> {
        let (successor, sources) = result.split_once("<-").unwrap_or((result, ""));
        let mut ended = Vec::new();
        for s in sources.split(',').filter(|s| !s.is_empty()) {
            ended.push(self.unit(s).await?);
        }
        Ok(pb::MergeUnitsResponse {
            successor: Some(self.unit(successor).await?),
            ended,
        })
    }
}

#[tonic::async_trait]
impl<S: LocalityStore> Localities for LocalitiesApi<S> {
    async fn get_unit(
        &self,
        request: Request<pb::GetUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        Grant::of(&request)?;
        let id = unit_id("name", &request.get_ref().name)?;
        Ok(Response::new(self.unit(id).await?))
    }

    async fn batch_get_units(
        &self,
        request: Request<pb::BatchGetUnitsRequest>,
    ) -> Result<Response<pb::BatchGetUnitsResponse>, Status> {
        Grant::of(&request)?;
        let names = &request.get_ref().names;
        if names.is_empty() || names.len() > MAX_BATCH {
            return Err(LocalitiesError::invalid(
                "names",
                format!("name between 1 and {MAX_BATCH} units"),
            )
            .into());
        }
        let ids = names
            .iter()
            .enumerate()
            .map(|(i, name)| unit_id(&format!("names[{i}]"), name).map(str::to_string))
            .collect::<std::result::Result<Vec<String>, _>>()?;
        let mut wanted = ids.clone();
        wanted.sort();
        wanted.dedup();
        let found: std::collections::HashMap<String, pb::Unit> = self
            .store
            .get_units(&wanted)
            .await
            .map_err(LocalitiesError::from)?
            .into_iter()
            .map(|u| (u.id.clone(), unit_to_pb(u)))
            .collect();
        let mut units = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let Some(unit) = found.get(id) else {
                let name = format!("units/{id}");
                return Err(p06_kit::errors::with_reason(
                    tonic::Code::NotFound,
                    "UNIT_NOT_FOUND",
                    format!("{name} does not exist"),
                    &[("name", &name), ("field", &format!("names[{i}]"))],
                ));
            };
            units.push(unit.clone());
        }
        Ok(Response::new(pb::BatchGetUnitsResponse { units }))
    }

    async fn list_units(
        &self,
        request: Request<pb::ListUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        Grant::of(&request)?;
        let (query, fingerprint) = list::query(request.get_ref())?;
        let page = self
            .store
            .list_units(&query)
            .await
            .map_err(LocalitiesError::from)?;
        let units: Vec<pb::Unit> = page.units.into_iter().map(unit_to_pb).collect();
        let next_page_token = match units.last() {
            Some(last) if page.more => p06_kit::page::encode(
                &fingerprint,
                vec![
                    list::sort_value(query.order, last),
                    last.name.trim_start_matches("units/").to_string(),
                ],
            ),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListUnitsResponse {
            units,
            next_page_token,
            total_size: page.total as i32,
        }))
    }

    async fn lookup_unit(
        &self,
        request: Request<pb::LookupUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        Grant::of(&request)?;
        let req = request.get_ref();
        if req.code.trim().is_empty() {
            return Err(LocalitiesError::invalid("code", "must not be empty").into());
        }
        let level = convert::level_from_pb("level", req.level)?.ok_or_else(|| {
            LocalitiesError::invalid("level", "is required: codes repeat across levels")
        })?;
        let date = self.date_or_today("date", &req.date)?;
        let unit = self
            .store
            .lookup(req.code.trim(), level, date)
            .await
            .map_err(LocalitiesError::from)?;
        let unit = unit.ok_or_else(|| {
            LocalitiesError::NotFound(format!(
                "unit with code {:?} at level {level} on {date}",
                req.code
            ))
        })?;
        Ok(Response::new(unit_to_pb(unit)))
    }

    async fn create_unit(
        &self,
        request: Request<pb::CreateUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let caller = Grant::of(&request)?;
        let req = request.get_ref();
        let m = self.mutation(caller, "CreateUnit", &req.request_id)?;
        if let Some(id) = self.replay(&m).await? {
            return Ok(Response::new(self.unit(&id).await?));
        }
        let proto = req
            .unit
            .as_ref()
            .ok_or_else(|| LocalitiesError::invalid("unit", "is required"))?;
        let fields = convert::UnitFields {
            prefix: "unit",
            id_field: "unit_id",
        };
        let unit = new_unit(fields, proto, &req.unit_id, None)?;
        match self.store.create_unit(&unit, &m).await {
            Ok(created) => {
                tracing::info!(unit = %created.id, by = %m.actor, "unit created");
                Ok(Response::new(unit_to_pb(created)))
            }
            Err(e) => {
                let id = self
                    .replay_or(&m, LocalitiesError::from_store_in(e, "unit"))
                    .await?;
                Ok(Response::new(self.unit(&id).await?))
            }
        }
    }

    async fn update_unit(
        &self,
        request: Request<pb::UpdateUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let caller = Grant::of(&request)?;
        let req = request.get_ref();
        let m = self.mutation(caller, "UpdateUnit", &req.request_id)?;
        if let Some(id) = self.replay(&m).await? {
            return Ok(Response::new(self.unit(&id).await?));
        }
        let patch = req
            .unit
            .as_ref()
            .ok_or_else(|| LocalitiesError::invalid("unit", "is required"))?;
        let id = unit_id("unit.name", &patch.name)?;
        let mut unit = self
            .store
            .get_unit(id)
            .await
            .map_err(LocalitiesError::from)?
            .ok_or_else(|| LocalitiesError::NotFound(format!("units/{id}")))?;
        if !patch.etag.is_empty() && patch.etag != unit.etag() {
            return Err(LocalitiesError::Aborted(format!("units/{id}"), unit.etag()).into());
        }
        let paths: Vec<String> = req
            .update_mask
            .as_ref()
            .map(|m| m.paths.clone())
            .unwrap_or_default();
        if paths.is_empty() {
            return Err(LocalitiesError::invalid("update_mask", "name the fields to change (display_name, english_name, category, parent, supervisor, valid_until)").into());
        }
        for path in &paths {
            match path.as_str() {
                "display_name" => unit.name_vi = patch.display_name.trim().to_string(),
                "english_name" => unit.name_en = patch.english_name.trim().to_string(),
                "category" => unit.category = patch.category.trim().to_string(),
                "parent" => unit.parent_id = convert::opt_unit_id("unit.parent", &patch.parent)?,
                "supervisor" => {
                    unit.supervisor_id = convert::opt_unit_id("unit.supervisor", &patch.supervisor)?
                }
                "valid_until" => {
                    unit.valid_until = dates::parse_opt("unit.valid_until", &patch.valid_until)?
                }
                other => {
                    return Err(LocalitiesError::invalid(
                        "update_mask",
                        format!("{other:?} cannot be updated"),
                    )
                    .into());
                }
            }
        }
        if unit.name_vi.is_empty() {
            return Err(LocalitiesError::invalid("unit.display_name", "must not be empty").into());
        }
        if let (Some(from), Some(until)) = (unit.valid_from, unit.valid_until)
            && until < from
        {
            return Err(LocalitiesError::invalid(
                "unit.valid_until",
                format!("{until} is before valid_from {from}"),
            )
            .into());
        }
        for (field, reference) in [
            ("unit.parent", &unit.parent_id),
            ("unit.supervisor", &unit.supervisor_id),
        ] {
            if let Some(r) = reference
                && (r == &unit.id
                    || self
                        .store
                        .get_unit(r)
                        .await
                        .map_err(LocalitiesError::from)?
                        .is_none())
            {
                return Err(LocalitiesError::invalid(
                    field,
                    format!("units/{r} is not a valid reference"),
                )
                .into());
            }
        }
        let version = unit.version;
        let updated = self
            .store
            .update_unit(&unit, version, &m)
            .await
            .map_err(LocalitiesError::from)?;
        Ok(Response::new(unit_to_pb(updated)))
    }

    async fn merge_units(
        &self,
        request: Request<pb::MergeUnitsRequest>,
    ) -> Result<Response<pb::MergeUnitsResponse>, Status> {
        let caller = Grant::of(&request)?;
        let req = request.get_ref();
        let m = self.mutation(caller, "MergeUnits", &req.request_id)?;
        if let Some(result) = self.replay(&m).await? {
            return Ok(Response::new(self.merge_response(&result).await?));
        }
        if req.sources.is_empty() {
            return Err(
                LocalitiesError::invalid("sources", "name at least one unit to merge").into(),
            );
        }
        let mut sources = Vec::new();
        for s in &req.sources {
            let id = unit_id("sources", s)?.to_string();
            if sources.contains(&id) {
                return Err(
                    LocalitiesError::invalid("sources", format!("{s} is listed twice")).into(),
                );
            }
            sources.push(id);
        }
        let effective = dates::parse("effective_date", &req.effective_date)?;
        let successor = match (req.successor.is_empty(), &req.new_successor) {
            (false, None) => Successor::Existing(unit_id("successor", &req.successor)?.to_string()),
            (true, Some(new)) => {
                let fields = convert::UnitFields {
                    prefix: "new_successor",
                    id_field: "new_successor_id",
                };
                let unit = new_unit(fields, new, &req.new_successor_id, Some(effective))?;
                if unit.valid_from != Some(effective) {
                    return Err(LocalitiesError::invalid(
                        "new_successor.valid_from",
                        "must be empty or equal to effective_date",
                    )
                    .into());
                }
                Successor::New(unit)
            }
            _ => {
                return Err(LocalitiesError::invalid(
                    "successor",
                    "give exactly one of successor and new_successor",
                )
                .into());
            }
        };
        let merge = Merge {
            sources,
            successor,
            effective,
        };
        let outcome = match self.store.merge_units(&merge, &m).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let result = self
                    .replay_or(&m, LocalitiesError::from_store_in(e, "new_successor"))
                    .await?;
                return Ok(Response::new(self.merge_response(&result).await?));
            }
        };
        tracing::info!(successor = %outcome.successor.id, sources = ?merge.sources, %effective, by = %m.actor, "units merged");
        Ok(Response::new(pb::MergeUnitsResponse {
            successor: Some(unit_to_pb(outcome.successor)),
            ended: outcome.ended.into_iter().map(unit_to_pb).collect(),
        }))
    }

    async fn resolve_successor(
        &self,
        request: Request<pb::ResolveSuccessorRequest>,
    ) -> Result<Response<pb::ResolveSuccessorResponse>, Status> {
        Grant::of(&request)?;
        let req = request.get_ref();
        let id = unit_id("name", &req.name)?;
        let date = self.date_or_today("date", &req.date)?;
        let (unit, path) = app::resolve_successor(self.store.as_ref(), id, date).await?;
        Ok(Response::new(pb::ResolveSuccessorResponse {
            unit: Some(unit_to_pb(unit)),
            path: path.iter().map(|p| convert::unit_name(p)).collect(),
        }))
    }

    async fn get_escalation_chain(
        &self,
        request: Request<pb::GetEscalationChainRequest>,
    ) -> Result<Response<pb::GetEscalationChainResponse>, Status> {
        Grant::of(&request)?;
        let req = request.get_ref();
        let id = unit_id("name", &req.name)?;
        let date = self.date_or_today("date", &req.date)?;
        let chain = app::escalation_chain(self.store.as_ref(), id, date).await?;
        Ok(Response::new(pb::GetEscalationChainResponse {
            chain: chain.into_iter().map(unit_to_pb).collect(),
        }))
    }

    async fn get_contacts(
        &self,
        request: Request<pb::GetContactsRequest>,
    ) -> Result<Response<pb::Contacts>, Status> {
        let caller = Grant::of(&request)?.clone();
        Ok(Response::new(
            contacts::get(self, &caller, &request.get_ref().name).await?,
        ))
    }

    async fn update_contacts(
        &self,
        request: Request<pb::UpdateContactsRequest>,
    ) -> Result<Response<pb::Contacts>, Status> {
        let caller = Grant::of(&request)?.clone();
        Ok(Response::new(
            contacts::update(self, &caller, request.get_ref()).await?,
        ))
    }
}
