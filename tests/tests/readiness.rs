//! Health that means something: a service's readiness (gRPC health "" and
//! its own service name) turns NOT_SERVING while its database is
//! unreachable and SERVING again when it returns, with no restart; the
//! gateway reports that upstream the same way; liveness stays SERVING.
//!
//! The database is PostgreSQL behind a TCP gate the test opens and shuts,
//! as a database host that goes away would (skipped without
//! `P06_TEST_DATABASE_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06::stack::Databases;
use p06_proto::localities::v1::GetUnitRequest;
use p06_proto::localities::v1::{Contacts, UpdateContactsRequest, WebhookEndpoint};
use p06_tests::TestStack;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, task::JoinSet};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt as _;

/// A TCP forwarder to PostgreSQL that can be shut (every connection cut,
/// nothing accepted) and opened again on the same port.
struct Gate {
    addr: SocketAddr,
    target: SocketAddr,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Gate {
    async fn open_on(addr: SocketAddr, target: SocketAddr) -> Gate {
        let mut gate = Gate {
            addr,
            target,
            running: None,
        };
        gate.open().await;
        gate
    }

    async fn open(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("gate binds");
        self.addr = listener.local_addr().unwrap();
        let target = self.target;
        self.running = Some(tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Cuts every connection and stops accepting.
    async fn shut(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
            let _ = running.await;
        }
    }
}

async fn status(client: &mut HealthClient<tonic::transport::Channel>, service: &str) -> i32 {
    client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map_or(-1, |r| r.into_inner().status)
}

/// Polls (bounded) until `service` at `client` reports `want`.
async fn until(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
    want: ServingStatus,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if status(client, service).await == want as i32 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{service:?} did not turn {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn health(addr: SocketAddr) -> HealthClient<tonic::transport::Channel> {
    HealthClient::new(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database() {
    let Some(url) = p06_kit::db::fresh_test_database("ready_localities").await else {
        eprintln!("P06_TEST_DATABASE_URL unset: skipped");
        return;
    };
    // postgres://user@HOST:PORT/db → the gate in front of HOST:PORT.
    let (head, rest) = url.split_once('@').unwrap();
    let (server, database) = rest.split_once('/').unwrap();
    let target = tokio::net::lookup_host(server)
        .await
        .unwrap()
        .next()
        .unwrap();
    let mut gate = Gate::open_on("127.0.0.1:0".parse().unwrap(), target).await;
    let dir = tempfile::tempdir().unwrap();
    let databases = Databases {
        localities: format!("{head}@{}/{database}", gate.addr),
        ..Databases::sqlite_in(dir.path()).unwrap()
    };
    let stack = TestStack::start_with(dir, databases, Arc::new(p06_kit::SystemClock)).await;
    let mut localities = health(stack.stack().localities_addr).await;
    let mut gateway = health(stack.stack().gateway_addr).await;
    const UPSTREAM: &str = "p06.localities.v1.Localities";
    until(&mut localities, "", ServingStatus::Serving).await;
    until(&mut gateway, UPSTREAM, ServingStatus::Serving).await;

    gate.shut().await;
    until(&mut localities, "", ServingStatus::NotServing).await;
    until(&mut localities, UPSTREAM, ServingStatus::NotServing).await;
    until(&mut gateway, UPSTREAM, ServingStatus::NotServing).await;
    assert_eq!(
        status(&mut localities, "liveness").await,
        ServingStatus::Serving as i32,
        "liveness stays simple"
    );
    assert_eq!(
        status(&mut gateway, "").await,
        ServingStatus::Serving as i32,
        "the gateway is ready while other upstreams answer"
    );
    // A call that needs the database meanwhile is UNAVAILABLE, with its
    // reason, so a client knows to retry: not INTERNAL.
    let down = stack
        .localities(&stack.admin_key)
        .await
        .update_contacts(UpdateContactsRequest {
            contacts: Some(Contacts {
                name: "units/p01/contacts".into(),
                webhook: Some(WebhookEndpoint {
                    url: "https://hanoi.gov.vn/p06".into(),
                    enabled: true,
                    secrets: Vec::new(),
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(down.code(), tonic::Code::Unavailable, "{down:?}");
    assert_eq!(
        down.get_error_details()
            .error_info()
            .map(|i| i.reason.as_str()),
        Some("DATABASE_UNAVAILABLE"),
        "{down:?}"
    );

    gate.open().await;
    until(&mut localities, "", ServingStatus::Serving).await;
    until(&mut gateway, UPSTREAM, ServingStatus::Serving).await;
    let unit = stack
        .localities(&stack.admin_key)
        .await
        .get_unit(GetUnitRequest {
            name: "units/p01".into(),
        })
        .await
        .expect("answers again with no restart")
        .into_inner();
    assert!(
        unit.display_name.contains("Hà Nội"),
        "{}",
        unit.display_name
    );
}
