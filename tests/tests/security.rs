//! The security model end to end: API keys at the gateway, roles, revocation,
//! forged identity headers, and services that refuse calls that did not come
//! through the gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06_proto::{
    gateway::v1::{self as g, Role},
    localities::v1::{self as pb, localities_client::LocalitiesClient},
};
use p06_tests::TestStack;
use tonic::{Code, Request};

fn new_unit_request(code: &str) -> pb::CreateUnitRequest {
    pb::CreateUnitRequest {
        unit: Some(pb::Unit {
            code: code.into(),
            kind: pb::UnitKind::GovernmentAgency as i32,
            display_name: "Cơ quan kiểm thử".into(),
            supervisor: "units/wg06".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn keys_are_required_and_revocable() {
    let stack = TestStack::start().await;
    // No key at all.
    let mut anonymous = LocalitiesClient::new(stack.channel(None).await);
    let err = anonymous
        .get_unit(pb::GetUnitRequest {
            name: "units/p01".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    // A key that was never issued.
    let mut stranger = stack
        .localities("p06_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(
        stranger
            .get_unit(pb::GetUnitRequest {
                name: "units/p01".into()
            })
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );

    // A UNIT key works until revoked.
    let secret = stack.key_for("units/p01", Role::Unit).await;
    let mut unit = stack.localities(&secret).await;
    unit.get_unit(pb::GetUnitRequest {
        name: "units/p01".into(),
    })
    .await
    .unwrap();
    let me = stack
        .access(&secret)
        .await
        .who_am_i(g::WhoAmIRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (me.unit.as_str(), me.role),
        ("units/p01", Role::Unit as i32)
    );
    let mut admin = stack.access(&stack.admin_key).await;
    admin
        .revoke_api_key(g::RevokeApiKeyRequest {
            name: me.api_key.clone(),
        })
        .await
        .unwrap();
    let err = unit
        .get_unit(pb::GetUnitRequest {
            name: "units/p01".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
}

#[tokio::test]
async fn roles_limit_what_a_key_may_do() {
    let stack = TestStack::start().await;
    let unit_key = stack.key_for("units/p01", Role::Unit).await;
    let err = stack
        .localities(&unit_key)
        .await
        .create_unit(new_unit_request("KT1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let viewer = stack.key_for("units/wg06", Role::Viewer).await;
    let err = stack
        .localities(&viewer)
        .await
        .create_unit(new_unit_request("KT1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Key management is for ADMIN keys only.
    let request = g::CreateApiKeyRequest {
        api_key: Some(g::ApiKey {
            unit: "units/p01".into(),
            role: Role::Admin as i32,
            ..Default::default()
        }),
        request_id: String::new(),
    };
    assert_eq!(
        stack
            .access(&unit_key)
            .await
            .create_api_key(request)
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    // The ADMIN key may.
    let created = stack
        .localities(&stack.admin_key)
        .await
        .create_unit(new_unit_request("KT1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "units/g-kt1");
}

#[tokio::test]
async fn caller_identity_headers_are_ignored() {
    let stack = TestStack::start().await;
    let unit_key = stack.key_for("units/p01", Role::Unit).await;
    let forge = |mut request: Request<pb::CreateUnitRequest>| {
        let m = request.metadata_mut();
        m.insert("x-p06-caller-role", "ADMIN".parse().unwrap());
        m.insert("x-p06-caller-unit", "units/wg06".parse().unwrap());
        m.insert("x-p06-caller-key", "apiKeys/forged".parse().unwrap());
        m.insert("x-p06-internal-token", "guess".parse().unwrap());
        request
    };
    let err = stack
        .localities(&unit_key)
        .await
        .create_unit(forge(Request::new(new_unit_request("KT2"))))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "forged headers must not grant ADMIN: {err:?}"
    );
    let mut who = Request::new(g::WhoAmIRequest {});
    who.metadata_mut()
        .insert("x-p06-caller-role", "ADMIN".parse().unwrap());
    let me = stack
        .access(&unit_key)
        .await
        .who_am_i(who)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.role, Role::Unit as i32);
}

#[tokio::test]
async fn services_refuse_calls_that_bypass_the_gateway() {
    let stack = TestStack::start().await;
    let url = format!("http://{}", stack.stack().localities_addr);
    let mut direct = LocalitiesClient::connect(url).await.unwrap();
    // Even with a valid ADMIN bearer and forged identity headers.
    let mut request = Request::new(pb::GetUnitRequest {
        name: "units/p01".into(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", stack.admin_key).parse().unwrap(),
    );
    request
        .metadata_mut()
        .insert("x-p06-caller-role", "ADMIN".parse().unwrap());
    let err = direct.get_unit(request).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(err.message().contains("gateway"), "{}", err.message());
    // With the internal credential it answers: the refusal is the credential check.
    let mut request = Request::new(pb::GetUnitRequest {
        name: "units/p01".into(),
    });
    request.metadata_mut().insert(
        "x-p06-internal-token",
        stack.stack().internal_token.parse().unwrap(),
    );
    direct.get_unit(request).await.unwrap();
}
