//! Traces as a dashboard reads them, through the public gateway with the
//! process's real pipeline (`p06_kit::telemetry`) exporting to an OTLP
//! receiver the test runs: span kinds and parents across gateway →
//! service, span status by the semantic conventions' server and client
//! rules, integer status codes, the caller's unit and role (never the key),
//! streams measured over their life, health checks not traced, metrics
//! exported over OTLP beside the traces.
//!
//! Each call carries its own `traceparent`, so a test reads only its trace.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use p06_proto::{
    gateway::v1::Role,
    localities::v1::{Contacts, GetUnitRequest, UpdateContactsRequest, WebhookEndpoint},
    notifications::v1::ListNotificationsRequest,
    tasks::v1::{ListAuditLogRequest, ReportProgressRequest, WatchChangesRequest},
};
use p06_tests::{
    Backend, Setup, TestStack,
    otlp::{OtlpReceiver, Received, int, string},
    webhook::{Behaviour, WebhookReceiver},
};
use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};
use support::{assign, clock_at, directive, secret, set_contacts, unit_key};

const WAIT: Duration = Duration::from_secs(20);

/// The receiver, with this process's telemetry exporting to it (set up once
/// for every test of this binary, on the receiver's own runtime).
fn receiver() -> &'static OtlpReceiver {
    static RECEIVER: OnceLock<OtlpReceiver> = OnceLock::new();
    RECEIVER.get_or_init(|| {
        OtlpReceiver::start_with(|endpoint| {
            let guard = p06_kit::telemetry::init_with(p06_kit::telemetry::Options {
                service: "p06-test".into(),
                json: false,
                otlp_endpoint: Some(endpoint.to_string()),
                per_component: false,
                export_interval: Some(Duration::from_millis(50)),
            });
            // The pipelines live as long as the test process.
            std::mem::forget(guard);
        })
    })
}

/// A fresh W3C trace context: (trace id hex, header value).
fn new_trace() -> (String, String) {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let parent = &uuid::Uuid::new_v4().simple().to_string()[..16];
    (trace.clone(), format!("00-{trace}-{parent}-01"))
}

fn traced<T>(message: T, traceparent: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    request
}

