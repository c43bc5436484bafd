//! The work commands as a coordinator and a province use them against
//! `p06 up`: record a directive, assign a task, list, report, summarise,
//! rank.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ok, p06, up, up_with};

#[test]
fn a_coordinator_assigns_and_a_province_reports() {
    let dir = tempfile::tempdir().unwrap();
    let stack = up(dir.path(), &[]);
    let (gateway, admin) = (stack.gateway.clone(), stack.key.clone().unwrap());
    let secret = |out: String| {
        out.lines()
            .find_map(|l| l.strip_prefix("secret (shown once): "))
            .unwrap()
            .to_string()
    };
    let coordinator = secret(ok(p06(
        &gateway,
        &admin,
        &[
            "keys",
            "create",
            "--unit",
            "units/wg06",
            "--role",
            "coordinator",
        ],
    )));
    let hanoi = secret(ok(p06(
        &gateway,
        &admin,
        &["keys", "create", "--unit", "p01", "--role", "unit"],
    )));

    // Dates around today, so the test reads the same whenever it runs.
    let today = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive();
    let issued = (today - chrono::Duration::days(3)).to_string();
    let deadline = (today + chrono::Duration::days(60)).to_string();
    let id = format!("344-tb-vpcp-{}", &issued[..4]);
    let directive = ok(p06(
        &gateway,
        &coordinator,
        &[
            "directives",
            "create",
            "--number",
            "344/TB-VPCP",
            "--type",
            "notice",
            "--date",
            &issued,
            "--title",
            "Kết luận họp Tổ công tác",
        ],
    ));
    assert!(
        directive.starts_with(&format!("directives/{id}")),
        "{directive}"
    );
    let created = ok(p06(
        &gateway,
        &coordinator,
        &[
            "tasks",
            "create",
            "--directive",
            &id,
            "--title",
            "Ban hành kế hoạch",
            "--group",
            "institutions",
            "--deadline",
            &deadline,
            "--lead",
            "p01",
            "--lead",
            "p15-2025",
        ],
    ));
    let assignment = created
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .find(|w| w.ends_with("/assignments/p01"))
        })
        .unwrap()
        .to_string();

    let mine = ok(p06(&gateway, &hanoi, &["assignments", "list"]));
    assert_eq!(mine.lines().count(), 1, "{mine}");
    assert!(mine.contains("IN_PROGRESS"), "{mine}");
    // The Working Group enters a report Hà Nội sent on paper two days ago;
    // the list as of the day before does not see it yet.
    let sent = (today - chrono::Duration::days(2)).to_string();
    let entered = ok(p06(
        &gateway,
        &coordinator,
        &[
            "assignments",
            "report",
            &assignment,
            "--percent",
            "20",
            "--note",
            "Công văn 12/UBND",
            "--reported-on",
            &sent,
        ],
    ));
    assert!(entered.contains("20%"), "{entered}");
    let as_of = |day: String| {
        ok(p06(
            &gateway,
            &coordinator,
            &["assignments", "list", "--unit", "p01", "--as-of", &day],
        ))
    };
    assert!(as_of(sent.clone()).contains(" 20%"), "as of {sent}");
    let before = (today - chrono::Duration::days(3)).to_string();
    assert!(as_of(before.clone()).contains("  0%"), "as of {before}");
    let reported = ok(p06(
        &gateway,
        &hanoi,
        &[
            "assignments",
            "report",
            &assignment,
            "--percent",
            "40",
            "--note",
            "dự thảo",
        ],
    ));
    assert!(reported.contains("40%"), "{reported}");
    let history = ok(p06(
        &gateway,
        &hanoi,
        &["assignments", "history", &assignment],
    ));
    assert!(
        history.contains("CREATED") && history.contains("PROGRESS"),
        "{history}"
    );
    // A province cannot assign work.
    let refused = p06(
        &gateway,
        &hanoi,
        &[
            "tasks",
            "create",
            "--directive",
            &id,
            "--title",
            "x",
            "--group",
            "data",
            "--deadline",
            &deadline,
            "--lead",
            "p01",
        ],
    );
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("PermissionDenied")
    );

    let summary = ok(p06(&gateway, &coordinator, &["summary"]));
    assert!(
        summary.contains("completed 0/2; 2 in progress"),
        "{summary}"
    );
    let board = ok(p06(&gateway, &coordinator, &["scoreboard"]));
    assert_eq!(
        board.lines().filter(|l| l.contains("/34")).count(),
        34,
        "{board}"
    );
    assert!(stack.stop());
}

#[test]
fn the_demo_loads_once_and_reads_like_a_review() {
    let dir = tempfile::tempdir().unwrap();
    let first = up_with(dir.path(), &[], &["--demo"]);
    let key = first.key.clone().unwrap();
    assert!(
        first
            .banner
            .iter()
            .any(|l| l.contains("demo: 2 directives, 74 assignments")),
        "{:?}",
        first.banner
    );
    let args = [
        "summary",
        "--directive",
        "directives/344-tb-vpcp-2024",
        "--as-of",
        "2024-08-01",
    ];
    let summary = ok(p06(&first.gateway, &key, &args));
    assert!(summary.contains("completed 4/11; 7 overdue"), "{summary}");
    assert!(first.stop());
    // Loading it again on the same data duplicates nothing.
    let second = up_with(dir.path(), &[], &["--demo"]);
    let again = ok(p06(&second.gateway, &key, &args));
    assert!(again.contains("completed 4/11; 7 overdue"), "{again}");
    let directives = ok(p06(&second.gateway, &key, &["directives", "list"]));
    assert_eq!(directives.lines().count(), 2, "{directives}");
    assert!(second.stop());
}
