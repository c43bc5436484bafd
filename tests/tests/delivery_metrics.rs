//! The delivery metrics move with deliveries: a reminder delivered by
//! webhook counts one delivery, one successful attempt and one
//! due → delivered lag observation; one whose endpoint always fails, with
//! a budget of one attempt, counts one failed attempt and one dead letter;
//! the writes behind them are counted and their transactions timed; a
//! method no service has is labelled `_OTHER`, never by its name.
//! Read from this process's own `/metrics` rendering (the same text the
//! admin listener serves). One test in its own process, so the counts are
//! exact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use p06_tests::{
    Backend, Setup, TestStack,
    webhook::{Behaviour, WebhookReceiver},
};
use std::{sync::Arc, time::Duration};
use support::*;

/// The value of the sample `name{…}` whose labels include every `labels`
/// pair, summed over matching series (0 when none).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            (n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

fn scrape() -> String {
    p06_kit::telemetry::metrics::render_prometheus().expect("metrics set up")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_deliveries_and_dead_letters_are_counted() {
    let guard = p06_kit::telemetry::init_with(p06_kit::telemetry::Options {
        service: "p06-test".into(),
        json: false,
        otlp_endpoint: None,
        per_component: false,
        export_interval: None,
    });
    let clock = clock_at(2025, 3, 3);
    let mut setup = Setup::new(Arc::new(clock.clone())).private_webhooks();
    setup.notifications.max_attempts = 1;
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let ok = WebhookReceiver::start(Behaviour::Succeed).await;
    let failing = WebhookReceiver::start(Behaviour::AlwaysFail).await;
    set_contacts(&stack, "p01", Some((&ok.url(), vec![secret(1)])), &[]).await;
    set_contacts(&stack, "p79", Some((&failing.url(), vec![secret(2)])), &[]).await;
    let before = scrape();
    assert_eq!(
        metric(&before, "p06_notifications_dead_letters_total", &[]),
        0.0
    );

    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "32/TB-VPCP", "2025-03-03").await;
    assign(
        &mut tasks,
        &d,
        "Cấp căn cước",
        "2025-03-03",
        &["p01", "p79"],
    )
    .await;

    let deadline = std::time::Instant::now() + PROMPT;
    let text = loop {
        let text = scrape();
        let dead = metric(&text, "p06_notifications_dead_letters_total", &[]);
        let lag = metric(&text, "p06_notifications_delivery_lag_seconds_count", &[]);
        // The feed head is read every few seconds; the cursor as it moves.
        let head = metric(&text, "p06_tasks_feed_head", &[]);
        let cursor = metric(&text, "p06_notifications_feed_cursor", &[]);
        if dead >= 1.0 && lag >= 1.0 && head >= 2.0 && cursor >= 2.0 {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "metrics did not move:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Two assignments, two changes: the feed's head and the cursor that
    // followed it (feed lag 0).
    assert_eq!(metric(&text, "p06_tasks_feed_head", &[]), 2.0);
    assert_eq!(metric(&text, "p06_notifications_feed_cursor", &[]), 2.0);
    let webhook = ("channel", "WEBHOOK");
    assert_eq!(
        metric(
            &text,
            "p06_notifications_delivery_lag_seconds_count",
            &[webhook]
        ),
        1.0
    );
    assert_eq!(
        metric(&text, "p06_notifications_dead_letters_total", &[webhook]),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "p06_notifications_deliveries_total",
            &[webhook, ("outcome", "delivered")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "p06_notifications_deliveries_total",
            &[webhook, ("outcome", "dead_letter")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "p06_notifications_delivery_attempts_total",
            &[webhook, ("outcome", "failure")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "p06_notifications_reminders_total",
            &[("kind", "DUE_TODAY")]
        ),
        2.0,
        "{text}"
    );
    assert!(metric(&text, "p06_notifications_contacts_lookups_total", &[]) >= 2.0);
    assert!(
        metric(&text, "p06_tasks_writes_total", &[("method", "CreateTask")]) == 1.0,
        "{text}"
    );
    // A method no service has is labelled _OTHER, so callers cannot grow
    // the label set; having no access rule, it is refused at the gateway
    // and never forwarded (no client call).
    let mut raw = tonic::client::Grpc::new(stack.channel(Some(&stack.admin_key)).await);
    raw.ready().await.unwrap();
    let unknown = raw
        .unary::<(), (), _>(
            tonic::Request::new(()),
            http::uri::PathAndQuery::from_static("/p06.localities.v1.Localities/NoSuchMethod"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::Unimplemented);
    let text = scrape();
    assert!(!text.contains("NoSuchMethod"), "{text}");
    for (side, calls) in [("server", 1.0), ("client", 0.0)] {
        assert_eq!(
            metric(
                &text,
                &format!("rpc_{side}_call_duration_seconds_count"),
                &[
                    ("rpc_method", "_OTHER"),
                    ("rpc_grpc_status_code", "12"),
                    ("p06_component", "gateway")
                ]
            ),
            calls,
            "{side}: {text}"
        );
    }
    // Write transactions are timed per pool (the task's creation, at
    // least): the wait for a connection and the wait to begin, once each.
    let begun = metric(
        &text,
        "p06_db_transaction_wait_seconds_count",
        &[("db_client_connection_pool_name", "tasks")],
    );
    assert!(begun >= 1.0, "{text}");
    assert_eq!(
        metric(
            &text,
            "db_client_connection_wait_time_seconds_count",
            &[("db_client_connection_pool_name", "tasks")]
        ),
        begun,
        "{text}"
    );
    drop(guard);
}
