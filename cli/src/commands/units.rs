//! `p06 units …`: read the registry through the gateway.

use crate::{
    cli::ClientArgs,
    client::{connect, describe},
};
use p06_proto::localities::v1::{self as pb, localities_client::LocalitiesClient};

/// Unit subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum UnitsCommand {
    /// List units, e.g. `p06 units list --active-on 2025-07-01 --kind province`.
    List {
        /// Only units in force on this date (YYYY-MM-DD).
        #[arg(long)]
        active_on: Option<String>,
        /// Kind (repeatable): ministry, ministerial-agency, government-agency, province, centrally-run-city, district, commune, steering-body.
        #[arg(long)]
        kind: Vec<String>,
        /// Level: central, provincial, district, communal.
        #[arg(long)]
        level: Option<String>,
        /// Parent unit (e.g. units/p01).
        #[arg(long)]
        parent: Option<String>,
        /// Name search, ignoring case and diacritics ("ha noi").
        #[arg(long, short)]
        query: Option<String>,
        /// Extra AIP-160 filter, ANDed with the options above.
        #[arg(long)]
        filter: Option<String>,
        /// Order: code, display_name or name, optionally "desc".
        #[arg(long, default_value = "code")]
        order_by: String,
        /// Stop after this many units (0 = all).
        #[arg(long, default_value_t = 0)]
        limit: usize,
    },
    /// Show one unit: by id (`p01`, `units/p15-2025`) or by official code
    /// (`01`, read on --date: 2 digits provincial, 3 district, 5 communal).
    Get {
        /// Unit id, name or code.
        unit: String,
        /// The date a code is read on (default today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Find the unit that bore a code on a date: `p06 units lookup 15 --level provincial --date 2024-06-01`.
    Lookup {
        /// The code.
        code: String,
        /// Level: central, provincial, district, communal.
        #[arg(long)]
        level: String,
        /// Date (default today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Where a unit's responsibilities are on a date: `p06 units successor p02 --date 2025-07-02`.
    Successor {
        /// Unit id or name.
        unit: String,
        /// Date (default today).
        #[arg(long)]
        date: Option<String>,
    },
    /// A unit's supervisors up to the Working Group.
    Chain {
        /// Unit id or name.
        unit: String,
        /// Date (default today).
        #[arg(long)]
        date: Option<String>,
    },
}

fn name(unit: &str) -> String {
    if unit.starts_with("units/") {
        unit.to_string()
    } else {
        format!("units/{unit}")
    }
}

fn line(u: &pb::Unit) -> String {
    let kind = pb::UnitKind::try_from(u.kind)
        .map(|k| k.as_str_name().trim_start_matches("UNIT_KIND_").to_string())
        .unwrap_or_default();
    let period = match (u.valid_from.as_str(), u.valid_until.as_str()) {
        ("", "") => String::new(),
        (from, until) => format!("  [{}..{}]", from, until),
    };
    format!(
        "{:<22} {:<8} {:<20} {}{}",
        u.name, u.code, kind, u.display_name, period
    )
}

fn details(u: &pb::Unit) -> String {
    let mut out = line(u);
    for (label, value) in [
        ("english name", u.english_name.clone()),
        ("parent", u.parent.clone()),
        ("supervisor", u.supervisor.clone()),
        ("predecessors", u.predecessors.join(", ")),
        ("successors", u.successors.join(", ")),
        ("etag", u.etag.clone()),
    ] {
        if !value.is_empty() {
            out.push_str(&format!("\n  {label:<13} {value}"));
        }
    }
    out
}

/// Runs a unit subcommand.
pub async fn run(args: &ClientArgs, command: UnitsCommand) -> anyhow::Result<()> {
    let mut client = LocalitiesClient::new(connect(args).await?);
    match command {
        UnitsCommand::List {
            active_on,
            kind,
            level,
            parent,
            query,
            filter,
            order_by,
            limit,
        } => {
            let mut terms = Vec::new();
            if !kind.is_empty() {
                let kinds: Vec<String> = kind
                    .iter()
                    .map(|k| format!("kind = {}", k.to_uppercase().replace('-', "_")))
                    .collect();
                terms.push(format!("({})", kinds.join(" OR ")));
            }
            if let Some(l) = level {
                terms.push(format!("level = {}", l.to_uppercase()));
            }
            if let Some(p) = parent {
                terms.push(format!("parent = \"{}\"", name(&p)));
            }
            if let Some(f) = filter {
                terms.push(format!("({f})"));
            }
            let mut request = pb::ListUnitsRequest {
                page_size: 500,
                filter: terms.join(" AND "),
                order_by,
                active_on: active_on.unwrap_or_default(),
                query: query.unwrap_or_default(),
                ..Default::default()
            };
            let mut shown = 0;
            loop {
                let page = client
                    .list_units(request.clone())
                    .await
                    .map_err(describe)?
                    .into_inner();
                for u in &page.units {
                    if limit > 0 && shown >= limit {
                        break;
                    }
                    println!("{}", line(u));
                    shown += 1;
                }
                if page.next_page_token.is_empty() || (limit > 0 && shown >= limit) {
                    eprintln!("{shown} of {} units", page.total_size);
                    break;
                }
                request.page_token = page.next_page_token;
            }
        }
        UnitsCommand::Get { unit, date } => {
            let level = match unit.len() {
                2 => Some(pb::UnitLevel::Provincial),
                3 => Some(pb::UnitLevel::District),
                5 => Some(pb::UnitLevel::Communal),
                _ => None,
            };
            let u = match level.filter(|_| unit.bytes().all(|b| b.is_ascii_digit())) {
                Some(level) => {
                    let request = pb::LookupUnitRequest {
                        code: unit,
                        level: level as i32,
                        date: date.unwrap_or_default(),
                    };
                    client.lookup_unit(request).await
                }
                None => {
                    client
                        .get_unit(pb::GetUnitRequest { name: name(&unit) })
                        .await
                }
            };
            println!("{}", details(&u.map_err(describe)?.into_inner()));
        }
        UnitsCommand::Lookup { code, level, date } => {
            let level =
                pb::UnitLevel::from_str_name(&format!("UNIT_LEVEL_{}", level.to_uppercase()))
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "unknown level {level:?}: use central, provincial, district or communal"
                        )
                    })?;
            let request = pb::LookupUnitRequest {
                code,
                level: level as i32,
                date: date.unwrap_or_default(),
            };
            let u = client
                .lookup_unit(request)
                .await
                .map_err(describe)?
                .into_inner();
            println!("{}", details(&u));
        }
        UnitsCommand::Successor { unit, date } => {
            let request = pb::ResolveSuccessorRequest {
                name: name(&unit),
                date: date.unwrap_or_default(),
            };
            let r = client
                .resolve_successor(request)
                .await
                .map_err(describe)?
                .into_inner();
            println!("{}", r.path.join(" → "));
            if let Some(u) = r.unit {
                println!("{}", details(&u));
            }
        }
        UnitsCommand::Chain { unit, date } => {
            let request = pb::GetEscalationChainRequest {
                name: name(&unit),
                date: date.unwrap_or_default(),
            };
            let r = client
                .get_escalation_chain(request)
                .await
                .map_err(describe)?
                .into_inner();
            for u in &r.chain {
                println!("{}", line(u));
            }
        }
    }
    Ok(())
}
