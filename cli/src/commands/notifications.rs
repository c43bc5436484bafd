//! `p06 notifications …`: a unit's reminders through the gateway. `tail`
//! follows the resumable Subscribe stream (reconnecting from the last
//! cursor, so nothing is missed or printed twice); `list`, `get` and `ack`
//! work the inbox; `deliveries`, `attempts` and `redrive` the push
//! channels; `policies` the reminder ladders per directive or task group.
//!
//! Text output is one line per item. With `--json` each item is one JSON
//! object per line: proto field names, enums by their short name
//! (`DUE_SOON`), times in RFC 3339 (UTC).

use crate::{
    cli::ClientArgs,
    client::{GatewayChannel, connect, describe},
};
use chrono::DateTime;
use p06_proto::{
    notifications::v1::{self as pb, notifications_client::NotificationsClient},
    tasks::v1::TaskGroup,
};
use rand::Rng as _;
use serde_json::{Value, json};
use std::{
    io::Write as _,
    time::{Duration, Instant},
};
use tokio_stream::StreamExt as _;
use tonic::Code;

type Client = NotificationsClient<GatewayChannel>;

/// The language of a notification's text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Vietnamese (the text sent to units).
    #[default]
    Vi,
    /// English.
    En,
}

/// How items are printed.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Format {
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Language of the notification text: vi or en.
    #[arg(long, value_enum, default_value_t = Lang::Vi)]
    pub lang: Lang,
}