fn in_trace(spans: &[Received], trace: &str) -> Vec<Span> {
    spans
        .iter()
        .filter(|r| hex(&r.span.trace_id) == trace)
        .map(|r| r.span.clone())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits for the three spans of one proxied call: the gateway's SERVER span,
/// its CLIENT span, and the upstream's SERVER span under that client span.
async fn call_spans(trace: &str, method: &str) -> (Span, Span, Span) {
    receiver()
        .wait_for(&format!("{method} spans"), WAIT, |spans| {
            let spans = in_trace(spans, trace);
            let named = |kind: SpanKind| {
                spans
                    .iter()
                    .filter(|s| s.kind == kind as i32 && s.name.ends_with(method))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let client = named(SpanKind::Client).into_iter().next()?;
            let servers = named(SpanKind::Server);
            let upstream = servers
                .iter()
                .find(|s| s.parent_span_id == client.span_id)?
                .clone();
            let gateway = servers
                .iter()
                .find(|s| s.span_id == client.parent_span_id)?
                .clone();
            Some((gateway, client, upstream))
        })
        .await
}

fn status(span: &Span) -> i32 {
    span.status.as_ref().map_or(0, |s| s.code)
}

fn unset_or_ok(span: &Span) -> bool {
    status(span) != StatusCode::Error as i32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_the_server_and_client_rules() {
    receiver();
    // Notifications is routed to a port where nothing listens: UNAVAILABLE.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let stack = TestStack::start_setup(
        Backend::Sqlite,
        Setup {
            external_notifications: Some(dead_addr),
            ..Setup::new(Arc::new(p06_kit::SystemClock))
        },
    )
    .await
    .unwrap();
    let admin = stack.admin_key.clone();

    // OK: neither side is marked; codes are integers; the caller is named.
    let (trace, parent) = new_trace();
    stack
        .localities(&admin)
        .await
        .get_unit(traced(
            GetUnitRequest {
                name: "units/p01".into(),
            },
            &parent,
        ))
        .await
        .unwrap();
    let (gateway, client, upstream) = call_spans(&trace, "Localities/GetUnit").await;
    for span in [&gateway, &client, &upstream] {
        assert!(unset_or_ok(span), "OK marks no span: {span:?}");
        assert_eq!(int(&span.attributes, "rpc.grpc.status_code"), Some(0));
        assert_eq!(
            string(&span.attributes, "rpc.service").as_deref(),
            Some("p06.localities.v1.Localities")
        );
    }
    assert_eq!(hex(&gateway.parent_span_id), parent[36..52]);
    for span in [&gateway, &upstream] {
        assert_eq!(
            string(&span.attributes, "p06.caller.unit").as_deref(),
            Some("units/wg06")
        );
        assert_eq!(
            string(&span.attributes, "p06.caller.role").as_deref(),
            Some("ADMIN")
        );
    }
    assert!(
        gateway
            .events
            .iter()
            .all(|e| e.attributes.iter().all(|a| a.key != "key")),
        "the access-log line (which names the key) is not copied into the span: {:?}",
        gateway.events
    );
    let secret = admin.rsplit('_').next().unwrap();
    let everything = format!("{:?}", in_trace(&receiver().spans(), &trace));
    assert!(
        !everything.contains(secret),
        "no span carries the key's secret"
    );

    // PERMISSION_DENIED: the servers answered correctly (unset); the
    // gateway's call failed (its CLIENT span is Error).
    let unit_key = stack.key_for("units/p01", Role::Unit).await;
    let (trace, parent) = new_trace();
    let denied = stack
        .localities(&unit_key)
        .await
        .update_contacts(traced(
            UpdateContactsRequest {
                contacts: Some(Contacts {
                    name: "units/p02/contacts".into(),
                    webhook: Some(WebhookEndpoint {
                        url: "https://example.gov.vn/hook".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &parent,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let (gateway, client, upstream) = call_spans(&trace, "Localities/UpdateContacts").await;
    assert!(unset_or_ok(&gateway), "{gateway:?}");
    assert!(unset_or_ok(&upstream), "{upstream:?}");
    assert_eq!(status(&client), StatusCode::Error as i32, "{client:?}");
    for span in [&gateway, &client, &upstream] {
        assert_eq!(int(&span.attributes, "rpc.grpc.status_code"), Some(7));
    }
    assert_eq!(
        string(&upstream.attributes, "p06.caller.role").as_deref(),
        Some("UNIT")
    );

    // UNAVAILABLE: the gateway's SERVER span and its CLIENT span are Error.
    let (trace, parent) = new_trace();
    let unavailable = stack
        .notifications(&admin)
        .await
        .list_notifications(traced(
            ListNotificationsRequest {
                parent: "units/p01".into(),
                ..Default::default()
            },
            &parent,
        ))
        .await
        .unwrap_err();
    assert_eq!(unavailable.code(), tonic::Code::Unavailable);
    let (gateway, client) = receiver()
        .wait_for("ListNotifications spans", WAIT, |spans| {
            let spans = in_trace(spans, &trace);
            let of = |kind: SpanKind| {
                spans
                    .iter()
                    .find(|s| s.kind == kind as i32 && s.name.ends_with("ListNotifications"))
                    .cloned()
            };
            Some((of(SpanKind::Server)?, of(SpanKind::Client)?))
        })
        .await;
    assert_eq!(status(&gateway), StatusCode::Error as i32, "{gateway:?}");
    assert_eq!(status(&client), StatusCode::Error as i32, "{client:?}");
    assert_eq!(int(&gateway.attributes, "rpc.grpc.status_code"), Some(14));
    assert_eq!(client.parent_span_id, gateway.span_id);

    // INTERNAL: a table the tasks service reads is gone (not a transient
    // fault), so its SERVER span is Error, and so are the gateway's.
    let tasks_db = sqlx::SqlitePool::connect(&stack.databases().tasks)
        .await
        .unwrap();
    sqlx::query("DROP TABLE audit_log")
        .execute(&tasks_db)
        .await
        .unwrap();
    tasks_db.close().await;
    let (trace, parent) = new_trace();
    let internal = stack
        .tasks(&admin)
        .await
        .list_audit_log(traced(ListAuditLogRequest::default(), &parent))
        .await
        .unwrap_err();
    assert_eq!(internal.code(), tonic::Code::Internal, "{internal:?}");
    assert!(
        !internal.message().contains("audit_log"),
        "no storage detail leaks: {internal:?}"
    );
    let (gateway, client, upstream) = call_spans(&trace, "Tasks/ListAuditLog").await;
    for span in [&gateway, &client, &upstream] {
        assert_eq!(status(span), StatusCode::Error as i32, "{span:?}");
        assert_eq!(int(&span.attributes, "rpc.grpc.status_code"), Some(13));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_traced_over_its_life_and_health_is_not_traced() {
    receiver();
    let stack = TestStack::start().await;
    let admin = stack.admin_key.clone();

    let (health_trace, health_parent) = new_trace();
    let mut health = tonic_health::pb::health_client::HealthClient::new(stack.channel(None).await);
    health
        .check(traced(
            tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            },
            &health_parent,
        ))
        .await
        .unwrap();

    let (trace, parent) = new_trace();
    let held = Duration::from_millis(400);
    let mut changes = stack
        .tasks(&admin)
        .await
        .watch_changes(traced(WatchChangesRequest { after_sequence: 0 }, &parent))
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(held).await;
    // Nothing changed yet: the stream is open and idle; the client leaves.
    assert!(
        tokio::time::timeout(Duration::from_millis(10), changes.message())
            .await
            .is_err()
    );
    drop(changes);
    let (gateway, _client, upstream) = call_spans(&trace, "Tasks/WatchChanges").await;
    for span in [&gateway, &upstream] {
        let lived = span.end_time_unix_nano - span.start_time_unix_nano;
        assert!(
            lived >= held.as_nanos() as u64,
            "{} lasted {lived} ns, not the stream's life",
            span.name
        );
        // The caller went away: CANCELLED, which the server rule leaves unset.
        assert_eq!(int(&span.attributes, "rpc.grpc.status_code"), Some(1));
        assert!(unset_or_ok(span));
    }
    assert!(
        in_trace(&receiver().spans(), &health_trace).is_empty(),
        "health checks are not traced"
    );
}

/// Cause to effect: one ReportProgress through the gateway is one trace
/// (gateway SERVER → gateway CLIENT → tasks SERVER → its database spans);
/// the notifications consumer's span links to it; the reminder it leads to
/// is delivered by a span that links to it too, and the webhook receiver
/// gets a `traceparent` naming that delivery span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_one_trace_and_the_reminder_it_causes_links_back() {
    receiver();
    let clock = clock_at(2025, 3, 3);
    let setup = Setup::new(Arc::new(clock.clone())).private_webhooks();
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let mut hook = WebhookReceiver::start(Behaviour::Succeed).await;
    let url = format!("{}?token=s3cret", hook.url());
    set_contacts(&stack, "p01", Some((&url, vec![secret(1)])), &[]).await;
    let mut tasks = stack.tasks(&stack.admin_key).await;
    let d = directive(&mut tasks, "31/TB-VPCP", "2025-03-03").await;
    let names = assign(
        &mut tasks,
        &d,
        "Kết nối dữ liệu dân cư",
        "2025-03-20",
        &["p01"],
    )
    .await;

    let hanoi = unit_key(&stack, "p01").await;
    let (trace, parent) = new_trace();
    stack
        .tasks(&hanoi)
        .await
        .report_progress(traced(
            ReportProgressRequest {
                name: names[0].clone(),
                percent: 40,
                note: "đã kết nối thử nghiệm".into(),
                ..Default::default()
            },
            &parent,
        ))
        .await
        .unwrap();
    let (gateway, client, tasks_server) = call_spans(&trace, "Tasks/ReportProgress").await;
    assert_eq!(client.parent_span_id, gateway.span_id);
    let db = receiver()
        .wait_for("the database spans of ReportProgress", WAIT, |spans| {
            let db: Vec<Span> = in_trace(spans, &trace)
                .into_iter()
                .filter(|s| s.parent_span_id == tasks_server.span_id)
                .filter(|s| string(&s.attributes, "db.system.name").is_some())
                .collect();
            db.iter()
                .any(|s| string(&s.attributes, "db.operation.name").as_deref() == Some("act"))
                .then_some(db)
        })
        .await;
    for span in &db {
        assert_eq!(span.kind, SpanKind::Client as i32);
        assert_eq!(
            string(&span.attributes, "db.system.name").as_deref(),
            Some("sqlite")
        );
        assert_eq!(
            string(&span.attributes, "db.namespace").as_deref(),
            Some("tasks")
        );
    }
    receiver()
        .wait_for(
            "the feed consumer's span linked to the report",
            WAIT,
            |spans| {
                spans
                    .iter()
                    .find(|r| {
                        r.span.kind == SpanKind::Consumer as i32
                            && r.span.links.iter().any(|l| hex(&l.trace_id) == trace)
                    })
                    .cloned()
            },
        )
        .await;

    // Five working days before 20/03 the DUE_SOON reminder goes out.
    clock.set(support::at(2025, 3, 13, 9, 0));
    let request = tokio::time::timeout(WAIT, hook.recv())
        .await
        .expect("the reminder's webhook in time")
        .expect("receiver running");
    let traceparent = request
        .headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .expect("the webhook carries traceparent")
        .to_string();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    let (delivery_trace, delivery_span) = (parts[1].to_string(), parts[2].to_string());
    let delivery = receiver()
        .wait_for("the delivery span the webhook names", WAIT, |spans| {
            spans
                .iter()
                .find(|r| {
                    hex(&r.span.trace_id) == delivery_trace && hex(&r.span.span_id) == delivery_span
                })
                .map(|r| r.span.clone())
        })
        .await;
    assert_eq!(delivery.kind, SpanKind::Client as i32);
    assert!(
        delivery.links.iter().any(|l| hex(&l.trace_id) == trace),
        "the delivery links to the report's trace: {:?}",
        delivery.links
    );
    assert_eq!(
        int(&delivery.attributes, "http.response.status_code"),
        Some(200)
    );
    assert_eq!(
        string(&delivery.attributes, "http.request.method").as_deref(),
        Some("POST")
    );
    let shown = string(&delivery.attributes, "url.full").unwrap();
    assert!(
        shown.starts_with("http://127.0.0.1:") && !shown.contains("s3cret"),
        "url.full without secrets: {shown}"
    );
    assert!(unset_or_ok(&delivery));

    // The background loops (scheduler, dispatcher, gauges) polled every
    // tick meanwhile; none of their polls became a trace of its own: every
    // exported database span has a parent.
    let roots: Vec<String> = receiver()
        .spans()
        .iter()
        .filter(|r| string(&r.span.attributes, "db.system.name").is_some())
        .filter(|r| r.span.parent_span_id.is_empty())
        .map(|r| format!("{} {}", r.service, r.span.name))
        .collect();
    assert!(roots.is_empty(), "root database spans exported: {roots:?}");

    // The metrics went to the collector too.
    for name in [
        "rpc.server.call.duration",
        "rpc.client.call.duration",
        "p06.notifications.delivery.lag",
        "p06.tasks.writes",
    ] {
        receiver().wait_for_metric(name, WAIT).await;
    }
}
