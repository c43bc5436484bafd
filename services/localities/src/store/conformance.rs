//! One conformance suite for every store backend: SQLite always, PostgreSQL
//! when `P06_TEST_DATABASE_URL` is set.

use super::*;
use crate::{
    domain::{UnitKind, UnitLevel, unit::derive_id},
    refdata,
};
use chrono::TimeZone;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn mutation(method: &'static str, request_id: Option<&str>) -> Mutation {
    Mutation {
        actor: "apiKeys/test".into(),
        method,
        request_id: request_id.map(str::to_string),
        at: Utc.with_ymd_and_hms(2025, 8, 1, 3, 0, 0).unwrap(),
    }
}

fn provinces(active_on: NaiveDate) -> UnitQuery {
    UnitQuery {
        filter: Some(p06_kit::filter::SqlCondition {
            sql: "(kind = $1 OR kind = $2)".into(),
            binds: vec![
                p06_kit::filter::SqlValue::Text("PROVINCE".into()),
                p06_kit::filter::SqlValue::Text("CENTRALLY_RUN_CITY".into()),
            ],
        }),
        active_on: Some(active_on),
        search: None,
        order: UnitOrder::Code,
        descending: false,
        after: None,
        limit: 100,
    }
}

fn new_unit(id: &str, valid_from: Option<NaiveDate>) -> NewUnit {
    NewUnit {
        id: id.into(),
        code: "T1".into(),
        kind: UnitKind::GovernmentAgency,
        level: UnitLevel::Central,
        name_vi: "Cơ quan thử nghiệm".into(),
        name_en: "Test agency".into(),
        category: String::new(),
        parent_id: None,
        supervisor_id: Some(refdata::WORKING_GROUP_ID.into()),
        valid_from,
        valid_until: None,
    }
}

