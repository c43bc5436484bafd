//! Calls from one service to another: a lazily connecting channel whose
//! every request carries the internal credential and the current trace
//! context, and no end-caller identity (the callee sees a service caller).

use crate::identity::INTERNAL_TOKEN_HEADER;
use tonic::{
    metadata::{Ascii, MetadataValue},
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

/// Adds the internal credential and trace context to each call.
#[derive(Clone)]
pub struct MeshInterceptor {
    token: MetadataValue<Ascii>,
}

impl tonic::service::Interceptor for MeshInterceptor {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let mut request = crate::trace_context::propagate(request)?;
        request
            .metadata_mut()
            .insert(INTERNAL_TOKEN_HEADER, self.token.clone());
        Ok(request)
    }
}

/// A channel to another service.
pub type InternalChannel = InterceptedService<Channel, MeshInterceptor>;

/// Why an internal channel could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not usable.
    #[error("bad service url {0:?}: {1}")]
    Url(String, String),
    /// The token cannot be sent as metadata.
    #[error("the internal token has characters a header cannot carry")]
    Token,
}

/// A channel to the service at `url` that connects on first use, so
/// services may start in any order.
pub fn internal(url: &str, token: &str) -> Result<InternalChannel, ClientError> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| ClientError::Url(url.to_string(), e.to_string()))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(30))
        .tcp_nodelay(true);
    let token = token.parse().map_err(|_| ClientError::Token)?;
    Ok(InterceptedService::new(
        endpoint.connect_lazy(),
        MeshInterceptor { token },
    ))
}