/// Notification subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum NotificationsCommand {
    /// Print a unit's notifications live as they are produced, until Ctrl-C:
    /// `p06 notifications tail --unit p01`.
    ///
    /// Each line: due time (Hà Nội), kind, unit, directive number, text and
    /// the cursor. A dropped connection is resumed from the last cursor
    /// (with backoff, noted on stderr): nothing is missed or printed twice.
    /// Resume a later session with `--after CURSOR`.
    Tail {
        /// The unit (`p01` or `units/p01`).
        #[arg(long)]
        unit: String,
        /// Start after this cursor (0 = from the first notification).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Output format.
        #[command(flatten)]
        format: Format,
    },
    /// List notifications, newest first: `p06 notifications list --unit p01 --unread`.
    List {
        /// The unit (`p01`), or `-` for every unit (COORDINATOR, ADMIN, VIEWER).
        #[arg(long)]
        unit: String,
        /// AIP-160 filter over kind, acknowledged, assignment, create_time:
        /// `kind = OVERDUE AND create_time >= "2025-01-01T00:00:00Z"`.
        #[arg(long)]
        filter: Option<String>,
        /// Only notifications not yet acknowledged.
        #[arg(long)]
        unread: bool,
        /// Paging.
        #[command(flatten)]
        page: Paging,
        /// Output format.
        #[command(flatten)]
        format: Format,
    },
    /// Show one notification with its deliveries.
    Get {
        /// units/{unit}/notifications/{id}.
        name: String,
        /// Output format.
        #[command(flatten)]
        format: Format,
    },
    /// Mark a notification read; its repeats stop until the assignment changes.
    Ack {
        /// units/{unit}/notifications/{id}.
        name: String,
        /// Output format.
        #[command(flatten)]
        format: Format,
    },
    /// List webhook and e-mail deliveries: `p06 notifications deliveries --unit - --dead-letter`.
    Deliveries {
        /// The unit (`p01`), or `-` for every unit.
        #[arg(long)]
        unit: String,
        /// Only deliveries that gave up (redrive them with `redrive`).
        #[arg(long)]
        dead_letter: bool,
        /// AIP-160 filter over state (PENDING, DELIVERED, DEAD_LETTER) and
        /// channel (WEBHOOK, EMAIL).
        #[arg(long)]
        filter: Option<String>,
        /// Paging.
        #[command(flatten)]
        page: Paging,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every delivery attempt of one notification (the ledger).
    Attempts {
        /// units/{unit}/notifications/{id}.
        name: String,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send a dead-lettered (or pending) delivery again now (COORDINATOR or ADMIN).
    Redrive {
        /// units/{unit}/notifications/{id}/deliveries/{webhook|email}.
        name: String,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reminder policies per directive or task group.
    Policies {
        /// What to do with policies.
        #[command(subcommand)]
        command: PoliciesCommand,
    },
}

/// Paging options of the list subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct Paging {
    /// Items per page (the service caps it).
    #[arg(long, default_value_t = 50)]
    pub page_size: i32,
    /// Continue from a `next page` token printed by an earlier run.
    #[arg(long)]
    pub page_token: Option<String>,
    /// Follow every page to the end.
    #[arg(long)]
    pub all: bool,
}

/// Policy subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PoliciesCommand {
    /// List the policies.
    List {
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one policy.
    Get {
        /// policies/{id} or {id}.
        name: String,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Set the reminder ladder of a directive or a task group (COORDINATOR or ADMIN):
    /// `p06 notifications policies create --group public-services --rule due-soon:5
    /// --rule due-today --rule overdue:2/2 --rule escalation:5`.
    ///
    /// A directive's policy wins over its group's; without either the
    /// default ladder applies.
    #[command(group = clap::ArgGroup::new("scope").required(true))]
    Create {
        /// The directive (`directives/344-tb-vpcp-2024`).
        #[arg(long, group = "scope")]
        directive: Option<String>,
        /// The task group: institutions, infrastructure, public-services,
        /// data, resources or security.
        #[arg(long, group = "scope")]
        group: Option<String>,
        /// A step of the ladder (repeatable): `due-soon:N` (N working days
        /// before), `due-today`, `overdue:N` or `overdue:N/EVERY` (N working
        /// days after, repeated every EVERY), `escalation:N`,
        /// `period-report-due:N`.
        #[arg(long = "rule", required = true, value_parser = parse_rule, value_name = "KIND:DAYS[/EVERY]")]
        rules: Vec<pb::ReminderRule>,
        /// Send outside office hours and on days off too.
        #[arg(long)]
        urgent: bool,
        /// The policy id (`policies/{id}`); generated when omitted.
        #[arg(long)]
        id: Option<String>,
        /// Idempotency key: repeating the command with it creates nothing twice.
        #[arg(long)]
        request_id: Option<String>,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a policy; its scope falls back to the group's or the default ladder.
    Delete {
        /// policies/{id} or {id}.
        name: String,
        /// Only if the policy still has this etag.
        #[arg(long)]
        etag: Option<String>,
    },
}

/// Runs a notifications subcommand.
pub async fn run(args: &ClientArgs, command: NotificationsCommand) -> anyhow::Result<()> {
    let mut client = Client::new(connect(args).await?);
    match command {
        NotificationsCommand::Tail {
            unit,
            after,
            format,
        } => tail(&mut client, &unit_name(&unit), after, format).await,
        NotificationsCommand::List {
            unit,
            filter,
            unread,
            page,
            format,
        } => {
            let filter = list_filter(filter, unread);
            list(&mut client, &unit_name(&unit), filter, page, format).await
        }
        NotificationsCommand::Get { name, format } => {
            let request = pb::GetNotificationRequest { name };
            let n = client.get_notification(request).await.map_err(describe)?;
            emit_notification(&n.into_inner(), format, true)
        }
        NotificationsCommand::Ack { name, format } => {
            let request = pb::AcknowledgeNotificationRequest { name };
            let n = client
                .acknowledge_notification(request)
                .await
                .map_err(describe)?;
            emit_notification(&n.into_inner(), format, true)
        }
        NotificationsCommand::Deliveries {
            unit,
            dead_letter,
            filter,
            page,
            json,
        } => {
            let mut terms: Vec<String> = filter.into_iter().map(|f| format!("({f})")).collect();
            if dead_letter {
                terms.push("state = DEAD_LETTER".into());
            }
            deliveries(
                &mut client,
                &unit_name(&unit),
                terms.join(" AND "),
                page,
                json,
            )
            .await
        }
        NotificationsCommand::Attempts { name, json } => attempts(&mut client, name, json).await,
        NotificationsCommand::Redrive { name, json } => {
            let request = pb::RedriveDeliveryRequest { name };
            let d = client.redrive_delivery(request).await.map_err(describe)?;
            emit(&delivery_output(&d.into_inner(), json))
        }
        NotificationsCommand::Policies { command } => policies(&mut client, command).await,
    }
}

/// `units/{unit}`; `-` for every unit.
fn unit_name(u: &str) -> String {
    if u.starts_with("units/") {
        u.to_string()
    } else {
        format!("units/{u}")
    }
}

fn policy_name(p: &str) -> String {
    if p.starts_with("policies/") {
        p.to_string()
    } else {
        format!("policies/{p}")
    }
}

fn list_filter(filter: Option<String>, unread: bool) -> String {
    let mut terms: Vec<String> = filter.into_iter().map(|f| format!("({f})")).collect();
    if unread {
        terms.push("acknowledged = false".into());
    }
    terms.join(" AND ")
}

/// Writes one line to stdout; an error when stdout is closed (`| head`).
fn emit(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

fn stdout_closed(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

// ---------------------------------------------------------------- tail

/// Why a subscription ended without an error worth stopping for.
enum Stop {
    /// Stdout was closed: the reader is gone.
    Closed,
    /// The stream dropped; resume from the cursor.
    Dropped(String),
}

/// Delays between reconnections: doubling from half a second to 30 s, with
/// jitter.
struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);
    const CAP: Duration = Duration::from_secs(30);
    /// A connection up this long counts as healthy: the next drop starts
    /// the delays over.
    const HEALTHY: Duration = Duration::from_secs(30);

    fn new() -> Self {
        Self { next: Self::FIRST }
    }

    fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    fn delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(Self::CAP);
        base.mul_f64(rand::rng().random_range(0.8..1.2))
    }
}

/// Worth retrying: the connection or the service is (briefly) away.
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::Unknown
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Internal
    )
}

