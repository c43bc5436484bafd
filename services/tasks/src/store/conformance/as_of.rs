//! The property the as-of views rest on, on each backend: for random
//! histories (reports dated back, completions dated in the past, reopenings,
//! cancellations, deadline changes, recorded in any order the rules allow)
//! and every day around them, what the database says — counts in total and
//! per unit, the status filter of lists, the rows of an as-of list — equals
//! the domain's status ([`status`], the one definition) over a reference
//! model written here from the rules alone: on day `d`, an assignment is
//! what the actions that took effect by `d` make of it, in the order they
//! were recorded.

use super::{day, directive, task};
use crate::{
    domain::{
        actions::Action,
        model::{AssigneeRole, DeadlineRule},
        status::{Status, StatusInput, status},
        summary::Counts,
    },
    store::{AssignmentOrder, AssignmentQuery, Mutation, NewAssignment, StoreError, TaskStore},
};
use chrono::{Days, NaiveDate, TimeZone, Utc};
use p06_kit::filter::{SqlCondition, SqlValue};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::BTreeMap;

/// What the reference model keeps of an assignment.
#[derive(Debug, Clone, Default)]
struct Model {
    created_on: Option<NaiveDate>,
    /// (effective day, what it did), in the order recorded.
    log: Vec<(NaiveDate, Step)>,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Created { deadline: NaiveDate },
    Report { percent: i32 },
    Complete,
    Reopen,
    Cancel,
    Deadline { deadline: NaiveDate },
}

/// The model's assignment at the end of `d`: (status input, percent).
fn model_on(m: &Model, d: NaiveDate) -> Option<(StatusInput, i32)> {
    let created_on = m.created_on?;
    if created_on > d {
        return None;
    }
    let mut input = StatusInput {
        created_on,
        deadline: None,
        period: None,
        completed_on: None,
        cancelled_on: None,
        last_report_on: None,
        moved_on: None,
    };
    let mut percent = 0;
    for (on, step) in m.log.iter().filter(|(on, _)| *on <= d) {
        match *step {
            Step::Created { deadline } | Step::Deadline { deadline } => {
                input.deadline = Some(deadline)
            }
            Step::Report { percent: p } => {
                percent = p;
                input.last_report_on = Some(*on);
            }
            Step::Complete => {
                percent = 100;
                input.completed_on = Some(*on);
            }
            Step::Reopen => input.completed_on = None,
            Step::Cancel => input.cancelled_on = Some(*on),
        }
    }
    Some((input, percent))
}

fn at(d: NaiveDate) -> Mutation {
    Mutation {
        actor: "apiKeys/prop".into(),
        method: "Prop",
        request_id: None,
        at: Utc.from_utc_datetime(&d.and_hms_opt(3, 0, 0).unwrap_or_default()),
        today: d,
        trace_context: String::new(),
        expected_version: None,
        entered_by: None,
    }
}

fn between(rng: &mut StdRng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(0) as u64;
    from.checked_add_days(Days::new(rng.random_range(0..=span)))
        .unwrap_or(from)
}

/// One random programme under its own directive; returns the model per
/// (task, unit).
async fn random_history<S: TaskStore>(
    store: &S,
    seed: u64,
) -> (String, BTreeMap<(String, String), Model>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let d = directive(&format!("{seed}/TB-PROP"), day(2024, 6, 1));
    store
        .create_directive(&d, &at(day(2024, 6, 1)))
        .await
        .unwrap();
    let mut models: BTreeMap<(String, String), Model> = BTreeMap::new();
    let mut events: Vec<(NaiveDate, String, String)> = Vec::new();
    for t in 0..6 {
        let created = between(&mut rng, day(2024, 6, 1), day(2024, 7, 15));
        let id = format!("prop{seed}-t{t}");
        let units: Vec<String> = (0..rng.random_range(1..=3))
            .map(|u| format!("p{:02}", u + 1 + t % 2))
            .collect();
        let assignees: Vec<NewAssignment> = units
            .iter()
            .map(|u| NewAssignment {
                unit_id: u.clone(),
                role: AssigneeRole::Lead,
                deadline: Some(between(&mut rng, created, day(2024, 9, 15))),
                assigned_on: created,
            })
            .collect();
        let m = at(created);
        let deadline = assignees[0].deadline.map(DeadlineRule::Date);
        store
            .create_task(&task(&id, &d.id, deadline, m.at), &assignees, &m)
            .await
            .unwrap();
        for a in &assignees {
            let key = (id.clone(), a.unit_id.clone());
            let model = models.entry(key.clone()).or_default();
            model.created_on = Some(created);
            model.log.push((
                created,
                Step::Created {
                    deadline: a.deadline.unwrap_or(created),
                },
            ));
            for _ in 0..rng.random_range(0..6) {
                events.push((
                    between(&mut rng, created, day(2024, 10, 15)),
                    key.0.clone(),
                    key.1.clone(),
                ));
            }
        }
    }
    // Actions in the order they are recorded, each dated as the rules let
    // it be; the store refuses what they do not allow, and so does the model.
    events.sort();
    for (today, task_id, unit_id) in events {
        let key = (task_id.clone(), unit_id.clone());
        let created = models[&key].created_on.unwrap_or(today);
        let back = between(&mut rng, created, today);
        let (action, step, on) = match rng.random_range(0..10) {
            0..=4 => {
                let percent = rng.random_range(0..=100);
                let dated = rng.random_bool(0.5).then_some(back);
                (
                    Action::Progress {
                        on: dated,
                        percent,
                        note: String::new(),
                        evidence_link: String::new(),
                    },
                    Step::Report { percent },
                    dated.unwrap_or(today),
                )
            }
            5 | 6 => (
                Action::Complete {
                    on: back,
                    note: String::new(),
                },
                Step::Complete,
                back,
            ),
            7 => (
                Action::Reopen {
                    reason: String::new(),
                },
                Step::Reopen,
                today,
            ),
            8 => {
                let deadline = between(&mut rng, today, day(2024, 10, 31));
                (
                    Action::ChangeDeadline {
                        deadline,
                        note: String::new(),
                    },
                    Step::Deadline { deadline },
                    today,
                )
            }
            _ => (
                Action::Cancel {
                    on: today,
                    reason: String::new(),
                },
                Step::Cancel,
                today,
            ),
        };
        match store.act(&task_id, &unit_id, &action, &at(today)).await {
            Ok(_) => models.get_mut(&key).unwrap().log.push((on, step)),
            Err(StoreError::Precondition(..)) => {}
            Err(e) => panic!("seed {seed}: {action:?} on {key:?}: {e:?}"),
        }
    }
    (d.id, models)
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::CompletedOnTime => "COMPLETED_ON_TIME",
        Status::CompletedLate => "COMPLETED_LATE",
        Status::InProgress => "IN_PROGRESS",
        Status::Overdue => "OVERDUE",
        Status::Regular => "REGULAR",
        Status::Cancelled => "CANCELLED",
    }
}

