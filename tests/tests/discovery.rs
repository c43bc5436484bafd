//! What grpcurl and other generic tools need from the gateway: server
//! reflection (v1 and v1alpha) listing every public service, and gRPC
//! health for each of them — both without an API key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06_tests::TestStack;
use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const PUBLIC: &[&str] = &[
    "p06.localities.v1.Localities",
    "p06.gateway.v1.Access",
    "grpc.health.v1.Health",
];

#[tokio::test]
async fn reflection_v1_lists_every_public_service() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let stack = TestStack::start().await;
    let mut client = ServerReflectionClient::new(stack.channel(None).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in PUBLIC {
        assert!(
            names.iter().any(|n| n == service),
            "{service} missing from {names:?}"
        );
    }
    // The descriptors resolve, so tools can build requests.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "p06.localities.v1.Localities".into(),
        )),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected descriptors");
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

#[tokio::test]
async fn reflection_v1alpha_serves_older_tools() {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let stack = TestStack::start().await;
    let mut client = ServerReflectionClient::new(stack.channel(None).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "p06.localities.v1.Localities")
    );
}

#[tokio::test]
async fn health_reports_each_public_service() {
    let stack = TestStack::start().await;
    let mut health = HealthClient::new(stack.channel(None).await);
    for service in ["", "p06.gateway.v1.Access"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    // The upstream's status is learnt from its own health; watch until it is SERVING.
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "p06.localities.v1.Localities".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let serving = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(Ok(update)) = watch.next().await {
            if update.status == ServingStatus::Serving as i32 {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        serving,
        Ok(true),
        "localities reported SERVING through the gateway"
    );
}
