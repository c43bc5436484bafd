//! The gateway's public port against hostile connections: sockets that
//! connect and never speak HTTP/2 are closed after the handshake deadline
//! and cannot lock callers out for longer; connections over the cap are
//! closed at once; a connection its peer has gone quiet on is closed after
//! the idle timeout; an oversized header list fails that call only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06_proto::localities::v1::GetUnitRequest;
use p06_tests::{Backend, TestStack};
use std::time::{Duration, Instant};
use tokio::{io::AsyncReadExt, net::TcpStream};
use tonic::Code;

async fn stack(configure: impl FnOnce(&mut p06_gateway::Config)) -> TestStack {
    let mut gateway = p06_gateway::Config::default();
    configure(&mut gateway);
    TestStack::start_on_with(Backend::Sqlite, gateway)
        .await
        .unwrap()
}

fn addr(stack: &TestStack) -> String {
    stack
        .stack()
        .gateway_url()
        .trim_start_matches("http://")
        .to_string()
}

/// Waits until the server closes `socket` (EOF or reset); how long it took.
async fn closed_within(socket: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    tokio::time::timeout(limit, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => continue,
            }
        }
    })
    .await
    .ok()
}

async fn get_unit(stack: &TestStack) -> Result<(), tonic::Status> {
    stack
        .localities(&stack.admin_key)
        .await
        .get_unit(GetUnitRequest {
            name: "units/p01".into(),
        })
        .await
        .map(|_| ())
}

#[tokio::test]
async fn silent_sockets_are_closed_and_lock_nobody_out_for_long() {
    let stack = stack(|g| {
        g.max_connections = 12;
        g.handshake_timeout_ms = 400;
    })
    .await;
    let addr = addr(&stack);
    // Twelve sockets that connect and say nothing fill the cap.
    let mut silent = Vec::new();
    for _ in 0..12 {
        silent.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // One more is closed at once. The stack's own start-up connection may
    // still have held a slot while the silent ones connected, and been let
    // go since: then one silent socket was refused and this one took the
    // freed slot; the next is over the cap.
    let mut refused_at_once = false;
    for _ in 0..2 {
        let mut over = TcpStream::connect(&addr).await.unwrap();
        if closed_within(&mut over, Duration::from_millis(300))
            .await
            .is_some()
        {
            refused_at_once = true;
            break;
        }
        silent.push(over);
    }
    assert!(refused_at_once, "a connection over the cap stays open");
    // Each silent one is closed after the handshake deadline, not before.
    for socket in &mut silent {
        let took = closed_within(socket, Duration::from_secs(3)).await;
        assert!(took.is_some(), "a silent socket was never closed");
    }
    // And callers get in again.
    get_unit(&stack).await.unwrap();
}

#[tokio::test]
async fn a_connection_its_peer_went_quiet_on_is_closed_and_clients_reconnect() {
    let stack = stack(|g| g.idle_timeout_ms = 300).await;
    // A raw HTTP/2 client: one call, then nothing.
    let socket = TcpStream::connect(addr(&stack)).await.unwrap();
    let (mut h2, connection) = h2::client::handshake(socket).await.unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::post("/grpc.health.v1.Health/Check")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (response, mut body) = h2.send_request(request, false).unwrap();
    body.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true)
        .unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    let started = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), connection).await;
    assert!(ended.is_ok(), "the quiet connection was never closed");
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A tonic channel that sat idle just reconnects.
    let mut localities = stack.localities(&stack.admin_key).await;
    let ask = || GetUnitRequest {
        name: "units/p01".into(),
    };
    localities.get_unit(ask()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut answered = localities.get_unit(ask()).await;
    if answered.is_err() {
        // The close may race the call; one retry, as clients do.
        answered = localities.get_unit(ask()).await;
    }
    answered.unwrap();
}

#[tokio::test]
async fn an_oversized_header_list_fails_that_call_only() {
    let stack = stack(|g| g.max_header_list_bytes = 8 * 1024).await;
    let mut localities = stack.localities(&stack.admin_key).await;
    let mut request = tonic::Request::new(GetUnitRequest {
        name: "units/p01".into(),
    });
    // Over the 8 KiB set here, under the 16 KiB HTTP/2 servers allow by default.
    let huge = "x".repeat(12 * 1024);
    request
        .metadata_mut()
        .insert("x-padding", huge.parse().unwrap());
    let refused = localities.get_unit(request).await.unwrap_err();
    assert_ne!(refused.code(), Code::Ok);
    // The same client goes on, and so does everyone else.
    get_unit(&stack).await.unwrap();
    localities
        .get_unit(GetUnitRequest {
            name: "units/p01".into(),
        })
        .await
        .unwrap();
}