fn dropped(status: tonic::Status) -> anyhow::Result<Stop> {
    if transient(status.code()) {
        Ok(Stop::Dropped(format!(
            "{:?}: {}",
            status.code(),
            status.message()
        )))
    } else {
        Err(describe(status))
    }
}

/// `p06 notifications tail`: follows the stream until Ctrl-C, resuming
/// after the last cursor printed whenever it drops.
async fn tail(client: &mut Client, unit: &str, after: i64, format: Format) -> anyhow::Result<()> {
    let mut cursor = after;
    let mut backoff = Backoff::new();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut resuming = false;
    loop {
        let stop = tokio::select! {
            stop = follow(client, unit, &mut cursor, format, &mut backoff, resuming) => stop?,
            _ = &mut interrupted => return Ok(()),
        };
        let reason = match stop {
            Stop::Closed => return Ok(()),
            Stop::Dropped(reason) => reason,
        };
        let delay = backoff.delay();
        eprintln!(
            "p06: stream dropped ({reason}); resuming after cursor {cursor} in {:.1}s",
            delay.as_secs_f64()
        );
        resuming = true;
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = &mut interrupted => return Ok(()),
        }
    }
}

/// One subscription: prints each notification past `cursor` and moves it.
async fn follow(
    client: &mut Client,
    unit: &str,
    cursor: &mut i64,
    format: Format,
    backoff: &mut Backoff,
    resuming: bool,
) -> anyhow::Result<Stop> {
    let request = pb::SubscribeRequest {
        unit: unit.to_string(),
        after_cursor: *cursor,
    };
    let mut stream = match client.subscribe(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return dropped(status),
    };
    if resuming {
        eprintln!("p06: resumed after cursor {cursor}");
    }
    let since = Instant::now();
    let outcome = loop {
        match stream.next().await {
            Some(Ok(n)) if n.cursor <= *cursor => {}
            Some(Ok(n)) => {
                if let Err(e) = emit_notification(&n, format, false) {
                    return if stdout_closed(&e) {
                        Ok(Stop::Closed)
                    } else {
                        Err(e)
                    };
                }
                *cursor = n.cursor;
                backoff.reset();
            }
            Some(Err(status)) => break dropped(status),
            None => break Ok(Stop::Dropped("the server closed the stream".into())),
        }
    };
    if since.elapsed() >= Backoff::HEALTHY {
        backoff.reset();
    }
    outcome
}

