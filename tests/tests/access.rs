//! The access table against the running system: every RPC the gateway's
//! reflection lists has exactly one rule (and every rule an RPC), and every
//! RPC called through the gateway as every kind of caller — no key, a bad
//! key, a revoked key, a UNIT key on its own unit and on another, VIEWER,
//! COORDINATOR, ADMIN — is refused or let through as the table says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::uri::PathAndQuery;
use p06_kit::{Role, access};
use p06_proto::{
    gateway::v1 as g, localities::v1 as loc, notifications::v1 as notif, tasks::v1 as tasks,
};
use p06_tests::{Backend, TestStack, raw::Raw};
use prost::Message;
use std::collections::BTreeMap;
use tokio_stream::StreamExt;
use tonic::{Code, Request};

/// Every method of every p06 service, from the gateway's reflection:
/// gRPC path → whether it answers with a stream.
async fn reflected_methods(stack: &TestStack) -> BTreeMap<String, bool> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut client = ServerReflectionClient::new(stack.channel(None).await);
    let ask = |message| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(message),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([ask(MessageRequest::ListServices(
            String::new(),
        ))]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let services: Vec<String> = list
        .service
        .into_iter()
        .map(|s| s.name)
        .filter(|name| name.starts_with("p06."))
        .collect();
    assert!(services.len() >= 4, "{services:?}");
    let mut methods = BTreeMap::new();
    for service in services {
        let mut answers = client
            .server_reflection_info(tokio_stream::iter([ask(
                MessageRequest::FileContainingSymbol(service.clone()),
            )]))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::FileDescriptorResponse(files)) =
            answers.next().await.unwrap().unwrap().message_response
        else {
            panic!("expected descriptors of {service}");
        };
        for bytes in files.file_descriptor_proto {
            let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap();
            for s in &file.service {
                let full = format!("{}.{}", file.package(), s.name());
                if full != service {
                    continue;
                }
                for m in &s.method {
                    methods.insert(format!("/{full}/{}", m.name()), m.server_streaming());
                }
            }
        }
    }
    methods
}

#[tokio::test]
async fn every_reflected_rpc_has_exactly_one_rule() {
    let stack = TestStack::start().await;
    let methods = reflected_methods(&stack).await;
    let without_rule: Vec<&String> = methods
        .keys()
        .filter(|path| access::rule(path).is_none())
        .collect();
    assert!(
        without_rule.is_empty(),
        "RPCs without a rule: {without_rule:?}"
    );
    let without_rpc: Vec<&str> = access::TABLE
        .iter()
        .map(|(path, _)| *path)
        .filter(|path| !methods.contains_key(*path))
        .collect();
    assert!(
        without_rpc.is_empty(),
        "rules without an RPC: {without_rpc:?}"
    );
    assert_eq!(methods.len(), access::TABLE.len());
}

/// The unit a UNIT or VIEWER key of this test acts for.
const OWN: &str = "p01";
/// Another unit.
const OTHER: &str = "p02";

