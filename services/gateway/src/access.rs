//! The `p06.gateway.v1.Access` gRPC handlers: proto ↔ domain conversion
//! around [`Keys`]. Every method but WhoAmI needs an ADMIN key; the
//! dispatcher authenticated the caller, checked its role against the access
//! table and put a [`Grant`] and a [`Verified`] in the request extensions.

use crate::{
    auth::Verified,
    keys::{KeySpec, Keys, key_name},
    store::{ApiKeyRecord, Store},
};
use p06_kit::{Grant, Role};
use p06_proto::gateway::v1::{
    self as pb, ApiKey, CreateApiKeyRequest, CreateApiKeyResponse, GetApiKeyRequest,
    ListApiKeysRequest, ListApiKeysResponse, RevokeApiKeyRequest, WhoAmIRequest,
    access_server::Access,
};
use tonic::{Request, Response, Status};

/// The Access service.
#[derive(Debug, Clone)]
pub struct AccessApi {
    keys: Keys<Store>,
}

impl AccessApi {
    /// Handlers over `keys`.
    pub fn new(keys: Keys<Store>) -> Self {
        Self { keys }
    }
}

/// The caller's key name; the dispatcher has checked its role against the
/// access table.
fn caller_key<T>(request: &Request<T>) -> Result<String, Status> {
    let grant = Grant::of(request)?;
    Ok(grant.identity().map(|i| i.key.clone()).unwrap_or_default())
}

fn role_to_proto(role: Role) -> pb::Role {
    match role {
        Role::Admin => pb::Role::Admin,
        Role::Coordinator => pb::Role::Coordinator,
        Role::Unit => pb::Role::Unit,
        Role::Viewer => pb::Role::Viewer,
    }
}

fn role_from_proto(role: i32) -> Result<Role, Status> {
    match pb::Role::try_from(role) {
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Ok(pb::Role::Coordinator) => Ok(Role::Coordinator),
        Ok(pb::Role::Unit) => Ok(Role::Unit),
        Ok(pb::Role::Viewer) => Ok(Role::Viewer),
        Ok(pb::Role::Unspecified) | Err(_) => Err(p06_kit::errors::invalid_argument(
            "api_key.role",
            "must be set to ROLE_ADMIN, ROLE_COORDINATOR, ROLE_UNIT or ROLE_VIEWER",
        )),
    }
}

fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
    }
}

fn to_proto(key: &ApiKeyRecord) -> ApiKey {
    ApiKey {
        name: key_name(&key.id),
        display_name: key.display_name.clone(),
        unit: key.unit.clone(),
        role: role_to_proto(key.role) as i32,
        create_time: Some(timestamp(key.create_time)),
        revoke_time: key.revoke_time.map(timestamp),
        creator: key.creator.clone(),
    }
}

#[tonic::async_trait]
impl Access for AccessApi {
    async fn create_api_key(
        &self,
        request: Request<CreateApiKeyRequest>,
    ) -> Result<Response<CreateApiKeyResponse>, Status> {
        let creator = caller_key(&request)?;
        let request = request.into_inner();
        let key = request
            .api_key
            .ok_or_else(|| p06_kit::errors::invalid_argument("api_key", "is required"))?;
        let spec = KeySpec {
            display_name: key.display_name,
            unit: key.unit,
            role: role_from_proto(key.role)?,
        };
        let created = self
            .keys
            .create(spec, &creator, &request.request_id)
            .await?;
        Ok(Response::new(CreateApiKeyResponse {
            api_key: Some(to_proto(&created.key)),
            secret: created.token,
        }))
    }

    async fn get_api_key(
        &self,
        request: Request<GetApiKeyRequest>,
    ) -> Result<Response<ApiKey>, Status> {
        caller_key(&request)?;
        let key = self.keys.get(&request.get_ref().name).await?;
        Ok(Response::new(to_proto(&key)))
    }

    async fn list_api_keys(
        &self,
        request: Request<ListApiKeysRequest>,
    ) -> Result<Response<ListApiKeysResponse>, Status> {
        caller_key(&request)?;
        let request = request.into_inner();
        let (keys, next_page_token) = self
            .keys
            .list(request.page_size, &request.page_token, request.show_revoked)
            .await?;
        Ok(Response::new(ListApiKeysResponse {
            api_keys: keys.iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<RevokeApiKeyRequest>,
    ) -> Result<Response<ApiKey>, Status> {
        let by = caller_key(&request)?;
        let key = self.keys.revoke(&request.get_ref().name, &by).await?;
        Ok(Response::new(to_proto(&key)))
    }

    async fn who_am_i(
        &self,
        request: Request<WhoAmIRequest>,
    ) -> Result<Response<pb::Identity>, Status> {
        let verified = request
            .extensions()
            .get::<Verified>()
            .ok_or_else(|| Status::unauthenticated("missing caller identity"))?;
        Ok(Response::new(pb::Identity {
            api_key: verified.identity.key.clone(),
            unit: verified.identity.unit.clone(),
            role: role_to_proto(verified.identity.role) as i32,
            display_name: verified.display_name.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(
            timestamp(1_500_001),
            prost_types::Timestamp {
                seconds: 1,
                nanos: 500_001_000
            }
        );
        assert_eq!(
            timestamp(-1),
            prost_types::Timestamp {
                seconds: -1,
                nanos: 999_999_000
            }
        );
        for role in [Role::Admin, Role::Coordinator, Role::Unit, Role::Viewer] {
            assert_eq!(role_from_proto(role_to_proto(role) as i32).ok(), Some(role));
        }
        assert_eq!(
            role_from_proto(0).err().map(|s| s.code()),
            Some(tonic::Code::InvalidArgument)
        );
        assert_eq!(
            role_from_proto(42).err().map(|s| s.code()),
            Some(tonic::Code::InvalidArgument)
        );
    }
}