pub(super) async fn as_of_reads_match_the_domain_over_random_histories<S: TaskStore>(store: &S) {
    for seed in 1..=4 {
        let (directive_id, models) = random_history(store, seed).await;
        let scope = ("directive_id", directive_id.clone());
        let mut d = day(2024, 5, 30);
        while d <= day(2024, 11, 5) {
            let mut total = Counts::default();
            let mut per_unit: BTreeMap<String, Counts> = BTreeMap::new();
            let mut expected_rows: BTreeMap<(String, String), (Option<Status>, i32)> =
                BTreeMap::new();
            for (key, m) in &models {
                if let Some((input, percent)) = model_on(m, d) {
                    let derived = status(&input, d);
                    if let Some((s, backlog)) = derived {
                        total.add(s, backlog);
                        per_unit.entry(key.1.clone()).or_default().add(s, backlog);
                    }
                    expected_rows.insert(key.clone(), (derived.map(|(s, _)| s), percent));
                }
            }
            let got = store
                .count_deadline_statuses(Some(&scope), d, false)
                .await
                .unwrap();
            assert_eq!(
                got.first().map(|(_, c)| *c).unwrap_or_default(),
                total,
                "seed {seed}, as of {d}"
            );
            let by_unit: BTreeMap<String, Counts> = store
                .count_deadline_statuses(Some(&scope), d, true)
                .await
                .unwrap()
                .into_iter()
                .collect();
            assert_eq!(by_unit, per_unit, "seed {seed}, per unit as of {d}");
            // The as-of list: the rows that existed, with their percent and
            // the domain's status of the row the database returns.
            let listed = store
                .list_assignments(&AssignmentQuery {
                    filter: Some(SqlCondition {
                        sql: "directive_id = $1".into(),
                        binds: vec![SqlValue::Text(directive_id.clone())],
                    }),
                    order: AssignmentOrder::Deadline,
                    descending: false,
                    after: None,
                    limit: 1000,
                    as_of: Some(d),
                })
                .await
                .unwrap()
                .assignments;
            let rows: BTreeMap<(String, String), (Option<Status>, i32)> = listed
                .iter()
                .map(|a| {
                    (
                        (a.task_id.clone(), a.unit_id.clone()),
                        (status(&a.status_input(), d).map(|(s, _)| s), a.progress),
                    )
                })
                .collect();
            assert_eq!(rows, expected_rows, "seed {seed}, rows as of {d}");
            // The list's status filter (SQL) picks the rows the domain
            // gives that status.
            for s in [Status::Overdue, Status::CompletedLate, Status::InProgress] {
                let filter = SqlCondition {
                    sql: format!("directive_id = $1 AND {} = $2", crate::api::status_sql(d)),
                    binds: vec![
                        SqlValue::Text(directive_id.clone()),
                        SqlValue::Text(status_name(s).into()),
                    ],
                };
                let picked = store
                    .list_assignments(&AssignmentQuery {
                        filter: Some(filter),
                        order: AssignmentOrder::Unit,
                        descending: false,
                        after: None,
                        limit: 1000,
                        as_of: Some(d),
                    })
                    .await
                    .unwrap()
                    .assignments
                    .len();
                let wanted = expected_rows
                    .values()
                    .filter(|(st, _)| *st == Some(s))
                    .count();
                assert_eq!(picked, wanted, "seed {seed}, status = {s:?} as of {d}");
            }
            d = d.checked_add_days(Days::new(3)).unwrap_or(d);
        }
    }
}