/// A request to `path` that names `unit`, for the RPCs whose rule keeps
/// some roles to their own unit and whose request names one; `None` for
/// every other RPC (an empty request is sent).
fn naming_unit(path: &str, unit: &str) -> Option<Vec<u8>> {
    let assignment = format!("tasks/t-none/assignments/{unit}");
    let notification = format!("units/{unit}/notifications/n-none");
    let method = path.rsplit('/').next().unwrap_or_default();
    Some(match method {
        "UpdateContacts" => loc::UpdateContactsRequest {
            contacts: Some(loc::Contacts {
                name: format!("units/{unit}/contacts"),
                etag: "\"999\"".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec(),
        "ListNotifications" => notif::ListNotificationsRequest {
            parent: format!("units/{unit}"),
            ..Default::default()
        }
        .encode_to_vec(),
        "GetNotification" => notif::GetNotificationRequest { name: notification }.encode_to_vec(),
        "AcknowledgeNotification" => {
            notif::AcknowledgeNotificationRequest { name: notification }.encode_to_vec()
        }
        "Subscribe" => notif::SubscribeRequest {
            unit: format!("units/{unit}"),
            after_cursor: -1,
        }
        .encode_to_vec(),
        "ListDeliveries" => notif::ListDeliveriesRequest {
            parent: format!("units/{unit}"),
            ..Default::default()
        }
        .encode_to_vec(),
        "ListDeliveryAttempts" => notif::ListDeliveryAttemptsRequest {
            parent: notification,
        }
        .encode_to_vec(),
        "GetAssignment" => tasks::GetAssignmentRequest {
            name: assignment,
            ..Default::default()
        }
        .encode_to_vec(),
        "ReportProgress" => tasks::ReportProgressRequest {
            name: assignment,
            percent: 10,
            ..Default::default()
        }
        .encode_to_vec(),
        "CompleteAssignment" => tasks::CompleteAssignmentRequest {
            name: assignment,
            ..Default::default()
        }
        .encode_to_vec(),
        "RequestExtension" => tasks::RequestExtensionRequest {
            parent: assignment,
            ..Default::default()
        }
        .encode_to_vec(),
        "ListExtensions" => tasks::ListExtensionsRequest { parent: assignment }.encode_to_vec(),
        "ListAssignmentEvents" => tasks::ListAssignmentEventsRequest {
            name: assignment,
            ..Default::default()
        }
        .encode_to_vec(),
        "GetSummary" => tasks::GetSummaryRequest {
            unit: format!("units/{unit}"),
            ..Default::default()
        }
        .encode_to_vec(),
        "RecordIndicatorValue" => tasks::RecordIndicatorValueRequest {
            value: Some(tasks::IndicatorValue {
                indicator: "indicators/i-none".into(),
                unit: format!("units/{unit}"),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec(),
        _ => return None,
    })
}

/// One kind of caller of the matrix.
#[derive(Debug, Clone, Copy)]
enum Kind {
    NoKey,
    BadKey,
    Revoked,
    UnitOwn,
    UnitOther,
    Viewer,
    Coordinator,
    Admin,
}

const KINDS: [Kind; 8] = [
    Kind::NoKey,
    Kind::BadKey,
    Kind::Revoked,
    Kind::UnitOwn,
    Kind::UnitOther,
    Kind::Viewer,
    Kind::Coordinator,
    Kind::Admin,
];

impl Kind {
    /// The key's role and unit, and the unit its requests name.
    fn who(self) -> Option<(Role, &'static str, &'static str)> {
        match self {
            Kind::NoKey | Kind::BadKey | Kind::Revoked => None,
            Kind::UnitOwn => Some((Role::Unit, OWN, OWN)),
            Kind::UnitOther => Some((Role::Unit, OWN, OTHER)),
            Kind::Viewer => Some((Role::Viewer, OWN, OWN)),
            Kind::Coordinator => Some((Role::Coordinator, "m-government-office", OWN)),
            Kind::Admin => Some((Role::Admin, "wg06", OWN)),
        }
    }
}

/// What the table says a call should meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Unauthenticated,
    Denied,
    Allowed,
}

fn verdict(kind: Kind, rule: &access::Rule, names_unit: bool) -> Verdict {
    let Some((role, own, target)) = kind.who() else {
        return Verdict::Unauthenticated;
    };
    let allowed = rule.anywhere.contains(&role)
        || (rule.own_unit.contains(&role) && (!names_unit || own == target));
    if allowed {
        Verdict::Allowed
    } else {
        Verdict::Denied
    }
}

fn observed(code: Code) -> Verdict {
    match code {
        Code::Unauthenticated => Verdict::Unauthenticated,
        Code::PermissionDenied => Verdict::Denied,
        _ => Verdict::Allowed,
    }
}

/// Calls `path` with `body` on `channel`: the answer's code (a stream
/// that opens is OK).
async fn call(
    channel: p06::client::GatewayChannel,
    path: &str,
    streaming: bool,
    body: Vec<u8>,
) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = PathAndQuery::try_from(path.to_string()).unwrap();
    let mut request = Request::new(body);
    request.set_timeout(std::time::Duration::from_secs(10));
    if streaming {
        match grpc.server_streaming(request, path, Raw).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        }
    } else {
        match grpc.unary(request, path, Raw).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        }
    }
}

#[tokio::test]
async fn every_rpc_as_every_caller_kind_meets_its_rule() {
    let gateway = p06_gateway::Config {
        rate_limit_per_second: 0,
        ..p06_gateway::Config::default()
    };
    let stack = TestStack::start_on_with(Backend::Sqlite, gateway)
        .await
        .unwrap();
    let methods = reflected_methods(&stack).await;
    let key = |unit: &str, role: g::Role| {
        let stack = &stack;
        let unit = format!("units/{unit}");
        async move { stack.key_for(&unit, role).await }
    };
    let unit_key = key(OWN, g::Role::Unit).await;
    let viewer_key = key(OWN, g::Role::Viewer).await;
    let coordinator_key = key("m-government-office", g::Role::Coordinator).await;
    let admin_key = key("wg06", g::Role::Admin).await;
    let revoked_key = key(OWN, g::Role::Unit).await;
    let mut admin = stack.access(&admin_key).await;
    let revoked_name = stack
        .access(&revoked_key)
        .await
        .who_am_i(g::WhoAmIRequest {})
        .await
        .unwrap()
        .into_inner()
        .api_key;
    admin
        .revoke_api_key(g::RevokeApiKeyRequest { name: revoked_name })
        .await
        .unwrap();
    let bad_key = "p06_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string();
    let key_of = |kind: Kind| -> Option<&str> {
        match kind {
            Kind::NoKey => None,
            Kind::BadKey => Some(&bad_key),
            Kind::Revoked => Some(&revoked_key),
            Kind::UnitOwn | Kind::UnitOther => Some(&unit_key),
            Kind::Viewer => Some(&viewer_key),
            Kind::Coordinator => Some(&coordinator_key),
            Kind::Admin => Some(&admin_key),
        }
    };
    let mut channels = Vec::new();
    for kind in KINDS {
        channels.push(stack.channel(key_of(kind)).await);
    }

    let mut calls = 0;
    let mut mismatches = Vec::new();
    for (path, streaming) in &methods {
        let rule = access::rule(path).expect("every RPC has a rule");
        for (kind, channel) in KINDS.iter().zip(&channels) {
            let target = kind.who().map_or(OWN, |(_, _, target)| target);
            let (body, names_unit) = match naming_unit(path, target) {
                Some(body) => (body, true),
                None => (Vec::new(), false),
            };
            let expected = verdict(*kind, rule, names_unit);
            let code = call(channel.clone(), path, *streaming, body).await;
            calls += 1;
            if observed(code) != expected {
                mismatches.push(format!(
                    "{path} as {kind:?}: {code:?}, table says {expected:?}"
                ));
            }
        }
    }
    assert_eq!(calls, methods.len() * KINDS.len());
    assert!(
        mismatches.is_empty(),
        "{} of {calls} calls disagree with the table:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
