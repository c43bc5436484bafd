//! Metrics as a scraper reads them: `p06 up --admin-listen` serves
//! `/metrics` in the Prometheus text format; after N calls the RPC
//! histograms count N for that method on the gateway, on the service behind
//! it and on the gateway's client side; a refused key moves the gateway's
//! authentication counter; and a real Prometheus (Debian's `prometheus`)
//! scrapes the port and answers a per-method rate query.
//!
//! The Prometheus part runs where the binary is installed (`.ci/run`
//! installs it and sets `P06_REQUIRE_PROMETHEUS=1`, so CI cannot skip it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Up, http_get, ok, p06, up_logging, up_with};
use std::{collections::BTreeMap, process::Command, time::Duration};

/// One sample of the text format.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format strictly: every sample belongs to a
/// family declared by `# TYPE` before it; names, labels and values are
/// well formed.
fn parse(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "bad type in {line:?}"
                    );
                    assert!(
                        types.insert(name.into(), kind.into()).is_none(),
                        "{name} typed twice"
                    );
                }
                (Some("HELP"), Some(_), _) => {}
                _ => panic!("bad comment line {line:?}"),
            }
            continue;
        }
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(line.len());
        let name = &line[..name_end];
        assert!(
            !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad name in {line:?}"
        );
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(body) = rest.strip_prefix('{') {
            let (parsed, after) = parse_labels(body, line);
            labels = parsed;
            rest = after;
        }
        let value = rest.trim();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let family = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        assert!(
            types.contains_key(family) || types.contains_key(name),
            "{name} has no # TYPE before it"
        );
        samples.push(Sample {
            name: name.into(),
            labels,
            value,
        });
    }
    samples
}

/// `a="x",b="y"}rest` → the labels and `rest`.
fn parse_labels<'a>(body: &'a str, line: &str) -> (BTreeMap<String, String>, &'a str) {
    let bytes = body.as_bytes();
    let mut labels = BTreeMap::new();
    let mut i = 0;
    loop {
        match bytes.get(i) {
            Some(b'}') => return (labels, &body[i + 1..]),
            Some(b',') => i += 1,
            Some(_) => {}
            None => panic!("unterminated labels in {line:?}"),
        }
        if bytes[i] == b'}' {
            continue;
        }
        let eq = body[i..]
            .find("=\"")
            .unwrap_or_else(|| panic!("label without value in {line:?}"))
            + i;
        let key = &body[i..eq];
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad label name {key:?} in {line:?}"
        );
        i = eq + 2;
        let mut value = String::new();
        loop {
            match bytes.get(i) {
                Some(b'\\') => {
                    value.push(match bytes.get(i + 1) {
                        Some(b'n') => '\n',
                        Some(other) => *other as char,
                        None => panic!("bad escape in {line:?}"),
                    });
                    i += 2;
                }
                Some(b'"') => {
                    i += 1;
                    break;
                }
                Some(_) => {
                    let c = body[i..].chars().next().unwrap_or_default();
                    value.push(c);
                    i += c.len_utf8();
                }
                None => panic!("unterminated value in {line:?}"),
            }
        }
        labels.insert(key.to_string(), value);
    }
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn admin_addr(up: &Up) -> String {
    up.banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("admin: http://"))
        .and_then(|l| l.split_once('/'))
        .map(|(addr, _)| addr.to_string())
        .expect("admin address printed")
}

fn scrape(admin: &str) -> Vec<Sample> {
    let (code, body) = http_get(admin, "/metrics");
    assert_eq!(code, 200);
    parse(&body)
}

const CALLS: usize = 3;

