//! The gateway's own surface over a real listener: the Access API, API key
//! authentication and roles, health and reflection without a key, and calls
//! for services that are not routed.
#![allow(clippy::unwrap_used)]

mod common;

use common::{App, authed, to_path};
use p06_proto::{
    gateway::v1::{
        ApiKey, CreateApiKeyRequest, ListApiKeysRequest, RevokeApiKeyRequest, Role, WhoAmIRequest,
        access_client::AccessClient,
    },
    localities::v1::{GetUnitRequest, localities_client::LocalitiesClient},
};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// A sealing key (the base64 of 32 bytes).
const SEALING_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// The sealed secrets kept for retries, straight from the database.
async fn kept_secrets(app: &App) -> Vec<String> {
    let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
    let kept = sqlx::query_scalar("SELECT sealed_secret FROM create_requests")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    kept
}

/// What follows "p06_<key id>_" in a token.
fn secret_part(token: &str) -> &str {
    token.rsplit('_').next().unwrap()
}

#[tokio::test]
async fn retried_creates_return_the_secret_only_when_sealed_with_the_gateway_key() {
    // Sealed: the retry gets the same token; the table holds no secret.
    let app = App::start(|c| c.secret_sealing_key = SEALING_KEY.into()).await;
    let mut access = AccessClient::new(app.channel.clone());
    let first = access
        .create_api_key(authed(unit_key("units/p01", "seal-1"), &app.admin))
        .await
        .unwrap()
        .into_inner();
    let again = access
        .create_api_key(authed(unit_key("units/p01", "seal-1"), &app.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.secret, first.secret);
    let kept = kept_secrets(&app).await;
    assert_eq!(kept.len(), 1);
    assert!(kept[0].starts_with("v1."), "{kept:?}");
    assert!(!kept[0].contains(secret_part(&first.secret)), "{kept:?}");
    let mut kept = app.stop_keeping_data().await;

    // The same database without the sealing key (or with another): the
    // retry returns the same key, documented as without its secret.
    for setting in ["", "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="] {
        let app = App::start_on(kept, |c| c.secret_sealing_key = setting.into()).await;
        let mut access = AccessClient::new(app.channel.clone());
        let replayed = access
            .create_api_key(authed(unit_key("units/p01", "seal-1"), &app.admin))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            replayed.api_key.unwrap().name,
            first.api_key.clone().unwrap().name
        );
        assert_eq!(replayed.secret, "", "sealing key {setting:?}");
        kept = app.stop_keeping_data().await;
    }
    drop(kept);

    // Without a sealing key nothing is kept at all.
    let app = App::start(|_| {}).await;
    let mut access = AccessClient::new(app.channel.clone());
    let created = access
        .create_api_key(authed(unit_key("units/p02", "plain-1"), &app.admin))
        .await
        .unwrap()
        .into_inner();
    assert!(created.secret.starts_with("p06_"));
    assert_eq!(kept_secrets(&app).await, vec![String::new()]);
    app.stop().await;

    // A malformed sealing key stops the gateway at start with a clear error.
    let error = p06_gateway::seal::Sealer::from_setting("short").unwrap_err();
    assert!(error.to_string().contains("secret_sealing_key"), "{error}");
}

fn unit_key(unit: &str, request_id: &str) -> CreateApiKeyRequest {
    CreateApiKeyRequest {
        api_key: Some(ApiKey {
            display_name: "Sở Công an".into(),
            unit: unit.into(),
            role: Role::Unit as i32,
            ..ApiKey::default()
        }),
        request_id: request_id.into(),
    }
}

