//! gRPC clients of the gateway for the CLI: a channel and an interceptor
//! that adds `authorization: Bearer …`.

use crate::cli::ClientArgs;
use anyhow::Context as _;
use tonic::{
    metadata::MetadataValue,
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

/// A channel to the gateway with the caller's key.
pub type GatewayChannel = InterceptedService<Channel, Bearer>;

/// Connects to the gateway named in `args`.
pub async fn connect(args: &ClientArgs) -> anyhow::Result<GatewayChannel> {
    let channel = Endpoint::from_shared(args.gateway.clone())
        .with_context(|| format!("bad gateway url {:?}", args.gateway))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| {
            format!(
                "cannot reach the gateway at {} (is `p06 up` running?)",
                args.gateway
            )
        })?;
    let bearer = match &args.key {
        Some(key) => Some(
            format!("Bearer {key}")
                .parse()
                .context("the API key has characters a header cannot carry")?,
        ),
        None => None,
    };
    Ok(InterceptedService::new(channel, Bearer(bearer)))
}

/// Turns a gRPC error into a one-line message with the code.
pub fn describe(status: tonic::Status) -> anyhow::Error {
    let field = p06_kit::errors::violation(&status)
        .map(|(f, _)| format!(" (field {f})"))
        .unwrap_or_default();
    anyhow::anyhow!("{:?}: {}{field}", status.code(), status.message())
}
