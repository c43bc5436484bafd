//! Push delivery end to end: signed webhooks retried until the receiver
//! recovers and verified with a Standard Webhooks library, dead letter and
//! redrive, a hanging endpoint that delays no one else, e-mail over SMTP, a
//! replica killed mid-delivery, and two replicas sharing one PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use p06_kit::clock::ManualClock;
use p06_notifications::delivery::email::{SmtpConfig, SmtpTls};
use p06_proto::notifications::v1 as pb;
use p06_tests::{
    Backend, Setup, TestStack,
    replica::Replica,
    smtp::SmtpServer,
    webhook::{Behaviour, ReceivedWebhook, WebhookReceiver, verify},
};
use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};
use support::*;
use tonic::Code;

/// Waits (polling the API) until `check` holds; fails after [`PROMPT`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < PROMPT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn next_request(receiver: &mut WebhookReceiver) -> ReceivedWebhook {
    tokio::time::timeout(PROMPT, receiver.recv())
        .await
        .expect("a webhook request in time")
        .expect("receiver running")
}

async fn deliveries(client: &mut Notifications, parent: &str, filter: &str) -> Vec<pb::Delivery> {
    client
        .list_deliveries(pb::ListDeliveriesRequest {
            parent: parent.into(),
            filter: filter.into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .deliveries
}

/// Waits until `parent` has exactly one delivery in dead letter and returns it.
async fn the_dead_letter(client: &mut Notifications, parent: &str) -> pb::Delivery {
    eventually("a dead letter", || {
        let mut c = client.clone();
        async move {
            deliveries(&mut c, parent, "state = DEAD_LETTER")
                .await
                .len()
                == 1
        }
    })
    .await;
    deliveries(client, parent, "state = DEAD_LETTER")
        .await
        .remove(0)
}

fn advance(clock: &ManualClock, by: chrono::Duration) {
    clock.set(p06_kit::Clock::now(clock) + by);
}

/// A receiver that fails three times gets the notification on the fourth
/// attempt, signed so that a Standard Webhooks verifier accepts it with
/// either secret of a rotation; one that always fails ends in dead letter,
/// and redrive delivers it once the receiver is fixed.
#[tokio::test]
async fn webhooks_retry_verify_dead_letter_and_redrive() {
    let clock = clock_at(2025, 3, 3);
    let mut setup = Setup::new(Arc::new(clock.clone())).private_webhooks();
    setup.notifications.max_attempts = 4;
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let mut flaky = WebhookReceiver::start(Behaviour::FailFirst(3)).await;
    let mut dead = WebhookReceiver::start(Behaviour::AlwaysFail).await;
    set_contacts(
        &stack,
        "p01",
        Some((&flaky.url(), vec![secret(2), secret(1)])),
        &[],
    )
    .await;
    set_contacts(&stack, "p79", Some((&dead.url(), vec![secret(3)])), &[]).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "30/TB-VPCP", "2025-03-03").await;
    assign(
        &mut tasks,
        &d,
        "Cập nhật dữ liệu",
        "2025-03-03",
        &["p01", "p79"],
    )
    .await;

    // Each failure is retried after a backoff; once the failure is in the
    // ledger, the clock moves past the backoff.
    let coordinator = coordinator_key(&stack).await;
    let mut coord = stack.notifications(&coordinator).await;
    let mut flaky_seen = Vec::new();
    let mut dead_seen = Vec::new();
    for attempt in 1..=4 {
        flaky_seen.push(next_request(&mut flaky).await);
        dead_seen.push(next_request(&mut dead).await);
        let names = [
            format!("units/p01/notifications/{}", flaky_seen[0].id),
            format!("units/p79/notifications/{}", dead_seen[0].id),
        ];
        for name in names {
            eventually("the attempt in the ledger", || {
                let (coord, name) = (&coord, &name);
                async move { ledger(coord, name).await.len() == attempt }
            })
            .await;
        }
        advance(&clock, chrono::Duration::hours(1));
    }
    let answers: Vec<u16> = flaky_seen.iter().map(|r| r.answered).collect();
    assert_eq!(answers, vec![500, 500, 500, 200]);
    let id = flaky_seen[0].id.clone();
    assert!(id.starts_with("msg_"), "{id}");
    assert!(
        flaky_seen.iter().all(|r| r.id == id),
        "one stable id across attempts"
    );
    let last = &flaky_seen[3];
    for key in [secret(1), secret(2)] {
        let body = verify(&key, last).expect("verifies with either rotated secret");
        assert_eq!(body["type"], "notification.due_today");
        assert_eq!(body["data"]["id"], id.as_str());
        assert_eq!(body["data"]["directive_number"], "30/TB-VPCP");
    }
    assert!(
        verify(&secret(9), last).is_err(),
        "a wrong secret does not verify"
    );
    let mut tampered = last.clone();
    tampered.body.extend_from_slice(b" ");
    assert!(
        verify(&secret(1), &tampered).is_err(),
        "a changed body does not verify"
    );

    // The ledger holds every attempt.
    let name = format!("units/p01/notifications/{id}");
    let ledger = ledger(&coord, &name).await;
    let codes: Vec<(i32, bool, i32)> = ledger
        .iter()
        .map(|a| (a.attempt, a.success, a.response_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            (1, false, 500),
            (2, false, 500),
            (3, false, 500),
            (4, true, 200)
        ]
    );
    assert!(
        ledger
            .iter()
            .all(|a| a.channel == pb::Channel::Webhook as i32 && a.time.is_some())
    );

    // The other endpoint is in dead letter after four attempts.
    let dl = the_dead_letter(&mut coord, "units/-").await;
    assert!(
        dl.name.starts_with("units/p79/notifications/"),
        "{}",
        dl.name
    );
    assert_eq!(dl.attempts, 4);
    assert!(!dl.last_error.is_empty());

    // A unit cannot redrive, neither another unit's delivery nor its own
    // (the proto: COORDINATOR or ADMIN); a coordinator can.
    for unit in ["p01", "p79"] {
        let key = unit_key(&stack, unit).await;
        let denied = stack
            .notifications(&key)
            .await
            .redrive_delivery(pb::RedriveDeliveryRequest {
                name: dl.name.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{unit}: {denied:?}");
    }
    dead.set_behaviour(Behaviour::Succeed);
    let redriven = coord
        .redrive_delivery(pb::RedriveDeliveryRequest {
            name: dl.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(redriven.state, pb::DeliveryState::Pending as i32);
    let again = next_request(&mut dead).await;
    assert_eq!(
        (again.answered, again.id.as_str()),
        (200, dead_seen[0].id.as_str())
    );
    eventually("the redriven delivery recorded", || {
        let mut c = coord.clone();
        async move {
            deliveries(&mut c, "units/p79", "state = DELIVERED")
                .await
                .len()
                == 1
        }
    })
    .await;
}

/// An endpoint that never answers holds only its own unit's deliveries:
/// another unit's notification goes out at once.
#[tokio::test]
async fn a_hanging_endpoint_does_not_delay_other_units() {
    let clock = clock_at(2025, 3, 3);
    let mut setup = Setup::new(Arc::new(clock.clone())).private_webhooks();
    setup.notifications.webhook_timeout_ms = 60_000;
    setup.notifications.max_in_flight = 8;
    setup.notifications.max_in_flight_per_unit = 2;
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let mut slow = WebhookReceiver::start(Behaviour::Hang).await;
    let mut fast = WebhookReceiver::start(Behaviour::Succeed).await;
    set_contacts(&stack, "p01", Some((&slow.url(), vec![secret(1)])), &[]).await;
    set_contacts(&stack, "p79", Some((&fast.url(), vec![secret(2)])), &[]).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "31/TB-VPCP", "2025-03-03").await;
    for i in 0..12 {
        assign(&mut tasks, &d, &format!("Việc {i}"), "2025-03-03", &["p01"]).await;
    }
    // The slow unit's two slots are taken and hang.
    next_request(&mut slow).await;
    next_request(&mut slow).await;
    assign(&mut tasks, &d, "Việc khác", "2025-03-03", &["p79"]).await;
    let got = next_request(&mut fast).await;
    assert_eq!(got.answered, 200);
    assert!(
        slow.try_recv().is_none(),
        "no more than two in flight for the hanging unit"
    );
}

/// E-mail goes out over SMTP to the unit's addresses, in Vietnamese first,
/// with a Message-ID derived from the notification id.
#[tokio::test]
async fn email_is_sent_over_smtp() {
    let clock = clock_at(2025, 3, 3);
    let mut server = SmtpServer::start().await;
    let mut setup = Setup::new(Arc::new(clock.clone()));
    setup.notifications.smtp = SmtpConfig {
        host: "127.0.0.1".into(),
        port: server.port(),
        tls: SmtpTls::None,
        from: "p06 <noreply@p06.gov.vn>".into(),
        ..SmtpConfig::default()
    };
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    set_contacts(&stack, "p01", None, &["vanphong@hanoi.gov.vn"]).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "32/TB-VPCP", "2025-03-03").await;
    assign(&mut tasks, &d, "Cấp căn cước", "2025-03-03", &["p01"]).await;
    let mail = tokio::time::timeout(PROMPT, server.recv())
        .await
        .expect("mail in time");
    assert_eq!(mail.to, vec!["vanphong@hanoi.gov.vn".to_string()]);
    assert!(
        mail.subject().contains("Đến hạn hôm nay"),
        "{}",
        mail.subject()
    );
    assert!(mail.text().contains("Cấp căn cước"), "{}", mail.text());
    assert!(mail.text().contains("32/TB-VPCP"), "{}", mail.text());
    let key = unit_key(&stack, "p01").await;
    let mut client = stack.notifications(&key).await;
    let n = Inbox::open(&mut client, "p01", 0).await.next().await;
    assert!(
        mail.message_id().unwrap_or_default().contains(&n.id),
        "{:?}",
        mail.message_id()
    );
    // The ledger records the attempt as an accepted e-mail, readable by
    // the unit itself.
    eventually("the e-mail attempt in the ledger", || {
        let client = &client;
        let name = &n.name;
        async move { !ledger(client, name).await.is_empty() }
    })
    .await;
    let ledger = ledger(&client, &n.name).await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    let a = &ledger[0];
    assert_eq!(
        (a.channel, a.attempt, a.success, a.response_code),
        (pb::Channel::Email as i32, 1, true, 250),
        "{a:?}"
    );
    assert!(a.time.is_some() && a.error.is_empty(), "{a:?}");
}

/// Reserves a loopback address for a replica the test starts later.
fn free_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn replica_config(
    stack: &TestStack,
    tweak: impl Fn(&mut p06_notifications::Config),
) -> p06_notifications::Config {
    let s = stack.stack();
    let mut config = p06_notifications::Config {
        database_url: stack.databases().notifications,
        internal_token: s.internal_token.clone(),
        tasks_url: format!("http://{}", s.tasks_addr),
        localities_url: format!("http://{}", s.localities_addr),
        // The tests' webhook receivers listen on 127.0.0.1.
        webhook_allow_private_networks: true,
        ..p06_tests::fast_notifications()
    };
    tweak(&mut config);
    config
}

/// A replica killed while its deliveries hang, then started again: every
/// reminder is delivered, none is produced twice, and a repeat carries the
/// same id.
#[tokio::test]
async fn killed_mid_delivery_every_reminder_arrives_once_produced() {
    let clock = clock_at(2025, 3, 3);
    let addr = free_addr();
    let mut setup = Setup::new(Arc::new(clock.clone())).private_webhooks();
    setup.external_notifications = Some(addr);
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let config = replica_config(&stack, |c| c.webhook_timeout_ms = 60_000);
    let first = Replica::start(config.clone(), addr, Arc::new(clock.clone()));
    let mut receiver = WebhookReceiver::start(Behaviour::Hang).await;
    set_contacts(&stack, "p01", Some((&receiver.url(), vec![secret(1)])), &[]).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "33/TB-VPCP", "2025-03-03").await;
    for i in 0..10 {
        assign(&mut tasks, &d, &format!("Việc {i}"), "2025-03-03", &["p01"]).await;
    }
    // Deliveries are in flight (hanging) when the replica dies.
    let mut answers: HashMap<String, Vec<u16>> = HashMap::new();
    for _ in 0..4 {
        let r = next_request(&mut receiver).await;
        answers.entry(r.id).or_default().push(r.answered);
    }
    first.kill();
    receiver.set_behaviour(Behaviour::Succeed);
    let _second = Replica::start(config, addr, Arc::new(clock.clone()));
    // The dead replica's leases expire when the clock passes them.
    advance(&clock, chrono::Duration::minutes(5));
    while answers.values().filter(|a| a.contains(&200)).count() < 10 {
        let r = next_request(&mut receiver).await;
        answers.entry(r.id).or_default().push(r.answered);
    }
    assert_eq!(
        answers.len(),
        10,
        "ten distinct ids, repeats only with the same id"
    );
    let key = unit_key(&stack, "p01").await;
    let mut client = stack.notifications(&key).await;
    let all = client
        .list_notifications(pb::ListNotificationsRequest {
            parent: "units/p01".into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notifications;
    assert_eq!(all.len(), 10, "no reminder produced twice");
    let mut ids: Vec<&String> = answers.keys().collect();
    ids.sort();
    let mut listed: Vec<&String> = all.iter().map(|n| &n.id).collect();
    listed.sort();
    assert_eq!(ids, listed);
}

/// Two replicas on one PostgreSQL database share the work: each reminder
/// is produced and delivered once.
#[tokio::test]
async fn two_replicas_on_postgres_deliver_each_reminder_once() {
    let clock = clock_at(2025, 3, 3);
    let addr = free_addr();
    let mut setup = Setup::new(Arc::new(clock.clone())).private_webhooks();
    setup.external_notifications = Some(addr);
    let Some(stack) = TestStack::start_setup(Backend::Postgres, setup).await else {
        eprintln!("P06_TEST_DATABASE_URL unset: skipping the PostgreSQL replicas test");
        return;
    };
    let config = replica_config(&stack, |c| c.batch_size = 4);
    let _a = Replica::start(config.clone(), addr, Arc::new(clock.clone()));
    let _b = Replica::start(config, free_addr(), Arc::new(clock.clone()));
    let mut receiver = WebhookReceiver::start(Behaviour::Succeed).await;
    let units = ["p01", "p79", "p31", "p48"];
    for u in units {
        set_contacts(&stack, u, Some((&receiver.url(), vec![secret(1)])), &[]).await;
    }
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "34/TB-VPCP", "2025-03-03").await;
    for i in 0..6 {
        assign(&mut tasks, &d, &format!("Việc {i}"), "2025-03-03", &units).await;
    }
    let mut seen: HashMap<String, u32> = HashMap::new();
    while seen.len() < 24 {
        let r = next_request(&mut receiver).await;
        *seen.entry(r.id).or_default() += 1;
    }
    let coordinator = coordinator_key(&stack).await;
    let mut coord = stack.notifications(&coordinator).await;
    eventually("every delivery recorded", || {
        let mut c = coord.clone();
        async move {
            deliveries(&mut c, "units/-", "state = DELIVERED")
                .await
                .len()
                == 24
        }
    })
    .await;
    let recorded = deliveries(&mut coord, "units/-", "").await;
    assert_eq!(recorded.len(), 24, "no reminder produced twice");
    assert!(
        recorded.iter().all(|d| d.attempts == 1),
        "each delivered in one attempt"
    );
    assert_eq!(receiver.served(), 24, "no delivery sent twice");
    assert!(seen.values().all(|n| *n == 1));
}

/// Changes made while the notifications service is down are applied from
/// its stored feed cursor when it comes back: a completion made meanwhile
/// stops that ladder, a task created meanwhile gets its reminders.
#[tokio::test]
async fn changes_made_while_notifications_is_down_are_not_lost() {
    let clock = clock_at(2025, 3, 3);
    let addr = free_addr();
    let mut setup = Setup::new(Arc::new(clock.clone()));
    setup.external_notifications = Some(addr);
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let config = replica_config(&stack, |_| {});
    let first = Replica::start(config.clone(), addr, Arc::new(clock.clone()));
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "35/TB-VPCP", "2025-03-03").await;
    let a = assign(&mut tasks, &d, "Trước khi dừng", "2025-03-05", &["p01"]).await;
    let key = unit_key(&stack, "p01").await;
    let mut client = stack.notifications(&key).await;
    let seen = Inbox::open(&mut client, "p01", 0).await.reminder().await;
    assert_eq!(
        (kind(&seen), seen.assignment.as_str()),
        (pb::NotificationKind::DueSoon, a[0].as_str())
    );
    first.kill();

    tasks
        .complete_assignment(p06_proto::tasks::v1::CompleteAssignmentRequest {
            name: a[0].clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let b = assign(&mut tasks, &d, "Trong khi dừng", "2025-03-03", &["p01"]).await;
    let _second = Replica::start(config, addr, Arc::new(clock.clone()));
    let mut client = stack.notifications(&key).await;
    let mut inbox = Inbox::open(&mut client, "p01", seen.cursor).await;
    let n = inbox.reminder().await;
    assert_eq!(
        (kind(&n), n.assignment.as_str()),
        (pb::NotificationKind::DueToday, b[0].as_str())
    );
    // On 05/03 the completed task would have been due today; only the new
    // one's OVERDUE comes.
    clock.set(at(2025, 3, 5, 9, 0));
    let n = inbox.reminder().await;
    assert_eq!(
        (kind(&n), n.assignment.as_str()),
        (pb::NotificationKind::Overdue, b[0].as_str())
    );
    let for_a = list(
        &mut client,
        "units/p01",
        &format!("assignment = \"{}\"", a[0]),
    )
    .await;
    assert_eq!(for_a.len(), 1);
}

/// With a host allow-list, a webhook to any other host is never sent: the
/// attempt fails without a request and the delivery ends in dead letter,
/// the reason in its last error.
#[tokio::test]
async fn webhooks_go_only_to_allowed_hosts() {
    let clock = clock_at(2025, 3, 3);
    let mut setup = Setup::new(Arc::new(clock.clone())).private_webhooks();
    setup.notifications.max_attempts = 1;
    setup.notifications.webhook_allowed_hosts = vec!["*.gov.vn".into()];
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let receiver = WebhookReceiver::start(Behaviour::Succeed).await;
    set_contacts(&stack, "p01", Some((&receiver.url(), vec![secret(1)])), &[]).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "36/TB-VPCP", "2025-03-03").await;
    assign(&mut tasks, &d, "Việc", "2025-03-03", &["p01"]).await;
    let key = unit_key(&stack, "p01").await;
    let mut client = stack.notifications(&key).await;
    let dl = the_dead_letter(&mut client, "units/p01").await;
    assert!(dl.last_error.contains("allow-list"), "{}", dl.last_error);
    assert_eq!(
        receiver.served(),
        0,
        "nothing was sent to a host off the list"
    );
}
