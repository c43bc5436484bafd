//! The gRPC surface of `p06.notifications.v1`: thin handlers that check the
//! caller, validate input, and call the store or the engine.

pub mod convert;
mod inbox;
mod policies;

use crate::{
    engine::Engine,
    error::{NotificationsError, Result},
    store::{Mutation, NotificationStore},
};
use p06_kit::{Caller, Grant, Shutdown};
use p06_proto::notifications::v1::{self as pb, notifications_server::Notifications};
use std::{pin::Pin, sync::Arc};
use tonic::{Request, Response, Status};

/// The service implementation.
pub struct NotificationsApi<S> {
    engine: Arc<Engine<S>>,
    shutdown: Shutdown,
}

impl<S: NotificationStore> NotificationsApi<S> {
    /// Serves the engine's data.
    pub fn new(engine: Arc<Engine<S>>, shutdown: Shutdown) -> Self {
        Self { engine, shutdown }
    }

    fn mutation(
        &self,
        caller: &Caller,
        method: &'static str,
        request_id: &str,
    ) -> Result<Mutation> {
        Ok(Mutation {
            actor: caller.actor(),
            method,
            request_id: caller.scoped_request_id(request_id)?,
            at_ms: self.engine.now().timestamp_millis(),
        })
    }
}

/// The unit id of "units/{id}"; `None` for "units/-".
fn parent_unit(field: &str, parent: &str) -> Result<Option<String>> {
    match parent.strip_prefix("units/") {
        Some("-") => Ok(None),
        Some(id) if p06_kit::text::is_resource_id(id) => Ok(Some(id.to_string())),
        _ => Err(NotificationsError::invalid(
            field,
            format!("must be \"units/{{unit_id}}\" or \"units/-\", got {parent:?}"),
        )),
    }
}

/// The units a caller may read: a UNIT key only its own (whatever it
/// asked for when it asked for every unit), per the access table.
fn readable(caller: &Grant, wanted: Option<String>) -> Result<Option<String>> {
    match (caller.reach().unit(), wanted) {
        (Some(own), None) => Ok(Some(own.to_string())),
        (_, Some(unit)) => {
            check_unit(caller, &unit)?;
            Ok(Some(unit))
        }
        (None, None) => Ok(None),
    }
}

/// (unit, id) of "units/{unit}/notifications/{id}".
fn notification_name<'a>(field: &str, name: &'a str) -> Result<(&'a str, &'a str)> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["units", unit, "notifications", id] if !unit.is_empty() && !id.is_empty() => {
            Ok((unit, id))
        }
        _ => Err(NotificationsError::invalid(
            field,
            format!("must be \"units/{{unit}}/notifications/{{id}}\", got {name:?}"),
        )),
    }
}

/// Refuses a key acting on another unit's resource where its rule keeps
/// it to its own unit.
fn check_unit(caller: &Grant, unit: &str) -> Result<()> {
    Ok(caller.check_unit(unit)?)
}

type Stream<T> = Pin<Box<dyn futures::Stream<Item = std::result::Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl<S: NotificationStore> Notifications for NotificationsApi<S> {
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> std::result::Result<Response<pb::ListNotificationsResponse>, Status> {
        let caller = Grant::of(&request)?;
        Ok(Response::new(
            inbox::list(self, caller, request.get_ref()).await?,
        ))
    }

    async fn get_notification(
        &self,
        request: Request<pb::GetNotificationRequest>,
    ) -> std::result::Result<Response<pb::Notification>, Status> {
        let caller = Grant::of(&request)?;
        Ok(Response::new(
            inbox::get(self, caller, &request.get_ref().name).await?,
        ))
    }

    async fn acknowledge_notification(
        &self,
        request: Request<pb::AcknowledgeNotificationRequest>,
    ) -> std::result::Result<Response<pb::Notification>, Status> {
        let caller = Grant::of(&request)?;
        Ok(Response::new(
            inbox::acknowledge(self, caller, &request.get_ref().name).await?,
        ))
    }

    type SubscribeStream = Stream<pb::Notification>;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> std::result::Result<Response<Self::SubscribeStream>, Status> {
        let caller = Grant::of(&request)?;
        Ok(Response::new(inbox::subscribe(
            self,
            caller,
            request.get_ref(),
        )?))
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> std::result::Result<Response<pb::ListDeliveriesResponse>, Status> {
        let caller = Grant::of(&request)?;
        Ok(Response::new(
            inbox::deliveries(self, caller, request.get_ref()).await?,
        ))
    }

    async fn list_delivery_attempts(
        &self,
        request: Request<pb::ListDeliveryAttemptsRequest>,
    ) -> std::result::Result<Response<pb::ListDeliveryAttemptsResponse>, Status> {
        let caller = Grant::of(&request)?;
        Ok(Response::new(
            inbox::attempts(self, caller, &request.get_ref().parent).await?,
        ))
    }

    async fn redrive_delivery(
        &self,
        request: Request<pb::RedriveDeliveryRequest>,
    ) -> std::result::Result<Response<pb::Delivery>, Status> {
        let caller = Grant::of(&request)?;
        Ok(Response::new(
            inbox::redrive(self, caller, &request.get_ref().name).await?,
        ))
    }

    async fn create_policy(
        &self,
        request: Request<pb::CreatePolicyRequest>,
    ) -> std::result::Result<Response<pb::Policy>, Status> {
        let caller = Grant::of(&request)?;
        Ok(Response::new(
            policies::create(self, caller, request.get_ref()).await?,
        ))
    }

    async fn get_policy(
        &self,
        request: Request<pb::GetPolicyRequest>,
    ) -> std::result::Result<Response<pb::Policy>, Status> {
        Grant::of(&request)?;
        Ok(Response::new(
            policies::get(self, &request.get_ref().name).await?,
        ))
    }

    async fn list_policies(
        &self,
        request: Request<pb::ListPoliciesRequest>,
    ) -> std::result::Result<Response<pb::ListPoliciesResponse>, Status> {
        Grant::of(&request)?;
        Ok(Response::new(
            policies::list(self, request.get_ref()).await?,
        ))
    }

    async fn update_policy(
        &self,
        request: Request<pb::UpdatePolicyRequest>,
    ) -> std::result::Result<Response<pb::Policy>, Status> {
        let caller = Grant::of(&request)?;
        Ok(Response::new(
            policies::update(self, caller, request.get_ref()).await?,
        ))
    }

    async fn delete_policy(
        &self,
        request: Request<pb::DeletePolicyRequest>,
    ) -> std::result::Result<Response<pb::DeletePolicyResponse>, Status> {
        let caller = Grant::of(&request)?;
        policies::delete(self, caller, request.get_ref()).await?;
        Ok(Response::new(pb::DeletePolicyResponse {}))
    }
}
