//! One conformance suite for every store backend: SQLite always, PostgreSQL
//! when `P06_TEST_DATABASE_URL` is set.

use super::*;
use crate::domain::{
    calendar::{DayKind, SHIPPED_CSV, parse_csv},
    model::{ChangeKind, DeadlineRule, DirectiveType, TaskGroup},
    status::Period,
};
use chrono::{Datelike, TimeZone};
use p06_kit::filter::SqlValue;
use std::collections::HashSet;

mod as_of;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn mutation(method: &'static str, request_id: Option<&str>) -> Mutation {
    Mutation {
        actor: "apiKeys/test".into(),
        method,
        request_id: request_id.map(str::to_string),
        at: Utc.with_ymd_and_hms(2025, 8, 1, 3, 0, 0).unwrap(),
        today: day(2025, 8, 1),
        trace_context: TRACEPARENT.into(),
        expected_version: None,
        entered_by: None,
    }
}

/// The trace context every test mutation carries; feed rows keep it.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn directive(number: &str, issue_date: NaiveDate) -> Directive {
    Directive {
        id: crate::domain::model::directive_id(number, issue_date),
        number: number.into(),
        kind: DirectiveType::Notice,
        issuer: "vpcp".into(),
        issue_date,
        title: format!("Thông báo {number}"),
        link: "https://vanban.chinhphu.vn/344".into(),
        created_at: Utc.with_ymd_and_hms(2025, 7, 30, 8, 0, 0).unwrap(),
    }
}

fn task(id: &str, directive_id: &str, deadline: Option<DeadlineRule>, at: DateTime<Utc>) -> Task {
    Task {
        id: id.into(),
        directive_id: directive_id.into(),
        title: format!("Task {id}"),
        description: "Do the thing".into(),
        group: TaskGroup::Data,
        period: if deadline.is_none() {
            Some(Period::Quarterly)
        } else {
            None
        },
        deadline,
        created_at: at,
    }
}

/// `n` assignees p01…pNN, the first leading; every third has no deadline
/// and the others share a few deadlines so that ties are broken by unit.
fn assignees(n: usize) -> Vec<NewAssignment> {
    (1..=n)
        .map(|i| NewAssignment {
            unit_id: format!("p{i:02}"),
            role: if i == 1 {
                AssigneeRole::Lead
            } else {
                AssigneeRole::Coordinate
            },
            deadline: if i % 3 == 0 {
                None
            } else {
                Some(day(2025, 9, 1 + (i % 4) as u32))
            },
            assigned_on: day(2025, 8, 1),
        })
        .collect()
}

fn progress(percent: i32) -> Action {
    Action::Progress {
        on: None,
        percent,
        note: format!("{percent}% done"),
        evidence_link: String::new(),
    }
}

fn sort_key(a: &Assignment, order: AssignmentOrder) -> (String, String, String) {
    (
        sql::sort_value(a, order),
        a.task_id.clone(),
        a.unit_id.clone(),
    )
}

/// Walks every page of a list, checking the order and that each row is
/// served once.
async fn walk<S: TaskStore>(
    store: &S,
    filter: Option<SqlCondition>,
    order: AssignmentOrder,
    descending: bool,
) -> Vec<Assignment> {
    let mut q = AssignmentQuery {
        filter,
        order,
        descending,
        after: None,
        limit: 4,
        as_of: None,
    };
    let mut seen = Vec::new();
    loop {
        let page = store.list_assignments(&q).await.unwrap();
        assert!(page.assignments.len() <= q.limit);
        seen.extend(page.assignments.iter().cloned());
        let Some(last) = page.assignments.last().filter(|_| page.more) else {
            break;
        };
        q.after = Some(sort_key(last, order));
    }
    let unique: HashSet<_> = seen
        .iter()
        .map(|a| (a.task_id.clone(), a.unit_id.clone()))
        .collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "a row served twice in {order:?} order"
    );
    let keys: Vec<_> = seen.iter().map(|a| sort_key(a, order)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    if descending {
        sorted.reverse();
    }
    assert_eq!(keys, sorted, "{order:?} order (descending: {descending})");
    seen
}

