//! Delivery contacts through the gateway: a unit sets its own endpoints,
//! secrets stay with those entitled to them, bad endpoints are refused by
//! field, and concurrent edits are caught by the etag.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06_proto::{gateway::v1::Role, localities::v1 as pb};
use p06_tests::TestStack;
use tonic::Code;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn contacts(unit: &str, url: &str, etag: &str) -> pb::UpdateContactsRequest {
    pb::UpdateContactsRequest {
        contacts: Some(pb::Contacts {
            name: format!("units/{unit}/contacts"),
            webhook: Some(pb::WebhookEndpoint {
                url: url.into(),
                enabled: true,
                secrets: vec![SECRET.into()],
            }),
            email: Some(pb::EmailEndpoint {
                addresses: vec!["so-tttt@hanoi.gov.vn".into()],
                enabled: true,
            }),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: None,
        request_id: String::new(),
    }
}

#[tokio::test]
async fn a_unit_manages_its_own_contacts() {
    let stack = TestStack::start().await;
    let hanoi = stack.key_for("units/p01", Role::Unit).await;
    let mut client = stack.localities(&hanoi).await;

    let written = client
        .update_contacts(contacts("p01", "https://hooks.hanoi.gov.vn/p06", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        written.webhook.as_ref().unwrap().secrets,
        vec![SECRET.to_string()]
    );
    assert_eq!(written.etag, "\"1\"");

    // Another unit's contacts are off limits to a UNIT key.
    let err = client
        .update_contacts(contacts("p79", "https://evil.example/", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Readers see the endpoint; only the unit, ADMIN and services see secrets.
    let viewer = stack.key_for("units/wg06", Role::Viewer).await;
    let seen = stack
        .localities(&viewer)
        .await
        .get_contacts(pb::GetContactsRequest {
            name: "units/p01/contacts".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let webhook = seen.webhook.unwrap();
    assert_eq!(
        (webhook.url.as_str(), webhook.secrets.len()),
        ("https://hooks.hanoi.gov.vn/p06", 0)
    );
    let own = client
        .get_contacts(pb::GetContactsRequest {
            name: "units/p01/contacts".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.webhook.unwrap().secrets.len(), 1);

    // Without a mask, only the sections sent are replaced.
    let email_only = pb::UpdateContactsRequest {
        contacts: Some(pb::Contacts {
            name: "units/p01/contacts".into(),
            email: Some(pb::EmailEndpoint {
                addresses: vec!["vp@hanoi.gov.vn".into()],
                enabled: true,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let written = client
        .update_contacts(email_only)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        written.webhook.clone().unwrap().url,
        "https://hooks.hanoi.gov.vn/p06",
        "webhook kept"
    );
    assert_eq!(
        written.email.clone().unwrap().addresses,
        vec!["vp@hanoi.gov.vn".to_string()]
    );

    // A stale etag is refused; the current one is accepted.
    let err = client
        .update_contacts(contacts("p01", "https://hooks.hanoi.gov.vn/v2", "\"0\""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    client
        .update_contacts(contacts(
            "p01",
            "https://hooks.hanoi.gov.vn/v2",
            &written.etag,
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_endpoints_are_refused_by_field() {
    let stack = TestStack::start().await;
    let mut admin = stack.localities(&stack.admin_key).await;
    let err = admin
        .update_contacts(contacts("p01", "ftp://files.hanoi.gov.vn", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        p06_kit::errors::violation(&err).map(|v| v.0).as_deref(),
        Some("contacts.webhook.url")
    );
    let mut request = contacts("p01", "https://hooks.hanoi.gov.vn/p06", "");
    request
        .contacts
        .as_mut()
        .unwrap()
        .webhook
        .as_mut()
        .unwrap()
        .secrets = vec!["not-a-secret".into()];
    let err = admin.update_contacts(request).await.unwrap_err();
    assert_eq!(
        p06_kit::errors::violation(&err).map(|v| v.0).as_deref(),
        Some("contacts.webhook.secrets")
    );
    // Nothing was written.
    let current = admin
        .get_contacts(pb::GetContactsRequest {
            name: "units/p01/contacts".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (current.etag.as_str(), current.webhook.unwrap().url.as_str()),
        ("\"0\"", "")
    );
    let err = admin
        .get_contacts(pb::GetContactsRequest {
            name: "units/nowhere/contacts".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}
