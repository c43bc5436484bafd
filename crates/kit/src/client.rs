//! Calls from one service to another: a lazily connecting channel whose
//! every request carries the internal credential and a CLIENT span's trace
//! context, and no end-caller identity (the callee sees a service caller).
//! Each call is observed to the end of its response stream (span status,
//! `rpc.client.call.duration`), see [`crate::rpc`].

use crate::{identity::INTERNAL_TOKEN_HEADER, rpc::ClientCall};
use futures::future::BoxFuture;
use http::HeaderValue;
use std::task::{Context, Poll};
use tonic::{
    body::Body,
    transport::{Channel, Endpoint},
};
use tower::Service;

/// A channel to another service.
#[derive(Clone, Debug)]
pub struct InternalChannel {
    component: &'static str,
    channel: Channel,
    token: HeaderValue,
}

impl Service<http::Request<Body>> for InternalChannel {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.channel.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let call = ClientCall::start(self.component, &mut request, None);
        request
            .headers_mut()
            .insert(INTERNAL_TOKEN_HEADER, self.token.clone());
        Box::pin(call.run(self.channel.call(request)))
    }
}

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

/// A channel from `component` ("tasks") to the service at `url` that
/// connects on first use, so services may start in any order.
pub fn internal(
    component: &'static str,
    url: &str,
    token: &str,
) -> Result<InternalChannel, ClientError> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| ClientError::Url(url.to_string(), e.to_string()))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(30))
        .tcp_nodelay(true);
    let mut token = HeaderValue::try_from(token).map_err(|_| ClientError::Token)?;
    token.set_sensitive(true);
    Ok(InternalChannel {
        component,
        channel: endpoint.connect_lazy(),
        token,
    })
}