async fn suite<S: TaskStore>(store: S) {
    // Directives: create, duplicate, get, idempotency record.
    let d1 = directive("344/TB-VPCP", day(2024, 7, 2));
    let created = store
        .create_directive(&d1, &mutation("CreateDirective", Some("req-d1")))
        .await
        .unwrap();
    assert_eq!(created, d1);
    assert_eq!(
        store
            .recall("CreateDirective", "req-d1")
            .await
            .unwrap()
            .as_deref(),
        Some(d1.id.as_str())
    );
    assert_eq!(
        store.recall("CreateDirective", "req-other").await.unwrap(),
        None
    );
    assert_eq!(store.recall("CreateTask", "req-d1").await.unwrap(), None);
    match store
        .create_directive(&d1, &mutation("CreateDirective", None))
        .await
    {
        Err(StoreError::AlreadyExists(r)) => assert_eq!(r, format!("directives/{}", d1.id)),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(store.get_directive(&d1.id).await.unwrap(), Some(d1.clone()));
    assert_eq!(store.get_directive("nowhere").await.unwrap(), None);

    // Directive pages: newest first, then id, each once.
    for (n, date) in [
        ("01/CT-TTg", day(2025, 1, 5)),
        ("02/CT-TTg", day(2025, 1, 5)),
        ("7/NQ-CP", day(2023, 3, 1)),
        ("9/KH-BCA", day(2025, 6, 1)),
    ] {
        store
            .create_directive(&directive(n, date), &mutation("CreateDirective", None))
            .await
            .unwrap();
    }
    let mut after = None;
    let mut listed = Vec::new();
    loop {
        let (page, more) = store.list_directives(None, after.clone(), 2).await.unwrap();
        assert!(page.len() <= 2);
        listed.extend(page.iter().map(|d| (d.issue_date, d.id.clone())));
        match page.last() {
            Some(last) if more => after = Some((last.issue_date, last.id.clone())),
            _ => break,
        }
    }
    let mut expected = listed.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed, expected);
    assert_eq!(listed.len(), 5);
    assert_eq!(listed.iter().collect::<HashSet<_>>().len(), 5);
    // A filter combines with the keyset (its placeholders first).
    let since = p06_kit::filter::SqlCondition {
        sql: "issue_date >= $1".into(),
        binds: vec![p06_kit::filter::SqlValue::Date(listed[2].0)],
    };
    let (first, more) = store.list_directives(Some(&since), None, 2).await.unwrap();
    assert!(more && first.len() == 2);
    let last = first.last().map(|d| (d.issue_date, d.id.clone()));
    let (rest, _) = store.list_directives(Some(&since), last, 10).await.unwrap();
    assert_eq!(
        first.len() + rest.len(),
        listed.iter().filter(|(d, _)| *d >= listed[2].0).count()
    );

    // Tasks: a missing directive writes nothing.
    let at = Utc.with_ymd_and_hms(2025, 8, 1, 3, 0, 0).unwrap();
    let orphan = task(
        "t0",
        "nowhere-2025",
        Some(DeadlineRule::WorkingDays(10)),
        at,
    );
    match store
        .create_task(&orphan, &assignees(2), &mutation("CreateTask", None))
        .await
    {
        Err(StoreError::NotFound(r)) => assert_eq!(r, "directives/nowhere-2025"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(store.get_task("t0").await.unwrap(), None);
    assert!(
        store.changes_after(0, 100).await.unwrap().is_empty()
            && store.feed_head().await.unwrap() == 0,
        "nothing written"
    );

    // Eleven assignees: eleven assignments and eleven CREATED changes.
    let t1 = task("t1", &d1.id, Some(DeadlineRule::WorkingDays(10)), at);
    let people = assignees(11);
    let (written, assignments) = store
        .create_task(&t1, &people, &mutation("CreateTask", Some("req-t1")))
        .await
        .unwrap();
    assert_eq!(written, t1);
    assert_eq!(store.get_task("t1").await.unwrap(), Some(t1.clone()));
    assert_eq!(
        store
            .recall("CreateTask", "req-t1")
            .await
            .unwrap()
            .as_deref(),
        Some("t1")
    );
    assert_eq!(assignments.len(), 11);
    for (a, n) in assignments.iter().zip(&people) {
        assert_eq!(
            (a.task_id.as_str(), &a.unit_id, a.role, a.deadline),
            ("t1", &n.unit_id, n.role, n.deadline)
        );
        assert_eq!(
            (a.version, a.progress, a.deadline_version, a.created_on),
            (1, 0, 1, day(2025, 8, 1))
        );
        assert_eq!(
            (a.directive_id.as_str(), a.group, a.title.as_str(), a.period),
            (d1.id.as_str(), TaskGroup::Data, "Task t1", None)
        );
        assert!(a.is_open());
        assert_eq!(
            store
                .get_assignment("t1", &a.unit_id)
                .await
                .unwrap()
                .as_ref(),
            Some(a)
        );
    }
    let created = store.changes_after(0, 100).await.unwrap();
    assert_eq!(created.len(), 11);
    assert_eq!(
        store.feed_head().await.unwrap(),
        created.last().unwrap().sequence
    );
    assert!(created.iter().all(|c| c.kind == ChangeKind::Created
        && c.task_id == "t1"
        && c.actor == "apiKeys/test"
        && c.trace_context == TRACEPARENT));
    assert!(created.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert_eq!(
        created
            .iter()
            .map(|c| c.unit_id.clone())
            .collect::<HashSet<_>>()
            .len(),
        11
    );
    assert!(matches!(
        store.create_task(&t1, &people, &mutation("CreateTask", None)).await,
        Err(StoreError::AlreadyExists(r)) if r == "tasks/t1"
    ));

    // A recurring duty and a second dated task.
    let t2 = task("t2", &d1.id, None, at + chrono::Duration::seconds(5));
    let (_, recurring) = store
        .create_task(
            &t2,
            &assignees(4)[..3]
                .iter()
                .cloned()
                .map(|mut a| {
                    a.deadline = None;
                    a
                })
                .collect::<Vec<_>>(),
            &mutation("CreateTask", None),
        )
        .await
        .unwrap();
    assert!(
        recurring
            .iter()
            .all(|a| a.period == Some(Period::Quarterly) && a.deadline.is_none())
    );
    let t3 = task(
        "t3",
        &d1.id,
        Some(DeadlineRule::Date(day(2025, 8, 20))),
        at + chrono::Duration::seconds(9),
    );
    let dated: Vec<_> = ["p03", "p12"]
        .iter()
        .map(|u| NewAssignment {
            unit_id: (*u).into(),
            role: AssigneeRole::Lead,
            deadline: Some(day(2025, 8, 20)),
            assigned_on: day(2025, 8, 1),
        })
        .collect();
    store
        .create_task(&t3, &dated, &mutation("CreateTask", None))
        .await
        .unwrap();
    assert_eq!(
        store.get_task("t3").await.unwrap().unwrap().deadline,
        Some(DeadlineRule::Date(day(2025, 8, 20)))
    );

    // Actions and their refusals, each bumping the version once.
    let m = mutation("ReportProgress", Some("req-p1"));
    let a = store.act("t1", "p01", &progress(40), &m).await.unwrap();
    assert_eq!(
        (a.progress, a.last_report_on, a.version),
        (40, Some(day(2025, 8, 1)), 2)
    );
    // What the action answered is kept with its request id.
    let kept = store.recall("ReportProgress", "req-p1").await.unwrap();
    assert_eq!(
        kept.as_deref()
            .and_then(crate::domain::model::Acted::from_record),
        Some(crate::domain::model::Acted {
            today: m.today,
            assignment: a.clone(),
        })
    );
    assert!(
        matches!(
            store.act("t1", "p01", &progress(50), &m).await,
            Err(StoreError::Conflict(_))
        ),
        "a reused request id"
    );
    // The caller's etag is checked in the write's transaction: a stale
    // version changes nothing (the current one going through is below,
    // with the completion).
    let head = store.feed_head().await.unwrap();
    let stale = Mutation {
        expected_version: Some(1),
        ..mutation("ReportProgress", Some("req-stale"))
    };
    assert!(
        matches!(
            store.act("t1", "p01", &progress(45), &stale).await,
            Err(StoreError::Stale(_, 2))
        ),
        "a stale etag"
    );
    assert_eq!(store.feed_head().await.unwrap(), head, "nothing written");
    assert_eq!(
        store
            .get_assignment("t1", "p01")
            .await
            .unwrap()
            .unwrap()
            .progress,
        40
    );
    assert_eq!(
        store
            .get_assignment("t1", "p01")
            .await
            .unwrap()
            .unwrap()
            .version,
        2,
        "nothing written"
    );
    let complete = Action::Complete {
        on: day(2025, 8, 1),
        note: "done".into(),
    };
    let early = Action::Complete {
        on: day(2025, 7, 31),
        note: String::new(),
    };
    assert!(matches!(
        store
            .act("t1", "p01", &early, &mutation("CompleteAssignment", None))
            .await,
        Err(StoreError::Precondition(
            "completed_on",
            "BEFORE_ASSIGNED",
            _
        ))
    ));
    let future = Action::Complete {
        on: day(2025, 8, 2),
        note: String::new(),
    };
    assert!(matches!(
        store
            .act("t1", "p01", &future, &mutation("CompleteAssignment", None))
            .await,
        Err(StoreError::Precondition("completed_on", "IN_THE_FUTURE", _))
    ));
    let at_version_2 = Mutation {
        expected_version: Some(2),
        ..mutation("CompleteAssignment", None)
    };
    let a = store
        .act("t1", "p01", &complete, &at_version_2)
        .await
        .unwrap();
    assert_eq!(
        (a.completed_on, a.progress, a.version),
        (Some(day(2025, 8, 1)), 100, 3)
    );
    assert!(matches!(
        store
            .act(
                "t1",
                "p01",
                &progress(10),
                &mutation("ReportProgress", None)
            )
            .await,
        Err(StoreError::Precondition(_, "COMPLETED", _))
    ));
    let a = store
        .act(
            "t1",
            "p01",
            &Action::Reopen {
                reason: "evidence missing".into(),
            },
            &mutation("ReopenAssignment", None),
        )
        .await
        .unwrap();
    assert_eq!((a.completed_on, a.progress, a.version), (None, 100, 4));
    assert!(matches!(
        store
            .act(
                "t1",
                "p01",
                &Action::Reopen {
                    reason: "again".into()
                },
                &mutation("ReopenAssignment", None)
            )
            .await,
        Err(StoreError::Precondition(_, "NOT_COMPLETED", _))
    ));
    let cancel = Action::Cancel {
        on: day(2025, 8, 1),
        reason: "merged into t3".into(),
    };
    let a = store
        .act("t1", "p01", &cancel, &mutation("CancelAssignment", None))
        .await
        .unwrap();
    assert_eq!(
        (a.cancelled_on, a.version, a.is_open()),
        (Some(day(2025, 8, 1)), 5, false)
    );
    assert!(matches!(
        store
            .act(
                "t1",
                "p01",
                &progress(10),
                &mutation("ReportProgress", None)
            )
            .await,
        Err(StoreError::Precondition("name", "CANCELLED", _))
    ));
    assert!(matches!(
        store
            .act("t1", "p01", &cancel, &mutation("CancelAssignment", None))
            .await,
        Err(StoreError::Precondition(_, "ALREADY_CANCELLED", _))
    ));
    assert_eq!(store.get_assignment("t1", "p01").await.unwrap(), Some(a));
    match store
        .act(
            "t1",
            "p99",
            &progress(10),
            &mutation("ReportProgress", None),
        )
        .await
    {
        Err(StoreError::NotFound(r)) => assert_eq!(r, "tasks/t1/assignments/p99"),
        other => panic!("expected NotFound, got {other:?}"),
    }

    // One assignment's history.
    let events = store.events_of("t1", "p01", 0, 100).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|c| c.kind).collect();
    use ChangeKind::*;
    assert_eq!(
        kinds,
        vec![Created, Progress, Completed, Reopened, Cancelled]
    );
    assert_eq!(
        (events[1].percent, events[1].note.as_str()),
        (40, "40% done")
    );
    assert_eq!(events[4].note, "merged into t3");
    let later = store
        .events_of("t1", "p01", events[1].sequence, 2)
        .await
        .unwrap();
    assert_eq!(
        later.iter().map(|c| c.kind).collect::<Vec<_>>(),
        vec![Completed, Reopened]
    );

    // Racing actions on one assignment: never a lost update.
    let start = store
        .get_assignment("t1", "p02")
        .await
        .unwrap()
        .unwrap()
        .version;
    let mut successes = 0;
    for round in 0..5 {
        let (ma, mb, mc) = (
            mutation("ReportProgress", None),
            mutation("ReportProgress", None),
            mutation("ReportProgress", None),
        );
        let (pa, pb, pc) = (
            progress(round * 10 + 1),
            progress(round * 10 + 2),
            progress(round * 10 + 3),
        );
        let (a, b, c) = tokio::join!(
            store.act("t1", "p02", &pa, &ma),
            store.act("t1", "p02", &pb, &mb),
            store.act("t1", "p02", &pc, &mc)
        );
        for r in [a, b, c] {
            match r {
                Ok(_) => successes += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("unexpected error in a race: {e}"),
            }
        }
    }
    assert!(successes >= 5, "at least one action of each round wins");
    let end = store.get_assignment("t1", "p02").await.unwrap().unwrap();
    assert_eq!(end.version, start + successes);
    let reported = store.events_of("t1", "p02", 0, 100).await.unwrap();
    assert_eq!(
        reported.iter().filter(|c| c.kind == Progress).count() as i64,
        successes
    );
    assert_eq!(reported.last().unwrap().percent, end.progress);

    // The feed resumes exactly: no gaps, no repeats, strictly increasing.
    let all = store.changes_after(0, 10_000).await.unwrap();
    let mut resumed = Vec::new();
    let mut cursor = 0;
    loop {
        let page = store.changes_after(cursor, 3).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.sequence;
        resumed.extend(page);
    }
    assert_eq!(resumed, all);
    assert!(
        all.iter().zip(1..).all(|(c, n)| c.sequence == n),
        "sequences are 1, 2, 3, …"
    );
    assert_eq!(all.len() as i64, 11 + 3 + 2 + 4 + successes);
    assert!(
        all.iter().all(|c| c.trace_context == TRACEPARENT),
        "every feed row keeps the trace context of the call that wrote it"
    );
    assert!(store.changes_after(cursor, 3).await.unwrap().is_empty());

    // Lists: a filter on unit, and pages in every order visiting each row once.
    let p03 = SqlCondition {
        sql: "unit_id = $1".into(),
        binds: vec![SqlValue::Text("p03".into())],
    };
    let of_p03 = walk(&store, Some(p03.clone()), AssignmentOrder::Deadline, false).await;
    assert_eq!(
        of_p03
            .iter()
            .map(|a| a.task_id.as_str())
            .collect::<Vec<_>>(),
        vec!["t3", "t1", "t2"],
        "recurring duties last"
    );
    assert!(of_p03.iter().all(|a| a.unit_id == "p03"));
    assert_eq!(
        store.all_assignments(Some(&p03), None).await.unwrap().len(),
        3
    );
    let total = store.all_assignments(None, None).await.unwrap();
    assert_eq!(total.len(), 11 + 3 + 2);
    for order in [
        AssignmentOrder::Deadline,
        AssignmentOrder::Unit,
        AssignmentOrder::CreateTime,
    ] {
        for descending in [false, true] {
            assert_eq!(
                walk(&store, None, order, descending).await.len(),
                total.len(),
                "{order:?} {descending}"
            );
        }
    }
    let by_deadline = walk(&store, None, AssignmentOrder::Deadline, false).await;
    let first_none = by_deadline
        .iter()
        .position(|a| a.deadline.is_none())
        .unwrap();
    assert!(
        by_deadline[first_none..]
            .iter()
            .all(|a| a.deadline.is_none()),
        "no deadline sorts last"
    );
    let by_creation = walk(&store, None, AssignmentOrder::CreateTime, false).await;
    assert_eq!(by_creation.first().unwrap().task_id, "t1");
    assert_eq!(by_creation.last().unwrap().task_id, "t3");
    let dated_filter = SqlCondition {
        sql: "deadline <= $1 AND task_group = $2".into(),
        binds: vec![
            SqlValue::Date(day(2025, 9, 2)),
            SqlValue::Text("DATA".into()),
        ],
    };
    let due = walk(&store, Some(dated_filter), AssignmentOrder::Deadline, true).await;
    assert!(!due.is_empty());
    assert!(
        due.iter()
            .all(|a| a.deadline.is_some_and(|d| d <= day(2025, 9, 2)))
    );
    let bad = AssignmentQuery {
        filter: None,
        order: AssignmentOrder::Deadline,
        descending: false,
        after: Some(("soon".into(), "t1".into(), "p01".into())),
        limit: 2,
        as_of: None,
    };
    assert!(matches!(
        store.list_assignments(&bad).await,
        Err(StoreError::Precondition("page_token", _, _))
    ));

    // Calendar: seed, replace a year, seeding again restores nothing.
    let shipped = parse_csv(SHIPPED_CSV).unwrap();
    assert!(store.calendar().await.unwrap().is_empty());
    store.seed_calendar(&shipped).await.unwrap();
    let mut sorted = shipped.clone();
    sorted.sort_by_key(|d| d.date);
    assert_eq!(store.calendar().await.unwrap(), sorted);
    let only = CalendarDay {
        date: day(2025, 9, 2),
        kind: DayKind::DayOff,
        name: "National Day".into(),
    };
    store
        .replace_calendar_year(
            2025,
            std::slice::from_ref(&only),
            &mutation("UpdateCalendar", Some("req-c1")),
        )
        .await
        .unwrap();
    store
        .replace_calendar_year(2026, &[], &mutation("UpdateCalendar", None))
        .await
        .unwrap();
    assert_eq!(
        store
            .recall("UpdateCalendar", "req-c1")
            .await
            .unwrap()
            .as_deref(),
        Some("2025")
    );
    store.seed_calendar(&shipped).await.unwrap();
    let now = store.calendar().await.unwrap();
    let year = |y: i32| {
        now.iter()
            .filter(|d| d.date.year() == y)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(year(2025), vec![only.clone()]);
    assert!(year(2026).is_empty(), "an emptied year stays empty");
    assert_eq!(
        year(2024),
        sorted
            .iter()
            .filter(|d| d.date.year() == 2024)
            .cloned()
            .collect::<Vec<_>>()
    );
    assert!(matches!(
        store
            .replace_calendar_year(
                2027,
                std::slice::from_ref(&only),
                &mutation("UpdateCalendar", None)
            )
            .await,
        Err(StoreError::Precondition("days", "OUTSIDE_YEAR", _))
    ));
    assert_eq!(
        store.calendar().await.unwrap(),
        now,
        "a refused replacement writes nothing"
    );
    counts_match_the_domain(&store).await;
    as_of::as_of_reads_match_the_domain_over_random_histories(&store).await;
}

/// The database's status counts equal the domain's derivation over the same
/// rows, on every as-of date around the data, in total and per unit.
async fn counts_match_the_domain<S: TaskStore>(store: &S) {
    use crate::domain::{status::status, summary::Counts};
    let all = store.all_assignments(None, None).await.unwrap();
    let dated: Vec<_> = all.iter().filter(|a| a.deadline.is_some()).collect();
    assert!(!dated.is_empty());
    for as_of in [
        day(2024, 6, 1),
        day(2025, 8, 1),
        day(2025, 9, 3),
        day(2025, 10, 2),
        day(2026, 1, 1),
    ] {
        let mut expected = Counts::default();
        let mut per_unit: std::collections::BTreeMap<String, Counts> = Default::default();
        for a in &dated {
            if let Some((st, backlog)) = status(&a.status_input(), as_of) {
                expected.add(st, backlog);
                per_unit
                    .entry(a.unit_id.clone())
                    .or_default()
                    .add(st, backlog);
            }
        }
        let got = store
            .count_deadline_statuses(None, as_of, false)
            .await
            .unwrap();
        assert_eq!(
            got.first().map(|(_, c)| *c).unwrap_or_default(),
            expected,
            "as of {as_of}"
        );
        let by_unit: std::collections::BTreeMap<String, Counts> = store
            .count_deadline_statuses(None, as_of, true)
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(by_unit, per_unit, "per unit as of {as_of}");
        let scope = ("unit_id", dated[0].unit_id.clone());
        let one = store
            .count_deadline_statuses(Some(&scope), as_of, false)
            .await
            .unwrap();
        assert_eq!(
            one.first().map(|(_, c)| *c).unwrap_or_default(),
            per_unit.get(&scope.1).copied().unwrap_or_default()
        );
    }
}

#[tokio::test]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("tasks.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    suite(store.clone()).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_conforms() {
    let Some(url) = p06_kit::db::fresh_test_database("tasks").await else {
        eprintln!("P06_TEST_DATABASE_URL not set; skipping the PostgreSQL conformance run");
        return;
    };
    let store = SqlStore::connect(&url).await.unwrap();
    suite(store.clone()).await;
    store.close().await;
}