// ---------------------------------------------------------------- lists

async fn list(
    client: &mut Client,
    parent: &str,
    filter: String,
    page: Paging,
    format: Format,
) -> anyhow::Result<()> {
    let mut request = pb::ListNotificationsRequest {
        parent: parent.to_string(),
        page_size: page.page_size,
        page_token: page.page_token.unwrap_or_default(),
        filter,
    };
    loop {
        let response = client
            .list_notifications(request.clone())
            .await
            .map_err(describe)?
            .into_inner();
        for n in &response.notifications {
            emit_notification(n, format, true)?;
        }
        match next_page(response.next_page_token, page.all) {
            Some(token) => request.page_token = token,
            None => return Ok(()),
        }
    }
}

async fn deliveries(
    client: &mut Client,
    parent: &str,
    filter: String,
    page: Paging,
    json: bool,
) -> anyhow::Result<()> {
    let mut request = pb::ListDeliveriesRequest {
        parent: parent.to_string(),
        page_size: page.page_size,
        page_token: page.page_token.unwrap_or_default(),
        filter,
    };
    loop {
        let response = client
            .list_deliveries(request.clone())
            .await
            .map_err(describe)?
            .into_inner();
        for d in &response.deliveries {
            emit(&delivery_output(d, json))?;
        }
        match next_page(response.next_page_token, page.all) {
            Some(token) => request.page_token = token,
            None => return Ok(()),
        }
    }
}

/// The token to fetch next with `--all`; without it, a hint on stderr.
fn next_page(token: String, all: bool) -> Option<String> {
    if token.is_empty() {
        None
    } else if all {
        Some(token)
    } else {
        eprintln!("more: add --all, or --page-token {token}");
        None
    }
}

