//! `p06 notifications` against a stack whose clock the test moves: a
//! reminder printed live by `tail`, listed, acknowledged; `tail` riding out
//! a restart of the stack and resuming from its cursor (nothing missed,
//! nothing twice); `--after`; a policy with a bad rule refused with the
//! rule named; the demo data's reminders flowing at once. The stack runs
//! in-process with a [`ManualClock`]; the commands are the real `p06`
//! binary. No sleeps: the tests wait on lines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, TimeZone as _, Utc};
use common::{ok, p06};
use p06::stack::{Databases, Notifications, Stack, StackOptions};
use p06_kit::{Shutdown, clock::ManualClock};
use std::{
    io::{BufRead as _, BufReader, Read},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, mpsc},
    time::Duration,
};
use tokio::{net::TcpListener, runtime::Runtime};

const WAIT: Duration = Duration::from_secs(60);

/// `y-m-d h:min` in Hà Nội.
fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    p06_kit::clock::vietnam_offset()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// The runtime the in-process stack runs on.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Starts the stack on `gateway` (a free port when `None`) with data in `dir`.
fn start(rt: &Runtime, dir: &Path, clock: &ManualClock, gateway: Option<SocketAddr>) -> Stack {
    rt.block_on(async {
        let bind = || TcpListener::bind("127.0.0.1:0");
        let options = StackOptions {
            gateway: match gateway {
                Some(addr) => TcpListener::bind(addr).await.unwrap(),
                None => bind().await.unwrap(),
            },
            localities: bind().await.unwrap(),
            tasks: bind().await.unwrap(),
            notifications: Notifications::InProcess(bind().await.unwrap()),
            databases: Databases::sqlite_in(dir).unwrap(),
            clock: Arc::new(clock.clone()),
            gateway_config: p06_gateway::Config::default(),
            localities_config: p06_localities::Config::default(),
            notifications_config: p06_notifications::Config {
                tick_ms: 20,
                ..p06_notifications::Config::default()
            },
        };
        Stack::start(options, Shutdown::new()).await.unwrap()
    })
}

