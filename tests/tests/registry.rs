//! The registry through the gateway, as an integrator sees it: effective
//! dating across the 2025 reforms, reused codes, lineage, escalation,
//! diacritic-insensitive search and pagination. Runs on SQLite, and on
//! PostgreSQL when `P06_TEST_DATABASE_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06_proto::localities::v1::{self as pb, localities_client::LocalitiesClient};
use p06_tests::{Backend, TestStack};

type Client = LocalitiesClient<p06::client::GatewayChannel>;

async fn count(client: &mut Client, filter: &str, active_on: &str) -> i32 {
    let request = pb::ListUnitsRequest {
        filter: filter.into(),
        active_on: active_on.into(),
        page_size: 1,
        ..Default::default()
    };
    client
        .list_units(request)
        .await
        .unwrap()
        .into_inner()
        .total_size
}

const PROVINCIAL: &str = "kind = PROVINCE OR kind = CENTRALLY_RUN_CITY";

async fn acceptance(stack: &TestStack) {
    let mut client = stack.localities(&stack.admin_key).await;
    assert_eq!(count(&mut client, PROVINCIAL, "2024-06-01").await, 63);
    assert_eq!(count(&mut client, PROVINCIAL, "2025-07-02").await, 34);
    assert_eq!(
        count(&mut client, "kind = COMMUNE", "2025-07-02").await,
        3_321
    );
    assert_eq!(
        count(&mut client, "kind = COMMUNE", "2024-06-01").await,
        10_035
    );
    assert_eq!(
        count(&mut client, "kind = DISTRICT", "2024-06-01").await,
        696
    );
    // `!=` keeps units that have no parent at all (57 provinces and 6
    // centrally-run cities before the reform; none has a parent).
    assert_eq!(
        count(&mut client, "kind = PROVINCE", "2024-06-01").await,
        57
    );
    assert_eq!(
        count(
            &mut client,
            "kind = PROVINCE AND parent != \"units/p01\"",
            "2024-06-01"
        )
        .await,
        57
    );
    assert_eq!(
        count(
            &mut client,
            "kind = DISTRICT AND parent = \"units/p01\"",
            "2024-06-01"
        )
        .await,
        30
    );

    // Hà Giang (02) merged into Tuyên Quang on 2025-07-01.
    let resolved = client
        .resolve_successor(pb::ResolveSuccessorRequest {
            name: "units/p02".into(),
            date: "2025-07-02".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let unit = resolved.unit.unwrap();
    assert_eq!(
        (unit.name.as_str(), unit.display_name.as_str()),
        ("units/p08-2025", "Tỉnh Tuyên Quang")
    );
    assert_eq!(resolved.path, vec!["units/p02", "units/p08-2025"]);

    // Code 15 was Yên Bái, and is Lào Cai from 2025-07-01.
    for (date, expected) in [
        ("2024-06-01", "Tỉnh Yên Bái"),
        ("2025-07-02", "Tỉnh Lào Cai"),
    ] {
        let request = pb::LookupUnitRequest {
            code: "15".into(),
            level: pb::UnitLevel::Provincial as i32,
            date: date.into(),
        };
        let unit = client.lookup_unit(request).await.unwrap().into_inner();
        assert_eq!(unit.display_name, expected, "code 15 on {date}");
    }

    // A commune's escalation chain climbs to the Working Group.
    let chain = client
        .get_escalation_chain(pb::GetEscalationChainRequest {
            name: "units/c00004-2025".into(),
            date: "2025-08-01".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .chain;
    let names: Vec<&str> = chain.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, vec!["units/p01", "units/wg06"]);
    // A province's chain ends at the Working Group; on a date after the
    // reform an old commune's district is replaced by its successor.
    let chain = client
        .get_escalation_chain(pb::GetEscalationChainRequest {
            name: "units/p15-2025".into(),
            date: "2025-08-01".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .chain;
    assert_eq!(chain.last().map(|u| u.name.as_str()), Some("units/wg06"));
    assert_eq!(
        chain.last().map(|u| u.kind),
        Some(pb::UnitKind::SteeringBody as i32)
    );

    // "ha noi" finds Hà Nội, whatever the case and diacritics.
    let found = client
        .list_units(pb::ListUnitsRequest {
            query: "HA NOI".into(),
            filter: PROVINCIAL.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        found
            .units
            .iter()
            .map(|u| u.display_name.as_str())
            .collect::<Vec<_>>(),
        vec!["Thành phố Hà Nội"]
    );
}

#[tokio::test]
async fn registry_answers_on_sqlite() {
    acceptance(&TestStack::start().await).await;
}

#[tokio::test]
async fn registry_answers_on_postgres() {
    let Some(stack) = TestStack::start_on(Backend::Postgres).await else {
        eprintln!("P06_TEST_DATABASE_URL not set; skipping");
        return;
    };
    acceptance(&stack).await;
}

#[tokio::test]
async fn pages_cover_every_commune_once() {
    let stack = TestStack::start().await;
    let mut client = stack.localities(&stack.admin_key).await;
    let mut request = pb::ListUnitsRequest {
        filter: "kind = COMMUNE".into(),
        active_on: "2025-07-02".into(),
        page_size: 1000,
        order_by: "display_name".into(),
        ..Default::default()
    };
    let mut names = std::collections::HashSet::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_units(request.clone())
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        for u in page.units {
            assert!(names.insert(u.name.clone()), "{} served twice", u.name);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    assert_eq!((names.len(), pages), (3_321, 4));
}

#[tokio::test]
async fn unit_carries_lineage_and_validity() {
    let stack = TestStack::start().await;
    let mut client = stack.localities(&stack.admin_key).await;
    let old = client
        .get_unit(pb::GetUnitRequest {
            name: "units/p15".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (old.valid_until.as_str(), old.successors.as_slice()),
        ("2025-06-30", &["units/p15-2025".to_string()][..])
    );
    let new = client
        .get_unit(pb::GetUnitRequest {
            name: "units/p15-2025".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(new.valid_from, "2025-07-01");
    let provinces: Vec<&String> = new
        .predecessors
        .iter()
        .filter(|p| p.starts_with("units/p"))
        .collect();
    assert_eq!(provinces, vec!["units/p10", "units/p15"]);
    // The former districts of both provinces also hand over to the new province.
    assert!(new.predecessors.iter().any(|p| p.starts_with("units/d")));
    // The ministries restructured on 2025-03-01.
    let resolved = client
        .resolve_successor(pb::ResolveSuccessorRequest {
            name: "units/m-information-communications".into(),
            date: "2025-03-01".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.unit.unwrap().name, "units/m-science-technology");
    // Not found is NOT_FOUND.
    let missing = client
        .get_unit(pb::GetUnitRequest {
            name: "units/p99".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

/// BatchGetUnits as its proto comment says: the units in the order asked
/// (a name may repeat), all or nothing with NOT_FOUND naming the missing
/// one, and at most 1,000 names.
#[tokio::test]
async fn batch_get_units_answers_in_order_or_names_the_missing_unit() {
    use tonic_types::StatusExt;
    let stack = TestStack::start().await;
    let mut client = stack.localities(&stack.admin_key).await;
    let names: Vec<String> = ["units/p79", "units/p01", "units/p79"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let units = client
        .batch_get_units(pb::BatchGetUnitsRequest {
            names: names.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .units;
    assert_eq!(
        units.iter().map(|u| u.name.clone()).collect::<Vec<_>>(),
        names
    );
    let missing = client
        .batch_get_units(pb::BatchGetUnitsRequest {
            names: vec!["units/p01".into(), "units/no-such-unit".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound, "{missing:?}");
    let info = missing.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "UNIT_NOT_FOUND");
    assert_eq!(
        info.metadata.get("name").map(String::as_str),
        Some("units/no-such-unit")
    );
    assert_eq!(
        info.metadata.get("field").map(String::as_str),
        Some("names[1]")
    );
    for names in [Vec::new(), vec!["units/p01".to_string(); 1001]] {
        let refused = client
            .batch_get_units(pb::BatchGetUnitsRequest { names })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
        assert_eq!(
            p06_kit::errors::violation(&refused).map(|v| v.0).as_deref(),
            Some("names")
        );
    }
}
