//! KPI indicators: definitions with targets, values recorded by units, and
//! progress toward the target as of a date.

use super::{TasksApi, convert};
use crate::{
    domain::indicator::{Indicator, Value},
    error::{Result, TasksError},
    store::TaskStore,
};
use p06_kit::{Caller, Grant, dates};
use p06_proto::tasks::v1 as pb;

fn to_pb(k: Indicator) -> pb::Indicator {
    pb::Indicator {
        name: format!("indicators/{}", k.id),
        display_name: k.name,
        measure: k.measure,
        target: k.target,
        target_date: k.target_date.to_string(),
        lower_is_better: k.lower_is_better,
        directive: k
            .directive_id
            .map(|d| format!("directives/{d}"))
            .unwrap_or_default(),
        group: k
            .group
            .and_then(|g| pb::TaskGroup::from_str_name(&format!("TASK_GROUP_{g}")))
            .map_or(0, |g| g as i32),
        create_time: Some(convert::timestamp(k.created_at)),
    }
}

fn value_to_pb(v: Value) -> pb::IndicatorValue {
    pb::IndicatorValue {
        indicator: format!("indicators/{}", v.indicator_id),
        unit: format!("units/{}", v.unit_id),
        value: v.value,
        as_of: v.as_of.to_string(),
        note: v.note,
        recorded_by: v.recorded_by,
        record_time: Some(convert::timestamp(v.recorded_at)),
    }
}

async fn indicator<S: TaskStore>(api: &TasksApi<S>, field: &str, name: &str) -> Result<Indicator> {
    let id = convert::id_in(field, "indicators", name)?;
    api.store
        .get_indicator(id)
        .await?
        .ok_or_else(|| TasksError::NotFound(format!("indicators/{id}")))
}

pub(super) async fn create<S: TaskStore>(
    api: &TasksApi<S>,
    caller: &Caller,
    req: &pb::CreateIndicatorRequest,
) -> Result<pb::Indicator> {
    let m = api.mutation(caller, "CreateIndicator", &req.request_id)?;
    if let Some(id) = api.replay(&m).await? {
        return indicator(api, "indicator_id", &format!("indicators/{id}"))
            .await
            .map(to_pb);
    }
    let k = req
        .indicator
        .as_ref()
        .ok_or_else(|| TasksError::invalid("indicator", "is required"))?;
    if !p06_kit::text::is_resource_id(&req.indicator_id) {
        return Err(TasksError::invalid(
            "indicator_id",
            "1-63 lowercase letters, digits or hyphens, starting with a letter",
        ));
    }
    let name = k.display_name.trim();
    if name.is_empty() || name.chars().count() > 500 {
        return Err(TasksError::invalid(
            "indicator.display_name",
            "must be 1 to 500 characters",
        ));
    }
    if !k.target.is_finite() {
        return Err(TasksError::invalid("indicator.target", "must be a number"));
    }
    let target_date = dates::parse("indicator.target_date", &k.target_date)?;
    let directive_id = match k.directive.as_str() {
        "" => None,
        d => {
            let id = convert::id_in("indicator.directive", "directives", d)?;
            api.store.get_directive(id).await?.ok_or_else(|| {
                TasksError::invalid("indicator.directive", format!("{d} does not exist"))
            })?;
            Some(id.to_string())
        }
    };
    let group = match k.group {
        0 => None,
        g => Some(
            convert::task_group("indicator.group", g)?
                .as_str()
                .to_string(),
        ),
    };
    let indicator = Indicator {
        id: req.indicator_id.clone(),
        name: name.to_string(),
        measure: k.measure.trim().to_string(),
        target: k.target,
        target_date,
        lower_is_better: k.lower_is_better,
        directive_id,
        group,
        created_at: m.at,
    };
    Ok(to_pb(api.store.create_indicator(&indicator, &m).await?))
}

pub(super) async fn list<S: TaskStore>(api: &TasksApi<S>) -> Result<pb::ListIndicatorsResponse> {
    Ok(pb::ListIndicatorsResponse {
        indicators: api
            .store
            .list_indicators()
            .await?
            .into_iter()
            .map(to_pb)
            .collect(),
    })
}

pub(super) async fn record<S: TaskStore>(
    api: &TasksApi<S>,
    caller: &Grant,
    req: &pb::RecordIndicatorValueRequest,
) -> Result<pb::IndicatorValue> {
    let v = req
        .value
        .as_ref()
        .ok_or_else(|| TasksError::invalid("value", "is required"))?;
    let unit = convert::id_in("value.unit", "units", &v.unit)?.to_string();
    caller.check_unit(&unit)?;
    let k = indicator(api, "value.indicator", &v.indicator).await?;
    if !v.value.is_finite() || v.value < 0.0 {
        return Err(TasksError::invalid(
            "value.value",
            "must be a non-negative number",
        ));
    }
    let as_of = dates::parse("value.as_of", &v.as_of)?;
    let m = api.mutation(caller, "RecordIndicatorValue", &req.request_id)?;
    if as_of > m.today {
        return Err(TasksError::invalid(
            "value.as_of",
            format!("{as_of} is in the future"),
        ));
    }
    let value = Value {
        indicator_id: k.id.clone(),
        unit_id: unit,
        value: v.value,
        as_of,
        note: v.note.trim().chars().take(4000).collect(),
        recorded_by: m.actor.clone(),
        recorded_at: m.at,
    };
    if api.replay(&m).await?.is_some() {
        return Ok(value_to_pb(value));
    }
    Ok(value_to_pb(api.store.record_value(&value, &m).await?))
}

pub(super) async fn progress<S: TaskStore>(
    api: &TasksApi<S>,
    req: &pb::GetIndicatorProgressRequest,
) -> Result<pb::IndicatorProgress> {
    let k = indicator(api, "indicator", &req.indicator).await?;
    let as_of = api.as_of("as_of", &req.as_of)?;
    let mut met = 0;
    let units = api
        .store
        .values_as_of(&k.id, as_of)
        .await?
        .into_iter()
        .map(|v| {
            let (share, ok) = k.progress(v.value);
            met += i32::from(ok);
            pb::UnitIndicatorProgress {
                unit: format!("units/{}", v.unit_id),
                value: v.value,
                value_date: v.as_of.to_string(),
                progress: share,
                met: ok,
            }
        })
        .collect();
    Ok(pb::IndicatorProgress {
        indicator: Some(to_pb(k)),
        as_of: as_of.to_string(),
        units,
        met,
    })
}
