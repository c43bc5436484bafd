//! Webhooks cannot be turned on the deployment's own network (issue 12,
//! point 5): with the default settings a unit cannot set a webhook whose
//! address is private, and a host name that resolves to one is refused at
//! delivery with the reason in the ledger and nothing sent; an allow-list
//! in localities refuses other hosts when they are set; with the opt-in a
//! receiver on loopback gets its webhooks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use p06_proto::{gateway::v1::Role, localities::v1 as loc, notifications::v1 as pb};
use p06_tests::{
    Backend, Setup, TestStack,
    webhook::{Behaviour, WebhookReceiver},
};
use std::{sync::Arc, time::Duration};
use support::*;
use tonic::Code;

/// A UNIT key's UpdateContacts setting `url` as its unit's webhook.
async fn set_own_webhook(
    stack: &TestStack,
    key: &str,
    unit: &str,
    url: &str,
) -> Result<loc::Contacts, tonic::Status> {
    stack
        .localities(key)
        .await
        .update_contacts(loc::UpdateContactsRequest {
            contacts: Some(loc::Contacts {
                name: format!("units/{unit}/contacts"),
                webhook: Some(loc::WebhookEndpoint {
                    url: url.into(),
                    enabled: true,
                    secrets: vec![secret(1)],
                }),
                ..Default::default()
            }),
            update_mask: None,
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn webhook_url(stack: &TestStack, unit: &str) -> String {
    stack
        .localities(&stack.admin_key)
        .await
        .get_contacts(loc::GetContactsRequest {
            name: format!("units/{unit}/contacts"),
        })
        .await
        .unwrap()
        .into_inner()
        .webhook
        .map(|w| w.url)
        .unwrap_or_default()
}

/// Waits (polling the API) for `parent`'s one dead-lettered delivery.
async fn dead_letter(client: &mut Notifications, parent: &str) -> pb::Delivery {
    let start = std::time::Instant::now();
    loop {
        let found = client
            .list_deliveries(pb::ListDeliveriesRequest {
                parent: parent.into(),
                filter: "state = DEAD_LETTER".into(),
                page_size: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .deliveries;
        if let Some(delivery) = found.into_iter().next() {
            return delivery;
        }
        assert!(
            start.elapsed() < PROMPT,
            "timed out waiting for a dead letter"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The ledger of a delivery ("…/notifications/{id}/deliveries/webhook").
async fn attempts_of(client: &Notifications, delivery: &pb::Delivery) -> Vec<pb::DeliveryAttempt> {
    let notification = delivery
        .name
        .rsplit_once("/deliveries/")
        .map_or(delivery.name.as_str(), |(head, _)| head);
    ledger(client, notification).await
}

/// A task due today for `unit`, so a reminder goes out at once.
async fn remind(stack: &TestStack, number: &str, unit: &str) {
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, number, "2025-03-03").await;
    assign(&mut tasks, &d, "Kết nối dữ liệu", "2025-03-03", &[unit]).await;
}

#[tokio::test]
async fn a_unit_cannot_point_its_webhook_at_a_private_address() {
    let stack = TestStack::start().await;
    let hanoi = stack.key_for("units/p01", Role::Unit).await;
    let receiver = WebhookReceiver::start(Behaviour::Succeed).await;
    let port = receiver.addr().port();
    for url in [
        format!("http://127.0.0.1:{port}/webhook"),
        format!("http://[::1]:{port}/webhook"),
        format!("http://[::ffff:127.0.0.1]:{port}/webhook"),
        format!("http://2130706433:{port}/webhook"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.8:8080/".to_string(),
    ] {
        let err = set_own_webhook(&stack, &hanoi, "p01", &url)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{url}: {err:?}");
        assert_eq!(field(&err), "contacts.webhook.url", "{url}");
        assert!(
            err.message()
                .contains("set P06_LOCALITIES__WEBHOOK_ALLOW_PRIVATE_NETWORKS=true"),
            "{url}: {}",
            err.message()
        );
    }
    let err = set_own_webhook(&stack, &hanoi, "p01", &format!("http://0.0.0.0:{port}/"))
        .await
        .unwrap_err();
    assert_eq!(field(&err), "contacts.webhook.url");
    assert!(
        err.message().contains("never a webhook destination"),
        "{}",
        err.message()
    );
    assert_eq!(webhook_url(&stack, "p01").await, "", "nothing was written");
    assert_eq!(receiver.served(), 0);
    // A public destination is still fine.
    set_own_webhook(&stack, &hanoi, "p01", "https://hooks.hanoi.gov.vn/p06")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_host_outside_the_localities_allow_list_is_refused_when_set() {
    let mut setup = Setup::new(Arc::new(p06_kit::SystemClock));
    setup.localities.webhook_allowed_hosts = vec!["*.gov.vn".into(), "hooks.example.com".into()];
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let hanoi = stack.key_for("units/p01", Role::Unit).await;
    let err = set_own_webhook(&stack, &hanoi, "p01", "https://hooks.evil.example/p06")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(field(&err), "contacts.webhook.url");
    assert!(
        err.message()
            .contains("endpoint host \"hooks.evil.example\" is not in the allow-list"),
        "{}",
        err.message()
    );
    for url in [
        "https://hooks.hanoi.gov.vn/p06",
        "https://HOOKS.example.com/p06",
    ] {
        set_own_webhook(&stack, &hanoi, "p01", url).await.unwrap();
    }
    assert_eq!(
        webhook_url(&stack, "p01").await,
        "https://HOOKS.example.com/p06"
    );
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_delivery() {
    let clock = clock_at(2025, 3, 3);
    let mut setup = Setup::new(Arc::new(clock.clone()));
    setup.notifications.max_attempts = 1;
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let receiver = WebhookReceiver::start(Behaviour::Succeed).await;
    // A host name is not resolved when it is set: UpdateContacts takes it.
    let url = format!("http://localhost:{}/webhook", receiver.addr().port());
    let hanoi = stack.key_for("units/p01", Role::Unit).await;
    set_own_webhook(&stack, &hanoi, "p01", &url).await.unwrap();
    remind(&stack, "40/TB-VPCP", "p01").await;

    let mut client = stack.notifications(&hanoi).await;
    let delivery = dead_letter(&mut client, "units/p01").await;
    // localhost is 127.0.0.1 or ::1, whichever the resolver gives first.
    let refused = |error: &str| {
        error.starts_with("webhook host \"localhost\" resolves to ")
            && error.ends_with(
                ", which is loopback; set P06_NOTIFICATIONS__WEBHOOK_ALLOW_PRIVATE_NETWORKS=true \
                 to allow private networks",
            )
    };
    assert!(refused(&delivery.last_error), "{}", delivery.last_error);
    let attempts = attempts_of(&client, &delivery).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(!attempts[0].success);
    assert_eq!(
        attempts[0].response_code, 0,
        "no response: nothing was sent"
    );
    assert!(refused(&attempts[0].error), "{}", attempts[0].error);
    assert_eq!(receiver.served(), 0, "the receiver got nothing");
}

#[tokio::test]
async fn a_stored_private_literal_is_refused_at_delivery() {
    // Localities accepted the URL (it allows private networks, or the URL
    // predates the guard); notifications does not send to it.
    let clock = clock_at(2025, 3, 3);
    let mut setup = Setup::new(Arc::new(clock.clone()));
    setup.localities.webhook_allow_private_networks = true;
    setup.notifications.max_attempts = 1;
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let receiver = WebhookReceiver::start(Behaviour::Succeed).await;
    set_contacts(&stack, "p01", Some((&receiver.url(), vec![secret(1)])), &[]).await;
    remind(&stack, "41/TB-VPCP", "p01").await;

    let key = unit_key(&stack, "p01").await;
    let mut client = stack.notifications(&key).await;
    let delivery = dead_letter(&mut client, "units/p01").await;
    let reason = "webhook address 127.0.0.1 is loopback; \
                  set P06_NOTIFICATIONS__WEBHOOK_ALLOW_PRIVATE_NETWORKS=true to allow private networks";
    assert_eq!(delivery.last_error, reason);
    let attempts = attempts_of(&client, &delivery).await;
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.error.as_str())
            .collect::<Vec<_>>(),
        [reason]
    );
    assert_eq!(receiver.served(), 0, "the receiver got nothing");
}

#[tokio::test]
async fn with_the_opt_in_a_loopback_receiver_gets_its_webhook() {
    let clock = clock_at(2025, 3, 3);
    let setup = Setup::new(Arc::new(clock.clone())).private_webhooks();
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let mut receiver = WebhookReceiver::start(Behaviour::Succeed).await;
    let by_name = format!("http://localhost:{}/webhook", receiver.addr().port());
    let hanoi = stack.key_for("units/p01", Role::Unit).await;
    set_own_webhook(&stack, &hanoi, "p01", &by_name)
        .await
        .unwrap();
    remind(&stack, "42/TB-VPCP", "p01").await;
    let got = tokio::time::timeout(PROMPT, receiver.recv())
        .await
        .expect("a webhook in time")
        .expect("receiver running");
    assert_eq!(got.answered, 200);
    assert!(got.id.starts_with("msg_"), "{}", got.id);
}
