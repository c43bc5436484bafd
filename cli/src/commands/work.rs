//! Client commands for the programme's work: directives, tasks, assignments,
//! summaries, the scoreboard and the change feed.

use crate::{
    cli::ClientArgs,
    client::{connect, describe},
};
use p06_proto::tasks::v1::{self as pb, tasks_client::TasksClient};
use tokio_stream::StreamExt;

fn unit_name(u: &str) -> String {
    if u.starts_with("units/") {
        u.to_string()
    } else {
        format!("units/{u}")
    }
}

fn enum_value(
    kind: &str,
    prefix: &str,
    value: &str,
    from: fn(&str) -> Option<i32>,
) -> anyhow::Result<i32> {
    from(&format!(
        "{prefix}{}",
        value.to_uppercase().replace('-', "_")
    ))
    .ok_or_else(|| anyhow::anyhow!("unknown {kind} {value:?}"))
}

fn directive_type(v: &str) -> anyhow::Result<i32> {
    enum_value("directive type", "DIRECTIVE_TYPE_", v, |n| {
        pb::DirectiveType::from_str_name(n).map(|t| t as i32)
    })
}

fn group(v: &str) -> anyhow::Result<i32> {
    enum_value("task group", "TASK_GROUP_", v, |n| {
        pb::TaskGroup::from_str_name(n).map(|t| t as i32)
    })
}

fn period(v: &str) -> anyhow::Result<i32> {
    enum_value("reporting period", "REPORTING_PERIOD_", v, |n| {
        pb::ReportingPeriod::from_str_name(n).map(|t| t as i32)
    })
}

fn status_name(v: i32) -> String {
    pb::AssignmentStatus::try_from(v)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("ASSIGNMENT_STATUS_")
                .to_string()
        })
        .unwrap_or_default()
}

/// Directive subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DirectivesCommand {
    /// Record a directive: `p06 directives create --number 344/TB-VPCP --type notice --date 2024-07-02 --title "…"`.
    Create {
        /// Official number.
        #[arg(long)]
        number: String,
        /// decision, directive, notice, resolution, official-letter or plan.
        #[arg(long = "type")]
        kind: String,
        /// Issuing unit.
        #[arg(long, default_value = "units/m-government-office")]
        issuer: String,
        /// Date of issue.
        #[arg(long)]
        date: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// Link to the text.
        #[arg(long, default_value = "")]
        link: String,
    },
    /// List directives, newest first.
    List,
}

/// Task subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TasksCommand {
    /// Assign a task to units: `p06 tasks create --directive directives/344-tb-vpcp-2024 --title "…" --group institutions --deadline 2024-07-20 --lead p01 --lead p79`.
    Create {
        /// The directive.
        #[arg(long)]
        directive: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// institutions, infrastructure, public-services, data, resources or security.
        #[arg(long)]
        group: String,
        /// A calendar deadline.
        #[arg(long, conflicts_with_all = ["working_days", "period"])]
        deadline: Option<String>,
        /// N working days from the directive's date.
        #[arg(long, conflicts_with = "period")]
        working_days: Option<i32>,
        /// A regularly implemented duty: monthly, quarterly or yearly.
        #[arg(long)]
        period: Option<String>,
        /// Leading units (repeatable).
        #[arg(long)]
        lead: Vec<String>,
        /// Coordinating units (repeatable).
        #[arg(long)]
        coordinate: Vec<String>,
    },
}

