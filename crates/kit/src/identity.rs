//! Caller identity inside the service mesh.
//!
//! The gateway verifies API keys and forwards the caller as `x-p06-caller-*`
//! metadata, together with the shared internal credential
//! (`x-p06-internal-token`). Services accept only calls that carry that
//! credential ([`InternalAuthLayer`]) and read the identity from the request
//! extensions as a [`Caller`]. Callers never set these headers themselves:
//! the gateway strips every `x-p06-` header it receives.

use crate::rpc::CallerSlot;
use http::{HeaderMap, HeaderValue, Request, Response};
use std::{
    fmt,
    str::FromStr,
    sync::Arc,
    task::{Context, Poll},
};
use subtle::ConstantTimeEq;
use tonic::{Status, body::Body};
use tower::{Layer, Service};

/// Prefix of every header that only the mesh may set.
pub const MESH_HEADER_PREFIX: &str = "x-p06-";
/// The shared internal credential.
pub const INTERNAL_TOKEN_HEADER: &str = "x-p06-internal-token";
/// The verified caller's API key ("apiKeys/…").
pub const CALLER_KEY_HEADER: &str = "x-p06-caller-key";
/// The verified caller's unit ("units/…").
pub const CALLER_UNIT_HEADER: &str = "x-p06-caller-unit";
/// The verified caller's role ("ADMIN", …).
pub const CALLER_ROLE_HEADER: &str = "x-p06-caller-role";

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// Everything, including administration.
    Admin,
    /// Issues directives and assigns work.
    Coordinator,
    /// Acts for its own unit only.
    Unit,
    /// Reads only.
    Viewer,
}

impl Role {
    /// The role's name as carried in metadata and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Coordinator => "COORDINATOR",
            Role::Unit => "UNIT",
            Role::Viewer => "VIEWER",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().trim_start_matches("ROLE_") {
            "ADMIN" => Ok(Role::Admin),
            "COORDINATOR" => Ok(Role::Coordinator),
            "UNIT" => Ok(Role::Unit),
            "VIEWER" => Ok(Role::Viewer),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// A verified end caller: the API key, the unit it acts for, its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// "apiKeys/{id}".
    pub key: String,
    /// "units/{id}".
    pub unit: String,
    /// What the key may do.
    pub role: Role,
}

/// Who is calling a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An end caller, verified by the gateway.
    User(Identity),
    /// Another p06 service acting on its own behalf.
    Service,
}

impl Caller {
    /// The caller of a request that passed [`InternalAuthLayer`].
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Caller, Status> {
        request
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Status::unauthenticated("missing caller identity"))
    }

    /// The end caller's identity, if any.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Caller::User(identity) => Some(identity),
            Caller::Service => None,
        }
    }

    /// Who made a change, for audit logs: the API key, or "service".
    pub fn actor(&self) -> String {
        self.identity()
            .map_or_else(|| "service".to_string(), |i| i.key.clone())
    }

    /// The caller's request id scoped to the caller (two callers may pick
    /// the same one): `None` when empty; INVALID_ARGUMENT on `request_id`
    /// when longer than 128 characters.
    pub fn scoped_request_id(&self, request_id: &str) -> Result<Option<String>, Status> {
        if request_id.len() > 128 {
            return Err(crate::errors::invalid_argument(
                "request_id",
                "must be at most 128 characters",
            ));
        }
        Ok(Some(request_id)
            .filter(|r| !r.is_empty())
            .map(|r| format!("{}/{r}", self.actor())))
    }
}

/// Writes the internal credential and, when given, the verified identity.
pub fn set_mesh_headers(headers: &mut HeaderMap, token: &str, identity: Option<&Identity>) {
    headers.retain_mesh_free();
    if let Ok(v) = HeaderValue::from_str(token) {
        headers.insert(INTERNAL_TOKEN_HEADER, v);
    }
    if let Some(identity) = identity {
        for (name, value) in [
            (CALLER_KEY_HEADER, identity.key.as_str()),
            (CALLER_UNIT_HEADER, identity.unit.as_str()),
            (CALLER_ROLE_HEADER, identity.role.as_str()),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
    }
}

/// Removing caller-set mesh headers.
pub trait StripMesh {
    /// Drops every `x-p06-` header.
    fn retain_mesh_free(&mut self);
}

impl StripMesh for HeaderMap {
    fn retain_mesh_free(&mut self) {
        let names: Vec<_> = self
            .keys()
            .filter(|k| k.as_str().starts_with(MESH_HEADER_PREFIX))
            .cloned()
            .collect();
        for name in names {
            self.remove(name);
        }
    }
}

fn caller_from(headers: &HeaderMap) -> Result<Caller, Status> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let (key, unit, role) = (
        get(CALLER_KEY_HEADER),
        get(CALLER_UNIT_HEADER),
        get(CALLER_ROLE_HEADER),
    );
    if key.is_empty() && unit.is_empty() && role.is_empty() {
        return Ok(Caller::Service);
    }
    let role = role
        .parse::<Role>()
        .map_err(|e| Status::unauthenticated(format!("bad caller identity: {e}")))?;
    Ok(Caller::User(Identity {
        key: key.to_string(),
        unit: unit.to_string(),
        role,
    }))
}

/// Compares two secrets in constant time.
pub fn secrets_match(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// Refuses calls without the internal credential, attaches the [`Caller`]
/// and checks it against the access table ([`crate::access::authorize`]),
/// attaching the [`crate::Grant`] the handlers use for unit checks; health
/// checks pass without either so probes need no secret.
#[derive(Clone)]
pub struct InternalAuthLayer {
    token: Arc<str>,
}

impl InternalAuthLayer {
    /// Expects `token` on every call.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self {
            token: token.into(),
        }
    }
}

impl<S> Layer<S> for InternalAuthLayer {
    type Service = InternalAuth<S>;
    fn layer(&self, inner: S) -> Self::Service {
        InternalAuth {
            inner,
            token: self.token.clone(),
        }
    }
}

/// The service made by [`InternalAuthLayer`].
#[derive(Clone)]
pub struct InternalAuth<S> {
    inner: S,
    token: Arc<str>,
}

impl<S> Service<Request<Body>> for InternalAuth<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future =
        futures::future::Either<S::Future, std::future::Ready<Result<Response<Body>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        use futures::future::Either;
        if req.uri().path().starts_with("/grpc.health.v1.Health/") {
            req.extensions_mut().insert(Caller::Service);
            return Either::Left(self.inner.call(req));
        }
        let given = req
            .headers()
            .get(INTERNAL_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !secrets_match(given, &self.token) {
            tracing::warn!(
                path = req.uri().path(),
                "refused call without internal credential"
            );
            let status = Status::unauthenticated(
                "this service accepts calls only through the p06 gateway (missing or wrong internal credential)",
            );
            return Either::Right(std::future::ready(Ok(status.into_http())));
        }
        let granted = caller_from(req.headers()).and_then(|caller| {
            if let (Some(identity), Some(slot)) =
                (caller.identity(), req.extensions().get::<CallerSlot>())
            {
                slot.fill(identity);
            }
            let grant = crate::access::authorize(&caller, req.uri().path())?;
            Ok((caller, grant))
        });
        match granted {
            Ok((caller, grant)) => {
                req.extensions_mut().insert(caller);
                req.extensions_mut().insert(grant);
                Either::Left(self.inner.call(req))
            }
            Err(status) => Either::Right(std::future::ready(Ok(status.into_http()))),
        }
    }
}
