//! One conformance suite for every store backend: each test below runs on a
//! fresh SQLite file always and on a fresh PostgreSQL database when
//! `P06_TEST_DATABASE_URL` is set (skipped silently otherwise).
//!
//! The bodies are generic over [`NotificationStore`] and check what the
//! trait documents: the feed cursor moves with its schedule changes, a
//! dedupe key is produced once, leases hand a row to one claimer at a time,
//! stream positions only grow, and the inbox, delivery and policy calls keep
//! their contracts. No test sleeps: times are plain millisecond numbers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::domain::Rule;
use p06_kit::filter::SqlValue;
use std::collections::HashSet;

/// Runs each named body as `sqlite::name` and `postgres::name`, each on a
/// database of its own; attributes (e.g. `#[ignore]`) apply to both.
macro_rules! conformance {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                $(#[$attr])*
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = format!("sqlite:{}", dir.path().join("notifications.db").display());
                    let store = super::SqlStore::connect(&url).await.unwrap();
                    super::$name(&store).await;
                    store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                $(#[$attr])*
                #[tokio::test]
                async fn $name() {
                    let Some(url) = p06_kit::db::fresh_test_database("notifications").await else {
                        return;
                    };
                    let store = super::SqlStore::connect(&url).await.unwrap();
                    super::$name(&store).await;
                    store.close().await;
                }
            )*
        }
    };
}

conformance!(
    feed_moves_the_cursor_with_its_ops,
    claim_schedules_leases_due_rows,
    concurrent_claims_never_overlap,
    commit_evaluated_writes_live_schedules_once,
    produce_dedupes_digests,
    notifications_read_back_by_unit_and_page,
    acknowledge_once_within_the_unit,
    deliveries_lease_record_and_redrive,
    batched_text_round_trips_exactly,
    two_results_for_one_delivery_keep_the_later,
    touch_schedules_by_scope,
    open_schedules_and_digests,
    policies_create_update_delete,
    policy_writes_replan_their_scope,
    delivery_pages_keep_every_channel,
);

// ---- Helpers --------------------------------------------------------------

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// An open, dated, non-urgent schedule due at 1 000 ms, nothing sent yet.
fn schedule(task: &str, unit: &str) -> Schedule {
    Schedule {
        task_id: task.into(),
        unit_id: unit.into(),
        directive_id: "d1".into(),
        directive_number: "344/TB-VPCP".into(),
        title: format!("Task {task}"),
        group: "DATA".into(),
        period: None,
        since: day(2025, 8, 1),
        deadline: Some(day(2025, 9, 1)),
        deadline_version: 1,
        generation: 1,
        acked: Vec::new(),
        last: None,
        next_due_ms: Some(1_000),
        urgent: false,
        cause: CAUSE.into(),
    }
}

/// The trace context test schedules and reminders carry.
const CAUSE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A reminder of `kind` to `unit` about its own assignment of `task`; the
/// dedupe key follows the id unless a test sets it.
fn notification(id: &str, unit: &str, kind: Kind, task: &str) -> Notification {
    Notification {
        seq: 0,
        id: id.into(),
        dedupe_key: format!("key-{id}"),
        unit_id: unit.into(),
        kind,
        task_id: task.into(),
        assignee_id: unit.into(),
        directive_id: "d1".into(),
        directive_number: "344/TB-VPCP".into(),
        title: format!("Task {task}"),
        deadline: Some(day(2025, 9, 1)),
        days_left: 2,
        days_overdue: 0,
        text_vi: "Sắp đến hạn".into(),
        text_en: "Due soon".into(),
        digest: Vec::new(),
        due_ms: 900,
        created_ms: 0,
        acked_ms: None,
        cause: CAUSE.into(),
    }
}

/// A monthly digest for `unit`.
fn digest(id: &str, unit: &str, month: &str) -> Notification {
    Notification {
        dedupe_key: format!("{unit}/digest/{month}"),
        task_id: String::new(),
        directive_id: String::new(),
        directive_number: String::new(),
        title: format!("Digest {month}"),
        deadline: None,
        digest: vec![
            DigestItem {
                task_id: "t1".into(),
                directive_number: "344/TB-VPCP".into(),
                title: "Task t1".into(),
                deadline: Some(day(2025, 7, 31)),
                overdue: true,
            },
            DigestItem {
                task_id: "t2".into(),
                directive_number: "12/CT-TTg".into(),
                title: "Task t2".into(),
                deadline: None,
                overdue: false,
            },
        ],
        ..notification(id, unit, Kind::Digest, "")
    }
}

/// What evaluating `s` (at its claimed generation) decided.
fn evaluated(
    s: &Schedule,
    last: Option<StepKey>,
    next_due_ms: Option<i64>,
    notifications: Vec<(Notification, Vec<Channel>)>,
) -> Evaluated {
    Evaluated {
        task_id: s.task_id.clone(),
        unit_id: s.unit_id.clone(),
        generation: s.generation,
        last,
        next_due_ms,
        urgent: s.urgent,
        notifications,
    }
}

fn mutation(method: &'static str, request_id: Option<&str>, at_ms: i64) -> Mutation {
    Mutation {
        actor: "apiKeys/test".into(),
        method,
        request_id: request_id.map(str::to_string),
        at_ms,
    }
}

fn attempt(id: &str, channel: Channel, n: i32, success: bool, at_ms: i64) -> Attempt {
    Attempt {
        notification_id: id.into(),
        channel,
        attempt: n,
        success,
        response_code: if success { 200 } else { 503 },
        error: if success {
            String::new()
        } else {
            format!("attempt {n} failed")
        },
        latency_ms: 40,
        at_ms,
    }
}

/// A re-planning that leaves every schedule as it is.
fn keep(_: &[StoredPolicy], page: &[Schedule]) -> Vec<(bool, Option<i64>)> {
    page.iter().map(|s| (s.urgent, s.next_due_ms)).collect()
}

fn policy(id: &str, directive: Option<&str>, group: Option<&str>) -> StoredPolicy {
    StoredPolicy {
        id: id.into(),
        directive_id: directive.map(str::to_string),
        group: group.map(str::to_string),
        rules: vec![
            Rule {
                kind: Kind::DueSoon,
                working_days: 3,
                repeat_every: 0,
            },
            Rule {
                kind: Kind::Overdue,
                working_days: 1,
                repeat_every: 2,
            },
        ],
        urgent: false,
        version: 0,
        created_ms: 0,
        updated_ms: 0,
    }
}

fn overdue_only() -> SqlCondition {
    SqlCondition {
        sql: "kind = $1".into(),
        binds: vec![SqlValue::Text("OVERDUE".into())],
    }
}

fn state_is(state: DeliveryState) -> SqlCondition {
    SqlCondition {
        sql: "state = $1".into(),
        binds: vec![SqlValue::Text(state.as_str().into())],
    }
}