/// Assignment subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AssignmentsCommand {
    /// List assignments (a UNIT key sees its own): `p06 assignments list --unit p01 --as-of 2024-08-01`.
    List {
        /// Only this unit's.
        #[arg(long)]
        unit: Option<String>,
        /// Extra AIP-160 filter (directive, task, group, role, deadline, state).
        #[arg(long)]
        filter: Option<String>,
        /// Status as of this date.
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Report progress on an assignment (its unit's key, or a
    /// coordinator's entering it on the unit's behalf).
    Report {
        /// tasks/…/assignments/….
        name: String,
        /// 0–100.
        #[arg(long)]
        percent: i32,
        /// What was done (name the document of a dated report here).
        #[arg(long, default_value = "")]
        note: String,
        /// Evidence link.
        #[arg(long, default_value = "")]
        evidence: String,
        /// The day the report was made, when entered later (YYYY-MM-DD).
        #[arg(long)]
        reported_on: Option<String>,
    },
    /// Mark an assignment done.
    Complete {
        /// tasks/…/assignments/….
        name: String,
        /// Completion date (default today).
        #[arg(long)]
        on: Option<String>,
    },
    /// Show an assignment's history.
    History {
        /// tasks/…/assignments/….
        name: String,
    },
}

/// Runs a directive subcommand.
pub async fn directives(args: &ClientArgs, command: DirectivesCommand) -> anyhow::Result<()> {
    let mut client = TasksClient::new(connect(args).await?);
    match command {
        DirectivesCommand::Create {
            number,
            kind,
            issuer,
            date,
            title,
            link,
        } => {
            let directive = pb::Directive {
                number,
                r#type: directive_type(&kind)?,
                issuer: unit_name(&issuer),
                issue_date: date,
                title,
                link,
                ..Default::default()
            };
            let d = client
                .create_directive(pb::CreateDirectiveRequest {
                    directive: Some(directive),
                    request_id: String::new(),
                })
                .await
                .map_err(describe)?
                .into_inner();
            println!("{}  {}  {}", d.name, d.number, d.issue_date);
        }
        DirectivesCommand::List => {
            let mut request = pb::ListDirectivesRequest {
                page_size: 200,
                ..Default::default()
            };
            loop {
                let page = client
                    .list_directives(request.clone())
                    .await
                    .map_err(describe)?
                    .into_inner();
                for d in &page.directives {
                    println!(
                        "{:<36} {:<16} {}  {}",
                        d.name, d.number, d.issue_date, d.title
                    );
                }
                if page.next_page_token.is_empty() {
                    return Ok(());
                }
                request.page_token = page.next_page_token;
            }
        }
    }
    Ok(())
}

/// Runs a task subcommand.
pub async fn tasks(args: &ClientArgs, command: TasksCommand) -> anyhow::Result<()> {
    let mut client = TasksClient::new(connect(args).await?);
    let TasksCommand::Create {
        directive,
        title,
        group: g,
        deadline,
        working_days,
        period: p,
        lead,
        coordinate,
    } = command;
    let rule = match (deadline, working_days) {
        (Some(date), _) => Some(pb::deadline_rule::Rule::Date(date)),
        (None, Some(n)) => Some(pb::deadline_rule::Rule::WorkingDays(n)),
        (None, None) => None,
    };
    let task = pb::Task {
        title,
        group: group(&g)?,
        deadline: rule.map(|r| pb::DeadlineRule { rule: Some(r) }),
        reporting_period: p.as_deref().map(period).transpose()?.unwrap_or(0),
        ..Default::default()
    };
    let mut assignees: Vec<pb::Assignee> = lead
        .iter()
        .map(|u| pb::Assignee {
            unit: unit_name(u),
            role: pb::AssigneeRole::Lead as i32,
        })
        .collect();
    assignees.extend(coordinate.iter().map(|u| pb::Assignee {
        unit: unit_name(u),
        role: pb::AssigneeRole::Coordinate as i32,
    }));
    let parent = if directive.starts_with("directives/") {
        directive
    } else {
        format!("directives/{directive}")
    };
    let created = client
        .create_task(pb::CreateTaskRequest {
            parent,
            task: Some(task),
            assignees,
            request_id: String::new(),
        })
        .await
        .map_err(describe)?
        .into_inner();
    if let Some(t) = created.task {
        println!("{}  {}", t.name, t.title);
    }
    for a in &created.assignments {
        println!(
            "  {:<60} due {}",
            a.name,
            if a.deadline.is_empty() {
                "regularly"
            } else {
                &a.deadline
            }
        );
    }
    Ok(())
}

/// Runs an assignment subcommand.
pub async fn assignments(args: &ClientArgs, command: AssignmentsCommand) -> anyhow::Result<()> {
    let mut client = TasksClient::new(connect(args).await?);
    match command {
        AssignmentsCommand::List {
            unit,
            filter,
            as_of,
        } => {
            let mut terms = Vec::new();
            if let Some(u) = unit {
                terms.push(format!("unit = \"{}\"", unit_name(&u)));
            }
            if let Some(f) = filter {
                terms.push(format!("({f})"));
            }
            let mut request = pb::ListAssignmentsRequest {
                page_size: 500,
                filter: terms.join(" AND "),
                as_of: as_of.unwrap_or_default(),
                ..Default::default()
            };
            loop {
                let page = client
                    .list_assignments(request.clone())
                    .await
                    .map_err(describe)?
                    .into_inner();
                for a in &page.assignments {
                    let backlog = if a.backlog { " (backlog)" } else { "" };
                    println!(
                        "{:<60} {:<10} {:>3}%  {:<18}{}  {}",
                        a.name,
                        a.deadline,
                        a.progress_percent,
                        status_name(a.status),
                        backlog,
                        a.title
                    );
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                request.page_token = page.next_page_token;
            }
        }
        AssignmentsCommand::Report {
            name,
            percent,
            note,
            evidence,
            reported_on,
        } => {
            let request = pb::ReportProgressRequest {
                name,
                percent,
                note,
                evidence_link: evidence,
                reported_on: reported_on.unwrap_or_default(),
                ..Default::default()
            };
            let a = client
                .report_progress(request)
                .await
                .map_err(describe)?
                .into_inner();
            println!(
                "{}  {}%  {}",
                a.name,
                a.progress_percent,
                status_name(a.status)
            );
        }
        AssignmentsCommand::Complete { name, on } => {
            let request = pb::CompleteAssignmentRequest {
                name,
                completed_on: on.unwrap_or_default(),
                ..Default::default()
            };
            let a = client
                .complete_assignment(request)
                .await
                .map_err(describe)?
                .into_inner();
            println!("{}  {}  {}", a.name, a.completed_on, status_name(a.status));
        }
        AssignmentsCommand::History { name } => {
            let request = pb::ListAssignmentEventsRequest {
                name,
                page_size: 1000,
                ..Default::default()
            };
            for e in client
                .list_assignment_events(request)
                .await
                .map_err(describe)?
                .into_inner()
                .events
            {
                print_change(&e);
            }
        }
    }
    Ok(())
}

fn print_change(c: &pb::Change) {
    let kind = pb::ChangeKind::try_from(c.kind)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("CHANGE_KIND_")
                .to_string()
        })
        .unwrap_or_default();
    let at = c
        .time
        .as_ref()
        .map(|t| t.seconds)
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    println!(
        "#{:<6} {at}  {kind:<16} {:<60} due {:<10} {:>3}%  {}",
        c.sequence, c.assignment, c.deadline, c.percent, c.note
    );
}

