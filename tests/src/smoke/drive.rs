//! The smoke run's client: it drives the compose stack through the
//! published gateway port, as an integrating ministry system would, and
//! checks what the stand-in receivers saw. Each step prints one line per
//! finding and fails (non-zero exit) on the first broken promise.
//!
//! `setup` keeps what later steps need (keys, the directive, the units and
//! the webhook secret) in a JSON state file.

use crate::webhook::{ReceivedWebhook, verify};
use anyhow::{Context as _, anyhow, bail, ensure};
use p06::{cli::ClientArgs, client::GatewayChannel};
use p06_proto::{
    gateway::v1::{self as g, access_client::AccessClient},
    localities::v1::{self as loc, localities_client::LocalitiesClient},
    notifications::v1::{self as npb, notifications_client::NotificationsClient},
    tasks::v1::{self as tpb, tasks_client::TasksClient},
};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    time::{Duration, Instant},
};

/// What `setup` made, for the later steps.
#[derive(Debug, Clone)]
pub struct State {
    /// Gateway URL.
    pub gateway: String,
    /// The bootstrap ADMIN key.
    pub admin: String,
    /// The directive every smoke task belongs to.
    pub directive: String,
    /// The provinces in force today, each with a webhook contact ("p01").
    pub units: Vec<String>,
    /// A UNIT key for each of the first few units.
    pub unit_keys: BTreeMap<String, String>,
    /// The webhook signing secret of every unit.
    pub secret: String,
    /// Today in Hà Nội.
    pub today: String,
}

/// How many units get a key of their own (the writers of the restart step).
const KEYED_UNITS: usize = 4;

impl State {
    /// Reads a state file.
    pub fn load(path: &Path) -> anyhow::Result<State> {
        let text = std::fs::read_to_string(path).with_context(|| format!("read {path:?}"))?;
        let v: Value = serde_json::from_str(&text)?;
        let s = |k: &str| {
            v[k].as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("state: {k}"))
        };
        Ok(State {
            gateway: s("gateway")?,
            admin: s("admin")?,
            directive: s("directive")?,
            units: v["units"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect(),
            unit_keys: v["unit_keys"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(u, k)| Some((u.clone(), k.as_str()?.to_string())))
                .collect(),
            secret: s("secret")?,
            today: s("today")?,
        })
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let v = json!({
            "gateway": self.gateway, "admin": self.admin, "directive": self.directive,
            "units": self.units, "unit_keys": self.unit_keys, "secret": self.secret,
            "today": self.today,
        });
        std::fs::write(path, serde_json::to_string_pretty(&v)?)?;
        Ok(())
    }

    async fn channel(&self, key: &str) -> anyhow::Result<GatewayChannel> {
        p06::client::connect(&ClientArgs {
            gateway: self.gateway.clone(),
            key: Some(key.to_string()),
        })
        .await
    }

    async fn tasks(&self, key: &str) -> anyhow::Result<TasksClient<GatewayChannel>> {
        Ok(TasksClient::new(self.channel(key).await?))
    }

    /// Creates a task due today for `units` (with a fresh trace, whose id
    /// is returned) and returns its assignments' names.
    async fn task_due_today(
        &self,
        title: &str,
        units: &[String],
    ) -> anyhow::Result<(Vec<String>, String)> {
        let (trace, request) = traced(tpb::CreateTaskRequest {
            parent: self.directive.clone(),
            task: Some(tpb::Task {
                title: title.into(),
                group: tpb::TaskGroup::PublicServices as i32,
                deadline: Some(tpb::DeadlineRule {
                    rule: Some(tpb::deadline_rule::Rule::Date(self.today.clone())),
                }),
                ..Default::default()
            }),
            assignees: units
                .iter()
                .map(|u| tpb::Assignee {
                    unit: format!("units/{u}"),
                    role: tpb::AssigneeRole::Lead as i32,
                })
                .collect(),
            request_id: uuid::Uuid::new_v4().to_string(),
        });
        let created = self
            .tasks(&self.admin)
            .await?
            .create_task(request)
            .await
            .context("CreateTask")?
            .into_inner();
        Ok((
            created.assignments.into_iter().map(|a| a.name).collect(),
            trace,
        ))
    }
}