/// Applies `ops` as the next feed batch (which must win).
async fn feed<S: NotificationStore>(store: &S, ops: Vec<FeedOp>) {
    let from = store.feed_cursor().await.unwrap();
    assert!(store.apply_feed(from, &ops, from + 1).await.unwrap());
}

async fn put<S: NotificationStore>(store: &S, schedules: &[&Schedule]) {
    feed(
        store,
        schedules
            .iter()
            .map(|s| FeedOp::Put((*s).clone()))
            .collect(),
    )
    .await;
}

fn sorted(mut v: Vec<Schedule>) -> Vec<Schedule> {
    v.sort_by(|a, b| (&a.task_id, &a.unit_id).cmp(&(&b.task_id, &b.unit_id)));
    v
}

/// The stored versions of these schedules, by key.
async fn read<S: NotificationStore>(store: &S, schedules: &[&Schedule]) -> Vec<Schedule> {
    let keys: Vec<(String, String)> = schedules
        .iter()
        .map(|s| (s.task_id.clone(), s.unit_id.clone()))
        .collect();
    sorted(store.schedules(&keys).await.unwrap())
}

async fn stored<S: NotificationStore>(store: &S, s: &Schedule) -> Schedule {
    let mut found = read(store, &[s]).await;
    assert_eq!(found.len(), 1, "schedule {}/{}", s.task_id, s.unit_id);
    found.remove(0)
}

fn task_ids(schedules: &[Schedule]) -> Vec<&str> {
    let mut ids: Vec<&str> = schedules.iter().map(|s| s.task_id.as_str()).collect();
    ids.sort_unstable();
    ids
}

fn ids(notifications: &[Notification]) -> Vec<&str> {
    notifications.iter().map(|n| n.id.as_str()).collect()
}

fn claimed_keys(claimed: &[Claimed]) -> Vec<(String, Channel)> {
    let mut keys: Vec<_> = claimed
        .iter()
        .map(|c| (c.delivery.notification_id.clone(), c.delivery.channel))
        .collect();
    keys.sort_by_key(|(id, c)| (id.clone(), c.as_str()));
    keys
}

fn key(id: &str, channel: Channel) -> (String, Channel) {
    (id.to_string(), channel)
}

async fn delivery<S: NotificationStore>(store: &S, id: &str, channel: Channel) -> Delivery {
    store
        .deliveries_of(&[id.to_string()])
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.channel == channel)
        .unwrap_or_else(|| panic!("no {channel} delivery of {id}"))
}

// ---- Feed and schedules ---------------------------------------------------

async fn feed_moves_the_cursor_with_its_ops<S: NotificationStore>(store: &S) {
    assert_eq!(store.feed_cursor().await.unwrap(), 0);
    let full = Schedule {
        period: Some(Period::Quarterly),
        deadline_version: 3,
        generation: 7,
        acked: vec![Kind::DueSoon, Kind::Overdue],
        last: Some(StepKey {
            date: day(2025, 9, 2),
            rank: 3,
        }),
        next_due_ms: Some(12_345),
        urgent: true,
        ..schedule("t1", "u1")
    };
    let bare = Schedule {
        deadline: None,
        next_due_ms: None,
        ..schedule("t2", "u1")
    };
    let same_task = schedule("t1", "u2");
    let ops = [&full, &bare, &same_task].map(|s| FeedOp::Put(s.clone()));
    assert!(store.apply_feed(0, &ops, 10).await.unwrap());
    assert_eq!(store.feed_cursor().await.unwrap(), 10);
    assert_eq!(
        read(store, &[&full, &bare, &same_task]).await,
        sorted(vec![full.clone(), bare.clone(), same_task.clone()])
    );

    // Another replica applied past 0 already: nothing of this batch lands.
    let late = schedule("t9", "u9");
    let stale = [
        FeedOp::Put(late.clone()),
        FeedOp::Remove {
            task_id: "t1".into(),
            unit_id: "u1".into(),
        },
    ];
    assert!(!store.apply_feed(0, &stale, 12).await.unwrap());
    assert_eq!(store.feed_cursor().await.unwrap(), 10);
    assert!(read(store, &[&late]).await.is_empty());
    assert_eq!(stored(store, &full).await, full);

    // Put replaces every field (back to empty ones too); Remove deletes.
    let replaced = Schedule {
        directive_id: "d2".into(),
        directive_number: "12/CT-TTg".into(),
        title: "Renamed".into(),
        group: "FINANCE".into(),
        period: None,
        since: day(2025, 8, 20),
        deadline: Some(day(2025, 10, 1)),
        deadline_version: 4,
        generation: 11,
        acked: Vec::new(),
        last: None,
        next_due_ms: Some(5_000),
        urgent: false,
        ..full.clone()
    };
    let ops = [
        FeedOp::Put(replaced.clone()),
        FeedOp::Remove {
            task_id: bare.task_id.clone(),
            unit_id: bare.unit_id.clone(),
        },
        FeedOp::Remove {
            task_id: "absent".into(),
            unit_id: "u1".into(),
        },
    ];
    assert!(store.apply_feed(10, &ops, 11).await.unwrap());
    assert_eq!(store.feed_cursor().await.unwrap(), 11);
    assert_eq!(
        read(store, &[&full, &bare, &same_task]).await,
        sorted(vec![replaced, same_task])
    );

    // A batch with nothing for us still moves the cursor.
    assert!(store.apply_feed(11, &[], 15).await.unwrap());
    assert_eq!(store.feed_cursor().await.unwrap(), 15);
    assert!(store.schedules(&[]).await.unwrap().is_empty());
}

