//! `p06 up` as the README runs it: it starts, prints a key and a working
//! example, answers the CLI, stops cleanly on SIGTERM, and starts again on
//! the same data without a new key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ok, p06, up};

#[test]
fn up_answers_restarts_on_the_same_data_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let first = up(dir.path(), &[]);
    let key = first.key.clone().expect("first start prints an ADMIN key");
    let gateway = first.gateway.clone();

    let hanoi = ok(p06(&gateway, &key, &["units", "get", "p01"]));
    assert!(hanoi.contains("Thành phố Hà Nội"), "{hanoi}");
    // By official code, read on a date: 15 was Yên Bái, then Lào Cai.
    let by_code = ok(p06(&gateway, &key, &["units", "get", "01"]));
    assert!(by_code.contains("units/p01"), "{by_code}");
    let lao_cai = ok(p06(
        &gateway,
        &key,
        &["units", "get", "15", "--date", "2025-07-02"],
    ));
    assert!(lao_cai.contains("Tỉnh Lào Cai"), "{lao_cai}");
    let listed = ok(p06(
        &gateway,
        &key,
        &[
            "units",
            "list",
            "--active-on",
            "2025-07-01",
            "--kind",
            "province",
            "--kind",
            "centrally-run-city",
        ],
    ));
    assert_eq!(listed.lines().count(), 34, "{listed}");
    let who = ok(p06(&gateway, &key, &["keys", "whoami"]));
    assert!(who.contains("ADMIN") && who.contains("units/wg06"), "{who}");

    // The printed buf curl example answers (when buf is installed; CI installs it).
    if let Ok(buf) = std::env::var("P06_BUF") {
        let example = first
            .banner
            .iter()
            .find_map(|l| l.trim().strip_prefix("or: "))
            .expect("example printed")
            .to_string();
        assert!(example.starts_with("buf curl"), "{example}");
        let bin_dir = std::path::Path::new(&buf)
            .parent()
            .unwrap()
            .display()
            .to_string();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&example)
            .env(
                "PATH",
                format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default()),
            )
            .env("P06_API_KEY", &key)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Thành phố Hà Nội"),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(first.stop(), "p06 up exits 0 on SIGTERM");

    let second = up(dir.path(), &[]);
    assert_eq!(
        second.key, None,
        "the ADMIN key is shown only on first start"
    );
    let again = ok(p06(
        &second.gateway,
        &key,
        &[
            "units",
            "lookup",
            "15",
            "--level",
            "provincial",
            "--date",
            "2024-06-01",
        ],
    ));
    assert!(again.contains("Tỉnh Yên Bái"), "{again}");
    assert!(second.stop());
}

#[test]
fn client_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let stack = up(dir.path(), &[]);
    let out = p06(&stack.gateway, "p06_wrong_key", &["units", "get", "p01"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unauthenticated"), "{err}");
    let key = stack.key.clone().unwrap();
    let out = p06(
        &stack.gateway,
        &key,
        &["units", "list", "--active-on", "someday"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("active_on"), "{err}");
    assert!(stack.stop());
}
