//! Reminder policies per directive or task group (COORDINATOR or ADMIN to
//! change them). A change re-plans every schedule of its scope in its own
//! transaction (urgency and next due time under the policies as they then
//! stand), so pending reminders move at once, then reloads the policies.

use super::{NotificationsApi, convert};
use crate::{
    engine::producer,
    error::{NotificationsError, Result},
    store::{NotificationStore, Replan, StoredPolicy},
};
use p06_kit::{Caller, page, text::is_resource_id};
use p06_proto::{notifications::v1 as pb, tasks::v1::TaskGroup};

fn policy_id(name: &str) -> Result<&str> {
    name.strip_prefix("policies/")
        .filter(|id| is_resource_id(id))
        .ok_or_else(|| {
            NotificationsError::invalid(
                "name",
                format!("must be \"policies/{{id}}\", got {name:?}"),
            )
        })
}

fn etag_version(etag: &str) -> Result<Option<i32>> {
    if etag.is_empty() {
        return Ok(None);
    }
    etag.trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| NotificationsError::invalid("etag", "not an etag returned by this service"))
}

/// How a policy write re-plans its scope's schedules, in its transaction.
fn replan<S: NotificationStore>(api: &NotificationsApi<S>) -> Box<Replan<'static>> {
    producer::replanner(api.engine.office, api.engine.calendar())
}

/// After a policy write (whose transaction re-planned its schedules):
/// reloads the policies this replica evaluates with and wakes the producer
/// for the steps now due.
async fn applied<S: NotificationStore>(api: &NotificationsApi<S>) -> Result<()> {
    let engine = &api.engine;
    engine
        .reload_policies()
        .await
        .map_err(NotificationsError::Internal)?;
    engine.produce_kick.notify_one();
    Ok(())
}

pub(super) async fn create<S: NotificationStore>(
    api: &NotificationsApi<S>,
    caller: &Caller,
    req: &pb::CreatePolicyRequest,
) -> Result<pb::Policy> {
    let p = req
        .policy
        .as_ref()
        .ok_or_else(|| NotificationsError::invalid("policy", "is required"))?;
    let (directive_id, group) = match (p.directive.as_str(), p.group) {
        ("", 0) => {
            return Err(NotificationsError::invalid(
                "policy.directive",
                "set the scope: a directive (\"directives/{id}\") or a task group",
            ));
        }
        (d, g) if !d.is_empty() && g != 0 => {
            return Err(NotificationsError::invalid(
                "policy.group",
                "set either a directive or a task group, not both",
            ));
        }
        ("", g) => {
            let group = TaskGroup::try_from(g)
                .ok()
                .filter(|g| *g != TaskGroup::Unspecified)
                .ok_or_else(|| {
                    NotificationsError::invalid("policy.group", format!("unknown task group {g}"))
                })?;
            (
                None,
                Some(
                    group
                        .as_str_name()
                        .trim_start_matches("TASK_GROUP_")
                        .to_string(),
                ),
            )
        }
        (d, _) => {
            let id = d
                .strip_prefix("directives/")
                .filter(|id| !id.is_empty() && id.len() <= 100 && !id.contains('/'))
                .ok_or_else(|| {
                    NotificationsError::invalid(
                        "policy.directive",
                        format!("must be \"directives/{{id}}\", got {d:?}"),
                    )
                })?;
            (Some(id.to_string()), None)
        }
    };
    let rules = convert::rules_from_pb(&p.rules)?;
    let id = if req.policy_id.is_empty() {
        format!("pol-{}", &uuid::Uuid::now_v7().simple().to_string()[..20])
    } else if is_resource_id(&req.policy_id) {
        req.policy_id.clone()
    } else {
        return Err(NotificationsError::invalid(
            "policy_id",
            "must be 1-63 lowercase letters, digits or hyphens, starting with a letter",
        ));
    };
    let m = api.mutation(caller, "CreatePolicy", &req.request_id)?;
    let stored = StoredPolicy {
        id,
        directive_id,
        group,
        rules,
        urgent: p.urgent,
        version: 1,
        created_ms: m.at_ms,
        updated_ms: m.at_ms,
    };
    let created = api
        .engine
        .store
        .create_policy(&stored, &m, &*replan(api))
        .await?;
    applied(api).await?;
    Ok(convert::policy_to_pb(created))
}

pub(super) async fn get<S: NotificationStore>(
    api: &NotificationsApi<S>,
    name: &str,
) -> Result<pb::Policy> {
    let id = policy_id(name)?;
    Ok(convert::policy_to_pb(api.engine.store.policy(id).await?))
}

pub(super) async fn list<S: NotificationStore>(
    api: &NotificationsApi<S>,
    req: &pb::ListPoliciesRequest,
) -> Result<pb::ListPoliciesResponse> {
    let limit = page::size(req.page_size)?;
    let fingerprint = page::fingerprint(&["policies"]);
    let after = page::decode(&fingerprint, &req.page_token, 1)?.map(|k| k[0].clone());
    let all = api.engine.store.policies().await?;
    let mut rows: Vec<StoredPolicy> = all
        .into_iter()
        .filter(|p| after.as_ref().is_none_or(|a| p.id > *a))
        .take(limit + 1)
        .collect();
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_page_token = match rows.last() {
        Some(last) if more => page::encode(&fingerprint, vec![last.id.clone()]),
        _ => String::new(),
    };
    Ok(pb::ListPoliciesResponse {
        policies: rows.into_iter().map(convert::policy_to_pb).collect(),
        next_page_token,
    })
}

pub(super) async fn update<S: NotificationStore>(
    api: &NotificationsApi<S>,
    caller: &Caller,
    req: &pb::UpdatePolicyRequest,
) -> Result<pb::Policy> {
    let p = req
        .policy
        .as_ref()
        .ok_or_else(|| NotificationsError::invalid("policy", "is required"))?;
    let id = policy_id(&p.name).map_err(|_| {
        NotificationsError::invalid(
            "policy.name",
            format!("must be \"policies/{{id}}\", got {:?}", p.name),
        )
    })?;
    let paths: Vec<&str> = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let (mut set_rules, mut set_urgent) = (paths.is_empty(), paths.is_empty());
    for path in &paths {
        match *path {
            "rules" => set_rules = true,
            "urgent" => set_urgent = true,
            other => {
                return Err(NotificationsError::invalid(
                    "update_mask",
                    format!(
                        "cannot update {other:?}; updatable: rules, urgent (the scope is fixed)"
                    ),
                ));
            }
        }
    }
    let store = &api.engine.store;
    let mut current = store.policy(id).await?;
    if set_rules {
        current.rules = convert::rules_from_pb(&p.rules)?;
    }
    if set_urgent {
        current.urgent = p.urgent;
    }
    let m = api.mutation(caller, "UpdatePolicy", "")?;
    let updated = store
        .update_policy(&current, etag_version(&p.etag)?, &m, &*replan(api))
        .await?;
    applied(api).await?;
    Ok(convert::policy_to_pb(updated))
}

pub(super) async fn delete<S: NotificationStore>(
    api: &NotificationsApi<S>,
    caller: &Caller,
    req: &pb::DeletePolicyRequest,
) -> Result<()> {
    let id = policy_id(&req.name)?;
    let m = api.mutation(caller, "DeletePolicy", "")?;
    api.engine
        .store
        .delete_policy(id, etag_version(&req.etag)?, &m, &*replan(api))
        .await?;
    applied(api).await
}
