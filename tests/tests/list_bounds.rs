//! What a list request sends into SQL is bounded: an over-long audit
//! resource prefix or unit search text is INVALID_ARGUMENT naming the field
//! (a 50,001-character one used to be INTERNAL on SQLite: "LIKE or GLOB
//! pattern too complex"), and so is an over-long page token, even one made
//! for the request. A NUL character in any of them, or in a filter, is
//! INVALID_ARGUMENT too (it used to be INTERNAL on PostgreSQL, which refuses
//! NUL in text). On both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06_kit::{page, text::MAX_PATTERN_CHARS};
use p06_proto::{
    gateway::v1::Role, localities::v1 as loc, notifications::v1 as npb, tasks::v1 as pb,
};
use p06_tests::{Backend, TestStack};
use tonic::Code;

fn field(status: &tonic::Status) -> String {
    p06_kit::errors::violation(status)
        .map(|(f, _)| f)
        .unwrap_or_default()
}

async fn stacks() -> Vec<TestStack> {
    let mut stacks = vec![TestStack::start().await];
    match TestStack::start_on(Backend::Postgres).await {
        Some(stack) => stacks.push(stack),
        None => eprintln!("P06_TEST_DATABASE_URL unset: Postgres skipped"),
    }
    stacks
}

#[tokio::test]
async fn an_audit_prefix_is_bounded() {
    for stack in stacks().await {
        // An entry, so the prefix is matched against something.
        let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
        stack
            .tasks(&coordinator)
            .await
            .create_directive(pb::CreateDirectiveRequest {
                directive: Some(pb::Directive {
                    number: "344/TB-VPCP".into(),
                    r#type: pb::DirectiveType::Notice as i32,
                    issuer: "units/m-government-office".into(),
                    issue_date: "2024-07-02".into(),
                    title: "Kết luận của Thủ tướng".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap();
        let mut tasks = stack.tasks(&stack.admin_key).await;
        let audit = |resource_prefix: String| pb::ListAuditLogRequest {
            resource_prefix,
            ..Default::default()
        };
        tasks
            .list_audit_log(audit(format!(
                "directives/{}",
                "đ".repeat(MAX_PATTERN_CHARS - 11)
            )))
            .await
            .expect("the longest prefix answers");
        let entries = tasks
            .list_audit_log(audit("directives/".into()))
            .await
            .unwrap()
            .into_inner()
            .entries;
        assert_eq!(entries.len(), 1);
        for prefix in [
            "d".repeat(MAX_PATTERN_CHARS + 1),
            "d".repeat(50_001),
            "directives/\0".into(),
        ] {
            let refused = tasks.list_audit_log(audit(prefix)).await.unwrap_err();
            assert_eq!(
                (refused.code(), field(&refused).as_str()),
                (Code::InvalidArgument, "resource_prefix"),
                "{refused:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_unit_search_is_bounded() {
    for stack in stacks().await {
        let mut localities = stack.localities(&stack.admin_key).await;
        let search = |query: String| loc::ListUnitsRequest {
            query,
            ..Default::default()
        };
        localities
            .list_units(search("đ".repeat(MAX_PATTERN_CHARS)))
            .await
            .expect("the longest search answers");
        for query in [
            "a".repeat(MAX_PATTERN_CHARS + 1),
            "a".repeat(50_001),
            "Hà\0Nội".into(),
        ] {
            let refused = localities.list_units(search(query)).await.unwrap_err();
            assert_eq!(
                (refused.code(), field(&refused).as_str()),
                (Code::InvalidArgument, "query"),
                "{refused:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_page_token_is_bounded() {
    for stack in stacks().await {
        let mut localities = stack.localities(&stack.admin_key).await;
        // A well-formed token for this request (no filter, order, date or
        // query), carrying a long sort key.
        let fingerprint = page::fingerprint(&["", "", "", ""]);
        let list = |page_token: String| loc::ListUnitsRequest {
            page_token,
            ..Default::default()
        };
        let fits = page::encode(&fingerprint, vec!["p01".into(), "p01".into()]);
        localities
            .list_units(list(fits))
            .await
            .expect("a token made for the request answers");
        for key in ["a".repeat(5_000), "p01\0".into()] {
            let forged = page::encode(&fingerprint, vec![key, "p01".into()]);
            let refused = localities.list_units(list(forged)).await.unwrap_err();
            assert_eq!(
                (refused.code(), field(&refused).as_str()),
                (Code::InvalidArgument, "page_token"),
                "{refused:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_filter_with_a_nul_character_is_invalid() {
    for stack in stacks().await {
        let refusals = [
            stack
                .localities(&stack.admin_key)
                .await
                .list_units(loc::ListUnitsRequest {
                    filter: "code = \"01\0\"".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            stack
                .tasks(&stack.admin_key)
                .await
                .list_directives(pb::ListDirectivesRequest {
                    filter: "number = \"06/Q\0D-TTg\"".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            stack
                .notifications(&stack.admin_key)
                .await
                .list_notifications(npb::ListNotificationsRequest {
                    parent: "units/-".into(),
                    filter: "assignment = \"tasks/x\0/assignments/p01\"".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
        ];
        for refused in refusals {
            let refused = refused.unwrap_err();
            assert_eq!(
                (refused.code(), field(&refused).as_str()),
                (Code::InvalidArgument, "filter"),
                "{refused:?}"
            );
        }
    }
}