async fn suite<S: LocalityStore>(store: S) {
    let data = refdata::load().unwrap();
    let at = Utc::now();
    assert!(
        store
            .load_reference(&data, refdata::VERSION, at)
            .await
            .unwrap()
    );
    assert!(
        !store
            .load_reference(&data, refdata::VERSION, at)
            .await
            .unwrap(),
        "second load is skipped"
    );

    // Effective dating: 63 provincial units before the reform, 34 after.
    assert_eq!(
        store
            .list_units(&provinces(day(2024, 6, 1)))
            .await
            .unwrap()
            .total,
        63
    );
    let after = store.list_units(&provinces(day(2025, 7, 2))).await.unwrap();
    assert_eq!(
        (after.total, after.units.len(), after.more),
        (34, 34, false)
    );

    // Keyset pagination visits each unit once.
    let mut q = provinces(day(2024, 6, 1));
    q.limit = 10;
    let mut seen = Vec::new();
    loop {
        let page = store.list_units(&q).await.unwrap();
        seen.extend(page.units.iter().map(|u| u.id.clone()));
        let Some(last) = page.units.last().filter(|_| page.more) else {
            break;
        };
        q.after = Some((last.code.clone(), last.id.clone()));
    }
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (63, 63));

    // Codes are reused: 15 is Yên Bái before, Lào Cai after.
    let yen_bai = store
        .lookup("15", UnitLevel::Provincial, day(2024, 6, 1))
        .await
        .unwrap()
        .unwrap();
    let lao_cai = store
        .lookup("15", UnitLevel::Provincial, day(2025, 7, 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (yen_bai.name_vi.as_str(), lao_cai.name_vi.as_str()),
        ("Tỉnh Yên Bái", "Tỉnh Lào Cai")
    );
    assert_eq!(yen_bai.successors, vec![lao_cai.id.clone()]);
    assert!(lao_cai.predecessors.contains(&"p10".to_string()));
    let links = store.successors_of("p02").await.unwrap();
    assert_eq!(
        (links[0].successor.as_str(), links[0].primary),
        ("p08-2025", true)
    );

    // Name search over folded names.
    let mut search = provinces(day(2024, 6, 1));
    search.search = Some("ha noi".into());
    let found = store.list_units(&search).await.unwrap();
    assert_eq!(
        found
            .units
            .iter()
            .map(|u| u.id.as_str())
            .collect::<Vec<_>>(),
        vec!["p01"]
    );

    // Create, duplicate, idempotency record.
    let unit = new_unit("g-t1", None);
    let created = store
        .create_unit(&unit, &mutation("CreateUnit", Some("req-1")))
        .await
        .unwrap();
    assert_eq!(
        (created.version, created.supervisor_id.as_deref()),
        (1, Some("wg06"))
    );
    assert_eq!(
        store
            .recall("CreateUnit", "req-1")
            .await
            .unwrap()
            .as_deref(),
        Some("g-t1")
    );
    assert!(matches!(
        store
            .create_unit(&unit, &mutation("CreateUnit", None))
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    let mut orphan = new_unit("g-t2", None);
    orphan.parent_id = Some("nowhere".into());
    assert!(matches!(
        store
            .create_unit(&orphan, &mutation("CreateUnit", None))
            .await,
        Err(StoreError::Invalid("parent", _))
    ));
    assert!(
        store.get_unit("g-t2").await.unwrap().is_none(),
        "nothing written"
    );

    // Optimistic concurrency.
    let mut renamed = created.clone();
    renamed.name_vi = "Cơ quan đổi tên".into();
    let updated = store
        .update_unit(&renamed, 1, &mutation("UpdateUnit", None))
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert!(matches!(
        store
            .update_unit(&renamed, 1, &mutation("UpdateUnit", None))
            .await,
        Err(StoreError::Conflict { current: 2, .. })
    ));

    // A merge into a unit not yet in force is refused and writes nothing.
    let future = new_unit("g-t3-2030", Some(day(2030, 1, 1)));
    store
        .create_unit(&future, &mutation("CreateUnit", None))
        .await
        .unwrap();
    let refused = Merge {
        sources: vec!["g-t1".into()],
        successor: Successor::Existing("g-t3-2030".into()),
        effective: day(2026, 1, 1),
    };
    assert!(matches!(
        store
            .merge_units(&refused, &mutation("MergeUnits", None))
            .await,
        Err(StoreError::Precondition(
            "successor",
            "SUCCESSOR_NOT_ACTIVE",
            _
        ))
    ));
    assert_eq!(
        store.get_unit("g-t1").await.unwrap().unwrap().valid_until,
        None
    );
    // Several at once: those that exist, whatever the order asked.
    let mut found: Vec<String> = store
        .get_units(&["g-t2".into(), "g-t1".into(), "no-such-unit".into()])
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    found.sort();
    assert_eq!(found, vec!["g-t1".to_string()]);
    assert!(store.get_units(&[]).await.unwrap().is_empty());

    // A merge into a new unit ends the sources the day before.
    let id = derive_id(UnitKind::GovernmentAgency, "T9", Some(day(2026, 1, 1)));
    let mut successor = new_unit(&id, Some(day(2026, 1, 1)));
    successor.code = "T9".into();
    let merge = Merge {
        sources: vec!["g-t1".into()],
        successor: Successor::New(successor),
        effective: day(2026, 1, 1),
    };
    let outcome = store
        .merge_units(&merge, &mutation("MergeUnits", Some("m-1")))
        .await
        .unwrap();
    assert_eq!(outcome.successor.predecessors, vec!["g-t1".to_string()]);
    assert_eq!(outcome.ended[0].valid_until, Some(day(2025, 12, 31)));

    // Two merges racing to end the same source: exactly one wins.
    for id in ["g-r1", "g-r2", "g-r3"] {
        let mut u = new_unit(id, None);
        u.code = id.to_uppercase();
        store
            .create_unit(&u, &mutation("CreateUnit", None))
            .await
            .unwrap();
    }
    let race = |successor: &str| Merge {
        sources: vec!["g-r1".into()],
        successor: Successor::Existing(successor.into()),
        effective: day(2026, 3, 1),
    };
    let (to_r2, to_r3, m) = (race("g-r2"), race("g-r3"), mutation("MergeUnits", None));
    let (a, b) = tokio::join!(store.merge_units(&to_r2, &m), store.merge_units(&to_r3, &m));
    assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "{a:?} / {b:?}");
    assert_eq!(store.successors_of("g-r1").await.unwrap().len(), 1);

    // Contacts with versions.
    let contacts = Contacts {
        unit_id: "p01".into(),
        webhook_url: "https://hooks.hanoi.gov.vn/p06".into(),
        webhook_enabled: true,
        webhook_secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
        ..Default::default()
    };
    assert!(store.get_contacts("p01").await.unwrap().is_none());
    let written = store
        .put_contacts(&contacts, &mutation("UpdateContacts", None))
        .await
        .unwrap();
    assert_eq!((written.version, written.webhook_secrets.len()), (1, 1));
    assert!(matches!(
        store
            .put_contacts(&contacts, &mutation("UpdateContacts", None))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let missing = Contacts {
        unit_id: "nowhere".into(),
        ..contacts
    };
    assert!(matches!(
        store
            .put_contacts(&missing, &mutation("UpdateContacts", None))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// The snapshot agrees with the database after every write through it,
/// and a second replica over the same database catches up with writes it
/// did not make: at its next check, or at once on a PostgreSQL signal.
async fn replicas_converge<S: LocalityStore>(
    a: CachedStore<S>,
    b: CachedStore<S>,
    signalled: bool,
) {
    let data = refdata::load().unwrap();
    a.load_reference(&data, refdata::VERSION, Utc::now())
        .await
        .unwrap();
    let shutdown = p06_kit::Shutdown::new();
    // A check interval no test waits for: only a signal wakes a replica.
    for replica in [&a, &b] {
        replica.spawn_refresh(std::time::Duration::from_secs(3600), shutdown.clone());
    }
    if !signalled {
        assert!(b.refresh().await.unwrap(), "B loads what A wrote");
    }
    let created = a
        .create_unit(&new_unit("g-replica", None), &mutation("CreateUnit", None))
        .await
        .unwrap();
    assert_eq!(
        a.get_unit("g-replica").await.unwrap(),
        Some(created.clone())
    );
    let seen = async {
        loop {
            if !signalled {
                b.refresh().await.unwrap();
            }
            if b.get_unit("g-replica").await.unwrap().is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), seen)
        .await
        .expect("replica B sees A's new unit");
    assert_eq!(b.get_unit("g-replica").await.unwrap(), Some(created));
    // A load may have read data newer than the version it read first (a
    // write landed in between); one more check settles it.
    b.refresh().await.unwrap();
    assert!(!b.refresh().await.unwrap(), "nothing left to load");

    // A merge through B: both views show the link, from either end.
    let merged = b
        .merge_units(
            &Merge {
                sources: vec!["g-replica".into()],
                successor: Successor::New(new_unit("g-replica-next", Some(day(2026, 1, 1)))),
                effective: day(2026, 1, 1),
            },
            &mutation("MergeUnits", None),
        )
        .await
        .unwrap();
    assert_eq!(merged.successor.predecessors, vec!["g-replica".to_string()]);
    if !signalled {
        a.refresh().await.unwrap();
    }
    let walk = async {
        loop {
            let links = a.successors_of("g-replica").await.unwrap();
            if !links.is_empty() {
                return links;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let links = tokio::time::timeout(std::time::Duration::from_secs(10), walk)
        .await
        .expect("replica A sees B's merge");
    assert_eq!(links[0].successor, "g-replica-next");
    let ended = a.get_unit("g-replica").await.unwrap().unwrap();
    assert_eq!(ended.valid_until, Some(day(2025, 12, 31)));
    assert_eq!(ended.successors, vec!["g-replica-next".to_string()]);
    assert_eq!(
        a.inner().get_unit("g-replica").await.unwrap(),
        Some(ended),
        "the snapshot reads as the database does"
    );
    shutdown.trigger();
}

/// A snapshot-serving store over the database at `url`.
async fn cached(url: &str) -> CachedStore<SqlStore> {
    CachedStore::new(SqlStore::connect(url).await.unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("localities.db").display());
    suite(SqlStore::connect(&url).await.unwrap()).await;
    let second = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", second.path().join("localities.db").display());
    suite(cached(&url).await).await;
}

#[tokio::test]
async fn sqlite_replicas_converge() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("localities.db").display());
    let (a, b) = (cached(&url).await, cached(&url).await);
    replicas_converge(a, b, false).await;
}

#[tokio::test]
async fn postgres_conforms() {
    let Some(url) = p06_kit::db::fresh_test_database("localities").await else {
        eprintln!("P06_TEST_DATABASE_URL not set; skipping the PostgreSQL conformance run");
        return;
    };
    suite(SqlStore::connect(&url).await.unwrap()).await;
    let url = p06_kit::db::fresh_test_database("localities_cached")
        .await
        .unwrap();
    suite(cached(&url).await).await;
}

#[tokio::test]
async fn postgres_replicas_converge() {
    let Some(url) = p06_kit::db::fresh_test_database("localities_replicas").await else {
        eprintln!("P06_TEST_DATABASE_URL not set; skipping the PostgreSQL replica run");
        return;
    };
    let (a, b) = (cached(&url).await, cached(&url).await);
    replicas_converge(a, b, true).await;
}