async fn claim_schedules_leases_due_rows<S: NotificationStore>(store: &S) {
    let quiet = Schedule {
        next_due_ms: Some(1_000),
        ..schedule("quiet", "u1")
    };
    let urgent = Schedule {
        next_due_ms: Some(2_000),
        urgent: true,
        ..schedule("urgent", "u1")
    };
    let later = Schedule {
        next_due_ms: Some(5_000),
        urgent: true,
        ..schedule("later", "u1")
    };
    let finished = Schedule {
        next_due_ms: None,
        urgent: true,
        ..schedule("finished", "u1")
    };
    put(store, &[&quiet, &urgent, &later, &finished]).await;

    // The producer sleeps until the next due time after now.
    assert_eq!(store.next_due_after(0).await.unwrap(), Some(1_000));
    assert_eq!(store.next_due_after(1_000).await.unwrap(), Some(2_000));
    assert_eq!(store.next_due_after(4_999).await.unwrap(), Some(5_000));
    assert_eq!(store.next_due_after(5_000).await.unwrap(), None);

    // Nothing is due yet.
    assert!(
        store
            .claim_schedules(500, true, 10_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Offices closed: only the urgent one that is due, as stored.
    let claimed = store
        .claim_schedules(2_500, false, 10_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed, vec![urgent.clone()]);
    // Offices open: the other due one; the urgent one is leased.
    let claimed = store
        .claim_schedules(2_500, true, 10_000, 10)
        .await
        .unwrap();
    assert_eq!(task_ids(&claimed), ["quiet"]);
    let claimed = store
        .claim_schedules(6_000, true, 20_000, 10)
        .await
        .unwrap();
    assert_eq!(task_ids(&claimed), ["later"]);
    // Leased until 10 000: not claimed before then.
    assert!(
        store
            .claim_schedules(9_999, true, 30_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Once the leases are over they are claimed again, `limit` at a time.
    let first = store
        .claim_schedules(10_001, true, 30_000, 1)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let rest = store
        .claim_schedules(10_001, true, 30_000, 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(
        task_ids(&[first, rest].concat()),
        ["quiet", "urgent"],
        "the row due at 5 000 is leased until 20 000; the finished one never comes"
    );
}

async fn concurrent_claims_never_overlap<S: NotificationStore>(store: &S) {
    let all: Vec<Schedule> = (0..24)
        .map(|i| schedule(&format!("t{i:02}"), "u1"))
        .collect();
    put(store, &all.iter().collect::<Vec<_>>()).await;
    let rounds =
        futures::future::join_all((0..4).map(|_| store.claim_schedules(1_000, true, 10_000, 4)))
            .await;
    let mut seen = HashSet::new();
    for round in rounds {
        let round = round.unwrap();
        assert!(round.len() <= 4);
        for s in round {
            assert!(
                seen.insert(s.task_id.clone()),
                "{} claimed twice",
                s.task_id
            );
        }
    }
    for s in store
        .claim_schedules(1_000, true, 10_000, 100)
        .await
        .unwrap()
    {
        assert!(
            seen.insert(s.task_id.clone()),
            "{} claimed twice",
            s.task_id
        );
    }
    assert_eq!(seen.len(), all.len());

    // Deliveries too.
    let produced: Vec<_> = (0..12)
        .map(|i| {
            (
                notification(&format!("n{i:02}"), "u1", Kind::DueSoon, "t1"),
                vec![Channel::Webhook, Channel::Email],
            )
        })
        .collect();
    assert_eq!(store.produce(produced, 1_000).await.unwrap().len(), 12);
    let rounds =
        futures::future::join_all((0..4).map(|_| store.claim_deliveries(1_000, 10_000, &[], 4)))
            .await;
    let mut seen = HashSet::new();
    for round in rounds {
        let round = round.unwrap();
        assert!(round.len() <= 4);
        for k in claimed_keys(&round) {
            assert!(seen.insert(k.clone()), "{k:?} claimed twice");
        }
    }
    let rest = store
        .claim_deliveries(1_000, 10_000, &[], 100)
        .await
        .unwrap();
    for k in claimed_keys(&rest) {
        assert!(seen.insert(k.clone()), "{k:?} claimed twice");
    }
    assert_eq!(seen.len(), 24);
}

// ---- Producing notifications ----------------------------------------------

async fn commit_evaluated_writes_live_schedules_once<S: NotificationStore>(store: &S) {
    let kept = schedule("kept", "u1");
    let changed = schedule("changed", "u1");
    let removed = schedule("removed", "u2");
    put(store, &[&kept, &changed, &removed]).await;
    let claimed = store
        .claim_schedules(1_000, true, 1_000_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);

    // After the claim the feed changes one assignment and removes another.
    let changed_v2 = Schedule {
        generation: 2,
        deadline: Some(day(2025, 10, 1)),
        deadline_version: 2,
        next_due_ms: Some(50_000),
        ..changed.clone()
    };
    feed(
        store,
        vec![
            FeedOp::Put(changed_v2.clone()),
            FeedOp::Remove {
                task_id: removed.task_id.clone(),
                unit_id: removed.unit_id.clone(),
            },
        ],
    )
    .await;

    let step = StepKey {
        date: day(2025, 8, 27),
        rank: 0,
    };
    let n1 = notification("n1", "u1", Kind::DueSoon, "kept");
    let both = vec![Channel::Webhook, Channel::Email];
    let written = store
        .commit_evaluated(
            vec![
                evaluated(
                    &kept,
                    Some(step),
                    Some(4_000),
                    vec![(n1.clone(), both.clone())],
                ),
                evaluated(
                    &changed,
                    Some(step),
                    Some(4_000),
                    vec![(
                        notification("n2", "u1", Kind::DueSoon, "changed"),
                        both.clone(),
                    )],
                ),
                evaluated(
                    &removed,
                    Some(step),
                    Some(4_000),
                    vec![(
                        notification("n3", "u2", Kind::DueSoon, "removed"),
                        both.clone(),
                    )],
                ),
            ],
            2_000,
        )
        .await
        .unwrap();
    assert_eq!(ids(&written), ["n1"]);
    let first = written[0].clone();
    assert!(first.seq > 0);
    assert_eq!(
        first,
        Notification {
            seq: first.seq,
            created_ms: 2_000,
            ..n1.clone()
        }
    );
    assert_eq!(store.notification(None, "n1").await.unwrap(), first);
    for id in ["n2", "n3"] {
        assert!(matches!(
            store.notification(None, id).await,
            Err(StoreError::NotFound(_))
        ));
    }
    assert!(
        store
            .deliveries_of(&["n2".into(), "n3".into()])
            .await
            .unwrap()
            .is_empty()
    );

    // The live schedule moved on; the changed one is exactly as the feed left it.
    assert_eq!(
        read(store, &[&kept, &changed, &removed]).await,
        sorted(vec![
            Schedule {
                last: Some(step),
                next_due_ms: Some(4_000),
                ..kept.clone()
            },
            changed_v2,
        ])
    );

    // One pending delivery per channel, due at once.
    let deliveries = store.deliveries_of(&["n1".into()]).await.unwrap();
    let mut channels: Vec<_> = deliveries.iter().map(|d| d.channel.as_str()).collect();
    channels.sort_unstable();
    assert_eq!(channels, ["EMAIL", "WEBHOOK"]);
    for d in deliveries {
        assert_eq!(
            d,
            Delivery {
                notification_id: "n1".into(),
                channel: d.channel,
                unit_id: "u1".into(),
                seq: first.seq,
                state: DeliveryState::Pending,
                attempts: 0,
                redrive_base: 0,
                next_attempt_ms: 2_000,
                last_error: String::new(),
                due_ms: n1.due_ms,
                delivered_ms: None,
            }
        );
    }

    // The lease was released: due again at 4 000 though leased until 1 000 000.
    let again = store
        .claim_schedules(4_000, true, 1_000_000, 10)
        .await
        .unwrap();
    assert_eq!(task_ids(&again), ["kept"]);

    // A re-evaluation producing the same dedupe key (under a new id) writes no
    // notification, but the schedule still moves on.
    let later_step = StepKey {
        date: day(2025, 8, 28),
        rank: 0,
    };
    let duplicate = Notification {
        id: "n1-again".into(),
        ..n1.clone()
    };
    let written = store
        .commit_evaluated(
            vec![evaluated(
                &kept,
                Some(later_step),
                Some(9_000),
                vec![(duplicate, both.clone())],
            )],
            4_000,
        )
        .await
        .unwrap();
    assert!(written.is_empty());
    assert!(matches!(
        store.notification(None, "n1-again").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .deliveries_of(&["n1-again".into()])
            .await
            .unwrap()
            .is_empty()
    );
    let now = stored(store, &kept).await;
    assert_eq!((now.last, now.next_due_ms), (Some(later_step), Some(9_000)));

    // Stream positions strictly increase, across commits and within one
    // (of the schedule leased again: a commit needs the lease).
    let again = store
        .claim_schedules(9_000, true, 1_000_000, 10)
        .await
        .unwrap();
    assert_eq!(task_ids(&again), ["kept"]);
    let written = store
        .commit_evaluated(
            vec![evaluated(
                &kept,
                None,
                None,
                vec![
                    (notification("n4", "u1", Kind::DueToday, "kept"), vec![]),
                    (notification("n5", "u1", Kind::Overdue, "kept"), vec![]),
                ],
            )],
            9_000,
        )
        .await
        .unwrap();
    assert_eq!(ids(&written), ["n4", "n5"]);
    assert!(first.seq < written[0].seq && written[0].seq < written[1].seq);
    let now = stored(store, &kept).await;
    assert_eq!((now.last, now.next_due_ms), (None, None));
    assert!(
        store
            .commit_evaluated(Vec::new(), 9_000)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn produce_dedupes_digests<S: NotificationStore>(store: &S) {
    let d1 = digest("d1", "u1", "2025-08");
    let written = store
        .produce(vec![(d1.clone(), vec![Channel::Email])], 7_000)
        .await
        .unwrap();
    assert_eq!(
        written,
        vec![Notification {
            seq: written[0].seq,
            created_ms: 7_000,
            ..d1.clone()
        }]
    );
    assert_eq!(
        store.notification(Some("u1"), "d1").await.unwrap(),
        written[0]
    );
    let deliveries = store.deliveries_of(&["d1".into()]).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].channel, Channel::Email);

    // A retry under the same key writes nothing.
    let retry = Notification {
        id: "d1-retry".into(),
        ..d1.clone()
    };
    assert!(
        store
            .produce(vec![(retry, vec![Channel::Email])], 7_500)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.notification(None, "d1-retry").await.is_err());

    // Within one batch the first of a key wins; the others still land.
    let d2 = digest("d2", "u2", "2025-08");
    let d3 = Notification {
        id: "d3".into(),
        ..d2.clone()
    };
    let d4 = digest("d4", "u3", "2025-08");
    let batch = vec![
        (d2, vec![Channel::Webhook]),
        (d3, vec![Channel::Webhook]),
        (d4, vec![Channel::Webhook]),
    ];
    let more = store.produce(batch, 8_000).await.unwrap();
    assert_eq!(ids(&more), ["d2", "d4"]);
    assert!(written[0].seq < more[0].seq && more[0].seq < more[1].seq);
    assert!(
        store
            .deliveries_of(&["d3".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.produce(Vec::new(), 8_000).await.unwrap().is_empty());
}

// ---- Reading and acknowledging --------------------------------------------

async fn notifications_read_back_by_unit_and_page<S: NotificationStore>(store: &S) {
    let batch = vec![
        notification("a1", "ua", Kind::DueSoon, "t1"),
        notification("b1", "ub", Kind::Overdue, "t1"),
        notification("a2", "ua", Kind::Overdue, "t2"),
        notification("a3", "ua", Kind::DueToday, "t3"),
        notification("a4", "ua", Kind::Overdue, "t4"),
    ];
    let written = store
        .produce(batch.into_iter().map(|n| (n, Vec::new())).collect(), 1_000)
        .await
        .unwrap();
    assert_eq!(ids(&written), ["a1", "b1", "a2", "a3", "a4"]);
    assert!(written.windows(2).all(|w| w[0].seq < w[1].seq));
    let seq = |id: &str| written.iter().find(|n| n.id == id).unwrap().seq;

    // The stream: one unit's, oldest first, after the cursor.
    let after = |unit: &'static str, cursor: i64, limit: usize| async move {
        store
            .notifications_after(unit, cursor, limit)
            .await
            .unwrap()
    };
    assert_eq!(ids(&after("ua", 0, 10).await), ["a1", "a2", "a3", "a4"]);
    assert_eq!(ids(&after("ua", seq("a2"), 10).await), ["a3", "a4"]);
    assert_eq!(ids(&after("ua", 0, 2).await), ["a1", "a2"]);
    assert_eq!(ids(&after("ub", 0, 10).await), ["b1"]);
    assert!(after("ua", seq("a4"), 10).await.is_empty());
    assert_eq!(after("ua", 0, 1).await[0], written[0]);

    // Lists: newest first, filtered by unit, position and condition.
    let list = |unit: Option<&str>, condition: Option<SqlCondition>, before: Option<i64>, limit| {
        let page = PageQuery {
            unit_id: unit.map(str::to_string),
            condition,
            before_seq: before,
            before_tiebreak: None,
            limit,
        };
        async move { store.list_notifications(&page).await.unwrap() }
    };
    assert_eq!(
        ids(&list(Some("ua"), None, None, 10).await),
        ["a4", "a3", "a2", "a1"]
    );
    assert_eq!(
        ids(&list(Some("ua"), None, Some(seq("a3")), 10).await),
        ["a2", "a1"]
    );
    assert_eq!(ids(&list(Some("ua"), None, None, 2).await), ["a4", "a3"]);
    assert_eq!(
        ids(&list(None, None, None, 10).await),
        ["a4", "a3", "a2", "b1", "a1"]
    );
    assert_eq!(
        ids(&list(Some("ua"), Some(overdue_only()), None, 10).await),
        ["a4", "a2"]
    );
    assert_eq!(
        ids(&list(None, Some(overdue_only()), None, 10).await),
        ["a4", "a2", "b1"]
    );
    assert_eq!(
        ids(&list(Some("ua"), Some(overdue_only()), Some(seq("a4")), 1).await),
        ["a2"]
    );

    // One notification: within its unit, or any unit's with `None`.
    assert_eq!(
        store.notification(Some("ua"), "a1").await.unwrap(),
        written[0]
    );
    assert_eq!(store.notification(None, "a1").await.unwrap(), written[0]);
    assert!(matches!(
        store.notification(Some("ub"), "a1").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.notification(None, "nope").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn acknowledge_once_within_the_unit<S: NotificationStore>(store: &S) {
    let s = Schedule {
        acked: vec![Kind::DueSoon],
        ..schedule("t1", "u1")
    };
    put(store, &[&s]).await;
    let escalation = Notification {
        unit_id: "sup".into(),
        ..notification("e1", "u1", Kind::Escalation, "t1")
    };
    let batch = vec![
        notification("o1", "u1", Kind::Overdue, "t1"),
        notification("o2", "u1", Kind::Overdue, "t1"),
        escalation,
        digest("d1", "u1", "2025-08"),
    ];
    store
        .produce(batch.into_iter().map(|n| (n, Vec::new())).collect(), 1_000)
        .await
        .unwrap();
    let ack = |unit: Option<&'static str>, id: &'static str, at_ms: i64| async move {
        store
            .acknowledge(unit, id, &mutation("AcknowledgeNotification", None, at_ms))
            .await
    };

    // The first acknowledgement sets the time and stops repeats of the kind.
    assert_eq!(
        ack(Some("u1"), "o1", 100).await.unwrap().acked_ms,
        Some(100)
    );
    assert_eq!(
        stored(store, &s).await.acked,
        [Kind::DueSoon, Kind::Overdue]
    );
    // A second call keeps the first time.
    assert_eq!(
        ack(Some("u1"), "o1", 200).await.unwrap().acked_ms,
        Some(100)
    );
    assert_eq!(
        store.notification(None, "o1").await.unwrap().acked_ms,
        Some(100)
    );
    // Another of the same kind: acknowledged, the kind listed once.
    assert_eq!(
        ack(Some("u1"), "o2", 300).await.unwrap().acked_ms,
        Some(300)
    );
    assert_eq!(
        stored(store, &s).await.acked,
        [Kind::DueSoon, Kind::Overdue]
    );

    // Another unit's notification is not found and stays unacknowledged.
    for unit in ["u2", "u1"] {
        assert!(matches!(
            ack(Some(unit), "e1", 350).await,
            Err(StoreError::NotFound(_))
        ));
    }
    assert_eq!(store.notification(None, "e1").await.unwrap().acked_ms, None);
    // Its recipient acknowledges it: the assignee's schedule records the kind.
    assert_eq!(
        ack(Some("sup"), "e1", 400).await.unwrap().acked_ms,
        Some(400)
    );
    assert_eq!(
        stored(store, &s).await.acked,
        [Kind::DueSoon, Kind::Overdue, Kind::Escalation]
    );
    // A digest (no assignment) is acknowledged alone.
    assert_eq!(ack(None, "d1", 500).await.unwrap().acked_ms, Some(500));
    assert_eq!(stored(store, &s).await.acked.len(), 3);
    assert!(matches!(
        ack(None, "nope", 600).await,
        Err(StoreError::NotFound(_))
    ));
}

// ---- Deliveries -----------------------------------------------------------

async fn deliveries_lease_record_and_redrive<S: NotificationStore>(store: &S) {
    use Channel::{Email, Webhook};
    let batch = vec![
        (
            notification("n1", "ua", Kind::Overdue, "t1"),
            vec![Webhook, Email],
        ),
        (notification("n2", "ub", Kind::Overdue, "t1"), vec![Webhook]),
        (notification("n3", "uc", Kind::Overdue, "t1"), vec![Email]),
    ];
    store.produce(batch, 1_000).await.unwrap();
    assert_eq!(store.count_pending().await.unwrap(), 4);

    // Not due before they were produced.
    assert!(
        store
            .claim_deliveries(999, 5_000, &[], 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Busy units are skipped; each comes with its notification.
    let claimed = store
        .claim_deliveries(1_000, 5_000, &["ub".into()], 10)
        .await
        .unwrap();
    assert_eq!(
        claimed_keys(&claimed),
        [key("n1", Email), key("n1", Webhook), key("n3", Email)]
    );
    for c in &claimed {
        assert_eq!(c.delivery.state, DeliveryState::Pending);
        let n = store
            .notification(None, &c.delivery.notification_id)
            .await
            .unwrap();
        assert_eq!(c.notification, n);
    }
    let claimed = store.claim_deliveries(1_001, 5_000, &[], 1).await.unwrap();
    assert_eq!(claimed_keys(&claimed), [key("n2", Webhook)]);
    // All leased.
    assert!(
        store
            .claim_deliveries(4_999, 9_000, &[], 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Released ones are claimable again at once.
    store
        .release_deliveries(&[key("n1", Webhook), key("n1", Email)])
        .await
        .unwrap();
    let claimed = store.claim_deliveries(1_002, 5_000, &[], 10).await.unwrap();
    assert_eq!(
        claimed_keys(&claimed),
        [key("n1", Email), key("n1", Webhook)]
    );

    // The webhook is accepted; the e-mail fails and waits for its retry.
    let webhook_1 = attempt("n1", Webhook, 1, true, 1_100);
    let email_1 = attempt("n1", Email, 1, false, 1_150);
    store
        .record_attempts(&[
            AttemptResult {
                attempt: webhook_1.clone(),
                state: DeliveryState::Delivered,
                next_attempt_ms: 0,
            },
            AttemptResult {
                attempt: email_1.clone(),
                state: DeliveryState::Pending,
                next_attempt_ms: 2_000,
            },
        ])
        .await
        .unwrap();
    let webhook = delivery(store, "n1", Webhook).await;
    assert_eq!(
        (webhook.state, webhook.attempts, webhook.delivered_ms),
        (DeliveryState::Delivered, 1, Some(1_100))
    );
    let email = delivery(store, "n1", Email).await;
    assert_eq!(
        (
            email.state,
            email.attempts,
            email.next_attempt_ms,
            email.last_error.as_str(),
            email.delivered_ms
        ),
        (DeliveryState::Pending, 1, 2_000, "attempt 1 failed", None)
    );
    // Recording ends the lease: due again at its next attempt, not before.
    assert!(
        store
            .claim_deliveries(1_999, 5_000, &[], 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store.claim_deliveries(2_000, 5_000, &[], 10).await.unwrap();
    assert_eq!(claimed_keys(&claimed), [key("n1", Email)]);
    let email_2 = attempt("n1", Email, 2, false, 2_100);
    store
        .record_attempts(&[AttemptResult {
            attempt: email_2.clone(),
            state: DeliveryState::DeadLetter,
            next_attempt_ms: 0,
        }])
        .await
        .unwrap();
    let email = delivery(store, "n1", Email).await;
    assert_eq!(
        (email.state, email.attempts),
        (DeliveryState::DeadLetter, 2)
    );
    assert!(
        store.count_pending().await.unwrap() < 4,
        "a dead letter is no longer pending"
    );
    assert_eq!(
        store.attempts("n1").await.unwrap(),
        [webhook_1, email_1, email_2]
    );
    assert!(store.attempts("n2").await.unwrap().is_empty());
    // Delivered and dead-lettered ones are not claimed (n2, n3 still leased).
    assert!(
        store
            .claim_deliveries(2_500, 5_000, &[], 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Redrive: pending, due now, the budget counted from the attempts so far.
    let m = mutation("RedriveDelivery", None, 3_000);
    let redriven = store.redrive("ua", "n1", Email, &m).await.unwrap();
    assert_eq!(
        redriven,
        Delivery {
            state: DeliveryState::Pending,
            redrive_base: 2,
            next_attempt_ms: 3_000,
            ..email
        }
    );
    let claimed = store.claim_deliveries(3_000, 5_000, &[], 10).await.unwrap();
    assert_eq!(claimed_keys(&claimed), [key("n1", Email)]);
    assert!(matches!(
        store.redrive("ua", "n1", Webhook, &m).await,
        Err(StoreError::Precondition(..))
    ));
    assert!(matches!(
        store.redrive("ub", "n1", Email, &m).await,
        Err(StoreError::NotFound(_))
    ));

    // Lists by state and unit, newest first.
    let list = |unit: Option<&str>, condition: Option<SqlCondition>| {
        let page = PageQuery {
            unit_id: unit.map(str::to_string),
            condition,
            before_seq: None,
            before_tiebreak: None,
            limit: 10,
        };
        async move {
            let rows = store.list_deliveries(&page).await.unwrap();
            assert!(rows.windows(2).all(|w| w[0].seq >= w[1].seq));
            let mut keys: Vec<_> = rows
                .iter()
                .map(|d| (d.notification_id.clone(), d.channel.as_str()))
                .collect();
            keys.sort_unstable();
            keys
        }
    };
    let k = |id: &str, c: Channel| (id.to_string(), c.as_str());
    assert_eq!(
        list(None, Some(state_is(DeliveryState::Delivered))).await,
        [k("n1", Webhook)]
    );
    assert_eq!(
        list(None, Some(state_is(DeliveryState::Pending))).await,
        [k("n1", Email), k("n2", Webhook), k("n3", Email)]
    );
    assert_eq!(
        list(Some("ua"), Some(state_is(DeliveryState::Pending))).await,
        [k("n1", Email)]
    );
    assert_eq!(store.count_pending().await.unwrap(), 3);
    assert!(
        list(None, Some(state_is(DeliveryState::DeadLetter)))
            .await
            .is_empty()
    );
    assert_eq!(list(Some("ub"), None).await, [k("n2", Webhook)]);
}

/// Walks a unit's deliveries a page at a time the way ListDeliveries does
/// (the next page starts after the last row's position and channel).
/// Batches travel as JSON parameters: quotes, backslashes, line breaks,
/// Vietnamese, emoji and JSON-path look-alikes come back byte for byte, as
/// do large numbers, nulls and booleans.
async fn batched_text_round_trips_exactly<S: NotificationStore>(store: &S) {
    let odd = "Nhiệm vụ \"số 1\" \\ C:\\dữ liệu\n\t$[0] {\"a\":1} 🚀 '; DROP TABLE x; --";
    let s = Schedule {
        title: odd.into(),
        urgent: true,
        next_due_ms: Some(1_000),
        ..schedule("t-odd", "u-odd")
    };
    put(store, &[&s]).await;
    let claimed = store
        .claim_schedules(2_000, false, 60_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed, vec![s.clone()]);
    let n = Notification {
        title: odd.into(),
        text_vi: format!("{odd}\r\nhết"),
        text_en: String::new(),
        deadline: None,
        days_left: -3,
        days_overdue: i32::MAX,
        due_ms: i64::MAX - 1,
        ..notification("n-odd", "u-odd", Kind::Overdue, "t-odd")
    };
    let last = Some(StepKey {
        date: day(2025, 9, 3),
        rank: Kind::Overdue.rank(),
    });
    let written = store
        .commit_evaluated(
            vec![evaluated(
                &s,
                last,
                Some(i64::MAX),
                vec![(n.clone(), vec![Channel::Webhook, Channel::Email])],
            )],
            5_000,
        )
        .await
        .unwrap();
    assert_eq!(written.len(), 1);
    let back = store.notification(Some("u-odd"), "n-odd").await.unwrap();
    assert_eq!(
        back,
        Notification {
            seq: back.seq,
            created_ms: 5_000,
            ..n
        }
    );
    let moved = stored(store, &s).await;
    assert_eq!(
        (moved.last, moved.next_due_ms, moved.urgent),
        (last, Some(i64::MAX), true)
    );

    // The attempt ledger and the delivery take the error text as sent.
    let claimed = store
        .claim_deliveries(6_000, 60_000, &["someone-else".into()], 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2, "one delivery per channel");
    let failed = Attempt {
        error: odd.into(),
        ..attempt("n-odd", Channel::Webhook, 1, false, 7_000)
    };
    store
        .record_attempts(&[AttemptResult {
            attempt: failed.clone(),
            state: DeliveryState::Pending,
            next_attempt_ms: 9_000,
        }])
        .await
        .unwrap();
    assert_eq!(store.attempts("n-odd").await.unwrap(), vec![failed]);
    let d = delivery(store, "n-odd", Channel::Webhook).await;
    assert_eq!(
        (d.last_error.as_str(), d.attempts, d.next_attempt_ms),
        (odd, 1, 9_000)
    );
    // Given back without an attempt, the e-mail delivery is claimable at once.
    store
        .release_deliveries(&[key("n-odd", Channel::Email)])
        .await
        .unwrap();
    let again = store
        .claim_deliveries(6_500, 60_000, &[], 10)
        .await
        .unwrap();
    assert_eq!(claimed_keys(&again), vec![key("n-odd", Channel::Email)]);
    // A busy unit is skipped.
    store
        .release_deliveries(&[key("n-odd", Channel::Email)])
        .await
        .unwrap();
    assert!(
        store
            .claim_deliveries(6_500, 60_000, &["u-odd".into()], 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A lease that ran out mid-attempt can put two results for one delivery
/// in one ledger batch: the success of the same attempt number wins, and a
/// later attempt wins over an earlier one, in whatever order they come.
async fn two_results_for_one_delivery_keep_the_later<S: NotificationStore>(store: &S) {
    let n = notification("n-twice", "u1", Kind::DueToday, "t1");
    store
        .produce(vec![(n, vec![Channel::Webhook])], 1_000)
        .await
        .unwrap();
    let failed = attempt("n-twice", Channel::Webhook, 1, false, 2_000);
    let delivered = attempt("n-twice", Channel::Webhook, 1, true, 2_100);
    store
        .record_attempts(&[
            AttemptResult {
                attempt: delivered.clone(),
                state: DeliveryState::Delivered,
                next_attempt_ms: 2_100,
            },
            AttemptResult {
                attempt: failed,
                state: DeliveryState::Pending,
                next_attempt_ms: 9_000,
            },
        ])
        .await
        .unwrap();
    let d = delivery(store, "n-twice", Channel::Webhook).await;
    assert_eq!(
        (d.state, d.delivered_ms),
        (DeliveryState::Delivered, Some(2_100))
    );

    let n = notification("n-later", "u1", Kind::DueToday, "t2");
    store
        .produce(vec![(n, vec![Channel::Webhook])], 1_000)
        .await
        .unwrap();
    store
        .record_attempts(&[
            AttemptResult {
                attempt: attempt("n-later", Channel::Webhook, 2, false, 3_000),
                state: DeliveryState::Pending,
                next_attempt_ms: 8_000,
            },
            AttemptResult {
                attempt: attempt("n-later", Channel::Webhook, 1, false, 2_000),
                state: DeliveryState::Pending,
                next_attempt_ms: 4_000,
            },
        ])
        .await
        .unwrap();
    let d = delivery(store, "n-later", Channel::Webhook).await;
    assert_eq!((d.attempts, d.next_attempt_ms), (2, 8_000));
    assert_eq!(store.attempts("n-later").await.unwrap().len(), 2);
}

async fn delivery_pages_keep_every_channel<S: NotificationStore>(store: &S) {
    use Channel::{Email, Webhook};
    let batch = vec![
        (
            notification("n1", "u1", Kind::DueSoon, "t1"),
            vec![Webhook, Email],
        ),
        (
            notification("n2", "u1", Kind::DueSoon, "t2"),
            vec![Webhook, Email],
        ),
    ];
    store.produce(batch, 1_000).await.unwrap();
    let mut seen = Vec::new();
    let mut before_seq = None;
    let mut before_tiebreak = None;
    loop {
        let page = PageQuery {
            unit_id: Some("u1".into()),
            condition: None,
            before_seq,
            before_tiebreak: before_tiebreak.clone(),
            limit: 3,
        };
        let rows = store.list_deliveries(&page).await.unwrap();
        seen.extend(
            rows.iter()
                .map(|d| (d.notification_id.clone(), d.channel.as_str())),
        );
        match rows.last() {
            Some(last) if rows.len() == page.limit => {
                before_seq = Some(last.seq);
                before_tiebreak = Some(last.channel.as_str().to_string());
            }
            _ => break,
        }
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            ("n1".to_string(), "EMAIL"),
            ("n1".to_string(), "WEBHOOK"),
            ("n2".to_string(), "EMAIL"),
            ("n2".to_string(), "WEBHOOK"),
        ]
    );
}

// ---- Re-evaluation, digests, policies -------------------------------------

async fn touch_schedules_by_scope<S: NotificationStore>(store: &S) {
    let in_scope = |task: &str, directive: &str, group: &str, next_due_ms| Schedule {
        directive_id: directive.into(),
        group: group.into(),
        next_due_ms,
        ..schedule(task, "u1")
    };
    let a = in_scope("a", "d1", "DATA", Some(50_000));
    let b = in_scope("b", "d1", "FINANCE", None);
    let c = in_scope("c", "d2", "DATA", Some(60_000));
    let d = in_scope("d", "d2", "FINANCE", Some(500));
    let e = in_scope("e", "d3", "LEGAL", Some(90_000));
    let all = [&a, &b, &c, &d, &e];
    put(store, &all).await;
    let due = || async move {
        read(store, &all)
            .await
            .into_iter()
            .map(|s| s.next_due_ms)
            .collect::<Vec<_>>()
    };

    // A directive's: both of d1, the finished one too; already due ones keep
    // their time.
    let touched = store
        .touch_schedules(&Scope::Directive("d1".into()), 1_000)
        .await
        .unwrap();
    assert_eq!(touched, 2);
    assert_eq!(
        due().await,
        [
            Some(1_000),
            Some(1_000),
            Some(60_000),
            Some(500),
            Some(90_000)
        ]
    );
    // A group's.
    let touched = store
        .touch_schedules(&Scope::Group("DATA".into()), 2_000)
        .await
        .unwrap();
    assert_eq!(touched, 1);
    assert_eq!(
        due().await,
        [
            Some(1_000),
            Some(1_000),
            Some(2_000),
            Some(500),
            Some(90_000)
        ]
    );
    // Nothing else changed.
    let e_now = stored(store, &e).await;
    assert_eq!(e_now, e);
    // Every one.
    let touched = store.touch_schedules(&Scope::All, 3_000).await.unwrap();
    assert_eq!(touched, 1);
    let claimed = store
        .claim_schedules(3_000, true, 10_000, 10)
        .await
        .unwrap();
    assert_eq!(task_ids(&claimed), ["a", "b", "c", "d", "e"]);
}

async fn open_schedules_and_digests<S: NotificationStore>(store: &S) {
    assert!(store.open_schedules_by_unit().await.unwrap().is_empty());
    let b_late = Schedule {
        deadline: Some(day(2025, 10, 1)),
        ..schedule("t1", "ub")
    };
    let b_soon = Schedule {
        deadline: Some(day(2025, 9, 1)),
        ..schedule("t2", "ub")
    };
    let a = schedule("t3", "ua");
    let recurring = Schedule {
        deadline: None,
        period: Some(Period::Monthly),
        ..schedule("t4", "uc")
    };
    put(store, &[&b_late, &recurring, &a, &b_soon]).await;
    // By unit, each unit's by deadline; duties without a deadline are left out.
    assert_eq!(
        store.open_schedules_by_unit().await.unwrap(),
        vec![
            ("ua".to_string(), vec![a]),
            ("ub".to_string(), vec![b_soon, b_late])
        ]
    );

    assert!(!store.digest_done("2025-08").await.unwrap());
    store.mark_digest_done("2025-08", 1_000).await.unwrap();
    assert!(store.digest_done("2025-08").await.unwrap());
    store.mark_digest_done("2025-08", 2_000).await.unwrap();
    assert!(store.digest_done("2025-08").await.unwrap());
    assert!(!store.digest_done("2025-09").await.unwrap());
}

async fn policies_create_update_delete<S: NotificationStore>(store: &S) {
    let create = |p: StoredPolicy, request_id: Option<&'static str>, at_ms: i64| async move {
        store
            .create_policy(&p, &mutation("CreatePolicy", request_id, at_ms), &keep)
            .await
    };
    let p1 = policy("p1", Some("d1"), None);
    let created = create(p1.clone(), Some("req-1"), 100).await.unwrap();
    assert_eq!(
        created,
        StoredPolicy {
            version: 1,
            created_ms: 100,
            updated_ms: 100,
            ..p1
        }
    );
    // A retried request returns the first result, whatever it carries now.
    let retried = create(policy("p1-retry", Some("d9"), None), Some("req-1"), 150)
        .await
        .unwrap();
    assert_eq!(retried, created);
    assert!(matches!(
        store.policy("p1-retry").await,
        Err(StoreError::NotFound(_))
    ));
    // One policy per directive and per group.
    assert!(matches!(
        create(policy("p2", Some("d1"), None), Some("req-2"), 200).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let g1 = create(policy("g1", None, Some("DATA")), None, 300)
        .await
        .unwrap();
    assert!(matches!(
        create(policy("g2", None, Some("DATA")), None, 310).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.policy("p1").await.unwrap(), created);
    assert_eq!(
        store.policies().await.unwrap(),
        [g1.clone(), created.clone()]
    );

    // Update: rules and urgency replaced, the version checked and moved.
    let changed = StoredPolicy {
        rules: vec![Rule {
            kind: Kind::DueToday,
            working_days: 0,
            repeat_every: 0,
        }],
        urgent: true,
        ..created.clone()
    };
    let update = |expected: Option<i32>, at_ms: i64| {
        let changed = changed.clone();
        async move {
            store
                .update_policy(
                    &changed,
                    expected,
                    &mutation("UpdatePolicy", None, at_ms),
                    &keep,
                )
                .await
        }
    };
    let updated = update(Some(1), 400).await.unwrap();
    assert_eq!(
        updated,
        StoredPolicy {
            version: 2,
            updated_ms: 400,
            ..changed.clone()
        }
    );
    assert!(matches!(
        update(Some(1), 500).await,
        Err(StoreError::EtagMismatch(..))
    ));
    assert_eq!(store.policy("p1").await.unwrap(), updated);
    assert_eq!(update(None, 600).await.unwrap().version, 3);
    assert!(matches!(
        store
            .update_policy(
                &policy("nope", None, None),
                None,
                &mutation("UpdatePolicy", None, 700),
                &keep
            )
            .await,
        Err(StoreError::NotFound(_))
    ));

    // Delete: a stale version is refused; then it is gone and its scope free.
    let m = mutation("DeletePolicy", None, 800);
    assert!(matches!(
        store.delete_policy("p1", Some(2), &m, &keep).await,
        Err(StoreError::EtagMismatch(..))
    ));
    let deleted = store.delete_policy("p1", Some(3), &m, &keep).await.unwrap();
    assert_eq!((deleted.id.as_str(), deleted.version), ("p1", 3));
    assert!(matches!(
        store.policy("p1").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_policy("p1", None, &m, &keep).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.policies().await.unwrap(), [g1]);
    create(policy("p3", Some("d1"), None), None, 900)
        .await
        .unwrap();
}

async fn policy_writes_replan_their_scope<S: NotificationStore>(store: &S) {
    use std::sync::Mutex;
    let in_scope = |task: &str, directive: &str, group: &str| Schedule {
        directive_id: directive.into(),
        group: group.into(),
        next_due_ms: Some(50_000),
        ..schedule(task, "u1")
    };
    // d1 has more schedules than one page of the re-planning.
    let many: Vec<Schedule> = (0..1_005)
        .map(|i| in_scope(&format!("a{i:04}"), "d1", "DATA"))
        .collect();
    let other = in_scope("b", "d2", "DATA");
    let elsewhere = in_scope("c", "d3", "LEGAL");
    let mut all: Vec<&Schedule> = many.iter().collect();
    all.extend([&other, &elsewhere]);
    put(store, &all).await;
    // One of d1's is being evaluated by a producer right now.
    let leased = store
        .claim_schedules(60_000, true, 1_000_000, 1)
        .await
        .unwrap();
    assert_eq!(task_ids(&leased), ["a0000"]);

    // The re-planning sees the policies as they stand after the write: urgent
    // wherever the schedule's policy (directive's, else group's) says so, due
    // at 7 000 then, else unchanged.
    let seen: Mutex<Vec<(Vec<String>, usize)>> = Mutex::new(Vec::new());
    let replan = |policies: &[StoredPolicy], page: &[Schedule]| {
        seen.lock()
            .unwrap()
            .push((policies.iter().map(|p| p.id.clone()).collect(), page.len()));
        page.iter()
            .map(|s| {
                let governing = policies
                    .iter()
                    .find(|p| p.directive_id.as_deref() == Some(s.directive_id.as_str()))
                    .or_else(|| {
                        policies
                            .iter()
                            .find(|p| p.group.as_deref() == Some(s.group.as_str()))
                    });
                match governing {
                    Some(p) if p.urgent => (true, Some(7_000)),
                    _ => (false, Some(50_000)),
                }
            })
            .collect()
    };
    let urgent_d1 = StoredPolicy {
        urgent: true,
        ..policy("p1", Some("d1"), None)
    };
    store
        .create_policy(&urgent_d1, &mutation("CreatePolicy", None, 100), &replan)
        .await
        .unwrap();
    // Two pages of d1, each with the new policy in view; nothing else read.
    assert_eq!(
        *seen.lock().unwrap(),
        [(vec!["p1".to_string()], 1_000), (vec!["p1".to_string()], 5)]
    );
    let plan = |s: &Schedule| (s.urgent, s.next_due_ms);
    let now = read(store, &all).await;
    assert!(
        now.iter()
            .filter(|s| s.directive_id == "d1")
            .all(|s| plan(s) == (true, Some(7_000)))
    );
    assert_eq!(plan(&stored(store, &other).await), (false, Some(50_000)));
    assert_eq!(
        plan(&stored(store, &elsewhere).await),
        (false, Some(50_000))
    );

    // The evaluation in flight under the old policy is not committed: its
    // lease went with the re-planning.
    let stale = Evaluated {
        task_id: "a0000".into(),
        unit_id: "u1".into(),
        generation: leased[0].generation,
        last: None,
        next_due_ms: Some(99_000),
        urgent: false,
        notifications: vec![(notification("stale", "u1", Kind::DueSoon, "a0000"), vec![])],
    };
    // Even once another producer holds it again: the generation it was
    // claimed at is gone.
    let again = store
        .claim_schedules(61_000, true, 2_000_000, 2_000)
        .await
        .unwrap();
    assert!(task_ids(&again).contains(&"a0000"));
    assert!(
        store
            .commit_evaluated(vec![stale], 61_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(plan(&stored(store, &many[0]).await), (true, Some(7_000)));

    // A group policy re-plans its group's schedules (d1's keep their
    // directive's policy); switched off, urgency goes in the same write.
    seen.lock().unwrap().clear();
    let data = StoredPolicy {
        urgent: true,
        ..policy("g1", None, Some("DATA"))
    };
    let data = store
        .create_policy(&data, &mutation("CreatePolicy", None, 200), &replan)
        .await
        .unwrap();
    assert_eq!(plan(&stored(store, &other).await), (true, Some(7_000)));
    assert_eq!(
        plan(&stored(store, &elsewhere).await),
        (false, Some(50_000))
    );
    let off = StoredPolicy {
        urgent: false,
        ..data
    };
    store
        .update_policy(&off, None, &mutation("UpdatePolicy", None, 300), &replan)
        .await
        .unwrap();
    assert_eq!(plan(&stored(store, &other).await), (false, Some(50_000)));
    assert_eq!(plan(&stored(store, &many[3]).await), (true, Some(7_000)));

    // Deleting d1's policy re-plans d1's schedules without it.
    seen.lock().unwrap().clear();
    store
        .delete_policy("p1", None, &mutation("DeletePolicy", None, 400), &replan)
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap()[0].0, ["g1"]);
    assert_eq!(plan(&stored(store, &many[3]).await), (false, Some(50_000)));
}
