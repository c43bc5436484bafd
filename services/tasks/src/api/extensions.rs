//! Deadline extensions: the assigned unit asks, a coordinator decides.

use super::{TasksApi, convert};
use crate::{
    domain::extension::{Decision, Extension, ExtensionState},
    error::{Result, TasksError},
    store::TaskStore,
};
use p06_kit::{Caller, Grant, dates};
use p06_proto::tasks::v1 as pb;

fn to_pb(e: Extension) -> pb::Extension {
    let state = match e.state {
        ExtensionState::Pending => pb::ExtensionState::Pending,
        ExtensionState::Approved => pb::ExtensionState::Approved,
        ExtensionState::Rejected => pb::ExtensionState::Rejected,
    };
    pb::Extension {
        name: format!(
            "{}/extensions/{}",
            convert::assignment_name(&e.task_id, &e.unit_id),
            e.id
        ),
        requested_deadline: e.requested_deadline.to_string(),
        previous_deadline: e.previous_deadline.to_string(),
        reason: e.reason,
        state: state as i32,
        granted_deadline: dates::format_opt(e.granted_deadline),
        decision_note: e.decision_note,
        requested_by: e.requested_by,
        decided_by: e.decided_by,
        create_time: Some(convert::timestamp(e.created_at)),
        decide_time: e.decided_at.map(convert::timestamp),
    }
}

/// (task, unit, extension id) of ".../extensions/{id}".
fn extension_key(name: &str) -> Result<(String, String, String)> {
    let (assignment, id) = name
        .rsplit_once("/extensions/")
        .filter(|(_, id)| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| {
            TasksError::invalid(
                "name",
                format!("must be like tasks/T/assignments/U/extensions/ID, got {name:?}"),
            )
        })?;
    let (task, unit) = convert::assignment_key("name", assignment)?;
    Ok((task, unit, id.to_string()))
}

pub(super) async fn request<S: TaskStore>(
    api: &TasksApi<S>,
    caller: &Grant,
    req: &pb::RequestExtensionRequest,
) -> Result<pb::Extension> {
    let (task, unit) = convert::assignment_key("parent", &req.parent)?;
    caller.check_unit(&unit)?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 4000 {
        return Err(TasksError::invalid(
            "reason",
            "give a reason of at most 4000 characters",
        ));
    }
    let requested = dates::parse("requested_deadline", &req.requested_deadline)?;
    let m = api.mutation(caller, "RequestExtension", &req.request_id)?;
    if let Some(id) = api.replay(&m).await? {
        let all = api.store.list_extensions(&task, &unit).await?;
        return all
            .into_iter()
            .find(|e| e.id == id)
            .map(to_pb)
            .ok_or_else(|| TasksError::NotFound(req.parent.clone()));
    }
    let a = api
        .store
        .get_assignment(&task, &unit)
        .await?
        .ok_or_else(|| TasksError::NotFound(req.parent.clone()))?;
    if !a.is_open() {
        return Err(TasksError::FailedPrecondition(
            "parent".into(),
            "NOT_OPEN",
            "only an open assignment can be extended".into(),
        ));
    }
    let current = a.deadline.ok_or_else(|| {
        TasksError::FailedPrecondition(
            "parent".into(),
            "NO_DEADLINE",
            "a regularly implemented duty has no deadline".into(),
        )
    })?;
    if requested <= current {
        return Err(TasksError::invalid(
            "requested_deadline",
            format!("must be after the current deadline {current}"),
        ));
    }
    let e = Extension {
        id: uuid::Uuid::now_v7().simple().to_string(),
        task_id: task,
        unit_id: unit,
        requested_deadline: requested,
        previous_deadline: current,
        reason: reason.to_string(),
        state: ExtensionState::Pending,
        granted_deadline: None,
        decision_note: String::new(),
        requested_by: m.actor.clone(),
        decided_by: String::new(),
        created_at: m.at,
        decided_at: None,
    };
    let e = api.store.request_extension(&e, &m).await?;
    tracing::info!(assignment = %req.parent, requested = %requested, by = %m.actor, "extension requested");
    Ok(to_pb(e))
}

pub(super) async fn decide<S: TaskStore>(
    api: &TasksApi<S>,
    caller: &Caller,
    req: &pb::DecideExtensionRequest,
) -> Result<pb::DecideExtensionResponse> {
    let (task, unit, id) = extension_key(&req.name)?;
    let m = api.mutation(caller, "DecideExtension", &req.request_id)?;
    let note = req.note.trim().to_string();
    let decision = if req.approve {
        Decision::Approve {
            deadline: dates::parse_opt("deadline", &req.deadline)?,
            note,
        }
    } else {
        Decision::Reject { note }
    };
    let replayed = api.replay(&m).await?.is_some();
    let (e, a) = if replayed {
        let a = api
            .store
            .get_assignment(&task, &unit)
            .await?
            .ok_or_else(|| TasksError::NotFound(req.name.clone()))?;
        let e = api
            .store
            .list_extensions(&task, &unit)
            .await?
            .into_iter()
            .find(|e| e.id == id);
        (e.ok_or_else(|| TasksError::NotFound(req.name.clone()))?, a)
    } else {
        let decided = api
            .store
            .decide_extension(&task, &unit, &id, &decision, &m)
            .await?;
        api.written(m.method);
        decided
    };
    tracing::info!(extension = %req.name, approved = req.approve, by = %m.actor, "extension decided");
    Ok(pb::DecideExtensionResponse {
        extension: Some(to_pb(e)),
        assignment: Some(convert::assignment_to_pb(a, m.today)),
    })
}

pub(super) async fn list<S: TaskStore>(
    api: &TasksApi<S>,
    caller: &Grant,
    req: &pb::ListExtensionsRequest,
) -> Result<pb::ListExtensionsResponse> {
    let (task, unit) = convert::assignment_key("parent", &req.parent)?;
    caller.check_unit(&unit)?;
    let all = api.store.list_extensions(&task, &unit).await?;
    Ok(pb::ListExtensionsResponse {
        extensions: all.into_iter().map(to_pb).collect(),
    })
}
