//! Bad input gets INVALID_ARGUMENT or FAILED_PRECONDITION naming the field,
//! and nothing is written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06_proto::localities::v1::{self as pb};
use p06_tests::TestStack;
use tonic::Code;

fn field(status: &tonic::Status) -> String {
    p06_kit::errors::violation(status)
        .map(|(f, _)| f)
        .or_else(|| {
            use tonic_types::StatusExt;
            status
                .get_details_error_info()
                .and_then(|i| i.metadata.get("field").cloned())
        })
        .unwrap_or_default()
}

fn agency(code: &str) -> pb::Unit {
    pb::Unit {
        code: code.into(),
        kind: pb::UnitKind::GovernmentAgency as i32,
        display_name: "Cơ quan kiểm thử".into(),
        ..Default::default()
    }
}

async fn total(
    client: &mut p06_proto::localities::v1::localities_client::LocalitiesClient<
        p06::client::GatewayChannel,
    >,
) -> i32 {
    client
        .list_units(pb::ListUnitsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .total_size
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let stack = TestStack::start().await;
    let mut client = stack.localities(&stack.admin_key).await;
    let before = total(&mut client).await;

    let empty_code = client
        .create_unit(pb::CreateUnitRequest {
            unit: Some(agency("")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (empty_code.code(), field(&empty_code).as_str()),
        (Code::InvalidArgument, "unit.code"),
        "{empty_code:?}"
    );

    let unknown_kind = pb::Unit {
        kind: 99,
        ..agency("KT3")
    };
    let err = client
        .create_unit(pb::CreateUnitRequest {
            unit: Some(unknown_kind),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "unit.kind"),
        "{err:?}"
    );

    let bad_date = pb::Unit {
        valid_from: "2025-13-01".into(),
        ..agency("KT3")
    };
    let err = client
        .create_unit(pb::CreateUnitRequest {
            unit: Some(bad_date),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "unit.valid_from")
    );

    let err = client
        .list_units(pb::ListUnitsRequest {
            page_token: "not-a-token".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "page_token")
    );

    let err = client
        .list_units(pb::ListUnitsRequest {
            filter: "kind = VILLAGE".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "filter")
    );
    assert!(err.message().contains("VILLAGE"), "{}", err.message());

    let err = client
        .list_units(pb::ListUnitsRequest {
            filter: "colour = red".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let err = client
        .list_units(pb::ListUnitsRequest {
            active_on: "yesterday".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(field(&err), "active_on");

    // Merging into a unit no longer in force: Yên Bái ended on 2025-06-30.
    let merge = pb::MergeUnitsRequest {
        sources: vec!["units/m-finance".into()],
        successor: "units/p15".into(),
        effective_date: "2026-01-01".into(),
        ..Default::default()
    };
    let err = client.merge_units(merge).await.unwrap_err();
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::FailedPrecondition, "successor"),
        "{err:?}"
    );
    let finance = client
        .get_unit(pb::GetUnitRequest {
            name: "units/m-finance".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(finance.valid_until, "", "the failed merge ended nothing");

    // A new successor with a parent that does not exist: named, nothing ended.
    let merge = pb::MergeUnitsRequest {
        sources: vec!["units/m-finance".into()],
        new_successor: Some(pb::Unit {
            parent: "units/nowhere".into(),
            ..agency("KT9")
        }),
        effective_date: "2026-01-01".into(),
        ..Default::default()
    };
    let err = client.merge_units(merge).await.unwrap_err();
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "new_successor.parent"),
        "{err:?}"
    );
    let finance = client
        .get_unit(pb::GetUnitRequest {
            name: "units/m-finance".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(finance.valid_until, "");

    // A hostile filter is refused, not a crash.
    let deep = format!("{}kind = PROVINCE{}", "(".repeat(500), ")".repeat(500));
    let err = client
        .list_units(pb::ListUnitsRequest {
            filter: deep,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), field(&err).as_str()),
        (Code::InvalidArgument, "filter")
    );

    // A page token made for another filter is refused.
    let first = client
        .list_units(pb::ListUnitsRequest {
            filter: "kind = PROVINCE".into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let err = client
        .list_units(pb::ListUnitsRequest {
            filter: "kind = COMMUNE".into(),
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(field(&err), "page_token");

    assert_eq!(total(&mut client).await, before, "no unit was written");
}

#[tokio::test]
async fn updates_check_the_etag_and_merges_are_idempotent() {
    let stack = TestStack::start().await;
    let mut client = stack.localities(&stack.admin_key).await;
    let created = client
        .create_unit(pb::CreateUnitRequest {
            unit: Some(agency("KT4")),
            request_id: "create-kt4".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // A retried create with the same request id returns the first result.
    let again = client
        .create_unit(pb::CreateUnitRequest {
            unit: Some(agency("KT4")),
            request_id: "create-kt4".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, created.name);

    let mask = prost_types::FieldMask {
        paths: vec!["english_name".into()],
    };
    let update = |etag: &str, request_id: &str| pb::UpdateUnitRequest {
        unit: Some(pb::Unit {
            name: created.name.clone(),
            english_name: "Test agency".into(),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(mask.clone()),
        request_id: request_id.into(),
    };
    let updated = client
        .update_unit(update(&created.etag, "rename-kt4"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.english_name, "Test agency");
    // A retry of the same update returns the unit instead of an etag error...
    let retried = client
        .update_unit(update(&created.etag, "rename-kt4"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried.etag, updated.etag);
    // ...while a new update from the stale etag is refused.
    let stale = client
        .update_unit(update(&created.etag, ""))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    // Merge into a new successor, retried with the same request id.
    let merge = pb::MergeUnitsRequest {
        sources: vec![created.name.clone()],
        new_successor: Some(agency("KT5")),
        effective_date: "2026-01-01".into(),
        request_id: "merge-kt4".into(),
        ..Default::default()
    };
    let first = client
        .merge_units(merge.clone())
        .await
        .unwrap()
        .into_inner();
    let second = client.merge_units(merge).await.unwrap().into_inner();
    let successor = first.successor.unwrap();
    assert_eq!(successor.name, "units/g-kt5-2026");
    assert_eq!(second.successor.unwrap().name, successor.name);
    assert_eq!(first.ended[0].valid_until, "2025-12-31");
    let resolved = client
        .resolve_successor(pb::ResolveSuccessorRequest {
            name: created.name,
            date: "2026-02-01".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.unit.unwrap().name, successor.name);
}

/// One caller's oversized input gets a short error and breaks nobody else:
/// a 32 KB resource name used to be echoed whole into `grpc-message`, which
/// grew the service's answer past what the gateway's HTTP/2 connection to
/// it accepts, so that shared connection died and other callers' calls
/// failed with UNAVAILABLE.
#[tokio::test]
async fn a_huge_name_gets_a_short_answer_and_other_callers_carry_on() {
    let stack = TestStack::start().await;
    let other = stack
        .key_for("units/p01", p06_proto::gateway::v1::Role::Unit)
        .await;
    let mut admin = stack.localities(&stack.admin_key).await;
    let mut hanoi = stack.localities(&other).await;
    for size in [8 * 1024, 32 * 1024, 200 * 1024] {
        let name = format!("units/{}", "đ".repeat(size / 2));
        let refused = admin
            .get_unit(pb::GetUnitRequest { name })
            .await
            .unwrap_err();
        // Over the method's request size the gateway refuses it whole.
        assert!(
            matches!(
                refused.code(),
                Code::InvalidArgument | Code::NotFound | Code::ResourceExhausted
            ),
            "{size} bytes: {:?} {}",
            refused.code(),
            &refused.message()[..refused.message().len().min(200)]
        );
        assert!(
            refused.message().chars().count() <= p06_kit::rpc::message::MAX_MESSAGE_CHARS + 1,
            "{size} bytes: a message of {} chars",
            refused.message().chars().count()
        );
        let unit = hanoi
            .get_unit(pb::GetUnitRequest {
                name: "units/p01".into(),
            })
            .await
            .unwrap_or_else(|s| panic!("another caller after {size} bytes: {s:?}"))
            .into_inner();
        assert!(unit.display_name.contains("Hà Nội"));
    }
}

/// The gateway checks every request against its bounds before a service
/// sees it: strings by field, size by method, and well-formed protobuf.
#[tokio::test]
async fn requests_over_their_bounds_are_refused_at_the_gateway_naming_the_field() {
    use p06_proto::tasks::v1 as tasks;
    let stack = TestStack::start().await;
    let mut localities = stack.localities(&stack.admin_key).await;
    // A filter of 3,000 characters: INVALID_ARGUMENT on "filter".
    let refused = localities
        .list_units(pb::ListUnitsRequest {
            filter: format!("display_name = \"{}\"", "a".repeat(3000)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(field(&refused), "filter");
    // An audit prefix of 50,001 characters: not INTERNAL.
    let mut tasks_client = stack.tasks(&stack.admin_key).await;
    let refused = tasks_client
        .list_audit_log(tasks::ListAuditLogRequest {
            resource_prefix: "t".repeat(50_001),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(field(&refused), "resource_prefix");
    // A NUL character, which PostgreSQL cannot store: refused at the edge.
    let refused = localities
        .get_unit(pb::GetUnitRequest {
            name: "units/p0\u{0}1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(field(&refused), "name");
    // A nested, repeated field is named by its path.
    let refused = tasks_client
        .create_task(tasks::CreateTaskRequest {
            parent: "directives/d".into(),
            task: Some(tasks::Task {
                title: "Rà soát".into(),
                ..Default::default()
            }),
            assignees: vec![
                tasks::Assignee {
                    unit: "units/p01".into(),
                    ..Default::default()
                },
                tasks::Assignee {
                    unit: format!("units/{}", "x".repeat(600)),
                    ..Default::default()
                },
            ],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(field(&refused), "assignees[1].unit");
    // A request over the method's size: RESOURCE_EXHAUSTED.
    let refused = localities
        .update_contacts(pb::UpdateContactsRequest {
            contacts: Some(pb::Contacts {
                name: "units/p01/contacts".into(),
                email: Some(pb::EmailEndpoint {
                    addresses: vec!["a@b.vn".repeat(20); 1000],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // Bytes that are no protobuf message: INVALID_ARGUMENT, not INTERNAL.
    let mut raw = tonic::client::Grpc::new(stack.channel(Some(&stack.admin_key)).await);
    raw.ready().await.unwrap();
    let refused = raw
        .unary::<tasks::GetTaskRequest, tasks::Task, _>(
            tonic::Request::new(tasks::GetTaskRequest {
                name: "tasks/x".into(),
            }),
            http::uri::PathAndQuery::from_static("/p06.localities.v1.Localities/GetUnit"),
            tonic_prost::ProstCodec::default(),
        )
        .await;
    // A GetTaskRequest is wire-compatible with a GetUnitRequest; this one
    // simply names no unit.
    assert_eq!(refused.unwrap_err().code(), Code::InvalidArgument);
    let mut garbage = tonic::client::Grpc::new(stack.channel(Some(&stack.admin_key)).await);
    garbage.ready().await.unwrap();
    let refused = garbage
        .unary::<pb::Unit, pb::Unit, _>(
            // A length-delimited field 1 where ListUnitsRequest has an int32.
            tonic::Request::new(pb::Unit {
                name: "garbage".into(),
                ..Default::default()
            }),
            http::uri::PathAndQuery::from_static("/p06.localities.v1.Localities/ListUnits"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(field(&refused), "request");
    // Other callers carry on.
    localities
        .get_unit(pb::GetUnitRequest {
            name: "units/p01".into(),
        })
        .await
        .unwrap();
}