/// Lines of a child's output, read on a thread.
fn lines(from: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A running `p06 notifications tail`; killed when dropped.
struct Tail {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Tail {
    fn spawn(gateway: &str, key: &str, args: &[&str]) -> Tail {
        let mut child = Command::new(env!("CARGO_BIN_EXE_p06"))
            .args(["notifications", "tail"])
            .args(args)
            .env("P06_GATEWAY_URL", gateway)
            .env("P06_API_KEY", key)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Tail {
            stdout: lines(child.stdout.take().unwrap()),
            stderr: lines(child.stderr.take().unwrap()),
            child,
        }
    }

    fn line(&self) -> String {
        self.stdout
            .recv_timeout(WAIT)
            .expect("tail prints a notification")
    }

    /// Waits for a stderr line containing `text`.
    fn note(&self, text: &str) -> String {
        loop {
            let line = self
                .stderr
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("tail notes {text:?} on stderr"));
            if line.contains(text) {
                return line;
            }
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cursor(line: &str) -> i64 {
    line.rsplit_once("cursor ").unwrap().1.parse().unwrap()
}

#[test]
fn tail_list_ack_resume_and_policies() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    // Wednesday 2025-01-15, before office hours.
    let clock = ManualClock::new(at(2025, 1, 15, 7, 0));
    let stack = start(&rt, dir.path(), &clock, None);
    let (addr, gateway) = (stack.gateway_addr, stack.gateway_url());
    let admin = stack.bootstrap_key.clone().unwrap();

    ok(p06(
        &gateway,
        &admin,
        &[
            "directives",
            "create",
            "--number",
            "12/TB-VPCP",
            "--type",
            "notice",
            "--date",
            "2025-01-15",
            "--title",
            "Kết luận họp Tổ công tác",
        ],
    ));
    ok(p06(
        &gateway,
        &admin,
        &[
            "tasks",
            "create",
            "--directive",
            "12-tb-vpcp-2025",
            "--title",
            "Kết nối dữ liệu dân cư",
            "--group",
            "public-services",
            "--deadline",
            "2025-01-15",
            "--lead",
            "p01",
        ],
    ));
    let hanoi = ok(p06(
        &gateway,
        &admin,
        &["keys", "create", "--unit", "p01", "--role", "unit"],
    ))
    .lines()
    .find_map(|l| l.strip_prefix("secret (shown once): "))
    .unwrap()
    .to_string();

    // 08:00: the DUE_TODAY reminder goes out and tail prints it.
    let tail = Tail::spawn(&gateway, &hanoi, &["--unit", "p01"]);
    clock.set(at(2025, 1, 15, 8, 0));
    let first = tail.line();
    for part in [
        "2025-01-15 08:00",
        "DUE_TODAY",
        "units/p01",
        "12/TB-VPCP",
        "Kết nối dữ liệu dân cư",
    ] {
        assert!(first.contains(part), "{part:?} in {first}");
    }
    let due_today = cursor(&first);

    // The inbox lists it, as text and as JSON; acknowledged, it is read.
    let listed = ok(p06(
        &gateway,
        &hanoi,
        &["notifications", "list", "--unit", "p01"],
    ));
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.contains("unread") && listed.contains("DUE_TODAY"),
        "{listed}"
    );
    let name = listed.split_whitespace().next().unwrap().to_string();
    assert!(name.starts_with("units/p01/notifications/msg_"), "{name}");
    let json = ok(p06(
        &gateway,
        &hanoi,
        &["notifications", "list", "--unit", "p01", "--json", "--all"],
    ));
    let n: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(n["kind"], "DUE_TODAY");
    assert_eq!(n["cursor"], due_today);
    assert_eq!(n["deadline"], "2025-01-15");
    assert_eq!(n["name"], name.as_str());
    let english = ok(p06(
        &gateway,
        &hanoi,
        &["notifications", "list", "--unit", "p01", "--lang", "en"],
    ));
    assert_ne!(english, listed, "the English text differs");
    let acked = ok(p06(&gateway, &hanoi, &["notifications", "ack", &name]));
    assert!(acked.contains("  read  "), "{acked}");
    let unread = ok(p06(
        &gateway,
        &hanoi,
        &["notifications", "list", "--unit", "p01", "--unread"],
    ));
    assert!(unread.is_empty(), "{unread}");
    // Another unit's inbox is refused, with the status.
    let refused = p06(
        &gateway,
        &hanoi,
        &["notifications", "list", "--unit", "p79"],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("PermissionDenied"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The stack restarts on the same data and port: tail notes the drop,
    // resumes after its cursor, and prints the next reminder once.
    rt.block_on(stack.stop()).unwrap();
    tail.note("stream dropped");
    let stack = start(&rt, dir.path(), &clock, Some(addr));
    let resumed = tail.note("resumed after cursor");
    assert!(
        resumed.ends_with(&format!("cursor {due_today}")),
        "{resumed}"
    );
    // Friday 17/01: two working days overdue.
    clock.set(at(2025, 1, 17, 8, 0));
    let next = tail.line();
    assert!(next.contains("OVERDUE"), "{next}");
    assert!(next.contains("2025-01-17 08:00"), "{next}");
    let overdue = cursor(&next);
    assert!(overdue > due_today, "{next}");
    drop(tail);

    // A new session resumes with --after: the OVERDUE, not the DUE_TODAY.
    let after = due_today.to_string();
    let again = Tail::spawn(&gateway, &hanoi, &["--unit", "p01", "--after", &after]);
    assert_eq!(cursor(&again.line()), overdue);
    drop(again);

    // Policies: a bad rule is refused naming it; a good one is listed.
    let bad = p06(
        &gateway,
        &admin,
        &[
            "notifications",
            "policies",
            "create",
            "--group",
            "security",
            "--rule",
            "due-soon:5",
            "--rule",
            "overdue:x/2",
        ],
    );
    let says = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success(), "{says}");
    assert!(
        says.contains("overdue:x/2") && says.contains("not a whole number"),
        "{says}"
    );
    let created = ok(p06(
        &gateway,
        &admin,
        &[
            "notifications",
            "policies",
            "create",
            "--group",
            "security",
            "--rule",
            "due-soon:3",
            "--rule",
            "due-today",
            "--rule",
            "overdue:1/1",
            "--id",
            "security-ladder",
        ],
    ));
    assert!(
        created.contains("policies/security-ladder")
            && created.contains("due-soon:3 due-today overdue:1/1"),
        "{created}"
    );
    let policies = ok(p06(
        &gateway,
        &admin,
        &["notifications", "policies", "list"],
    ));
    assert!(policies.contains("group security"), "{policies}");
    // A UNIT key may not write policies: the status is reported.
    let denied = p06(
        &gateway,
        &hanoi,
        &["notifications", "policies", "delete", "security-ladder"],
    );
    assert!(
        !denied.status.success()
            && String::from_utf8_lossy(&denied.stderr).contains("PermissionDenied")
    );
    rt.block_on(stack.stop()).unwrap();
}

/// Reads `tail` until a line holds every part of one of `wanted`, each
/// found once; fails after 60 lines or a quiet minute.
fn tail_until(tail: &Tail, mut wanted: Vec<[&str; 2]>) {
    for _ in 0..60 {
        if wanted.is_empty() {
            return;
        }
        let line = tail.line();
        wanted.retain(|parts| !parts.iter().all(|p| line.contains(p)));
    }
    panic!("tail never printed {wanted:?}");
}

/// What `p06 up --demo` loads sends reminders at once in office hours:
/// Hà Nội gets an OVERDUE, a DUE_TODAY and a DUE_SOON, and the Working
/// Group an ESCALATION for the task five working days late.
#[test]
fn the_demo_sends_reminders_at_once_in_office_hours() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    // Tuesday 2025-06-10, 10:00 in Hà Nội.
    let clock = ManualClock::new(at(2025, 6, 10, 10, 0));
    let stack = start(&rt, dir.path(), &clock, None);
    let gateway = stack.gateway_url();
    let admin = stack.bootstrap_key.clone().unwrap();
    let hanoi = Tail::spawn(&gateway, &admin, &["--unit", "p01"]);
    let working_group = Tail::spawn(&gateway, &admin, &["--unit", "wg06"]);
    let loaded = rt
        .block_on(p06::demo::load(
            stack.tasks_addr,
            stack.localities_addr,
            &stack.internal_token,
            &clock,
        ))
        .unwrap();
    assert_eq!(loaded.reminders, 9, "{loaded:?}");
    tail_until(
        &hanoi,
        vec![
            ["OVERDUE", "sổ sức khỏe điện tử"],
            ["DUE_TODAY", "Kết nối Cổng dịch vụ công"],
            ["DUE_SOON", "kích hoạt tài khoản định danh"],
        ],
    );
    tail_until(
        &working_group,
        vec![["ESCALATION", "Làm sạch dữ liệu hộ tịch"]],
    );
}