async fn attempts(client: &mut Client, parent: String, json: bool) -> anyhow::Result<()> {
    let request = pb::ListDeliveryAttemptsRequest { parent };
    let response = client
        .list_delivery_attempts(request)
        .await
        .map_err(describe)?
        .into_inner();
    for a in &response.attempts {
        emit(&attempt_output(a, json))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- policies

async fn policies(client: &mut Client, command: PoliciesCommand) -> anyhow::Result<()> {
    match command {
        PoliciesCommand::List { json } => {
            let mut request = pb::ListPoliciesRequest {
                page_size: 100,
                page_token: String::new(),
            };
            loop {
                let response = client
                    .list_policies(request.clone())
                    .await
                    .map_err(describe)?
                    .into_inner();
                for p in &response.policies {
                    emit(&policy_output(p, json))?;
                }
                if response.next_page_token.is_empty() {
                    return Ok(());
                }
                request.page_token = response.next_page_token;
            }
        }
        PoliciesCommand::Get { name, json } => {
            let request = pb::GetPolicyRequest {
                name: policy_name(&name),
            };
            let p = client.get_policy(request).await.map_err(describe)?;
            emit(&policy_output(&p.into_inner(), json))
        }
        PoliciesCommand::Create {
            directive,
            group,
            rules,
            urgent,
            id,
            request_id,
            json,
        } => {
            let policy = pb::Policy {
                directive: directive.map(|d| directive_name(&d)).unwrap_or_default(),
                group: group.as_deref().map(task_group).transpose()?.unwrap_or(0),
                rules,
                urgent,
                ..Default::default()
            };
            let request = pb::CreatePolicyRequest {
                policy: Some(policy),
                policy_id: id.unwrap_or_default(),
                request_id: request_id.unwrap_or_default(),
            };
            let p = client.create_policy(request).await.map_err(describe)?;
            emit(&policy_output(&p.into_inner(), json))
        }
        PoliciesCommand::Delete { name, etag } => {
            let name = policy_name(&name);
            let request = pb::DeletePolicyRequest {
                name: name.clone(),
                etag: etag.unwrap_or_default(),
            };
            client.delete_policy(request).await.map_err(describe)?;
            emit(&format!("deleted {name}"))
        }
    }
}

fn directive_name(d: &str) -> String {
    if d.starts_with("directives/") {
        d.to_string()
    } else {
        format!("directives/{d}")
    }
}

fn task_group(v: &str) -> anyhow::Result<i32> {
    TaskGroup::from_str_name(&format!(
        "TASK_GROUP_{}",
        v.to_uppercase().replace('-', "_")
    ))
    .filter(|g| *g != TaskGroup::Unspecified)
    .map(|g| g as i32)
    .ok_or_else(|| {
        anyhow::anyhow!(
            "unknown task group {v:?}: use institutions, infrastructure, public-services, data, resources or security"
        )
    })
}

const RULE_KINDS: &str = "due-soon, due-today, overdue, escalation or period-report-due";

/// Parses a `--rule`: `KIND:DAYS`, `overdue:DAYS/EVERY`, or `due-today`.
pub fn parse_rule(text: &str) -> Result<pb::ReminderRule, String> {
    let bad = |why: String| format!("rule {text:?}: {why}");
    let (kind_text, days_text) = match text.split_once(':') {
        Some((k, d)) => (k.trim(), Some(d.trim())),
        None => (text.trim(), None),
    };
    let kind = rule_kind(kind_text).ok_or_else(|| {
        bad(format!(
            "unknown kind {kind_text:?}; use {RULE_KINDS}, e.g. due-soon:5 or overdue:2/2"
        ))
    })?;
    let (days_text, every_text) = match days_text.map(|d| d.split_once('/')) {
        Some(Some((d, e))) => (Some(d.trim()), Some(e.trim())),
        Some(None) => (days_text, None),
        None => (None, None),
    };
    let working_days = match (days_text, kind) {
        (None, pb::NotificationKind::DueToday) => 0,
        (None, _) => {
            return Err(bad(format!("missing working days; write {kind_text}:N")));
        }
        (Some(d), _) => day_count(d).map_err(|why| bad(format!("working days {why}")))?,
    };
    if kind == pb::NotificationKind::DueToday && working_days != 0 {
        return Err(bad("due-today takes no working days (or :0)".into()));
    }
    let repeat_every_working_days = match every_text {
        None => 0,
        Some(_) if kind != pb::NotificationKind::Overdue => {
            return Err(bad("only overdue repeats (overdue:N/EVERY)".into()));
        }
        Some(e) => day_count(e).map_err(|why| bad(format!("repeat interval {why}")))?,
    };
    Ok(pb::ReminderRule {
        kind: kind as i32,
        working_days,
        repeat_every_working_days,
    })
}

fn rule_kind(text: &str) -> Option<pb::NotificationKind> {
    let name = format!(
        "NOTIFICATION_KIND_{}",
        text.to_uppercase().replace('-', "_")
    );
    pb::NotificationKind::from_str_name(&name).filter(|k| {
        !matches!(
            k,
            pb::NotificationKind::Unspecified | pb::NotificationKind::Digest
        )
    })
}

fn day_count(text: &str) -> Result<i32, String> {
    text.parse::<u16>()
        .ok()
        .map(i32::from)
        .ok_or_else(|| format!("{text:?} is not a whole number of days (0 or more)"))
}

// ---------------------------------------------------------------- output

fn short(full: &str, prefix: &str) -> String {
    full.trim_start_matches(prefix).to_string()
}

fn kind_name(v: i32) -> String {
    pb::NotificationKind::try_from(v)
        .map(|k| short(k.as_str_name(), "NOTIFICATION_KIND_"))
        .unwrap_or_else(|_| v.to_string())
}

fn channel_name(v: i32) -> String {
    pb::Channel::try_from(v)
        .map(|c| short(c.as_str_name(), "CHANNEL_"))
        .unwrap_or_else(|_| v.to_string())
}

fn state_name(v: i32) -> String {
    pb::DeliveryState::try_from(v)
        .map(|s| short(s.as_str_name(), "DELIVERY_STATE_"))
        .unwrap_or_else(|_| v.to_string())
}

fn group_name(v: i32) -> String {
    TaskGroup::try_from(v)
        .map(|g| short(g.as_str_name(), "TASK_GROUP_").replace('_', "-"))
        .map(|g| g.to_lowercase())
        .unwrap_or_else(|_| v.to_string())
}

/// Local time in Hà Nội (Asia/Ho_Chi_Minh), to the minute.
fn local_time(seconds: Option<i64>) -> String {
    seconds
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map(|t| {
            t.with_timezone(&p06_kit::clock::vietnam_offset())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
}

/// RFC 3339 in UTC; null when unset.
fn rfc3339(seconds: Option<i64>) -> Value {
    seconds
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map_or(Value::Null, |t| {
            Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        })
}

fn text(n: &pb::Notification, lang: Lang) -> &str {
    match lang {
        Lang::Vi => &n.text_vi,
        Lang::En => &n.text_en,
    }
}

/// Prints a notification: the tail line, or with `named` the list line
/// (name and read state first).
fn emit_notification(n: &pb::Notification, format: Format, named: bool) -> anyhow::Result<()> {
    if format.json {
        return emit(&notification_json(n).to_string());
    }
    let line = notification_line(n, format.lang);
    if named {
        let read = if n.acknowledge_time.is_some() {
            "read"
        } else {
            "unread"
        };
        emit(&format!("{}  {read:<6}  {line}", n.name))
    } else {
        emit(&line)
    }
}

/// `2025-01-15 08:00  DUE_TODAY  units/p01  12/TB-VPCP  Nhắc hạn …  cursor 7`.
fn notification_line(n: &pb::Notification, lang: Lang) -> String {
    let number = if n.directive_number.is_empty() {
        "-"
    } else {
        &n.directive_number
    };
    format!(
        "{}  {:<17} {:<16} {:<14} {}  cursor {}",
        local_time(n.due_time.as_ref().map(|t| t.seconds)),
        kind_name(n.kind),
        n.unit,
        number,
        text(n, lang),
        n.cursor
    )
}

fn notification_json(n: &pb::Notification) -> Value {
    json!({
        "name": n.name,
        "id": n.id,
        "kind": kind_name(n.kind),
        "unit": n.unit,
        "assignment": n.assignment,
        "assignee": n.assignee,
        "directive": n.directive,
        "directive_number": n.directive_number,
        "task_title": n.task_title,
        "deadline": n.deadline,
        "working_days_left": n.working_days_left,
        "working_days_overdue": n.working_days_overdue,
        "text_vi": n.text_vi,
        "text_en": n.text_en,
        "cursor": n.cursor,
        "due_time": rfc3339(n.due_time.as_ref().map(|t| t.seconds)),
        "create_time": rfc3339(n.create_time.as_ref().map(|t| t.seconds)),
        "acknowledge_time": rfc3339(n.acknowledge_time.as_ref().map(|t| t.seconds)),
        "digest_items": n.digest_items.iter().map(|i| json!({
            "assignment": i.assignment,
            "directive_number": i.directive_number,
            "task_title": i.task_title,
            "deadline": i.deadline,
            "overdue": i.overdue,
        })).collect::<Vec<_>>(),
        "deliveries": n.deliveries.iter().map(delivery_json).collect::<Vec<_>>(),
    })
}

fn delivery_output(d: &pb::Delivery, json: bool) -> String {
    if json {
        return delivery_json(d).to_string();
    }
    let mut line = format!(
        "{}  {:<7} {:<11} attempts {}",
        d.name,
        channel_name(d.channel),
        state_name(d.state),
        d.attempts
    );
    if let Some(t) = &d.next_attempt_time {
        line.push_str(&format!("  next {}", local_time(Some(t.seconds))));
    }
    if let Some(t) = &d.deliver_time {
        line.push_str(&format!("  delivered {}", local_time(Some(t.seconds))));
    }
    if !d.last_error.is_empty() {
        line.push_str(&format!("  last error: {}", d.last_error));
    }
    line
}

fn delivery_json(d: &pb::Delivery) -> Value {
    json!({
        "name": d.name,
        "channel": channel_name(d.channel),
        "state": state_name(d.state),
        "attempts": d.attempts,
        "next_attempt_time": rfc3339(d.next_attempt_time.as_ref().map(|t| t.seconds)),
        "last_error": d.last_error,
        "deliver_time": rfc3339(d.deliver_time.as_ref().map(|t| t.seconds)),
    })
}

fn attempt_output(a: &pb::DeliveryAttempt, json: bool) -> String {
    let time = a.time.as_ref().map(|t| t.seconds);
    if json {
        return json!({
            "channel": channel_name(a.channel),
            "attempt": a.attempt,
            "success": a.success,
            "response_code": a.response_code,
            "error": a.error,
            "latency_ms": a.latency_ms,
            "time": rfc3339(time),
        })
        .to_string();
    }
    let outcome = if a.success { "ok" } else { "failed" };
    let code = if a.response_code == 0 {
        "-".to_string()
    } else {
        a.response_code.to_string()
    };
    let mut line = format!(
        "{}  {:<7} #{:<2} {outcome:<6} {code:>3}  {} ms",
        local_time(time),
        channel_name(a.channel),
        a.attempt,
        a.latency_ms
    );
    if !a.error.is_empty() {
        line.push_str(&format!("  {}", a.error));
    }
    line
}

/// A rule in the `--rule` syntax.
fn rule_text(r: &pb::ReminderRule) -> String {
    let kind = kind_name(r.kind).to_lowercase().replace('_', "-");
    match (r.kind, r.repeat_every_working_days) {
        (k, _) if k == pb::NotificationKind::DueToday as i32 => kind,
        (_, 0) => format!("{kind}:{}", r.working_days),
        (_, every) => format!("{kind}:{}/{every}", r.working_days),
    }
}

fn policy_output(p: &pb::Policy, json: bool) -> String {
    let scope = if p.directive.is_empty() {
        format!("group {}", group_name(p.group))
    } else {
        p.directive.clone()
    };
    let rules: Vec<String> = p.rules.iter().map(rule_text).collect();
    if json {
        return json!({
            "name": p.name,
            "directive": p.directive,
            "group": if p.group == 0 { Value::Null } else { Value::String(group_name(p.group)) },
            "rules": rules,
            "urgent": p.urgent,
            "etag": p.etag,
            "create_time": rfc3339(p.create_time.as_ref().map(|t| t.seconds)),
            "update_time": rfc3339(p.update_time.as_ref().map(|t| t.seconds)),
        })
        .to_string();
    }
    let urgent = if p.urgent { "  urgent" } else { "" };
    format!(
        "{:<28} {:<36} {}{urgent}  etag {}",
        p.name,
        scope,
        rules.join(" "),
        p.etag
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_with_clear_errors() {
        let r = parse_rule("overdue:2/3").unwrap();
        assert_eq!(
            (r.kind, r.working_days, r.repeat_every_working_days),
            (pb::NotificationKind::Overdue as i32, 2, 3)
        );
        assert_eq!(parse_rule("due-today").unwrap().working_days, 0);
        assert_eq!(
            parse_rule("DUE_SOON:5").unwrap().kind,
            pb::NotificationKind::DueSoon as i32
        );
        assert_eq!(
            rule_text(&parse_rule("escalation:5").unwrap()),
            "escalation:5"
        );
        assert_eq!(
            rule_text(&parse_rule("overdue:2/2").unwrap()),
            "overdue:2/2"
        );
        for (bad, says) in [
            ("soon:5", "unknown kind \"soon\""),
            ("due-soon:x", "\"x\" is not a whole number"),
            ("due-soon", "missing working days"),
            ("due-soon:5/2", "only overdue repeats"),
            ("due-today:3", "due-today takes no working days"),
            ("overdue:-1", "not a whole number"),
            ("digest:1", "unknown kind"),
        ] {
            let e = parse_rule(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::new();
        let first = b.delay();
        assert!(first >= Duration::from_millis(400) && first <= Duration::from_millis(600));
        for _ in 0..10 {
            b.delay();
        }
        assert!(b.delay() <= Backoff::CAP.mul_f64(1.2));
        b.reset();
        assert!(b.delay() <= Duration::from_millis(600));
    }
}
