//! Streams re-check their key: a WatchChanges or Subscribe stream opened
//! through the gateway ends with UNAUTHENTICATED soon after its key is
//! revoked, and stays open while the key is live.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06_proto::{
    gateway::v1::{RevokeApiKeyRequest, Role},
    notifications::v1::SubscribeRequest,
    tasks::v1::WatchChangesRequest,
};
use p06_tests::{Backend, Setup, TestStack};
use std::{sync::Arc, time::Duration};
use tonic::Code;

/// "p06_<id>_<secret>" → "apiKeys/<id>".
fn key_name(token: &str) -> String {
    let id = token.split('_').nth(1).expect("a p06 token");
    format!("apiKeys/{id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_keys_streams_end_and_a_live_keys_stay_open() {
    let mut setup = Setup::new(Arc::new(p06_kit::SystemClock));
    setup.gateway.stream_key_check_ms = 100;
    let stack = TestStack::start_setup(Backend::Sqlite, setup)
        .await
        .unwrap();
    let revoked = stack
        .key_for("units/m-government-office", Role::Coordinator)
        .await;
    let kept = stack
        .key_for("units/m-government-office", Role::Coordinator)
        .await;
    let hanoi = stack.key_for("units/p01", Role::Unit).await;

    let mut changes = stack
        .tasks(&revoked)
        .await
        .watch_changes(WatchChangesRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    let mut other = stack
        .tasks(&kept)
        .await
        .watch_changes(WatchChangesRequest { after_sequence: 0 })
        .await
        .unwrap()
        .into_inner();
    let hanoi_name = key_name(&hanoi);
    let mut inbox = stack
        .notifications(&hanoi)
        .await
        .subscribe(SubscribeRequest {
            unit: "units/p01".into(),
            after_cursor: 0,
        })
        .await
        .unwrap()
        .into_inner();
    // Several checks pass while the keys are live: the streams stay open.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), changes.message())
            .await
            .is_err(),
        "a live key's stream stays open"
    );

    let mut access = stack.access(&stack.admin_key).await;
    for name in [key_name(&revoked), hanoi_name] {
        access
            .revoke_api_key(RevokeApiKeyRequest { name })
            .await
            .unwrap();
    }
    let within = Duration::from_secs(10);
    for (what, ended) in [
        (
            "WatchChanges",
            tokio::time::timeout(within, changes.message())
                .await
                .map(|r| r.map(|_| ())),
        ),
        (
            "Subscribe",
            tokio::time::timeout(within, inbox.message())
                .await
                .map(|r| r.map(|_| ())),
        ),
    ] {
        let status = ended
            .unwrap_or_else(|_| panic!("{what}: still open {within:?} after the revocation"))
            .expect_err("the stream ends");
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
        assert!(status.message().contains("revoked"), "{what}: {status:?}");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), other.message())
            .await
            .is_err(),
        "another key's stream stays open"
    );
}