/// A request carrying a new W3C trace context; returns the trace id.
fn traced<T>(message: T) -> (String, tonic::Request<T>) {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("00-{trace}-{span}-01").parse() {
        request.metadata_mut().insert("traceparent", value);
    }
    (trace, request)
}

/// Today's date in Hà Nội.
fn today() -> String {
    let now = chrono::Utc::now().with_timezone(&p06_kit::clock::vietnam_offset());
    now.date_naive().format("%Y-%m-%d").to_string()
}

/// `setup`: the units in force today, a webhook contact for each (to
/// `hook_url`, as the notifications containers reach the receiver), a
/// directive dated today with an urgent DUE_TODAY policy (so every task due
/// today is reminded at once, whatever the hour), and UNIT keys.
pub async fn setup(gateway: &str, admin: &str, hook_url: &str, out: &Path) -> anyhow::Result<()> {
    let mut state = State {
        gateway: gateway.into(),
        admin: admin.into(),
        directive: String::new(),
        units: Vec::new(),
        unit_keys: BTreeMap::new(),
        secret: secret(),
        today: today(),
    };
    let mut localities = LocalitiesClient::new(state.channel(admin).await?);
    state.units = provinces(&mut localities, &state.today).await?;
    ensure!(
        state.units.len() >= KEYED_UNITS,
        "only {} provinces in force on {}",
        state.units.len(),
        state.today
    );
    for unit in &state.units {
        localities
            .update_contacts(loc::UpdateContactsRequest {
                contacts: Some(loc::Contacts {
                    name: format!("units/{unit}/contacts"),
                    webhook: Some(loc::WebhookEndpoint {
                        url: hook_url.into(),
                        enabled: true,
                        secrets: vec![state.secret.clone()],
                    }),
                    ..Default::default()
                }),
                update_mask: None,
                request_id: String::new(),
            })
            .await
            .with_context(|| format!("UpdateContacts units/{unit}"))?;
    }
    println!(
        "setup: {} provinces in force on {}, each with a webhook to {hook_url}",
        state.units.len(),
        state.today
    );
    let mut access = AccessClient::new(state.channel(admin).await?);
    for unit in state.units.iter().take(KEYED_UNITS) {
        let key = access
            .create_api_key(g::CreateApiKeyRequest {
                api_key: Some(g::ApiKey {
                    unit: format!("units/{unit}"),
                    role: g::Role::Unit as i32,
                    display_name: format!("smoke {unit}"),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .context("CreateApiKey")?
            .into_inner()
            .secret;
        state.unit_keys.insert(unit.clone(), key);
    }
    state.directive = directive(&state).await?;
    let mut notifications = NotificationsClient::new(state.channel(admin).await?);
    notifications
        .create_policy(npb::CreatePolicyRequest {
            policy: Some(npb::Policy {
                directive: state.directive.clone(),
                rules: vec![npb::ReminderRule {
                    kind: npb::NotificationKind::DueToday as i32,
                    ..Default::default()
                }],
                urgent: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .context("CreatePolicy")?;
    println!(
        "setup: {} with an urgent DUE_TODAY policy; {} UNIT keys",
        state.directive,
        state.unit_keys.len()
    );
    state.save(out)
}

async fn provinces(
    localities: &mut LocalitiesClient<GatewayChannel>,
    today: &str,
) -> anyhow::Result<Vec<String>> {
    let units = localities
        .list_units(loc::ListUnitsRequest {
            page_size: 1000,
            filter: "kind = PROVINCE OR kind = CENTRALLY_RUN_CITY".into(),
            order_by: "code".into(),
            active_on: today.into(),
            ..Default::default()
        })
        .await
        .context("ListUnits")?
        .into_inner()
        .units;
    Ok(units
        .into_iter()
        .filter_map(|u| u.name.strip_prefix("units/").map(str::to_string))
        .collect())
}

async fn directive(state: &State) -> anyhow::Result<String> {
    let stamp = chrono::Utc::now().format("%H%M%S");
    Ok(state
        .tasks(&state.admin)
        .await?
        .create_directive(tpb::CreateDirectiveRequest {
            directive: Some(tpb::Directive {
                number: format!("{stamp}/TB-SMOKE"),
                r#type: tpb::DirectiveType::Notice as i32,
                issuer: "units/m-government-office".into(),
                issue_date: state.today.clone(),
                title: "Thông báo kiểm tra triển khai p06".into(),
                ..Default::default()
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .context("CreateDirective")?
        .into_inner()
        .name)
}

/// A fresh `whsec_` secret.
fn secret() -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| u.into_bytes())
        .collect();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Where the driver reads what the stand-ins saw.
#[derive(Debug, Clone)]
pub struct Observers {
    /// The webhook stand-in's query URL (`http://127.0.0.1:PORT`).
    pub hooks: String,
    /// The stand-in collector's query URL.
    pub collector: String,
}

/// A webhook as the stand-in saw it, verified and parsed.
#[derive(Debug, Clone)]
struct Hook {
    id: String,
    traceparent: String,
    data: Value,
}

impl Observers {
    /// Every webhook received so far, each verified with `secret` by the
    /// Standard Webhooks reference verifier.
    async fn hooks(&self, secret: &str) -> anyhow::Result<Vec<Hook>> {
        let all = get_json(&format!("{}/received", self.hooks)).await?;
        all.into_iter()
            .map(|v| {
                let mut headers = http::HeaderMap::new();
                for (k, val) in v["headers"].as_object().into_iter().flatten() {
                    if let (Ok(name), Some(Ok(value))) = (
                        http::HeaderName::from_bytes(k.as_bytes()),
                        val.as_str().map(http::HeaderValue::from_str),
                    ) {
                        headers.insert(name, value);
                    }
                }
                let received = ReceivedWebhook {
                    id: v["id"].as_str().unwrap_or_default().to_string(),
                    body: v["body"].as_str().unwrap_or_default().as_bytes().to_vec(),
                    answered: 200,
                    headers,
                };
                let body = verify(secret, &received)
                    .map_err(|e| anyhow!("webhook {}: {e}", received.id))?;
                Ok(Hook {
                    traceparent: received
                        .headers
                        .get("traceparent")
                        .and_then(|t| t.to_str().ok())
                        .unwrap_or_default()
                        .to_string(),
                    id: received.id,
                    data: body["data"].clone(),
                })
            })
            .collect()
    }

    /// Waits (at most `limit`) until a DUE_TODAY webhook arrived for every
    /// assignment of `names`; returns them by assignment.
    async fn wait_for_hooks(
        &self,
        secret: &str,
        names: &[String],
        limit: Duration,
    ) -> anyhow::Result<BTreeMap<String, Vec<Hook>>> {
        let started = Instant::now();
        loop {
            let mut by_assignment: BTreeMap<String, Vec<Hook>> = BTreeMap::new();
            for hook in self.hooks(secret).await? {
                let assignment = hook.data["assignment"].as_str().unwrap_or_default();
                if hook.data["kind"] == "DUE_TODAY" && names.iter().any(|n| n == assignment) {
                    by_assignment
                        .entry(assignment.to_string())
                        .or_default()
                        .push(hook);
                }
            }
            if by_assignment.len() == names.len() {
                return Ok(by_assignment);
            }
            if started.elapsed() > limit {
                bail!(
                    "{} of {} reminders' webhooks arrived within {limit:?}",
                    by_assignment.len(),
                    names.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The spans of `trace` the stand-in collector kept.
    async fn spans(&self, trace: &str) -> anyhow::Result<Vec<Value>> {
        get_json(&format!("{}/spans?trace={trace}", self.collector)).await
    }

    /// Waits (at most `limit`) until `found` picks something out of the
    /// spans of `trace`.
    async fn wait_for_spans<T>(
        &self,
        what: &str,
        trace: &str,
        limit: Duration,
        found: impl Fn(&[Value]) -> Option<T>,
    ) -> anyhow::Result<T> {
        let started = Instant::now();
        loop {
            let spans = self.spans(trace).await?;
            if let Some(t) = found(&spans) {
                return Ok(t);
            }
            if started.elapsed() > limit {
                bail!("{what}: not exported within {limit:?}; trace {trace} has {spans:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// A JSON array from a stand-in's query port.
async fn get_json(url: &str) -> anyhow::Result<Vec<Value>> {
    let response = reqwest::get(url)
        .await
        .with_context(|| format!("GET {url}"))?;
    ensure!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    match response.json().await? {
        Value::Array(items) => Ok(items),
        other => bail!("GET {url}: not a JSON array: {other}"),
    }
}

/// How long a reminder may take from its cause to the receiver.
const REMINDER_WAIT: Duration = Duration::from_secs(90);

/// `roundtrip`: a task due today for one province, a ReportProgress by
/// that province's key, the reminder's signed webhook at the receiver with
/// a `traceparent`, a DELIVERED ledger entry, and the traces in the
/// collector: the report's gateway and tasks spans, and the delivery span
/// (the one the webhook names) linking to the trace of its cause.
pub async fn roundtrip(state: &State, observers: &Observers, label: &str) -> anyhow::Result<()> {
    let (unit, key) = state
        .unit_keys
        .iter()
        .next()
        .ok_or_else(|| anyhow!("no unit keys in the state"))?;
    let (names, create_trace) = state
        .task_due_today(
            &format!("Kiểm tra vòng {label}"),
            std::slice::from_ref(unit),
        )
        .await?;
    let name = names
        .first()
        .ok_or_else(|| anyhow!("CreateTask gave no assignment"))?;
    let (report_trace, request) = traced(tpb::ReportProgressRequest {
        name: name.clone(),
        percent: 40,
        note: "đã triển khai thử nghiệm".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    });
    let reported = state
        .tasks(key)
        .await?
        .report_progress(request)
        .await?
        .into_inner();
    ensure!(
        reported.progress_percent == 40,
        "the report reads back: {reported:?}"
    );
    let started = Instant::now();
    let hooks = observers
        .wait_for_hooks(&state.secret, std::slice::from_ref(name), REMINDER_WAIT)
        .await?;
    let hook = hooks
        .get(name)
        .and_then(|h| h.first())
        .ok_or_else(|| anyhow!("no webhook for {name}"))?;
    println!(
        "{label}: {name} reported 40 %; its DUE_TODAY webhook arrived signed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let parts: Vec<&str> = hook.traceparent.split('-').collect();
    ensure!(
        parts.len() == 4,
        "the webhook's traceparent: {:?}",
        hook.traceparent
    );

    let notification = hook.data["name"].as_str().unwrap_or_default().to_string();
    let mut notifications = NotificationsClient::new(state.channel(&state.admin).await?);
    let attempts = notifications
        .list_delivery_attempts(npb::ListDeliveryAttemptsRequest {
            parent: notification.clone(),
        })
        .await?
        .into_inner()
        .attempts;
    ensure!(
        attempts.iter().any(|a| a.success && a.response_code == 200),
        "the ledger of {notification} records the 200: {attempts:?}"
    );
    println!(
        "{label}: the ledger of {notification} records {} attempt(s), the last a 200",
        attempts.len()
    );

    let wait = Duration::from_secs(60);
    observers
        .wait_for_spans("the report's trace", &report_trace, wait, |spans| {
            let from = |service: &str| spans.iter().any(|s| s["service"] == service);
            (from("p06-gateway") && from("p06-tasks")).then_some(())
        })
        .await?;
    let (delivery_trace, delivery_span) = (parts[1], parts[2]);
    let links = observers
        .wait_for_spans("the delivery span", delivery_trace, wait, |spans| {
            spans
                .iter()
                .find(|s| s["span_id"] == delivery_span && s["service"] == "p06-notifications")
                .map(|s| s["links"].clone())
        })
        .await?;
    let linked: Vec<&str> = links
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let cause = if linked.contains(&report_trace.as_str()) {
        "ReportProgress"
    } else if linked.contains(&create_trace.as_str()) {
        "CreateTask"
    } else {
        bail!(
            "the delivery span links to {linked:?}, neither the report ({report_trace}) nor the task ({create_trace})"
        );
    };
    println!(
        "{label}: traces exported: the report's gateway and tasks spans; the delivery span {delivery_span} links to its cause, the {cause} trace"
    );
    Ok(())
}

/// `fanout`: `tasks` tasks due today, each for every province; every
/// reminder's webhook arrives once and only once (by notification and by
/// `webhook-id`), also after a further `settle` for late duplicates.
pub async fn fanout(
    state: &State,
    observers: &Observers,
    tasks: usize,
    settle: Duration,
) -> anyhow::Result<()> {
    let mut names = Vec::new();
    for n in 1..=tasks {
        let title = format!("Kiểm tra phân phối nhắc việc {n}");
        names.extend(state.task_due_today(&title, &state.units).await?.0);
    }
    let started = Instant::now();
    observers
        .wait_for_hooks(&state.secret, &names, REMINDER_WAIT)
        .await?;
    println!(
        "fanout: {} reminders' webhooks arrived in {:.1} s",
        names.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(settle).await;
    let by = observers
        .wait_for_hooks(&state.secret, &names, REMINDER_WAIT)
        .await?;
    let twice: Vec<&String> = by
        .iter()
        .filter(|(_, h)| h.len() > 1)
        .map(|(n, _)| n)
        .collect();
    ensure!(twice.is_empty(), "delivered more than once: {twice:?}");
    no_repeated_ids(&observers.hooks(&state.secret).await?)?;
    println!(
        "fanout: after {settle:?} more, each of the {} was delivered exactly once",
        names.len()
    );
    Ok(())
}

fn no_repeated_ids(hooks: &[Hook]) -> anyhow::Result<()> {
    let mut seen = BTreeSet::new();
    let repeated: Vec<&str> = hooks
        .iter()
        .filter(|h| !seen.insert(h.id.as_str()))
        .map(|h| h.id.as_str())
        .collect();
    ensure!(
        repeated.is_empty(),
        "webhook ids received twice (the receiver always answers 200, so none should be): {repeated:?}"
    );
    Ok(())
}

/// `writes`: every keyed unit reports progress in a loop for `duration`,
/// each report retried with its request id until acknowledged (so an outage
/// in between, a PostgreSQL restart, costs time, not data); then every
/// acknowledged report is in its assignment's history exactly once, and
/// the reminders of the task reach the receiver.
pub async fn writes(
    state: &State,
    observers: &Observers,
    duration: Duration,
) -> anyhow::Result<()> {
    let units: Vec<String> = state.unit_keys.keys().cloned().collect();
    let (names, _) = state
        .task_due_today("Kiểm tra ghi khi khởi động lại CSDL", &units)
        .await?;
    let mut writers = tokio::task::JoinSet::new();
    for (name, unit) in names.iter().zip(&units) {
        let key = state.unit_keys[unit].clone();
        let (state, name) = (state.clone(), name.clone());
        writers.spawn(async move { write_loop(&state, &key, &name, duration).await });
    }
    let mut total = Tally::default();
    while let Some(done) = writers.join_next().await {
        total.add(done??);
    }
    println!(
        "writes: {} reports acknowledged by {} units; {} failed attempts retried ({}); longest wait for one report {:.1} s",
        total.acknowledged,
        units.len(),
        total.failures.values().sum::<u64>(),
        total
            .failures
            .iter()
            .map(|(code, n)| format!("{code}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        total.longest.as_secs_f64()
    );
    let mut tasks = state.tasks(&state.admin).await?;
    for name in &names {
        let notes = history_notes(&mut tasks, name).await?;
        let acknowledged = &total.notes[name];
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|n| !notes.contains_key(*n))
            .collect();
        let doubled: Vec<&String> = notes
            .iter()
            .filter(|(_, c)| **c > 1)
            .map(|(n, _)| n)
            .collect();
        ensure!(
            missing.is_empty(),
            "{name}: acknowledged but not in the history: {missing:?}"
        );
        ensure!(
            doubled.is_empty(),
            "{name}: in the history twice: {doubled:?}"
        );
    }
    println!("writes: every acknowledged report is in the history exactly once; nothing lost");
    let started = Instant::now();
    observers
        .wait_for_hooks(&state.secret, &names, REMINDER_WAIT)
        .await?;
    println!(
        "writes: the task's {} reminders reached the receiver ({:.1} s after the writes)",
        names.len(),
        started.elapsed().as_secs_f64()
    );
    no_repeated_ids(&observers.hooks(&state.secret).await?)
}

#[derive(Debug, Default)]
struct Tally {
    acknowledged: u64,
    failures: BTreeMap<String, u64>,
    longest: Duration,
    notes: BTreeMap<String, Vec<String>>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.acknowledged += other.acknowledged;
        for (code, n) in other.failures {
            *self.failures.entry(code).or_default() += n;
        }
        self.longest = self.longest.max(other.longest);
        self.notes.extend(other.notes);
    }
}

/// How long one report is retried before the run fails.
const WRITE_GIVE_UP: Duration = Duration::from_secs(120);

async fn write_loop(
    state: &State,
    key: &str,
    name: &str,
    duration: Duration,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let mut tasks = state.tasks(key).await?;
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < duration {
        i += 1;
        let note = format!("smoke write {i}");
        let request = tpb::ReportProgressRequest {
            name: name.into(),
            percent: i % 100,
            note: note.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        let first = Instant::now();
        loop {
            match tasks.report_progress(request.clone()).await {
                Ok(_) => break,
                Err(status) => {
                    *tally
                        .failures
                        .entry(format!("{:?}", status.code()))
                        .or_default() += 1;
                    ensure!(
                        first.elapsed() < WRITE_GIVE_UP,
                        "{name}: report {i} still failing after {WRITE_GIVE_UP:?}: {status}"
                    );
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
        tally.acknowledged += 1;
        tally.longest = tally.longest.max(first.elapsed());
        tally.notes.entry(name.to_string()).or_default().push(note);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(tally)
}

/// Each progress note in an assignment's history, with how often it occurs.
async fn history_notes(
    tasks: &mut TasksClient<GatewayChannel>,
    name: &str,
) -> anyhow::Result<BTreeMap<String, u32>> {
    let mut notes = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let page = tasks
            .list_assignment_events(tpb::ListAssignmentEventsRequest {
                name: name.into(),
                page_size: 1000,
                page_token,
            })
            .await
            .context("ListAssignmentEvents")?
            .into_inner();
        for event in page.events {
            if event.kind == tpb::ChangeKind::Progress as i32 {
                *notes.entry(event.note).or_default() += 1;
            }
        }
        if page.next_page_token.is_empty() {
            return Ok(notes);
        }
        page_token = page.next_page_token;
    }
}
