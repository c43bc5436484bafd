//! GetContacts / UpdateContacts: delivery endpoints of a unit. Secrets are
//! shown only to ADMIN keys, the unit's own keys and internal services; a
//! new webhook URL must pass the egress policy (see
//! [`crate::domain::Contacts::validate_change`]).

use super::{LocalitiesApi, convert::contacts_to_pb};
use crate::{
    domain::Contacts,
    error::{LocalitiesError, Result},
    store::LocalityStore,
};
use p06_kit::{Caller, Grant, access};
use p06_proto::localities::v1 as pb;

fn contacts_unit(name: &str) -> Result<&str> {
    name.strip_prefix("units/")
        .and_then(|rest| rest.strip_suffix("/contacts"))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| {
            LocalitiesError::invalid(
                "name",
                format!("must be like units/p01/contacts, got {name:?}"),
            )
        })
}

/// Whoever may change a unit's contacts may see its webhook secrets.
fn may_see_secrets(caller: &Caller, unit: &str) -> bool {
    access::authorize(caller, "/p06.localities.v1.Localities/UpdateContacts")
        .is_ok_and(|grant| grant.allows_unit(unit))
}

async fn current<S: LocalityStore>(api: &LocalitiesApi<S>, unit: &str) -> Result<Contacts> {
    if api.store.get_unit(unit).await?.is_none() {
        return Err(LocalitiesError::NotFound(format!("units/{unit}")));
    }
    Ok(api
        .store
        .get_contacts(unit)
        .await?
        .unwrap_or_else(|| Contacts {
            unit_id: unit.to_string(),
            ..Default::default()
        }))
}

pub(super) async fn get<S: LocalityStore>(
    api: &LocalitiesApi<S>,
    caller: &Caller,
    name: &str,
) -> Result<pb::Contacts> {
    let unit = contacts_unit(name)?;
    let contacts = current(api, unit).await?;
    Ok(contacts_to_pb(contacts, may_see_secrets(caller, unit)))
}

pub(super) async fn update<S: LocalityStore>(
    api: &LocalitiesApi<S>,
    grant: &Grant,
    req: &pb::UpdateContactsRequest,
) -> Result<pb::Contacts> {
    let patch = req
        .contacts
        .as_ref()
        .ok_or_else(|| LocalitiesError::invalid("contacts", "is required"))?;
    let unit = contacts_unit(&patch.name).map_err(|_| {
        LocalitiesError::invalid("contacts.name", "must be like units/p01/contacts")
    })?;
    grant
        .check_unit(unit)
        .map_err(LocalitiesError::PermissionDenied)?;
    let caller: &Caller = grant;
    let m = api.mutation(caller, "UpdateContacts", &req.request_id)?;
    if api.replay(&m).await?.is_some() {
        return Ok(contacts_to_pb(current(api, unit).await?, true));
    }
    let mut contacts = current(api, unit).await?;
    let before = contacts.clone();
    let etag = format!("\"{}\"", contacts.version);
    if !patch.etag.is_empty() && patch.etag != etag {
        return Err(LocalitiesError::Aborted(patch.name.clone(), etag));
    }
    let webhook = patch.webhook.clone().unwrap_or_default();
    let email = patch.email.clone().unwrap_or_default();
    let mut paths: Vec<String> = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.clone())
        .unwrap_or_default();
    if paths.is_empty() {
        // AIP-134: without a mask, replace the sections the request carries.
        paths.extend(patch.webhook.as_ref().map(|_| "webhook".to_string()));
        paths.extend(patch.email.as_ref().map(|_| "email".to_string()));
    }
    for path in &paths {
        match path.as_str() {
            "webhook" => {
                contacts.webhook_url = webhook.url.trim().to_string();
                contacts.webhook_enabled = webhook.enabled;
                contacts.webhook_secrets = webhook.secrets.clone();
            }
            "webhook.url" => contacts.webhook_url = webhook.url.trim().to_string(),
            "webhook.enabled" => contacts.webhook_enabled = webhook.enabled,
            "webhook.secrets" => contacts.webhook_secrets = webhook.secrets.clone(),
            "email" => {
                contacts.email_addresses = email.addresses.clone();
                contacts.email_enabled = email.enabled;
            }
            "email.addresses" => contacts.email_addresses = email.addresses.clone(),
            "email.enabled" => contacts.email_enabled = email.enabled,
            other => {
                return Err(LocalitiesError::invalid(
                    "update_mask",
                    format!("{other:?} is not a contacts field"),
                ));
            }
        }
    }
    contacts
        .validate_change(&before, &api.egress)
        .map_err(|(field, message)| LocalitiesError::invalid(field, message))?;
    let written = api.store.put_contacts(&contacts, &m).await?;
    tracing::info!(unit, by = %m.actor, "contacts updated");
    Ok(contacts_to_pb(written, true))
}