#[test]
fn metrics_count_the_calls_made() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("p06.log");
    let stack = up_logging(
        &dir.path().join("data"),
        &[],
        &["--admin-listen", "127.0.0.1:0"],
        std::fs::File::create(&log_path).unwrap().into(),
    );
    let admin = admin_addr(&stack);
    let key = stack.key.clone().unwrap();
    for _ in 0..CALLS {
        assert!(ok(p06(&stack.gateway, &key, &["units", "get", "p01"])).contains("Hà Nội"));
    }
    let refused = p06(&stack.gateway, "p06_nope_nope", &["units", "get", "p01"]);
    assert!(!refused.status.success());

    let samples = scrape(&admin);
    let get_unit = |side: &str, component: &str| {
        value(
            &samples,
            &format!("rpc_{side}_call_duration_seconds_count"),
            &[
                ("rpc_service", "p06.localities.v1.Localities"),
                ("rpc_method", "GetUnit"),
                ("rpc_grpc_status_code", "0"),
                ("p06_component", component),
            ],
        )
    };
    assert_eq!(get_unit("server", "gateway"), CALLS as f64);
    assert_eq!(get_unit("server", "localities"), CALLS as f64);
    assert_eq!(get_unit("client", "gateway"), CALLS as f64);
    assert_eq!(
        value(
            &samples,
            "rpc_server_call_duration_seconds_count",
            &[("rpc_method", "GetUnit"), ("rpc_grpc_status_code", "16")]
        ),
        1.0,
        "the refused call is counted with its code"
    );
    assert_eq!(
        value(
            &samples,
            "p06_gateway_auth_failures_total",
            &[("reason", "rejected")]
        ),
        1.0
    );
    // Buckets are cumulative and end with the count.
    let inf = value(
        &samples,
        "rpc_server_call_duration_seconds_bucket",
        &[
            ("rpc_method", "GetUnit"),
            ("p06_component", "gateway"),
            ("rpc_grpc_status_code", "0"),
            ("le", "+Inf"),
        ],
    );
    assert_eq!(inf, CALLS as f64);
    assert!(
        value(
            &samples,
            "db_client_connection_max",
            &[("db_client_connection_pool_name", "tasks")]
        ) > 0.0,
        "pool gauges are reported"
    );
    assert!(
        samples.iter().all(|s| s
            .labels
            .values()
            .all(|v| !v.starts_with("apiKeys/") && !v.starts_with("units/"))),
        "no key or unit is a label"
    );
    assert_eq!(http_get(&admin, "/livez").0, 200);
    let (ready, body) = http_get(&admin, "/readyz");
    assert_eq!(ready, 200, "{body}");
    assert!(body.contains("tasks database: ok"), "{body}");
    assert!(stack.stop());
    // Text logs in a file: one access line per call, and no colour codes.
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains('\u{1b}'), "no colour codes in a log file");
    let access = log
        .lines()
        .filter(|l| l.contains(" rpc ") && l.contains("method=\"GetUnit\""))
        .count();
    assert_eq!(access, CALLS + 1, "one access line per call:\n{log}");
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first value of an instant query's result, if any.
fn query(prometheus: &str, promql: &str) -> Option<f64> {
    let (code, body) = http_get(
        prometheus,
        &format!("/api/v1/query?query={}", encode(promql)),
    );
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 60 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_scrapes_the_admin_port() {
    let binary = std::env::var("P06_PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
    if Command::new(&binary).arg("--version").output().is_err() {
        assert!(
            std::env::var("P06_REQUIRE_PROMETHEUS").is_err(),
            "P06_REQUIRE_PROMETHEUS is set but {binary} cannot run"
        );
        eprintln!("prometheus not installed (apt-get install prometheus): skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stack = up_with(dir.path(), &[], &["--admin-listen", "127.0.0.1:0"]);
    let admin = admin_addr(&stack);
    let key = stack.key.clone().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let prometheus = format!("127.0.0.1:{port}");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: p06\n    static_configs:\n      - targets: [\"{admin}\"]\n"
        ),
    )
    .unwrap();
    let mut server = Command::new(&binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={prometheus}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let series =
        "rpc_server_call_duration_seconds_count{rpc_method=\"GetUnit\",p06_component=\"gateway\"}";
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually("prometheus scraped p06", || {
            std::net::TcpStream::connect(&prometheus).is_ok()
                && query(&prometheus, "up{job=\"p06\"}") == Some(1.0)
        });
        // One call, seen; then the rest, so the rate spans samples before and after.
        ok(p06(&stack.gateway, &key, &["units", "get", "p01"]));
        eventually("the first call scraped", || {
            query(&prometheus, &format!("sum({series})")) == Some(1.0)
        });
        for _ in 1..CALLS {
            ok(p06(&stack.gateway, &key, &["units", "get", "p01"]));
        }
        eventually("every call scraped", || {
            query(&prometheus, &format!("sum({series})")) == Some(CALLS as f64)
        });
        let rate = query(
            &prometheus,
            &format!("sum by (rpc_method) (rate({series}[1m]))"),
        );
        assert!(rate.is_some_and(|r| r > 0.0), "per-method rate: {rate:?}");
    }));
    let _ = server.kill();
    let _ = server.wait();
    assert!(stack.stop());
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn refusals_are_counted_and_the_access_log_can_be_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("p06.log");
    let stack = up_logging(
        &dir.path().join("data"),
        &[
            ("P06_GATEWAY__RATE_LIMIT_PER_SECOND", "1"),
            ("P06_GATEWAY__RATE_LIMIT_BURST", "1"),
            ("P06_GATEWAY__ACCESS_LOG", "false"),
        ],
        &["--admin-listen", "127.0.0.1:0"],
        std::fs::File::create(&log_path).unwrap().into(),
    );
    let admin = admin_addr(&stack);
    let key = stack.key.clone().unwrap();
    // One call a second with a burst of one: the second of two quick calls
    // is refused.
    ok(p06(&stack.gateway, &key, &["units", "get", "p01"]));
    let refused = p06(&stack.gateway, &key, &["units", "get", "p01"]);
    assert!(!refused.status.success());
    let samples = scrape(&admin);
    assert_eq!(value(&samples, "p06_gateway_rate_limited_total", &[]), 1.0);
    assert_eq!(value(&samples, "p06_gateway_shed_total", &[]), 0.0);
    assert!(
        samples
            .iter()
            .any(|s| s.name == "p06_gateway_in_flight" && s.value == 0.0),
        "nothing in flight once the calls are done"
    );
    assert!(
        samples
            .iter()
            .any(|s| s.name == "p06_notifications_deliveries_pending" && s.value == 0.0),
        "the pending-deliveries gauge is reported"
    );
    assert!(stack.stop());
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !log.lines()
            .any(|l| l.contains(" rpc ") && l.contains("method=")),
        "no access lines when switched off:\n{log}"
    );
}
