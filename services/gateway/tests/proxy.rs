//! The generic proxy against a fake upstream: identity and credential
//! headers, bidirectional streaming, upstream health, deadlines, the
//! in-flight limits (authenticated calls and keyless ones apart) and the
//! per-key rate limit.
#![allow(clippy::unwrap_used)]

mod common;

use common::{App, INTERNAL_TOKEN, Upstream, authed, to_path};
use futures::StreamExt;
use p06_proto::{
    gateway::v1::{WhoAmIRequest, access_client::AccessClient},
    localities::v1::{GetUnitRequest, ListUnitsRequest, localities_client::LocalitiesClient},
};
use std::time::Duration;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
};

#[tokio::test]
async fn forwards_identity_streams_and_health() {
    let upstream = Upstream::start().await;
    let app = App::start(|c| c.localities_url = upstream.url.clone()).await;

    // Unary: the upstream sees the verified identity and the internal
    // credential, never the caller's key or forged mesh headers.
    let mut localities = LocalitiesClient::new(app.channel.clone());
    let mut request = authed(
        GetUnitRequest {
            name: "units/p01".into(),
        },
        &app.admin,
    );
    request
        .metadata_mut()
        .insert("x-p06-forged", "yes".parse().unwrap());
    request
        .metadata_mut()
        .insert("x-p06-caller-role", "VIEWER".parse().unwrap());
    let status = localities.get_unit(request).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let me = AccessClient::new(app.channel.clone())
        .who_am_i(authed(WhoAmIRequest {}, &app.admin))
        .await
        .unwrap()
        .into_inner();
    let expected = format!(
        "key={} unit=units/wg06 role=ADMIN token={INTERNAL_TOKEN} authorization=absent forged=absent",
        me.api_key
    );
    assert!(
        status.message().starts_with(&expected),
        "{}",
        status.message()
    );

    // A method p06 does not have is refused at the gateway (it has no
    // access rule), even under a routed prefix and for an ADMIN key.
    let mut reflection = ServerReflectionClient::new(to_path(
        app.channel.clone(),
        "/p06.localities.v1.Echo/ServerReflectionInfo",
    ));
    let (_sender, receiver) = futures::channel::mpsc::channel::<ServerReflectionRequest>(1);
    let refused = reflection
        .server_reflection_info(authed(receiver, &app.admin))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unimplemented, "{refused:?}");
    assert!(refused.message().contains("no such method"), "{refused:?}");

    // Health: the upstream's public service turns SERVING once polled.
    let mut health = HealthClient::new(app.channel.clone());
    let request = HealthCheckRequest {
        service: "p06.localities.v1.Localities".into(),
    };
    let mut watch = health.watch(request).await.unwrap().into_inner();
    let serving = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(update)) = watch.next().await {
            if update.status() == ServingStatus::Serving {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(serving, Ok(true));
    drop(watch);
    upstream.stop();
    app.stop().await;
}

#[tokio::test]
async fn deadline_exceeded() {
    let upstream = Upstream::start().await;
    let app = App::start(|c| {
        c.localities_url = upstream.url.clone();
        c.request_timeout_ms = 300;
    })
    .await;
    let mut localities = LocalitiesClient::new(app.channel.clone());
    let status = localities
        .list_units(authed(ListUnitsRequest::default(), &app.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    upstream.stop();
    app.stop().await;
}

#[tokio::test]
async fn in_flight_limit_sheds_load() {
    let upstream = Upstream::start().await;
    let app = App::start(|c| {
        c.localities_url = upstream.url.clone();
        c.max_concurrent_requests = 1;
    })
    .await;
    let mut localities = LocalitiesClient::new(app.channel.clone());
    let mut slow = localities.clone();
    let request = authed(ListUnitsRequest::default(), &app.admin);
    let in_flight = tokio::spawn(async move { slow.list_units(request).await });
    upstream.entered.notified().await;
    let status = localities
        .get_unit(authed(GetUnitRequest::default(), &app.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    upstream.release.notify_one();
    let released = in_flight.await.unwrap().unwrap_err();
    assert_eq!(
        (released.code(), released.message()),
        (Code::NotFound, "released")
    );
    upstream.stop();
    app.stop().await;
}

/// A request body that never comes: the call holds whatever it was
/// admitted with until the gateway's deadline.
struct NeverBody;

impl http_body::Body for NeverBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

/// A health check that sends its headers and never its body.
fn hanging_health_check(app: &App) -> tokio::task::JoinHandle<()> {
    use tower::ServiceExt as _;
    let request = http::Request::builder()
        .method("POST")
        .uri("http://gateway/grpc.health.v1.Health/Check")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(NeverBody))
        .unwrap();
    let channel = app.channel.clone();
    tokio::spawn(async move {
        let _ = channel.oneshot(request).await;
    })
}

#[tokio::test]
async fn keyless_calls_cannot_take_the_permits_of_key_holders() {
    let app = App::start(|c| {
        c.max_concurrent_requests = 2;
        c.max_open_requests = 3;
    })
    .await;
    // More hanging keyless calls than either budget holds.
    let hanging: Vec<_> = (0..5).map(|_| hanging_health_check(&app)).collect();
    let mut health = HealthClient::new(app.channel.clone());
    let mut shed = None;
    for _ in 0..200 {
        match health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
        {
            Err(status) if status.code() == Code::ResourceExhausted => {
                shed = Some(status);
                break;
            }
            _ => tokio::task::yield_now().await,
        }
    }
    let shed = shed.expect("keyless calls are bounded by their own budget");
    assert!(shed.message().contains('3'), "{shed:?}");
    // Key holders still get in, both at once.
    let (mut first, mut second) = (
        AccessClient::new(app.channel.clone()),
        AccessClient::new(app.channel.clone()),
    );
    let (a, b) = tokio::join!(
        first.who_am_i(authed(WhoAmIRequest {}, &app.admin)),
        second.who_am_i(authed(WhoAmIRequest {}, &app.admin)),
    );
    a.unwrap();
    b.unwrap();
    for call in hanging {
        call.abort();
    }
    app.stop().await;
}

#[tokio::test]
async fn each_key_has_its_share_and_waits_for_a_permit_are_bounded() {
    use p06_proto::gateway::v1::{ApiKey, CreateApiKeyRequest, Role};
    let upstream = Upstream::start().await;
    let app = App::start(|c| {
        c.localities_url = upstream.url.clone();
        c.max_concurrent_requests = 3;
        c.max_concurrent_per_key = 2;
        c.max_queue_wait_ms = 300;
    })
    .await;
    let other = AccessClient::new(app.channel.clone())
        .create_api_key(authed(
            CreateApiKeyRequest {
                api_key: Some(ApiKey {
                    display_name: "Sở Công an".into(),
                    unit: "units/p01".into(),
                    role: Role::Unit as i32,
                    ..ApiKey::default()
                }),
                request_id: String::new(),
            },
            &app.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .secret;
    let localities = LocalitiesClient::new(app.channel.clone());
    let hold = |key: &str| {
        let mut client = localities.clone();
        let request = authed(ListUnitsRequest::default(), key);
        tokio::spawn(async move { client.list_units(request).await })
    };
    let get = |key: &str| {
        let mut client = localities.clone();
        let request = authed(GetUnitRequest::default(), key);
        async move { client.get_unit(request).await.unwrap_err() }
    };
    // The admin key holds its share of two (each seen to arrive: a
    // notification is kept for one waiter only).
    let first = hold(&app.admin);
    upstream.entered.notified().await;
    let second = hold(&app.admin);
    upstream.entered.notified().await;
    let held = [first, second];
    let started = std::time::Instant::now();
    let busy = get(&app.admin).await;
    assert_eq!(busy.code(), Code::ResourceExhausted, "{busy:?}");
    assert!(busy.message().contains("API key"), "{busy:?}");
    assert_eq!(
        retry_after(&busy),
        Some(p06_gateway::error::RETRY_AFTER_SHED)
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(250));
    // Another key gets in, and takes the last overall permit.
    assert_eq!(get(&other).await.code(), Code::NotFound);
    let third = hold(&other);
    upstream.entered.notified().await;
    // Now a call waits for a permit, at most the queue wait, then is shed.
    let started = std::time::Instant::now();
    let shed = get(&other).await;
    assert_eq!(shed.code(), Code::ResourceExhausted, "{shed:?}");
    assert!(shed.message().contains("overloaded"), "{shed:?}");
    assert_eq!(
        retry_after(&shed),
        Some(p06_gateway::error::RETRY_AFTER_SHED)
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    // A permit freed while it waits lets it in.
    let waiting = tokio::spawn(get(&other));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    upstream.release.notify_one();
    assert_eq!(waiting.await.unwrap().code(), Code::NotFound);
    for _ in 0..2 {
        upstream.release.notify_one();
    }
    for call in held.into_iter().chain([third]) {
        let _ = call.await;
    }
    upstream.stop();
    app.stop().await;
}

/// One caller's answer breaks the upstream connection it came on; with a
/// pool, the calls of others on the other connections carry on.
#[tokio::test]
async fn a_broken_upstream_connection_leaves_others_calls_running() {
    use p06_proto::localities::v1::LookupUnitRequest;
    for connections in [1, 4] {
        let upstream = Upstream::start().await;
        let app = App::start(|c| {
            c.localities_url = upstream.url.clone();
            c.upstream_connections = connections;
        })
        .await;
        let localities = LocalitiesClient::new(app.channel.clone());
        // Every connection up and ready first.
        let warm: Vec<_> = (0..8)
            .map(|_| {
                let mut c = localities.clone();
                let r = authed(GetUnitRequest::default(), &app.admin);
                tokio::spawn(async move { c.get_unit(r).await })
            })
            .collect();
        for w in warm {
            let _ = w.await;
        }
        // Three slow calls in flight, one after the other (so the balancer
        // spreads them over the connections by load).
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut c = localities.clone();
            let r = authed(ListUnitsRequest::default(), &app.admin);
            held.push(tokio::spawn(async move { c.list_units(r).await }));
            upstream.entered.notified().await;
        }
        // The poisoned answer.
        let broken = localities
            .clone()
            .lookup_unit(authed(LookupUnitRequest::default(), &app.admin))
            .await
            .unwrap_err();
        assert_ne!(broken.code(), Code::NotFound, "{broken:?}");
        for _ in 0..3 {
            upstream.release.notify_one();
        }
        let mut survived = 0;
        for call in held {
            if let Err(s) = call.await.unwrap()
                && s.message() == "released"
            {
                survived += 1;
            }
        }
        if connections == 1 {
            assert_eq!(
                survived, 0,
                "one shared connection: every call fails with it"
            );
        } else {
            assert!(
                survived >= 1,
                "a pool of {connections}: others' calls carry on"
            );
        }
        // And new calls go through.
        let status = localities
            .clone()
            .get_unit(authed(GetUnitRequest::default(), &app.admin))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        upstream.stop();
        app.stop().await;
    }
}

/// The RetryInfo delay of a refusal.
fn retry_after(status: &tonic::Status) -> Option<Duration> {
    use tonic_types::StatusExt;
    status.get_details_retry_info().and_then(|r| r.retry_delay)
}

#[tokio::test]
async fn rate_limit_per_key() {
    let app = App::start(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 2;
    })
    .await;
    let mut access = AccessClient::new(app.channel.clone());
    for _ in 0..2 {
        access
            .who_am_i(authed(WhoAmIRequest {}, &app.admin))
            .await
            .unwrap();
    }
    let status = access
        .who_am_i(authed(WhoAmIRequest {}, &app.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    // Retry after one call's worth of the key's rate (1 per second).
    assert_eq!(retry_after(&status), Some(Duration::from_secs(1)));
    assert!(
        status
            .message()
            .starts_with("rate limit exceeded for apiKeys/"),
        "{}",
        status.message()
    );
    assert!(
        status.message().ends_with(": 1 requests/s"),
        "{}",
        status.message()
    );
    app.stop().await;
}

#[tokio::test]
async fn down_upstream_is_unavailable() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = App::start(|c| c.localities_url = url).await;
    let mut localities = LocalitiesClient::new(app.channel.clone());
    let status = localities
        .get_unit(authed(GetUnitRequest::default(), &app.admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("upstream p06.localities unavailable"),
        "{}",
        status.message()
    );
    let mut health = HealthClient::new(app.channel.clone());
    let request = HealthCheckRequest {
        service: "p06.localities.v1.Localities".into(),
    };
    let response = health.check(request).await.unwrap().into_inner();
    assert_eq!(response.status(), ServingStatus::NotServing);
    app.stop().await;
}