/// `p06 summary`: counts per status as of a date.
pub async fn summary(
    args: &ClientArgs,
    unit: Option<String>,
    directive: Option<String>,
    task: Option<String>,
    as_of: Option<String>,
) -> anyhow::Result<()> {
    let mut client = TasksClient::new(connect(args).await?);
    let request = pb::GetSummaryRequest {
        as_of: as_of.unwrap_or_default(),
        unit: unit.map(|u| unit_name(&u)).unwrap_or_default(),
        directive: directive.unwrap_or_default(),
        group: 0,
        task: task.unwrap_or_default(),
    };
    let s = client
        .get_summary(request)
        .await
        .map_err(describe)?
        .into_inner();
    println!("as of {}: {}", s.as_of, s.headline);
    println!(
        "  on time {}  late {}  in progress {}  overdue {} (backlog {})  regular {}  cancelled {}  total {}",
        s.completed_on_time,
        s.completed_late,
        s.in_progress,
        s.overdue,
        s.backlog,
        s.regular,
        s.cancelled,
        s.total
    );
    Ok(())
}

/// `p06 scoreboard`: units ranked by the documented formula.
pub async fn scoreboard(
    args: &ClientArgs,
    central: bool,
    all: bool,
    as_of: Option<String>,
) -> anyhow::Result<()> {
    let mut client = TasksClient::new(connect(args).await?);
    let scope = match (central, all) {
        (_, true) => pb::ScoreboardScope::All,
        (true, false) => pb::ScoreboardScope::CentralAgencies,
        (false, false) => pb::ScoreboardScope::Provinces,
    };
    let request = pb::GetScoreboardRequest {
        as_of: as_of.unwrap_or_default(),
        scope: scope as i32,
        ..Default::default()
    };
    let board = client
        .get_scoreboard(request)
        .await
        .map_err(describe)?
        .into_inner();
    println!("as of {} — {}", board.as_of, board.formula);
    for e in &board.entries {
        println!(
            "{:>3}/{:<3} {:>6.2}  {:<18} {:<32} on time {} late {} overdue {}",
            e.rank,
            e.of,
            e.score,
            e.unit,
            e.display_name,
            e.completed_on_time,
            e.completed_late,
            e.overdue
        );
    }
    Ok(())
}

/// `p06 feed`: print the change feed live, from after a sequence.
pub async fn feed(args: &ClientArgs, after: i64) -> anyhow::Result<()> {
    let mut client = TasksClient::new(connect(args).await?);
    let mut stream = client
        .watch_changes(pb::WatchChangesRequest {
            after_sequence: after,
        })
        .await
        .map_err(describe)?
        .into_inner();
    while let Some(change) = stream.next().await {
        print_change(&change.map_err(describe)?);
    }
    Ok(())
}