#[tokio::test]
async fn keys_identity_and_roles() {
    let app = App::start(|c| c.secret_sealing_key = SEALING_KEY.into()).await;
    let mut access = AccessClient::new(app.channel.clone());

    let me = access
        .who_am_i(authed(WhoAmIRequest {}, &app.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((me.unit.as_str(), me.role()), ("units/wg06", Role::Admin));
    assert_eq!(me.display_name, "bootstrap admin");

    let created = access
        .create_api_key(authed(unit_key("units/p01", "r1"), &app.admin))
        .await
        .unwrap()
        .into_inner();
    let key = created.api_key.unwrap();
    assert!(created.secret.starts_with("p06_"));
    assert_eq!(key.creator, me.api_key);
    let retried = access
        .create_api_key(authed(unit_key("units/p01", "r1"), &app.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (retried.api_key.unwrap().name, retried.secret.as_str()),
        (key.name.clone(), created.secret.as_str())
    );

    let unit = access
        .who_am_i(authed(WhoAmIRequest {}, &created.secret))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (unit.api_key.as_str(), unit.unit.as_str(), unit.role()),
        (key.name.as_str(), "units/p01", Role::Unit)
    );

    // A UNIT key may not administer keys, whatever mesh headers it forges.
    let mut forged = authed(unit_key("units/p02", ""), &created.secret);
    forged
        .metadata_mut()
        .insert("x-p06-caller-role", "ADMIN".parse().unwrap());
    forged
        .metadata_mut()
        .insert("x-p06-internal-token", "guess".parse().unwrap());
    let denied = access.create_api_key(forged).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

    let mut no_role = unit_key("units/p02", "");
    no_role.api_key.as_mut().unwrap().role = Role::Unspecified as i32;
    let invalid = access
        .create_api_key(authed(no_role, &app.admin))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(common::bad_field(&invalid).as_deref(), Some("api_key.role"));
    let invalid = access
        .create_api_key(authed(unit_key("p02", ""), &app.admin))
        .await
        .unwrap_err();
    assert_eq!(common::bad_field(&invalid).as_deref(), Some("api_key.unit"));

    let missing = access.who_am_i(WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(
        missing.message().contains("missing bearer token"),
        "{}",
        missing.message()
    );
    let bogus = access
        .who_am_i(authed(WhoAmIRequest {}, "p06_nonsense"))
        .await
        .unwrap_err();
    assert_eq!(bogus.code(), Code::Unauthenticated);

    let listed = access
        .list_api_keys(authed(
            ListApiKeysRequest {
                page_size: 1,
                ..Default::default()
            },
            &app.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.api_keys.len(), 1);
    assert!(!listed.next_page_token.is_empty());

    let revoke = RevokeApiKeyRequest {
        name: key.name.clone(),
    };
    let revoked = access
        .revoke_api_key(authed(revoke.clone(), &app.admin))
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoke_time.is_some());
    let again = access
        .revoke_api_key(authed(revoke, &app.admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.revoke_time, revoked.revoke_time);
    let refused = access
        .who_am_i(authed(WhoAmIRequest {}, &created.secret))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(
        refused.message().contains("api key revoked"),
        "{}",
        refused.message()
    );
    let unknown = RevokeApiKeyRequest {
        name: "apiKeys/0000000000000000".into(),
    };
    assert_eq!(
        access
            .revoke_api_key(authed(unknown, &app.admin))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    let operator = p06_gateway::create_admin_key(&app.database_url, "units/wg06", "ops")
        .await
        .unwrap();
    let me = access
        .who_am_i(authed(WhoAmIRequest {}, &operator))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((me.role(), me.display_name.as_str()), (Role::Admin, "ops"));
    app.stop().await;
}

#[tokio::test]
async fn unrouted_services_fail_fast() {
    let app = App::start(|_| {}).await;
    let mut localities = LocalitiesClient::new(app.channel.clone());
    let request = GetUnitRequest {
        name: "units/p01".into(),
    };
    let status = localities
        .get_unit(authed(request.clone(), &app.admin))
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::Unavailable | Code::Unimplemented),
        "{status:?}"
    );
    assert!(
        status.message().contains("localities_url"),
        "{}",
        status.message()
    );
    let status = localities.get_unit(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let mut unknown =
        LocalitiesClient::new(to_path(app.channel.clone(), "/acme.Widgets/GetWidget"));
    let status = unknown
        .get_unit(authed(request, &app.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    app.stop().await;
}

#[tokio::test]
async fn health_and_reflection_need_no_key() {
    let app = App::start(|_| {}).await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in ["", "p06.gateway.v1.Access"] {
        let request = HealthCheckRequest {
            service: service.into(),
        };
        let response = health.check(request).await.unwrap().into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }

    use tonic_reflection::pb::{v1, v1alpha};
    let request = v1::ServerReflectionRequest {
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
        ..Default::default()
    };
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let mut stream = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        stream.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "p06.gateway.v1.Access",
        "p06.localities.v1.Localities",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }

    let request = v1alpha::ServerReflectionRequest {
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "p06.gateway.v1.Access".into(),
            ),
        ),
        ..Default::default()
    };
    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let mut stream = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap().message_response;
    assert!(
        matches!(
            response,
            Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(_))
        ),
        "{response:?}"
    );
    app.stop().await;
}
